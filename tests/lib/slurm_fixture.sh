# Sourced by the Slurm tests (slurm_matrix.sh, slurm_prep.sh): a real local cluster (munge, slurmctld,
# slurmd: jobs/local_slurm.sh) with its state in $tmp/slurm; the caller has set $src (the source tree)
# and $tmp. The job's output is expected in $tmp/job-*.out.
# shellcheck disable=SC2154 # src and tmp are the caller's
# slurm_start: starts the cluster; on exit it is stopped and $tmp removed.
slurm_start() {
  slurm_state_dir=$tmp/slurm
  trap '"$src/jobs/local_slurm.sh" stop "$slurm_state_dir" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
  "$src/jobs/local_slurm.sh" start "$slurm_state_dir" >/dev/null
}
# slurm_wait_job JID SECONDS: until Slurm no longer lists the job (through its requeues); past the
# deadline, prints where it stands and its output, cancels it and returns 1.
slurm_wait_job() {
  local jid=$1 seconds=$2
  for _ in $(seq $((seconds * 2))); do
    [ -z "$(squeue -h -j "$jid" 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  echo "job $jid did not finish in $seconds s ($(squeue -h -j "$jid" -o %T/%r))"
  cat "$tmp"/job-*.out
  scancel "$jid"
  return 1
}
