#!/usr/bin/env bash
# Builds Tollgate (server and WASM UI, optimized) and runs it on the embedded
# SQLite default: ./data/tollgate.db, created and migrated on start,
# listening on http://127.0.0.1:3000. Extra arguments go to `tollgate`.
#
# By default with plain cargo and wasm-bindgen at opt-level 1
# (scripts/build-site.sh), so that a first start does not compile
# cargo-leptos and wasm-opt and compiles faster; FULL=1
# builds as the image does, with cargo-leptos: the UI split into a chunk
# per page, shrunk by wasm-opt and precompressed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

if [ -n "${FULL:-}" ]; then
  scripts/bootstrap.sh run
  # --precompress: .br and .gz beside each file, which the server sends to
  # browsers that accept them.
  cargo leptos build --release --split --precompress
  exec "$CARGO_TARGET_DIR/release/tollgate" "${@:-serve}"
fi
scripts/bootstrap.sh quick
scripts/build-site.sh
exec "$CARGO_TARGET_DIR/quick/tollgate" "${@:-serve}"
