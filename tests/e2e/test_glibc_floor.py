"""The release binary's glibc floor: built inside Debian 11 (packaging/build-in-rootfs.sh), it needs at
most glibc 2.31, and it starts and does a full rollback on a Debian 11 root filesystem.

The rootfs runs are bwrap with the Debian 11 tree as / (read-only) and only the named files bound in:
nothing of the host's libc is visible, while the host network (kubesim on 127.0.0.1) is.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from kubesim.tools import ROOT, require_tool
from testbed.cluster import App
from tests.e2e.test_rollback import TO, assert_rolled_back, installed_tables

NAME = "kubectl-prefect_rollback"
FLOOR = (2, 31)
VERSION = re.search(r'^version: *"?([^"\n]+)"?$', (ROOT / "plugin.yaml").read_text(), re.M)[1]
INSIDE_BUNDLE = "/opt/bundle"  # the bundle's place inside the rootfs
INSIDE_BIN = "/opt/bin"  # kubectl and helm inside the rootfs
GLIBC_REF = re.compile(r"\*UND\*.*\bGLIBC_(\d+)\.(\d+)(?:\.(\d+))?\b")


@pytest.fixture(scope="session")
def bundle() -> Path:
    """dist/kubectl-prefect_rollback/, built by `make binary` (a no-op when it is up to date)."""
    require_tool("make")
    subprocess.run(["make", "-s", "binary"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return ROOT / "dist" / NAME


@pytest.fixture(scope="session")
def bullseye() -> Path:
    """The minbase Debian 11 rootfs (scripts/build-rootfs.sh run; cached in .tools/rootfs/)."""
    require_tool("bwrap")
    require_tool("debootstrap")
    out = subprocess.run(
        ["sh", str(ROOT / "scripts" / "build-rootfs.sh"), "run"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


def glibc_needed(path: Path) -> tuple[int, ...] | None:
    """The highest GLIBC_x.y version `path` references (objdump -T), or None when it needs none."""
    out = subprocess.run(
        [require_tool("objdump"), "-T", str(path)], check=True, capture_output=True, text=True
    ).stdout
    versions = [tuple(int(n) for n in m.groups() if n) for m in GLIBC_REF.finditer(out)]
    return max(versions, default=None)


def elf_files(tree: Path) -> list[Path]:
    found = []
    for path in sorted(tree.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def in_bullseye(
    rootfs: Path,
    argv: Sequence[str],
    *,
    ro: Sequence[tuple[str, str]] = (),
    rw: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run argv with the Debian 11 rootfs as /: `ro` (host, inside) pairs bound read-only, `rw` host
    folders bound read-write at the same path (they must live under /tmp, a tmpfs inside)."""
    cmd = [
        require_tool("bwrap"),
        "--ro-bind", str(rootfs), "/",
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/opt",
        "--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf",
        "--unshare-pid", "--die-with-parent", "--clearenv",
    ]  # fmt: skip
    for host, inside in ro:
        cmd += ["--ro-bind", host, inside]
    for folder in rw:
        cmd += ["--bind", folder, folder]
    base = {"PATH": f"{INSIDE_BIN}:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
    for key, value in {**base, **(env or {})}.items():
        cmd += ["--setenv", key, value]
    return subprocess.run(
        [*cmd, *argv], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def test_every_elf_file_in_the_bundle_needs_at_most_glibc_2_31(bundle: Path) -> None:
    files = elf_files(bundle)
    assert any(f.name.startswith("libpython3") for f in files), "the bundle holds its libpython"
    needs = {f.relative_to(bundle): glibc_needed(f) for f in files}
    floor, setter = max((v, str(f)) for f, v in needs.items() if v)
    print(f"glibc floor of the bundle: {'.'.join(map(str, floor))} (set by {setter}; {len(files)} ELF files)")
    too_new = {str(f): v for f, v in needs.items() if v and v > FLOOR}
    assert not too_new, f"these need a glibc newer than 2.31: {too_new}"


def test_the_rootfs_hides_the_host_libc(bullseye: Path) -> None:
    """The negative control: the rootfs really is glibc 2.31, and a host program built against a newer
    glibc does not start in it, so the runs below prove the floor."""
    libc = in_bullseye(bullseye, ["getconf", "GNU_LIBC_VERSION"])
    assert (libc.returncode, libc.stdout.strip()) == (0, "glibc 2.31")
    host_true = "/usr/bin/true"
    needed = glibc_needed(Path(host_true))
    assert needed and needed > FLOOR, f"{host_true} needs {needed}: the host is not newer than 2.31"
    proc = in_bullseye(bullseye, ["/opt/host-true"], ro=[(host_true, "/opt/host-true")])
    assert proc.returncode != 0
    assert "GLIBC_" in proc.stderr and "not found" in proc.stderr


def test_the_binary_reports_its_version_on_debian_11(bundle: Path, bullseye: Path) -> None:
    proc = in_bullseye(bullseye, [f"{INSIDE_BUNDLE}/{NAME}", "--version"], ro=[(str(bundle), INSIDE_BUNDLE)])
    assert proc.returncode == 0, proc.stderr
    assert VERSION in proc.stdout


def test_the_binary_rolls_back_from_debian_11_with_static_kubectl_and_helm(
    make_app, bundle: Path, bullseye: Path
) -> None:
    app: App = make_app(kubectl="1.35", helm="4.1.4")
    app.install("1.2.0")
    tables_120 = installed_tables(app, "1.2.0")
    app.install("1.3.0")
    chart = app.chart(TO)
    tools = [
        (os.path.realpath(require_tool("kubectl", "1.35")), f"{INSIDE_BIN}/kubectl"),
        (os.path.realpath(require_tool("helm", "4.1.4")), f"{INSIDE_BIN}/helm"),
    ]
    inside_chart = f"{INSIDE_BUNDLE}-chart/{Path(chart).name}"
    env = {k: v for k, v in app.env.items() if k != "PATH"}  # HOME, KUBECONFIG, HELM_* live in app.home
    assert str(app.home).startswith("/tmp/")

    proc = in_bullseye(
        bullseye,
        [f"{INSIDE_BUNDLE}/{NAME}", "rollback", "--to", TO, "--chart", inside_chart, "--yes"]
        + ["--namespace", app.namespace],
        ro=[(str(bundle), INSIDE_BUNDLE), (chart, inside_chart), *tools],
        rw=[str(app.home)],
        env=env,
        timeout=600,
    )

    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert f"Rolled back customer-managed from 1.3.0 to {TO}" in proc.stderr
    assert_rolled_back(app, tables_120)
