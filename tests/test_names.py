"""names: the names we make fit Kubernetes' rules (deterministic, shortened with a hash)."""

from __future__ import annotations

import re

import pytest

from kubectl_prefect_rollback import names


@pytest.mark.parametrize(
    "release, version, want",
    [
        ("customer-managed", "1.2.0", "customer-managed-downgrade-to-1-2-0"),
        ("Prefect_Cloud", "1.2.0-rc.1+build.5", "prefect-cloud-downgrade-to-1-2-0-rc-1-build-5"),
    ],
)
def test_job_name(release: str, version: str, want: str) -> None:
    assert names.job_name(release, version) == want


def test_job_name_long_is_truncated_with_a_hash() -> None:
    a = names.job_name("r" * 60, "1.2.0")
    b = names.job_name("r" * 60, "1.2.1")
    assert len(a) == 63 and len(b) == 63 and a != b and a == names.job_name("r" * 60, "1.2.0")
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", a)


def test_fit_name_keeps_a_short_name_and_hashes_a_long_one_into_a_label() -> None:
    assert names.fit_name("short-name") == "short-name"
    long = names.fit_name("a" * 70)
    assert len(long) == names.MAX_NAME and names.is_label(long) and long != names.fit_name("a" * 71)
