#!/usr/bin/env bash
# Runs a command N times in a row on a machine kept busy by CPU hogs, and
# stops at the first failure, saying which run it was:
#
#   bash bench/underload.sh -n 10 -hog 2 -- go test -race ./...
#   bash bench/underload.sh -n 50 -- go test -race -run TestChaos ./internal/e2e/
#
#   -n N      how many runs (default 1)
#   -hog H    how many hogs, each a shell loop that keeps one core busy
#             (default: as many as the machine has cores)
#
# It flushes out tests that confuse a slow machine with a broken one: a
# deadline too tight, a timing assertion, a sleep standing in for a signal.
# A test that waits for what it needs under generous deadlines passes here,
# only slower. The command gets its output and exit status to itself; the
# script exits with the failing run's status, 0 when every run passed.
#
# The hogs run for the whole loop and are killed when the script exits,
# however it exits (a failure, Ctrl-C, kill); should it be killed with
# SIGKILL, each hog sees its parent gone and exits within a fraction of a
# second.
#
# Without this script, JENKINDS_TEST_HOG=N makes the tests themselves start
# N hogs under every test that uses the shared fixtures (servertest.Start,
# apitest.StartFleet, dbtest.Engines; see internal/testkit):
#
#   JENKINDS_TEST_HOG=2 go test -race ./...
set -euo pipefail

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

runs=1
hogs=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
while (($#)); do
  case $1 in
    -n) runs=${2:?-n wants a number}; shift 2 ;;
    -hog) hogs=${2:?-hog wants a number}; shift 2 ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) break ;;
  esac
done
(($#)) || usage
[[ $runs =~ ^[1-9][0-9]*$ && $hogs =~ ^[0-9]+$ ]] || usage

# The same loop as internal/testkit's hogs: builtins only, and a check
# between rounds that this script is still there.
hog='while kill -0 "$PPID" 2>/dev/null; do i=0; while [ "$i" -lt 20000 ]; do i=$((i+1)); done; done'
pids=()
stop_hogs() {
  ((${#pids[@]})) || return 0
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}
trap stop_hogs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for ((h = 0; h < hogs; h++)); do
  /bin/sh -c "$hog" &
  pids+=($!)
done
echo "underload: $hogs hogs running; $runs runs of: $*" >&2

for ((run = 1; run <= runs; run++)); do
  echo "underload: run $run of $runs" >&2
  status=0
  "$@" || status=$?
  if ((status != 0)); then
    echo "underload: run $run of $runs failed (exit status $status) under $hogs hogs" >&2
    exit "$status"
  fi
done
echo "underload: all $runs runs passed under $hogs hogs" >&2
