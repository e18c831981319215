#!/usr/bin/env bash
# jobs/slurm/dfer.sbatch with the commands other than the matrix (slurm_matrix.sh), on a real local
# cluster (srun --mpi=pmix). Once the job is under way the test sends its tasks SIGUSR1 (as Slurm
# does before a time limit: scancel --signal=USR1); dfer exits 3 with its work saved, the batch
# script requeues the job, and the requeued job continues and completes.
#   prep:  2 tasks over a 16-clip set; the requeued job keeps the tracks done and computes the rest.
#   train: 1 task; the requeued run gets --resume and ends with bitwise the parameters of an
#          uninterrupted run outside Slurm.
# usage: slurm_batch.sh DFER SOURCE_DIR SHARED_DIR prep|train
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3") mode=$4
tmp=$(mktemp -d /tmp/dfer-slurm-batch-XXXXXX)
. "$src/tests/lib/slurm_fixture.sh"
slurm_start
submit() { # TASKS ARGS...: submits dfer.sbatch ARGS with TASKS tasks; prints the job id
  local tasks=$1
  shift
  (cd "$tmp" && DFER="$dfer" sbatch --parsable --ntasks="$tasks" --output="$tmp/job-%j.out" "$src/jobs/slurm/dfer.sbatch" "$@")
}
# until_then_usr1 JID COMMAND...: once the command succeeds (1 minute at most), SIGUSR1 to the job's tasks
until_then_usr1() {
  local jid=$1
  shift
  for _ in $(seq 300); do "$@" && break; sleep 0.2; done
  scancel --signal=USR1 "$jid"
}
# completed_after_requeue JID: the job completed, its tasks stopped on the signal and it was requeued
completed_after_requeue() {
  local jid=$1 state
  slurm_wait_job "$jid" 300
  out=$(cat "$tmp"/job-*.out)
  state=$(scontrol show job "$jid" | grep -o "JobState=[A-Z]*")
  [ "$state" = JobState=COMPLETED ] || { echo "job ended $state"; echo "$out"; exit 1; }
  grep -q "dfer-$mode: stopped by a signal, its work saved; requeueing job $jid" <<<"$out" \
    || { echo "$out"; echo "the batch script did not requeue"; exit 1; }
}

if [ "$mode" = prep ]; then
  "$dfer" synth --layout dfew --clips 16 --size 224 --seed 5 --threads 2 --out "$tmp/data" >/dev/null 2>&1
  jid=$(submit 2 prep --dataset dfew --root "$tmp/data")
  has_track() { [ -n "$(ls "$tmp/data/dfer_prep/landmarks" 2>/dev/null)" ]; }
  until_then_usr1 "$jid" has_track
  completed_after_requeue "$jid"
  grep -q "prep: stopped by a signal with [0-9]* of 16 clips done" <<<"$out" || { echo "$out"; echo "no rank stopped"; exit 1; }
  /usr/bin/python3 - "$tmp/data/dfer_prep/prep_summary.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["clips"] == 16 and d["skipped"] > 0 and d["skipped"] + d["computed"] == 16, d
print(f"prep requeued: {d['skipped']} tracks kept from before the signal, {d['computed']} computed -> completed")
PY
  [ "$(ls "$tmp/data/dfer_prep/landmarks" | wc -l)" = 16 ] || { echo "not every clip has a track"; exit 1; }
elif [ "$mode" = train ]; then
  . "$src/tests/lib/train_fixture.sh"
  train_fixture
  train_common finecliper train.epochs=30 train.threads=1 train.log_every=1
  "$dfer" train "${common[@]}" --out "$tmp/full" >/dev/null 2>&1
  jid=$(submit 1 train "${common[@]}" --out "$tmp/run")
  steps() { [ "$(grep -c '"type":"step"' "$tmp/run/metrics.jsonl" 2>/dev/null)" -ge "$1" ]; }
  until_then_usr1 "$jid" steps 6
  completed_after_requeue "$jid"
  grep -q "resuming .* at epoch" <<<"$out" || { echo "$out"; echo "the requeued run did not resume"; exit 1; }
  cmp -s "$tmp/full/model.safetensors" "$tmp/run/model.safetensors" || { echo "requeued and resumed: parameters DIFFER"; exit 1; }
  echo "train requeued: $(grep -o 'resuming .* at epoch [0-9]*, step [0-9]*' <<<"$out" | sed "s|$tmp/||" | head -n 1) -> parameters bitwise those of an uninterrupted run"
else
  echo "unknown mode '$mode'"; exit 2
fi
