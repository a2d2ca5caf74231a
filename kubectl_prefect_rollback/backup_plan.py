"""Backups in a rollback: the confirmation rules for destructive plans, and the backup step that runs
before the lock (the rollback's first change)."""

from __future__ import annotations

from kubectl_prefect_rollback import backup, deployed
from kubectl_prefect_rollback.backup_dir import Manifest
from kubectl_prefect_rollback.errors import Refused
from kubectl_prefect_rollback.output import Output
from kubectl_prefect_rollback.plan import Plan
from kubectl_prefect_rollback.target import Target


def to_revert(p: Plan) -> list[str]:
    return [d.name for d in p.databases if d.revert]


def confirm(
    p: Plan, *, yes: bool, folder: str | None, confirmed: bool, interactive: bool, out: Output
) -> str | None:
    """The backup folder to use. A plan that reverts destructive migrations needs a backup: taken now
    (--backup DIR, or a folder typed at the prompt) or vouched for (--backups-confirmed)."""
    if folder or confirmed or not p.destructive:
        return folder
    if not yes and not interactive:
        return folder  # the confirmation itself is refused next: no terminal, no --yes
    drops = ", ".join(f"{m.revision} ({m.description})" for m in p.destructive[:3])
    if yes:
        raise Refused(
            f"the plan reverts {len(p.destructive)} migration(s) that drop data ({drops}) and no backup "
            "was asked for",
            hint="Nothing was changed. Add --backup DIR to take one first, or --backups-confirmed if the "
            "databases are backed up already.",
        )
    out.warn(f"{len(p.destructive)} migration(s) to revert drop data: {drops}")
    answer = out.ask("Folder to back the databases up to first (empty: they are backed up already)").strip()
    return answer or None


def take(t: Target, p: Plan, folder: str, settings: backup.Settings, out: Output) -> Manifest | None:
    """Dump each database with migrations to revert; skipped when `folder` already holds this backup."""
    dbs = to_revert(p)
    if not dbs:
        out.skip("backup: no database has migrations to revert")
        return None
    found = backup.reusable(folder, p.release.name, p.heads("current"), dbs)
    if found is not None:
        out.skip(f"backup already taken in {folder} at these heads ({', '.join(dbs)})")
        return found
    _, jobs = deployed.of_revision(t, p.release.name, p.from_revision, p.from_version)
    where = backup.Where(p.release.name, p.from_version, jobs)
    out.progress(f"backing up {', '.join(dbs)} to {folder} (pg_dump in a pod of image {settings.image})")
    return backup.take(t, where, dbs, folder, settings, out)
