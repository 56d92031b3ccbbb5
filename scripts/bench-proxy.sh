#!/usr/bin/env bash
# The proxy benchmark. Starts the mock upstream and Tollgate (release build,
# fresh SQLite database), pins Tollgate to core 0 and the mock and the load
# generator (oha) to core 1, then drives every endpoint, JSON and SSE (the
# Responses API both passed through and translated through chat):
#   - at saturation, directly against the mock and through Tollgate;
#   - at a fixed rate with latency correction, directly and through Tollgate;
# and prints requests/s, p50/p99, the latency Tollgate adds, Tollgate's peak
# RSS and the usage rows it wrote. Then the cost of durable usage: the JSON
# and SSE cases again with the usage spool off (`usage.spool = false`) and
# on (the default), back to back in the same run. Last, the cost of shared
# state: the same cases with balances, holds and rate limits in memory and
# in Redis (Debian's redis-server on the load core), with the Redis round
# trips each request took. Each endpoint gets a Tollgate of its own on
# a fresh database, so no case runs on the rows an earlier one wrote (a
# growing database slows later cases, which made the translated rows, run
# last, look slower than they are). Everything listens on 127.0.0.1 and is
# stopped on exit.
#
#   scripts/bench-proxy.sh            # 10 s per run, 2,000 requests/s fixed
#   ONLY="responses json,resp-chat json" SECTIONS=cases scripts/bench-proxy.sh
#   DURATION=30s RATE=2000 CONNECTIONS=64 scripts/bench-proxy.sh
#   BASELINE_BIN=/tmp/tollgate-old SECTIONS=baseline scripts/bench-proxy.sh
#     (the openai cases through an earlier build and this one, alternating,
#     in the same run: before and after a change; with the shared section,
#     the earlier build in Redis too, for its round trips)
#   PERF_OUT=/tmp/tollgate.perf scripts/bench-proxy.sh   # also profile Tollgate
#     (perf record, during each "Tollgate, saturation" run; read it with
#     `perf report -i /tmp/tollgate.perf.<case>`)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

DURATION="${DURATION:-10s}"
RATE="${RATE:-2000}"
CONNECTIONS="${CONNECTIONS:-64}"
MOCK_PORT="${MOCK_PORT:-39901}"
GATE_PORT="${GATE_PORT:-39902}"
GATE_CORE="${GATE_CORE:-0}"
LOAD_CORE="${LOAD_CORE:-1}"

if ! command -v oha >/dev/null; then
  echo "installing oha (the load generator) from crates.io"
  cargo install oha --locked
fi
echo "building tollgate (release)"
cargo build --release --bin tollgate
BIN="$CARGO_TARGET_DIR/release/tollgate"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

taskset -c "$LOAD_CORE" "$BIN" mock-upstream --addr "127.0.0.1:$MOCK_PORT" \
  >"$WORK/mock.log" 2>&1 &
PIDS+=($!)
# Starts Tollgate on a fresh database ($WORK/data-<n>) and sets it up
# through the admin API: an OpenAI-kind and an Anthropic-kind provider on
# the mock, a model each, credits and a key (in $KEY). The admin's plan (pro)
# gets limits the load never reaches, so every request still goes through
# the rate-limit windows.
api() { curl -sf "http://127.0.0.1:$GATE_PORT$1" -H 'content-type: application/json' "${@:2}"; }
json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
GATES=0
start_gate() {
  GATES=$((GATES + 1))
  DATA="$WORK/data-$GATES"
  # `env`: REDIS_URL only when the case shares its state in Redis.
  env ${GATE_REDIS:+REDIS_URL="$GATE_REDIS"} TOLLGATE__REDIS__PREFIX="bench$GATES:" \
    RUST_LOG=warn TOLLGATE__DATA_DIR="$DATA" TOLLGATE__SERVER__ADDR="127.0.0.1:$GATE_PORT" \
    TOLLGATE__USAGE__SPOOL="${SPOOL:-true}" \
    TOLLGATE__RATE_LIMITS__PRO__REQUESTS_PER_MINUTE=1000000000 \
    TOLLGATE__RATE_LIMITS__PRO__TOKENS_PER_MINUTE=4000000000 \
    TOLLGATE_ADMIN_EMAIL=bench@example.com TOLLGATE_ADMIN_PASSWORD=bench-password-123 \
    taskset -c "$GATE_CORE" "${GATE_BIN:-$BIN}" serve >"$WORK/tollgate-$GATES.log" 2>&1 &
  GATE_PID=$!
  PIDS+=("$GATE_PID")
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$GATE_PORT/api/health" >/dev/null \
      && curl -sf "http://127.0.0.1:$MOCK_PORT/health" >/dev/null && break
    sleep 0.1
  done
  local token openai anthropic responses me
  token=$(api /api/auth/login -d '{"email":"bench@example.com","password":"bench-password-123"}' | json '["token"]')
  local auth=(-H "authorization: Bearer $token")
  openai=$(api /api/admin/providers "${auth[@]}" -d "{\"name\":\"openai\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:$MOCK_PORT/v1\",\"api_keys\":[\"sk-bench\"]}" | json '["provider"]["id"]')
  anthropic=$(api /api/admin/providers "${auth[@]}" -d "{\"name\":\"anthropic\",\"kind\":\"anthropic\",\"base_url\":\"http://127.0.0.1:$MOCK_PORT\",\"api_keys\":[\"sk-ant-bench\"]}" | json '["provider"]["id"]')
  responses=$(api /api/admin/providers "${auth[@]}" -d "{\"name\":\"responses\",\"kind\":\"openai_responses\",\"base_url\":\"http://127.0.0.1:$MOCK_PORT/v1\",\"api_keys\":[\"sk-bench\"]}" | json '["provider"]["id"]')
  api /api/admin/models "${auth[@]}" -d "{\"public_name\":\"bench-gpt\",\"provider_id\":\"$openai\",\"upstream_model\":\"bench\",\"input_price\":2500000,\"output_price\":10000000}" >/dev/null
  api /api/admin/models "${auth[@]}" -d "{\"public_name\":\"bench-codex\",\"provider_id\":\"$responses\",\"upstream_model\":\"bench\",\"input_price\":2500000,\"output_price\":10000000}" >/dev/null
  api /api/admin/models "${auth[@]}" -d "{\"public_name\":\"bench-claude\",\"provider_id\":\"$anthropic\",\"upstream_model\":\"bench\",\"input_price\":3000000,\"output_price\":15000000}" >/dev/null
  me=$(api /api/users/me "${auth[@]}" | json '["user"]["id"]')
  api /api/admin/credits/grant "${auth[@]}" -d "{\"user_id\":\"$me\",\"amount\":\"1000000\",\"reason\":\"benchmark\"}" >/dev/null
  KEY=$(api /api/keys "${auth[@]}" -d '{"name":"bench"}' | json '["secret"]')
}

# Stops this case's Tollgate, adding its peak RSS and usage rows to the totals.
PEAK_RSS_KB=0
ROWS=0
stop_gate() {
  local rss
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$GATE_PID/status")
  (( rss > PEAK_RSS_KB )) && PEAK_RSS_KB=$rss
  sleep 0.5 # let the usage writer's last batch land
  kill "$GATE_PID"
  wait "$GATE_PID" 2>/dev/null || true
  ROWS=$((ROWS + $(python3 - "$DATA/tollgate.db" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select count(*) from usage_records").fetchone()[0])
PY
)))
}

MESSAGES='"messages":[{"role":"user","content":"Write one short sentence about toll roads."}]'
OPENAI_JSON="{\"model\":\"bench-gpt\",$MESSAGES}"
OPENAI_SSE="{\"model\":\"bench-gpt\",\"stream\":true,$MESSAGES}"
ANTHROPIC_JSON="{\"model\":\"bench-claude\",\"max_tokens\":64,$MESSAGES}"
ANTHROPIC_SSE="{\"model\":\"bench-claude\",\"max_tokens\":64,\"stream\":true,$MESSAGES}"
# Anthropic clients of the OpenAI-compatible model: translated both ways.
# Their direct baseline is the OpenAI request Tollgate sends the mock.
TRANSLATED_JSON="{\"model\":\"bench-gpt\",\"max_tokens\":64,$MESSAGES}"
TRANSLATED_SSE="{\"model\":\"bench-gpt\",\"max_tokens\":64,\"stream\":true,$MESSAGES}"
# Responses clients (Codex): of a provider that speaks Responses (passed
# through), and of the OpenAI-compatible model (translated through chat);
# the latter's direct baseline is the chat request Tollgate sends the mock.
INPUT='"input":"Write one short sentence about toll roads."'
RESPONSES_JSON="{\"model\":\"bench-codex\",$INPUT}"
RESPONSES_SSE="{\"model\":\"bench-codex\",\"stream\":true,$INPUT}"
RESP_CHAT_JSON="{\"model\":\"bench-gpt\",$INPUT}"
RESP_CHAT_SSE="{\"model\":\"bench-gpt\",\"stream\":true,$INPUT}"
# The mock is called with its own model name, as Tollgate calls it.
direct() { printf '%s' "$1" | sed 's/"bench-gpt"/"bench"/; s/"bench-claude"/"bench"/; s/"bench-codex"/"bench"/'; }

# oha [extra args] <url> <body> <auth header>: prints "rps p50_ms p99_ms ok/total"
run() {
  local url="$1" body="$2" header="$3"; shift 3
  taskset -c "$LOAD_CORE" oha --no-tui --output-format json -z "$DURATION" \
    -m POST -H 'content-type: application/json' -H "$header" -d "$body" "$@" "$url" \
    | python3 -c '
import sys, json
r = json.load(sys.stdin)
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
ok = codes.get("200", 0)
total = sum(codes.values())
print("%.0f %.3f %.3f %d/%d" % (s["requestsPerSec"], p["p50"] * 1000, p["p99"] * 1000, ok, total))'
}

PERF_PID=""
wait_perf() { if [ -n "$PERF_PID" ]; then wait "$PERF_PID" || true; PERF_PID=""; fi; }

declare -A RESULT
CASES=("openai json" "openai sse" "anthropic json" "anthropic sse" "translated json" "translated sse"
  "responses json" "responses sse" "resp-chat json" "resp-chat sse")
# ONLY="responses json,resp-chat json" runs those cases alone;
# SECTIONS="cases" skips the durability and shared-state sections.
if [ -n "${ONLY:-}" ]; then IFS=, read -r -a CASES <<<"$ONLY"; fi
SECTIONS="${SECTIONS:-cases durability shared}"
[[ " $SECTIONS " == *" cases "* ]] || CASES=()
for case in "${CASES[@]}"; do
  case "$case" in
    "openai json") body="$OPENAI_JSON"; path=/v1/chat/completions; direct_path=/v1/chat/completions; mh="authorization: Bearer sk-bench" ;;
    "openai sse") body="$OPENAI_SSE"; path=/v1/chat/completions; direct_path=/v1/chat/completions; mh="authorization: Bearer sk-bench" ;;
    "anthropic json") body="$ANTHROPIC_JSON"; path=/v1/messages; direct_path=/v1/messages; mh="x-api-key: sk-ant-bench" ;;
    "anthropic sse") body="$ANTHROPIC_SSE"; path=/v1/messages; direct_path=/v1/messages; mh="x-api-key: sk-ant-bench" ;;
    "translated json") body="$TRANSLATED_JSON"; path=/v1/messages; direct_path=/v1/chat/completions; mh="authorization: Bearer sk-bench" ;;
    "translated sse") body="$TRANSLATED_SSE"; path=/v1/messages; direct_path=/v1/chat/completions; mh="authorization: Bearer sk-bench" ;;
    "responses json") body="$RESPONSES_JSON"; path=/v1/responses; direct_path=/v1/responses; mh="authorization: Bearer sk-bench" ;;
    "responses sse") body="$RESPONSES_SSE"; path=/v1/responses; direct_path=/v1/responses; mh="authorization: Bearer sk-bench" ;;
    "resp-chat json") body="$RESP_CHAT_JSON"; path=/v1/responses; direct_path=/v1/chat/completions; mh="authorization: Bearer sk-bench" ;;
    "resp-chat sse") body="$RESP_CHAT_SSE"; path=/v1/responses; direct_path=/v1/chat/completions; mh="authorization: Bearer sk-bench" ;;
  esac
  direct_body=$(direct "$body")
  case "$case" in
    "resp-chat json") direct_body=$(direct "$OPENAI_JSON") ;;
    "resp-chat sse") direct_body=$(direct "$OPENAI_SSE" | sed 's/"stream":true/"stream":true,"stream_options":{"include_usage":true}/') ;;
  esac
  if [ "${case%% *}" = translated ]; then
    # The same body is a valid OpenAI request; Tollgate adds include_usage.
    direct_body=$(direct "$body" | sed 's/"stream":true/"stream":true,"stream_options":{"include_usage":true}/')
  fi
  echo "running: $case"
  start_gate
  RESULT["$case/mock/max"]=$(run "http://127.0.0.1:$MOCK_PORT$direct_path" "$direct_body" "$mh" -c "$CONNECTIONS")
  if [ -n "${PERF_OUT:-}" ]; then
    perf record -F 499 --call-graph "${PERF_CALLGRAPH:-fp}" -p "$GATE_PID" -o "$PERF_OUT.${case// /-}" -- sleep "${DURATION%s}" >/dev/null 2>&1 &
    PERF_PID=$!
  fi
  RESULT["$case/gate/max"]=$(run "http://127.0.0.1:$GATE_PORT$path" "$body" "authorization: Bearer $KEY" -c "$CONNECTIONS")
  wait_perf
  RESULT["$case/mock/rate"]=$(run "http://127.0.0.1:$MOCK_PORT$direct_path" "$direct_body" "$mh" -c "$CONNECTIONS" -q "$RATE" --latency-correction)
  RESULT["$case/gate/rate"]=$(run "http://127.0.0.1:$GATE_PORT$path" "$body" "authorization: Bearer $KEY" -c "$CONNECTIONS" -q "$RATE" --latency-correction)
  stop_gate
done

echo
echo "Tollgate on core $GATE_CORE; mock upstream and oha on core $LOAD_CORE; $DURATION per run, $CONNECTIONS connections"
printf '%-15s %-22s %10s %9s %9s %12s\n' "endpoint" "run" "req/s" "p50 ms" "p99 ms" "200s/total"
for case in "${CASES[@]}"; do
  for run in "mock/max:direct, saturation" "gate/max:Tollgate, saturation" "mock/rate:direct, $RATE/s" "gate/rate:Tollgate, $RATE/s"; do
    key="${run%%:*}"; label="${run#*:}"
    read -r rps p50 p99 ok <<<"${RESULT["$case/$key"]}"
    printf '%-15s %-22s %10s %9s %9s %12s\n' "$case" "$label" "$rps" "$p50" "$p99" "$ok"
  done
  read -r _ _ direct_p99 _ <<<"${RESULT["$case/mock/rate"]}"
  read -r _ _ gate_p99 _ <<<"${RESULT["$case/gate/rate"]}"
  read -r _ direct_p50 _ _ <<<"${RESULT["$case/mock/rate"]}"
  read -r _ gate_p50 _ _ <<<"${RESULT["$case/gate/rate"]}"
  awk -v c="$case" -v r="$RATE" -v a="$gate_p50" -v b="$direct_p50" -v x="$gate_p99" -v y="$direct_p99" \
    'BEGIN { printf "%-15s added by Tollgate at %s/s: p50 %+.3f ms, p99 %+.3f ms\n", c, r, a - b, x - y }'
done
# Translation against pass-through: the same run, each on a fresh database.
ratio() {
  [ -n "${RESULT["$1/gate/max"]:-}" ] && [ -n "${RESULT["$2/gate/max"]:-}" ] || return 0
  read -r a _ <<<"${RESULT["$1/gate/max"]}"
  read -r b _ <<<"${RESULT["$2/gate/max"]}"
  awk -v x="$1" -v y="$2" -v a="$a" -v b="$b" 'BEGIN { printf "%-15s at saturation: %.0f%% of %s\n", x, 100 * a / b, y }'
}
ratio "translated json" "anthropic json"
ratio "translated json" "openai json"
ratio "translated sse" "anthropic sse"
ratio "translated sse" "openai sse"
ratio "resp-chat json" "responses json"
ratio "resp-chat json" "openai json"
ratio "resp-chat sse" "responses sse"
ratio "resp-chat sse" "openai sse"
echo "Tollgate peak RSS (the largest of the cases): $((PEAK_RSS_KB / 1024)) MB"
echo "usage rows written (all cases): $ROWS"

if [[ " $SECTIONS " == *" durability "* ]]; then
# The cost of durability: each usage row fsync'd to the spool before its
# answer completes, against rows held in memory until the database has them.
DURABILITY_CASES=("openai json" "openai sse")
for case in "${DURABILITY_CASES[@]}"; do
  case "$case" in
    "openai json") body="$OPENAI_JSON" ;;
    "openai sse") body="$OPENAI_SSE" ;;
  esac
  for spool in false true; do
    echo "running: $case, usage spool $spool"
    SPOOL=$spool start_gate
    RESULT["$case/spool-$spool/max"]=$(run "http://127.0.0.1:$GATE_PORT/v1/chat/completions" "$body" "authorization: Bearer $KEY" -c "$CONNECTIONS")
    RESULT["$case/spool-$spool/rate"]=$(run "http://127.0.0.1:$GATE_PORT/v1/chat/completions" "$body" "authorization: Bearer $KEY" -c "$CONNECTIONS" -q "$RATE" --latency-correction)
    stop_gate
  done
done
echo
echo "durable usage: the same Tollgate with the usage spool off and on"
printf '%-15s %-28s %10s %9s %9s %12s\n' "endpoint" "run" "req/s" "p50 ms" "p99 ms" "200s/total"
for case in "${DURABILITY_CASES[@]}"; do
  for spool in false true; do
    for run in "max:saturation" "rate:$RATE/s"; do
      read -r rps p50 p99 ok <<<"${RESULT["$case/spool-$spool/${run%%:*}"]}"
      printf '%-15s %-28s %10s %9s %9s %12s\n' "$case" "spool $spool, ${run#*:}" "$rps" "$p50" "$p99" "$ok"
    done
  done
done

fi

if [[ " $SECTIONS " == *" shared "* ]]; then
# The cost of shared state: the same Tollgate with balances, holds, quotas
# and rate-limit windows in memory (one instance), then in Redis (as when
# several instances share them). Redis runs on the load core.
REDIS_PORT="${REDIS_PORT:-39903}"
taskset -c "$LOAD_CORE" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
# Scripts Redis ran: each is one round trip (a batch of settled requests is one).
evalsha() { redis-cli -p "$REDIS_PORT" info commandstats | awk -F'[=,:]' '/^cmdstat_evalsha:/ {print $3}'; }
SHARED_CASES=("openai json" "openai sse")
# With BASELINE_BIN, the earlier build in Redis too: its round trips beside this one's.
SHARED_MODES="memory redis"; [ -x "${BASELINE_BIN:-}" ] && SHARED_MODES="memory redis baseline-redis"
for case in "${SHARED_CASES[@]}"; do
  case "$case" in
    "openai json") body="$OPENAI_JSON" ;;
    "openai sse") body="$OPENAI_SSE" ;;
  esac
  for mode in $SHARED_MODES; do
    echo "running: $case, state in $mode"
    case "$mode" in
      redis) GATE_REDIS="redis://127.0.0.1:$REDIS_PORT" start_gate ;;
      baseline-redis) GATE_BIN="$BASELINE_BIN" GATE_REDIS="redis://127.0.0.1:$REDIS_PORT" start_gate ;;
      *) start_gate ;;
    esac
    scripts_before=$(evalsha); scripts_before=${scripts_before:-0}
    RESULT["$case/$mode/max"]=$(run "http://127.0.0.1:$GATE_PORT/v1/chat/completions" "$body" "authorization: Bearer $KEY" -c "$CONNECTIONS")
    RESULT["$case/$mode/rate"]=$(run "http://127.0.0.1:$GATE_PORT/v1/chat/completions" "$body" "authorization: Bearer $KEY" -c "$CONNECTIONS" -q "$RATE" --latency-correction)
    sleep 0.5 # the last settled requests reach Redis
    scripts_after=$(evalsha); scripts_after=${scripts_after:-0}
    read -r _ _ _ ok_max <<<"${RESULT["$case/$mode/max"]}"
    read -r _ _ _ ok_rate <<<"${RESULT["$case/$mode/rate"]}"
    RESULT["$case/$mode/trips"]=$(awk -v d="$((scripts_after - scripts_before))" -v a="${ok_max%/*}" -v b="${ok_rate%/*}" \
      'BEGIN { if (a + b > 0) printf "%.2f", d / (a + b); else print "-" }')
    stop_gate
  done
done
echo
echo "shared state: balances, holds and rate limits in memory, then in Redis"
printf '%-15s %-24s %10s %9s %9s %12s %14s\n' "endpoint" "run" "req/s" "p50 ms" "p99 ms" "200s/total" "scripts/req"
for case in "${SHARED_CASES[@]}"; do
  for mode in $SHARED_MODES; do
    for run in "max:saturation" "rate:$RATE/s"; do
      read -r rps p50 p99 ok <<<"${RESULT["$case/$mode/${run%%:*}"]}"
      trips="-"; [ "$mode" != memory ] && trips="${RESULT["$case/$mode/trips"]}"
      printf '%-15s %-24s %10s %9s %9s %12s %14s\n' "$case" "$mode, ${run#*:}" "$rps" "$p50" "$p99" "$ok" "$trips"
    done
  done
  read -r a _ <<<"${RESULT["$case/redis/max"]}"
  read -r b _ <<<"${RESULT["$case/memory/max"]}"
  awk -v c="$case" -v a="$a" -v b="$b" 'BEGIN { printf "%-15s Redis at saturation: %.0f%% of in memory\n", c, 100 * a / b }'
done
fi

if [[ " $SECTIONS " == *" baseline "* ]]; then
# Before and after: the same cases through an earlier build (BASELINE_BIN)
# and this one, twice each in the order A B B A, so that drift of the
# machine and the position in a round hit both alike.
[ -x "${BASELINE_BIN:-}" ] || { echo "SECTIONS=baseline needs BASELINE_BIN, an earlier tollgate binary" >&2; exit 1; }
BASELINE_CASES=("openai json" "openai sse")
for case in "${BASELINE_CASES[@]}"; do
  case "$case" in
    "openai json") body="$OPENAI_JSON" ;;
    "openai sse") body="$OPENAI_SSE" ;;
  esac
  for round in 1 2; do
    # ABBA: the build that runs second in a round runs first in the next.
    order="baseline current"; [ "$round" = 2 ] && order="current baseline"
    for build in $order; do
      echo "running: $case, $build build, round $round"
      if [ "$build" = baseline ]; then GATE_BIN="$BASELINE_BIN" start_gate; else start_gate; fi
      RESULT["$case/$build/$round/max"]=$(run "http://127.0.0.1:$GATE_PORT/v1/chat/completions" "$body" "authorization: Bearer $KEY" -c "$CONNECTIONS")
      RESULT["$case/$build/$round/rate"]=$(run "http://127.0.0.1:$GATE_PORT/v1/chat/completions" "$body" "authorization: Bearer $KEY" -c "$CONNECTIONS" -q "$RATE" --latency-correction)
      stop_gate
    done
  done
done
echo
echo "before and after: $BASELINE_BIN (baseline) against $BIN (current), alternating"
printf '%-15s %-30s %10s %9s %9s %12s\n' "endpoint" "run" "req/s" "p50 ms" "p99 ms" "200s/total"
for case in "${BASELINE_CASES[@]}"; do
  for round in 1 2; do
    for build in baseline current; do
      for run in "max:saturation" "rate:$RATE/s"; do
        read -r rps p50 p99 ok <<<"${RESULT["$case/$build/$round/${run%%:*}"]}"
        printf '%-15s %-30s %10s %9s %9s %12s\n' "$case" "$build $round, ${run#*:}" "$rps" "$p50" "$p99" "$ok"
      done
    done
  done
  awk -v c="$case" \
    -v b1="$(cut -d' ' -f1 <<<"${RESULT["$case/baseline/1/max"]}")" -v b2="$(cut -d' ' -f1 <<<"${RESULT["$case/baseline/2/max"]}")" \
    -v c1="$(cut -d' ' -f1 <<<"${RESULT["$case/current/1/max"]}")" -v c2="$(cut -d' ' -f1 <<<"${RESULT["$case/current/2/max"]}")" \
    'BEGIN { printf "%-15s current at saturation: %.0f%% of baseline (mean of two rounds each)\n", c, 100 * (c1 + c2) / (b1 + b2) }'
done
fi
