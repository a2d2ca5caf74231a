"""Take backups: `pg_dump --format=custom` per database in a short-lived pod built from its migration
container, streamed through `kubectl exec` stdout into the backup folder, size and sha256 checked
against what the pod computed. Any failure is a refusal (exit 3): nothing has been changed yet."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_prefect_rollback import (
    backup_dir,
    backup_pod,
    costs,
    interrupt,
    kube,
    manifests,
    names,
    proc,
    records,
    servers,
    waits,
)
from kubectl_prefect_rollback.backup_dir import Entry, Manifest
from kubectl_prefect_rollback.constants import MANAGED_BY, POLL_PROBE
from kubectl_prefect_rollback.errors import Interrupted, Refused, RollbackError
from kubectl_prefect_rollback.output import Output
from kubectl_prefect_rollback.redact import text as redact_text
from kubectl_prefect_rollback.target import Target


@dataclass(frozen=True)
class Settings:
    image: str = backup_pod.DEFAULT_IMAGE
    url_env: Mapping[str, str] = field(default_factory=lambda: dict(backup_pod.DEFAULT_URL_ENV))
    timeout: float = 3600.0  # --backup-timeout: one dump or one restore


@dataclass(frozen=True)
class Where:
    """The release a backup belongs to and the migration Jobs its pods are built from."""

    release: str
    version: str
    jobs: Sequence[Mapping[str, Any]]


def exec_argv(t: Target, pod: str, script: str, env_name: str, *, stdin: bool) -> tuple[str, ...]:
    # -i only when a dump goes in: nothing else may wait for stdin. The env NAME is an argument, the
    # value is read inside the pod and never leaves it.
    return (
        t.kubectl, "exec", *t.kubectl_flags(), pod, "--container", manifests.PROBE_CONTAINER,
        *(("--stdin",) if stdin else ()), "--", "sh", "-c", script, "sh", env_name,
    )  # fmt: skip


@contextlib.contextmanager
def client_pod(t: Target, where: Where, db: str, settings: Settings, out: Output) -> Iterator[str]:
    """A running dump pod for `db`; deleted on every path (it holds a copy of the migration env)."""
    job = _job_for(where.jobs, db)
    name = names.fit_name(f"{where.release}-backup-{db}-{secrets.token_hex(3)}")
    spec = backup_pod.PodSpec(name, settings.image, settings.timeout + proc.limits.probe)
    pod = backup_pod.dump_pod(job, db, spec, MANAGED_BY)
    note = f"backup pod {name} (delete it: kubectl delete pod {name} -n {t.namespace})"
    with interrupt.leftover(lambda: note):
        try:
            kube.create(t, pod)
            with costs.waiting():
                _wait_running(t, name, settings.image)
            yield name
        finally:
            with interrupt.cleanup():
                try:
                    kube.delete(t, "pod", name, wait=False)
                except proc.CommandError as e:  # it ends by its own deadline, but its spec keeps the env
                    out.warn(f"could not delete {note}: {str(e).splitlines()[0]}")


def _job_for(jobs: Sequence[Mapping[str, Any]], db: str) -> Mapping[str, Any]:
    for job in jobs:
        with contextlib.suppress(Exception):
            if backup_pod.runs_upgrade_of(backup_pod.migration_container(job, db), db):
                return job
    return jobs[0]


def _wait_running(t: Target, name: str, image: str) -> None:
    last = {"phase": "Pending"}

    def look() -> bool | None:
        pod = kube.get(t, "pod", name) or {}
        last["phase"] = phase = (pod.get("status") or {}).get("phase", "Pending")
        if phase == "Running":
            return True
        if phase in ("Succeeded", "Failed"):
            raise Refused(f"backup pod {name} ended {phase} before the dump started")
        for _, reason in servers.cannot_start(pod):
            raise Refused(
                f"backup pod {name} cannot start: {reason} ({image})",
                hint="Nothing was changed. Pass a PostgreSQL client image the cluster can pull: "
                "--backup-image IMAGE.",
            )
        return None

    waits.wait_until(
        look,
        deadline=waits.deadline(proc.limits.probe),
        poll=POLL_PROBE,
        expired=lambda: Refused(
            f"backup pod {name} was not running within --probe-timeout (phase {last['phase']})"
        ),
    )


def check_connections(where: Where, dbs: Sequence[str], settings: Settings) -> None:
    for db in dbs:
        job = _job_for(where.jobs, db)
        backup_pod.check_env(backup_pod.migration_container(job, db), db, settings.url_env[db])


def dump_one(t: Target, where: Where, db: str, folder: Any, settings: Settings, out: Output) -> Entry:
    env_name = settings.url_env[db]
    with client_pod(t, where, db, settings, out) as pod:
        writer = backup_dir.Writer(folder, db)
        t0 = time.monotonic()
        try:
            argv = exec_argv(t, pod, backup_pod.DUMP_SCRIPT, env_name, stdin=False)
            try:
                with costs.waiting():
                    stderr = proc.pipe(
                        *argv, sink=writer.write, timeout=settings.timeout, bound="--backup-timeout"
                    )
            except proc.CommandError as e:
                raise _failed(db, e.returncode, e.stderr) from None
            except OSError as e:
                raise Refused(f"backup of {db}: cannot write {writer.partial}: {e.strerror or e}") from None
            trailer = backup_pod.parse_trailer(stderr)
            if trailer.size != writer.size or trailer.sha256 != writer.sha256:
                raise Refused(
                    f"backup of {db} is incomplete: received {writer.size} bytes "
                    f"(sha256 {writer.sha256[:12]}…), the pod wrote {trailer.size} bytes "
                    f"(sha256 {(trailer.sha256 or '?')[:12]}…)"
                )
            try:
                writer.commit()
            except OSError as e:
                raise Refused(f"backup of {db}: cannot write {writer.partial}: {e.strerror or e}") from None
        except BaseException:
            writer.discard()
            raise
    seconds = time.monotonic() - t0
    out.ok(
        f"backup of {db}: {writer.final} ({backup_dir.size_text(writer.size, seconds)}, "
        f"sha256 {writer.sha256[:12]}…, heads {trailer.heads or '-'})",
        seconds,
    )
    return Entry(db, writer.final.name, writer.size, writer.sha256, backup_dir.stamp(), trailer.heads)


def _failed(db: str, code: int, stderr: str) -> Refused:
    trailer = backup_pod.parse_trailer(stderr)
    if trailer.refused:
        return Refused(
            f"no connection setting for {db}: {trailer.refused}",
            hint=f"Nothing was changed. Name the variable that holds {db}'s URL: "
            f"--database-url-env {db}=NAME.",
        )
    said = redact_text(backup_pod.other_lines(stderr))[-600:] or "(no output)"
    return Refused(f"backup of {db} failed (exit {code}): {said}", hint="Nothing was changed.")


def take(
    t: Target, where: Where, dbs: Sequence[str], folder: str, settings: Settings, out: Output
) -> Manifest:
    """Dump each database into `folder`; write backup.json and the records entry. Raises Refused
    (or Interrupted) having changed nothing in the cluster but short-lived pods, deleted again."""
    check_connections(where, dbs, settings)
    path = backup_dir.prepare(folder)
    try:
        entries = tuple(dump_one(t, where, db, path, settings, out) for db in dbs)
    except interrupt.Stopped as e:
        raise Interrupted("Interrupted during the backup: nothing was changed.", signum=e.signum) from None
    manifest = Manifest(where.release, t.namespace, where.version, entries)
    backup_dir.write_manifest(path, manifest)
    record = {**manifest.doc(), "dir": str(path.resolve())}
    try:
        records.write_backup(t, where.release, record)
    except (RollbackError, proc.CommandError) as e:  # the files are what matters; say so, go on
        out.warn(
            f"could not name the backup in configmap {records.name(where.release)}: {str(e).splitlines()[0]}"
        )
    return manifest


def reusable(
    folder: str, release: str, want: Mapping[str, str | None], dbs: Sequence[str]
) -> Manifest | None:
    """A backup already in `folder` of this release at these heads (a re-run after a later failure),
    its files intact; None when the folder holds none. Another backup there is refused, not overwritten."""
    import os

    if not os.path.exists(os.path.join(folder, backup_dir.MANIFEST)):
        return None
    found = backup_dir.read_manifest(folder)
    have = {e.database: e for e in found.entries}
    if found.release != release or any(db not in have or have[db].heads != want.get(db) for db in dbs):
        raise Refused(
            f"{folder} already holds another backup ({found.release} at {found.version}): "
            "it is not overwritten",
            hint="Choose an empty folder for --backup.",
        )
    for db in dbs:
        backup_dir.check_file(folder, have[db])
    return found


def reusable_any(folder: str) -> bool:
    import os

    return os.path.exists(os.path.join(folder, backup_dir.MANIFEST))
