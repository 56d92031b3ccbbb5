#!/usr/bin/env bash
# Builds Tollgate without cargo-leptos: the server and the WASM UI with
# plain cargo (the `quick` profile: release settings at opt-level 1), the bundle bound to its JavaScript by
# wasm-bindgen, the stylesheet and public files copied into the site. It
# needs only wasm-bindgen-cli (scripts/bootstrap.sh quick), so a first
# start does not wait for cargo-leptos and wasm-opt to compile; the UI is
# the same, hydrated, in one bundle that wasm-opt has not shrunk and that
# loads no page lazily. `FULL=1 scripts/run.sh` (and the image) build with
# cargo-leptos instead: split per page, shrunk and precompressed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

site=target/site
pkg=$site/pkg
# Components type-erased in both builds, as cargo-leptos does
# (`always-erase-components` in Cargo.toml).
export RUSTFLAGS="${RUSTFLAGS:-} --cfg erase_components"

cargo build --profile quick --locked -p frontend --lib --target wasm32-unknown-unknown --features hydrate
cargo build --profile quick --locked -p tollgate --bin tollgate

# A previous cargo-leptos build's files (chunks, .br/.gz beside them) would
# be served in place of these: start from an empty package directory.
rm -rf "$pkg"
mkdir -p "$pkg"
wasm-bindgen --target web --no-typescript --out-dir "$pkg" --out-name tollgate \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/quick/frontend.wasm"
# The server asks for `tollgate.wasm`, as cargo-leptos names it
# (`LEPTOS_OUTPUT_NAME` in .cargo/config.toml).
mv "$pkg/tollgate_bg.wasm" "$pkg/tollgate.wasm"
cp style/main.css "$pkg/tollgate.css"
cp -R public/. "$site/"
echo "site built in $site (server: $CARGO_TARGET_DIR/quick/tollgate)"
