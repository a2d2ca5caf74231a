"""Completion entries driven the way the tools drive them: kubectl's plugin completion (>= 1.26) runs
kubectl_complete-prefect_rollback, helm runs the plugin's plugin.complete; both speak cobra's protocol.

The plugin here is the package's console script (fast); test_packaging covers the frozen binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kubesim.tools import ROOT, require_tool

SCRIPT = Path(sys.executable).parent / "kubectl-prefect_rollback"
SUBCOMMANDS = [
    "abort",
    "backup",
    "completion",
    "history",
    "plan",
    "render",
    "restore",
    "revisions",
    "rollback",
    "status",
]


def candidates(out: str) -> tuple[list[str], str]:
    lines = [line for line in out.splitlines() if line]
    assert lines and lines[-1].startswith(":"), out
    return lines[:-1], lines[-1]


@pytest.fixture
def on_path(tmp_path: Path) -> dict[str, str]:
    """PATH as a krew user has it: the plugin and the completion shim side by side."""
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} missing: `make venv` installs the package")
    bindir = tmp_path / "krew-bin"
    bindir.mkdir()
    (bindir / "kubectl-prefect_rollback").symlink_to(SCRIPT)
    (bindir / "kubectl_complete-prefect_rollback").symlink_to(ROOT / "kubectl_complete-prefect_rollback")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    env.update(PATH=f"{bindir}:{os.environ['PATH']}", KUBECONFIG=str(tmp_path / "no-cluster"))
    return env


def test_shipped_entries_are_executable() -> None:
    for name in ("kubectl_complete-prefect_rollback", "plugin.complete"):
        assert os.access(ROOT / name, os.X_OK)
    ls = subprocess.run(
        ["git", "ls-files", "-s", "kubectl_complete-prefect_rollback", "plugin.complete"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    assert ls.count("100755") == 2, ls


@pytest.mark.parametrize("kubectl_version", ["1.31.9", "1.32", "1.35.2"])
def test_kubectl_plugin_completion_lists_subcommands(kubectl_version: str, on_path: dict[str, str]) -> None:
    kubectl = require_tool("kubectl", kubectl_version)
    out = subprocess.run(
        [kubectl, "__complete", "prefect-rollback", ""],
        env=on_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    words, directive = candidates(out.stdout)
    assert words == SUBCOMMANDS and directive == ":4", out.stderr
    out = subprocess.run(
        [kubectl, "__complete", "prefect-rollback", "plan", "--ta"],
        env=on_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert candidates(out.stdout)[0] == ["--target-values"]


def test_shim_as_kubectl_calls_it(on_path: dict[str, str]) -> None:
    shim = shutil.which("kubectl_complete-prefect_rollback", path=on_path["PATH"])
    out = subprocess.run([shim, "re"], env=on_path, capture_output=True, text=True)
    assert candidates(out.stdout) == (["render", "restore", "revisions"], ":4")
    # a file option keeps the shell's file completion
    out = subprocess.run([shim, "rollback", "--report", ""], env=on_path, capture_output=True, text=True)
    assert candidates(out.stdout) == ([], ":0")
    # no cluster: `--to` offers nothing, quietly
    out = subprocess.run([shim, "plan", "--to", ""], env=on_path, capture_output=True, text=True)
    assert candidates(out.stdout) == ([], ":4") and out.stderr == ""


def test_helm_plugin_complete(tmp_path: Path, on_path: dict[str, str]) -> None:
    """As helm runs it: from the plugin folder, HELM_* set, words after the plugin name."""
    plugin = tmp_path / "plugin"
    (plugin / "bin").mkdir(parents=True)
    for name in ("plugin.complete", "kubectl_complete-prefect_rollback"):
        shutil.copy2(ROOT / name, plugin / name)
    (plugin / "bin" / "kubectl-prefect_rollback").symlink_to(SCRIPT)
    env = {
        **on_path,
        "HELM_PLUGIN_DIR": str(plugin),
        "HELM_PLUGIN_NAME": "prefect-rollback",
        "HELM_NAMESPACE": "default",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run([str(plugin / "plugin.complete"), ""], env=env, capture_output=True, text=True)
    assert candidates(out.stdout) == (SUBCOMMANDS, ":4"), out.stderr


def _history_env(tmp_path: Path, kubesim, helm: str, env: dict[str, str]) -> dict[str, str]:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "helm").symlink_to(helm)
    full = {**env, "PATH": f"{tools}:{env['PATH']}", "KUBECONFIG": kubesim.kubeconfig}
    for var in ("HELM_DATA_HOME", "HELM_CONFIG_HOME", "HELM_CACHE_HOME"):
        full[var] = str(tmp_path / var.lower())
    chart = tmp_path / "prefect-cloud"
    (chart / "templates").mkdir(parents=True)
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-cfg'}\n"
        "data: {version: '{{ .Chart.Version }}'}\n"
    )
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: prefect-cloud\nversion: {version}\n")
        subprocess.run(
            [helm, "upgrade", "--install", "cm", str(chart), "-n", kubesim.namespace],
            env=full,
            check=True,
            capture_output=True,
        )
    return full


def test_to_completes_chart_versions_from_helm_history(kubesim, tmp_path: Path, on_path) -> None:
    helm = require_tool("helm", "3.17.3")
    kubectl = require_tool("kubectl", "1.32")
    env = _history_env(tmp_path, kubesim, helm, on_path)
    ns = kubesim.namespace
    out = subprocess.run(
        [kubectl, "__complete", "prefect-rollback", "plan", "-n", ns, "--to", ""],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert candidates(out.stdout) == (["1.3.0", "1.2.0", "1.1.0"], ":4"), out.stderr
    out = subprocess.run(
        [kubectl, "__complete", "prefect-rollback", "-n", ns, "--to", "1.1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert candidates(out.stdout) == (["1.1.0"], ":4"), out.stderr
    # helm's plugin.complete: namespace arrives as HELM_NAMESPACE
    plugin = tmp_path / "plugin"
    (plugin / "bin").mkdir(parents=True)
    for name in ("plugin.complete", "kubectl_complete-prefect_rollback"):
        shutil.copy2(ROOT / name, plugin / name)
    (plugin / "bin" / "kubectl-prefect_rollback").symlink_to(SCRIPT)
    helm_env = {
        **env,
        "HELM_PLUGIN_DIR": str(plugin),
        "HELM_PLUGIN_NAME": "prefect-rollback",
        "HELM_NAMESPACE": ns,
        "HELM_BIN": helm,
    }
    out = subprocess.run(
        [str(plugin / "plugin.complete"), "--to", ""],
        env=helm_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert candidates(out.stdout) == (["1.3.0", "1.2.0", "1.1.0"], ":4"), out.stderr


def test_completion_bash_script_completes_under_the_krew_name(on_path: dict[str, str]) -> None:
    if not shutil.which("bash"):
        require_tool("bash")
    script = subprocess.run(
        ["kubectl-prefect_rollback", "completion", "bash"],
        env=on_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    probe = (
        script + "\nCOMP_WORDS=(kubectl-prefect_rollback pl); COMP_CWORD=1\n"
        "_kubectl_prefect_rollback_completion kubectl-prefect_rollback\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(["bash", "-c", probe], env=on_path, capture_output=True, text=True)
    assert out.stdout.split() == ["plan"], out.stdout + out.stderr
