#!/bin/sh
# The release build: PyInstaller run inside a Debian 11 root filesystem (scripts/build-rootfs.sh build),
# so that every library in the bundle comes from glibc 2.31 userland and the binary starts on any
# Linux with glibc >= 2.31. `make binary` runs this; the bundle lands in dist/kubectl-prefect_rollback/.
#
# The checkout is bound at /src, the only place written besides a /tmp tmpfs: the cached rootfs stays as
# built. No network either: the venv was made with the rootfs.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
rootfs=$(sh "$ROOT/scripts/build-rootfs.sh" build)

echo "build-in-rootfs: pyinstaller in $rootfs" >&2
bwrap --ro-bind "$rootfs" / --proc /proc --dev /dev --tmpfs /tmp --bind "$ROOT" /src --chdir /src \
    --unshare-pid --unshare-net --die-with-parent --clearenv \
    --setenv PATH /opt/venv/bin:/usr/bin:/bin --setenv HOME /tmp --setenv LANG C.UTF-8 \
    --setenv PYTHONDONTWRITEBYTECODE 1 \
    /opt/venv/bin/pyinstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller-bullseye packaging/pyinstaller.spec
