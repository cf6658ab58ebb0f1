#!/usr/bin/env bash
# Installs every Debian 12 package pelotond needs to build, test, bench and fuzz,
# and the web UI's browser-test tooling (puppeteer-core, pinned in
# tests/ui/package-lock.json) from the npm registry with the machine's npm.
# Idempotent: when everything is present it only runs dpkg-query and exits.
# Usage: scripts/deps.sh            (needs root, or sudo on PATH)
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config clang llvm libclang-rt-14-dev git
  # schema
  protobuf-compiler protobuf-c-compiler libprotobuf-c-dev
  # hot path
  liburcu-dev libck-dev libjemalloc-dev
  # storage
  librocksdb-dev libzstd-dev
  # tests
  libcmocka-dev python3-protobuf python3-grpcio python3-yaml
  # an independent Mesos client for the simulator's conformance test
  golang-go golang-github-mesos-mesos-go-dev
  # RPC, HTTP, config
  libgrpc-dev libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev libyaml-dev
  # ids
  uuid-dev
  # the web UI's browser tests (headless); promtool lints /metrics
  chromium prometheus
)

top=$(cd "$(dirname "$0")/.." && pwd)

# tests/ui/node_modules as the lock file pins it (npm ci), unless it is
# there already for this very lock file (a stamp of its checksum)
npm_deps() {
  local ui="$top/tests/ui" sum
  sum=$(sha256sum "$ui/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$ui/node_modules/.pel-lock-sha256" 2>/dev/null)" = "$sum" ]; then
    return 0
  fi
  command -v npm >/dev/null || { echo "deps: npm is missing (the UI's browser tests need it)" >&2; exit 1; }
  echo "deps: npm ci in tests/ui (puppeteer-core for the browser tests)" >&2
  (cd "$ui" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$sum" > "$ui/node_modules/.pel-lock-sha256"
}

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present" >&2
  npm_deps
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
npm_deps
