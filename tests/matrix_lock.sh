#!/usr/bin/env bash
# Two runs of one matrix on one results folder share its jobs (train/job_lock.h):
#   - run A is frozen (SIGSTOP) inside its first job; run B, started then, skips that job (A holds
#     its lock and is alive), trains the other three and ends; A, thawed, finishes its job and
#     skips the three B finished. Every job trained once (one evaluation per epoch in its
#     metrics.jsonl), no lock left behind, and A's tables (it ends last) hold all four jobs;
#   - --status shows the frozen job as running on A's host and pid;
#   - stale locks are taken over, the log saying why: a dead process on this host, another host's
#     lock without a heartbeat or write for longer than matrix.stale_lock_minutes (11 min; 9 is
#     respected), an earlier incarnation of this Slurm job (requeued: another SLURM_RESTART_COUNT);
#     another host's fresh lock is respected. (Slurm jobs that ended or still run: slurm_matrix.sh.)
#   - a live run whose lock was taken over while it was silent (frozen) leaves the job when it wakes: run A, frozen
#     inside its first checkpoint's write with its lock made to look as another node's silent for 11 minutes, is
#     taken over by run B; B frozen in turn, A is thawed: it writes nothing more into the folder (every file as it
#     was; its own temporary file removed), says who took the job over, trains the other jobs and counts that one
#     neither finished nor failed; B then finishes it.
# usage: matrix_lock.sh DFER SOURCE_DIR SHARED_DIR STOP_IN_FSYNC_SO
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3") stop_in_fsync=$(realpath "$4")
tmp=$(mktemp -d /tmp/dfer-matrix-lock-XXXXXX)
pgid= pgid_b=
frozen= frozen_b=
cleanup() {
  [ -n "$frozen" ] && kill -CONT "$frozen" 2>/dev/null
  [ -n "$frozen_b" ] && kill -CONT "$frozen_b" 2>/dev/null
  [ -n "$pgid" ] && pkill -KILL -s "$pgid" 2>/dev/null
  [ -n "$pgid_b" ] && pkill -KILL -s "$pgid_b" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "FAIL: $*"; exit 1; }
. "$src/tests/lib/matrix_fixture.sh"
epochs=3
matrix_fixture name=lock-test clips=60 ranks_per_job=1 methods="finecliper dfer_clip" epochs=$epochs
mpi=(mpirun --oversubscribe --mca btl self,vader -np 1 "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res")
first=finecliper-low__dfew__f1__tiny__s1

# ---- run A, frozen inside its first job ------------------------------------------------------
setsid "${mpi[@]}" >"$tmp/a.log" 2>&1 &
pgid=$!
# frozen as soon as its lock appears (the lock is written whole, then linked into place); the job
# itself takes seconds (60 clips, 3 epochs)
for _ in $(seq 6000); do
  frozen=$(sed -n 's/^[[:space:]]*"pid":[[:space:]]*\([0-9]*\).*/\1/p' "$tmp/res/$first/running.lock" 2>/dev/null || true)
  [ -n "$frozen" ] && break
  kill -0 "$pgid" 2>/dev/null || { cat "$tmp/a.log"; fail "run A ended before it took its first job"; }
  sleep 0.01
done
[ -n "$frozen" ] || fail "run A took no job in 60 s"
kill -STOP "$frozen"
[ ! -e "$tmp/res/$first/result.json" ] || fail "run A finished its first job before it was frozen (make the job longer)"
"$dfer" matrix --status "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/status.txt"
cat "$tmp/status.txt"
grep -qE "^$first +started .*; running on host $(hostname), pid $frozen$" "$tmp/status.txt" \
  || fail "--status does not show the frozen job as running on this host, pid $frozen"

# ---- run B shares the matrix -----------------------------------------------------------------
"${mpi[@]}" >"$tmp/b.log" 2>&1 || { cat "$tmp/b.log"; fail "run B failed"; }
grep -q "$first: another run of this matrix holds it (host $(hostname), pid $frozen; its process runs), skipped" "$tmp/b.log" \
  || { cat "$tmp/b.log"; fail "run B did not skip the job run A holds"; }
[ "$(grep -c '\] job [0-9]/4: ' "$tmp/b.log")" = 3 ] || { cat "$tmp/b.log"; fail "run B did not train the other three jobs"; }
grep -q "1 job held by another run of this matrix" "$tmp/b.log" || fail "run B does not say a job was held elsewhere"
kill -CONT "$frozen"
frozen=
wait "$pgid" || { cat "$tmp/a.log"; fail "run A failed after it was thawed"; }
pgid=
[ "$(grep -c 'already finished, skipped' "$tmp/a.log")" = 3 ] || { cat "$tmp/a.log"; fail "run A did not skip the three jobs B finished"; }
for d in "$tmp"/res/*/; do
  job=$(basename "$d")
  [ -f "$d/result.json" ] || fail "$job: no result"
  evals=$(grep -c '"type":"eval"' "$d/metrics.jsonl")
  [ "$evals" = $epochs ] || fail "$job: $evals evaluations for $epochs epochs (trained more than once?)"
  [ ! -e "$d/running.lock" ] || fail "$job: its lock was left behind"
done
grep -q "finecliper (low) | .*(2) |" "$tmp/res/tables.md" && grep -q "dfer_clip | .*(2) |" "$tmp/res/tables.md" \
  || { cat "$tmp/res/tables.md"; fail "the tables of the run that ended last do not hold all four jobs"; }
echo "two runs shared the matrix: B skipped A's job and trained 3, A finished its own and skipped B's; every job trained once"

# ---- stale and live locks --------------------------------------------------------------------
job=dfer_clip__dfew__f2__tiny__s1
rerun() { # a lock for $job, then the matrix again with the job's result removed; prints the log
  rm -f "$tmp/res/$job/result.json"
  printf '%s\n' "$1" >"$tmp/res/$job/running.lock"
  [ -z "${2:-}" ] || touch -d "$2" "$tmp/res/$job/running.lock" "$tmp/res/$job/metrics.jsonl" "$tmp/res/$job/checkpoint.safetensors"
  env ${3:-} "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/rerun.log" 2>&1 || { cat "$tmp/rerun.log"; fail "rerun"; }
}
sleep 0.1 &
dead=$!
wait $dead
rerun "{\"host\": \"$(hostname)\", \"pid\": $dead, \"pid_start\": 1}"
grep -q "$job: took over the stale lock of host $(hostname), pid $dead (its process is gone)" "$tmp/rerun.log" && [ -f "$tmp/res/$job/result.json" ] \
  || { cat "$tmp/rerun.log"; fail "the lock of a dead process on this host was not taken over"; }
rerun '{"host": "node-elsewhere", "pid": 4242}'
grep -q "$job: another run of this matrix holds it (host node-elsewhere, pid 4242; last heartbeat or write for 0 min), skipped" "$tmp/rerun.log" \
  && [ ! -f "$tmp/res/$job/result.json" ] || { cat "$tmp/rerun.log"; fail "another host's fresh lock was not respected"; }
rerun '{"host": "node-elsewhere", "pid": 4242}' "9 minutes ago"
grep -q "$job: another run of this matrix holds it (host node-elsewhere, pid 4242; last heartbeat or write for 9 min), skipped" \
  "$tmp/rerun.log" && [ ! -f "$tmp/res/$job/result.json" ] || { cat "$tmp/rerun.log"; fail "a lock 9 minutes old (stale after 10) was not respected"; }
rerun '{"host": "node-elsewhere", "pid": 4242}' "11 minutes ago"
grep -q "$job: took over the stale lock of host node-elsewhere, pid 4242 (no heartbeat or write for 11 min" "$tmp/rerun.log" \
  && [ -f "$tmp/res/$job/result.json" ] || { cat "$tmp/rerun.log"; fail "another host's lock without a heartbeat for 11 min (stale after 10) was not taken over"; }
rerun '{"host": "node-elsewhere", "pid": 4242, "slurm_job_id": "777", "slurm_restart_count": 0}' "" \
  "SLURM_JOB_ID=777 SLURM_RESTART_COUNT=1"
grep -q "$job: took over the stale lock of host node-elsewhere, pid 4242 (an earlier incarnation of this requeued Slurm job)" \
  "$tmp/rerun.log" && [ -f "$tmp/res/$job/result.json" ] || { cat "$tmp/rerun.log"; fail "the lock of this Slurm job's earlier incarnation was not taken over"; }
echo "stale locks taken over (dead process here, another host's after 10 min without a heartbeat, a requeued Slurm job's), live ones respected"

# ---- a live run whose lock was taken over leaves the job ---------------------------------------
# On one host a frozen process still runs, and no claim here takes its lock over: A's lock is made to look as
# another node's would to B (its host renamed, it and the job's files 11 minutes old, stale after 10), which is
# what B on another node sees of a run frozen that long. A is frozen at the worst point: inside the write of its first
# checkpoint, the temporary file whole but not yet flushed nor renamed into place (tests/preload/stop_in_fsync.c
# stops it there), after the look at its lock that came before the write. Frozen anywhere else, A found the lock
# lost at its next look; frozen there, it renamed its stale checkpoint over the folder when it woke, unless the
# write itself looks at the lock before the rename.
lock_pid() { sed -n 's/^[[:space:]]*"pid":[[:space:]]*\([0-9]*\).*/\1/p' "$1/running.lock" 2>/dev/null || true; }
proc_state() { sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null || true; }
mpi2=(mpirun --oversubscribe --mca btl self,vader -np 1)
run2=("$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res2")
d=$tmp/res2/$first
setsid "${mpi2[@]}" -x LD_PRELOAD="$stop_in_fsync" -x DFER_TEST_STOP_IN_FSYNC=checkpoint.safetensors.dfer-tmp \
  "${run2[@]}" >"$tmp/a2.log" 2>&1 &
pgid=$!
frozen=
for _ in $(seq 6000); do # stopped inside its first checkpoint's write
  frozen=$(lock_pid "$d")
  [ -n "$frozen" ] && [ "$(proc_state "$frozen")" = T ] && break
  frozen=
  kill -0 "$pgid" 2>/dev/null || { cat "$tmp/a2.log"; fail "run A ended before it wrote its first checkpoint"; }
  sleep 0.01
done
[ -n "$frozen" ] || { cat "$tmp/a2.log"; fail "run A did not stop inside its first checkpoint's write in 60 s"; }
ls "$d"/checkpoint.safetensors.dfer-tmp.* >/dev/null 2>&1 && [ ! -e "$d/checkpoint.safetensors" ] \
  || { ls -la "$d"; fail "run A is not inside its first checkpoint's write"; }
[ ! -e "$d/result.json" ] || fail "run A finished its first job before it was frozen"
sed -i 's/"host":[[:space:]]*"[^"]*"/"host": "node-elsewhere"/' "$d/running.lock"
touch -c -d "11 minutes ago" "$d/running.lock" "$d/metrics.jsonl"
setsid "${mpi2[@]}" "${run2[@]}" >"$tmp/b2.log" 2>&1 &
pgid_b=$!
for _ in $(seq 6000); do # B's lock in place of A's: B is frozen before it trains
  frozen_b=$(lock_pid "$d")
  [ -n "$frozen_b" ] && [ "$frozen_b" != "$frozen" ] && break
  frozen_b=
  kill -0 "$pgid_b" 2>/dev/null || { cat "$tmp/b2.log"; fail "run B ended without taking A's job over"; }
  sleep 0.01
done
[ -n "$frozen_b" ] || { cat "$tmp/b2.log"; fail "run B did not take A's stale lock over in 60 s"; }
kill -STOP "$frozen_b"
(cd "$d" && md5sum -- * | sort -k2) >"$tmp/before"
kill -CONT "$frozen"
frozen=
wait "$pgid" || { cat "$tmp/a2.log"; fail "run A failed after it was thawed"; }
pgid=
(cd "$d" && md5sum -- * | sort -k2) >"$tmp/after"
# what A may do there is remove its own unfinished temporary file (B, started, may have removed it as a leftover)
grep -v 'checkpoint\.safetensors\.dfer-tmp\.' "$tmp/before" >"$tmp/before.kept"
diff "$tmp/before.kept" "$tmp/after" || { cat "$tmp/a2.log"; fail "run A wrote into the job's folder after run B took its lock over"; }
grep -q "$first: another run (host $(hostname), pid $frozen_b) took over this job's lock ($d/running.lock) while this run was silent for [0-9]* min (a frozen node or file system?): this run leaves the job to it and writes nothing more there" "$tmp/a2.log" \
  || { cat "$tmp/a2.log"; fail "run A does not say that run B took its job over"; }
[ "$(grep -c '\] job [0-9]/4: ' "$tmp/a2.log")" = 4 ] || { cat "$tmp/a2.log"; fail "run A did not go on with the other three jobs"; }
grep -q "1 job left to another run of this matrix, which took over the lock while this run was silent: counted neither finished nor failed" "$tmp/a2.log" \
  || { cat "$tmp/a2.log"; fail "run A's summary does not count the job it left"; }
! grep -qE "$first failed|jobs? failed" "$tmp/a2.log" || { cat "$tmp/a2.log"; fail "run A counts the job it left as failed"; }
kill -CONT "$frozen_b"
frozen_b=
wait "$pgid_b" || { cat "$tmp/b2.log"; fail "run B failed"; }
pgid_b=
grep -q "$first: took over the stale lock of host node-elsewhere" "$tmp/b2.log" || { cat "$tmp/b2.log"; fail "run B did not take over"; }
[ -f "$d/result.json" ] && [ ! -e "$d/running.lock" ] || { cat "$tmp/b2.log"; fail "run B did not finish the job it took over"; }
evals=$(grep -c '"type":"eval"' "$d/metrics.jsonl")
[ "$evals" = $epochs ] || fail "$first: $evals evaluations for $epochs epochs (both runs logged?)"
echo "a run whose lock was taken over while it was frozen left the job (its folder untouched) and went on; the run that took it finished it"
