#!/usr/bin/env bash
# A run whose number of ranks matrix.ranks_per_job does not divide stops at once, every rank with an error that
# names the matrix file and the key (it said "ranks_per_job = 2 does not divide the 3 ranks of this run", with
# neither the file nor the section to look in).
# usage: matrix_ranks_per_job.sh DFER SOURCE_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2")
tmp=$(mktemp -d /tmp/dfer-matrix-ranks-per-job-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "FAIL: $*"; exit 1; }
cat >"$tmp/pairs.ini" <<INI
[matrix]
name = pairs
ranks_per_job = 2
methods = finecliper=$src/configs/synth/finecliper.ini
datasets = dfew=$tmp/no-data
backbones = tiny=$tmp/no-weights.safetensors
INI
rc=0
timeout 120 mpirun --oversubscribe --mca btl self,vader -np 3 "$dfer" matrix "$tmp/pairs.ini" --results "$tmp/res" \
  >"$tmp/run.log" 2>&1 || rc=$?
cat "$tmp/run.log"
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "3 ranks, ranks_per_job = 2: the run exited $rc"
[ "$(grep -c "pairs.ini: matrix.ranks_per_job = 2 does not divide the 3 ranks of this run" "$tmp/run.log")" = 3 ] \
  || fail "not every rank names the file and matrix.ranks_per_job"
[ ! -e "$tmp/res" ] || fail "the results folder was made by a run that cannot start"
echo "3 ranks, ranks_per_job = 2: every rank names the matrix file and the key"
