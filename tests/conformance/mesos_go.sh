#!/usr/bin/env bash
# Builds the mesos-go conformance client (Debian's golang-github-mesos-mesos-go-dev,
# GOPATH mode) and runs it against a fresh mesos-sim, over protobuf and JSON.
# Usage: tests/conformance/mesos_go.sh MESOS_SIM WORKDIR
set -euo pipefail
sim=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v go >/dev/null; then
  echo "mesos_go.sh: no go compiler; scripts/deps.sh installs golang-go" >&2
  exit 1
fi
if [ ! -d /usr/share/gocode/src/github.com/mesos/mesos-go/api/v1/lib ]; then
  echo "mesos_go.sh: no mesos-go; scripts/deps.sh installs golang-github-mesos-mesos-go-dev" >&2
  exit 1
fi
mkdir -p "$work"
export GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE=$work/gocache GOFLAGS=
(cd "$here/mesos_go" && go build -o "$work/mesos_go_conformance" .)

run=$(mktemp -d "$work/run.XXXXXX")
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$run"' EXIT
"$sim" --port 0 --ports-file "$run/ports.json" --agents 3 --task-secs 1 >"$run/sim.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  [ -s "$run/ports.json" ] && break
  kill -0 $pid 2>/dev/null || { cat "$run/sim.log" >&2; exit 1; }
  sleep 0.1
done
port=$(sed 's/[^0-9]//g' "$run/ports.json")
[ -n "$port" ] || { echo "mesos_go.sh: mesos-sim wrote no port" >&2; exit 1; }
if ! timeout 300 "$work/mesos_go_conformance" "http://127.0.0.1:$port" protobuf json; then
  echo "--- mesos-sim log" >&2
  tail -40 "$run/sim.log" >&2
  exit 1
fi
