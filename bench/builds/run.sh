#!/usr/bin/env bash
# Measures jenkinds' durable builds through the front door, against 5
# simulated Jenkins controllers, each a `jenkinds sim` process of its own,
# on this machine, over loopback only:
#
#   bash bench/builds/run.sh                        # about 2 minutes, SQLite
#   DATABASE=postgres://postgres@127.0.0.1:5432/test?sslmode=disable bash bench/builds/run.sh
#   DURATION=30s bash bench/builds/run.sh           # longer accept/follow phases
#   PHASES=follow INFLIGHT=20000 EXECUTORS=2000 bash bench/builds/run.sh
#   PHASES=backlog bash bench/builds/run.sh        # about 20 minutes at today's drain rate
#   PHASES=dbrestart DATABASE=postgres://… bash bench/builds/run.sh   # restarts PostgreSQL!
#
# 1. accept: CONNS clients POST buildWithParameters (zero-duration builds,
#    distinct parameters) for DURATION: builds accepted per second.
# 2. complete: a burst of BURST zero-duration builds: builds completed per
#    second, from the first trigger to the last build finished.
# 3. follow: INFLIGHT long builds in flight; the simulators count the
#    requests jenkinds makes to them for DURATION: requests per controller
#    per second per 100 builds.
# 4. backlog (not run by default): in a world of its own, BACKLOG builds of
#    BACKLOG_BUILD_MS accepted first, then drained by BACKLOG_CONTROLLERS
#    controllers registered with jenkinds' defaults: the drain rate against
#    the rate their executors allow, and the leader's CPU meanwhile.
# 5. dbrestart (not run by default; PostgreSQL only, and it restarts the
#    server with DB_RESTART): CONNS clients trigger builds for DURATION,
#    PostgreSQL restarted a third of the way in: failed triggers (aim 0),
#    and whether every accepted build finished and ran exactly once.
# Each phase prints the CPU seconds of jenkinds, the simulators and the load
# generator (and PostgreSQL's, when it runs here). Nothing is pinned: all
# of them share the machine's cores, as they would on a 2-core box.
#
# Needs Go. Everything it starts is stopped on exit, Ctrl-C and TERM (and
# dies with the load generator); logs live in a temporary directory (kept
# with KEEP_TMP=1). Long waits print a progress line every PROGRESS.
# README.md beside this file says how to read the output.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10s}      # accept phase; follow phase's measurement
CONNS=${CONNS:-64}             # concurrent triggering clients
BURST=${BURST:-10000}          # builds of the complete phase
INFLIGHT=${INFLIGHT:-10000}    # builds in flight in the follow phase
CONTROLLERS=${CONTROLLERS:-5}  # simulated controllers, one process each
EXECUTORS=${EXECUTORS:-1100}   # per node, 2 nodes per controller: 10% over INFLIGHT
DATABASE=${DATABASE:-}         # empty: SQLite in the temporary directory
PHASES=${PHASES:-accept,complete,follow}
DB_RESTART=${DB_RESTART:-}     # dbrestart phase: command restarting PostgreSQL (empty: pg_ctlcluster of /etc/postgresql's one cluster)
SERVE_ARGS=${SERVE_ARGS:-}     # more `jenkinds serve` flags
PROGRESS=${PROGRESS:-5s}       # between two progress lines of a long wait
BACKLOG=${BACKLOG:-20000}                      # backlog phase: builds accepted, then drained
BACKLOG_CONTROLLERS=${BACKLOG_CONTROLLERS:-3}  # its controllers, one process each
BACKLOG_AGENTS=${BACKLOG_AGENTS:-1}            # agents per controller besides the built-in node
BACKLOG_EXECUTORS=${BACKLOG_EXECUTORS:-4}      # executors per node: 3 × 2 × 4 = 24 executors
BACKLOG_BUILD_MS=${BACKLOG_BUILD_MS:-200}      # SIM_DURATION_MS of its builds
BACKLOG_TIMEOUT=${BACKLOG_TIMEOUT:-0}          # 0: 60s + 10 × what the executors need
BACKLOG_STALL=${BACKLOG_STALL:-2m}             # fail when no build ended for this long
BACKLOG_SAMPLE=${BACKLOG_SAMPLE:-500ms}        # between two reads of jenkinds' /metrics and the simulators
CPUPROFILE=${CPUPROFILE:-}                     # backlog: a 30s CPU profile of jenkinds to this file

log() { printf '%s\n' "$*" >&2; }
die() {
  log "run.sh: $*"
  exit 1
}

command -v go >/dev/null || die "go not found"
(($(nproc) >= 2)) || log "run.sh: warning: fewer than 2 cores; the targets are for 2"

TMP=$(mktemp -d /tmp/jenkinds-bench-builds.XXXXXX)
child=
cleanup() {
  # The load generator stops what it started (jenkinds, the simulators,
  # the PostgreSQL schema) on TERM; they also die with it (Pdeathsig).
  if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if [[ ${KEEP_TMP:-} == 1 ]]; then log "binaries kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building into $TMP…"
nice go build -o "$TMP/jenkinds" ./cmd/jenkinds
nice go build -o "$TMP/builds" ./bench/builds

keep=()
[[ ${KEEP_TMP:-} == 1 ]] && keep=(-keep)
[[ -n $CPUPROFILE ]] && keep+=(-cpuprofile "$CPUPROFILE")
[[ -n $DB_RESTART ]] && keep+=(-db-restart "$DB_RESTART")
# In the background, so that a TERM to this script runs the trap at once
# (bash defers traps while a foreground child runs).
"$TMP/builds" -jenkinds "$TMP/jenkinds" -duration "$DURATION" -conns "$CONNS" -burst "$BURST" \
  -inflight "$INFLIGHT" -controllers "$CONTROLLERS" -executors "$EXECUTORS" -database "$DATABASE" \
  -phases "$PHASES" -serve-args "$SERVE_ARGS" -progress "$PROGRESS" \
  -backlog "$BACKLOG" -backlog-controllers "$BACKLOG_CONTROLLERS" -backlog-agents "$BACKLOG_AGENTS" \
  -backlog-executors "$BACKLOG_EXECUTORS" -backlog-build-ms "$BACKLOG_BUILD_MS" -backlog-timeout "$BACKLOG_TIMEOUT" \
  -backlog-stall "$BACKLOG_STALL" -backlog-sample "$BACKLOG_SAMPLE" \
  "${keep[@]}" &
child=$!
wait "$child"
