#!/usr/bin/env bash
# Installs every Debian 12 package pelotond needs to build, test, bench and fuzz.
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
  libcmocka-dev python3-protobuf python3-grpcio
  # an independent Mesos client for the simulator's conformance test
  golang-go golang-github-mesos-mesos-go-dev
  # RPC, HTTP, config
  libgrpc-dev libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev libyaml-dev
  # ids
  uuid-dev
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present" >&2
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
