#!/usr/bin/env bash
# Measures jenkinds' durable builds through the front door, against 5
# simulated Jenkins controllers, each a `jenkinds sim` process of its own,
# on this machine, over loopback only:
#
#   bash bench/builds/run.sh                        # about 2 minutes, SQLite
#   DATABASE=postgres://postgres@127.0.0.1:5432/test?sslmode=disable bash bench/builds/run.sh
#   DURATION=30s bash bench/builds/run.sh           # longer accept/follow phases
#   PHASES=follow INFLIGHT=20000 EXECUTORS=2000 bash bench/builds/run.sh
#
# 1. accept: CONNS clients POST buildWithParameters (zero-duration builds,
#    distinct parameters) for DURATION: builds accepted per second.
# 2. complete: a burst of BURST zero-duration builds: builds completed per
#    second, from the first trigger to the last build finished.
# 3. follow: INFLIGHT long builds in flight; the simulators count the
#    requests jenkinds makes to them for DURATION: requests per controller
#    per second per 100 builds.
# Each phase prints the CPU seconds of jenkinds, the simulators and the load
# generator (and PostgreSQL's, when it runs here). Nothing is pinned: all
# of them share the machine's cores, as they would on a 2-core box.
#
# Needs Go. Everything it starts is stopped on exit (and dies with the load
# generator); logs live in a temporary directory (kept with KEEP_TMP=1).
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
SERVE_ARGS=${SERVE_ARGS:-}     # more `jenkinds serve` flags

log() { printf '%s\n' "$*" >&2; }
die() {
  log "run.sh: $*"
  exit 1
}

command -v go >/dev/null || die "go not found"
(($(nproc) >= 2)) || log "run.sh: warning: fewer than 2 cores; the targets are for 2"

TMP=$(mktemp -d /tmp/jenkinds-bench-builds.XXXXXX)
cleanup() {
  if [[ ${KEEP_TMP:-} == 1 ]]; then log "binaries kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building into $TMP…"
go build -o "$TMP/jenkinds" ./cmd/jenkinds
go build -o "$TMP/builds" ./bench/builds

keep=()
[[ ${KEEP_TMP:-} == 1 ]] && keep=(-keep)
"$TMP/builds" -jenkinds "$TMP/jenkinds" -duration "$DURATION" -conns "$CONNS" -burst "$BURST" \
  -inflight "$INFLIGHT" -controllers "$CONTROLLERS" -executors "$EXECUTORS" -database "$DATABASE" \
  -phases "$PHASES" -serve-args "$SERVE_ARGS" "${keep[@]}"
