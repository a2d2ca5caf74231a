"""Where the target chart comes from, and proof that it is the version asked for."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

from kubectl_prefect_rollback import constants, helm, proc, yamlsafe
from kubectl_prefect_rollback.errors import BadInput, Refused, RollbackError
from kubectl_prefect_rollback.target import Target

DEFAULT_CHART = constants.DEFAULT_CHART


def resolve(template: str, version: str) -> str:
    chart = template.replace("{version}", version)
    if not chart.strip() or chart.startswith("-"):  # helm would read it as a flag
        raise BadInput(
            f"--chart {template!r} is not a chart", hint="Pass a .tgz, a directory, repo/name or oci://…."
        )
    return chart


def read_local_chart_yaml(path: str) -> dict[str, Any]:
    """Chart.yaml of a chart directory or packaged .tgz, read without starting helm."""
    p = Path(os.path.expanduser(path))
    if p.is_dir():
        f = p / "Chart.yaml"
        if not f.is_file():
            raise BadInput(f"{path} is a directory without Chart.yaml: not a chart")
        return _chart_yaml(f.read_bytes(), f"{f}")
    if not p.exists():
        raise BadInput(
            f"chart {path} does not exist", hint="Pass --chart (a .tgz, a directory, repo/name or oci://…)."
        )
    try:
        with tarfile.open(p, "r:*") as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile():
                    data = tar.extractfile(member)
                    return _chart_yaml(data.read() if data else b"", f"{path}:{member.name}")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BadInput(f"{path} is not a readable chart archive: {e}") from None
    raise BadInput(f"{path} holds no <chart>/Chart.yaml: not a packaged chart")


def _chart_yaml(data: bytes, where: str) -> dict[str, Any]:
    try:
        return yamlsafe.load_mapping(data, what=where)
    except RollbackError as e:
        raise BadInput(e.message) from None  # the operator's --chart is broken


# helm's words for "no such chart or version" (helm 3 and 4); anything else is the network or the cluster
_NO_SUCH = ("not found", "no chart version found", "no such file", "is not a valid chart")


def chart_metadata(t: Target, chart: str, version: str) -> dict[str, Any]:
    if helm.is_local(chart):
        return read_local_chart_yaml(chart)
    try:
        return helm.show_chart(t, chart, version=version)
    except proc.CommandError as e:
        if e.not_found or not any(w in e.stderr.lower() for w in _NO_SUCH):
            raise  # helm missing, a registry or cluster unreachable: exit 1, never "usage"
        raise BadInput(f"no chart {chart} version {version}: {e}") from None  # --to is not a chart version


def verify_version(meta: dict[str, Any], chart: str, want: str, chart_name: str) -> None:
    """helm ignores --version for local files, so we check Chart.yaml ourselves."""
    got = str(meta.get("version", ""))
    if got.lstrip("v") != want.lstrip("v"):
        raise Refused(
            f"{chart} is chart version {got or '(none)'}, not {want}",
            hint="helm would install it anyway (--version is ignored for local charts). "
            "Pass the right --chart.",
        )
    name = meta.get("name")
    if chart_name and name and name != chart_name:
        raise Refused(f"{chart} is chart {name!r}, but the release runs {chart_name!r}")
