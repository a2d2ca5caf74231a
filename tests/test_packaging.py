"""The PyInstaller build as shipped: it runs, imports everything it needs, starts fast enough, keeps
its bundle out of children, survives Ctrl-C twice, talks to a (simulated) cluster, its archives hold
what helm and krew need, its krew manifest passes krew's rules, and plugin.yaml loads on helm 3 and 4.

Everything runs on the files `make dist` wrote into dist/ (tests/shipped.py: one build per session).
"""

from __future__ import annotations

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

from kubesim.tools import ROOT, require_tool
from tests.shipped import (
    ARCHIVE,
    HELM_TGZ,
    NAME,
    PLUGIN,
    RELEASE_URL,
    VERSION,
    Release,
    helm_homes,
    krew_install,
    release,  # noqa: F401 (the session fixture)
    sha256,
)

pytestmark = pytest.mark.release  # the shipped-artifact layer: `make test-unit` leaves it out

def _load(path: Path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def binary(release: Release) -> str:  # noqa: F811
    return str(release.binary)


@pytest.fixture(scope="session")
def dist(release: Release) -> Path:  # noqa: F811
    return release.dist


def _pyinstaller(out: Path, **env: str) -> Path:
    """A variant build (not shipped) from the same spec; returns its dist folder."""
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
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
    )
    return out / "dist"


@pytest.fixture(scope="session")
def onefile(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The onefile variant (not shipped; built to prove its Ctrl-C handling)."""
    return str(_pyinstaller(tmp_path_factory.mktemp("onefile"), PREFECT_ROLLBACK_ONEFILE="1") / NAME)


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
    assert "--self-check" not in help_.stdout, "the self-check is hidden"


def _package_modules() -> set[str]:
    """Every module and subpackage (kubectl_prefect_rollback.commands.*) of the source tree."""
    files = (ROOT / "kubectl_prefect_rollback").rglob("*.py")
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in files}


def test_self_check_imports_every_module_inside_the_frozen_binary(binary: str) -> None:
    check = run([binary, "--self-check"])
    assert check.returncode == 0, check.stderr
    imported = set(check.stdout.split())
    assert _package_modules() <= imported, _package_modules() - imported
    # lazily imported inside functions: proc.gather's thread pool, the chart reader, completion
    assert {"concurrent.futures", "tarfile", "click.shell_completion", "yaml"} <= imported
    assert "(frozen build)" in check.stderr


def test_self_check_fails_in_a_build_missing_a_lazily_imported_module(tmp_path: Path) -> None:
    """The bug of issue 8 rebuilt on purpose: `concurrent` left out, as the spec once did."""
    exe = _pyinstaller(tmp_path, PREFECT_ROLLBACK_EXTRA_EXCLUDES="concurrent") / NAME / NAME
    assert run([str(exe), "--version"]).returncode == 0, "start-up alone does not notice"
    check = run([str(exe), "--self-check"])
    assert check.returncode == 1
    # proc.gather and interrupt.wait_all (which gather waits with) both import it inside a function
    missing = r"cannot import concurrent\.futures \(imported by kubectl_prefect_rollback\.(interrupt|proc)\)"
    assert re.search(missing, check.stderr), check.stderr


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


def _files(archive: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    odd = [m.name for m in members if not (m.isfile() or m.isdir())]
    assert not odd, f"helm's and krew's extractors take folders and regular files only: {odd}"
    return {m.name: m for m in members if m.isfile()}


def test_archives_hold_the_plugin_and_match_checksums(dist: Path) -> None:
    sums = dict(reversed(line.split()) for line in (dist / "checksums.txt").read_text().splitlines())
    for name in (ARCHIVE, HELM_TGZ):
        assert sha256(dist / name) == sums[name]
        assert (dist / name).stat().st_size < 20e6
    files = _files(dist / ARCHIVE)
    assert files[f"bin/{NAME}"].mode & 0o111
    assert {
        f"bin/{NAME}",
        "LICENSE",
        "README.md",
        "plugin.yaml",
        "scripts/install-binary.sh",
        "plugin.complete",
        "kubectl_complete-prefect_rollback",
    } <= set(files)
    built = {str(p.relative_to(dist / NAME)) for p in (dist / NAME).rglob("*") if p.is_file()}
    assert {n[len("bin/") :] for n in files if n.startswith("bin/")} == built, "the whole onedir build"
    # the helm .tgz: the same files one folder down, and the outer plugin.yaml/plugin.complete
    helm_files = _files(dist / HELM_TGZ)
    assert set(helm_files) == {f"{PLUGIN}/{n}" for n in files} | {"plugin.yaml", "plugin.complete"}
    assert helm_files[f"{PLUGIN}/bin/{NAME}"].mode & 0o111 and helm_files["plugin.complete"].mode & 0o111
    with tarfile.open(dist / HELM_TGZ) as tar:
        first = next(m.name for m in tar.getmembers() if m.name.endswith("plugin.yaml"))
        outer = yaml.safe_load(tar.extractfile("plugin.yaml"))
        inner = tar.extractfile(f"{PLUGIN}/plugin.yaml").read()
    assert first == "plugin.yaml", "helm 4 reads name and version from the first plugin.yaml"
    assert inner == (ROOT / "plugin.yaml").read_bytes()
    assert "hooks" not in outer
    assert {c["os"]: c["command"] for c in outer["platformCommand"]} == {
        "linux": f"${{HELM_PLUGIN_DIR}}/{PLUGIN}/bin/{NAME}",
        "darwin": f"${{HELM_PLUGIN_DIR}}/{PLUGIN}/bin/{NAME}",
        "windows": f"${{HELM_PLUGIN_DIR}}\\{PLUGIN}\\bin\\{NAME}.exe",
    }
    assert (outer["name"], outer["version"]) == (PLUGIN, VERSION)


KREW_NAME = re.compile(r"^[\w-]+$")
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10))}


def validate_krew(manifest: dict, file_name: str, archives: dict[str, Path]) -> None:
    """krew's index validation (internal/index/validation) plus what its installer needs of each
    platform's archive (internal/installation): the archive at the uri has the sha256, and the
    `files` and `bin` exist in it."""
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin"
    name = manifest["metadata"]["name"]
    assert KREW_NAME.match(name) and name.lower() not in WINDOWS_RESERVED
    assert file_name == f"{name}.yaml", "krew-index names the file after the plugin"
    spec = manifest["spec"]
    assert re.match(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$", spec["version"])
    assert spec["shortDescription"] and not re.search(r"[\r\n]", spec["shortDescription"])
    assert spec["description"].strip()
    assert spec["platforms"], "krew wants at least one platform"
    selectors = [tuple(sorted(p["selector"]["matchLabels"].items())) for p in spec["platforms"]]
    assert len(set(selectors)) == len(selectors), "platform selectors overlap"
    for platform in spec["platforms"]:
        selector = platform["selector"]
        assert selector.get("matchLabels") or selector.get("matchExpressions"), "empty selector"
        expressions = selector.get("matchExpressions") or []
        keys = {*(selector.get("matchLabels") or {}), *(e["key"] for e in expressions)}
        assert keys <= {"os", "arch"}, keys
        assert platform["uri"] and re.fullmatch(r"[a-f0-9]{64}", platform["sha256"]) and platform["bin"]
        files = platform.get("files")
        assert files is None or (files and all(op.get("from") and op.get("to") for op in files))
        archive = archives[platform["uri"].rsplit("/", 1)[1]]
        assert sha256(archive) == platform["sha256"], f"{archive.name}: sha256 is not the archive's"
        names = set(_files(archive))
        for op in files or [{"from": "*", "to": "."}]:
            prefix = op["from"].rstrip("/")
            assert any(n == prefix or n.startswith(prefix + "/") for n in names) or "*" in prefix, op
        moved = {op["from"].rstrip("/").rsplit("/", 1)[-1] for op in files or []}
        assert platform["bin"].split("/")[0] in moved or files is None, "bin is not among the moved files"


def test_krew_manifest_is_valid_and_installs(dist: Path, tmp_path: Path) -> None:
    kubectl = require_tool("kubectl", "1.32")
    manifest = yaml.safe_load((dist / f"{PLUGIN}.yaml").read_text())
    validate_krew(manifest, f"{PLUGIN}.yaml", {ARCHIVE: dist / ARCHIVE})
    (platform,) = manifest["spec"]["platforms"]
    assert platform["selector"]["matchLabels"] == {"os": "linux", "arch": "amd64"}
    assert platform["uri"] == f"{RELEASE_URL}/{ARCHIVE}"
    bindir = krew_install(platform, dist / ARCHIVE, tmp_path)
    env = {**os.environ, "PATH": f"{bindir}:/usr/bin:/bin"}
    version = run([kubectl, "prefect-rollback", "--version"], env=env)
    assert version.stdout == f"{NAME} {VERSION}\n", version.stderr
    listed = run([kubectl, "plugin", "list"], env=env)
    assert f"{bindir}/{NAME}" in listed.stdout, listed.stdout + listed.stderr
    assert "warning" not in listed.stderr.lower()


def test_krew_validation_refuses_a_wrong_sha256_and_a_missing_bin(dist: Path) -> None:
    manifest = yaml.safe_load((dist / f"{PLUGIN}.yaml").read_text())
    platform = manifest["spec"]["platforms"][0]
    for broken in ({**platform, "sha256": "0" * 64}, {**platform, "files": platform["files"][2:]}):
        bad = {**manifest, "spec": {**manifest["spec"], "platforms": [broken]}}
        with pytest.raises(AssertionError):
            validate_krew(bad, f"{PLUGIN}.yaml", {ARCHIVE: dist / ARCHIVE})


def test_committed_manifest_is_the_generated_one_but_for_the_sha256(dist: Path) -> None:
    """plugins/prefect-rollback.yaml as committed (`make krew-manifest` writes it for a release; its
    sha256 belongs to the published archive, the rest must be what the generator makes today)."""
    committed = yaml.safe_load((ROOT / "plugins" / f"{PLUGIN}.yaml").read_text())
    generated = yaml.safe_load((dist / f"{PLUGIN}.yaml").read_text())
    assert committed["spec"]["version"] == f"v{VERSION}"
    for doc in (committed, generated):
        for platform in doc["spec"]["platforms"]:
            assert re.fullmatch(r"[a-f0-9]{64}", platform.pop("sha256"))
    assert committed == generated


@pytest.mark.parametrize("layout", ["checkout", "release-tgz-root"])
@pytest.mark.parametrize("helm_version", ["3.10.1", "3.17.3", "4.1.4"])
def test_plugin_yaml_loads_on_helm_3_and_4(
    helm_version: str, layout: str, dist: Path, tmp_path: Path
) -> None:
    """helm loads the plugin.yaml (the checkout's, or the outer one of the release .tgz), lists it with
    its version, and runs its command with the arguments, warning about nothing."""
    helm_bin = require_tool("helm", helm_version)
    plugin_dir = tmp_path / PLUGIN
    exe_dir = plugin_dir / "bin" if layout == "checkout" else plugin_dir / PLUGIN / "bin"
    exe_dir.mkdir(parents=True)
    if layout == "checkout":
        shutil.copy2(ROOT / "plugin.yaml", plugin_dir / "plugin.yaml")
        shutil.copytree(ROOT / "scripts", plugin_dir / "scripts")
    else:
        with tarfile.open(dist / HELM_TGZ) as tar:
            (plugin_dir / "plugin.yaml").write_bytes(tar.extractfile("plugin.yaml").read())
    (exe_dir / NAME).write_text('#!/bin/sh\necho "ran $HELM_PLUGIN_NAME: $*"\n')
    (exe_dir / NAME).chmod(0o755)
    env = helm_homes(dict(os.environ), tmp_path / "helm")

    installed = run([helm_bin, "plugin", "install", str(plugin_dir)], env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    listed = run([helm_bin, "plugin", "list"], env=env)
    row = next(line for line in listed.stdout.splitlines() if line.startswith(PLUGIN))
    assert VERSION in row.split()
    ran = run([helm_bin, "prefect-rollback", "plan", "--to", "1.2.0"], env=env)
    assert ran.stdout == f"ran {PLUGIN}: plan --to 1.2.0\n", ran.stdout + ran.stderr
    for out in (installed, listed, ran):
        assert not re.search(r"warn|error|deprecat", out.stderr, re.I), out.stderr
