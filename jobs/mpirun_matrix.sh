#!/usr/bin/env bash
# A dfer job matrix on one machine: N ranks (default: the number of cores).
#   jobs/mpirun_matrix.sh MATRIX.ini [N] [RESULTS_DIR]
# Starting it again skips finished jobs and resumes the others; `dfer matrix --status
# MATRIX.ini [--results RESULTS_DIR]` shows from another shell where each job stands.
# Exit status 3: stopped by a signal (Ctrl-C, SIGTERM, SIGUSR1, SIGHUP) to this script, checkpointed; 4: a rank made no progress
# for train.hang_minutes and said where it waited (docs/troubleshooting.md); after either, starting it
# again resumes.
#
# A SIGTERM or Ctrl-C goes to the ranks as SIGUSR1 (dfer treats them alike): mpirun forwards USR1 as it
# is, but answers TERM and INT by killing every rank a moment later, before they finish the step and
# write their checkpoint. With train.threads = 0 each rank takes its share of the cores.
set -euo pipefail
matrix=${1:?usage: jobs/mpirun_matrix.sh MATRIX.ini [N] [RESULTS_DIR]}
n=${2:-$(nproc)}
results=()
[ $# -ge 3 ] && results=(--results "$3")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# mpirun in a process group of its own (job control on), so that a Ctrl-C at the terminal reaches this
# script only, which forwards it as SIGUSR1
set -m
# the trap first: a signal between mpirun's start and the trap would end this script and leave mpirun
# running unwatched; a stop asked for before mpirun has a pid is passed on once it has one
pid='' stop_asked=0
# shellcheck disable=SC2317 # (a trap handler: shellcheck sees no call)
stop() {
  echo "mpirun_matrix: stopping: the ranks finish their step, checkpoint and exit (status 3)" >&2
  if [ -n "$pid" ]; then kill -USR1 "$pid" 2>/dev/null || true; else stop_asked=1; fi
}
trap stop TERM INT USR1 HUP
[ "$stop_asked" = 0 ] || exit 3 # nothing started: nothing to save
mpirun --oversubscribe -np "$n" "${DFER:-build/dfer}" matrix "$matrix" "${results[@]}" &
pid=$!
# a stop during the start: passed on once mpirun has had a moment to set up its own handling of USR1
if [ "$stop_asked" = 1 ]; then sleep 2; kill -USR1 "$pid" 2>/dev/null || true; fi
rc=0
while :; do
  # a trapped signal ends the wait early (status > 128) with mpirun still running: wait again
  status=0
  wait "$pid" || status=$?
  if ! kill -0 "$pid" 2>/dev/null; then
    # it may have ended just after the signal cut the wait short: its status is still to be collected
    if [ "$status" -gt 128 ]; then
      again=0
      wait "$pid" 2>/dev/null || again=$?
      [ "$again" = 127 ] || status=$again
    fi
    rc=$status
    break
  fi
done
exit "$rc"
