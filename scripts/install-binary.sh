#!/bin/sh
# helm plugin install/update hook: put bin/kubectl-prefect_rollback in place.
#
#   bin/ already there (release archive)    -> nothing to do
#   PREFECT_ROLLBACK_BIN_TGZ=/path/x.tar.gz -> extract that archive (offline installs)
#   otherwise                               -> build from source into $HELM_PLUGIN_DIR/.venv
#
# PREFECT_ROLLBACK_SKIP_BIN_INSTALL=1 skips the hook entirely.
set -eu

PLUGIN_DIR=${HELM_PLUGIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN="$PLUGIN_DIR/bin/kubectl-prefect_rollback"
TMP=""

say() { printf 'prefect-rollback: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
cleanup() { [ -n "$TMP" ] && rm -rf "$TMP"; return 0; }
trap cleanup EXIT INT TERM

already_installed() {
  [ "${1:-}" != "--update" ] && [ -x "$BIN" ]
}

install_archive() {
  archive=$1
  [ -f "$archive" ] || die "PREFECT_ROLLBACK_BIN_TGZ=$archive: no such file"
  TMP=$(mktemp -d)
  tar -xzf "$archive" -C "$TMP"
  found=$(find "$TMP" -type f -name kubectl-prefect_rollback | head -n 1)
  [ -n "$found" ] || die "$archive holds no kubectl-prefect_rollback"
  mkdir -p "$PLUGIN_DIR/bin"
  # onedir builds keep their _internal folder next to the executable
  cp -R "$(dirname "$found")/." "$PLUGIN_DIR/bin/"
  chmod +x "$BIN"
}

build_from_source() {
  python=${PYTHON:-python3}
  command -v "$python" >/dev/null 2>&1 || die "no $python to build from source; set PREFECT_ROLLBACK_BIN_TGZ to a release archive"
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
  else
    build_from_source
  fi
  say "installed $BIN"
}

main "$@"
