#!/usr/bin/env bash
# The main job: installs what is missing, builds release binaries, starts
# mesos-sim (a simulated Mesos master with N agents) and pelotond (RocksDB in
# a temporary directory), creates a resource pool and a batch job from
# example/, shows live progress and a summary, and shuts everything down.
#
# Usage: scripts/demo.sh [--agents N] [--instances N] [--task-secs X]
#                        [--keep] [--sim-arg FLAG]...
#   --agents N      simulated agents (default 1000)
#   --instances N   instances of the batch job (default 10000)
#   --task-secs X   how long each task runs (default 2)
#   --keep          leave the cluster up at the end (Ctrl-C to stop it)
#   --sim-arg FLAG  pass FLAG on to mesos-sim (repeatable), e.g.
#                   --sim-arg --fail-rate=0.01 --sim-arg --task-dist=exp
# Every process listens on 127.0.0.1 on a port the kernel picks (printed).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
agents=1000
instances=10000
task_secs=2
keep=0
sim_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --agents) agents=$2; shift 2 ;;
    --instances) instances=$2; shift 2 ;;
    --task-secs) task_secs=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --sim-arg) sim_args+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

"$top/scripts/deps.sh"
build="$top/build/release"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target pelotond mesos-sim peloton >/dev/null
bin="$build/src/main"

work=$(mktemp -d /tmp/peloton-demo.XXXXXX)
sim_pid=""
d_pid=""
cleanup() {
  [ -n "$d_pid" ] && kill -TERM "$d_pid" 2>/dev/null && wait "$d_pid" 2>/dev/null || true
  [ -n "$sim_pid" ] && kill -TERM "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# port_of FILE KEY PID SECONDS: the port a process wrote to its --ports-file
port_of() {
  for _ in $(seq 1 $(($4 * 10))); do
    if [ -s "$1" ]; then
      sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"
      return 0
    fi
    kill -0 "$3" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: no $2 port in $1 (log: $work/*.log)" >&2
  cat "$work"/*.log >&2
  return 1
}

"$bin/mesos-sim" --port 0 --ports-file "$work/sim.ports" --agents "$agents" \
  --task-secs "$task_secs" --log-level warn "${sim_args[@]}" >"$work/sim.log" 2>&1 &
sim_pid=$!
sim_port=$(port_of "$work/sim.ports" http "$sim_pid" 10)
echo "== mesos-sim: $agents agents (32 cpus, 128 GB each) on 127.0.0.1:$sim_port"

"$bin/pelotond" --master "127.0.0.1:$sim_port" --db "$work/db" --grpc-port 0 \
  --http-port 0 --ports-file "$work/pelotond.ports" --log-level warn \
  2>"$work/pelotond.log" &
d_pid=$!
grpc_port=$(port_of "$work/pelotond.ports" grpc "$d_pid" 30)
http_port=$(port_of "$work/pelotond.ports" http "$d_pid" 1)
export JOBMGR_URL=127.0.0.1:$grpc_port
echo "== pelotond: gRPC 127.0.0.1:$grpc_port, HTTP 127.0.0.1:$http_port, RocksDB in $work/db"

peloton() { "$bin/peloton" "$@"; }
echo "== pool tree: /demo (example/respool.yaml) and /demo/batch (example/respool_leaf.yaml)"
peloton respool create /demo "$top/example/respool.yaml"
peloton respool create /demo/batch "$top/example/respool_leaf.yaml"
sed "s/^instanceCount: .*/instanceCount: $instances/" "$top/example/hello_world.yaml" \
  >"$work/job.yaml"
echo "== peloton job create /demo/batch job.yaml ($instances instances of example/hello_world.yaml)"
t0=$(date +%s.%N)
job=$(peloton job create /demo/batch "$work/job.yaml")
echo "job $job"

tty=0
[ -t 1 ] && tty=1
t_running=""
t_done=""
state=""
last=""
while :; do
  line=$(peloton job status "$job")
  now=$(date +%s.%N)
  state=$(awk '{print $2}' <<<"$line")
  counts=$(cut -c80- <<<"$line" | sed 's/ *$//')
  # "all running": no task waits to start any more
  if [ -z "$t_running" ] && ! grep -Eq '(PENDING|READY|PLACING|PLACED|LAUNCHING|LAUNCHED|INITIALIZED)=' <<<"$counts"; then
    t_running=$now
  fi
  el=$(awk -v a="$t0" -v b="$now" 'BEGIN{printf "%.1f", b-a}')
  msg=$(printf '[%6ss] %-10s %s' "$el" "$state" "$counts")
  if [ $tty = 1 ]; then
    printf '\r\033[K%s' "$msg"
  elif [ "$msg" != "$last" ]; then
    echo "$msg"
  fi
  last=$msg
  case "$state" in SUCCEEDED|FAILED|KILLED) t_done=$now; break ;; esac
  sleep 0.5
done
[ $tty = 1 ] && echo
run_s=$(awk -v a="$t0" -v b="${t_running:-$t_done}" 'BEGIN{printf "%.2f", b-a}')
done_s=$(awk -v a="$t0" -v b="$t_done" 'BEGIN{printf "%.2f", b-a}')
rate=$(awk -v n="$instances" -v s="$run_s" 'BEGIN{printf "%.0f", (s > 0 ? n / s : 0)}')
echo "== summary"
echo "job $job: $state"
echo "instances: $instances on $agents agents"
echo "time to all RUNNING (every task started): ${run_s}s  (${rate} tasks/s)"
echo "time to $state: ${done_s}s  (tasks run ${task_secs}s each)"
echo "(polling every 0.5 s: times are accurate to about half a second)"
if [ $keep = 1 ]; then
  echo "== cluster left up: JOBMGR_URL=$JOBMGR_URL $bin/peloton job query; Ctrl-C stops it"
  wait "$d_pid"
fi
[ "$state" = SUCCEEDED ]
