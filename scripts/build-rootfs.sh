#!/bin/sh
# Debian 11 (bullseye, glibc 2.31) root filesystems for the release build, cached under .tools/rootfs/.
#
#   build-rootfs.sh run     minbase bullseye: what the glibc-floor tests run the binary in
#   build-rootfs.sh build   bullseye + a compiler + CPython built from source + a venv with the pinned
#                           pyinstaller/click/PyYAML: what `make binary` builds in
#
# Prints the rootfs path on stdout. Each rootfs lives in a folder named after a hash of its recipe, so
# a changed recipe builds a new one and an unchanged one is reused. Needs root, debootstrap and bwrap.
#
# Why CPython from source and not bullseye's Python 3.9: click ≥ 8.2 and PyYAML 6.0.4 (the versions the
# tests run, requirements-test.txt) need Python ≥ 3.10, and the binary must ship what the tests run.
# The source is Debian's own copy of the upstream tarball (deb.debian.org is the archive we can reach),
# checked against pinned sha256s.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE="$ROOT/.tools/rootfs"
MIRROR=${PREFECT_ROLLBACK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bullseye
# CPython: upstream 3.11.2 as Debian 12 ships it, plus Debian's security fixes (deb12u8): the patches
# of its series from shutdown-deadlock.diff on; those before it are Debian's own file layout.
PY_VERSION=3.11.2
PY_POOL=$MIRROR/pool/main/p/python3.11
PY_ORIG=python3.11_$PY_VERSION.orig.tar.gz
PY_ORIG_SHA256=2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849
PY_DEBIAN=python3.11_$PY_VERSION-6+deb12u8.debian.tar.xz
PY_DEBIAN_SHA256=ece2d63c70ac0b7a401fbe6b51b0103be997c294a01a3865549be1862794ba97
PY_FIRST_PATCH=shutdown-deadlock.diff
# ...except this one: its pyexpat.c needs an internal header that only Debian's builtin-pyexpat build
# provides (here pyexpat would silently not build, and pip needs it); the bundle excludes xml anyway.
PY_SKIP_PATCH=CVE-2026-4224.patch
# --enable-shared: PyInstaller bundles libpython (the rpath lets the build venv find it); no test suite
PY_CONFIGURE="--prefix=/opt/python --enable-shared --disable-test-modules LDFLAGS=-Wl,-rpath,/opt/python/lib"
BUILD_PACKAGES=build-essential,zlib1g-dev,libffi-dev,libssl-dev,xz-utils,ca-certificates
# only the runtime pins: pip resolves nothing else but their own dependencies
PINS=$(grep -Ei '^(click|pyyaml|pyinstaller)==' "$ROOT/requirements-test.txt")

log() {
    echo "build-rootfs: $*" >&2
}

hash_of() {
    printf '%s\n' "$@" | sha256sum | cut -c1-12
}

# in_rootfs ROOTFS CMD... : run CMD with ROOTFS as / (host network, host resolv.conf, no host env)
in_rootfs() {
    rootfs=$1
    shift
    bwrap --bind "$rootfs" / --proc /proc --dev /dev --tmpfs /tmp \
        --ro-bind /etc/resolv.conf /etc/resolv.conf --unshare-pid --die-with-parent --clearenv \
        --setenv PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --setenv HOME /root --setenv LANG C.UTF-8 --setenv DEBIAN_FRONTEND noninteractive "$@"
}

# bootstrap DEST [INCLUDE] : debootstrap into DEST.tmp, then rename (a half-made rootfs is never reused)
bootstrap() {
    dest=$1
    [ -f "$dest/.bootstrapped" ] && return 0
    rm -rf "$dest.tmp"
    mkdir -p "$CACHE/debs" "$dest.tmp"
    log "debootstrap $SUITE into $dest (a few minutes)"
    debootstrap --variant=minbase --cache-dir="$CACHE/debs" ${2:+--include="$2"} \
        "$SUITE" "$dest.tmp" "$MIRROR" >"$dest.tmp.log" 2>&1 || {
        tail -n 20 "$dest.tmp.log" >&2
        exit 1
    }
    rm -rf "$dest"
    mv "$dest.tmp" "$dest"
    mv "$dest.tmp.log" "$dest.log"
    touch "$dest/.bootstrapped"
}

run_rootfs() {
    dest="$CACHE/$SUITE-run-$(hash_of "$SUITE" "$MIRROR" minbase)"
    bootstrap "$dest"
    echo "$dest"
}

# fetch FILE SHA256 : download FILE from Debian's python3.11 pool into the cache, checked
fetch() {
    file="$CACHE/debs/$1"
    if [ -f "$file" ] && echo "$2  $file" | sha256sum -c --quiet - >/dev/null 2>&1; then
        return 0
    fi
    log "download $PY_POOL/$1"
    wget -q -O "$file.tmp" "$PY_POOL/$1"  # wget: debootstrap depends on it
    echo "$2  $file.tmp" | sha256sum -c --quiet -
    mv "$file.tmp" "$file"
}

build_python() {
    dest=$1
    [ -f "$dest/opt/python/.built" ] && return 0
    fetch "$PY_ORIG" "$PY_ORIG_SHA256"
    fetch "$PY_DEBIAN" "$PY_DEBIAN_SHA256"
    src="$dest/usr/src/python"
    rm -rf "$src" "$dest/usr/src/debian"
    mkdir -p "$src"
    tar -xzf "$CACHE/debs/$PY_ORIG" -C "$src" --strip-components=1
    tar -xJf "$CACHE/debs/$PY_DEBIAN" -C "$dest/usr/src"
    log "compile CPython $PY_VERSION inside $SUITE (~5 min on 2 cores)"
    in_rootfs "$dest" --chdir /usr/src/python sh -c '
        sed -n "/^$0\$/,\$p" /usr/src/debian/patches/series | grep -vx "$1" | while read -r p; do
            patch -p1 -s --no-backup-if-mismatch <"/usr/src/debian/patches/$p" || exit 1
        done &&
        { ./configure $2 &&
          make -j"$(nproc)" && make install; } >/var/log/python-build.log 2>&1
    ' "$PY_FIRST_PATCH" "$PY_SKIP_PATCH" "$PY_CONFIGURE" || {
        tail -n 30 "$dest/var/log/python-build.log" >&2
        log "CPython build failed (log: $dest/var/log/python-build.log)"
        exit 1
    }
    # setup.py only warns about an extension that failed to build: import the ones pip and we need
    in_rootfs "$dest" /opt/python/bin/python3 -c 'import ctypes, pyexpat, ssl, zlib' || {
        log "CPython was built without a module it needs (log: $dest/var/log/python-build.log)"
        exit 1
    }
    rm -rf "$src" "$dest/usr/src/debian"
    touch "$dest/opt/python/.built"
}

build_venv() {
    dest=$1
    want=$(hash_of "$PINS")
    [ "$(cat "$dest/opt/venv/.pins" 2>/dev/null)" = "$want" ] && return 0
    log "venv with $(echo "$PINS" | tr '\n' ' ')"
    rm -rf "$dest/opt/venv"
    printf '%s\n' "$PINS" >"$dest/tmp-pins.txt"
    # pip trusts the host's CA bundle (a TLS-inspecting proxy's CA is in it, not in bullseye's) and index
    ca=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
    in_rootfs "$dest" --ro-bind "$ca" /etc/ssl/host-ca.pem --setenv PIP_CERT /etc/ssl/host-ca.pem \
        ${PIP_INDEX_URL:+--setenv PIP_INDEX_URL "$PIP_INDEX_URL"} sh -c '
        /opt/python/bin/python3 -m venv /opt/venv &&
        /opt/venv/bin/pip install --quiet --disable-pip-version-check -r /tmp-pins.txt' || {
        log "pip install failed"
        exit 1
    }
    rm -f "$dest/tmp-pins.txt"
    echo "$want" >"$dest/opt/venv/.pins"
}

build_rootfs() {
    recipe=$(hash_of "$SUITE" "$MIRROR" minbase "$BUILD_PACKAGES" \
        "$PY_ORIG_SHA256" "$PY_DEBIAN_SHA256" "$PY_FIRST_PATCH" "$PY_SKIP_PATCH" "$PY_CONFIGURE")
    dest="$CACHE/$SUITE-build-$recipe"
    bootstrap "$dest" "$BUILD_PACKAGES"
    build_python "$dest"
    mkdir -p "$dest/src"  # packaging/build-in-rootfs.sh binds the checkout here (read-only rootfs)
    build_venv "$dest"
    echo "$dest"
}

command -v debootstrap >/dev/null 2>&1 || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
command -v bwrap >/dev/null 2>&1 || { log "bwrap is missing (apt-get install bubblewrap)"; exit 1; }
mkdir -p "$CACHE"
# one builder at a time: parallel `make binary` runs (worktrees sharing .tools) wait for each other
exec 9>"$CACHE/.lock"
flock 9
case "${1:-}" in
run) run_rootfs ;;
build) build_rootfs ;;
*)
    echo "usage: $0 run|build" >&2
    exit 2
    ;;
esac
