#!/usr/bin/env bash
# The job matrix under mpirun with 4 ranks and ranks_per_job 2: two groups run
# different jobs at once. A run killed midway (SIGKILL to every rank: no chance
# to checkpoint on the way out) and started again skips its finished jobs,
# resumes the others from their last checkpoints, and ends with the results of
# an uninterrupted run: bitwise-identical trained parameters, the same
# result.json for every job (best and last epochs, confusion matrices), the same tables.
# usage: matrix_restart.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
tmp=$(mktemp -d /tmp/dfer-matrix-restart-XXXXXX)
pgid=
cleanup() { [ -n "$pgid" ] && pkill -KILL -s "$pgid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. "$src/tests/lib/matrix_fixture.sh"
. "$src/tests/lib/session.sh"
matrix_fixture name=restart-test ranks_per_job=2 methods="finecliper dfer_clip" epochs=4
mpi=(mpirun --oversubscribe --mca btl self,vader -np 4 "$dfer" matrix "$tmp/matrix.ini")
"${mpi[@]}" --results "$tmp/full" >"$tmp/full.log" 2>&1
grep -q "\[group 0\] job" "$tmp/full.log" && grep -q "\[group 1\] job" "$tmp/full.log" \
  || { echo "the two groups did not both run jobs"; cat "$tmp/full.log"; exit 1; }
# the interrupted run: killed once a job has finished and another has a checkpoint but no result
setsid "${mpi[@]}" --results "$tmp/cut" >"$tmp/cut1.log" 2>&1 &
pgid=$!
killed=0
for _ in $(seq 1200); do
  done_jobs=$({ find "$tmp/cut" -name result.json 2>/dev/null || true; } | wc -l)
  partial=0
  for d in "$tmp"/cut/*/; do
    # evaluated and checkpointed 1 or 2 of its 4 epochs: at least 2 epochs still to run (the
    # evaluation is logged just before the checkpoint is renamed into place: wait for both)
    evals=$({ grep -c '"type":"eval"' "$d/metrics.jsonl" 2>/dev/null || true; })
    if [ ! -f "$d/result.json" ] && [ -f "$d/checkpoint.safetensors" ] && [ "${evals:-0}" -ge 1 ] && [ "${evals:-0}" -le 2 ]; then
      partial=1
    fi
  done
  # every process of the session: Open MPI gives each rank its own process group
  if [ "$done_jobs" -ge 1 ] && [ "$partial" = 1 ]; then pkill -KILL -s "$pgid"; killed=1; break; fi
  kill -0 "$pgid" 2>/dev/null || break
  sleep 0.1
done
wait "$pgid" 2>/dev/null || true
session_wait_gone "$pgid"
pgid=
[ "$killed" = 1 ] || { echo "the run ended before it could be killed midway"; cat "$tmp/cut1.log"; exit 1; }
echo "killed the matrix with $(find "$tmp/cut" -name result.json | wc -l) of 4 jobs finished"
# what dfer matrix --status makes of the killed run: the finished jobs done, the cut one started with its checkpoint
"$dfer" matrix --status "$tmp/matrix.ini" --results "$tmp/cut" >"$tmp/status-cut.txt"
cat "$tmp/status-cut.txt"
finished=$(find "$tmp/cut" -name result.json | wc -l)
[ "$(grep -cE '^[^ ]+ +done +UAR ' "$tmp/status-cut.txt")" = "$finished" ] || { echo "--status: not every finished job is done"; exit 1; }
# each cut job (a checkpoint, no result) at the evaluation its metrics.jsonl logged last: counted after the kill,
# since a job of these tiny runs can log one more evaluation between the loop's look and the kill
cut_jobs=0
for d in "$tmp"/cut/*/; do
  [ -f "$d/checkpoint.safetensors" ] && [ ! -f "$d/result.json" ] || continue
  job=$(basename "$d") evals=$(grep -c '"type":"eval"' "$d/metrics.jsonl")
  grep -qE "^$job +started +epoch [1-4]/4 .*epoch $evals.s test UAR .*; checkpointed; last written .*; stale lock of host $(hostname), pid [0-9]+ \(its process is gone\)$" \
    "$tmp/status-cut.txt" \
    || { echo "--status: $job is not started at its epoch $evals with a checkpoint and its killed run's lock"; exit 1; }
  cut_jobs=$((cut_jobs + 1))
done
[ "$cut_jobs" -ge 1 ] || { echo "no job was cut with a checkpoint"; exit 1; }
grep -qE "^$finished done, 0 failed, [12] started, [0-9] pending; left: about " "$tmp/status-cut.txt" \
  || { echo "--status: summary of the killed run"; exit 1; }
"${mpi[@]}" --results "$tmp/cut" >"$tmp/cut2.log" 2>&1
grep -q "already finished, skipped" "$tmp/cut2.log" || { echo "no finished job was skipped"; cat "$tmp/cut2.log"; exit 1; }
grep -q "took over the stale lock of host $(hostname)" "$tmp/cut2.log" || { echo "no killed run's lock taken over"; cat "$tmp/cut2.log"; exit 1; }
grep -q "resuming .* at epoch" "$tmp/cut2.log" || { echo "no job resumed from a checkpoint"; cat "$tmp/cut2.log"; exit 1; }
for d in "$tmp"/full/*/; do
  job=$(basename "$d")
  cmp -s "$d/model.safetensors" "$tmp/cut/$job/model.safetensors" \
    || { echo "$job: trained parameters differ after the restart"; exit 1; }
  python3 - "$d/result.json" "$tmp/cut/$job/result.json" <<'PY' || { echo "$job: results differ after the restart"; exit 1; }
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for r in (a, b):
    for k in ("seconds", "seconds_this_call", "command", "host", "finished", "finished_unix"):  # the run's own circumstances
        r.pop(k, None)
if a != b:
    print({k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)})
    sys.exit(1)
PY
done
"$dfer" matrix --status "$tmp/matrix.ini" --results "$tmp/cut" | grep -q "^4 done, 0 failed, 0 started, 0 pending; nothing left to run$" \
  || { echo "--status after the restart: not every job done"; exit 1; }
cmp -s "$tmp/full/tables.md" "$tmp/cut/tables.md" || { echo "tables differ"; diff "$tmp/full/tables.md" "$tmp/cut/tables.md"; exit 1; }
echo "killed midway and restarted: 4 jobs with bitwise-identical parameters, the same results and tables as the uninterrupted run"
