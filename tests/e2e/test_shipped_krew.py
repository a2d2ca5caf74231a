"""The kubectl plugin as krew installs it: the linux archive from `make dist`, unpacked exactly as the
committed plugins/prefect-rollback.yaml's `files` and `bin` say, found by kubectl 1.31, 1.32 and 1.35
on PATH, then real rollbacks on kubesim through `kubectl prefect-rollback`, one of them interrupted
(Ctrl-C to the whole process group while the downgrade logs stream) and finished by a re-run.

The dev entry point is off PATH: every plugin run below is the frozen binary from the archive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubesim.tools import ROOT
from testbed import app as fixture
from testbed.cluster import RELEASE, App
from tests.shipped import NAME, PLUGIN, VERSION, Release, krew_install, release  # noqa: F401

TO = "1.2.0"


@pytest.fixture(scope="module")
def krew_bin(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """krew's bin folder after installing the committed manifest's platform with this build's archive."""
    committed = yaml.safe_load((ROOT / "plugins" / f"{PLUGIN}.yaml").read_text())
    built = yaml.safe_load(release.manifest.read_text())
    (platform,) = [p for p in committed["spec"]["platforms"] if p["selector"]["matchLabels"]["os"] == "linux"]
    (ours,) = built["spec"]["platforms"]
    # the committed sha256 is the published archive's; this build's is in dist/prefect-rollback.yaml
    root = tmp_path_factory.mktemp("krew")
    return krew_install({**platform, "sha256": ours["sha256"]}, release.archive, root)


def krew_env(app: App, krew_bin: Path) -> dict[str, str]:
    """The app's environment with krew's bin folder first and the virtualenv (dev entry) off PATH."""
    venv_bin = str(Path(sys.executable).parent)
    rest = [p for p in app.env["PATH"].split(os.pathsep) if p != venv_bin]
    return {**app.env, "PATH": os.pathsep.join([str(krew_bin), *rest])}


def rollback_argv(app: App) -> list[str]:
    return ["kubectl", "prefect-rollback", "rollback", "--to", TO, "--chart", app.chart(TO), "--yes",
            "-n", app.namespace]


def assert_rolled_back(app: App) -> None:
    assert app.heads() == fixture.release_heads(TO)
    rel = app.release()
    assert (rel["status"], rel["chart"]) == ("deployed", f"prefect-cloud-{TO}")
    last = json.loads(app.helm("history", RELEASE, "-o", "json").stdout)[-1]
    assert last["description"].startswith("prefect-rollback: 1.3.0 -> 1.2.0")
    assert app.kubectl("get", "lease", f"{RELEASE}-prefect-rollback", "--ignore-not-found").stdout == ""


def assert_kubectl_finds_the_krew_binary(app: App, env: dict[str, str], krew_bin: Path) -> None:
    listed = app.run("kubectl", "plugin", "list", extra_env=env, check=False)
    assert f"{krew_bin}/{NAME}" in listed.stdout, listed.stdout + listed.stderr
    assert listed.stdout.count(NAME) == 1, "exactly one kubectl-prefect_rollback on PATH"
    version = app.run("kubectl", "prefect-rollback", "--version", extra_env=env)
    assert version.stdout == f"{NAME} {VERSION}\n"


@pytest.mark.parametrize("kubectl,helm", [("1.31", "3.17.3"), ("1.32", "4.1.4")])
def test_krew_layout_rolls_back(at_130, krew_bin: Path, kubectl: str, helm: str) -> None:
    app = at_130(kubectl=kubectl, helm=helm)
    env = krew_env(app, krew_bin)
    assert_kubectl_finds_the_krew_binary(app, env, krew_bin)
    done = app.run(*rollback_argv(app), extra_env=env, timeout=600)
    assert "Rolled back customer-managed from 1.3.0 to 1.2.0" in done.stderr, done.stderr
    assert_rolled_back(app)


def test_krew_layout_interrupted_while_logs_stream_then_rerun_finishes(
    at_130, cluster, krew_bin: Path
) -> None:
    app = at_130(kubectl="1.35", helm="4.1.4")
    env = krew_env(app, krew_bin)
    assert_kubectl_finds_the_krew_binary(app, env, krew_bin)
    cluster.sim.set_start_delay(6)  # the downgrade pod takes a while to start: time to interrupt
    proc = subprocess.Popen(rollback_argv(app), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "created; following" in line:
                break
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        cluster.sim.set_start_delay(0)
    stderr = "".join(seen) + err
    assert proc.returncode == 130, stderr
    assert "keeps running" in stderr and "Traceback" not in stderr, stderr
    lease = json.loads(app.kubectl("get", "lease", f"{RELEASE}-prefect-rollback", "-o", "json").stdout)
    assert lease["spec"]["holderIdentity"] == "", "released for a resume, not deleted"

    again = app.run(*rollback_argv(app), extra_env=env, timeout=600)
    assert "attaching" in again.stderr or "already succeeded" in again.stderr, again.stderr
    assert_rolled_back(app)
