#!/usr/bin/env bash
# Runs every libFuzzer target for longer than the test suite's smoke runs,
# with a corpus kept between runs.
# Usage: scripts/fuzz.sh [--minutes N] [--jobs N] [--only TARGET]
#   --minutes N   minutes per target (default 10)
#   --jobs N      targets fuzzed at once (default: nproc)
#   --only T      just this target (fuzz_decode, fuzz_rpc, ...)
# Corpus: build/fuzz-corpus/<target> (kept; seeded from fuzz/seeds/<target>).
# Crashes: build/fuzz-artifacts/<target>/ and a non-zero exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
minutes=10
jobs=$(nproc)
only=
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$minutes" in ''|*[!0-9]*) echo "fuzz.sh: --minutes wants a whole number" >&2; exit 2 ;; esac

build=$top/build/fuzz
CC=clang cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DPELOTON_SANITIZE=asan \
  -DPELOTON_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
targets=$(cd "$build/fuzz" && ls fuzz_* | grep -v '\.' || true)
[ -n "$only" ] && targets=$only
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run() {
  t=$1
  corpus=$top/build/fuzz-corpus/$t
  art=$top/build/fuzz-artifacts/$t
  mkdir -p "$corpus" "$art"
  seeds=
  [ -d "$top/fuzz/seeds/$t" ] && seeds=$top/fuzz/seeds/$t
  log=$top/build/fuzz-artifacts/$t.log
  if "$build/fuzz/$t" -max_total_time=$((minutes * 60)) -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$art/" "$corpus" $seeds >"$log" 2>&1; then
    echo "$t: ok, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs, corpus $(ls "$corpus" | wc -l) inputs"
  else
    echo "$t: FAILED, see $log and $art/"
    return 1
  fi
}
export -f run
export top build minutes
echo "fuzzing $(echo $targets | wc -w) targets for $minutes min each, $jobs at a time" >&2
printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'run {}'
