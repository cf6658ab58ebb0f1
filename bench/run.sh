#!/usr/bin/env bash
# Runs every benchmark and writes bench/results/<name>.jsonl (ignored by git).
# Usage: bench/run.sh [BUILD_DIR] [-- bench flags, e.g. --quick]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build/release}
shift || true
[ "${1:-}" = "--" ] && shift
if [ ! -d "$build" ]; then
  cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j"$(nproc)" >/dev/null
mkdir -p "$top/bench/results"
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] || continue
  name=$(basename "$b")
  echo "== $name" >&2
  "$b" "$@" | tee "$top/bench/results/$name.jsonl"
done
