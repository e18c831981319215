#!/usr/bin/env bash
# dfer prep as a Slurm job on a real local cluster (jobs/slurm/dfer.sbatch prep, srun --mpi=pmix, 2 tasks):
# once the first tracks are written the test sends the tasks SIGUSR1 (as Slurm does before a time
# limit: scancel --signal=USR1); every worker finishes its clip, prep exits 3, the batch script
# requeues the job, and the requeued job keeps the tracks done and completes the dataset.
# usage: slurm_prep.sh DFER SOURCE_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2")
tmp=$(mktemp -d /tmp/dfer-slurm-prep-XXXXXX)
. "$src/tests/lib/slurm_fixture.sh"
slurm_start
"$dfer" synth --layout dfew --clips 16 --size 224 --seed 5 --threads 2 --out "$tmp/data" >/dev/null 2>&1
jid=$(cd "$tmp" && DFER="$dfer" sbatch --parsable --ntasks=2 --output="$tmp/job-%j.out" \
      "$src/jobs/slurm/dfer.sbatch" prep --dataset dfew --root "$tmp/data")
for _ in $(seq 600); do [ -n "$(ls "$tmp/data/dfer_prep/landmarks" 2>/dev/null)" ] && break; sleep 0.2; done
scancel --signal=USR1 "$jid"
echo "sent SIGUSR1 to the tasks of job $jid after $(ls "$tmp/data/dfer_prep/landmarks" | wc -l) track(s)"
slurm_wait_job "$jid" 300
out=$(cat "$tmp"/job-*.out)
state=$(scontrol show job "$jid" | grep -o "JobState=[A-Z]*")
[ "$state" = JobState=COMPLETED ] || { echo "job ended $state"; echo "$out"; exit 1; }
grep -q "prep: stopped by a signal with [0-9]* of 16 clips done" <<<"$out" || { echo "$out"; echo "no rank stopped"; exit 1; }
grep -q "dfer-prep: stopped by a signal, its work saved; requeueing job $jid" <<<"$out" \
  || { echo "$out"; echo "the batch script did not requeue"; exit 1; }
/usr/bin/python3 - "$tmp/data/dfer_prep/prep_summary.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["clips"] == 16 and d["skipped"] > 0 and d["skipped"] + d["computed"] == 16, d
print(f"requeued: {d['skipped']} tracks kept from before the signal, {d['computed']} computed -> completed")
PY
[ "$(ls "$tmp/data/dfer_prep/landmarks" | wc -l)" = 16 ] || { echo "not every clip has a track"; exit 1; }
