"""The dump pod and the scripts run in it, pure: nothing here talks to a cluster.

The pod is the migration container of one database with another image (a PostgreSQL client): same
env, secret refs, service account, pull secrets and volumes, so it reaches the database exactly as the
migration does. It only sleeps; the work runs through `kubectl exec`, whose stdout carries the dump
(binary-safe; logs are text and bounded) and whose stderr ends with a trailer the plugin checks.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_prefect_rollback import constants
from kubectl_prefect_rollback.errors import BadInput, ParseError, Refused

# constants is a leaf: --help builds its defaults from here and must not load the YAML layer.
DATABASES = constants.DATABASES

# A documented default: pg_dump/pg_restore 17 read and write archives of PostgreSQL servers up to 17.
DEFAULT_IMAGE = "docker.io/library/postgres:17-alpine"
# The env names the Prefect chart (and the fixture chart) give its migration containers.
DEFAULT_URL_ENV = {db: f"{db.upper()}_DATABASE_URL" for db in DATABASES}
ROLE = {constants.ROLE_LABEL: "backup"}
TRAILER = "#prefect-rollback-backup"
NO_ENV, NOT_POSTGRES = 64, 65  # the scripts' refusals: nothing was dumped or restored

# Turns the env's SQLAlchemy URL (postgresql+psycopg://…) into a libpq one; never echoes the value.
_CONNECT = rf"""set -u
raw=$(printenv "$1") || raw=""
if [ -z "$raw" ]; then echo "{TRAILER} refused: $1 is not set in the container" >&2; exit {NO_ENV}; fi
case "$raw" in
  postgresql://*|postgres://*) url=$raw ;;
  postgresql+*://*|postgres+*://*) url="postgresql://${{raw#*://}}" ;;
  sqlite*) echo "{TRAILER} refused: $1 is a SQLite URL, not PostgreSQL" >&2; exit {NOT_POSTGRES} ;;
  *) echo "{TRAILER} refused: $1 is not a PostgreSQL URL" >&2; exit {NOT_POSTGRES} ;;
esac
heads() {{ psql --no-psqlrc --no-align --tuples-only --dbname="$url" \
  --command='SELECT version_num FROM alembic_version ORDER BY 1' 2>/dev/null | paste -s -d, -; }}
"""

# stdout: the dump, unchanged; the pod counts and hashes the same bytes through two fifos.
DUMP_SCRIPT = (
    _CONNECT
    + rf"""d=/tmp/prefect-rollback-dump.$$
rm -f "$d".*; mkfifo "$d.sum" "$d.len"
sha256sum < "$d.sum" | cut -d' ' -f1 > "$d.sha" &
wc -c < "$d.len" | tr -d ' ' > "$d.size" &
echo "{TRAILER} heads=$(heads)" >&2
{{ pg_dump --format=custom --dbname="$url"; echo $? > "$d.rc"; }} | tee "$d.sum" "$d.len"
wait
rc=$(cat "$d.rc")
echo "{TRAILER} rc=$rc size=$(cat "$d.size") sha256=$(cat "$d.sha")" >&2
rm -f "$d".*
exit "$rc"
"""
)

# stdin: the dump. One transaction: a restore that fails leaves the database as it was.
RESTORE_SCRIPT = (
    _CONNECT
    + rf"""pg_restore --clean --if-exists --single-transaction --exit-on-error --dbname="$url" || exit $?
echo "{TRAILER} heads=$(heads)" >&2
"""
)

HEADS_SCRIPT = _CONNECT + f'echo "{TRAILER} heads=$(heads)" >&2\n'


def parse_url_env(values: tuple[str, ...]) -> dict[str, str]:
    """--database-url-env DB=NAME (repeatable) over the defaults."""
    out = dict(DEFAULT_URL_ENV)
    for v in values:
        db, sep, name = v.partition("=")
        if not sep or db not in DATABASES or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise BadInput(
                f"--database-url-env {v!r}: expected DB=NAME with DB one of {', '.join(DATABASES)} "
                "and NAME an environment variable name"
            )
        out[db] = name
    return out


def runs_upgrade_of(container: Mapping[str, Any], db: str) -> bool:
    from kubectl_prefect_rollback.rewrite import classify, container_argv

    return db in classify(container_argv(container))


def migration_container(job: Mapping[str, Any], db: str) -> dict[str, Any]:
    """The container of the migration Job that upgrades `db` (the first migration container if none
    names it: one container may upgrade all three)."""
    from kubectl_prefect_rollback.rewrite import classify, container_argv

    spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    found = [
        c
        for key in ("initContainers", "containers")
        for c in spec.get(key) or []
        if classify(container_argv(c))
    ]
    if not found:
        name = (job.get("metadata") or {}).get("name", "?")
        raise ParseError(f"the migration Job {name} has no container that runs a database upgrade")
    return next((c for c in found if runs_upgrade_of(c, db)), found[0])


def check_env(container: Mapping[str, Any], db: str, env_name: str) -> None:
    """Refuse before any pod starts when the container cannot have the variable."""
    names = {e.get("name") for e in container.get("env") or [] if isinstance(e, dict)}
    if env_name not in names and not container.get("envFrom"):
        raise Refused(
            f"no connection setting for {db}: the migration container {container.get('name', '?')} sets no "
            f"{env_name}",
            hint=f"Name the variable that holds {db}'s database URL: --database-url-env {db}=NAME.",
        )


@dataclass(frozen=True)
class PodSpec:
    name: str
    image: str
    seconds: float  # the pod ends itself after this long, whatever happens to us


def dump_pod(job: Mapping[str, Any], db: str, spec: PodSpec, labels: Mapping[str, str]) -> dict[str, Any]:
    """A Pod with the settings of `db`'s migration container, the client image, sleeping at most
    spec.seconds (activeDeadlineSeconds too: a pod we could not delete does not hold secrets forever)."""
    from kubectl_prefect_rollback import manifests

    src = migration_container(job, db)
    one = copy.deepcopy(dict(job))
    pod_spec = one["spec"]["template"]["spec"]
    pod_spec.pop("initContainers", None)
    pod_spec["containers"] = [src]  # sidecars stay out: the pod must be able to end
    seconds = max(1, int(spec.seconds))
    script = f"trap 'exit 0' TERM INT; sleep {seconds} & wait"
    pod = manifests.probe_pod(one, name=spec.name, script=script, labels={**labels, **ROLE})
    container = pod["spec"]["containers"][0]
    container["image"] = spec.image
    container["imagePullPolicy"] = "IfNotPresent"
    pod["spec"]["activeDeadlineSeconds"] = seconds + 60
    pod["spec"]["terminationGracePeriodSeconds"] = 5
    return pod


@dataclass(frozen=True)
class Trailer:
    heads: str | None
    rc: int | None = None
    size: int | None = None
    sha256: str | None = None
    refused: str | None = None


def parse_trailer(stderr: str) -> Trailer:
    """What the script said about itself on stderr (the last word of each kind wins)."""
    found: dict[str, str] = {}
    for line in stderr.splitlines():
        if not line.startswith(TRAILER + " "):
            continue
        rest = line[len(TRAILER) + 1 :]
        if rest.startswith("refused: "):
            found["refused"] = rest[len("refused: ") :]
            continue
        for word in rest.split():
            k, _, v = word.partition("=")
            found[k] = v
    size, rc = found.get("size", ""), found.get("rc", "")
    return Trailer(
        heads=found.get("heads") or None,
        rc=int(rc) if rc.isdigit() else None,
        size=int(size) if size.isdigit() else None,
        sha256=found.get("sha256") if re.fullmatch(r"[0-9a-f]{64}", found.get("sha256", "")) else None,
        refused=found.get("refused"),
    )


def other_lines(stderr: str) -> str:
    """The child's own messages (pg_dump's errors), without the trailer."""
    return "\n".join(x for x in stderr.splitlines() if not x.startswith(TRAILER)).strip()
