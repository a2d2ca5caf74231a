"""`restore --from DIR`: put the databases back as a backup found them. Planned, confirmed and locked
like a rollback; the servers are scaled down, each dump is streamed into `pg_restore --clean
--if-exists --single-transaction` through `kubectl exec` stdin, and the heads read afterwards must be
the heads the backup was taken at."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from kubectl_prefect_rollback import (
    backup,
    backup_dir,
    backup_pod,
    costs,
    deployed,
    interrupt,
    kube,
    leases,
    lock,
    proc,
    release,
    waits,
)
from kubectl_prefect_rollback.backup_dir import Manifest
from kubectl_prefect_rollback.errors import Interrupted, Refused, RollbackError, VerifyFailed
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.output import Output, duration
from kubectl_prefect_rollback.redact import text as redact_text
from kubectl_prefect_rollback.target import Target


@dataclass(frozen=True)
class RestorePlan:
    release: Release
    folder: str
    manifest: Manifest
    where: backup.Where
    deployments: tuple[tuple[str, int], ...]

    def text(self) -> str:
        m = self.manifest
        lines = [
            f"Restore {m.release} (namespace {m.namespace}) from {self.folder}, taken at chart {m.version}:"
        ]
        for e in m.entries:
            lines.append(
                f"  {e.database:<7} {e.file:<12} {backup_dir.size_text(e.size):>10}  taken {e.time}  "
                f"heads {e.heads or '-'}"
            )
        downs = ", ".join(f"{n} ({r}→0)" for n, r in self.deployments if r) or "none running"
        lines.append(f"Servers scaled down first: {downs}")
        lines.append("Each database's content is replaced by the backup's (pg_restore --clean --if-exists).")
        if self.release.version != m.version:
            lines.append(
                f"The release runs chart {self.release.version}: the servers stay scaled down afterwards "
                f"(helm upgrade to {m.version} brings them back on the backup's schema)."
            )
        return "\n".join(lines)


def build(t: Target, name: str | None, folder: str, settings: backup.Settings) -> RestorePlan:
    manifest = backup_dir.read_manifest(folder)
    rel = release.resolve(t, name or manifest.release)
    if (manifest.release, manifest.namespace) != (rel.name, t.namespace):
        raise Refused(
            f"{folder} is a backup of {manifest.release} in namespace {manifest.namespace}, "
            f"not of {rel.name} in {t.namespace}"
        )
    for entry in manifest.entries:
        backup_dir.check_file(folder, entry)
    texts, jobs = deployed.of_revision(t, rel.name, rel.revision, rel.version)
    where = backup.Where(rel.name, rel.version, jobs)
    backup.check_connections(where, [e.database for e in manifest.entries], settings)
    deployments, _ = deployed.deployments(texts[1], kube.list_(t, "deployments"))
    return RestorePlan(rel, folder, manifest, where, tuple(deployments))


def confirm(p: RestorePlan, *, yes: bool, interactive: bool, out: Output) -> None:
    if yes:
        return
    if not interactive:
        raise Refused(
            "refusing to restore without confirmation: stdin is not a terminal.",
            hint="Re-run with --yes after reading the restore plan above.",
        )
    answer = out.ask("Type the release name to replace the databases' content with the backup")
    if answer.strip() != p.release.name:
        raise Refused(f"confirmation did not match {p.release.name!r}: nothing was changed")


def execute(t: Target, p: RestorePlan, settings: backup.Settings, out: Output, *, force_unlock: bool) -> None:
    keeper = lock.Keeper(t, p.release.name, f"restore-{p.manifest.version}")
    state = {"from-version": p.release.version, "replicas": dict(p.deployments), "restore-from": p.folder}
    keeper.acquire(leases.read(t, p.release.name), force_unlock=force_unlock, state=state)
    keeper.start_renewing()
    out.ok(f"lock taken: lease {leases.lease_name(p.release.name)}")
    try:
        _scale_down(t, keeper, out)
        for entry in p.manifest.entries:
            keeper.check()
            _restore_one(t, p, entry, settings, out)
        _scale_back(t, p, keeper, out)
    except interrupt.Stopped as e:
        with interrupt.cleanup():
            left = keeper.release_for_resume()
        raise Interrupted(
            "Interrupted while restoring: a database being restored was left as it was (one transaction); "
            f"the servers may be scaled down. {left}. Re-run the same command to restore again.",
            signum=e.signum,
        ) from None
    except BaseException:
        with interrupt.cleanup():
            out.say(f"lock: {keeper.release_for_resume()}; the servers stay scaled down")
        raise
    keeper.delete()
    out.ok("lock released")


def _scale_down(t: Target, keeper: lock.Keeper, out: Output) -> None:
    saved = keeper.state("replicas") or {}
    todo = [n for n, r in saved.items() if r]
    live = {d["metadata"]["name"]: d for d in kube.list_(t, "deployments")}
    todo = [n for n in todo if int((live.get(n, {}).get("spec") or {}).get("replicas", 0)) > 0]
    if not todo:
        out.skip("servers already scaled down")
        return
    proc.gather(*(lambda n=name: kube.scale(t, "deployment", n, 0) for name in todo))
    waits.scaled_down(t, todo)
    out.ok("scaled down " + ", ".join(todo))


def _restore_one(
    t: Target, p: RestorePlan, entry: backup_dir.Entry, settings: backup.Settings, out: Output
) -> None:
    db = entry.database
    path = backup_dir.check_file(p.folder, entry)  # again: the file must not change under the lock
    t0 = time.monotonic()
    with backup.client_pod(t, p.where, db, settings, out) as pod, open(path, "rb") as f:
        argv = backup.exec_argv(t, pod, backup_pod.RESTORE_SCRIPT, settings.url_env[db], stdin=True)
        try:
            with costs.waiting():
                stderr = proc.pipe(*argv, source=f, timeout=settings.timeout, bound="--backup-timeout")
        except proc.CommandError as e:
            trailer = backup_pod.parse_trailer(e.stderr)
            said = trailer.refused or redact_text(backup_pod.other_lines(e.stderr))[-600:] or "(no output)"
            raise RollbackError(
                f"restore of {db} failed (exit {e.returncode}); the database was left as it was: {said}"
            ) from None
    seconds = time.monotonic() - t0
    got = backup_pod.parse_trailer(stderr).heads
    if got != entry.heads:
        raise VerifyFailed(
            f"restore of {db}: heads are {got or 'none'}, the backup was taken at {entry.heads}"
        )
    out.ok(f"restored {db} from {path} ({backup_dir.size_text(entry.size, seconds)}); heads {got}", seconds)


def _scale_back(t: Target, p: RestorePlan, keeper: lock.Keeper, out: Output) -> None:
    rel = release.resolve(t, p.release.name)
    if (rel.version, rel.status) != (p.manifest.version, "deployed"):
        out.warn(
            f"the release runs chart {rel.version} ({rel.status}), the databases are at "
            f"{p.manifest.version}'s heads: the servers stay scaled down. Upgrade the release to "
            f"{p.manifest.version} (helm upgrade, or helm rollback to a revision that ran it)."
        )
        return
    saved = {n: r for n, r in (keeper.state("replicas") or {}).items() if r}
    for name, replicas in saved.items():
        kube.scale(t, "deployment", name, int(replicas))
    if saved:
        out.ok("servers scaled back: " + ", ".join(f"{n} (0→{r})" for n, r in saved.items()))


def run(
    t: Target,
    name: str | None,
    folder: str,
    settings: backup.Settings,
    out: Output,
    *,
    yes: bool,
    interactive: bool,
    force_unlock: bool,
) -> Sequence[str]:
    try:
        p = build(t, name, folder, settings)
    except interrupt.Stopped:
        raise Interrupted("Interrupted while planning the restore: nothing was changed.") from None
    out.say(p.text())
    out.say()
    confirm(p, yes=yes, interactive=interactive, out=out)
    t0 = time.monotonic()
    execute(t, p, settings, out, force_unlock=force_unlock)
    out.say(f"\nRestored {p.release.name} from {folder} in {duration(time.monotonic() - t0)}.")
    return [e.database for e in p.manifest.entries]
