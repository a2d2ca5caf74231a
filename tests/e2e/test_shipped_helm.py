"""The helm plugin as users get it: the release .tgz from `make dist`, signed by `make dist` with a
throwaway key, installed with README's commands run word for word (over HTTP from a local release
server, and as a downloaded file) on helm 3.10.1, 3.17.3 and 4.1.4 (verification on), then used on
kubesim: plan, revisions, history, render and two full rollbacks, one per install.

The dev entry point is off PATH: every plugin run below is the frozen binary from the .tgz.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubesim.tools import ROOT, require_tool
from testbed import app as fixture
from testbed.cluster import RELEASE, App
from tests.shipped import (
    HELM_TGZ,
    NAME,
    PLUGIN,
    RELEASE_URL,
    VERSION,
    Release,
    helm_homes,
    load_make_dist,
    release,  # noqa: F401 (the session fixture)
    serve,
    signed_release,
    throwaway_key,
)

TO = "1.2.0"
PUBKEY = f"{PLUGIN}-{VERSION}.pub.gpg"


def readme_block(marker: str) -> str:
    """The ```sh block right after `<!-- tested: marker -->` in README.md."""
    text = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- tested: {re.escape(marker)} -->\n```sh\n(.*?)```", text, re.S)
    assert m, f"README.md has no tested block {marker!r}"
    return m[1]


@pytest.fixture(scope="module")
def signed(
    release: Release,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, str]]:
    """(folder, URL): dist/ signed by make_dist.py with a throwaway key, served as the release."""
    tmp = tmp_path_factory.mktemp("signed")
    out = signed_release(release, tmp, throwaway_key(tmp))
    assert (out / f"{HELM_TGZ}.prov").is_file() and (out / PUBKEY).is_file()
    with serve(out) as url:
        yield out, url


def shipped_env(app: App, home: Path) -> dict[str, str]:
    """The app's environment with its own helm homes and without the virtualenv (dev entry) on PATH."""
    env = helm_homes(app.env, home)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in app.env["PATH"].split(os.pathsep) if p != venv_bin)
    assert shutil.which(NAME, path=env["PATH"]) is None, "the dev entry point must not be on PATH"
    return env


def sh(block: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["sh", "-eu", "-c", block], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
    return done


def install_by_readme(helm: str, how: str, env: dict[str, str], signed: tuple[Path, str], cwd: Path) -> str:
    """Run README's block for this helm and way; returns its output. cwd holds what a user downloaded."""
    folder, url = signed
    major = helm.split(".")[0]
    block = readme_block(f"helm-{major}-{how}")
    cwd.mkdir(parents=True)
    if how == "url":
        block = block.replace(RELEASE_URL, url)  # the only substitution: where the release is served
    else:
        for name in (HELM_TGZ, f"{HELM_TGZ}.prov", PUBKEY):
            shutil.copy2(folder / name, cwd / name)
    done = sh(block, env, cwd)
    out = done.stdout + done.stderr
    if major == "4":
        assert "Plugin Hash Verified: sha256:" in out, out  # verification was on, and passed
    return out


def assert_installed_binary_is_shipped(env: dict[str, str], release: Release) -> None:  # noqa: F811
    root = (Path(env["HELM_DATA_HOME"]) / "plugins" / PLUGIN).resolve()  # helm 3 links a folder install
    found = [p for p in (root / "bin" / NAME, root / PLUGIN / "bin" / NAME) if p.is_file()]
    assert len(found) == 1, list(root.iterdir())
    digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
    assert digest == hashlib.sha256(release.binary.read_bytes()).hexdigest()


def plugin(app: App, env: dict[str, str], *args: str, **kw) -> subprocess.CompletedProcess[str]:
    # helm's -n only: the plugin gets the namespace as HELM_NAMESPACE
    return app.run("helm", "-n", app.namespace, PLUGIN, *args, extra_env=env, **kw)


@pytest.mark.parametrize("helm", ["3.10.1", "3.17.3", "4.1.4"])
def test_release_tgz_installs_by_url_and_from_a_file_then_rolls_back(
    at_130, helm: str, signed, release: Release, tmp_path: Path  # noqa: F811
) -> None:
    app = at_130(helm=helm)
    by_url = shipped_env(app, tmp_path / "url-home")
    by_file = shipped_env(app, tmp_path / "file-home")
    install_by_readme(helm, "url", by_url, signed, tmp_path / "url-cwd")
    install_by_readme(helm, "offline", by_file, signed, tmp_path / "downloads")
    for env in (by_url, by_file):
        listed = app.run("helm", "plugin", "list", extra_env=env).stdout
        assert re.search(rf"^{PLUGIN}\s+{re.escape(VERSION)}\s", listed, re.M), listed
        assert_installed_binary_is_shipped(env, release)
        assert plugin(app, env, "--version").stdout == f"{NAME} {VERSION}\n"

    # read-only commands through the URL install
    revisions = json.loads(plugin(app, by_url, "revisions", "-o", "json").stdout)
    assert {db: d["head"] for db, d in revisions["databases"].items()} == fixture.release_heads("1.3.0")
    history = json.loads(plugin(app, by_url, "history", "-o", "json").stdout)
    assert "1.3.0" in json.dumps(history) and "1.2.0" in json.dumps(history)
    plan = json.loads(plugin(app, by_url, "plan", "--to", TO, "--chart", app.chart(TO), "-o", "json").stdout)
    assert plan["databases"]["nebula"]["target"] == fixture.release_heads(TO)["nebula"]
    render = plugin(app, by_url, "render", "--to", TO, "--chart", app.chart(TO)).stdout
    assert [d["kind"] for d in yaml.safe_load_all(render) if d] == ["Job"]
    assert app.heads() == fixture.release_heads("1.3.0"), "read-only commands changed nothing"

    # a full rollback through each install (back up to 1.3.0 in between, as an operator would)
    for env in (by_url, by_file):
        done = plugin(app, env, "--to", TO, "--chart", app.chart(TO), "--yes", timeout=600)
        assert "Rolled back customer-managed from 1.3.0 to 1.2.0" in done.stderr, done.stderr
        assert app.heads() == fixture.release_heads(TO)
        assert (app.release()["status"], app.release()["chart"]) == ("deployed", f"prefect-cloud-{TO}")
        last = json.loads(app.helm("history", RELEASE, "-o", "json").stdout)[-1]
        assert last["description"].startswith("prefect-rollback: 1.3.0 -> 1.2.0")
        if env is by_url:
            app.install("1.3.0")


# -- provenance: helm 4 with verification on ----------------------------------------------------------

def _helm4(tmp_path: Path) -> tuple[str, dict[str, str]]:
    return require_tool("helm", "4.1.4"), helm_homes(dict(os.environ), tmp_path / "helm")


def _run(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def _tampered(tgz: Path, out: Path) -> Path:
    """The same tarball with one byte of the outer plugin.yaml changed (still a valid .tgz)."""
    buf = io.BytesIO()
    with tarfile.open(tgz) as src, tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == "plugin.yaml":
                data = data.replace(b"roll a Prefect", b"roll a prefect")
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    out.mkdir(parents=True)
    (out / tgz.name).write_bytes(buf.getvalue())
    shutil.copy2(tgz.with_name(tgz.name + ".prov"), out / f"{tgz.name}.prov")
    return out / tgz.name


def test_helm_4_refuses_a_tampered_tarball_from_a_file_and_over_http(signed, tmp_path: Path) -> None:
    folder, _ = signed
    helm, env = _helm4(tmp_path)
    keyring = str(folder / PUBKEY)
    bad = _tampered(folder / HELM_TGZ, tmp_path / "bad")
    local = _run(helm, "plugin", "install", str(bad), "--keyring", keyring, env=env)
    assert local.returncode != 0 and "sha256 sum does not match" in local.stderr, local.stderr
    with serve(bad.parent) as url:
        remote = _run(helm, "plugin", "install", f"{url}/{HELM_TGZ}", "--keyring", keyring, env=env)
    assert remote.returncode != 0 and "sha256 sum does not match" in remote.stderr, remote.stderr
    assert not (Path(env["HELM_DATA_HOME"]) / "plugins" / PLUGIN).exists()
    verify = _run(helm, "plugin", "verify", str(folder / HELM_TGZ), "--keyring", keyring, env=env)
    assert verify.returncode == 0 and "Plugin Hash Verified" in verify.stdout, verify.stderr


def test_helm_4_refuses_a_signature_by_another_key(signed, tmp_path: Path) -> None:
    folder, _ = signed
    helm, env = _helm4(tmp_path)
    # the same tarball, signed by a key the user's keyring does not hold
    copy = tmp_path / "copy" / HELM_TGZ
    copy.parent.mkdir()
    shutil.copy2(folder / HELM_TGZ, copy)
    key = throwaway_key(tmp_path)
    make_dist = load_make_dist()
    make_dist.sign(copy, VERSION, key.user_id, key.secret_keyring, None)
    done = _run(helm, "plugin", "install", str(copy), "--keyring", str(folder / PUBKEY), env=env)
    assert done.returncode != 0 and "verification failed" in done.stderr, done.stderr


def test_unsigned_dist_says_so_and_helm_4_will_not_install_it_verified(
    release: Release,  # noqa: F811
    tmp_path: Path,
) -> None:
    out = tmp_path / "dist"
    shutil.copytree(release.build, out / NAME)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_ROLLBACK_SIGN_")}
    make_dist = str(ROOT / "packaging" / "make_dist.py")
    made = _run(sys.executable, make_dist, "--version", VERSION, "--dist", str(out), env=env)
    assert made.returncode == 0 and f"{HELM_TGZ} is NOT signed" in made.stderr, made.stderr
    assert (out / HELM_TGZ).is_file() and not (out / f"{HELM_TGZ}.prov").exists()
    helm, henv = _helm4(tmp_path)
    done = _run(helm, "plugin", "install", str(out / HELM_TGZ), env=henv)
    assert done.returncode != 0 and "no provenance file" in done.stderr, done.stderr
