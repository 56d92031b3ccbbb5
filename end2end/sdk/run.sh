#!/usr/bin/env bash
# The real clients against a real Tollgate: the official OpenAI and Anthropic
# SDKs for Python (pytest, end2end/.venv) and Node (node --test), Google's
# google-genai SDK for Python, Claude Code, Codex and Gemini CLI; then the
# OpenAPI description (end2end/openapi/). Starts
# `tollgate mock-upstream` and `tollgate serve` (a fresh SQLite data directory, a first admin from the environment) on free 127.0.0.1
# ports, runs both suites against them, and stops both on every exit.
# The binary: $TOLLGATE_BIN, else $CARGO_TARGET_DIR/debug/tollgate.
# Installs nothing: scripts/bootstrap.sh test does (sdk_tools, browser_tools).
set -euo pipefail
cd "$(dirname "$0")/.."   # end2end/

bin=${TOLLGATE_BIN:-${CARGO_TARGET_DIR:?set CARGO_TARGET_DIR or TOLLGATE_BIN}/debug/tollgate}
python=.venv/bin/python
[ -x "$bin" ] || { echo "no tollgate binary at $bin: build it first" >&2; exit 1; }
[ -x "$python" ] || { echo "no $PWD/.venv: run scripts/bootstrap.sh test" >&2; exit 1; }
for cli in claude codex gemini; do
  [ -x "node_modules/.bin/$cli" ] || { echo "no $cli in end2end/node_modules: run scripts/bootstrap.sh test" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-sdk-XXXXXX")
pids=()
stop() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    for log in "$work"/*.log; do echo "--- last lines of $(basename "$log")"; tail -n 40 "$log"; done >&2
  fi
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # url: until it answers, at most 30 s
  for _ in $(seq 300); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "nothing answered at $1 within 30 s" >&2
  return 1
}

mock_port=$(free_port)
port=$(free_port)
export TOLLGATE_URL="http://127.0.0.1:$port"
export TOLLGATE_MOCK_URL="http://127.0.0.1:$mock_port"
export TOLLGATE_ADMIN_EMAIL=admin@example.com
export TOLLGATE_ADMIN_PASSWORD=admin-sdk-password

# In the work directory, so that no tollgate.toml of the clone is read;
# DATABASE_URL and TOLLGATE_CONFIG would point it elsewhere.
(cd "$work" && exec env -u DATABASE_URL -u TOLLGATE_CONFIG RUST_LOG=warn \
  "$bin" mock-upstream --addr "127.0.0.1:$mock_port" >"$work/mock-upstream.log" 2>&1) &
pids+=($!)
(cd "$work" && exec env -u DATABASE_URL -u TOLLGATE_CONFIG RUST_LOG=warn \
  TOLLGATE__DATA_DIR="$work/data" TOLLGATE__SERVER__ADDR="127.0.0.1:$port" \
  TOLLGATE__AUTH__REGISTER_MAX_PER_WINDOW=1000 \
  "$bin" serve >"$work/serve.log" 2>&1) &
pids+=($!)
wait_for "$TOLLGATE_MOCK_URL/health"
wait_for "$TOLLGATE_URL/api/health"

# The SDKs also read settings from the environment (a developer's
# ANTHROPIC_AUTH_TOKEN would be sent along, GOOGLE_GENAI_API_VERSION would
# move google-genai's paths): the tests pass them everything.
for name in $(compgen -e | grep -E '^(OPENAI|ANTHROPIC|GEMINI|GOOGLE)_' || true); do unset "$name"; done

# Bounded: a client that hangs fails the run instead of stalling CI.
PYTHONDONTWRITEBYTECODE=1 timeout 300 "$python" -m pytest -p no:cacheprovider -q sdk
# (The CLIs' temporary homes go under $work, removed even if a run is cut.)
TMPDIR="$work" timeout 300 node --test --test-concurrency=1 --test-timeout=60000 --test-reporter=spec sdk/*.test.mjs
# Last: the OpenAPI description validated, and fuzzed by schemathesis for
# TOLLGATE_FUZZ_SECONDS (90 s), which changes settings the tests above need.
PYTHONDONTWRITEBYTECODE=1 timeout 400 "$python" -m pytest -p no:cacheprovider -q -s openapi
