#!/usr/bin/env bash
# The main job: installs what is missing, builds a release pelotond and runs
# the demo on the embedded defaults. Today the daemon only reports its
# version; later issues turn this into the full demo (built-in Mesos
# simulator, RocksDB in a temporary directory, a job placed and run).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
cmake -S "$top" -B "$top/build/release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$top/build/release" -j"$(nproc)" --target pelotond
"$top/build/release/src/main/pelotond" --version
