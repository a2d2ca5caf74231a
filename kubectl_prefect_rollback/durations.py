"""Durations as operators type them for kubectl and helm (`90s`, `10m`, `1h30m`, `500ms`).

One parser for every time flag, so a value helm or kubectl would reject is refused before anything
in the cluster changes, and `-1s`, `0` or `soon` never reach a child process.
"""

from __future__ import annotations

import re

from kubectl_prefect_rollback.errors import BadInput

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse(text: str, *, flag: str, allow_bare_seconds: bool = True) -> float:
    """Seconds in `text`: a Go duration (`1h2m3s`, `500ms`) or, where allowed, a bare number of seconds.

    Zero, negative and unparseable values are a usage error naming the flag."""
    value = text.strip()
    seconds: float | None = None
    if allow_bare_seconds and re.fullmatch(r"\d+(\.\d+)?", value):
        seconds = float(value)
    elif value and _PART.sub("", value) == "":
        seconds = sum(float(n) * _UNIT[u] for n, u in _PART.findall(value))
    if seconds is None:
        raise BadInput(
            f"{flag} {text!r} is not a duration",
            hint="Use a number of seconds or a Go duration such as 90s, 10m, 1h30m.",
        )
    if seconds <= 0:
        raise BadInput(f"{flag} {text!r} must be longer than zero")
    return seconds


def go(seconds: float) -> str:
    """The Go duration helm's --timeout and kubectl's --request-timeout accept."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    whole = int(round(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((h, "h"), (m, "m"), (s, "s")) if n) or "0s"
