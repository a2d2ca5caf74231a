"""Checks that run before anything in the cluster changes (issue 9, Must 5): the operator's values
files, the whole target chart rendering with the target values, and the downgrade Jobs passing the API
server's own validation and admission in a server-side dry run. A failure here leaves the cluster as it was.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubectl_prefect_rollback import helm, kube, proc
from kubectl_prefect_rollback.errors import BadInput, Refused, RollbackError
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.target import Target

if TYPE_CHECKING:
    from kubectl_prefect_rollback.plan import Plan


def check_values_file(path: str) -> None:
    """An operator's --target-values file must be readable YAML holding a mapping, as helm wants it:
    found out now, not at the chart step with the databases already downgraded."""
    from kubectl_prefect_rollback import yamlsafe

    p = Path(path).expanduser()
    if not p.is_file():
        raise BadInput(f"values file {path} does not exist" + (" (it is a directory)" if p.is_dir() else ""))
    try:
        data = p.read_bytes()
    except OSError as e:
        raise BadInput(f"values file {path} cannot be read: {e.strerror or e}") from None
    try:
        yamlsafe.load_mapping(data, what=f"values file {path}")
    except RollbackError as e:
        raise BadInput(
            e.message, hint="--target-values takes the YAML values file used with that release."
        ) from None


# helm's words for a chart that does not render (helm 3.10+ and 4): anything else is not the chart's fault
_RENDER_ERRORS = ("template:", "parse error", "execution error", "yaml:", "values don't meet", "render error")


def render_target(
    t: Target, rel: Release, chart: str, to: str, values: str | None, files: tuple[str, ...]
) -> str:
    """`helm template` of the whole target chart with the values the upgrade will get: a chart that does
    not render is refused before anything changes (and the text gives the target's migration Job)."""
    try:
        return helm.template(
            t, rel.name, chart, version=to, values=values, values_files=files, show_only=None
        )
    except proc.CommandError as e:
        if e.not_found or not any(w in e.stderr.lower() for w in _RENDER_ERRORS):
            raise
        raise Refused(
            f"chart {chart} does not render with the target values: {' '.join(e.stderr.split())[:400]}",
            hint="Nothing was changed. Fix the values (--target-values) or the chart, then re-run.",
        ) from None


def dry_run_jobs(t: Target, jobs: list[dict[str, Any]], *, for_rollback: bool) -> list[str | None]:
    """`kubectl create --dry-run=server` of every downgrade Job: admission and validation say no now,
    before the lock, the scale-down or any database is touched. Per Job: None when the API server
    accepted it, else why it was not checked (a warning, or "" when a Job of that name is in the way:
    the downgrade step re-attaches or replaces it, and its write is validated then)."""

    def check(job: dict[str, Any]) -> str | None:
        name = job["metadata"]["name"]
        try:
            kube.create_dry_run(t, job)
            return None
        except kube.Conflict as e:  # AlreadyExists, or an answer that names a conflict
            err = " ".join(str(e).split())
            if "AlreadyExists" in err:
                return ""
        except proc.CommandError as e:
            err = " ".join(e.stderr.split())
            if "Forbidden" in err and not for_rollback:  # a read-only `plan` may not dry-run writes
                return f"job/{name} not checked with --dry-run=server: {err[:200]}"
            if "Error from server" not in err:
                raise  # the cluster did not answer: exit 1 naming the command
        raise Refused(
            f"job/{name} does not pass kubectl create --dry-run=server: {err[:400]}",
            hint="Nothing was changed. See `render` for the manifest.",
        )

    return proc.gather(*(lambda j=j: check(j) for j in jobs))


def check_plan(t: Target, p: Plan, *, for_rollback: bool) -> Plan:
    """The plan once the API server has dry-run its downgrade Jobs: refused, or with its warnings.
    A Job it accepted is marked validated: its real apply need not ask for validation again."""
    found = dry_run_jobs(t, list(p.jobs), for_rollback=for_rollback)
    jobs = tuple(replace(d, validated=w is None) for d, w in zip(p.downgrades, found, strict=True))
    warned = [w for w in found if w]
    return replace(
        p, downgrades=jobs, warnings=(*p.warnings[: p.checked_at], *warned, *p.warnings[p.checked_at :])
    )
