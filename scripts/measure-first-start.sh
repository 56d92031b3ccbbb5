#!/usr/bin/env bash
# A newcomer's first start, timed: a fresh clone of this repository's HEAD,
# on a machine with Rust (rustup, the toolchain) but none of the tools and
# none of the crates: an empty home, so cargo's registry, installed tools
# and the target directory start empty, then the README's first command
# until the server says "listening". Prints the time of each phase and the
# total; docs/build.md records it. Downloads crates from crates.io.
#
#   scripts/measure-first-start.sh            # scripts/run.sh as it is
#   FULL=1 scripts/measure-first-start.sh     # the cargo-leptos build
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
rustup_bin=$(command -v rustup)
scratch=$(mktemp -d /tmp/tollgate-first-start.XXXXXX)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  # KEEP=1: the clone and its build stay, for a browser test of the site.
  if [ -n "${KEEP:-}" ]; then echo "kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

home=$scratch/home
mkdir -p "$home/.cargo/bin"
# Only rustup's proxies: no cargo-leptos, wasm-bindgen or wasm-opt.
for tool in rustup cargo rustc; do ln -s "$rustup_bin" "$home/.cargo/bin/$tool"; done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

started=$SECONDS
git clone --quiet "$repo" "$scratch/tollgate"
cd "$scratch/tollgate"
log=$scratch/run.log
env -i HOME="$home" RUSTUP_HOME="$rustup_home" PATH="$home/.cargo/bin:/usr/local/bin:/usr/bin:/bin" \
  FULL="${FULL:-}" TOLLGATE__SERVER__ADDR="127.0.0.1:$port" TOLLGATE__DATA_DIR="$scratch/data" \
  scripts/run.sh >"$log" 2>&1 &
server=$!
mark() { printf '%-40s %5d s\n' "$1" $((SECONDS - started)); }
seen=""
while kill -0 "$server" 2>/dev/null; do
  for phase in "cargo install" "Compiling" "listening"; do
    if [[ "$seen" != *"$phase"* ]] && grep -q "$phase" "$log"; then
      seen="$seen|$phase"
      mark "first \"$phase\""
    fi
  done
  if grep -q "listening on" "$log"; then
    break
  fi
  sleep 1
done
if ! grep -q "listening on" "$log"; then
  tail -40 "$log" >&2
  echo "the server did not start" >&2
  exit 1
fi
mark "listening (total)"
# The UI is served hydrated: its script and bundle are there.
page=$(curl -sf "http://127.0.0.1:$port/login")
for file in $(grep -o '/pkg/[a-z_]*\.\(js\|wasm\)' <<<"$page" | sort -u); do
  curl -sfo /dev/null "http://127.0.0.1:$port$file" && echo "served $file"
done
