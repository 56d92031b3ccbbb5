#!/usr/bin/env bash
# Checks the container image as far as a machine without a container
# registry and without a container runtime allows (podman builds with
# chroot isolation; containers cannot run):
#   1. a Debian bookworm base made here with debootstrap, imported into podman;
#   2. the Dockerfile's runtime stage built on it with podman, from the
#      binary and web UI this checkout built (the build stage, which
#      compiles from source in a Rust image, is not run here);
#   3. the image's settings read back: its user, health check, entry point;
#   4. its filesystem exported and its own binary started from it (chroot,
#      as the image's user, with the image's environment): the health check
#      command, /api/health, the web UI's files, and a proxied request
#      through its own mock provider, charged.
# Needs root (debootstrap, chroot), podman and debootstrap
# (scripts/bootstrap.sh test installs them). Everything listens on
# 127.0.0.1 and is removed on exit.
#
#   scripts/image.sh                      # after `cargo leptos build`
#   IMAGE_BIN=… IMAGE_SITE=… scripts/image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

bin="${IMAGE_BIN:-$CARGO_TARGET_DIR/debug/tollgate}"
site="${IMAGE_SITE:-target/site}"
[ -x "$bin" ] && [ -d "$site/pkg" ] \
  || { echo "no build to package: run cargo leptos build first ($bin, $site)" >&2; exit 1; }
cache="${TOLLGATE_CACHE_DIR:-$HOME/.cache/tollgate}"
base_tar="$cache/debian-bookworm-minbase.tar"
tag="localhost/tollgate:check-$$"
base_tag="localhost/tollgate-base:bookworm"
port="${IMAGE_PORT:-39951}"
mock_port="${IMAGE_MOCK_PORT:-39952}"

log() { printf '\033[1;34m[image]\033[0m %s\n' "$*"; }
work=$(mktemp -d /tmp/tollgate-image.XXXXXX)
pids=()
container=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$container" ] && podman rm -f "$container" >/dev/null 2>&1 || true
  podman rmi -f "$tag" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The base: what `debian:bookworm-slim` is, made from Debian's packages.
if [ ! -s "$base_tar" ]; then
  log "debootstrap bookworm (minbase) into $work/base"
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  debootstrap --variant=minbase bookworm "$work/base" "${mirror:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  mkdir -p "$cache"
  tar -C "$work/base" -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
  rm -rf "$work/base"
fi
podman import "$base_tar" "$base_tag" >/dev/null

# 2. The runtime stage, with the build stage's output taken from this
# checkout's build (`--build-context build=`). Docker's image format: OCI's
# has no HEALTHCHECK.
mkdir -p "$work/context/out"
strip -o "$work/context/out/tollgate" "$bin"
cp -r "$site" "$work/context/out/site"
log "podman build --target runtime ($(du -sh "$work/context/out" | cut -f1) of binary and site)"
podman build --isolation=chroot --format docker --target runtime \
  --build-arg RUNTIME_IMAGE="$base_tag" --build-context build="$work/context" \
  -t "$tag" . >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log" >&2; exit 1; }

# 3. What the image says about itself.
inspect() { podman image inspect --format "$1" "$tag"; }
user=$(inspect '{{.Config.User}}')
health=$(inspect '{{join .Config.Healthcheck.Test " "}}')
entry=$(inspect '{{join .Config.Entrypoint " "}} {{join .Config.Cmd " "}}')
size=$(inspect '{{.Size}}')
[ "$user" = "10001:10001" ] || { echo "the image runs as '$user', not 10001:10001" >&2; exit 1; }
[[ "$health" == *"tollgate health"* ]] || { echo "no health check: '$health'" >&2; exit 1; }
[ "$entry" = "/usr/local/bin/tollgate serve" ] || { echo "entry point: '$entry'" >&2; exit 1; }

# 4. Its own filesystem and binary, started as its user with its environment.
container=$(podman create "$tag")
mkdir -p "$work/rootfs"
podman export "$container" | tar -C "$work/rootfs" -xf -
owner=$(stat -c '%u:%g %a' "$work/rootfs/var/lib/tollgate")
[ "$owner" = "10001:10001 700" ] || { echo "the data directory is $owner" >&2; exit 1; }
mapfile -t image_env < <(inspect '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
in_image() { # as the image runs it: its user, its environment, its files
  # exec: in the background, $! is the server itself, not a shell.
  exec env -i "${image_env[@]}" TOLLGATE__SERVER__ADDR="127.0.0.1:$port" \
    TOLLGATE_ADMIN_EMAIL=image@example.com TOLLGATE_ADMIN_PASSWORD=image-password-123 \
    chroot --userspec=10001:10001 "$work/rootfs" /usr/local/bin/tollgate "$@"
}
for busy in "$port" "$mock_port"; do
  ! curl -s -o /dev/null "http://127.0.0.1:$busy/" \
    || { echo "127.0.0.1:$busy is taken: something else would answer" >&2; exit 1; }
done
in_image mock-upstream --addr "127.0.0.1:$mock_port" >"$work/mock.log" 2>&1 &
pids+=($!)
in_image serve >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break
  sleep 0.1
done
kill -0 "${pids[1]}" 2>/dev/null || { tail -20 "$work/serve.log" >&2; exit 1; }
health_said=$(in_image health) || { tail -20 "$work/serve.log" >&2; exit 1; }
api() { curl -sf "http://127.0.0.1:$port$1" -H 'content-type: application/json' "${@:2}"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
[ "$(api /api/health | json '["ok"]')" = True ]
page=$(curl -sf "http://127.0.0.1:$port/login")
[[ "$page" == *"/pkg/tollgate.js"* ]] || { echo "the web UI does not load its bundle" >&2; exit 1; }
# The bundle as the build named it (tollgate.wasm split, tollgate_bg.wasm not).
for file in tollgate.css $(cd "$site/pkg" && ls tollgate.wasm tollgate_bg.wasm 2>/dev/null); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/pkg/$file" || { echo "/pkg/$file is not served" >&2; exit 1; }
done
token=$(api /api/auth/login -d '{"email":"image@example.com","password":"image-password-123"}' | json '["token"]')
auth=(-H "authorization: Bearer $token")
provider=$(api /api/admin/providers "${auth[@]}" -d "{\"name\":\"mock over http\",\"kind\":\"openai\",\"base_url\":\"http://127.0.0.1:$mock_port/v1\",\"api_keys\":[\"sk-image\"]}" | json '["provider"]["id"]')
api /api/admin/models "${auth[@]}" -d "{\"public_name\":\"image-gpt\",\"provider_id\":\"$provider\",\"upstream_model\":\"image\",\"input_price\":2500000,\"output_price\":10000000}" >/dev/null
me=$(api /api/users/me "${auth[@]}" | json '["user"]["id"]')
api /api/admin/credits/grant "${auth[@]}" -d "{\"user_id\":\"$me\",\"amount\":\"10\",\"reason\":\"image check\"}" >/dev/null
key=$(api /api/keys "${auth[@]}" -d '{"name":"image"}' | json '["secret"]')
answer=$(api /v1/chat/completions -H "authorization: Bearer $key" \
  -d '{"model":"image-gpt","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}')
content=$(json '["choices"][0]["message"]["content"]' <<<"$answer")
[ -n "$content" ] || { echo "no answer: $answer" >&2; exit 1; }
sleep 1 # the usage writer's batch
balance=$(api /api/users/me/credits "${auth[@]}" | json '["balance_micro_credits"]')
[ "$balance" -lt 10000000 ] || { echo "the request was not charged ($balance µc)" >&2; exit 1; }
[ -s "$work/rootfs/var/lib/tollgate/tollgate.db" ] \
  || { echo "no database in the image's data directory" >&2; exit 1; }

log "image $tag: $((size / 1000000)) MB, user $user, HEALTHCHECK '$health', entry '$entry'"
log "from its exported filesystem: '$health_said', /api/health ok, web UI bundle served, a proxied request answered ('$content') and charged ($((10000000 - balance)) µc), data in /var/lib/tollgate"
