"""`status` on kubesim: a release with nothing unfinished, and a rollback caught while its holder lives."""

from __future__ import annotations

import json
import subprocess
import time

from testbed import app as fixture
from testbed.cluster import PLUGIN


def test_status_without_an_unfinished_rollback_shows_the_release_and_its_heads(at_130) -> None:
    app = at_130(kubectl="1.31.9", helm="3.17.3")
    doc = json.loads(app.plugin("status", "-o", "json").stdout)
    assert doc["kind"] == "Status" and doc["unfinished"] is None and doc["lastRollback"] is None
    assert (doc["release"]["version"], doc["release"]["revision"]) == ("1.3.0", 2)
    assert doc["heads"]["heads"] == fixture.release_heads("1.3.0")
    assert doc["heads"]["source"].startswith("pod customer-managed-server")
    table = app.plugin("status").stdout
    assert "no unfinished rollback" in table and "nebula 3fab1acc05c0" in table
    assert app.plugin("status", "-o", "yaml").stdout.startswith("apiVersion: prefect-rollback/v1")


def test_status_during_a_rollback_names_a_live_holder_and_abort_is_refused(at_130, cluster) -> None:
    app = at_130()
    cluster.sim.set_start_delay(8)  # the downgrade pod starts late: the run holds the lock meanwhile
    args = [PLUGIN, "rollback", "--to", "1.2.0", "--chart", app.chart("1.2.0"), "--yes", "-n", app.namespace]
    proc = subprocess.Popen(
        args, env=app.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "created; following" in line:
                break
        doc = json.loads(app.plugin("status", "-o", "json", "--no-probe").stdout)
        lock = doc["unfinished"]["lock"]
        assert lock["live"] is True and lock["holder"] and lock["renewedSecondsAgo"] < 30
        assert lock["startedBy"] == lock["holder"]
        assert {s["name"]: s["state"] for s in doc["unfinished"]["steps"]}["downgrade"] == "running"
        refused = app.plugin("abort", "--yes", check=False)
        assert refused.returncode == 3 and "another rollback holds lease" in refused.stderr
    finally:
        cluster.sim.set_start_delay(0)
        t0 = time.monotonic()
        proc.communicate(timeout=600)
    assert proc.returncode == 0, f"the rollback went on ({time.monotonic() - t0:.0f}s)"
