#!/usr/bin/env bash
# The WASM a browser downloads, release build (`wasm-opt -Oz`), split into
# the shared bundle and one chunk per lazy page (`app/src/pages/lazy.rs`)
# plus the small chunks a page pulls in (`__wasm_split_manifest.json`).
# Prints a Markdown table of sizes, raw and gzipped (gzip -9), and for each
# page what its first visit downloads in all: the shared bundle, the page
# and its small chunks. docs/build.md records the output.
#
#   scripts/wasm-size.sh            # builds the front end, then measures
#   NO_BUILD=1 scripts/wasm-size.sh # measures target/site/pkg as it is
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

if [[ -z "${NO_BUILD:-}" ]]; then
  scripts/bootstrap.sh run >/dev/null
  log=$(mktemp)
  cargo leptos build --release --split --frontend-only >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  rm -f "$log"
fi

python3 - target/site/pkg <<'PY'
import glob, gzip, json, os, re, sys

pkg = sys.argv[1]
def raw(name): return os.path.getsize(os.path.join(pkg, name))
def gz(name):
    with open(os.path.join(pkg, name), "rb") as f:
        return len(gzip.compress(f.read(), 9))

shared = gz("tollgate.wasm")
manifest = json.load(open(os.path.join(pkg, "__wasm_split_manifest.json")))
print("| file | raw bytes | gzipped bytes | first visit, gzipped |")
print("| --- | ---: | ---: | ---: |")
print(f"| shared bundle (`tollgate.wasm`) | {raw('tollgate.wasm'):,} | {shared:,} | |")
print(f"| JS glue (`tollgate.js`) | {raw('tollgate.js'):,} | {gz('tollgate.js'):,} | |")
heaviest = (0, "")
for path in sorted(glob.glob(os.path.join(pkg, "split___*_route_view_*.wasm"))):
    name = os.path.basename(path)
    module = re.sub(r"^split_(.*)\.wasm$", r"\1", name)
    page = re.sub(r"^__(.*)_route_view_.*$", r"\1", module)
    chunks = manifest.get(module, [])
    visit = shared + gz(name) + sum(gz(f"{chunk}.wasm") for chunk in chunks)
    heaviest = max(heaviest, (visit, page))
    print(f"| page `{page}` (+{len(chunks)} small chunks) | {raw(name):,} | {gz(name):,} | {visit:,} |")
print()
print(f"Heaviest first visit: `{heaviest[1]}`, {heaviest[0]:,} bytes gzipped of WASM.")
PY
