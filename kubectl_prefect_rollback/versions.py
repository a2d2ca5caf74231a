"""Chart versions: strict-enough SemVer parsing and ordering, without a dependency."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubectl_prefect_rollback.errors import BadInput

_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)
_CHART = re.compile(r"^(?P<name>.+?)-(?P<version>v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?)$")


@dataclass(frozen=True, order=False)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple[int | str, ...] = ()
    text: str = ""

    def _key(self) -> tuple:
        # A release sorts after its pre-releases; numeric identifiers sort before alphanumeric ones.
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Version) -> bool:
        return self._key() <= other._key()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.text


def parse(text: str) -> Version:
    m = _SEMVER.match(text.strip())
    if not m:
        raise BadInput(f"{text!r} is not a chart version (expected SemVer such as 1.2.0)")
    pre = tuple(int(p) if p.isdigit() else p for p in (m["pre"] or "").split(".") if p)
    return Version(int(m["major"]), int(m["minor"]), int(m["patch"]), pre, text.strip().lstrip("v"))


def is_version(text: str) -> bool:
    return bool(_SEMVER.match(text.strip()))


def split_chart(chart: str) -> tuple[str, str]:
    """`prefect-cloud-1.3.0` (helm's CHART column) -> (`prefect-cloud`, `1.3.0`)."""
    m = _CHART.match(chart)
    if not m:
        return chart, ""
    return m["name"], m["version"]


def dashed(version: str) -> str:
    """A version usable inside a Kubernetes name: 1.2.0-rc.1 -> 1-2-0-rc-1."""
    return re.sub(r"[^0-9a-z]+", "-", version.lower()).strip("-")
