"""Migration heads per chart version, kept in a ConfigMap so a later rollback to that version needs
no probe, and `history` can show them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from kubectl_prefect_rollback import kube, migrations, proc
from kubectl_prefect_rollback.constants import INSTANCE_LABEL, MANAGED_BY
from kubectl_prefect_rollback.errors import ParseError, RollbackError
from kubectl_prefect_rollback.target import Target

LABELS = MANAGED_BY
# The newest backup (backup.py): JSON {release, namespace, version, dir, databases: {db: {file, size,
# sha256, time, heads}}}. Not a version key (those start with a digit), so parse() passes it by.
BACKUP_KEY = "latest-backup"


def name(release: str) -> str:
    return f"{release}-prefect-rollback-revisions"


def key(version: str) -> str:
    return re.sub(r"[^-._a-zA-Z0-9]", "_", version)  # ConfigMap keys allow [-._a-zA-Z0-9]


def parse(cm: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The entries as we wrote them: {"heads": {db: revision or null}, "source": …, "recorded": …}.

    An entry of another shape (hand-edited, or written by something else) is an error naming the key:
    heads we cannot trust must not silently decide what a rollback reverts."""
    cm = cm or {}
    name = (cm.get("metadata") or {}).get("name", "the records configmap")
    out = {}
    for k, value in (cm.get("data") or {}).items():
        if k == BACKUP_KEY:
            continue
        try:
            entry = json.loads(value) if isinstance(value, str) else None
        except (json.JSONDecodeError, RecursionError):
            entry = None
        if not _ours(entry):
            ns = (cm.get("metadata") or {}).get("namespace", "")
            raise ParseError(
                f"configmap {name} key {k!r} is not what kubectl-prefect-rollback wrote "
                "(a JSON object with a heads mapping of revision ids)",
                hint=f"Fix or remove that key: kubectl edit configmap {name}" + (f" -n {ns}" if ns else ""),
            )
        out[k] = entry
    return out


def _ours(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("heads"), dict):
        return False
    return all(
        db in migrations.DATABASES and (rev is None or isinstance(rev, str) and _plausible(rev))
        for db, rev in entry["heads"].items()
    )


def _plausible(rev: str) -> bool:
    try:
        migrations.validate_revision(rev)
    except Exception:  # noqa: BLE001 - BadInput here means "not ours"
        return False
    return True


class Seen(NamedTuple):
    """The ConfigMap as one read saw it: a write from it is guarded by its resourceVersion."""

    obj: dict[str, Any] | None  # None: there was none
    entries: dict[str, dict[str, Any]]


def read_seen(t: Target, release: str) -> Seen:
    return seen(kube.get(t, "configmap", name(release)))


def seen(cm: dict[str, Any] | None) -> Seen:
    """The ConfigMap as read (by read_seen, or beside the lease in one call: facts.py)."""
    return Seen(cm, parse(cm))


def read(t: Target, release: str) -> dict[str, dict[str, Any]]:
    return read_seen(t, release).entries


class Cli(NamedTuple):
    """What an image's downgrade CLI said about -y (heads.py asks it), and the image it was asked in:
    its reference and the digest the kubelet reports for it (a re-pushed tag has another)."""

    image: str
    image_id: str
    yes: bool

    def doc(self) -> dict[str, Any]:
        return {"image": self.image, "imageID": self.image_id, "yes": self.yes}


class Entry(NamedTuple):
    heads: dict[str, str | None]
    source: str
    cli: Cli | None = None  # the version's server image and its -y answer, when this run knows them
    files: str = ""  # the heads were listed from these files (servers.files_of): verify compares


def cli_answer(records: Mapping[str, dict[str, Any]], version: str, image: str, image_id: str) -> bool | None:
    """The -y answer recorded for `version`, if it was asked in this very image (same reference and
    digest); None: ask the image. Without a digest to compare nothing is trusted."""
    got = (records.get(key(version)) or {}).get("cli")
    if not image_id or not isinstance(got, dict) or not isinstance(got.get("yes"), bool):
        return None
    return got["yes"] if (got.get("image"), got.get("imageID")) == (image, image_id) else None


def files(records: Mapping[str, dict[str, Any]], version: str) -> str:
    """What the recorded heads of `version` were listed from (servers.files_of); "" when unknown."""
    got = (records.get(key(version)) or {}).get("files")
    return got if isinstance(got, str) else ""


def heads(records: dict[str, dict[str, Any]], version: str) -> dict[str, str | None] | None:
    entry = records.get(key(version))
    if not entry:
        return None
    return {db: entry["heads"].get(db) for db in migrations.DATABASES}


Entries = dict[str, Entry]


def write(t: Target, release: str, entries: Entries, seen: Seen | None = None) -> bool:
    """Store {version: Entry}; False when every one is already recorded as is.

    From `seen` (what the plan read) when given: no read of its own. If the ConfigMap changed since (a
    backup recorded in between, another run), the write conflicts and is done once more from a fresh read."""
    try:
        return _write(t, release, entries, seen or read_seen(t, release))
    except kube.Conflict:
        if seen is None:
            raise
        return _write(t, release, entries, read_seen(t, release))


def record(
    t: Target,
    release: str,
    entries: Entries,
    seen: Seen | None,
    *,
    warn: Callable[[str], None],
) -> tuple[str, str]:
    """The rollback's record step, as (status, detail). A failure is warned and the rollback goes on:
    the servers are going down by then, the lock lease holds both heads for a resume, and failing for
    a cache of heads would only lengthen the outage. A resumed run writes them again."""
    cm = name(release)
    try:
        if not write(t, release, entries, seen):
            return "skipped", f"heads already recorded in configmap {cm}"
    except (proc.CommandError, RollbackError) as e:
        warn(
            f"recording the heads in configmap {cm} failed: {str(e).splitlines()[0]}; the rollback goes on "
            "(the lock lease holds them for a resume, which records them again; `revisions --save` "
            "records the deployed version's later)"
        )
        return "skipped", f"recording the heads in configmap {cm} failed (see the warning above)"
    return "done", f"heads recorded in configmap {cm}"


def _write(t: Target, release: str, entries: Entries, seen: Seen) -> bool:
    todo = {v: e for v, e in entries.items() if _changes(seen.entries, v, e)}
    if not todo:
        return False
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data = {key(v): json.dumps(_doc(e, stamp)) for v, e in todo.items()}
    _store(t, release, seen.obj, data)
    return True


def _changes(records: dict[str, dict[str, Any]], version: str, e: Entry) -> bool:
    if heads(records, version) != e.heads or (e.files and files(records, version) != e.files):
        return True
    return e.cli is not None and (records.get(key(version)) or {}).get("cli") != e.cli.doc()


def _doc(e: Entry, stamp: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"heads": e.heads, "source": e.source, "recorded": stamp}
    if e.files:
        doc["files"] = e.files
    return {**doc, "cli": e.cli.doc()} if e.cli else doc


def _store(t: Target, release: str, cm: dict[str, Any] | None, data: dict[str, str]) -> None:
    """Create the ConfigMap, or add `data` to it at the resourceVersion it was read at."""
    if cm is None:
        meta = {"name": name(release), "labels": {**LABELS, INSTANCE_LABEL: release}}
        kube.create(t, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
        return
    cm = {k: v for k, v in cm.items() if k != "status"}
    cm["data"] = {**(cm.get("data") or {}), **data}
    meta = cm["metadata"] = dict(cm.get("metadata") or {})
    # our labels put back if they were edited away: plans list this ConfigMap by them
    meta["labels"] = {**(meta.get("labels") or {}), **LABELS, INSTANCE_LABEL: release}
    kube.replace(t, cm)


def backup(cm: dict[str, Any] | None) -> dict[str, Any] | None:
    """The newest backup named in the records ConfigMap, or None."""
    raw = ((cm or {}).get("data") or {}).get(BACKUP_KEY)
    try:
        doc = json.loads(raw) if raw else None
    except (json.JSONDecodeError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def write_backup(t: Target, release: str, doc: dict[str, Any]) -> None:
    _store(t, release, kube.get(t, "configmap", name(release)), {BACKUP_KEY: json.dumps(doc, sort_keys=True)})
