"""Checked before anything changes, for real (kubesim, real kubectl and helm): a bad flag, a values file
that is not YAML, and values the target chart does not render with are refused with the cluster untouched.
Before issue 9 each of these passed the plan, the lock, the scale-down and the downgrade, and failed at
the chart step with the servers down."""

from __future__ import annotations

import time

import pytest

from testbed.cluster import App

TO = "1.2.0"


def _refused(app: App, *extra: str) -> str:
    result = app.plugin(
        "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", *extra, check=False, timeout=300
    )
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return f"{result.returncode} {errors[0]}"


@pytest.mark.parametrize("kubectl,helm", [("1.32", "4.1.4"), ("1.31.9", "3.10.1")])
def test_bad_inputs_change_nothing(at_130, kubectl: str, helm: str) -> None:
    app = at_130(kubectl=kubectl, helm=helm)
    time.sleep(1)  # let the controllers settle before taking the snapshot
    before = app.resource_versions()
    (app.home / "broken.yaml").write_text("databases: [unclosed\n")
    (app.home / "empty.yaml").write_text("{}\n")

    assert _refused(app, "--helm-timeout", "garbage").startswith("2 Error: --helm-timeout 'garbage'")
    assert _refused(app, "--helm-timeout=-1s").startswith("2 Error: --helm-timeout '-1s'")
    assert _refused(app, "--target-values", str(app.home / "broken.yaml")).startswith("2 Error: values file")
    # valid YAML, but the target chart needs database URLs: `helm template` of the whole chart says so
    line = _refused(app, "--target-values", str(app.home / "empty.yaml"))
    assert line.startswith("3 Error: chart ") and "does not render with the target values" in line
    assert "is required" in line

    assert app.resource_versions() == before, "a refused rollback must not change any object"
