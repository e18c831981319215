#!/usr/bin/env bash
# The Slurm path on a real local cluster (munge + slurmctld + slurmd): sbatch
# runs a small matrix with srun --mpi=pmix on 2 tasks; the test waits with a
# deadline and checks the tables. The cluster is stopped on exit.
# usage: slurm_matrix.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
tmp=$(mktemp -d /tmp/dfer-slurm-test-XXXXXX)
state=$tmp/slurm
cleanup() { "$src/jobs/local_slurm.sh" stop "$state" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
"$src/jobs/local_slurm.sh" start "$state" >/dev/null
"$dfer" synth --layout dfew --clips 20 --size 48 --min-frames 6 --max-frames 10 --seed 3 --out "$tmp/data" 2>/dev/null
"$dfer" init --arch tiny --seed 1 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
cat >"$tmp/matrix.ini" <<INI
[matrix]
name = slurm-test
methods = finecliper=$src/configs/synth/finecliper.ini
datasets = dfew=$tmp/data
folds = 1, 2
backbones = tiny=$tmp/clip.safetensors
[set]
train.epochs = 1
train.batch = 4
train.eval_batch = 8
data.frames = 2
train.threads = 1
data.loader_threads = 1
INI
jid=$(cd "$tmp" && DFER="$dfer" sbatch --parsable --ntasks=2 --output="$tmp/job-%j.out" \
      "$src/jobs/slurm/matrix.sbatch" "$tmp/matrix.ini" "$tmp/results")
for _ in $(seq 600); do
  [ -z "$(squeue -h -j "$jid" 2>/dev/null)" ] && break
  sleep 0.5
done
if [ -n "$(squeue -h -j "$jid" 2>/dev/null)" ]; then
  echo "job $jid did not finish in 300 s ($(squeue -h -j "$jid" -o %T/%r))"; scancel "$jid"; exit 1
fi
state_line=$(scontrol show job "$jid" | grep -o "JobState=[A-Z]*")
cat "$tmp"/job-*.out | tail -n 5
[ "$state_line" = "JobState=COMPLETED" ] || { echo "job ended $state_line"; exit 1; }
grep -q "finecliper (low) | [0-9]" "$tmp/results/tables.md" || { echo "no table row"; cat "$tmp/results/tables.md"; exit 1; }
echo "sbatch + srun --mpi=pmix ran the matrix ($(ls -d "$tmp"/results/*/ | wc -l) jobs) and wrote the tables"
