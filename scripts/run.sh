#!/usr/bin/env bash
# Builds Tollgate (server and WASM UI, release) and runs it on the embedded
# SQLite default: ./data/tollgate.db, created and migrated on start,
# listening on http://127.0.0.1:3000. Extra arguments go to `tollgate`.
#
# By default with plain cargo and wasm-bindgen (scripts/build-site.sh), so
# that a first start does not compile cargo-leptos and wasm-opt; FULL=1
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
else
  scripts/bootstrap.sh quick
  scripts/build-site.sh
fi
exec "$CARGO_TARGET_DIR/release/tollgate" "${@:-serve}"
