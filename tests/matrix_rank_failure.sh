#!/usr/bin/env bash
# A job that fails on one rank of its group alone (an error on that rank's node that no collective shares; here
# the test hook DFER_TEST_FAIL_ALONE=RANK:STEPS, here in the second epoch, after a checkpoint) leaves the group's other ranks waiting in one of the job's
# collectives. The matrix ends the run promptly with that rank's message (MPI_Abort) instead of going on to the
# next job's collectives against them or waiting for the hang watchdog (train.hang_minutes, 30 by default) with
# the message unseen; started again it resumes the job from its checkpoint and finishes.
# usage: matrix_rank_failure.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
tmp=$(mktemp -d /tmp/dfer-matrix-rank-failure-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. "$src/tests/lib/matrix_fixture.sh"
matrix_fixture name=rank-failure ranks_per_job=2 epochs=3 set="train.hang_minutes = 10"
sed -i 's/^folds = 1, 2$/folds = 1/' "$tmp/matrix.ini"
mpi=(mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res")
start=$(date +%s)
rc=0
DFER_TEST_FAIL_ALONE=1:5 timeout 300 "${mpi[@]}" >"$tmp/cut.log" 2>&1 || rc=$?
took=$(($(date +%s) - start))
cat "$tmp/cut.log"
[ "$rc" != 0 ] && [ "$rc" != 124 ] || { echo "FAIL: the run with a rank failing alone exited $rc"; exit 1; }
grep -q "failed on rank 1 of the group alone: epoch 2 step [0-9]*: a failure on this rank alone" "$tmp/cut.log" \
  || { echo "FAIL: the failing rank's message is not in the log"; exit 1; }
! grep -q "no progress" "$tmp/cut.log" || { echo "FAIL: the hang watchdog ended it, not the matrix"; exit 1; }
[ "$took" -lt 120 ] || { echo "FAIL: ending the run took $took s"; exit 1; }
job=$(basename "$(dirname "$(ls "$tmp"/res/*/checkpoint.safetensors)")")
[ ! -f "$tmp/res/$job/result.json" ] || { echo "FAIL: the job has a result though a rank failed"; exit 1; }
"${mpi[@]}" >"$tmp/again.log" 2>&1 || { cat "$tmp/again.log"; echo "FAIL: the second start failed"; exit 1; }
grep -q "resuming" "$tmp/again.log" && grep -q '"status":[[:space:]]*"done"' "$tmp/res/$job/result.json" \
  || { cat "$tmp/again.log"; echo "FAIL: the second start did not resume and finish the job"; exit 1; }
echo "a rank failing alone ended the run in $took s with its message; the second start resumed and finished $job"
