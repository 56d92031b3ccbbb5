#!/usr/bin/env bash
# Every check Tollgate has: formatting, clippy (server and WASM), unit and
# integration tests, the WASM build, the browser tests in Chromium, and the
# official SDKs and Claude Code against a real server.
# Installs what it needs first (scripts/bootstrap.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '\n\033[1;32m==> %s\033[0m\n' "$*"; }
started=$SECONDS

step "bootstrap"
scripts/bootstrap.sh test

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (server side, all targets)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "no import cycle among the server's modules (cargo modules)"
scripts/module-cycles.sh

step "the WASM bundle compiles no server-only crate"
server_only=$(cargo tree -p frontend --target wasm32-unknown-unknown --features hydrate -e normal --prefix none --locked \
  | awk '{print $1}' | sort -u | grep -xE 'sea-orm|sqlx|tokio|reqwest|axum|hyper|argon2|server' || true)
if [ -n "$server_only" ]; then
  echo "server-only crates in the WASM build: $server_only" >&2
  exit 1
fi

step "cargo clippy (WASM side)"
cargo clippy -p frontend --lib --target wasm32-unknown-unknown --features hydrate --locked -- -D warnings

step "cargo test (unit and integration, SQLite)"
cargo test --workspace --locked

step "API integration tests again, on a real PostgreSQL server"
scripts/with-postgres.sh cargo test -p server --test api --locked

step "API integration tests again, on PostgreSQL with shared state in a real Redis server"
scripts/with-postgres.sh scripts/with-redis.sh cargo test -p server --test api --locked

step "cargo leptos build --split (server + WASM bundle, a chunk per lazy page)"
cargo leptos build --split

if command -v trunk >/dev/null; then
  step "trunk build (the UI loop of docs/development.md still builds)"
  trunk build
else
  step "trunk build skipped: trunk is not installed (scripts/bootstrap.sh trunk)"
fi

step "the container image: built with podman on a local Debian base, its own binary started from its filesystem"
scripts/image.sh

step "browser tests (Playwright + Debian Chromium)"
(cd end2end && TOLLGATE_BIN="$CARGO_TARGET_DIR/debug/tollgate" npx playwright test)

step "official SDKs (Python, Node) and Claude Code against a real server"
TOLLGATE_BIN="$CARGO_TARGET_DIR/debug/tollgate" end2end/sdk/run.sh

# Last: it rebuilds target/site in release, which the steps above serve.
step "the release WASM: no page's first visit (gzip) over 5 % above the baseline"
CHECK=1 scripts/wasm-size.sh

step "all checks passed in $((SECONDS - started)) s"
