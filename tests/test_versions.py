from __future__ import annotations

import pytest

from kubectl_prefect_rollback import versions
from kubectl_prefect_rollback.errors import BadInput


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.2.0", "1.3.0"),
        ("0.8.9", "1.2.0"),  # Prefect's real jump: one release, not computable from semver
        ("1.2.0-rc.1", "1.2.0"),
        ("1.2.0-alpha", "1.2.0-beta"),
        ("1.2.0-2", "1.2.0-10"),  # numeric identifiers compare as numbers
        ("1.2.0-9", "1.2.0-a"),  # numeric before alphanumeric
        ("1.9.0", "1.10.0"),
    ],
)
def test_order(older: str, newer: str) -> None:
    assert versions.parse(older) < versions.parse(newer)
    assert not versions.parse(newer) < versions.parse(older)


def test_build_metadata_and_v_prefix() -> None:
    assert versions.parse("v1.2.0") == versions.parse("1.2.0")
    assert versions.parse("1.2.0+build.5") == versions.parse("1.2.0")
    assert str(versions.parse("v1.2.0")) == "1.2.0"


@pytest.mark.parametrize("bad", ["", "1.2", "latest", "1.2.0.0", "01.2.0", "1.2.0-", "-1.2.0", "1.2.x"])
def test_not_a_version(bad: str) -> None:
    with pytest.raises(BadInput, match="not a chart version"):
        versions.parse(bad)
    assert not versions.is_version(bad)


@pytest.mark.parametrize(
    ("chart", "name", "version"),
    [
        ("prefect-cloud-1.3.0", "prefect-cloud", "1.3.0"),
        ("prefect-cloud-1.3.0-rc.1", "prefect-cloud", "1.3.0-rc.1"),
        ("my-chart-2-0.1.0", "my-chart-2", "0.1.0"),
        ("noversion", "noversion", ""),
    ],
)
def test_split_chart(chart: str, name: str, version: str) -> None:
    assert versions.split_chart(chart) == (name, version)


def test_dashed() -> None:
    assert versions.dashed("1.2.0-RC.1") == "1-2-0-rc-1"
