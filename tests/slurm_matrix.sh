#!/usr/bin/env bash
# The Slurm path on a real local cluster (munge + slurmctld + slurmd): sbatch
# runs a small matrix with srun --mpi=pmix on 2 tasks; the test waits with a
# deadline and checks the tables. The cluster is stopped on exit.
# With "preempt": once training is under way the test sends the job's tasks
# SIGUSR1 (as Slurm does before a time limit, `scancel --signal=USR1`); the
# ranks checkpoint and exit 3, the batch script requeues the job, and the
# requeued job resumes the interrupted jobs and completes the matrix.
# With "array": a job array of two one-task jobs (sbatch --array=0-1) runs the same 4-job matrix
# into one results folder; the two share it through the job locks: every job trained once, both
# tasks complete, no lock is left, and the tables hold all four jobs. Then locks naming Slurm jobs:
# an ended job's is taken over at once, a running job's is respected however old.
# With "hang": a 2-rank group trains with train.hang_minutes = 0.1; once training is under way one
# task is frozen (SIGSTOP, as a rank on a hung node). The other rank's watchdog names where it waits and
# exits 4, srun (--kill-on-bad-exit) ends the frozen task, the batch script requeues the job on status 4,
# and the requeued job resumes and completes the matrix.
# With "suspend": the same 2-rank group, suspended whole by `scontrol suspend` (SIGSTOP to every task, as
# gang scheduling and PreemptMode=SUSPEND do) for 15 s, far past its 6 s hang limit, then resumed: a
# suspended job has not hung, so no watchdog fires; the ranks say the time was left out, and the job
# completes without a requeue or a hang record.
# usage: slurm_matrix.sh DFER SOURCE_DIR SHARED_DIR [preempt|array|hang|suspend]
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3") mode=${4:-plain}
tmp=$(mktemp -d /tmp/dfer-slurm-test-XXXXXX)
. "$src/tests/lib/slurm_fixture.sh"
slurm_start
epochs=1
[ "$mode" = preempt ] && epochs=40 # long enough to be interrupted mid-run
. "$src/tests/lib/matrix_fixture.sh"
sbatch_args=(--ntasks=2)
methods=finecliper ranks_per_job='' set=''
if [ "$mode" = array ]; then
  epochs=2 methods="finecliper dfer_clip" sbatch_args=(--ntasks=1 --array=0-1)
fi
if [ "$mode" = hang ] || [ "$mode" = suspend ]; then
  epochs=40 ranks_per_job=2 set="train.hang_minutes = 0.1
train.log_every = 1"
fi
[ "$mode" = suspend ] && epochs=12
matrix_fixture name=slurm-test clips=20 seed=3 methods="$methods" epochs=$epochs ranks_per_job="$ranks_per_job" set="$set"
jid=$(cd "$tmp" && DFER="$dfer" sbatch --parsable "${sbatch_args[@]}" --output="$tmp/job-%j.out" \
      "$src/jobs/slurm/dfer.sbatch" matrix "$tmp/matrix.ini" --results "$tmp/results")
# wait_for_steps N: until the matrix's jobs have logged N training steps together (2 minutes at most)
wait_for_steps() {
  for _ in $(seq 600); do
    [ "$(cat "$tmp"/results/*/metrics.jsonl 2>/dev/null | grep -c '"type":"step"')" -ge "$1" ] && return
    sleep 0.2
  done
}
if [ "$mode" = preempt ]; then
  wait_for_steps 4 # both jobs under way
  scancel --signal=USR1 "$jid"
  echo "sent SIGUSR1 to the tasks of job $jid"
fi
if [ "$mode" = hang ]; then
  wait_for_steps 6 # the first job under way
  tasks=($(pgrep -f "^$dfer matrix $tmp/matrix.ini" || true))
  [ "${#tasks[@]}" = 2 ] || { echo "expected the job's 2 tasks, found ${#tasks[@]}"; cat "$tmp"/job-*.out; exit 1; }
  kill -STOP "${tasks[1]}"
  echo "froze task pid ${tasks[1]} of job $jid"
fi
if [ "$mode" = suspend ]; then
  wait_for_steps 6
  scontrol suspend "$jid"
  [ "$(squeue -h -j "$jid" -o %T)" = SUSPENDED ] || { echo "job $jid not suspended: $(squeue -h -j "$jid" -o %T)"; exit 1; }
  # Slurm marks the job SUSPENDED before slurmd has stopped its tasks (a step was logged after the count in CI under
  # load): the steps are counted once both tasks are stopped (state T)
  for _ in $(seq 100); do
    tasks=($(pgrep -f "^$dfer matrix $tmp/matrix.ini" || true))
    stopped=$(for t in "${tasks[@]}"; do ps -o stat= -p "$t"; done | grep -c '^T' || true)
    [ "${#tasks[@]}" = 2 ] && [ "$stopped" = 2 ] && break
    sleep 0.1
  done
  [ "${#tasks[@]}" = 2 ] && [ "$stopped" = 2 ] || { echo "the job's 2 tasks: ${#tasks[@]} found, $stopped stopped"; exit 1; }
  steps=$(cat "$tmp"/results/*/metrics.jsonl | grep -c '"type":"step"')
  sleep 15
  [ "$(cat "$tmp"/results/*/metrics.jsonl | grep -c '"type":"step"')" = "$steps" ] || { echo "the suspended job went on"; exit 1; }
  scontrol resume "$jid"
  echo "suspended job $jid for 15 s at $steps steps, resumed"
fi
slurm_wait_job "$jid" 600
states=$(scontrol show job "$jid" | grep -o "JobState=[A-Z]*" | sort | uniq -c | sed 's/^ *//')
cat "$tmp"/job-*.out | tail -n 5
if [ "$mode" = array ]; then
  [ "$states" = "2 JobState=COMPLETED" ] || { echo "array tasks ended: $states"; cat "$tmp"/job-*.out; exit 1; }
  [ "$(ls "$tmp"/results/*/result.json | wc -l)" = 4 ] || { echo "not every job has a result"; exit 1; }
  for d in "$tmp"/results/*/; do
    evals=$(grep -c '"type":"eval"' "$d/metrics.jsonl")
    [ "$evals" = "$epochs" ] || { echo "$(basename "$d"): $evals evaluations for $epochs epochs"; cat "$tmp"/job-*.out; exit 1; }
    [ ! -e "$d/running.lock" ] || { echo "$(basename "$d"): lock left behind"; exit 1; }
  done
  grep -q "finecliper (low) | .*(2) |" "$tmp/results/tables.md" && grep -q "dfer_clip | .*(2) |" "$tmp/results/tables.md" \
    || { echo "the tables do not hold all four jobs"; cat "$tmp/results/tables.md"; exit 1; }
  echo "a job array of 2 shared the matrix: $(cat "$tmp"/job-*.out | grep -c '\] job [0-9]/4: ') jobs trained, $(cat "$tmp"/job-*.out | grep -c 'another run of this matrix holds it') skipped as held by the other task, $(cat "$tmp"/job-*.out | grep -c 'already finished, skipped') as finished"
  # A lock left by a Slurm job on another node: Slurm decides, not its age. The array has ended, so
  # its lock is taken over at once though written just now; a job Slurm still runs holds its lock
  # though it has been silent for hours.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  job=$(basename "$(ls -d "$tmp"/results/*/ | head -n 1)")
  relock() { # slurm job id, age; then the matrix again (outside Slurm) with the job's result removed
    rm -f "$tmp/results/$job/result.json"
    printf '{"host": "node-elsewhere", "pid": 4242, "slurm_job_id": "%s", "slurm_restart_count": 0}\n' "$1" \
      >"$tmp/results/$job/running.lock"
    touch -d "$2" "$tmp/results/$job/running.lock" "$tmp/results/$job/metrics.jsonl" "$tmp/results/$job/checkpoint.safetensors"
    env -u SLURM_JOB_ID "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/results" >"$tmp/relock.log" 2>&1 \
      || { cat "$tmp/relock.log"; exit 1; }
  }
  relock "$jid" "now"
  grep -q "$job: took over the stale lock of host node-elsewhere, pid 4242 (Slurm job $jid has ended)" "$tmp/relock.log" \
    && [ -f "$tmp/results/$job/result.json" ] || { cat "$tmp/relock.log"; echo "the fresh lock of an ended Slurm job was not taken over"; exit 1; }
  sleeper=$(sbatch --parsable --ntasks=1 --output=/dev/null --wrap "sleep 300")
  for _ in $(seq 120); do [ "$(squeue -h -j "$sleeper" -o %T)" = RUNNING ] && break; sleep 0.5; done
  relock "$sleeper" "3 hours ago"
  scancel "$sleeper"
  grep -q "$job: another run of this matrix holds it (host node-elsewhere, pid 4242, Slurm job $sleeper; Slurm job $sleeper is RUNNING), skipped" \
    "$tmp/relock.log" && [ ! -f "$tmp/results/$job/result.json" ] \
    || { cat "$tmp/relock.log"; echo "the lock of a running Slurm job, silent for 3 hours, was not respected"; exit 1; }
  echo "job locks ask Slurm: an ended job's fresh lock taken over, a running job's 3-hour-old lock respected"
  exit 0
fi
[ "$states" = "1 JobState=COMPLETED" ] || { echo "job ended $states"; cat "$tmp"/job-*.out; exit 1; }
grep -q "finecliper (low) | [0-9]" "$tmp/results/tables.md" || { echo "no table row"; cat "$tmp/results/tables.md"; exit 1; }
[ "$(ls "$tmp"/results/*/result.json | wc -l)" = 2 ] || { echo "not every job has a result"; exit 1; }
if [ "$mode" = preempt ]; then
  grep -q "stopped by signal 10" "$tmp"/job-*.out || { echo "no rank reported the signal"; cat "$tmp"/job-*.out; exit 1; }
  grep -q "requeueing job $jid" "$tmp"/job-*.out || { echo "the batch script did not requeue"; cat "$tmp"/job-*.out; exit 1; }
  grep -q "resuming .* at epoch" "$tmp"/job-*.out || { echo "the requeued job did not resume"; cat "$tmp"/job-*.out; exit 1; }
  echo "SIGUSR1 -> checkpoint, exit 3, requeue -> $(grep -o 'resuming .* at epoch [0-9]*, step [0-9]*' "$tmp"/job-*.out | sed "s|$tmp/||" | head -n 2 | tr '\n' ';') -> completed"
fi
if [ "$mode" = hang ]; then
  grep -q "no progress for .* s in .*continues from the last checkpoint" "$tmp"/job-*.out \
    || { echo "no rank reported the hang"; cat "$tmp"/job-*.out; exit 1; }
  grep -q "a rank hung (its message above names where; srun status [0-9]*; hang 1 of 2 requeued); requeueing job $jid" "$tmp"/job-*.out \
    || { echo "the batch script did not requeue on status 4"; cat "$tmp"/job-*.out; exit 1; }
  grep -q "resuming .* at epoch" "$tmp"/job-*.out || { echo "the requeued job did not resume"; cat "$tmp"/job-*.out; exit 1; }
  [ -z "$(ls -A "$tmp"/.dfer-hangs-* 2>/dev/null)" ] || { echo "the batch script left its hang marker"; exit 1; }
  echo "frozen task -> $(grep -o 'no progress for [0-9.]* s in [^(]*' "$tmp"/job-*.out | head -n 1)-> exit 4, requeue -> $(grep -o 'resuming .* at epoch [0-9]*, step [0-9]*' "$tmp"/job-*.out | sed "s|$tmp/||" | head -n 1) -> completed"
fi
if [ "$mode" = suspend ]; then
  ! grep -q "no progress for" "$tmp"/job-*.out && ! grep -q "requeueing" "$tmp"/job-*.out \
    && [ -z "$(ls "$tmp"/results/*/hangs.jsonl 2>/dev/null)" ] || { echo "a suspended job was taken for hung"; cat "$tmp"/job-*.out; exit 1; }
  grep -Eq "this process did not run for [0-9.]+ s \(stopped" "$tmp"/job-*.out \
    || { echo "no rank said it was stopped"; cat "$tmp"/job-*.out; exit 1; }
  echo "suspended for 15 s with a 6 s hang limit -> $(grep -o 'did not run for [0-9.]* s' "$tmp"/job-*.out | head -n 1), no hang, completed without a requeue"
fi
echo "sbatch + srun --mpi=pmix ran the matrix ($(ls -d "$tmp"/results/*/ | wc -l) jobs) and wrote the tables"
