#!/usr/bin/env bash
# Installs what is missing, builds and runs every test:
#   1. ASan+UBSan build with clang (unit tests, Python cross-checks, the
#      integration tests and a bounded libFuzzer smoke run per target);
#   2. TSan build for the tests labelled "concurrency";
#   3. a clang-format check of our sources.
# Usage: scripts/test.sh            (from anywhere; needs root or sudo for deps)
# Env:   JOBS=N parallel build/test jobs (default: nproc)
#        FUZZ_SECONDS=N seconds per fuzz target (default 5)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-$(nproc)}
fuzz_s=${FUZZ_SECONDS:-5}

"$top/scripts/deps.sh"

step() { printf '\n=== %s\n' "$*" >&2; }

step "ASan+UBSan build (clang, fuzz targets on)"
CC=clang cmake -S "$top" -B "$top/build/asan" -DCMAKE_BUILD_TYPE=Debug \
  -DPELOTON_SANITIZE=asan -DPELOTON_FUZZ=ON -DPELOTON_DEBUG_CHECKS=ON \
  -DPEL_FUZZ_SMOKE_SECONDS="$fuzz_s" >/dev/null
cmake --build "$top/build/asan" -j"$jobs"
step "tests under ASan+UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd "$top/build/asan" && ctest --output-on-failure -j"$jobs" -LE bench)

step "TSan build (concurrency tests)"
CC=clang cmake -S "$top" -B "$top/build/tsan" -DCMAKE_BUILD_TYPE=Debug \
  -DPELOTON_SANITIZE=tsan >/dev/null
cmake --build "$top/build/tsan" -j"$jobs"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$top/tests/tsan.supp"
(cd "$top/build/tsan" && ctest --output-on-failure -j"$jobs" -L concurrency --no-tests=ignore)

step "release build: benchmarks' --quick smoke"
cmake -S "$top" -B "$top/build/release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$top/build/release" -j"$jobs"
(cd "$top/build/release" && ctest --output-on-failure -j"$jobs" -L bench)

step "demo, reduced size (must end with the job SUCCEEDED)"
"$top/scripts/demo.sh" --agents 100 --instances 2000 --task-secs 1

step "clang-format check"
files=$(cd "$top" && git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' 'bench/*.h' 'fuzz/*.c')
(cd "$top" && clang-format --dry-run --Werror $files)

step "all tests passed"
