#!/usr/bin/env python3
"""Generate the krew manifest plugins/prefect-rollback.yaml from the release archives in dist/.

    python scripts/krew-manifest.py --version 0.1.0 --base-url URL [--dist dist] [--output FILE]

One platform entry per `kubectl-prefect-rollback_<version>_<os>_<arch>.tar.gz` listed in
dist/checksums.txt (each runner adds its own line), with the sha256 from there, checked against the
archive when it is present. URL is where the release serves the archives (`<URL>/<archive name>`).
Krew wants `spec.version` with a leading "v" while plugin.yaml has none (ecosystem.md §0.12).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = re.compile(
    r"^kubectl-prefect-rollback_(?P<version>[^_]+)_(?P<os>[a-z]+)_(?P<arch>[a-z0-9]+)\.tar\.gz$"
)
HOMEPAGE = "https://github.com/prefect-rollback/kubectl-prefect-rollback"
SHORT = "Roll back Prefect Customer-Managed with DB downgrades"
DESCRIPTION = """\
Rolls a Prefect Customer-Managed (self-hosted Prefect Cloud) Helm release back to an
earlier chart version safely. It first downgrades the nebula, orion and events databases
with the newer image, which knows the way down, and only then installs the older chart
with the values known to work with it. Each run is planned and confirmed, holds a lock,
streams the migration logs, verifies the result and resumes where it stopped after a
failure or an interruption. It also shows the current migration heads and the exact
plan without changing anything.
"""
CAVEATS = """\
This plugin runs the `kubectl` and `helm` (3.10+ or 4) found on your PATH, as you:
both must be installed and able to reach the cluster.
The Linux binary needs glibc 2.31 or newer (Debian 11, Ubuntu 20.04, RHEL 9 and later).
Shell completion for `kubectl prefect-rollback` needs kubectl 1.26+ and the
kubectl_complete-prefect_rollback script on PATH; krew cannot install it (see the README).
"""


def read_checksums(dist: Path) -> dict[str, str]:
    path = dist / "checksums.txt"
    if not path.exists():
        sys.exit(f"krew-manifest: {path} missing; run `make dist` first")
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(None, 1)
            sums[name.lstrip("*")] = digest
    return sums


def platform_entry(name: str, digest: str, os_: str, arch: str, base_url: str) -> dict:
    return {
        "selector": {"matchLabels": {"os": os_, "arch": arch}},
        "uri": f"{base_url.rstrip('/')}/{name}",
        "sha256": digest,
        # the onedir build: the executable and its _internal/ folder stay side by side
        "files": [
            {"from": "bin/kubectl-prefect_rollback", "to": "."},
            {"from": "bin/_internal", "to": "."},
            {"from": "LICENSE", "to": "."},
        ],
        "bin": "kubectl-prefect_rollback",
    }


def manifest(version: str, dist: Path, base_url: str) -> dict:
    platforms = []
    for name, digest in sorted(read_checksums(dist).items()):
        m = ARCHIVE.match(name)
        if not m or m["version"] != version:
            continue
        archive = dist / name
        if archive.exists() and hashlib.sha256(archive.read_bytes()).hexdigest() != digest:
            sys.exit(f"krew-manifest: {archive} does not match its line in checksums.txt")
        platforms.append(platform_entry(name, digest, m["os"], m["arch"], base_url))
    if not platforms:
        sys.exit(f"krew-manifest: no kubectl-prefect-rollback_{version}_<os>_<arch>.tar.gz in checksums.txt")
    return {
        "apiVersion": "krew.googlecontainertools.github.com/v1alpha2",
        "kind": "Plugin",
        "metadata": {"name": "prefect-rollback"},
        "spec": {
            "version": f"v{version.lstrip('v')}",
            "homepage": HOMEPAGE,
            "shortDescription": SHORT,
            "description": DESCRIPTION,
            "caveats": CAVEATS,
            "platforms": platforms,
        },
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", required=True, help="plugin version (with or without a leading v)")
    p.add_argument("--dist", type=Path, default=ROOT / "dist")
    p.add_argument("--base-url", required=True, help="release download URL the archives are served under")
    p.add_argument("--output", type=Path, default=ROOT / "plugins" / "prefect-rollback.yaml")
    args = p.parse_args(argv)
    doc = manifest(args.version.lstrip("v"), args.dist, args.base_url)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100))
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
