#!/usr/bin/env bash
# The one-Jenkins API through jenkinds' front door, against one controller
# and against nginx, side by side on this machine, over loopback only:
#
#   bash bench/fleet/run.sh                 # about 4 minutes
#   DURATION=30s bash bench/fleet/run.sh    # longer throughput runs
#   ONLY=throughput bash bench/fleet/run.sh # or ONLY=faults, ONLY=check
#
# Three `jenkinds sim` controllers (one process each, the same jobs, some
# finished builds), and for each of four authenticated reads:
#   direct   one controller (c1)
#   nginx    least_conn over the three
#   jenkinds its front door (--proxy-listen), the controllers registered in
#            the default cluster: it answers these reads itself
# wrk (one thread, CONNS connections, Basic auth) on core 0, the servers on
# core 1; req/s, p50/p99, CPU µs per request of the server under test and of
# the simulators, and jenkinds' ratios to nginx beside the aims.
# Faults: open-loop RATE authenticated reads/s (the four in turn) through
# jenkinds (and nginx, for reference); at FAULT_AT one simulator is frozen
# with SIGSTOP for FAULT_FOR, then SIGCONT; then the same with SIGKILL.
# Each fault runs once more through jenkinds with every build's console
# poll (logText/progressiveText) instead of the four reads: a build's
# console is only on the controller that ran it.
#
# Before measuring, it checks the harness: what wrk sends ("[" and "]"
# raw), that jenkinds' answers hold the same jobs, builds, nodes and queue
# items as the controllers', and that each target's first answer to wrk is
# 200 with the requested fields.
#
# Installs wrk, nginx and jq from Debian when missing; runs nginx in the
# foreground with its own config, never the system service. Everything it
# starts is stopped on exit; configs and logs live in a temporary directory
# (kept with KEEP_TMP=1). README.md beside this file says how to read the
# output.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/harness.sh

DURATION=${DURATION:-10s}             # each throughput run (after a 1 s warm-up)
CONNS=${CONNS:-32}                    # wrk connections
HOST=${HOST:-127.0.0.1}               # every listener and every target; loopback only
RATE=${RATE:-200}                     # faults: requests per second
FAULT_DURATION=${FAULT_DURATION:-20s} # faults: length of the load
FAULT_AT=${FAULT_AT:-3s}              # faults: when c2 is hit
FAULT_FOR=${FAULT_FOR:-10s}           # faults: how long c2 stays stopped
FAULT_TIMEOUT=${FAULT_TIMEOUT:-5s}    # faults: each request's timeout
FAULT_PROXIES=${FAULT_PROXIES:-nginx jenkinds}
HEDGE_AFTER=${HEDGE_AFTER:-500ms}     # jenkinds' --proxy-hedge-after; the slowest-request aim is this + 200 ms
SERVE_ARGS=${SERVE_ARGS:-}            # more `jenkinds serve` flags
PORT_BASE=${PORT_BASE:-28600}         # first port tried; busy ones are skipped
ONLY=${ONLY:-all}                     # all, check, throughput or faults
CLIENT_CPU=0
SERVER_CPU=1
ADMIN_TOKEN=bench-fleet-admin-token-0123456789 # throwaways
SIM_USER=admin
SIM_TOKEN=11benchfleet0a1b2c3d4e5f6a7b8c9d0e1f
API_USER=$SIM_USER:$SIM_TOKEN
AUTH_HEADER="Authorization: Basic $(printf '%s' "$API_USER" | base64 -w0)"
CONSOLE_READS=() # every build of hello's progressiveText, once seeded (the console faults)
READS=(
  '/api/json?tree=jobs[name,color]'
  '/job/hello/api/json?tree=builds[number,result]'
  '/computer/api/json?tree=computer[displayName,offline]'
  '/queue/api/json'
)
TARGETS=(direct nginx jenkinds)

loopback_only "$HOST"
case $ONLY in all | check | throughput | faults) ;; *) die "ONLY=$ONLY: want all, check, throughput or faults" ;; esac
need_tools nginx wrk jq taskset curl pgrep go base64
bench_dir jenkinds-bench-fleet

log "building into $BIN…"
go build -o "$BIN/" ./cmd/jenkinds ./bench/proxy/loadgen ./bench/fleet/reqline
grep -q -- 'proxy-listen' <<<"$("$BIN/jenkinds" serve -h 2>&1 || true)" || die "jenkinds has no --proxy-listen"

# --- controllers -----------------------------------------------------------

# The jobs of every controller: SEQ makes each build distinct (Jenkins
# merges identical queue items); SIM_RESULT scripts its result.
cat >"$TMP/jobs.json" <<'EOF'
[{"name":"hello","parameters":[{"name":"SEQ"},{"name":"SIM_RESULT","default":"SUCCESS"},{"name":"SIM_DURATION_MS","default":"0"}]},
 {"name":"deploy","parameters":[{"name":"ENV","type":"choice","choices":["qa","prod"]},{"name":"SEQ"},
   {"name":"SIM_RESULT","default":"SUCCESS"},{"name":"SIM_DURATION_MS","default":"0"}]}]
EOF

declare -a SPORT SPID SURL
for i in 1 2 3; do
  alloc_port "SPORT[$i]"
  SURL[$i]=http://$HOST:${SPORT[$i]}
done
start_sim() {
  start "c$1" "$BIN/jenkinds" sim --controllers 1 --host "$HOST" --base-port "${SPORT[$1]}" \
    --user "$SIM_USER" --token "$SIM_TOKEN" --jobs "$TMP/jobs.json" --agents 2 --executors 2 \
    --quiet-period 0 --build-duration 0s
  SPID[$1]=$STARTED
  wait_ok "${SURL[$1]}/api/json" "c$1" -u "$API_USER"
}

# ensure_sims: every simulator running and answering (after a stop or a kill).
ensure_sims() {
  local i
  for i in 1 2 3; do
    kill -CONT "${SPID[$i]}" 2>/dev/null || true
    if ! kill -0 "${SPID[$i]}" 2>/dev/null; then
      unset "RUNNING[${SPID[$i]}]"
      start_sim "$i"
    fi
    wait_ok "${SURL[$i]}/api/json" "c$i" -u "$API_USER"
  done
}

# --- the servers in front --------------------------------------------------

alloc_port NGINX_PORT
alloc_port JK_ADMIN_PORT
alloc_port JK_PORT
alloc_port REQLINE_PORT
ADMIN=http://$HOST:$JK_ADMIN_PORT
FRONT=http://$HOST:$JK_PORT

start_nginx() {
  start_nginx_over "$HOST:$NGINX_PORT" "$HOST:${SPORT[1]}" "$HOST:${SPORT[2]}" "$HOST:${SPORT[3]}"
  NGINX_PID=$STARTED
  wait_ok "http://$HOST:$NGINX_PORT/api/json" nginx -u "$API_USER"
}

admin() { curl -fsS --max-time 5 -H "Authorization: Bearer $ADMIN_TOKEN" "$@"; }

# healthy_count: how many controllers jenkinds finds healthy.
healthy_count() {
  admin "$ADMIN/api/v1/instances" 2>/dev/null | jq '[.[] | select(.healthStatus == "healthy")] | length' 2>/dev/null || echo 0
}

# wait_healthy: until jenkinds finds c1, c2 and c3 healthy, at most 30 s.
wait_healthy() {
  local i
  for ((i = 0; i < 300; i++)); do
    [[ $(healthy_count) == 3 ]] && return 0
    sleep 0.1
  done
  tail -20 "$TMP/jenkinds.log" >&2
  die "jenkinds did not find c1, c2 and c3 healthy within 30 s"
}

JK_REGISTERED=""
# start_jenkinds: jenkinds serve on the same data directory every time; the
# controllers are registered at the first start (the registry keeps them).
start_jenkinds() {
  local i
  # shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
  start jenkinds env JENKINDS_ADMIN_TOKEN="$ADMIN_TOKEN" "$BIN/jenkinds" serve \
    --data-dir "$TMP/jenkinds-data" --listen "$HOST:$JK_ADMIN_PORT" --proxy-listen "$HOST:$JK_PORT" \
    --health-interval 1000 --health-timeout 500 --proxy-hedge-after "$HEDGE_AFTER" --log-level warn $SERVE_ARGS
  JK_PID=$STARTED
  wait_ok "$ADMIN/healthz" jenkinds
  if [[ -z $JK_REGISTERED ]]; then
    for i in 1 2 3; do
      admin -o /dev/null -X POST "$ADMIN/api/v1/instances" -H 'Content-Type: application/json' \
        -d "{\"name\":\"c$i\",\"url\":\"${SURL[$i]}\",\"username\":\"$SIM_USER\",\"apiToken\":\"$SIM_TOKEN\",\"clusterId\":\"default\"}" ||
        die "register c$i with jenkinds"
    done
    JK_REGISTERED=1
  fi
  wait_healthy
}

stop_jenkinds() { stop "$JK_PID"; }

# --- builds ----------------------------------------------------------------

# get URL: the JSON of an authenticated read ("[" "]" kept raw: curl -g).
get() { curl -fsSg --max-time 10 -u "$API_USER" "$1"; }

# hello_builds URL: how many builds of hello URL lists, and how many ended.
hello_builds() { get "$1/job/hello/api/json?tree=builds[number,result]" | jq -r '"\(.builds | length) \([.builds[] | select(.result != null)] | length)"'; }

# seed: 6 builds of hello (one FAILURE) and 2 of deploy through the front
# door, placed by jenkinds; once they ended, one build of each job on each
# controller directly (jenkinds records them as direct builds). So every
# controller has builds of both jobs, the last build of each is a SUCCESS
# everywhere (the same color, blue, on every controller and in jenkinds'
# history), and jenkinds' history holds both kinds of build. Waits until jenkinds lists as many ended builds of hello as the
# controllers together.
seed() {
  local i n want got
  trigger() { curl -fsS -o /dev/null --max-time 10 -u "$API_USER" -X POST "$1" || die "trigger $1"; }
  trigger "$FRONT/job/hello/buildWithParameters?SEQ=f0&SIM_RESULT=FAILURE"
  for i in 1 2 3 4 5; do trigger "$FRONT/job/hello/buildWithParameters?SEQ=f$i"; done
  for i in 1 2; do trigger "$FRONT/job/deploy/buildWithParameters?SEQ=f$i&ENV=qa"; done
  for ((n = 0; n < 300; n++)); do
    [[ $(hello_builds "$FRONT") == "6 6" ]] && break
    sleep 0.1
  done
  for i in 1 2 3; do
    trigger "${SURL[$i]}/job/hello/buildWithParameters?SEQ=direct"
    trigger "${SURL[$i]}/job/deploy/buildWithParameters?SEQ=direct&ENV=qa"
  done
  for ((n = 0; n < 600; n++)); do
    want=0
    for i in 1 2 3; do want=$((want + $(hello_builds "${SURL[$i]}" | cut -d' ' -f2))); done
    got=$(hello_builds "$FRONT")
    [[ $got == "$want $want" && $want == 9 ]] && return 0
    sleep 0.1
  done
  log "run.sh: jenkinds lists '$got' (builds, ended) of hello after 60 s; the controllers $want ended ones"
}

# --- the harness checks itself ---------------------------------------------

# what_wrk_sends READ: the request line wrk sends for READ, as a server
# receives it.
what_wrk_sends() {
  local out
  out=$("$BIN/reqline" -listen "$HOST:$REQLINE_PORT" -timeout 5s 2>&1 &
    sleep 0.2
    taskset -c "$CLIENT_CPU" wrk -t1 -c1 -d1s -H "$AUTH_HEADER" "http://$HOST:$REQLINE_PORT$1" >/dev/null 2>&1
    wait)
  printf '%s' "$out"
}

# shape READ FILE: whether FILE (an answer to READ) has what READ asks for,
# and only that; prints a short description, returns 1 when it does not.
shape() {
  local f=$2 filter
  case $1 in
  /api/json*) filter='.jobs as $x | ($x | length > 0) and all($x[]; (keys - ["_class"]) == ["color", "name"]) and (keys - ["_class"]) == ["jobs"]
      | if . then "\($x | length) jobs [name,color]" else error("not jobs[name,color]") end' ;;
  /job/*) filter='.builds as $x | ($x | length > 0) and all($x[]; (keys - ["_class"]) == ["number", "result"]) and (keys - ["_class"]) == ["builds"]
      | if . then "\($x | length) builds [number,result]" else error("not builds[number,result], or none") end' ;;
  /computer/*) filter='.computer as $x | ($x | length > 0) and all($x[]; (keys - ["_class"]) == ["displayName", "offline"]) and (keys - ["_class"]) == ["computer"]
      | if . then "\($x | length) nodes [displayName,offline]" else error("not computer[displayName,offline]") end' ;;
  /queue/*) filter='if has("items") then "\(.items | length) items" else error("no items") end' ;;
  esac
  jq -r "$filter" "$f" 2>/dev/null || return 1
}

# content_check: jenkinds' answers to the four reads against the
# controllers' (c1, c2, c3), as a Jenkins client would compare them. Prints
# one line per read; returns 1 when any differs.
content_check() {
  local dir=$TMP/content i bad=0 a b
  mkdir -p "$dir"
  for i in 0 1 2 3; do
    get "$FRONT${READS[$i]}" >"$dir/jk-$i.json" 2>"$dir/jk-$i.err" || echo '{}' >"$dir/jk-$i.json"
    for c in 1 2 3; do get "${SURL[$c]}${READS[$i]}" >"$dir/c$c-$i.json" 2>/dev/null || echo '{}' >"$dir/c$c-$i.json"; done
  done
  # jobs: the same names and colors as every controller (they all have the
  # same jobs, and the last build of each is a SUCCESS everywhere).
  a=$(jq -c '[.jobs[]? | {name, color}] | sort_by(.name)' "$dir/jk-0.json")
  for c in 1 2 3; do
    b=$(jq -c '[.jobs[]? | {name, color}] | sort_by(.name)' "$dir/c$c-0.json")
    if [[ $a != "$b" ]]; then
      echo "  jobs:  DIFFER from c$c: jenkinds $a, c$c $b"
      bad=1
    fi
  done
  ((bad)) || echo "  jobs:  same as each controller: $(jq -r '[.jobs[] | "\(.name) \(.color)"] | join(", ")' "$dir/jk-0.json")"
  if [[ $(jq -c '.jobs[0] | keys_unsorted' "$dir/jk-0.json") != $(jq -c '.jobs[0] | keys_unsorted' "$dir/c1-0.json") ]]; then
    echo "         (note: field order differs: jenkinds $(jq -c '.jobs[0] | keys_unsorted' "$dir/jk-0.json"), controller $(jq -c '.jobs[0] | keys_unsorted' "$dir/c1-0.json"))"
  fi
  # builds of hello: the controllers' together, in global numbers 1…N.
  a=$(jq -c '[.builds[]?.result] | sort' "$dir/jk-1.json")
  b=$(jq -s -c '[.[].builds[]?.result] | sort' "$dir"/c[123]-1.json)
  if [[ $a == "$b" ]] && jq -e '[.builds[].number] | sort == [range(1; length + 1)]' "$dir/jk-1.json" >/dev/null; then
    echo "  builds of hello: same as the controllers together: $(jq -r '.builds | "\(length) (\(group_by(.result) | map("\(length) \(.[0].result)") | join(", ")))"' "$dir/jk-1.json"), numbered 1…N"
  else
    echo "  builds of hello: DIFFER: jenkinds $(jq -c '[.builds[]? | [.number, .result]]' "$dir/jk-1.json"), the controllers' results $b"
    bad=1
  fi
  # nodes: every controller's, a repeated name shown as "NAME on cN".
  a=$(jq -c '[.computer[]? | {n: (.displayName | sub(" on c[0-9]+$"; "")), offline}] | sort_by(.n)' "$dir/jk-2.json")
  b=$(jq -s -c '[.[].computer[]? | {n: .displayName, offline}] | sort_by(.n)' "$dir"/c[123]-2.json)
  if [[ $a == "$b" ]]; then
    echo "  nodes: same as the controllers together: $(jq -r '.computer | "\(length), \(map(select(.offline)) | length) offline"' "$dir/jk-2.json")"
  else
    echo "  nodes: DIFFER: jenkinds $(jq -c '[.computer[]? | [.displayName, .offline]]' "$dir/jk-2.json"), the controllers $b"
    bad=1
  fi
  # queue: as many items as the controllers together (none: every build ended).
  a=$(jq '.items | length' "$dir/jk-3.json" 2>/dev/null || echo none)
  b=$(jq -s '[.[].items | length] | add' "$dir"/c[123]-3.json)
  if [[ $a == "$b" ]]; then
    echo "  queue: same as the controllers together: $a items"
  else
    echo "  queue: DIFFER: jenkinds $a items, the controllers $b"
    bad=1
  fi
  return "$bad"
}

# content_gate: content_check until it passes, at most 30 s (a jenkinds
# that has just started may still be reading the controllers); prints the
# last result.
content_gate() {
  local out end=$((SECONDS + 30))
  until out=$(content_check) || ((SECONDS >= end)); do sleep 0.5; done
  printf '%s\n' "$out"
}

# --- throughput ------------------------------------------------------------

declare -A FIRST # by run: wrk's first answer, checked

# measure TARGET I: wrk on read I through TARGET, which is running. The
# warm-up (1 s) keeps wrk's first answer (status and body) for a check.
measure() {
  local name=$1 i=$2 url pids k=$1.$2
  case $name in
  direct) url=${SURL[1]} pids=${SPID[1]} ;;
  nginx) url=http://$HOST:$NGINX_PORT pids=$NGINX_PID ;;
  jenkinds) url=$FRONT pids=$JK_PID ;;
  esac
  url+=${READS[$i]}
  cat >"$TMP/first.lua" <<EOF
local kept = false
response = function(status, headers, body)
  if not kept then
    kept = true
    local f = io.open("$TMP/first-$k.txt", "w")
    f:write(body)
    f:close()
    f = io.open("$TMP/first-$k.status", "w")
    f:write(status)
    f:close()
  end
end
EOF
  rm -f "$TMP/first-$k.txt" "$TMP/first-$k.status"
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d1s -s "$TMP/first.lua" -H "$AUTH_HEADER" "$url" >/dev/null
  if [[ $(cat "$TMP/first-$k.status" 2>/dev/null) == 200 ]] && FIRST[$k]=$(shape "${READS[$i]}" "$TMP/first-$k.txt"); then
    FIRST[$k]="200, ${FIRST[$k]}"
  else
    FIRST[$k]="BAD: $(cat "$TMP/first-$k.status" 2>/dev/null || echo 'no answer') $(head -c 120 "$TMP/first-$k.txt" 2>/dev/null | tr '\n' ' ')"
  fi
  measure_wrk "$k" "$pids" "${SPID[*]}" -H "$AUTH_HEADER" "$url"
}

print_read() {
  local i=$1 name k tr cr
  echo
  echo "== GET ${READS[$i]} (Basic auth)"
  # µ is two bytes: its columns are one wider in the header.
  printf '%-9s %8s %9s %9s %15s %13s %7s %6s  %s\n' target req/s p50 p99 "server µs/req" "sims µs/req" errors other "wrk's first answer"
  for name in "${TARGETS[@]}"; do
    k=$name.$i
    printf '%-9s %8s %9s %9s %14s %12s %7s %6s  %s\n' "$name" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" \
      "${CPU[$k]}" "${BCPU[$k]}" "${ERRS[$k]}" "${OTHER[$k]}" "${FIRST[$k]}"
  done
  tr=$(ratio "${RPS[jenkinds.$i]}" "${RPS[nginx.$i]}")
  cr=$(ratio "${CPU[jenkinds.$i]}" "${CPU[nginx.$i]}")
  printf 'jenkinds / nginx: throughput %s× (aim ≥ 1.00×: %s), CPU per request %s× (aim ≤ 2.00×: %s)\n' \
    "$tr" "$(aim "$tr" '>=' 1)" "$cr" "$(aim "$cr" '<=' 2)"
}

print_summary() {
  local i tr cr
  echo
  echo "== jenkinds / nginx, every read (aims: throughput ≥ 1.00×, CPU per request ≤ 2.00×)"
  printf '%-56s %11s %-7s %11s %-7s\n' read throughput "" "CPU/req" ""
  for i in "${!READS[@]}"; do
    tr=$(ratio "${RPS[jenkinds.$i]}" "${RPS[nginx.$i]}")
    cr=$(ratio "${CPU[jenkinds.$i]}" "${CPU[nginx.$i]}")
    printf '%-56s %10s× %-7s %10s× %-7s\n' "${READS[$i]}" "$tr" "$(aim "$tr" '>=' 1)" "$cr" "$(aim "$cr" '<=' 2)"
  done
  disturbed "${OTHER[@]}"
}

throughput() {
  local i
  start_nginx
  for i in "${!READS[@]}"; do
    log "throughput: ${READS[$i]}: direct…"
    measure direct "$i"
    log "throughput: ${READS[$i]}: nginx…"
    measure nginx "$i"
    log "throughput: ${READS[$i]}: jenkinds…"
    start_jenkinds
    content_gate >"$TMP/gate-$i.txt" || true
    grep -q DIFFER "$TMP/gate-$i.txt" && {
      echo "content check before measuring jenkinds on ${READS[$i]}: DIFFERENCES"
      cat "$TMP/gate-$i.txt"
    }
    measure jenkinds "$i"
    stop_jenkinds
    print_read "$i"
  done
  stop "$NGINX_PID"
  print_summary
}

# --- faults ----------------------------------------------------------------

ms() { awk -v d="$1" 'BEGIN { if (d ~ /ms$/) print d + 0; else print (d + 0) * 1000 }'; }
AIM_SLOWEST=$(($(ms "$HEDGE_AFTER") + 200))ms

# fault PROXY KIND [console]: open-loop load of the four reads through
# PROXY over three healthy controllers — or, with "console", of every build
# of hello's logText/progressiveText (the builds of all three controllers,
# c2's among them; jenkinds only: nginx cannot know which controller ran
# a build); at FAULT_AT c2 is stopped (SIGSTOP, SIGCONT FAULT_FOR later)
# or killed (SIGKILL).
fault() {
  local name=$1 kind=$2 set=${3:-} base spec args=() r label=$1
  ensure_sims
  wait_healthy
  case $name in
  nginx) base=http://$HOST:$NGINX_PORT ;;
  jenkinds) base=$FRONT args=(-watch "jenkinds:$ADMIN" -events) ;;
  esac
  case $kind in
  stop) spec=(-fault "stop:${SPID[2]}" -fault-for "$FAULT_FOR") ;;
  kill) spec=(-fault "kill:${SPID[2]}") ;;
  esac
  if [[ $set == console ]]; then
    for r in "${CONSOLE_READS[@]}"; do args+=(-url "$base$r"); done
    label=$name-console
  else
    for r in "${READS[@]}"; do args+=(-url "$base$r"); done
  fi
  JENKINDS_ADMIN_TOKEN=$ADMIN_TOKEN taskset -c "$CLIENT_CPU" "$BIN/loadgen" -v -u "$API_USER" \
    -rate "$RATE" -duration "$FAULT_DURATION" -timeout "$FAULT_TIMEOUT" -fault-at "$FAULT_AT" "${spec[@]}" \
    -faulty c2 -aim-slowest "$AIM_SLOWEST" -label "$label" "${args[@]}" 2>>"$TMP/loadgen-$label-$kind.log" ||
    printf '%-10s %-5s loadgen failed (see %s)\n' "$label" "$kind" "$TMP/loadgen-$label-$kind.log"
}

faults() {
  local kind name
  echo
  echo "== faults: open-loop $RATE req/s for $FAULT_DURATION, the four reads in turn (Basic auth), ${FAULT_TIMEOUT} timeout;" \
    "c2 stopped (SIGSTOP, SIGCONT after $FAULT_FOR) or killed (SIGKILL) at +$FAULT_AT"
  echo "   aims (jenkinds): 0 failed; slowest ≤ --proxy-hedge-after ($HEDGE_AFTER) + 200 ms = $AIM_SLOWEST; c2 marked unhealthy by the health authority"
  "$BIN/loadgen" -header
  start_nginx
  start_jenkinds
  # The consoles first: a simulator killed and started again has lost its
  # builds, so c2's consoles exist only until the first kill.
  if [[ " $FAULT_PROXIES " == *" jenkinds "* && ${#CONSOLE_READS[@]} -gt 0 ]]; then
    for kind in stop kill; do
      log "fault: jenkinds $kind, build consoles…"
      fault jenkinds "$kind" console
    done
  fi
  for kind in stop kill; do
    for name in $FAULT_PROXIES; do
      log "fault: $name $kind…"
      fault "$name" "$kind"
    done
  done
  stop_jenkinds
  stop "$NGINX_PID"
}

# --- run -------------------------------------------------------------------

# main runs once the whole file is read, so an edit of this file while it
# runs cannot change what bash executes.
main() {
  echo "jenkinds fleet-read benchmark — $(date -u +%FT%TZ), $(nproc) cores: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "$(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(go version | cut -d' ' -f3), jenkinds $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+changes')"
  echo "wrk: 1 thread, $CONNS connections, $DURATION (after 1 s warm-up) on core $CLIENT_CPU; servers (3 simulators, nginx, jenkinds) on core $SERVER_CPU"

  log "starting 3 simulators and jenkinds…"
  for i in 1 2 3; do start_sim "$i"; done
  start_jenkinds
  log "seeding builds…"
  seed
  local n k
  n=$(hello_builds "$FRONT" | cut -d' ' -f1)
  for ((k = 1; k <= n; k++)); do CONSOLE_READS+=("/job/hello/$k/logText/progressiveText?start=0"); done
  echo
  echo "== harness check"
  for i in "${!READS[@]}"; do
    echo "  wrk sends: $(what_wrk_sends "${READS[$i]}")"
  done
  echo "  content check: jenkinds' answers against the controllers':"
  content_gate
  stop_jenkinds

  if [[ $ONLY == all || $ONLY == throughput ]]; then throughput; fi
  if [[ $ONLY == all || $ONLY == faults ]]; then faults; fi
}

main "$@"; exit 0
