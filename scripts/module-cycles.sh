#!/usr/bin/env bash
# Fails when the server's modules use each other in a cycle (the ORM's
# entities, whose relations name each other, excepted): `cargo modules`
# (crates.io) reads the crate as rust-analyzer does, and
# scripts/module_cycles.py looks for cycles in its graph.
#
#   scripts/module-cycles.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

graph=$(mktemp)
trap 'rm -f "$graph"' EXIT
cargo modules dependencies -p server --lib --no-externs --no-sysroot >"$graph"
python3 scripts/module_cycles.py server::platform::entity:: <"$graph"
