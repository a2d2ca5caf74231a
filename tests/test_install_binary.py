"""`helm plugin install` with real helm 3.10.1, 3.17.3 and 4.1.4, and scripts/install-binary.sh itself.

helm is isolated with HELM_DATA_HOME/HELM_CONFIG_HOME/HELM_CACHE_HOME (HELM_PLUGINS stays unset: helm 4
installs into the data home whatever it says). A local-directory install symlinks the folder and runs
the hook inside it, so the plugin files are copied to a temporary folder first: the checkout's bin/ is
never written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubesim.tools import ROOT, require_tool

# the session fixtures are shared with test_packaging (one `make dist` per session)
from tests.shipped import ARCHIVE, NAME, VERSION, release, serve  # noqa: F401
from tests.test_packaging import dist  # noqa: F401

pytestmark = pytest.mark.release  # the shipped-artifact layer: `make test-unit` leaves it out

PLUGIN_FILES = (
    "plugin.yaml",
    "LICENSE",
    "README.md",
    "scripts/install-binary.sh",
    "plugin.complete",
    "kubectl_complete-prefect_rollback",
)


def plugin_checkout(tmp_path: Path) -> Path:
    src = tmp_path / "prefect-rollback"
    for rel in PLUGIN_FILES:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    return src


def helm_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "PREFECT_ROLLBACK_"))}
    for var in ("HELM_DATA_HOME", "HELM_CONFIG_HOME", "HELM_CACHE_HOME"):
        env[var] = str(tmp_path / "helm" / var.lower())
    return {**env, **extra}


def _unreachable_kubeconfig(tmp_path: Path) -> Path:
    """A valid kubeconfig whose server nobody listens on (a missing file is refused before any call)."""
    path = tmp_path / "unreachable.kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n"
    )
    return path


def helm(helm_bin: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([helm_bin, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("helm_version", ["3.10.1", "3.17.3", "4.1.4"])
def test_helm_plugin_install_from_local_archive(helm_version: str, dist: Path, tmp_path: Path) -> None:  # noqa: F811
    helm_bin = require_tool("helm", helm_version)
    src = plugin_checkout(tmp_path)
    env = helm_env(tmp_path, PREFECT_ROLLBACK_BIN_TGZ=str(dist / ARCHIVE))

    installed = helm(helm_bin, "plugin", "install", str(src), env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert os.access(src / "bin" / NAME, os.X_OK)
    listed = helm(helm_bin, "plugin", "list", env=env)
    assert "prefect-rollback" in listed.stdout and VERSION in listed.stdout

    usage = helm(helm_bin, "prefect-rollback", "--help", env=env)
    assert usage.returncode == 0, usage.stderr
    assert "Usage: helm prefect-rollback" in usage.stdout
    version = helm(helm_bin, "prefect-rollback", "--version", env=env)
    assert version.stdout == f"{NAME} {VERSION}\n", version.stderr
    # helm's -n reaches the plugin as HELM_NAMESPACE; with no cluster listening it fails, naming it
    no_cluster = {**env, "KUBECONFIG": str(_unreachable_kubeconfig(tmp_path))}
    ns = helm(
        helm_bin, "-n", "elsewhere", "prefect-rollback", "history", "--request-timeout", "5s", env=no_cluster
    )
    assert ns.returncode == 1 and "--namespace elsewhere" in ns.stderr, ns.stderr

    removed = helm(helm_bin, "plugin", "uninstall", "prefect-rollback", env=env)
    assert removed.returncode == 0, removed.stderr
    assert "prefect-rollback" not in helm(helm_bin, "plugin", "list", env=env).stdout


@pytest.fixture
def release_server(dist: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:  # noqa: F811
    """A local HTTP server standing in for the GitHub release download URL."""
    root = tmp_path / "release"
    root.mkdir()
    for name in (ARCHIVE, f"prefect-rollback-{VERSION}.tgz", "checksums.txt"):
        shutil.copy2(dist / name, root / name)
    with serve(root) as url:
        yield url, root


def run_hook(plugin_dir: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "PREFECT_ROLLBACK_"))}
    full.update(HELM_PLUGIN_DIR=str(plugin_dir), **env)
    return subprocess.run(
        ["sh", str(plugin_dir / "scripts" / "install-binary.sh")],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def test_hook_downloads_and_verifies_the_release(release_server, tmp_path: Path) -> None:
    if not (shutil.which("curl") or shutil.which("wget")):
        require_tool("curl")
    url, _ = release_server
    src = plugin_checkout(tmp_path)
    result = run_hook(src, PREFECT_ROLLBACK_RELEASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert f"downloading {url}/{ARCHIVE}" in result.stderr
    out = subprocess.run([str(src / "bin" / NAME), "--version"], capture_output=True, text=True)
    assert out.stdout == f"{NAME} {VERSION}\n"
    # a second run finds bin/ and does nothing
    again = run_hook(src, PREFECT_ROLLBACK_RELEASE_URL=url)
    assert "nothing to install" in again.stderr


def test_hook_refuses_an_archive_that_does_not_match_checksums(release_server, tmp_path: Path) -> None:
    if not (shutil.which("curl") or shutil.which("wget")):
        require_tool("curl")
    url, root = release_server
    with (root / ARCHIVE).open("ab") as f:
        f.write(b"tampered")
    src = plugin_checkout(tmp_path)
    result = run_hook(src, PREFECT_ROLLBACK_RELEASE_URL=url)
    assert result.returncode != 0
    assert f"sha256 mismatch for {ARCHIVE}" in result.stderr
    assert not (src / "bin").exists()
    assert not [p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("tmp.*") if (p / ARCHIVE).exists()]


def test_hook_reports_a_missing_release(release_server, tmp_path: Path) -> None:
    url, _ = release_server
    src = plugin_checkout(tmp_path)
    (src / "plugin.yaml").write_text((src / "plugin.yaml").read_text().replace(VERSION, "9.9.9"))
    result = run_hook(src, PREFECT_ROLLBACK_RELEASE_URL=url)
    assert result.returncode != 0 and "download failed" in result.stderr


@pytest.mark.parametrize("helm_version", ["3.10.1", "4.1.4"])
def test_helm_plugin_install_from_release_url(helm_version: str, release_server, tmp_path: Path) -> None:
    """`helm plugin install <url>.tgz`: bin/ is inside, so the hook has nothing to download."""
    helm_bin = require_tool("helm", helm_version)
    url, _ = release_server
    env = helm_env(tmp_path)
    verify = ["--verify=false"] if helm_version.startswith("4.") else []  # no .prov for a test build
    installed = helm(helm_bin, "plugin", "install", f"{url}/prefect-rollback-{VERSION}.tgz", *verify, env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    version = helm(helm_bin, "prefect-rollback", "--version", env=env)
    assert version.stdout == f"{NAME} {VERSION}\n", version.stderr
    assert helm(helm_bin, "plugin", "uninstall", "prefect-rollback", env=env).returncode == 0


def test_checksums_line_format(dist: Path) -> None:  # noqa: F811
    """`sha256sum -c` reads checksums.txt as written."""
    if not shutil.which("sha256sum"):
        require_tool("sha256sum")
    check = subprocess.run(["sha256sum", "-c", "checksums.txt"], cwd=dist, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert hashlib.sha256((dist / ARCHIVE).read_bytes()).hexdigest() in (dist / "checksums.txt").read_text()
