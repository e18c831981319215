# Sourced by the Slurm tests (slurm_matrix.sh, slurm_prep.sh): a real local cluster (munge, slurmctld,
# slurmd: jobs/local_slurm.sh) with its state in $tmp/slurm; the caller has set $src (the source tree)
# and $tmp. The job's output is expected in $tmp/job-*.out.
# shellcheck disable=SC2154 # src and tmp are the caller's
# slurm_start: starts the cluster; on exit it is stopped and $tmp removed.
slurm_start() {
  slurm_state_dir=$tmp/slurm
  trap '"$src/jobs/local_slurm.sh" stop "$slurm_state_dir" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
  local rc=0
  "$src/jobs/local_slurm.sh" start "$slurm_state_dir" >/dev/null || rc=$?
  # 3: the machine has a Slurm of its own, which the test cluster would replace: skipped (ctest: 77)
  [ "$rc" = 3 ] && { echo "SKIP: this machine has a Slurm configuration of its own (see above)"; exit 77; }
  [ "$rc" = 0 ] || exit "$rc"
}
# slurm_wait_job JID SECONDS: until Slurm no longer lists the job (through its requeues); past the
# deadline, prints where it stands and its output, cancels it and returns 1. Slurm holds a requeued job
# until a begin time about two minutes on (reason BeginTime); the tests do not wait that long: once the
# node is idle again (the requeued run's steps and epilog done; a run started before that fails to launch
# its tasks) and 5 s have passed, they set its start time to now (scontrol update, as an administrator
# may), which changes nothing else of the job.
slurm_wait_job() {
  local jid=$1 seconds=$2 state held=0
  for _ in $(seq $((seconds * 2))); do
    state=$(squeue -h -j "$jid" -o %T/%r 2>/dev/null)
    [ -z "$state" ] && return 0
    if [ "$state" = PENDING/BeginTime ]; then
      held=$((held + 1))
      if [ "$held" -ge 10 ] && [ "$(sinfo -h -o %t | sort -u)" = idle ]; then
        scontrol update JobId="$jid" StartTime=now >/dev/null 2>&1 && held=0
      fi
    else
      held=0
    fi
    sleep 0.5
  done
  echo "job $jid did not finish in $seconds s ($(squeue -h -j "$jid" -o %T/%r))"
  cat "$tmp"/job-*.out
  scancel "$jid"
  return 1
}
