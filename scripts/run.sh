#!/usr/bin/env bash
# Builds Tollgate (server and WASM UI, release) and runs it on the embedded
# SQLite default: ./data/tollgate.db, created and migrated on start,
# listening on http://127.0.0.1:3000. Extra arguments go to `tollgate`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

scripts/bootstrap.sh run
# --precompress: .br and .gz beside each file, which the server sends to
# browsers that accept them.
cargo leptos build --release --split --precompress
exec "$CARGO_TARGET_DIR/release/tollgate" "${@:-serve}"
