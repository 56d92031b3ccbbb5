#!/usr/bin/env bash
# Installs everything the build and the tests need, from the package registries
# only (crates.io, npm, Debian). Idempotent: each tool is checked first, so a
# machine that already has them spends seconds here.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10   # 0.3.11 needs rustc 1.96
WASM_OPT_VERSION=0.116.1      # binaryen 116; Debian's 108 breaks hydration
TRUNK_VERSION=0.21.14         # 0.22 needs rustc 1.96.1
CARGO_MODULES_VERSION=0.27.0  # 0.28 needs rustc 1.98

log() { printf '\033[1;34m[bootstrap]\033[0m %s\n' "$*"; }

have_version() { # tool, expected version substring
  command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q -- "$2"
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# What the debug build and the tests need.
rust_tools() {
  rustup target list --installed | grep -q wasm32-unknown-unknown \
    || { log "rustup target add wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }

  have_version cargo-leptos "$CARGO_LEPTOS_VERSION" \
    || { log "cargo install cargo-leptos $CARGO_LEPTOS_VERSION"; cargo install --locked cargo-leptos --version "$CARGO_LEPTOS_VERSION"; }

  wasm_bindgen_tool
}

# wasm-bindgen-cli must equal the wasm-bindgen that Cargo.lock pins.
wasm_bindgen_tool() {
  local wb
  wb=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
  have_version wasm-bindgen "$wb" \
    || { log "cargo install wasm-bindgen-cli $wb"; cargo install wasm-bindgen-cli --version "$wb"; }
}

# What scripts/build-site.sh needs: the WASM target and wasm-bindgen-cli,
# minutes less than cargo-leptos and wasm-opt take to compile.
quick_tools() {
  rustup target list --installed | grep -q wasm32-unknown-unknown \
    || { log "rustup target add wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }
  wasm_bindgen_tool
}

# Release builds also shrink the WASM bundle with wasm-opt; cargo-leptos would
# otherwise try to download it.
release_tools() {
  have_version wasm-opt "version 116" \
    || { log "cargo install wasm-opt $WASM_OPT_VERSION"; cargo install --locked wasm-opt --version "$WASM_OPT_VERSION"; }
}

# Only for the Trunk UI loop (docs/development.md); the build does not need it.
trunk_tools() {
  have_version trunk "$TRUNK_VERSION" \
    || { log "cargo install trunk $TRUNK_VERSION"; cargo install --locked trunk --version "$TRUNK_VERSION"; }
}

# The integration tests also run against a real PostgreSQL server, and the
# multi-instance tests (tests/cluster.rs) share state through a real Redis.
database_tools() {
  apt_install postgresql redis-server
}

# The metrics test checks /metrics with promtool, from Debian's prometheus.
metrics_tools() {
  command -v promtool >/dev/null || apt_install prometheus
}

# The image check (scripts/image.sh): podman builds with chroot isolation
# on a Debian base made with debootstrap; binutils strips the binary.
image_tools() {
  apt_install podman debootstrap binutils
}

# The import-cycle check (scripts/module-cycles.sh).
module_tools() {
  have_version cargo-modules "$CARGO_MODULES_VERSION" \
    || { log "cargo install cargo-modules $CARGO_MODULES_VERSION"; cargo install --locked cargo-modules --version "$CARGO_MODULES_VERSION"; }
}

# The CLI tests signal the server with `kill` (procps) and tamper with the
# SQLite file through python3's sqlite3 module (verify-ledger).
cli_test_tools() {
  apt_install procps python3
}

browser_tools() {
  apt_install chromium chromium-driver
  # Node from Debian where none is installed (the Playwright and SDK tests).
  command -v npm >/dev/null || apt_install nodejs npm
  if [ ! -d end2end/node_modules ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    log "npm ci in end2end/"
    (cd end2end && npm ci --no-audit --no-fund)
  fi
}

# The official SDK tests (end2end/sdk/) and the OpenAPI checks
# (end2end/openapi/): the Python SDKs, pytest, openapi-spec-validator and
# schemathesis in a venv of their own, pinned in end2end/sdk/requirements.txt. (The Node SDKs and
# Claude Code are npm packages of end2end/: browser_tools installs them.)
sdk_tools() {
  command -v curl >/dev/null || apt_install curl  # end2end/sdk/run.sh waits on /health with it
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  local venv=end2end/.venv requirements=end2end/sdk/requirements.txt
  if [ ! -f "$venv/installed.txt" ] || ! cmp -s "$requirements" "$venv/installed.txt"; then
    log "pip install -r $requirements into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
    cp "$requirements" "$venv/installed.txt"
  fi
}

case "${1:-}" in
  quick) quick_tools ;;                  # scripts/run.sh: scripts/build-site.sh
  run) rust_tools; release_tools ;;      # FULL=1 scripts/run.sh, the image: cargo leptos --release
  test) rust_tools; release_tools; module_tools; database_tools; metrics_tools; cli_test_tools; image_tools; browser_tools; sdk_tools ;;  # scripts/test.sh
  trunk) rust_tools; trunk_tools ;;     # the Trunk UI loop
  all) rust_tools; release_tools; module_tools; database_tools; metrics_tools; cli_test_tools; image_tools; browser_tools; sdk_tools ;;
  *) echo "usage: $0 quick|run|test|trunk|all" >&2; exit 2 ;;
esac
log "ready"
