#!/usr/bin/env bash
# jobs/mpirun_matrix.sh stopped by SIGTERM or SIGUSR1 (a `kill`, a job scheduler's stop): the script hands it
# to the ranks as SIGUSR1 (mpirun would kill them a moment after forwarding a SIGTERM), every running job
# finishes its step, checkpoints and the script exits with status 3; started again, it resumes the jobs
# and completes the matrix.
# usage: matrix_signal.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
tmp=$(mktemp -d /tmp/dfer-matrix-signal-XXXXXX)
pgid=
cleanup() { [ -n "$pgid" ] && pkill -KILL -s "$pgid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
. "$src/tests/lib/matrix_fixture.sh"
matrix_fixture name=signal-test methods=finecliper epochs=40
export DFER="$dfer"
# SIGTERM, and SIGUSR1 (a batch system's warning signal; the script must catch it too: it died of it and left
# mpirun running unwatched), each to the script alone
for sig in USR1 TERM; do
rm -rf "$tmp/res"
setsid "$src/jobs/mpirun_matrix.sh" "$tmp/matrix.ini" 2 "$tmp/res" >"$tmp/run1.log" 2>&1 &
pgid=$!
# once both jobs have taken a few steps
steps() { [ "$(cat "$tmp"/res/*/metrics.jsonl 2>/dev/null | grep -c '"type":"step"')" -ge 8 ]; }
for _ in $(seq 600); do steps && break; kill -0 "$pgid" 2>/dev/null || break; sleep 0.1; done
steps || { cat "$tmp/run1.log"; echo "the matrix did not get under way"; exit 1; }
kill -"$sig" "$pgid"
status=0
wait "$pgid" || status=$?
# nothing of the run left behind (mpirun and its ranks are the script's to stop)
for _ in $(seq 100); do pgrep -s "$pgid" >/dev/null || break; sleep 0.1; done
! pgrep -s "$pgid" >/dev/null || { pgrep -a -s "$pgid"; echo "SIG$sig: processes of the run outlive the script"; exit 1; }
pgid=
[ "$status" = 3 ] || { cat "$tmp/run1.log"; echo "mpirun_matrix.sh ended with status $status after SIG$sig, not 3"; exit 1; }
for d in "$tmp"/res/*/; do
  [ -f "$d/checkpoint.safetensors" ] && [ ! -f "$d/result.json" ] \
    || { ls -l "$d"; cat "$tmp/run1.log"; echo "$d: not stopped with a checkpoint"; exit 1; }
done
[ "$(grep -c 'interrupted by a signal, checkpointed' "$tmp/run1.log")" = 2 ] \
  || { cat "$tmp/run1.log"; echo "not both jobs said they checkpointed"; exit 1; }
echo "SIG$sig: status 3, both jobs checkpointed at $(grep -h -c '"type":"step"' "$tmp"/res/*/metrics.jsonl | tr '\n' ' ')steps"
done
"$src/jobs/mpirun_matrix.sh" "$tmp/matrix.ini" 2 "$tmp/res" >"$tmp/run2.log" 2>&1 \
  || { cat "$tmp/run2.log"; echo "the second start failed"; exit 1; }
[ "$(grep -c 'resuming .* at epoch' "$tmp/run2.log")" = 2 ] && [ "$(ls "$tmp"/res/*/result.json | wc -l)" = 2 ] \
  || { cat "$tmp/run2.log"; echo "the second start did not resume and finish both jobs"; exit 1; }
echo "started again: both jobs resumed from their checkpoints and finished"
