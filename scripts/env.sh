# Sourced by the scripts: a cargo target directory outside the clone, so that
# a fresh clone on a machine that built Tollgate before reuses that work.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${TOLLGATE_CACHE_DIR:-$HOME/.cache/tollgate}/target}"
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p "$CARGO_TARGET_DIR"
# CI builds once per run: incremental state would only fill the disk.
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
fi
