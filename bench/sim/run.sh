#!/usr/bin/env bash
# Measures how many requests per second one simulated Jenkins controller
# serves on ONE core, so we know it is never the bottleneck when it stands
# in for a controller. The simulator is pinned to core 1, wrk to core 0.
#
#   bash bench/sim/run.sh            # 10 s per scenario
#   DURATION=30s bash bench/sim/run.sh
#
# Needs wrk and taskset (installed from Debian if missing). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
PORT=${PORT:-18990}
TOKEN=11benchtoken

if ! command -v wrk >/dev/null; then
  echo "installing wrk…" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

go build -o /tmp/jenkinds-bench ./cmd/jenkinds
taskset -c 1 /tmp/jenkinds-bench sim --controllers 1 --base-port "$PORT" --token "$TOKEN" \
  --quiet-period 0 --build-duration 0s --executors 8 --agents 2 >/tmp/jenkinds-bench-sim.log 2>&1 &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsu "admin:$TOKEN" "http://127.0.0.1:$PORT/api/json" >/dev/null 2>&1 && break
  sleep 0.1
done

AUTH="Authorization: Basic $(printf 'admin:%s' "$TOKEN" | base64)"
run() {
  local name=$1; shift
  local out
  out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H "$AUTH" "$@")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  printf '%-34s %12s req/s   p50 %8s   p99 %8s\n' "$name" "$rps" "$p50" "$p99"
}

cat >/tmp/jenkinds-bench-trigger.lua <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/job/deploy/buildWithParameters?SIM_DURATION_MS=0&VERSION=" .. n)
end
LUA

echo "simulator on one core (core 1), wrk on core 0, $CONNS connections, $DURATION each"
run "GET /api/json" "http://127.0.0.1:$PORT/api/json"
run "GET /job/hello/api/json" "http://127.0.0.1:$PORT/job/hello/api/json"
run "GET /computer/api/json?tree=…" "http://127.0.0.1:$PORT/computer/api/json?tree=busyExecutors,totalExecutors"
run "POST buildWithParameters (0 ms)" -s /tmp/jenkinds-bench-trigger.lua "http://127.0.0.1:$PORT"
