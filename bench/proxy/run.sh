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

DURATION=${DURATION:-10s}             # each throughput run
CONNS=${CONNS:-64}                    # wrk connections
RATE=${RATE:-500}                     # fault scenarios: requests per second
FAULT_DURATION=${FAULT_DURATION:-10s} # fault scenarios: length of the load
FAULT_AT=${FAULT_AT:-3s}              # fault scenarios: when b2 is hit
REQ_PATH=${REQ_PATH:-/api/json}       # a short idempotent Jenkins API request
PORT_BASE=${PORT_BASE:-28400}         # first port tried; busy ones are skipped
ONLY=${ONLY:-all}                     # all, throughput or faults
CLIENT_CPU=0
SERVER_CPU=1
ADMIN_TOKEN=bench-proxy-admin-token-0123456 # 32 characters; a throwaway
# Every load request carries an API client's Basic auth (the backends accept
# any): jenkinds routes requests without Authorization as a browser's.
API_USER=admin:bench-api-token
AUTH_HEADER="Authorization: Basic $(printf '%s' "$API_USER" | base64)"
CLK_TCK=$(getconf CLK_TCK)

log() { printf '%s\n' "$*" >&2; }
die() {
  log "run.sh: $*"
  exit 1
}

# --- tools ---------------------------------------------------------------

need=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
if ((${#need[@]})); then
  log "installing ${need[*]} from Debian…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin
for tool in nginx haproxy wrk taskset curl pgrep go; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
(($(nproc) >= 2)) || die "needs 2 cores (client on $CLIENT_CPU, servers on $SERVER_CPU)"

# --- processes -----------------------------------------------------------

TMP=$(mktemp -d /tmp/jenkinds-bench-proxy.XXXXXX)
BIN=$TMP/bin
declare -A RUNNING=() # pid → name, of everything still running that we started

cleanup() {
  local pid
  for pid in "${!RUNNING[@]}"; do stop "$pid"; done
  if [[ ${KEEP_TMP:-} == 1 ]]; then log "logs and configs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD…: runs CMD pinned to the server core, output to
# $TMP/NAME.log; its pid is left in STARTED. Disowned so that the kill
# scenario's SIGKILL prints no job notice (bash still reaps it).
start() {
  local name=$1
  shift
  taskset -c "$SERVER_CPU" "$@" >>"$TMP/$name.log" 2>&1 &
  STARTED=$!
  disown "$STARTED"
  RUNNING[$STARTED]=$name
}

# stop PID: SIGTERM, SIGKILL after 5 s; returns once it is gone.
stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    ((i == 50)) && kill -KILL "$pid" 2>/dev/null
    sleep 0.1
  done
  unset "RUNNING[$pid]"
}

# wait_ok URL NAME: until URL answers 2xx, at most 10 s.
wait_ok() {
  local i
  for ((i = 0; i < 100; i++)); do
    curl -fs -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  log "--- tail of $TMP/$2.log:"
  tail -20 "$TMP/$2.log" >&2 || true
  die "$2 did not answer $1 within 10 s"
}

NEXT_PORT=$PORT_BASE
# alloc_port VAR: the next port on 127.0.0.1 nothing listens on.
alloc_port() {
  while (exec 3<>"/dev/tcp/127.0.0.1/$NEXT_PORT") 2>/dev/null; do NEXT_PORT=$((NEXT_PORT + 1)); done
  printf -v "$1" '%d' "$NEXT_PORT"
  NEXT_PORT=$((NEXT_PORT + 1))
}

# cpu_ticks PID: user+system clock ticks of PID and its children (nginx's
# workers).
cpu_ticks() {
  local total=0 p t
  for p in "$1" $(pgrep -P "$1" || true); do
    # Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    t=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null) || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}

# core_ticks CPU: "busy total" clock ticks of one core since boot, from
# /proc/stat (busy: user nice system irq softirq steal).
core_ticks() {
  awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}

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
  local d=$TMP/nginx
  mkdir -p "$d"
  cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 8192; }
worker_rlimit_nofile 16384;
http {
  access_log off;
  client_body_temp_path $d/client_body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
  upstream jenkins {
    least_conn;
    server 127.0.0.1:${BPORT[1]};
    server 127.0.0.1:${BPORT[2]};
    server 127.0.0.1:${BPORT[3]};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://jenkins;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
EOF
  start nginx nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
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
declare -A RPS P50 P99 CPU BCPU ERRS OTHER

# throughput NAME: start the proxy, warm it for 1 s, measure for DURATION.
throughput() {
  local name=$1 url out reqs ticks bticks b0 b1 p0 p1 c0 c1 i
  "start_$name"
  url=http://127.0.0.1:$PROXY_PORT$REQ_PATH
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d1s -H "$AUTH_HEADER" "$url" >/dev/null
  p0=$(cpu_ticks "$PROXY_PID")
  b0=0
  for i in 1 2 3; do b0=$((b0 + $(cpu_ticks "${BPID[$i]}"))); done
  c0=$(core_ticks "$SERVER_CPU")
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H "$AUTH_HEADER" "$url")
  c1=$(core_ticks "$SERVER_CPU")
  p1=$(cpu_ticks "$PROXY_PID")
  b1=0
  for i in 1 2 3; do b1=$((b1 + $(cpu_ticks "${BPID[$i]}"))); done
  stop "$PROXY_PID"
  echo "$out" >"$TMP/wrk-$name.txt"

  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  [[ ${reqs:-0} -gt 0 ]] || die "wrk through $name made no request:"$'\n'"$out"
  ticks=$((p1 - p0)) bticks=$((b1 - b0))
  RPS[$name]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  P50[$name]=$(awk '$1 == "50%" {print $2}' <<<"$out")
  P99[$name]=$(awk '$1 == "99%" {print $2}' <<<"$out")
  CPU[$name]=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
  BCPU[$name]=$(awk -v t="$bticks" -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
  ERRS[$name]=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
  # Busy time on the server core that was neither the proxy nor the
  # backends: other processes, or interrupts. More than a few % means the
  # run was disturbed.
  OTHER[$name]=$(awk -v a="$c0" -v b="$c1" -v own="$((ticks + bticks))" 'BEGIN {
    split(a, x, " "); split(b, y, " "); total = y[2] - x[2]; other = (y[1] - x[1]) - own
    printf "%.0f%%", (total > 0 && other > 0) ? 100 * other / total : 0 }')
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }

print_throughput() {
  local name
  echo
  echo "== throughput: GET $REQ_PATH (Basic auth), wrk 1 thread $CONNS connections ${DURATION} on core $CLIENT_CPU; proxy + 3 backends on core $SERVER_CPU"
  printf '%-10s %9s %7s %10s %10s %14s %7s %16s %7s %7s\n' proxy req/s ×nginx p50 p99 "proxy µs/req" ×nginx "backends µs/req" errors other
  for name in "${PROXIES[@]}"; do
    if [[ -z ${RPS[$name]:-} ]]; then
      printf '%-10s skipped: %s\n' "$name" "${JENKINDS_SKIP:-not run}"
      continue
    fi
    printf '%-10s %9s %7s %10s %10s %14s %7s %16s %7s %7s\n' "$name" "${RPS[$name]}" \
      "$(ratio "${RPS[$name]}" "${RPS[nginx]}")" "${P50[$name]}" "${P99[$name]}" "${CPU[$name]}" \
      "$(ratio "${CPU[$name]}" "${CPU[nginx]}")" "${BCPU[$name]}" "${ERRS[$name]}" "${OTHER[$name]}"
  done
  for name in "${!OTHER[@]}"; do
    if ((${OTHER[$name]%\%} > 10)); then
      echo "WARNING: other work took over 10% of core $SERVER_CPU during some runs (column other): these figures are disturbed, run again on a quiet machine"
      break
    fi
  done
  if [[ -n ${RPS[jenkinds]:-} ]]; then
    local tn tb
    tn=$(ratio "${RPS[jenkinds]}" "${RPS[nginx]}")
    tb=$(ratio "${RPS[jenkinds]}" "${RPS[baseline]}")
    echo
    printf 'jenkinds / nginx:    throughput %s× (aim ≥ 0.60×: %s), CPU per request %s×\n' "$tn" \
      "$(awk -v r="$tn" 'BEGIN {print (r >= 0.6) ? "met" : "MISSED"}')" "$(ratio "${CPU[jenkinds]}" "${CPU[nginx]}")"
    printf 'jenkinds / baseline: throughput %s× (aim ≥ 1.00×: %s), CPU per request %s×\n' "$tb" \
      "$(awk -v r="$tb" 'BEGIN {print (r >= 1) ? "met" : "MISSED"}')" "$(ratio "${CPU[jenkinds]}" "${CPU[baseline]}")"
  fi
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
    log "throughput: $name…"
    throughput "$name"
  done
  print_throughput
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
