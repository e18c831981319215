#!/usr/bin/env bash
# A job whose lock this run cannot claim (job_lock_claim fails: not "held by another run", an error) is not this
# run's folder: another live run may train there. The lock here is another node's, silent for 11 minutes (stale
# after 10: a frozen node's, which may still wake), and the takeover guard beside it cannot be opened (a folder at
# .takeover.lock: open(2) says EISDIR, as a transient NFS error would fail it). A 2-rank group must:
#   - write nothing into that folder (the old runner wrote a "failed" result.json there, which --status and the
#     tables read as the job's outcome, over the other run's job);
#   - say in its log which job failed and why (the guard's path and "Is a directory"), count it failed in its
#     summary and exit 1, and train the other job;
# and once the guard is whole again, a rerun takes the stale lock over and trains the job.
# usage: matrix_claim_failure.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
tmp=$(mktemp -d /tmp/dfer-matrix-claim-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "FAIL: $*"; exit 1; }
. "$src/tests/lib/matrix_fixture.sh"
matrix_fixture name=claim-test ranks_per_job=2
mpi=(timeout 300 mpirun --oversubscribe --mca btl self,vader -np 2
  "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res")
job=finecliper-low__dfew__f1__tiny__s1 other=finecliper-low__dfew__f2__tiny__s1
d=$tmp/res/$job
mkdir -p "$d/.takeover.lock"
printf '{"host": "node-elsewhere", "pid": 4242}\n' >"$d/running.lock"
touch -d "11 minutes ago" "$d/running.lock"
(cd "$d" && ls -A && md5sum running.lock) >"$tmp/before"

rc=0
"${mpi[@]}" >"$tmp/run.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$tmp/run.log"; fail "the run exited $rc, not 1, with a job it could not claim"; }
(cd "$d" && ls -A && md5sum running.lock) >"$tmp/after"
diff "$tmp/before" "$tmp/after" || fail "the run wrote into $d, whose lock it does not hold"
why="$d/.takeover.lock: cannot open the takeover guard: Is a directory"
grep -qF "error: [group 0] $job failed: cannot claim its lock: $why; nothing written into $d" "$tmp/run.log" \
  || { cat "$tmp/run.log"; fail "the log does not say which job failed and why"; }
grep -q "matrix claim-test: 1 job failed because this run could not claim its lock" "$tmp/run.log" \
  && grep -q "dfer matrix: 1 job failed" "$tmp/run.log" \
  || { cat "$tmp/run.log"; fail "the summary does not count it failed"; }
grep -q '"status":[[:space:]]*"done"' "$tmp/res/$other/result.json" \
  || { cat "$tmp/run.log"; fail "the other job was not trained"; }
"$dfer" matrix --status "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/status.txt"
grep -qE "^$job +started .*stale lock of host node-elsewhere, pid 4242" "$tmp/status.txt" \
  || { cat "$tmp/status.txt"; fail "--status does not show the job as the other run's"; }
echo "a job whose lock could not be claimed: nothing written into its folder; failed in this run's log and exit status"

rmdir "$d/.takeover.lock"
"${mpi[@]}" >"$tmp/rerun.log" 2>&1 || { cat "$tmp/rerun.log"; fail "the rerun with the guard whole failed"; }
grep -q "$job: took over the stale lock of host node-elsewhere, pid 4242" "$tmp/rerun.log" \
  && grep -q '"status":[[:space:]]*"done"' "$d/result.json" && [ ! -e "$d/running.lock" ] \
  || { cat "$tmp/rerun.log"; fail "the rerun did not take the stale lock over and train the job"; }
echo "with the guard whole, a rerun took the stale lock over and trained the job"
