#!/usr/bin/env python3
"""Release archives from the built binary (`make dist`).

    python packaging/make_dist.py --version 0.1.0 [--dist dist] [--os linux --arch amd64]

Writes into --dist:
  kubectl-prefect-rollback_<version>_<os>_<arch>.tar.gz   bin/ (the onedir build), LICENSE, README.md,
                                                          plugin.yaml, scripts/install-binary.sh,
                                                          plugin.complete, kubectl_complete-prefect_rollback
  prefect-rollback-<version>.tgz                          the same files, for
                                                          `helm plugin install <url>` (helm names the
                                                          plugin folder after the file: <name>-<version>)
  checksums.txt                                           sha256 of every archive, `sha256sum` format
Archives are reproducible: sorted entries, fixed mtime and owner.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import platform
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "kubectl-prefect_rollback"
PLUGIN_FILES = (
    "LICENSE", "README.md", "plugin.yaml", "scripts/install-binary.sh",
    "plugin.complete", "kubectl_complete-prefect_rollback",  # shell completion for helm and kubectl
)
MTIME = 0
ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def members(build: Path) -> list[tuple[str, Path]]:
    """(archive name, source) for the plugin files and every file of the onedir build under bin/."""
    if not (build / NAME).is_file():
        sys.exit(f"make_dist: {build / NAME} missing; run `make binary` first")
    out = [(rel, ROOT / rel) for rel in PLUGIN_FILES]
    out += [(f"bin/{p.relative_to(build)}", p) for p in sorted(build.rglob("*")) if not p.is_dir()]
    return sorted(out)


def _info(name: str, src: Path) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "root", "root"
    if src.is_symlink():
        info.type, info.linkname = tarfile.SYMTYPE, str(src.readlink())
        info.mode = 0o777
    else:
        info.size = src.stat().st_size
        info.mode = 0o755 if src.stat().st_mode & 0o111 else 0o644
    return info


def write_archive(path: Path, files: list[tuple[str, Path]], prefix: str = "") -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        # explicit folder entries: helm 3's extractor does not create missing parents
        for folder in sorted({str(p) for name, _ in files for p in Path(prefix + name).parents} - {"."}):
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            info.uname = info.gname = "root"
            tar.addfile(info)
        for name, src in files:
            info = _info(prefix + name, src)
            if info.issym():
                tar.addfile(info)
            else:
                with src.open("rb") as f:
                    tar.addfile(info, f)
    with path.open("wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=MTIME) as gz:
        gz.write(buf.getvalue())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", required=True, help="plugin version, without a leading v")
    p.add_argument("--dist", type=Path, default=ROOT / "dist")
    p.add_argument("--os", default=platform.system().lower())
    p.add_argument("--arch", default=ARCH.get(platform.machine().lower(), platform.machine().lower()))
    args = p.parse_args(argv)
    files = members(args.dist / NAME)
    platform_tgz = args.dist / f"kubectl-prefect-rollback_{args.version}_{args.os}_{args.arch}.tar.gz"
    helm_tgz = args.dist / f"prefect-rollback-{args.version}.tgz"
    write_archive(platform_tgz, files)
    write_archive(helm_tgz, files)  # flat: helm 3.10 looks for plugin.yaml at the archive's root
    # other platforms' runners add their lines; keep any that are already there
    sums_path = args.dist / "checksums.txt"
    sums = dict(
        reversed(line.split(None, 1)) for line in sums_path.read_text().splitlines() if line.strip()
    ) if sums_path.exists() else {}
    for archive in (platform_tgz, helm_tgz):
        sums[archive.name] = sha256(archive)
    sums_path.write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items())))
    for archive in (platform_tgz, helm_tgz, sums_path):
        print(f"{archive.relative_to(Path.cwd()) if archive.is_relative_to(Path.cwd()) else archive}"
              f"  {archive.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
