#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server on 127.0.0.1, then stops
# it and deletes its files. The command sees TOLLGATE_TEST_POSTGRES_URL, an
# admin URL on which tests create one database each.
#   scripts/with-postgres.sh cargo test -p server
set -euo pipefail

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pg_bin" ] || { echo "PostgreSQL is not installed (scripts/bootstrap.sh test installs it)" >&2; exit 1; }
port="${TOLLGATE_TEST_POSTGRES_PORT:-55432}"
dir=$(mktemp -d /tmp/tollgate-pg.XXXXXX)

# PostgreSQL refuses to run as root: use its own system user there.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = 0 ] && chown postgres "$dir"

stop() {
  as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U tollgate --no-sync >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
  -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=300" start >/dev/null

export TOLLGATE_TEST_POSTGRES_URL="postgres://tollgate@127.0.0.1:$port/postgres"
"$@"
