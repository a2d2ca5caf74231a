"""Installed as the operator would: a helm plugin (namespace only through helm's own -n) and a kubectl
plugin found on PATH."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from kubesim.tools import ROOT
from testbed import app as fixture
from testbed.cluster import PLUGIN, RELEASE

PLUGIN_FILES = ("plugin.yaml", "scripts", "LICENSE", "README.md")


def plugin_checkout(tmp: Path) -> Path:
    """A copy of the plugin's files with bin/ already there (helm runs the install hook in the source
    folder, so never in the real checkout; building is the packaging tests' business)."""
    src = tmp / "prefect-rollback"
    src.mkdir()
    for name in PLUGIN_FILES:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, src / name)
    (src / "bin").mkdir()
    (src / "bin" / "kubectl-prefect_rollback").symlink_to(PLUGIN)
    return src


@pytest.mark.parametrize("helm", ["3.10.1", "3.17.3", "4.1.4"])
def test_as_helm_plugin(at_130, helm: str, tmp_path: Path) -> None:
    app = at_130(helm=helm)
    app.helm("plugin", "install", str(plugin_checkout(tmp_path)))
    env = {k: v for k, v in app.env.items()}
    # namespace only through helm's flag: the kubeconfig's own default namespace is another one
    proc = app.run(
        "helm",
        "-n",
        app.namespace,
        "prefect-rollback",
        "--to",
        "1.2.0",
        "--chart",
        app.chart("1.2.0"),
        "--yes",
        timeout=600,
        extra_env={"KUBECONFIG": _other_ns_kubeconfig(app)},
    )
    assert "Rolled back customer-managed" in proc.stderr
    assert app.heads() == fixture.release_heads("1.2.0")
    history = json.loads(app.helm("history", RELEASE, "-o", "json").stdout)
    assert history[-1]["description"].startswith("prefect-rollback:")
    assert env == app.env


def _other_ns_kubeconfig(app) -> str:
    return app.cluster.sim.write_kubeconfig(str(app.home / "kubeconfig-default-ns"), namespace="default")


def test_as_kubectl_plugin(at_130) -> None:
    app = at_130()
    assert os.path.dirname(PLUGIN) in app.env["PATH"]
    listed = app.run("kubectl", "plugin", "list", check=False)
    assert "kubectl-prefect_rollback" in listed.stdout + listed.stderr
    proc = app.run(
        "kubectl",
        "prefect-rollback",
        "-n",
        app.namespace,
        "revisions",
        "-o",
        "json",
        extra_env={"KUBECONFIG": _other_ns_kubeconfig(app)},
    )
    doc = json.loads(proc.stdout)
    assert doc["release"]["namespace"] == app.namespace
    assert {db: d["head"] for db, d in doc["databases"].items()} == fixture.release_heads("1.3.0")
