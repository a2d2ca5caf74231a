"""Recognise the database upgrade commands of a migration container and turn them into downgrades.

Pure. Shapes handled (domain.md b and g.9): an argv list (`prefect-cloud nebula database upgrade`, the
runbook's `prefect <db> upgrade`, a path such as `/usr/local/bin/prefect-cloud`, orion's
`prefect-cloud self-managed update-orion`), the same split over `command` + `args`, args alone run by
the image's entrypoint (`[orion, database, upgrade]`), and one `sh -c` / `bash -c` script string,
possibly multi-line and holding several databases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubectl_prefect_rollback import constants

DATABASES = constants.DATABASES
BINARY = "prefect-cloud"
_BINARIES = ("prefect-cloud", "prefect")
_SHELLS = ("sh", "bash", "ash", "dash", "zsh")

# In a script: a `prefect`/`prefect-cloud` command (optionally by path) that upgrades one database,
# with its upgrade-only flags (`-y`, `--yes`, `-r head`, `--revision=head`), which a downgrade drops.
_SCRIPT_COMMAND = re.compile(
    r"(?<![\w./$-])(?P<bin>(?:[\w./-]*/)?prefect(?:-cloud)?)[ \t]+"
    r"(?:(?P<db>nebula|orion|events)[ \t]+(?:database[ \t]+)?upgrade|self-managed[ \t]+update-orion)"
    r"(?:[ \t]+(?:-[-\w=]+|head))*(?![\w-])"
)
_ALONE = re.compile(r"^[ \t]*(?:exec[ \t]+)?(?P<cmd>.*?)[ \t]*;?[ \t]*$")


def _basename(token: str) -> str:
    return token.rsplit("/", 1)[-1]


def argv_database(tokens: Sequence[str]) -> str | None:
    """The database an argv (binary first, or none when the image's entrypoint runs it) upgrades."""
    rest = list(tokens[1:]) if tokens and _basename(tokens[0]) in _BINARIES else list(tokens)
    if rest[:2] == ["self-managed", "update-orion"]:
        return "orion"
    if (
        len(rest) >= 2
        and rest[0] in DATABASES
        and (rest[1] == "upgrade" or rest[1:3] == ["database", "upgrade"])
    ):
        return rest[0]
    return None


def _shell_script_index(argv: Sequence[str]) -> int | None:
    """Index of the script in `sh [-e] [-o pipefail] -c SCRIPT [args…]`, or None."""
    if not argv or _basename(argv[0]) not in _SHELLS:
        return None
    i, has_c = 1, False
    while i < len(argv) and argv[i][:1] in "-+" and argv[i] not in ("-", "--"):
        if argv[i] in ("-o", "+o"):
            i += 1
        elif not argv[i].startswith("--") and "c" in argv[i]:
            has_c = True
        i += 1
    return i if has_c and i < len(argv) else None


def script_commands(script: str) -> list[tuple[int, re.Match[str]]]:
    """(line index, match) of every upgrade command in a script, outside quoted text."""
    found = []
    for n, line in enumerate(script.split("\n")):
        if line.lstrip().startswith("#"):
            continue
        for m in _SCRIPT_COMMAND.finditer(line):
            before = line[: m.start()]
            if before.count('"') % 2 == 0 and before.count("'") % 2 == 0:  # not inside an echo "…"
                found.append((n, m))
    return found


def _db(m: re.Match[str]) -> str:
    return m.group("db") or "orion"


def classify(argv_or_script: Sequence[str] | str) -> tuple[str, ...]:
    """The databases whose upgrade this argv (command + args) or script string runs, in order."""
    if isinstance(argv_or_script, str):
        return tuple(_db(m) for _, m in script_commands(argv_or_script))
    argv = list(argv_or_script)
    i = _shell_script_index(argv)
    if i is not None:
        return classify(argv[i])
    db = argv_database(argv)
    return (db,) if db else ()


def container_argv(container: Mapping[str, Any]) -> list[str]:
    return [str(t) for t in (container.get("command") or [])] + [
        str(t) for t in (container.get("args") or [])
    ]


def pod_containers(spec: Mapping[str, Any]) -> Iterable[tuple[str, dict]]:
    """(`initContainers` or `containers`, container) for every container of a pod spec, init ones first."""
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            yield key, c


def is_migration(container: Mapping[str, Any]) -> bool:
    """The container runs at least one database upgrade."""
    return bool(classify(container_argv(container)))


def _binary(original: str) -> str:
    return original if original.endswith("/" + BINARY) else BINARY


def _downgrade(binary: str, db: str, target: str, extra: Sequence[str] = ()) -> list[str]:
    return [binary, db, "database", "downgrade", "-r", target, *extra]


def rewrite_script(
    script: str, targets: Mapping[str, str | None], extra: Sequence[str] = ()
) -> tuple[str, bool]:
    """The script with each upgrade turned into a downgrade (or removed); True if a downgrade remains."""
    lines = script.split("\n")
    by_line: dict[int, list[re.Match[str]]] = {}
    for n, m in script_commands(script):
        by_line.setdefault(n, []).append(m)
    drop_lines, kept = set(), False
    for n, matches in by_line.items():
        line = lines[n]
        for m in reversed(matches):
            target = targets.get(_db(m))
            if target is not None:
                new = " ".join(_downgrade(_binary(m.group("bin")), _db(m), target, extra))
                kept = True
            elif len(matches) == 1 and _ALONE.match(line).group("cmd") == m.group(0):  # type: ignore[union-attr]
                drop_lines.add(n)
                break
            else:
                new = "true"
            line = line[: m.start()] + new + line[m.end() :]
        lines[n] = line
    return "\n".join(line for n, line in enumerate(lines) if n not in drop_lines), kept


def rewrite_container(
    container: Mapping[str, Any], targets: Mapping[str, str | None], extra: Sequence[str] = ()
) -> dict | None:
    """A copy turned into downgrades; None when it has nothing to revert. Raises KeyError if no upgrade."""
    new = dict(container)
    command, args = list(new.get("command") or []), list(new.get("args") or [])
    argv = command + args
    i = _shell_script_index(argv)
    if i is not None:
        if not classify(argv[i]):
            raise KeyError("no upgrade")
        script, kept = rewrite_script(argv[i], targets, extra)
        if not kept:
            return None
        if i < len(command):
            new["command"] = command[:i] + [script] + command[i + 1 :]
        else:
            new["args"] = args[: i - len(command)] + [script] + args[i - len(command) + 1 :]
        return new
    db = argv_database(argv)
    if db is None:
        raise KeyError("no upgrade")
    if targets.get(db) is None:
        return None
    explicit = argv and _basename(argv[0]) in _BINARIES
    down = _downgrade(_binary(argv[0]) if explicit else BINARY, db, targets[db], extra)  # type: ignore[arg-type]
    if not explicit:  # args only, run by the image's entrypoint
        new["args"] = down[1:]
    elif len(command) == 1 and args:
        new["command"], new["args"] = down[:1], down[1:]
    elif command:
        new["command"] = down
        new.pop("args", None)
    else:
        new["args"] = down
    return new
