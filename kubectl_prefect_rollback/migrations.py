"""Alembic chains of the three Prefect Cloud databases: the listing script, its parser, heads and paths.

Pure: nothing here starts a process. The listing script runs in a server pod (or a probe pod) and
prints tab-separated records; `parse_listing` turns them into one `Chain` per database, built from
the `revision`/`down_revision` code lines only (never file names or docstrings, domain.md e).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from . import listing
from .errors import BadInput, ParseError, Refused

# the listing programs live in listing.py; these names are the parser's contract with them
DATABASES, DEFAULT_ROOT, VERSIONS = listing.DATABASES, listing.DEFAULT_ROOT, listing.VERSIONS
HEADER, FOOTER, VIA = listing.HEADER, listing.FOOTER, listing.VIA


def listing_script(root: str = DEFAULT_ROOT) -> str:
    """The POSIX sh script (for `sh -c`) that lists the three chains in one run (listing.script)."""
    return listing.script(root)


class Migration(NamedTuple):  # a tuple, not a dataclass: thousands are built per plan, cheaply
    revision: str
    down_revisions: tuple[str, ...]  # () for the base; several for a merge
    file: str
    description: str = ""
    drops: tuple[str, ...] = ()

    @property
    def destructive(self) -> bool:
        return bool(self.drops)


@dataclass(frozen=True)
class Chain:
    database: str
    migrations: tuple[Migration, ...]  # newest first (a topological order from the head)
    head: str
    _index: dict[str, Migration] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {m.revision: m for m in self.migrations})

    @property
    def count(self) -> int:
        return len(self.migrations)

    @property
    def newest_file(self) -> str:
        return self._index[self.head].file

    def contains(self, revision: str) -> bool:
        return revision in self._index

    def get(self, revision: str) -> Migration:
        return self._index[revision]

    def path_to(self, target: str) -> list[Migration]:
        """The migrations `downgrade -r target` reverts, newest first; `target` itself stays applied."""
        if target == self.head:
            return []
        if target not in self._index:
            raise Refused(
                f"{self.database}: target revision {target} is not an ancestor of the current head "
                f"{self.head}: it is not in the {self.database} chain of the running image",
                hint="Check the target version, or pass the revision explicitly.",
            )
        keep = _ancestors(self._index, target)
        return [m for m in self.migrations if m.revision not in keep]


def _ancestors(index: dict[str, Migration], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for parent in index[todo.pop()].down_revisions:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


_ASSIGN = re.compile(r"^(?:down_)?revision\s*(?::[^=]*)?=\s*(?P<value>.*?)\s*(?:#[^'\"]*)?$")
_FAST = re.compile(r"""[a-z_]+[^=]*=\s*(?:(["'])([^"'\\\s]+)\1|None)\s*$""")
_NO_SPACE = re.compile(r"\S+")
_REVISION = re.compile(r"^[0-9A-Za-z_]{1,64}$")
_RESERVED = {"base", "head", "heads"}


def validate_revision(value: str) -> str:
    """Accept a plausible Alembic revision id, for use as a process argument.

    Alembic generates 12 lowercase hex digits; hand-picked ids exist, so letters, digits and `_` up to 64
    characters are accepted. Refused: anything else (shell syntax, a leading `-`, spaces) and the
    symbolic `base`/`head`/`heads` (`downgrade -r base` drops everything).
    """
    if not _REVISION.fullmatch(value or "") or value.lower() in _RESERVED:
        raise BadInput(
            f"not a plausible Alembic revision id: {value!r}",
            hint="Expected letters, digits or '_' (normally 12 lowercase hex digits, e.g. 3fab1acc05c0).",
        )
    return value


def _value(line: str, db: str, name: str) -> tuple[str, ...] | None:
    fast = _FAST.match(line)  # the common case, without backtracking or literal_eval
    if fast:
        return (fast.group(2),) if fast.group(2) else None
    where = f"{db}: {name}"
    m = _ASSIGN.match(line)
    raw = m.group("value") if m else ""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        raise ParseError(f"{where}: cannot read {line.strip()!r}") from None
    if value is None:
        return None
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (tuple, list)) or not all(isinstance(i, str) and i for i in items):
        raise ParseError(f"{where}: unexpected value in {line.strip()!r}")
    if not all(_NO_SPACE.fullmatch(i) for i in items):
        raise ParseError(f"{where}: revision ids with spaces in {line.strip()!r}")
    return tuple(items)


def parse_listing(text: str) -> dict[str, Chain | None]:
    """Chains per database from the listing script's output; None for a database whose folder is absent."""
    lines = (text or "").strip("\n").split("\n")
    if not lines or lines[0].strip() != HEADER:
        raise ParseError("the migration listing is empty or malformed (no header line)")
    if lines[-1].strip() != FOOTER:
        raise ParseError("the migration listing is incomplete (no end line): the script did not finish")
    lines = [line for line in lines if not line.startswith(VIA)]  # which way ran: for -v only
    present: dict[str, bool] = {}
    files: dict[str, dict[str, tuple[list[str], ...]]] = {db: {} for db in DATABASES}
    for n, line in enumerate(lines[1:-1], start=2):
        parts = line.rstrip("\r").split("\t", 3)
        slot = _SLOTS.get(parts[1]) if len(parts) == 4 else None
        if slot is not None and parts[0] in files:
            try:
                files[parts[0]][parts[2]][slot].append(parts[3])
            except KeyError:
                raise ParseError(f"migration listing line {n}: {parts[1]} for an unlisted file") from None
        elif len(parts) == 3 and parts[0] in files and parts[1] == "file":
            files[parts[0]][parts[2]] = ([], [], [], [])
        elif len(parts) == 3 and parts[0] in files and parts[1] in ("folder", "absent"):
            present[parts[0]] = parts[1] == "folder"
        else:
            raise ParseError(f"migration listing line {n} is malformed: {line!r}")
    missing = [db for db in DATABASES if db not in present]
    if missing:
        raise ParseError(f"the migration listing says nothing about {', '.join(missing)}")
    return {db: _chain(db, files[db]) if present[db] else None for db in DATABASES}


_SLOTS = {"revision": 0, "down_revision": 1, "description": 2, "drop": 3}


def _migration(db: str, name: str, records: tuple[list[str], ...]) -> Migration:
    revs, downs, descriptions, drops = records
    if len(revs) != 1 or len(downs) != 1:
        raise ParseError(
            f"{db}: {name}: expected one `revision` and one `down_revision` line, "
            f"found {len(revs)} and {len(downs)}"
        )
    revision = _value(revs[0], db, name)
    if revision is None or len(revision) != 1:
        raise ParseError(f"{db}: {name}: `revision` must be one string: {revs[0].strip()!r}")
    down = _value(downs[0], db, name) or ()
    drops = tuple(_batch_drop(d) for d in drops)
    return Migration(revision[0], down, name, descriptions[0] if descriptions else "", drops)


_BATCH = re.compile(r"""^batch_alter_table\("([^"]+)"\): (?P<line>.*)$""")
_ONE_ARG = re.compile(r"""drop_column\(\s*(["'][^"']+["'])\s*[,)]""")


def _batch_drop(text: str) -> str:
    """`batch_op.drop_column("c")` inside `batch_alter_table("t")` -> `op.drop_column("t", "c")  # …`,
    so that the table is named like any other column drop (the listing marks the block)."""
    m = _BATCH.match(text)
    if not m:
        return text
    line, one = m.group("line"), _ONE_ARG.search(m.group("line"))
    return f'op.drop_column("{m.group(1)}", {one.group(1)})  # {line}' if one else line


def _chain(db: str, files: dict[str, tuple[list[str], ...]]) -> Chain:
    if not files:
        raise ParseError(
            f"{db}: the migrations folder exists but holds no *.py migration (only compiled files?)"
        )
    index: dict[str, Migration] = {}
    for name in sorted(files):
        m = _migration(db, name, files[name])
        if m.revision in index:
            raise Refused(f"{db}: revision {m.revision} is defined twice ({index[m.revision].file}, {name})")
        index[m.revision] = m
    children = dict.fromkeys(index, 0)
    for m in index.values():
        for parent in m.down_revisions:
            if parent not in index:
                raise Refused(f"{db}: {m.revision} ({m.file}) revises {parent}, which no migration defines")
            children[parent] += 1
    heads = sorted(r for r, c in children.items() if c == 0)
    if len(heads) > 1:
        raise Refused(f"{db}: the chain has {len(heads)} heads: {', '.join(heads)}; expected exactly one")
    order = _newest_first(index, children, heads)
    if len(order) != len(index):
        stuck = sorted(set(index) - {m.revision for m in order})
        raise Refused(f"{db}: the chain has a cycle through {', '.join(stuck[:10])}; it has no single head")
    return Chain(database=db, migrations=tuple(order), head=heads[0])


def _newest_first(index: dict[str, Migration], children: dict[str, int], heads: Iterable[str]) -> list:
    """Kahn's algorithm from the head down: a migration comes after everything that revises it."""
    left, ready, order = dict(children), list(heads), []
    while ready:
        m = index[ready.pop()]
        order.append(m)
        for parent in sorted(m.down_revisions, reverse=True):
            left[parent] -= 1
            if left[parent] == 0:
                ready.append(parent)
    return order
