#!/usr/bin/env bash
# Compares jenkinds' front door with nginx, HAProxy and a plain
# httputil.ReverseProxy, side by side on this machine, over loopback only.
#
#   bash bench/proxy/run.sh                 # about 2 minutes
#   DURATION=30s bash bench/proxy/run.sh    # longer throughput runs
#   ONLY=throughput bash bench/proxy/run.sh # or ONLY=faults
#
# 1. Throughput: three minimal Jenkins-like backends behind each proxy; wrk
#    (one thread, CONNS connections) pinned to core 0, the proxy and the
#    backends pinned to core 1, so req/s is bounded by one core and the
#    proxy's CPU time (from /proc) per request says what each request costs.
#    Two runs per proxy: "browser" requests carry no Authorization (jenkinds
#    proxies them), "API" requests carry Basic auth (jenkinds answers
#    GET /api/json itself, from the controllers it fronts).
# 2. Faults: open-loop RATE req/s for FAULT_DURATION; at FAULT_AT one
#    backend (b2) is killed (SIGKILL) or made to hang; prints failed
#    requests, when traffic stopped reaching b2, and the error window.
#
# Installs nginx, haproxy and wrk from Debian when missing. Runs nginx and
# HAProxy in the foreground with their own configs, never the system
# services. Everything it starts is stopped on exit; configs and logs live
# in a temporary directory (kept with KEEP_TMP=1). README.md beside this
# file says how to read the output.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/harness.sh

DURATION=${DURATION:-10s}             # each throughput run
CONNS=${CONNS:-64}                    # wrk connections
RATE=${RATE:-500}                     # fault scenarios: requests per second
FAULT_DURATION=${FAULT_DURATION:-10s} # fault scenarios: length of the load
FAULT_AT=${FAULT_AT:-3s}              # fault scenarios: when b2 is hit
REQ_PATH=${REQ_PATH:-/api/json}       # a short idempotent Jenkins API request
PORT_BASE=${PORT_BASE:-28400}         # first port tried; busy ones are skipped
ONLY=${ONLY:-all}                     # all, throughput or faults
MODES=${MODES:-browser api}           # throughput runs: without and with Authorization
CLIENT_CPU=0
SERVER_CPU=1
ADMIN_TOKEN=bench-proxy-admin-token-0123456 # 32 characters; a throwaway
# API requests carry an API client's Basic auth (the backends accept any):
# jenkinds answers those itself, and proxies requests without
# Authorization as a browser's.
API_USER=admin:bench-api-token
AUTH_HEADER="Authorization: Basic $(printf '%s' "$API_USER" | base64)"

# --- tools and processes -------------------------------------------------

need_tools nginx haproxy wrk taskset curl pgrep go
bench_dir jenkinds-bench-proxy

# --- build ---------------------------------------------------------------

log "building into $BIN…"
go build -o "$BIN/" ./bench/proxy/backend ./bench/proxy/baseline ./bench/proxy/loadgen
JENKINDS_SKIP=""
if ! go build -o "$BIN/jenkinds" ./cmd/jenkinds 2>"$TMP/jenkinds-build.log"; then
  JENKINDS_SKIP="jenkinds does not build (see below)"
  cat "$TMP/jenkinds-build.log" >&2
elif ! grep -q -- 'proxy-listen' <<<"$("$BIN/jenkinds" serve -h 2>&1 || true)"; then
  JENKINDS_SKIP="jenkinds has no --proxy-listen yet"
fi

# --- backends ------------------------------------------------------------

declare -a BPORT BPID
for i in 1 2 3; do alloc_port "BPORT[$i]"; done
start_backend() {
  start "b$1" "$BIN/backend" -addr "127.0.0.1:${BPORT[$1]}" -name "b$1"
  BPID[$1]=$STARTED
  wait_ok "http://127.0.0.1:${BPORT[$1]}/health" "b$1"
}
for i in 1 2 3; do start_backend "$i"; done

# ensure_backends: every backend up and answering (after a kill or a hang).
ensure_backends() {
  local i
  for i in 1 2 3; do
    if ! kill -0 "${BPID[$i]}" 2>/dev/null; then
      unset "RUNNING[${BPID[$i]}]"
      start_backend "$i"
    fi
    curl -fs -o /dev/null --max-time 2 -X DELETE "http://127.0.0.1:${BPORT[$i]}/__sim/faults"
  done
}

# --- proxies -------------------------------------------------------------
# start_PROXY leaves the proxy's pid in PROXY_PID and its port in PROXY_PORT.

alloc_port NGINX_PORT
alloc_port HAPROXY_PORT
alloc_port HAPROXY_STATS_PORT
alloc_port BASELINE_PORT
alloc_port JK_ADMIN_PORT
alloc_port JK_PROXY_PORT

start_nginx() {
  start_nginx_over "127.0.0.1:$NGINX_PORT" "127.0.0.1:${BPORT[1]}" "127.0.0.1:${BPORT[2]}" "127.0.0.1:${BPORT[3]}"
  PROXY_PID=$STARTED PROXY_PORT=$NGINX_PORT
  wait_ok "http://127.0.0.1:$PROXY_PORT$REQ_PATH" nginx
}

start_haproxy() {
  local d=$TMP/haproxy
  mkdir -p "$d"
  cat >"$d/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 8000

defaults
  mode http
  option forwardfor
  timeout connect 5s
  timeout client 30s
  timeout server 30s

frontend fe
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend jenkins

frontend stats
  bind 127.0.0.1:$HAPROXY_STATS_PORT
  stats enable
  stats uri /stats

backend jenkins
  balance leastconn
  http-reuse safe
  option httpchk GET /login
  server b1 127.0.0.1:${BPORT[1]} check inter 2s fall 3 rise 2
  server b2 127.0.0.1:${BPORT[2]} check inter 2s fall 3 rise 2
  server b3 127.0.0.1:${BPORT[3]} check inter 2s fall 3 rise 2
EOF
  start haproxy haproxy -db -f "$d/haproxy.cfg"
  PROXY_PID=$STARTED PROXY_PORT=$HAPROXY_PORT
  wait_ok "http://127.0.0.1:$PROXY_PORT$REQ_PATH" haproxy
}

start_baseline() {
  start baseline "$BIN/baseline" -listen "127.0.0.1:$BASELINE_PORT" \
    -backends "127.0.0.1:${BPORT[1]},127.0.0.1:${BPORT[2]},127.0.0.1:${BPORT[3]}"
  PROXY_PID=$STARTED PROXY_PORT=$BASELINE_PORT
  wait_ok "http://127.0.0.1:$PROXY_PORT$REQ_PATH" baseline
}

JK_RUNS=0
start_jenkinds() {
  JK_RUNS=$((JK_RUNS + 1))
  local data=$TMP/jk-$JK_RUNS admin=http://127.0.0.1:$JK_ADMIN_PORT i
  start jenkinds env JENKINDS_ADMIN_TOKEN="$ADMIN_TOKEN" "$BIN/jenkinds" serve \
    --data-dir "$data" --listen "127.0.0.1:$JK_ADMIN_PORT" --proxy-listen "127.0.0.1:$JK_PROXY_PORT" \
    --health-interval 1000 --health-timeout 500
  PROXY_PID=$STARTED PROXY_PORT=$JK_PROXY_PORT
  wait_ok "$admin/healthz" jenkinds
  for i in 1 2 3; do
    curl -fsS -o /dev/null --max-time 5 -X POST "$admin/api/v1/instances" \
      -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
      -d "{\"name\":\"b$i\",\"url\":\"http://127.0.0.1:${BPORT[$i]}\",\"username\":\"admin\",\"apiToken\":\"x\",\"clusterId\":\"default\"}" ||
      die "register b$i with jenkinds"
  done
  for ((i = 0; i < 150; i++)); do
    if [[ $(curl -fsS --max-time 2 -H "Authorization: Bearer $ADMIN_TOKEN" "$admin/api/v1/instances" |
      grep -oE '"healthStatus": *"healthy"' | wc -l) -eq 3 ]]; then
      wait_ok "http://127.0.0.1:$PROXY_PORT$REQ_PATH" jenkinds
      return 0
    fi
    sleep 0.1
  done
  tail -20 "$TMP/jenkinds.log" >&2
  die "jenkinds did not report b1, b2 and b3 healthy within 15 s"
}

# --- 1. throughput -------------------------------------------------------

PROXIES=(nginx haproxy baseline jenkinds)

# measure NAME MODE: wrk through the running proxy, warmed for 1 s, for
# DURATION; MODE api sends Basic auth, browser sends none.
measure() {
  local hdr=() url=http://127.0.0.1:$PROXY_PORT$REQ_PATH
  [[ $2 == api ]] && hdr=(-H "$AUTH_HEADER")
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d1s "${hdr[@]}" "$url" >/dev/null
  measure_wrk "$1.$2" "$PROXY_PID" "${BPID[*]}" "${hdr[@]}" "$url"
}

# throughput NAME: start the proxy, measure each of MODES, stop it.
throughput() {
  local name=$1 mode
  "start_$name"
  for mode in $MODES; do
    log "throughput: $name, $mode…"
    measure "$name" "$mode"
  done
  stop "$PROXY_PID"
}

# ratio_line BASE MODE [AIM]: jenkinds / BASE in MODE, with the aim on
# throughput (≥ AIM) when there is one.
ratio_line() {
  local base=$1 mode=$2 want=${3:-} tr cr
  tr=$(ratio "${RPS[jenkinds.$mode]}" "${RPS[$base.$mode]}")
  cr=$(ratio "${CPU[jenkinds.$mode]}" "${CPU[$base.$mode]}")
  if [[ -n $want ]]; then
    printf 'jenkinds / %-9s throughput %s× (aim ≥ %s×: %s), CPU per request %s×\n' "$base:" "$tr" "$want" "$(aim "$tr" '>=' "$want")" "$cr"
  else
    printf 'jenkinds / %-9s throughput %s×, CPU per request %s×\n' "$base:" "$tr" "$cr"
  fi
}

print_throughput() {
  local mode=$1 name k what
  case $mode in
  browser) what="no Authorization: a browser's request, which jenkinds proxies" ;;
  api) what="Basic auth: an API client's request, which jenkinds answers itself" ;;
  esac
  echo
  echo "== throughput, $mode: GET $REQ_PATH ($what); wrk 1 thread $CONNS connections ${DURATION} on core $CLIENT_CPU; proxy + 3 backends on core $SERVER_CPU"
  printf '%-10s %9s %7s %10s %10s %14s %7s %16s %7s %7s\n' proxy req/s ×nginx p50 p99 "proxy µs/req" ×nginx "backends µs/req" errors other
  for name in "${PROXIES[@]}"; do
    k=$name.$mode
    if [[ -z ${RPS[$k]:-} ]]; then
      printf '%-10s skipped: %s\n' "$name" "${JENKINDS_SKIP:-not run}"
      continue
    fi
    printf '%-10s %9s %7s %10s %10s %14s %7s %16s %7s %7s\n' "$name" "${RPS[$k]}" \
      "$(ratio "${RPS[$k]}" "${RPS[nginx.$mode]}")" "${P50[$k]}" "${P99[$k]}" "${CPU[$k]}" \
      "$(ratio "${CPU[$k]}" "${CPU[nginx.$mode]}")" "${BCPU[$k]}" "${ERRS[$k]}" "${OTHER[$k]}"
  done
  [[ -n ${RPS[jenkinds.$mode]:-} ]] || return 0
  echo
  case $mode in
  browser)
    ratio_line baseline browser 1.25
    ratio_line nginx browser
    ;;
  api)
    ratio_line nginx api 1.00
    ratio_line baseline api
    ;;
  esac
}

# --- 2. faults -----------------------------------------------------------

# fault NAME KIND: a fresh proxy over three healthy backends, open-loop load,
# b2 killed or hung at FAULT_AT. loadgen also asks HAProxy and jenkinds
# when they took b2 out (nginx has no such state to ask).
fault() {
  local name=$1 kind=$2 spec watch=""
  ensure_backends
  "start_$name"
  case $kind in
  kill) spec=kill:${BPID[2]} ;;
  hang) spec=hang:http://127.0.0.1:${BPORT[2]} ;;
  esac
  case $name in
  haproxy) watch="haproxy:http://127.0.0.1:$HAPROXY_STATS_PORT/stats;csv" ;;
  jenkinds) watch="jenkinds:http://127.0.0.1:$JK_ADMIN_PORT" ;;
  esac
  JENKINDS_ADMIN_TOKEN=$ADMIN_TOKEN taskset -c "$CLIENT_CPU" "$BIN/loadgen" -v -u "$API_USER" \
    -url "http://127.0.0.1:$PROXY_PORT$REQ_PATH" -rate "$RATE" -duration "$FAULT_DURATION" \
    -timeout 5s -fault-at "$FAULT_AT" -fault "$spec" -faulty b2 -watch "$watch" -label "$name" ||
    printf '%-10s %-5s loadgen failed (see above)\n' "$name" "$kind"
  stop "$PROXY_PID"
}

# --- run -----------------------------------------------------------------

echo "jenkinds proxy benchmark — $(date -u +%FT%TZ), $(nproc) cores: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "$(nginx -v 2>&1), $(haproxy -v | head -1 | cut -d' ' -f1-3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(go version | cut -d' ' -f3)"
[[ -n $JENKINDS_SKIP ]] && echo "jenkinds skipped: $JENKINDS_SKIP"

if [[ $ONLY == all || $ONLY == throughput ]]; then
  for name in "${PROXIES[@]}"; do
    [[ $name == jenkinds && -n $JENKINDS_SKIP ]] && continue
    throughput "$name"
  done
  for mode in $MODES; do print_throughput "$mode"; done
  disturbed "${OTHER[@]}"
fi

if [[ $ONLY == all || $ONLY == faults ]]; then
  echo
  echo "== faults: open-loop $RATE req/s GET $REQ_PATH (Basic auth) for $FAULT_DURATION, 5 s timeout; b2 killed (SIGKILL) or hung at +$FAULT_AT"
  "$BIN/loadgen" -header
  for kind in kill hang; do
    for name in nginx haproxy jenkinds; do
      if [[ $name == jenkinds && -n $JENKINDS_SKIP ]]; then
        printf '%-10s %-5s skipped: %s\n' "$name" "$kind" "$JENKINDS_SKIP"
        continue
      fi
      log "fault: $name $kind…"
      fault "$name" "$kind"
    done
  done
fi
