"""The one place that decides what is a secret: argv echoes, error text (child stderr included), plan
output, reports and the `render` warning all go through here.

Pure functions. Redaction errs on the side of hiding: a harmless value that looks secret is replaced
too, a secret that looks harmless must not get through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

REDACTED = "<redacted>"

# Flags whose *next* argument is a secret (or may hold one: helm --set a.password=x).
SECRET_FLAGS = {"--token", "--kube-token", "--password", "--set", "--set-string", "--set-file"}
# Names of variables, env entries and keys that hold secrets: DB_PASSWORD, DB_PASS, PGPASS, SMTP_PWD,
# PREFECT_API_KEY, GITHUB_TOKEN, SENTRY_DSN, TLS_PRIVATE_KEY …
_SECRET_WORD = r"PASS|PWD|TOKEN|SECRET|KEY|CREDENTIAL|DSN|PRIVATE|AUTH|CERT"
SECRET_NAME = re.compile(_SECRET_WORD, re.IGNORECASE)

# scheme://user:password@host — the password may hold '@' and '/': the userinfo ends at the last '@'
# of the token (greedy), so `postgres://u:p@ss/w@db/x` hides `p@ss/w`.
_URL = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s\"'<>]*:)(?P<pw>[^\s\"'<>]*)@")
# libpq keyword/value strings and URL query parameters: `host=db password='a b' user=x`, `?password=x`.
_KEYWORD = re.compile(
    r"(?P<key>\b(?:ssl)?(?:password|passwd|pwd|passfile)\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^\s'\"&;]+)",
    re.IGNORECASE,
)
# Shell and env assignments whose name looks secret: `export PGPASSWORD=x`, `DB_PASS="x y" cmd`.
_ASSIGN = re.compile(
    rf"(?P<key>\b[A-Za-z_][A-Za-z0-9_.-]*(?:{_SECRET_WORD})[A-Za-z0-9_.-]*=)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s;&|\"']*)",
    re.IGNORECASE,
)
# `"password": "x"` (JSON) and `  password: x` at a line start (YAML) quoted by an error message. Only
# quoted or line-leading keys: prose such as "key: kubectl edit …" must stay readable.
_MAP_WORD = r"PASS|PWD|TOKEN|SECRET|API_?KEY|DSN|PRIVATE|CREDENTIAL"
_MAP_KEY = rf"[\w.-]*(?:{_MAP_WORD})[\w.-]*"
_MAPPING = re.compile(
    rf"(?P<key>(?:\"{_MAP_KEY}\"|'{_MAP_KEY}'|^[ \t-]*{_MAP_KEY})\s*:\s+)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,}\]]+)",
    re.IGNORECASE | re.MULTILINE,
)
# Secret-valued flags inside a text (a script, an error quoting a command line).
_FLAG = re.compile(r"(?P<key>--(?:token|kube-token|password)(?:=|\s+))(?P<value>\S+)")


_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")  # `DB_PASSWORD=x`, `db.password=x`: one word, a value


def _keep_key(m: re.Match[str]) -> str:
    return m["key"] + REDACTED


def text(value: str) -> str:
    """Free text (an error, child stderr, a script) with every secret-looking value replaced."""
    if not value:
        return value
    value = _URL.sub(lambda m: m["head"] + REDACTED + "@", value)
    value = _KEYWORD.sub(_keep_key, value)
    value = _ASSIGN.sub(_keep_key, value)
    value = _MAPPING.sub(lambda m: m["key"] + (m["value"] if m["value"] == REDACTED else REDACTED), value)
    return _FLAG.sub(_keep_key, value)


def argv(args: Sequence[str]) -> list[str]:
    """A command line fit for echoing: secret flag values, secret `key=value` words and secrets inside
    script arguments (`sh -c 'export PGPASSWORD=…'`) replaced."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
        elif arg in SECRET_FLAGS:
            out.append(arg)
            hide_next = True
        elif arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in SECRET_FLAGS:
            out.append(arg.split("=", 1)[0] + "=" + REDACTED)
        elif (
            _WORD.fullmatch(arg.split("=", 1)[0]) and "=" in arg and SECRET_NAME.search(arg.split("=", 1)[0])
        ):
            out.append(arg.split("=", 1)[0] + "=" + REDACTED)
        else:
            out.append(text(arg))
    return out


def _env(entry: Any) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
        return doc(entry)
    if SECRET_NAME.search(str(entry.get("name", ""))):
        return {**entry, "value": REDACTED}
    return {**entry, "value": text(entry["value"])}


def doc(node: Any) -> Any:
    """A copy of a JSON-like document fit for printing: env values with secret names, Secret data,
    values under secret-looking keys, and secrets inside every string replaced."""
    if isinstance(node, str):
        return text(node)
    if isinstance(node, list):
        return [doc(v) for v in node]
    if not isinstance(node, Mapping):
        return node
    out = {}
    for key, value in node.items():
        if key == "env" and isinstance(value, list):
            out[key] = [_env(e) for e in value]
        elif isinstance(value, str) and isinstance(key, str) and _secret_key(key):
            out[key] = REDACTED
        else:
            out[key] = doc(value)
    if node.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(node.get(key), Mapping):
                out[key] = dict.fromkeys(node[key], REDACTED)
    return out


# Document keys whose string values are secrets. Narrower than SECRET_NAME: a Kubernetes object has
# `secretName`, `key` (of a secretKeyRef) and `serviceAccountName`, which name secrets but are not ones.
_SECRET_KEY = re.compile(r"(?i)^(.*(password|passwd|_pwd|token|apikey|api_key|dsn)|privatekey|private_key)$")
_NOT_SECRET = {
    "secretName",
    "key",
    "name",
    "secretKeyRef",
    "serviceAccountName",
    "automountServiceAccountToken",
}


def _secret_key(key: str) -> bool:
    return key not in _NOT_SECRET and bool(_SECRET_KEY.match(key))


def holds_secrets(node: Any) -> bool:
    """Would printing this document show a literal secret?"""
    return doc(node) != node
