#!/usr/bin/env bash
# Runs a command with a throwaway Redis server on 127.0.0.1 (nothing written
# to disk), then stops it and deletes its files. The command sees
# TOLLGATE_TEST_REDIS_URL. Composes with scripts/with-postgres.sh:
#   scripts/with-postgres.sh scripts/with-redis.sh cargo test --test cluster
set -euo pipefail

command -v redis-server >/dev/null \
  || { echo "redis-server is not installed (scripts/bootstrap.sh test installs it)" >&2; exit 1; }
port="${TOLLGATE_TEST_REDIS_PORT:-56379}"
dir=$(mktemp -d /tmp/tollgate-redis.XXXXXX)
pid=

stop() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap stop EXIT

# A child of this script, not a daemon, so that `stop` can wait for it.
redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
  --logfile "$dir/server.log" &
pid=$!
# Ours answers with its own process id (not another server on the port).
ours() { redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:$pid"; }
for _ in $(seq 100); do
  ours && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
ours || { echo "redis-server did not start on port $port:" >&2; cat "$dir/server.log" >&2; exit 1; }

export TOLLGATE_TEST_REDIS_URL="redis://127.0.0.1:$port"
"$@"
