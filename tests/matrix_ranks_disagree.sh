#!/usr/bin/env bash
# Every rank of a matrix run reads the matrix file on its own node. Ranks that do not all read the same one stop
# together, at once, with an error naming the file (mpirun's MPMD form gives each rank its own file here):
#   - a rank whose file is missing: it hung the run for ever (the others waited in the first collective);
#   - a rank whose file lists fewer folds: the job counter's indices meant other jobs on it, so a job no rank
#     trained went missing and the run ended 0;
#   - a rank whose file differs in [set] alone: its group trained other settings under the same job ids;
#   - one matrix, but a method file (a relative path) that one rank of a 2-rank group cannot configure the job from
#     and the other can: they parted, one into the job's collectives, one into the next job's, and the run hung.
#     The job fails on both, recorded with a pointer to the rank that says why, and the run goes on;
#   - a method file whose train.device = cuda one rank cannot set up (here: a build without CUDA; a node whose GPU
#     is gone) while the other runs on the CPU: the first left alone, the other waited in group_create for ever.
# usage: matrix_ranks_disagree.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
tmp=$(mktemp -d /tmp/dfer-matrix-disagree-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "FAIL: $*"; exit 1; }
. "$src/tests/lib/matrix_fixture.sh"
matrix_fixture name=disagree
sed 's/^folds = 1, 2$/folds = 1/' "$tmp/matrix.ini" >"$tmp/one-fold.ini"
sed 's/^train.epochs = 1$/train.epochs = 2/' "$tmp/matrix.ini" >"$tmp/two-epochs.ini"
cmp -s "$tmp/matrix.ini" "$tmp/one-fold.ini" && fail "the fixture's folds line changed: one-fold.ini is the same"
cmp -s "$tmp/matrix.ini" "$tmp/two-epochs.ini" && fail "the fixture's epochs line changed: two-epochs.ini is the same"

# rank 0 reads matrix.ini, rank 1 the file given
run_pair() {
  local other=$1 log=$2 rc=0
  rm -rf "$tmp/res"
  timeout 60 mpirun --oversubscribe --mca btl self,vader -np 1 "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res" \
    : -np 1 "$dfer" matrix "$other" --results "$tmp/res" >"$log" 2>&1 || rc=$?
  cat "$log"
  [ "$rc" != 0 ] || fail "$(basename "$other") on rank 1: the run exited 0"
  [ "$rc" != 124 ] || fail "$(basename "$other") on rank 1: the run hung (timeout)"
  [ -z "$(find "$tmp/res" -name result.json 2>/dev/null)" ] || fail "$(basename "$other") on rank 1: a job ran"
}

run_pair "$tmp/missing.ini" "$tmp/missing.log"
grep -q "missing.ini: cannot open the matrix file" "$tmp/missing.log" || fail "rank 1's error is not in the log"
grep -q "matrix.ini: 1 rank of this run could not read the matrix" "$tmp/missing.log" \
  || fail "rank 0 does not say that a rank could not read the matrix"

run_pair "$tmp/one-fold.ini" "$tmp/one-fold.log"
grep -q "one-fold.ini: this rank's matrix (1 jobs) is not rank 0's (2 jobs)" "$tmp/one-fold.log" \
  || fail "rank 1 does not say that its matrix is not rank 0's"
grep -q "matrix.ini: 1 rank of this run read another matrix than rank 0's" "$tmp/one-fold.log" \
  || fail "rank 0 does not say that a rank read another matrix"

run_pair "$tmp/two-epochs.ini" "$tmp/two-epochs.log"
grep -q "two-epochs.ini: this rank's matrix (2 jobs) is not rank 0's (2 jobs)" "$tmp/two-epochs.log" \
  || fail "a matrix that differs in [set] alone is not refused"

# rank 0 in A, rank 1 in B: method.ini is valid in A and sets a negative learning rate in B
mkdir "$tmp/A" "$tmp/B"
cp "$src/configs/synth/finecliper.ini" "$tmp/A/method.ini"
sed 's/^lr = .*/lr = -1/' "$tmp/A/method.ini" >"$tmp/B/method.ini"
cmp -s "$tmp/A/method.ini" "$tmp/B/method.ini" && fail "the synth config has no 'lr =' line: B/method.ini is the same"
sed -e 's#^methods = .*#methods = finecliper=method.ini#' -e 's/^folds = 1, 2$/folds = 1/' \
  -e 's/^name = .*/&\nranks_per_job = 2/' "$tmp/matrix.ini" >"$tmp/relative.ini"
# run_in_a_and_b NAME: relative.ini with rank 0 in A and rank 1 in B, results in res-NAME, log NAME.log; sets rc
run_in_a_and_b() {
  rc=0
  timeout 60 mpirun --oversubscribe --mca btl self,vader \
    -np 1 -wdir "$tmp/A" "$dfer" matrix "$tmp/relative.ini" --results "$tmp/res-$1" \
    : -np 1 -wdir "$tmp/B" "$dfer" matrix "$tmp/relative.ini" --results "$tmp/res-$1" >"$tmp/$1.log" 2>&1 || rc=$?
  cat "$tmp/$1.log"
}
run_in_a_and_b relative
[ "$rc" != 124 ] || fail "a job one rank of its group cannot configure: the run hung (timeout)"
[ "$rc" != 0 ] || fail "a job one rank of its group cannot configure: the run exited 0"
grep -q "cannot configure the job on rank 1 of the group: optim.lr" "$tmp/relative.log" \
  || fail "rank 1 does not say why it cannot configure the job"
grep -q '"status":[[:space:]]*"failed"' "$tmp/res-relative"/*/result.json \
  || fail "the job that one rank cannot configure is not recorded as failed"
# rank 0 could configure it: its result.json records rank 1's reason, not "see its log"
recorded='"error":[[:space:]]*"the job cannot be configured on another rank of the group.*'
recorded+=': rank 1 of the group (host [^)]*): .*optim.lr'
grep -q "$recorded" "$tmp/res-relative"/*/result.json ||
  fail "result.json does not record why rank 1 cannot configure the job"

# rank 1's method.ini asks for the GPU
sed 's/^\[train\]$/&\ndevice = cuda/' "$tmp/A/method.ini" >"$tmp/B/method.ini"
grep -q '^device = cuda$' "$tmp/B/method.ini" || fail "the synth config has no [train] section: no device set in B"
run_in_a_and_b device
# where this host has a GPU, rank 1 sets it up: the case needs one that cannot
if "$dfer" --version 2>&1 | grep -q "CUDA: not built" || ! nvidia-smi -L >/dev/null 2>&1; then
  [ "$rc" != 124 ] || fail "a device one rank cannot set up: the run hung (timeout)"
  [ "$rc" != 0 ] || fail "a device one rank cannot set up: the run exited 0"
  grep -q "relative.ini: 1 rank of this run could not set up the first job's device" "$tmp/device.log" \
    || fail "rank 0 does not say that a rank could not set up the device"
  grep -q "method.ini (the first job's train.device serves every job): " "$tmp/device.log" \
    || fail "rank 1's error does not name its method file"
fi

# the same file on every rank still runs
mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res" \
  >"$tmp/same.log" 2>&1 || { cat "$tmp/same.log"; fail "the same matrix on both ranks failed"; }
[ "$(find "$tmp/res" -name result.json | wc -l)" = 2 ] || fail "the same matrix on both ranks did not finish 2 jobs"
echo "ranks reading a missing, a shorter or an otherwise set matrix stop at once with the file named"
