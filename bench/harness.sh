# Shell pieces shared by bench/proxy/run.sh and bench/fleet/run.sh: tools
# from Debian, processes pinned to the server core and stopped on exit,
# free loopback ports, CPU time from /proc, and wrk's output. Sourced, never
# run. The caller sets CLIENT_CPU and SERVER_CPU, then calls bench_dir
# before it starts anything.

log() { printf '%s\n' "$*" >&2; }
die() {
  log "run.sh: $*"
  exit 1
}

# need_tools TOOL…: installs from Debian (apt-get) the packages of the
# tools that are missing, then checks that every one is there. nginx,
# haproxy, wrk and jq are packages of the same name.
need_tools() {
  local tool missing=()
  export PATH=$PATH:/usr/sbin
  for tool in "$@"; do
    case $tool in
    nginx | haproxy | wrk | jq) command -v "$tool" >/dev/null || missing+=("$tool") ;;
    esac
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]} from Debian…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found"
  done
}

# loopback_only HOST: dies unless HOST is on this machine's loopback. Every
# load of these benchmarks goes to such an address, never anywhere else.
loopback_only() {
  [[ $1 =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ || $1 == localhost ]] ||
    die "$1 is not a loopback address (127.0.0.0/8 or localhost): these benchmarks send traffic nowhere else"
}

# bench_dir NAME: a temporary directory of its own in TMP (binaries in
# BIN=$TMP/bin), and an EXIT trap that stops every process start started
# and removes the directory, unless KEEP_TMP=1. Also checks the two cores
# (client on CLIENT_CPU, servers on SERVER_CPU).
bench_dir() {
  (($(nproc) >= 2)) || die "needs 2 cores (client on $CLIENT_CPU, servers on $SERVER_CPU)"
  TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  BIN=$TMP/bin
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  stop_all
  if [[ ${KEEP_TMP:-} == 1 ]]; then log "logs and configs kept in $TMP"; else rm -rf "$TMP"; fi
}

declare -A RUNNING=() # pid → name, of everything still running that we started

# stop_all: stops every process start started; for the EXIT trap.
stop_all() {
  local pid
  for pid in "${!RUNNING[@]}"; do stop "$pid"; done
}

# start NAME CMD…: runs CMD pinned to the server core, output to
# $TMP/NAME.log; its pid is left in STARTED. Disowned so that a scenario's
# SIGKILL prints no job notice (bash still reaps it).
start() {
  local name=$1
  shift
  taskset -c "$SERVER_CPU" "$@" >>"$TMP/$name.log" 2>&1 &
  STARTED=$!
  disown "$STARTED"
  RUNNING[$STARTED]=$name
}

# stop PID: SIGCONT (a stopped process would not act on SIGTERM), SIGTERM,
# SIGKILL after 5 s; returns once it is gone.
stop() {
  local pid=$1 i
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    ((i == 50)) && kill -KILL "$pid" 2>/dev/null
    sleep 0.1
  done
  unset "RUNNING[$pid]"
}

# wait_ok URL NAME [CURL-ARGS…]: until URL answers 2xx, at most 10 s.
wait_ok() {
  local url=$1 name=$2 i
  shift 2
  for ((i = 0; i < 100; i++)); do
    curl -fsg -o /dev/null --max-time 1 "$@" "$url" && return 0
    sleep 0.1
  done
  log "--- tail of $TMP/$name.log:"
  tail -20 "$TMP/$name.log" >&2 || true
  die "$name did not answer $url within 10 s"
}

# alloc_port VAR: the next port on HOST (default 127.0.0.1), from
# PORT_BASE on, that nothing listens on.
alloc_port() {
  : "${NEXT_PORT:=${PORT_BASE:-28400}}"
  while (exec 3<>"/dev/tcp/${HOST:-127.0.0.1}/$NEXT_PORT") 2>/dev/null; do NEXT_PORT=$((NEXT_PORT + 1)); done
  printf -v "$1" '%d' "$NEXT_PORT"
  NEXT_PORT=$((NEXT_PORT + 1))
}

# cpu_ticks PID…: user+system clock ticks of the PIDs and their children
# (nginx's workers).
cpu_ticks() {
  local total=0 p t
  for p in "$@" $(for q in "$@"; do pgrep -P "$q" || true; done); do
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

CLK_TCK=$(getconf CLK_TCK)

# per_request TICKS REQUESTS: CPU µs per request.
per_request() {
  awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN {printf "%.1f", (n > 0) ? t * 1e6 / hz / n : 0}'
}

# other_share CORE0 CORE1 OWN: the share of the server core's time, between
# two core_ticks readings, that was busy but not in OWN ticks (the
# processes under test): other processes, or interrupts. More than a few %
# means the run was disturbed.
other_share() {
  awk -v a="$1" -v b="$2" -v own="$3" 'BEGIN {
    split(a, x, " "); split(b, y, " "); total = y[2] - x[2]; other = (y[1] - x[1]) - own
    printf "%.0f%%", (total > 0 && other > 0) ? 100 * other / total : 0 }'
}

# wrk_field OUT FIELD: one figure of wrk --latency's output: reqs (requests
# made), rps, p50, p99 or errors (non-2xx answers plus socket errors).
wrk_field() {
  case $2 in
  reqs) awk '/requests in/ {print $1}' <<<"$1" ;;
  rps) awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$1" ;;
  p50) awk '$1 == "50%" {print $2}' <<<"$1" ;;
  p99) awk '$1 == "99%" {print $2}' <<<"$1" ;;
  errors) awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$1" ;;
  esac
}

declare -A RPS P50 P99 ERRS CPU BCPU OTHER # by run: what measure_wrk found

# measure_wrk KEY "SERVER-PIDS" "BACKEND-PIDS" WRK-ARGS…: one measured wrk
# run (one thread, CONNS connections, DURATION, --latency) pinned to the
# client core, its output kept in $TMP/wrk-KEY.txt. Fills RPS, P50, P99 and
# ERRS[KEY] from wrk, CPU[KEY] and BCPU[KEY] with the CPU µs per request
# of the server under test and of the backends behind it, and OTHER[KEY]
# with the share of the server core that went to neither. A pid may be in
# both lists (one controller asked directly).
measure_wrk() {
  local k=$1 server=$2 backends=$3 own out reqs s0 s1 b0 b1 o0 o1 c0 c1
  shift 3
  # shellcheck disable=SC2086 # the pid lists are split on purpose
  own=$(printf '%s\n' $server $backends | sort -u)
  # shellcheck disable=SC2086
  s0=$(cpu_ticks $server) b0=$(cpu_ticks $backends) o0=$(cpu_ticks $own) c0=$(core_ticks "$SERVER_CPU")
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@")
  # shellcheck disable=SC2086
  c1=$(core_ticks "$SERVER_CPU") o1=$(cpu_ticks $own) b1=$(cpu_ticks $backends) s1=$(cpu_ticks $server)
  echo "$out" >"$TMP/wrk-$k.txt"
  reqs=$(wrk_field "$out" reqs)
  [[ ${reqs:-0} -gt 0 ]] || die "wrk ($k) made no request:"$'\n'"$out"
  RPS[$k]=$(wrk_field "$out" rps)
  P50[$k]=$(wrk_field "$out" p50)
  P99[$k]=$(wrk_field "$out" p99)
  ERRS[$k]=$(wrk_field "$out" errors)
  CPU[$k]=$(per_request "$((s1 - s0))" "$reqs")
  BCPU[$k]=$(per_request "$((b1 - b0))" "$reqs")
  OTHER[$k]=$(other_share "$c0" "$c1" "$((o1 - o0))")
}

# ratio A B: A / B with two decimals, "-" when B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }

# aim RATIO OP BOUND: "met" or "MISSED" (OP is >= or <=).
aim() {
  awk -v r="$1" -v op="$2" -v b="$3" 'BEGIN {
    if (r == "-") { print "n/a"; exit }
    ok = (op == ">=") ? (r + 0 >= b + 0) : (r + 0 <= b + 0); print ok ? "met" : "MISSED" }'
}

# disturbed VALUE…: a warning when any "other" share is above 10%.
disturbed() {
  local v
  for v in "$@"; do
    if ((${v%\%} > 10)); then
      echo "WARNING: other work took over 10% of core $SERVER_CPU during some runs (column other): these figures are disturbed, run again on a quiet machine"
      return
    fi
  done
}

# start_nginx_over LISTEN SERVER…: nginx in the foreground, its config in
# $TMP/nginx: one worker, least_conn over the SERVERs (host:port) with
# keep-alive connections, nginx's defaults otherwise. Its pid is left in
# STARTED.
start_nginx_over() {
  local d=$TMP/nginx listen=$1 upstreams="" srv
  shift
  for srv in "$@"; do upstreams+="    server $srv;"$'\n'; done
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
$upstreams    keepalive 128;
  }
  server {
    listen $listen;
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
}
