"""The PyInstaller build as shipped: it runs, keeps its bundle out of children, survives Ctrl-C twice,
talks to a (simulated) cluster, and its krew manifest installs the way krew would.

The binary is built once per session with `make binary` (a no-op when dist/ is up to date); the
archives are made from it in a temporary folder, so the checkout's dist/ is never rewritten here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from tests.tools import ROOT, require_tool

NAME = "kubectl-prefect_rollback"
VERSION = re.search(r'^version: *"?([^"\n]+)"?$', (ROOT / "plugin.yaml").read_text(), re.M)[1]
ARCHIVE = f"kubectl-prefect-rollback_{VERSION}_linux_amd64.tar.gz"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build() -> Path:
    """dist/kubectl-prefect_rollback/ (onedir), built by `make binary`."""
    if not shutil.which("make"):
        require_tool("make")
    subprocess.run(["make", "-s", "binary"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return ROOT / "dist" / NAME


@pytest.fixture(scope="session")
def binary(build: Path) -> str:
    return str(build / NAME)


@pytest.fixture(scope="session")
def onefile(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The onefile variant (not shipped; built to prove its Ctrl-C handling)."""
    out = tmp_path_factory.mktemp("onefile")
    env = {**os.environ, "PREFECT_ROLLBACK_ONEFILE": "1"}
    pyinstaller = Path(sys.executable).parent / "pyinstaller"
    subprocess.run(
        [
            str(pyinstaller),
            "--noconfirm",
            "--log-level",
            "ERROR",
            "--distpath",
            str(out / "dist"),
            "--workpath",
            str(out / "work"),
            str(ROOT / "packaging" / "pyinstaller.spec"),
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return str(out / "dist" / NAME)


@pytest.fixture(scope="session")
def dist(build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release archives, checksums.txt and the krew manifest, made from the build."""
    out = tmp_path_factory.mktemp("dist")
    shutil.copytree(build, out / NAME, symlinks=True)
    _load(ROOT / "packaging" / "make_dist.py", "make_dist").main(["--version", VERSION, "--dist", str(out)])
    krew = _load(ROOT / "scripts" / "krew-manifest.py", "krew_manifest")
    krew.main(
        [
            "--version",
            VERSION,
            "--dist",
            str(out),
            "--base-url",
            "https://example.invalid/v1",
            "--output",
            str(out / "prefect-rollback.yaml"),
        ]
    )
    return out


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)


# -- the binary ----------------------------------------------------------------------------------------


def test_version_help_and_completion(binary: str) -> None:
    assert run([binary, "--version"]).stdout == f"{NAME} {VERSION}\n"
    # the frozen entry answers a lone --version without click; the package's own answer must match
    source = run([sys.executable, "-m", "kubectl_prefect_rollback", "--version"])
    assert run([binary, "--version"]).stdout == source.stdout
    help_ = run([binary, "--help"])
    assert help_.returncode == 0 and "Usage: kubectl prefect-rollback" in help_.stdout
    for command in ("rollback", "plan", "revisions", "history", "render", "completion"):
        assert command in help_.stdout
    bash = run([binary, "completion", "bash"])
    assert bash.returncode == 0
    assert "_KUBECTL_PREFECT_ROLLBACK_COMPLETE=bash_complete" in bash.stdout
    assert "complete -o nosort -F" in bash.stdout


def _fake(bindir: Path, name: str, body: str) -> None:
    bindir.mkdir(exist_ok=True)
    (bindir / name).write_text(f"#!/bin/sh\n{body}\n")
    (bindir / name).chmod(0o755)


@pytest.mark.parametrize("outer", [None, "/opt/outer-lib"])
def test_children_do_not_inherit_the_bundle(binary: str, tmp_path: Path, outer: str | None) -> None:
    """A child `sh` (a fake helm) started through proc sees the caller's LD_LIBRARY_PATH, not _internal."""
    bindir, seen = tmp_path / "bin", tmp_path / "seen"
    _fake(bindir, "helm", f'echo "LD_LIBRARY_PATH=${{LD_LIBRARY_PATH-<unset>}}" >> {seen}\necho "[]"')
    _fake(bindir, "kubectl", f'echo "LD_LIBRARY_PATH=${{LD_LIBRARY_PATH-<unset>}}" >> {seen}')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_LIBRARY_PATH", "HELM_"))}
    env.update(PATH=f"{bindir}:{os.environ['PATH']}", KUBECONFIG=str(tmp_path / "none"))
    if outer:
        env["LD_LIBRARY_PATH"] = outer
    result = run([binary, "history", "-n", "ns"], env=env)
    assert "no release of the prefect-cloud chart" in result.stderr, result.stderr
    lines = seen.read_text().splitlines()
    assert lines and set(lines) == {f"LD_LIBRARY_PATH={outer or '<unset>'}"}


@pytest.mark.parametrize("variant", ["onedir", "onefile"])
def test_ctrl_c_twice_exits_130_cleanly(variant: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A terminal Ctrl-C signals the whole foreground process group; deliver it twice while a child runs."""
    exe = request.getfixturevalue("binary" if variant == "onedir" else "onefile")
    bindir, started = tmp_path / "bin", tmp_path / "started"
    _fake(bindir, "helm", f"touch {started}\nexec sleep 30")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    env.update(PATH=f"{bindir}:{os.environ['PATH']}", KUBECONFIG=str(tmp_path / "none"))
    p = subprocess.Popen(
        [exe, "history", "-n", "ns"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert p.poll() is None and time.monotonic() < deadline, "the fake helm never started"
            time.sleep(0.05)
        for _ in range(2):
            os.killpg(p.pid, signal.SIGINT)
            time.sleep(0.2)
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    if variant == "onefile":  # the bootloader cleaned its extraction folder up
        assert not re.search(r"_MEI\w+", err)


def test_real_command_against_kubesim(binary: str, kubesim, tmp_path: Path) -> None:
    """`history -o json` through the real helm against kubesim, release auto-detected by chart name."""
    helm = require_tool("helm", "3.17.3")
    chart = _tiny_prefect_chart(tmp_path)
    env = _cluster_env(tmp_path, kubesim, helm)
    for version in ("1.1.0", "1.2.0"):
        _set_chart_version(chart, version)
        subprocess.run(
            [helm, "upgrade", "--install", "cm", str(chart), "-n", kubesim.namespace],
            env=env,
            check=True,
            capture_output=True,
        )
    result = run([binary, "history", "-o", "json", "-n", kubesim.namespace], env=env)
    assert result.returncode == 0, result.stderr
    assert "1.1.0" in result.stdout and "1.2.0" in result.stdout


def _tiny_prefect_chart(tmp_path: Path) -> Path:
    chart = tmp_path / "prefect-cloud"
    (chart / "templates").mkdir(parents=True)
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-cfg'}\n"
        "data: {version: '{{ .Chart.Version }}'}\n"
    )
    return chart


def _set_chart_version(chart: Path, version: str) -> None:
    (chart / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: prefect-cloud\nversion: {version}\nappVersion: '{version}'\n"
    )


def _cluster_env(tmp_path: Path, kubesim, helm: str) -> dict[str, str]:
    bindir = tmp_path / "tools"
    bindir.mkdir(exist_ok=True)
    (bindir / "helm").symlink_to(helm)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    for var in ("HELM_DATA_HOME", "HELM_CONFIG_HOME", "HELM_CACHE_HOME"):
        env[var] = str(tmp_path / var.lower())
    env.update(PATH=f"{bindir}:{os.environ['PATH']}", KUBECONFIG=kubesim.kubeconfig)
    return env


# -- archives and the krew manifest --------------------------------------------------------------------


def test_archives_hold_the_plugin_and_match_checksums(dist: Path) -> None:
    sums = dict(reversed(line.split()) for line in (dist / "checksums.txt").read_text().splitlines())
    for name in (ARCHIVE, f"prefect-rollback-{VERSION}.tgz"):
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == sums[name]
        assert (dist / name).stat().st_size < 20e6
    with tarfile.open(dist / ARCHIVE) as tar:
        names = set(tar.getnames())
        assert tar.getmember(f"bin/{NAME}").mode & 0o111
    assert {
        f"bin/{NAME}",
        "bin/_internal/base_library.zip",
        "LICENSE",
        "README.md",
        "plugin.yaml",
        "scripts/install-binary.sh",
        "plugin.complete",
        "kubectl_complete-prefect_rollback",
    } <= names
    with tarfile.open(dist / f"prefect-rollback-{VERSION}.tgz") as tar:
        assert names == set(tar.getnames())  # flat, plugin.yaml at the root (helm 3.10 needs that)


KREW_NAME = re.compile(r"^[\w-]+$")


def validate_krew(manifest: dict, file_name: str, archives: dict[str, Path]) -> None:
    """krew's own rules (internal/index/validation/validate.go), as far as they apply to us."""
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin"
    name = manifest["metadata"]["name"]
    assert KREW_NAME.match(name) and file_name == f"{name}.yaml"
    spec = manifest["spec"]
    assert re.match(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$", spec["version"])
    assert spec["shortDescription"] and "\n" not in spec["shortDescription"].strip()
    assert spec["description"].strip()
    assert not re.search(r"(^|\s)--?[a-z]", spec["description"]), "no flag lists in the description"
    assert "kubectl" in spec["caveats"] and "helm" in spec["caveats"]
    selectors = [tuple(sorted(p["selector"]["matchLabels"].items())) for p in spec["platforms"]]
    assert len(set(selectors)) == len(selectors), "platform selectors overlap"
    for platform in spec["platforms"]:
        assert set(platform["selector"]["matchLabels"]) <= {"os", "arch"}
        assert re.fullmatch(r"[0-9a-f]{64}", platform["sha256"])
        assert platform["uri"].endswith((".tar.gz", ".zip")) and platform["bin"]
        assert "files" not in platform or all({"from", "to"} <= set(f) for f in platform["files"])
        archive = archives[platform["uri"].rsplit("/", 1)[1]]
        assert hashlib.sha256(archive.read_bytes()).hexdigest() == platform["sha256"]


def krew_install(platform: dict, archive: Path, root: Path) -> Path:
    """What `kubectl krew install --manifest --archive` does: extract, apply `files`, link `bin`."""
    extracted, store, bindir = root / "download", root / "store" / "prefect-rollback", root / "bin"
    for d in (extracted, store, bindir):
        d.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(extracted, filter="tar")
    for entry in platform.get("files") or [{"from": "*", "to": "."}]:
        matches = sorted(extracted.glob(entry["from"]))
        assert matches, f"files entry {entry} matches nothing"
        for src in matches:
            shutil.move(str(src), str(store / entry["to"] / src.name))
    assert any(p.name.lower().startswith("license") for p in store.iterdir()), "krew needs a LICENSE"
    target = store / platform["bin"]
    assert target.is_file() and os.access(target, os.X_OK)
    (bindir / ("kubectl-" + "prefect-rollback".replace("-", "_"))).symlink_to(target)  # krew's link name
    return bindir


def test_krew_manifest_is_valid_and_installs(dist: Path, tmp_path: Path) -> None:
    kubectl = require_tool("kubectl", "1.32")
    manifest = yaml.safe_load((dist / "prefect-rollback.yaml").read_text())
    validate_krew(manifest, "prefect-rollback.yaml", {ARCHIVE: dist / ARCHIVE})
    (platform,) = manifest["spec"]["platforms"]
    assert platform["selector"]["matchLabels"] == {"os": "linux", "arch": "amd64"}
    assert platform["uri"] == f"https://example.invalid/v1/{ARCHIVE}"
    bindir = krew_install(platform, dist / ARCHIVE, tmp_path)
    env = {**os.environ, "PATH": f"{bindir}:/usr/bin:/bin"}
    version = run([kubectl, "prefect-rollback", "--version"], env=env)
    assert version.stdout == f"{NAME} {VERSION}\n", version.stderr
    listed = run([kubectl, "plugin", "list"], env=env)
    assert f"{bindir}/{NAME}" in listed.stdout, listed.stdout + listed.stderr
    assert "warning" not in listed.stderr.lower()


def test_committed_manifest_is_valid() -> None:
    """plugins/prefect-rollback.yaml as committed (its sha256 belongs to the release build)."""
    manifest = yaml.safe_load((ROOT / "plugins" / "prefect-rollback.yaml").read_text())
    assert manifest["spec"]["version"] == f"v{VERSION}"
    spec = {**manifest, "spec": {**manifest["spec"], "platforms": []}}
    validate_krew(spec, "prefect-rollback.yaml", {})
    for platform in manifest["spec"]["platforms"]:
        assert platform["uri"].endswith(f"/{ARCHIVE}") and platform["bin"] == NAME
        assert {"from": "LICENSE", "to": "."} in platform["files"]


def test_plugin_yaml_loads_on_helm_3_and_4() -> None:
    """Legacy format only (ecosystem.md §0.1/§0.2/§0.12): no apiVersion, platformHooks or args, no `v`."""
    doc = yaml.safe_load((ROOT / "plugin.yaml").read_text())
    assert not {"apiVersion", "platformHooks", "ignoreFlags", "command"} & set(doc)
    assert all("args" not in c and c.get("os") for c in doc["platformCommand"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", doc["version"])
    assert json.dumps(doc["hooks"]).count("install-binary.sh") == 2
