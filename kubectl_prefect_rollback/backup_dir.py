"""The backup folder on the operator's machine: one `<db>.dump` per database and `backup.json`
naming each (file, size, sha256, time, heads). Files are written 0600 (they hold the databases), first
as `.partial`, renamed only once their size and sha256 match what the pod computed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubectl_prefect_rollback.constants import API_VERSION
from kubectl_prefect_rollback.errors import Refused

MANIFEST = "backup.json"
KIND = "PrefectRollbackBackup"


@dataclass(frozen=True)
class Entry:
    database: str
    file: str  # relative to the folder
    size: int
    sha256: str
    time: str
    heads: str | None  # alembic_version when the dump started (several heads comma-joined)


@dataclass(frozen=True)
class Manifest:
    release: str
    namespace: str
    version: str  # the chart version the release ran when the backup was taken
    entries: tuple[Entry, ...]

    def doc(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "release": self.release,
            "namespace": self.namespace,
            "version": self.version,
            "databases": {
                e.database: {k: v for k, v in asdict(e).items() if k != "database"} for e in self.entries
            },
        }


def size_text(size: int, seconds: float | None = None) -> str:
    """`264.4 MB, 3.6 MB/s`; small dumps in kB (a 27 kB schema is not `0.0 MB`)."""
    text = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
    if seconds:
        text += f", {size / 1e6 / seconds:.1f} MB/s"
    return text


def stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def prepare(folder: str) -> Path:
    """The folder exists (made 0700 if not) and takes files: refused before any pod starts."""
    path = Path(folder)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe = path / f".prefect-rollback-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise Refused(
            f"backup folder {folder} is not writable: {e.strerror or e}",
            hint="Nothing was changed. Choose a folder you can write to (--backup DIR).",
        ) from None
    return path


class Writer:
    """One dump being received: counted and hashed as it is written, never held in memory."""

    def __init__(self, folder: Path, database: str) -> None:
        self.final = folder / f"{database}.dump"
        self.partial = folder / f".{database}.dump.partial"
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._f = os.fdopen(fd, "wb")
        self.size = 0
        self._sha = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self._f.write(chunk)
        self.size += len(chunk)
        self._sha.update(chunk)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def commit(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())  # a full disk may only say so here
        self._f.close()
        os.replace(self.partial, self.final)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._f.close()
        with contextlib.suppress(OSError):
            self.partial.unlink()


def write_manifest(folder: Path, manifest: Manifest) -> None:
    tmp = folder / f".{MANIFEST}.partial"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(manifest.doc(), f, indent=2)
        f.write("\n")
    os.replace(tmp, folder / MANIFEST)


def read_manifest(folder: str) -> Manifest:
    path = Path(folder) / MANIFEST
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        entries = tuple(
            Entry(db, str(e["file"]), int(e["size"]), str(e["sha256"]), str(e["time"]), e.get("heads"))
            for db, e in doc["databases"].items()
        )
        if doc.get("kind") != KIND or not entries:
            raise ValueError("not a backup manifest")
        return Manifest(str(doc["release"]), str(doc["namespace"]), str(doc["version"]), entries)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise Refused(f"{path} is not a backup made by this plugin: {e}") from None


def check_file(folder: str, entry: Entry) -> Path:
    """The dump is there, whole and unchanged (size and sha256 as recorded)."""
    path = Path(folder) / entry.file
    sha = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                sha.update(chunk)
                size += len(chunk)
    except OSError as e:
        raise Refused(f"backup file {path}: {e.strerror or e}") from None
    if size != entry.size or sha.hexdigest() != entry.sha256:
        raise Refused(
            f"backup file {path} changed since it was taken ({size} bytes, sha256 {sha.hexdigest()[:12]}…; "
            f"recorded {entry.size} bytes, {entry.sha256[:12]}…)"
        )
    return path
