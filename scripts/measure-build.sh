#!/usr/bin/env bash
# Measures what a developer waits for: cold and warm builds (debug and
# release) in a scratch target directory, and the size of the WASM bundle,
# raw and gzipped. Prints a Markdown table; docs/build.md records its output.
# Crates must already be downloaded (`cargo fetch`); run on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh run >/dev/null

# Build the committed tree in a scratch clone, so edits in progress neither
# break the measurement nor get touched by it.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git clone --quiet . "$scratch/src"
cd "$scratch/src"
export CARGO_TARGET_DIR="$scratch/target"
export PATH="$HOME/.cargo/bin:$PATH"

seconds() { # command... → wall-clock seconds, one decimal
  local start end
  start=$(date +%s.%N)
  "$@" >"$scratch/build.log" 2>&1 || { cat "$scratch/build.log" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }'
}
touch_app() { touch app/src/pages/dashboard.rs; }

cold_debug=$(seconds cargo leptos build --split)
touch_app
warm_debug=$(seconds cargo leptos build --split)
cold_release=$(seconds cargo leptos build --release --split)
wasm=target/site/pkg/tollgate.wasm
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
touch_app
warm_release=$(seconds cargo leptos build --release --split)

echo "| build | seconds |"
echo "| --- | --- |"
echo "| cold debug (\`cargo leptos build\`) | $cold_debug |"
echo "| warm debug, after an edit in \`app\` | $warm_debug |"
echo "| cold release (\`cargo leptos build --release\`) | $cold_release |"
echo "| warm release, after an edit in \`app\` | $warm_release |"
echo
echo "Release WASM bundle (\`$wasm\`): $raw bytes raw, $gz bytes gzipped (gzip -9)."
echo "Machine: $(nproc) cores, $(rustc --version)."
