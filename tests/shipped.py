"""The release as `make dist` writes it into dist/: the files users download are what these tests run.

`release` (session fixture) runs `make -s dist` once (a no-op when dist/ is up to date; `make test`
has done it already) and hands out the paths. Helpers: a local HTTP server standing in for the
GitHub release, a throwaway GPG key, helm isolated per test, and krew's install steps.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubesim.tools import ROOT, require_tool

NAME = "kubectl-prefect_rollback"
PLUGIN = "prefect-rollback"
VERSION = re.search(r'^version: *"?([^"\n]+)"?$', (ROOT / "plugin.yaml").read_text(), re.M)[1]
ARCHIVE = f"kubectl-prefect-rollback_{VERSION}_linux_amd64.tar.gz"
HELM_TGZ = f"{PLUGIN}-{VERSION}.tgz"
RELEASE_URL = f"https://github.com/prefect-rollback/kubectl-prefect-rollback/releases/download/v{VERSION}"


@dataclass(frozen=True)
class Release:
    dist: Path

    @property
    def build(self) -> Path:  # the onedir folder
        return self.dist / NAME

    @property
    def binary(self) -> Path:
        return self.build / NAME

    @property
    def archive(self) -> Path:  # what krew and the install hook unpack
        return self.dist / ARCHIVE

    @property
    def helm_tgz(self) -> Path:
        return self.dist / HELM_TGZ

    @property
    def manifest(self) -> Path:  # the krew manifest for this build
        return self.dist / f"{PLUGIN}.yaml"


@pytest.fixture(scope="session")
def release() -> Release:
    if not shutil.which("make"):
        require_tool("make")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_ROLLBACK_SIGN_")}
    subprocess.run(["make", "-s", "dist"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
    rel = Release(ROOT / "dist")
    for path in (rel.binary, rel.archive, rel.helm_tgz, rel.manifest, rel.dist / "checksums.txt"):
        assert path.exists(), f"`make dist` did not write {path}"
    return rel


# -- a release download server ------------------------------------------------------------------------

class _Handler(http.server.SimpleHTTPRequestHandler):
    # helm 3 picks its HTTP installer from the Content-Type of a HEAD request
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".tgz": "application/gzip", ".gz": "application/gzip"}

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """http://127.0.0.1:<port> serving the files in `root`."""
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- signing ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SigningKey:
    user_id: str
    secret_keyring: Path  # what PREFECT_ROLLBACK_SIGN_KEYRING names


def throwaway_key(tmp: Path) -> SigningKey:
    """A fresh passphrase-less RSA key in its own GPG home, exported as a secret keyring file."""
    require_tool("gpg")
    home = tmp / "gnupg"
    home.mkdir(mode=0o700, parents=True)
    uid = "prefect-rollback test release <release@example.invalid>"
    gpg = ["gpg", "--homedir", str(home), "--batch", "--quiet"]
    try:
        subprocess.run([*gpg, "--passphrase", "", "--quick-generate-key", uid, "rsa2048", "sign", "never"],
                       check=True, capture_output=True)
        secret = tmp / "secring.gpg"
        secret.write_bytes(subprocess.run([*gpg, "--export-secret-keys", uid], check=True,
                                          capture_output=True).stdout)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True)
    return SigningKey(uid, secret)


def load_make_dist():
    """packaging/make_dist.py as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_dist", ROOT / "packaging" / "make_dist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def signed_release(release: Release, tmp: Path, key: SigningKey) -> Path:
    """A copy of dist/ signed by `make dist` itself (make_dist.py with the signing env)."""
    out = tmp / "signed-dist"
    out.mkdir()
    shutil.copytree(release.build, out / NAME)
    env = {**os.environ, "PREFECT_ROLLBACK_SIGN_KEY": key.user_id,
           "PREFECT_ROLLBACK_SIGN_KEYRING": str(key.secret_keyring)}
    make_dist = str(ROOT / "packaging" / "make_dist.py")
    done = subprocess.run([sys.executable, make_dist, "--version", VERSION, "--dist", str(out)],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


# -- helm, isolated -----------------------------------------------------------------------------------

def helm_homes(env: dict[str, str], root: Path) -> dict[str, str]:
    """`env` with helm's data/config/cache homes under `root` (so a plugin install is per test)."""
    out = {k: v for k, v in env.items() if not k.startswith(("HELM_", "PREFECT_ROLLBACK_"))}
    for var in ("HELM_DATA_HOME", "HELM_CONFIG_HOME", "HELM_CACHE_HOME"):
        out[var] = str(root / var.lower())
    return out


def helm_version(helm_bin: str) -> str:
    return subprocess.run([helm_bin, "version", "--short"], capture_output=True, text=True).stdout.strip()


# -- krew ---------------------------------------------------------------------------------------------

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def krew_install(platform: dict, archive: Path, root: Path, plugin: str = PLUGIN) -> Path:
    """What `kubectl krew install --manifest --archive` does with one platform entry; returns the bin dir.

    Following krew's internal/installation: the archive must match the sha256; it is unpacked into a
    staging folder; each `files` entry (default: everything to `.`) moves a path that exists as
    written, or else everything its glob matches, into the install folder, never out of either
    folder; `bin` must then be a file inside the install folder; krew links it as kubectl-<name>
    with dashes as underscores."""
    assert sha256(archive) == platform["sha256"], "krew refuses an archive whose sha256 differs"
    staging, install, bindir = root / "staging", root / "store" / plugin / "v", root / "bin"
    for d in (staging, install, bindir):
        d.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="tar")
    for op in platform.get("files") or [{"from": "*", "to": "."}]:
        assert op["to"] == os.path.normpath(op["to"]), f"krew wants a clean `to`: {op}"
        direct = staging / op["from"]
        if direct.exists():
            moves = [(direct, install / (direct.name if op["to"] == "." else op["to"]))]
        else:
            matches = sorted(staging.glob(op["from"]))
            assert matches, f"no files in the archive match {op['from']!r}"
            moves = [(m, install / op["to"] / m.name) for m in matches]
        for src, dst in moves:
            assert src.resolve().is_relative_to(staging.resolve()) and dst.resolve().is_relative_to(
                install.resolve()), f"krew refuses a move out of its folders: {src} -> {dst}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), str(dst))
    target = install / platform["bin"]
    assert target.resolve().is_relative_to(install.resolve()), "bin must be inside the install folder"
    assert target.is_file() and os.access(target, os.X_OK), f"bin {platform['bin']} missing or not executable"
    (bindir / f"kubectl-{plugin.replace('-', '_')}").symlink_to(target)
    return bindir
