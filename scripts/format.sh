#!/usr/bin/env bash
# Formats every C source of ours in place (the CI check is scripts/test.sh's last step).
set -euo pipefail
cd "$(dirname "$0")/.."
clang-format -i $(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' 'bench/*.h' 'fuzz/*.c')
