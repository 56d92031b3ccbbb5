#!/usr/bin/env bash
# The WASM a browser downloads, release build (`wasm-opt -Oz`), split into
# the shared bundle and one chunk per lazy page (`app/src/pages/lazy.rs`)
# plus the small chunks a page pulls in (`__wasm_split_manifest.json`).
# Prints a Markdown table of sizes: raw, gzipped (gzip -9) and as served to
# browsers that accept brotli (the `.br` files of `--precompress`, as
# `scripts/run.sh` builds), and for each page what its first visit
# downloads in all: the shared bundle, the page and its small chunks.
# docs/build.md records the output.
#
#   scripts/wasm-size.sh            # builds the front end, then measures
#   NO_BUILD=1 scripts/wasm-size.sh # measures target/site/pkg as it is
#   CHECK=1 scripts/wasm-size.sh    # and fails when a page's first visit
#                                   # (gzip) is over 5 % above
#                                   # scripts/wasm-size.baseline.json
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

if [[ -z "${NO_BUILD:-}" ]]; then
  scripts/bootstrap.sh run >/dev/null
  log=$(mktemp)
  cargo leptos build --release --split --precompress --frontend-only >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  rm -f "$log"
fi

python3 - target/site/pkg "${CHECK:+scripts/wasm-size.baseline.json}" <<'PY'
import glob, gzip, json, os, re, sys

pkg, baseline = sys.argv[1], sys.argv[2]
limit = json.load(open(baseline))["first_visit_gzip"] if baseline else {}
over, seen = [], set()
def raw(name): return os.path.getsize(os.path.join(pkg, name))
def gz(name):
    with open(os.path.join(pkg, name), "rb") as f:
        return len(gzip.compress(f.read(), 9))
def br(name): return os.path.getsize(os.path.join(pkg, name + ".br"))

manifest = json.load(open(os.path.join(pkg, "__wasm_split_manifest.json")))
print("| file | raw | gzip -9 | brotli (served) | first visit, gzip | first visit, brotli |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
print(f"| shared bundle (`tollgate.wasm`) | {raw('tollgate.wasm'):,} | {gz('tollgate.wasm'):,} | {br('tollgate.wasm'):,} | | |")
print(f"| JS glue (`tollgate.js`) | {raw('tollgate.js'):,} | {gz('tollgate.js'):,} | {br('tollgate.js'):,} | | |")
heaviest = {"gzip": (0, ""), "brotli": (0, "")}
for path in sorted(glob.glob(os.path.join(pkg, "split___*_route_view_*.wasm"))):
    name = os.path.basename(path)
    module = re.sub(r"^split_(.*)\.wasm$", r"\1", name)
    page = re.sub(r"^__(.*)_route_view_.*$", r"\1", module)
    # The manifest lists the page's own module among its chunks: each file
    # counts once.
    small = {f"{chunk}.wasm" for chunk in manifest.get(module, [])} - {name}
    files = ["tollgate.wasm", name, *sorted(small)]
    visit_gz = sum(gz(f) for f in files)
    visit_br = sum(br(f) for f in files)
    heaviest["gzip"] = max(heaviest["gzip"], (visit_gz, page))
    heaviest["brotli"] = max(heaviest["brotli"], (visit_br, page))
    print(f"| page `{page}` (+{len(files) - 2} small chunks) | {raw(name):,} | {gz(name):,} | {br(name):,} | {visit_gz:,} | {visit_br:,} |")
    if limit and page not in limit:
        over.append(f"{page}: a page the baseline does not have (add it there)")
    elif limit and visit_gz > limit[page] * 1.05:
        over.append(f"{page}: {visit_gz:,} bytes, {visit_gz / limit[page] - 1:+.1%} over {limit[page]:,}")
    seen.add(page)
print()
for kind, (size, page) in heaviest.items():
    print(f"Heaviest first visit, {kind}: `{page}`, {size:,} bytes of WASM.")
if limit:
    over += [f"{page}: in the baseline, not built" for page in sorted(set(limit) - seen)]
    print(f"\nChecked against {baseline}: {'no page over 5 %' if not over else 'failed:'}")
    for line in over:
        print(f"- {line}")
    sys.exit(1 if over else 0)
PY
