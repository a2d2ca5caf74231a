"""Whether a run continues an unfinished one, and the facts it left on the lock lease.

A resume trusts the lease more than the cluster (the servers may be scaled down by then), so those facts
must be exactly what an earlier run of ours wrote, about the release as that run left it.
"""

from __future__ import annotations

from kubectl_prefect_rollback import leases, migrations, names, versions
from kubectl_prefect_rollback.constants import PREFIX
from kubectl_prefect_rollback.errors import BadInput, ParseError, Refused
from kubectl_prefect_rollback.helm import Release


def resumes(
    lease: leases.LeaseView | None, history: list[Release], rel: Release, to: str, *, force_unlock: bool
) -> bool:
    """Does this run continue an unfinished one? Only from facts we wrote, about the release as it is."""
    if lease is None or lease.target != to:
        return False
    try:
        if not lease.state("from-version"):
            return False
        if lease.state("abort") and not force_unlock:  # half upgraded back: a rollback must not resume
            raise Refused(
                f"an abort of the rollback to {to} is unfinished",
                hint="Re-run `abort` to finish it (`status` shows how far it got).",
            )
        if not continues(lease, history, to):
            if force_unlock:
                return False  # --force-unlock: forget the stale run, plan afresh
            raise Refused(
                f"an unfinished rollback to {to} started at revision {lease.state('from-revision')}, "
                f"but the release has changed since (now revision {rel.revision}, {rel.version})",
                hint="Its recorded facts are stale. Re-run with --force-unlock to start a new rollback.",
            )
        lease_facts(lease)  # a resume trusts these: they must be what we wrote
    except ParseError:
        if not force_unlock:
            raise
        return False  # --force-unlock: facts we cannot read are abandoned with the run
    return True


def lease_facts(lease: leases.LeaseView) -> tuple[str, int, dict[str, dict[str, str | None]]]:
    """(from-version, from-revision, heads) as an unfinished run stored them on its lease."""
    name = lease.obj["metadata"]["name"]

    def bad(key: str) -> ParseError:
        return ParseError(
            f"lease {name} annotation {PREFIX}{key} is not what kubectl-prefect-rollback wrote",
            hint="Re-run with --force-unlock to start afresh (the resume facts cannot be trusted).",
        )

    version, revision, saved = lease.state("from-version"), lease.state("from-revision"), lease.state("heads")
    if not isinstance(version, str) or not versions.is_version(version):
        raise bad("from-version")
    if isinstance(revision, str) and revision.isdigit():
        revision = int(revision)
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        raise bad("from-revision")
    if not isinstance(saved, dict) or not all(isinstance(saved.get(k), dict) for k in ("from", "to")):
        raise bad("heads")
    for side in ("from", "to"):
        for db, rev in saved[side].items():
            if db not in migrations.DATABASES or not (rev is None or isinstance(rev, str)):
                raise bad("heads")
            if rev is not None:
                try:
                    migrations.validate_revision(rev)
                except BadInput:
                    raise bad("heads") from None
    replicas = lease.state("replicas")  # the counts the chart step puts back
    if replicas is not None and not (
        isinstance(replicas, dict) and all(names.is_subdomain(n) and _count(r) for n, r in replicas.items())
    ):
        raise bad("replicas")
    if lease.state("yes-flag") not in (None, True, False):
        raise bad("yes-flag")
    if lease.state("downgrade") not in (None, "done"):
        raise bad("downgrade")
    return version, revision, saved


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def continues(lease: leases.LeaseView, history: list[Release], to: str) -> bool:
    """The release is where the unfinished run left it: at its from-revision, or moved on only by our
    own helm upgrade to the target. helm replaces the description of a failed upgrade with its error,
    so a failed revision at the target counts as ours too."""
    start = lease.state("from-revision") or 0
    if isinstance(start, str) and start.isdigit():
        start = int(start)
    if not isinstance(start, int) or isinstance(start, bool):
        raise ParseError(
            f"lease {lease.obj['metadata']['name']} annotation {PREFIX}from-revision is not what "
            "kubectl-prefect-rollback wrote",
            hint="Re-run with --force-unlock to start afresh (the resume facts cannot be trusted).",
        )
    later = [h for h in history if h.revision > start]
    return all(
        h.version == to
        and (h.description.startswith("prefect-rollback:") or h.status == "failed" or h.pending)
        for h in later
    )
