"""The target's side of a plan: the values the chart step gives helm, and the heads the downgrade
goes to. facts.gather reads them in its chain of dependent reads."""

from __future__ import annotations

from typing import Any, NamedTuple

from kubectl_prefect_rollback import (
    heads,
    helm,
    manifests,
    preflight,
    probe,
    proc,
    records,
    release,
    versions,
)
from kubectl_prefect_rollback.constants import DATABASES
from kubectl_prefect_rollback.errors import BadInput, RollbackError
from kubectl_prefect_rollback.helm import Release
from kubectl_prefect_rollback.target import Target


class Values(NamedTuple):
    text: str | None  # YAML for `helm -f -`: secret, never printed
    source: str
    files: tuple[str, ...]  # the operator's own --target-values files


def values_before(t: Target, rel: Release, files: tuple[str, ...]) -> tuple[int, dict[str, Any]] | None:
    """The values of the revision before the running one, read beside the history: most rollbacks go
    back to it, and then no read waits for the history (helm's start-up and two round trips on the
    plan's longest path). A revision helm no longer keeps is no error: target_values decides."""
    if files or rel.revision < 2:
        return None
    try:
        return rel.revision - 1, helm.get_values(t, rel.name, revision=rel.revision - 1)
    except proc.CommandError as e:
        if "release: not found" in e.stderr:  # helm's words for a revision it does not hold
            return None
        raise


def target_values(
    t: Target,
    name: str,
    history: list[Release],
    to: str,
    files: tuple[str, ...],
    *,
    read: tuple[int, dict[str, Any]] | None = None,
) -> Values:
    """The values the upgrade gets: the operator's files, else those of the last revision that ran `to`
    (`read`: a revision's values read already)."""
    if files:
        for f in files:
            preflight.check_values_file(f)
        return Values(None, "files " + ", ".join(files), files)
    known = release.newest_revision_at(history, to)
    if known is None:
        raise BadInput(
            f"no revision of {name}'s history ran chart {to}, so no values are known to work with it",
            hint="Pass --target-values FILE (the values file you used with that release).",
        )
    import yaml

    if read is not None and read[0] == known.revision:
        values = read[1]
    else:
        values = helm.get_values(t, name, revision=known.revision)
    return Values(
        yaml.safe_dump(values, sort_keys=False), f"revision {known.revision}, the last that ran {to}", ()
    )


def target_heads(
    t: Target,
    rel: Release,
    to: str,
    chart: str,
    rendered: str,
    flags: dict[str, str],
    recorded: dict[str, dict[str, Any]],
) -> tuple[dict[str, str | None], str, str]:
    """(heads, where from, what they were listed from: servers.files_of, else ""): flags, else the
    records ConfigMap, else a probe pod from the target chart's migration Job."""
    if set(flags) >= {"nebula", "orion"}:
        return {db: flags.get(db) for db in DATABASES}, "--*-revision flags", ""
    known = records.heads(recorded, to)
    if known:
        listed = "" if flags else records.files(recorded, to)
        return {**known, **flags}, f"configmap {records.name(rel.name)}", listed
    jobs = manifests.migration_jobs(rendered, what=f"helm template {chart}")
    if not jobs:
        raise RollbackError(
            f"chart {chart} renders no migration Job (`helm template {rel.name} {chart}` shows none), "
            "so the target heads are unknown",
            hint="Pass --nebula-revision, --orion-revision and --events-revision.",
        )
    name = f"{rel.name}-probe-{versions.dashed(to)}"
    listed = probe.probe(t, jobs[0], name=name)
    source = f"a probe pod from chart {to}'s migration Job (its image)"
    return {**heads.heads_of(listed.chains), **flags}, source, "" if flags else listed.files
