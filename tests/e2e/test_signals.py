"""Signals for real (kubesim, real kubectl and helm): Ctrl-C to the process group and SIGTERM to the plugin
only while `helm upgrade --wait` waits, SIGKILL there, and Ctrl-C during the target probe. Each is
followed by a re-run that must reach the target. The exhaustive matrix is tests/e2e/faults (faults)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from testbed.cluster import PLUGIN, RELEASE, App
from tests.e2e.test_rollback import TO, assert_rolled_back, installed_tables, rollback

LEASE = f"{RELEASE}-prefect-rollback"


def start(app: App, *extra: str) -> subprocess.Popen:
    """The plugin as a terminal starts it: leader of its own (foreground) process group."""
    args = [PLUGIN, "rollback", "--to", TO, "--chart", app.chart(TO), "--yes", "--namespace", app.namespace]
    return subprocess.Popen(
        [*args, *extra],
        env=app.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def until(cond, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def status(app: App) -> str:
    return app.release()["status"]


def probe_pods(app: App) -> list[str]:
    pods = json.loads(app.kubectl("get", "pods", "-o", "json").stdout)["items"]
    return [
        p["metadata"]["name"]
        for p in pods
        if (p["metadata"].get("labels") or {}).get("prefect-rollback/role") == "probe"
    ]


def _mid_helm_wait(app: App, cluster) -> tuple[subprocess.Popen, dict[str, set[str]]]:
    app.install("1.2.0")
    tables_120 = installed_tables(app, "1.2.0")
    app.install("1.3.0")
    cluster.sim.set_start_delay(45)  # the 1.2.0 server pods take their time: helm --wait waits
    p = start(app)
    until(lambda: status(app) == "pending-upgrade", "helm upgrade --wait in flight")
    time.sleep(1.0)
    return p, tables_120


# `make test` runs each helm and each way once; the other two combinations run in `make test-faults`
# (the fault_cell marker, see tests/e2e/faults/conftest.py): each case costs ~2 minutes.
EXHAUSTIVE = pytest.mark.fault_cell


@pytest.mark.parametrize(
    "kubectl,helm,how",
    [
        ("1.32", "4.1.4", "ctrl-c-to-group"),
        ("1.31.9", "3.17.3", "sigterm-to-plugin"),
        pytest.param("1.32", "4.1.4", "sigterm-to-plugin", marks=EXHAUSTIVE),
        pytest.param("1.31.9", "3.17.3", "ctrl-c-to-group", marks=EXHAUSTIVE),
    ],
)
def test_signal_during_helm_wait_records_failed_then_rerun_completes(
    make_app, cluster, kubectl: str, helm: str, how: str
) -> None:
    app = make_app(kubectl=kubectl, helm=helm)
    p, tables_120 = _mid_helm_wait(app, cluster)
    t0 = time.monotonic()
    if how == "ctrl-c-to-group":
        os.killpg(p.pid, signal.SIGINT)  # helm is in its own session: only our forward reaches it
    else:
        p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    took = time.monotonic() - t0
    print(f"\nhelm {helm}: {how}: plugin exited {p.returncode} {took:.1f}s after the signal")
    print(next((line for line in err.splitlines() if "helm stopped" in line), "(helm stop time not shown)"))
    assert p.returncode == (130 if how == "ctrl-c-to-group" else 143), err
    assert "Traceback" not in err
    assert status(app) == "failed", "helm recorded the release as failed (not left pending-upgrade)"
    lease = json.loads(app.kubectl("get", "lease", LEASE, "-o", "json").stdout)
    assert lease["spec"]["holderIdentity"] == ""
    assert "stopped in: chart" in err and "Resume: " in err
    assert "helm stopped" in err, "helm exited on the forwarded signal, not killed by us"
    cluster.sim.set_start_delay(0)

    again = rollback(app)
    assert "skipping: downgrade already finished" in again.stderr
    assert_rolled_back(app, tables_120)


def test_sigkill_during_helm_wait_rerun_waits_for_the_orphaned_helm_then_completes(make_app, cluster) -> None:
    app = make_app(kubectl="1.32", helm="4.1.4")
    p, tables_120 = _mid_helm_wait(app, cluster)
    os.killpg(p.pid, signal.SIGKILL)  # nothing to handle; helm, in its own session, goes on
    p.communicate(timeout=30)
    refused = rollback(app, check=False)
    assert refused.returncode == 3, refused.stderr
    assert "expires at" in refused.stderr and "--force-unlock" in refused.stderr
    time.sleep(16)  # the dead run's lease has now gone unrenewed past a renewal period
    assert status(app) == "pending-upgrade", "the orphaned helm is still waiting for its pods"
    cluster.sim.set_start_delay(0)

    again = rollback(app, "--force-unlock")
    assert "may still be running; waiting up to" in again.stderr  # waited for, never raced
    history = json.loads(app.helm("history", RELEASE, "-o", "json").stdout)
    assert [h["status"] for h in history[-1:]] == ["deployed"]
    assert not any(h["status"] == "failed" for h in history), "no second upgrade raced the first"
    assert_rolled_back(app, tables_120)


def test_ctrl_c_during_target_probe_leaves_no_probe_pod(make_app, cluster) -> None:
    app = make_app(kubectl="1.32", helm="4.1.4")
    app.install("1.2.0")
    tables_120 = installed_tables(app, "1.2.0")
    app.install("1.3.0")
    cluster.sim.set_start_delay(30)  # the probe pod waits to start: time to interrupt
    p = start(app)
    until(lambda: bool(probe_pods(app)), "the target probe pod")
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "nothing was changed" in err and "Traceback" not in err
    assert probe_pods(app) == []
    assert app.kubectl("get", "lease", LEASE, "--ignore-not-found").stdout == ""
    cluster.sim.set_start_delay(0)

    rollback(app)
    assert_rolled_back(app, tables_120)


def _helm_upgrade_pid(namespace: str) -> int:
    """The helm child we started (it runs in its own session), found by its argv."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"upgrade" in argv and b"--install" in argv and namespace.encode() in argv:
            return int(entry)
    raise AssertionError("no helm upgrade process")


@pytest.mark.parametrize(
    "kubectl,helm", [pytest.param("1.32", "4.1.4", marks=EXHAUSTIVE), ("1.31.9", "3.17.3")]
)
def test_helm_killed_too_rerun_marks_our_pending_release_failed_then_completes(
    make_app, cluster, kubectl: str, helm: str
) -> None:
    """helm itself dies half way (SIGKILL): the release stays pending-upgrade. The re-run waits until the
    recorded deadline (start + --helm-timeout + 60 s), marks that revision failed in helm's own Secret
    (real helm must accept our record), and upgrades again."""
    app = make_app(kubectl=kubectl, helm=helm)
    app.install("1.2.0")
    tables_120 = installed_tables(app, "1.2.0")
    app.install("1.3.0")
    cluster.sim.set_start_delay(45)
    p = start(app, "--helm-timeout", "10s")
    until(lambda: status(app) == "pending-upgrade", "helm upgrade --wait in flight")
    os.kill(_helm_upgrade_pid(app.namespace), signal.SIGKILL)
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    cluster.sim.set_start_delay(0)
    time.sleep(16)
    assert status(app) == "pending-upgrade"

    t0 = time.monotonic()
    again = rollback(app, "--force-unlock", "--helm-timeout", "60s")
    assert "may still be running; waiting up to" in again.stderr
    assert "marked failed" in again.stderr
    print(f"\nhelm {helm}: re-run waited and repaired in {time.monotonic() - t0:.0f}s")
    history = json.loads(app.helm("history", RELEASE, "-o", "json").stdout)
    assert [h["status"] for h in history[-2:]] == ["failed", "deployed"]
    assert history[-2]["description"].startswith(
        "prefect-rollback: interrupted upgrade to 1.2.0 marked failed"
    )
    assert_rolled_back(app, tables_120)
