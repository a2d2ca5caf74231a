#!/bin/sh
# helm plugin install/update hook: put bin/kubectl-prefect_rollback in place.
#
#   bin/ already there (release .tgz)           -> nothing to do
#   PREFECT_ROLLBACK_BIN_TGZ=/path/x.tar.gz     -> extract that archive (offline installs)
#   PREFECT_ROLLBACK_BUILD_FROM_SOURCE=1        -> pip-install the checkout into $HELM_PLUGIN_DIR/.venv
#   otherwise                                   -> download the release archive for `uname -s`/`uname -m`
#                                                  and check its sha256 against the release's checksums.txt
#
# PREFECT_ROLLBACK_RELEASE_URL overrides where releases are downloaded from (a mirror, a test server);
# the archive and checksums.txt are fetched from "$PREFECT_ROLLBACK_RELEASE_URL/<file>".
# PREFECT_ROLLBACK_SKIP_BIN_INSTALL=1 skips the hook entirely.
set -eu

PLUGIN_DIR=${HELM_PLUGIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN="$PLUGIN_DIR/bin/kubectl-prefect_rollback"
PROJECT_URL="https://github.com/prefect-rollback/kubectl-prefect-rollback"
TMP=""

say() { printf 'prefect-rollback: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
cleanup() { [ -n "$TMP" ] && rm -rf "$TMP"; return 0; }
trap cleanup EXIT
trap 'exit 130' INT TERM

already_installed() {
  [ "${1:-}" != "--update" ] && [ -x "$BIN" ]
}

workdir() {
  [ -n "$TMP" ] || TMP=$(mktemp -d)
}

plugin_version() {
  sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$PLUGIN_DIR/plugin.yaml" | head -n 1
}

detect_os() {
  case "$(uname -s)" in
    Linux) echo linux ;;
    Darwin) echo darwin ;;
    MINGW* | MSYS* | CYGWIN*) echo windows ;;
    *) die "unsupported OS $(uname -s); set PREFECT_ROLLBACK_BUILD_FROM_SOURCE=1" ;;
  esac
}

detect_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "unsupported CPU $(uname -m); set PREFECT_ROLLBACK_BUILD_FROM_SOURCE=1" ;;
  esac
}

fetch() { # fetch URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl --fail --silent --show-error --location --retry 3 --output "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet --tries=3 --output-document="$2" "$1"
  else
    die "neither curl nor wget found; download the archive and set PREFECT_ROLLBACK_BIN_TGZ"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  else
    shasum -a 256 "$1" | cut -d ' ' -f 1
  fi
}

verify_checksum() { # verify_checksum ARCHIVE CHECKSUMS NAME
  want=$(awk -v name="$3" '$2 == name || $2 == "*" name { print $1 }' "$2")
  [ -n "$want" ] || die "$3 is not listed in checksums.txt"
  got=$(sha256_of "$1")
  [ "$got" = "$want" ] || die "sha256 mismatch for $3: expected $want, got $got"
}

download_release() {
  version=$(plugin_version)
  [ -n "$version" ] || die "no version in $PLUGIN_DIR/plugin.yaml"
  name="kubectl-prefect-rollback_${version}_$(detect_os)_$(detect_arch).tar.gz"
  base=${PREFECT_ROLLBACK_RELEASE_URL:-$PROJECT_URL/releases/download/v$version}
  workdir
  say "downloading $base/$name"
  fetch "$base/$name" "$TMP/$name" || die "download failed: $base/$name"
  fetch "$base/checksums.txt" "$TMP/checksums.txt" || die "download failed: $base/checksums.txt"
  verify_checksum "$TMP/$name" "$TMP/checksums.txt" "$name"
  install_archive "$TMP/$name"
}

install_archive() {
  archive=$1
  [ -f "$archive" ] || die "$archive: no such file"
  workdir
  mkdir -p "$TMP/x"
  tar -xzf "$archive" -C "$TMP/x"
  found=$(find "$TMP/x" -type f -name kubectl-prefect_rollback | head -n 1)
  [ -n "$found" ] || die "$archive holds no kubectl-prefect_rollback"
  rm -rf "$PLUGIN_DIR/bin"
  mkdir -p "$PLUGIN_DIR/bin"
  # onedir builds keep their _internal folder next to the executable
  cp -R "$(dirname "$found")/." "$PLUGIN_DIR/bin/"
  chmod +x "$BIN"
}

build_from_source() {
  python=${PYTHON:-python3}
  command -v "$python" >/dev/null 2>&1 || die "no $python to build from source"
  "$python" -m venv "$PLUGIN_DIR/.venv"
  "$PLUGIN_DIR/.venv/bin/pip" install --quiet --disable-pip-version-check "$PLUGIN_DIR"
  mkdir -p "$PLUGIN_DIR/bin"
  ln -sf "$PLUGIN_DIR/.venv/bin/kubectl-prefect_rollback" "$BIN"
}

main() {
  [ "${PREFECT_ROLLBACK_SKIP_BIN_INSTALL:-}" = "1" ] && { say "skipping binary install"; return 0; }
  if already_installed "${1:-}"; then
    say "bin/kubectl-prefect_rollback present, nothing to install"
    return 0
  fi
  if [ -n "${PREFECT_ROLLBACK_BIN_TGZ:-}" ]; then
    install_archive "$PREFECT_ROLLBACK_BIN_TGZ"
  elif [ "${PREFECT_ROLLBACK_BUILD_FROM_SOURCE:-}" = "1" ]; then
    build_from_source
  else
    download_release
  fi
  say "installed $BIN"
}

main "$@"
