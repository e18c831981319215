#!/usr/bin/env bash
# A hung rank (core/watchdog.h): one rank of a 2-rank `dfer train` is frozen with SIGSTOP midway (as a
# rank on a dead node or a GPU that no longer answers would be). The other rank waits in its next
# collective; with train.hang_minutes = 0.1 (6 s) its watchdog must say where it waits, and the run must
# end with status 4 (mpirun passes the rank's status on and ends the frozen rank) instead of waiting
# until the time limit; the run's hangs.jsonl records it. Resumed with --resume, the run says its last
# run hung and ends with bitwise the parameters of an uninterrupted one. Then the same inside a 2-rank
# matrix: the matrix ends with status 4, `dfer matrix --status` shows the hung job with the hang, and,
# run again, the matrix completes every job.
# usage: train_hang.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
tmp=$(mktemp -d /tmp/dfer-hang-XXXXXX)
root=$tmp
trap 'pkill -KILL -f "^$dfer (train|matrix) .*$root" 2>/dev/null || true; rm -rf "$root"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --oversubscribe --mca btl self,vader -np 2)
. "$src/tests/lib/train_fixture.sh"
train_fixture
train_common finecliper train.epochs=12 train.threads=1 train.log_every=1

# freeze_rank_when FILE N PATTERN: once FILE holds N lines with "step", SIGSTOP the second process whose command
# line matches PATTERN (a rank; the first one is left to notice); prints its pid
freeze_rank_when() {
  local file=$1 lines=$2 pattern=$3 pids
  for _ in $(seq 1 600); do
    [ -f "$file" ] && [ "$(grep -c '"step"' "$file")" -ge "$lines" ] && break
    sleep 0.1
  done
  pids=($(pgrep -f "$pattern" || true))
  [ "${#pids[@]}" = 2 ] || { echo "expected 2 ranks matching '$pattern', found ${#pids[@]}" >&2; return 1; }
  kill -STOP "${pids[1]}"
  echo "${pids[1]}"
}

# check_hang RC LOG WHAT: status 4 and the watchdog's message, naming a phase of a step or evaluation
check_hang() {
  local rc=$1 log=$2 what=$3
  [ "$rc" != 124 ] || { tail -n 20 "$log"; echo "$what: still waiting after 300 s: the watchdog did not end it"; exit 1; }
  [ "$rc" = 4 ] || { tail -n 20 "$log"; echo "$what: exited $rc, not 4 (the watchdog's status)"; exit 1; }
  grep -Eq "^dfer: error \[rank [01] on [^]]+\]: no progress for [0-9.]+ s in (epoch [0-9]+ step [0-9]+|evaluation after epoch [0-9]+|after epoch [0-9]+: the group's check for a stop signal|the group's agreement|writing)" "$log" \
    || { cat "$log"; echo "$what: no watchdog message naming the phase"; exit 1; }
  grep -q "continues from the last checkpoint" "$log" || { echo "$what: the message does not say how to continue"; exit 1; }
  echo "$what: $(grep -o 'no progress for [^(]*' "$log" | head -1)-> status 4"
}

# ---- dfer train -------------------------------------------------------------------------------
"${mpi[@]}" "$dfer" train "${common[@]}" --out "$tmp/full" >/dev/null 2>&1
rc=0
timeout 300 "${mpi[@]}" "$dfer" train "${common[@]}" --set train.hang_minutes=0.1 --out "$tmp/run" >"$tmp/run.log" 2>&1 &
launcher=$!
frozen=$(freeze_rank_when "$tmp/run/metrics.jsonl" 8 "^$dfer train .*--out $tmp/run")
wait "$launcher" || rc=$?
check_hang "$rc" "$tmp/run.log" "dfer train with rank pid $frozen frozen"
# ended: gone, or a zombie (this machine's init does not reap the orphans mpirun leaves). It has 10 s: a killed
# process of a few hundred MB shows R while the kernel tears it down, and once mpirun's SIGCONT lets it run, its
# own watchdog (6 s) ends it where mpirun's SIGKILL has not (a loaded CI caught it running as mpirun exited)
for _ in $(seq 1 100); do
  state=$(ps -o stat= -p "$frozen" || true)
  { [ -z "$state" ] || [ "${state:0:1}" = Z ]; } && break
  sleep 0.1
done
[ -z "$state" ] || [ "${state:0:1}" = Z ] || { echo "the frozen rank $frozen was left behind (state $state after 10 s)"; exit 1; }
[ -f "$tmp/run/checkpoint.safetensors" ] && [ ! -f "$tmp/run/result.json" ] \
  || { ls "$tmp/run"; echo "expected a checkpoint and no result after the hang"; exit 1; }
/usr/bin/python3 - "$tmp/run/hangs.jsonl" <<'PY' || { cat "$tmp/run/hangs.jsonl"; echo "no hang record in the run's folder"; exit 1; }
import json, sys
records = [json.loads(l) for l in open(sys.argv[1])]
assert records and all(r["type"] == "hang" and r["rank"] in (0, 1) and r["idle_s"] >= 6 and r["phase"] for r in records), records
print("hangs.jsonl: %d record(s), e.g. rank %d in %s" % (len(records), records[0]["rank"], records[0]["phase"]))
PY
"${mpi[@]}" "$dfer" train "${common[@]}" --out "$tmp/run" --resume >"$tmp/resume.log" 2>&1 \
  || { tail -n 20 "$tmp/resume.log"; echo "the resume after the hang failed"; exit 1; }
grep -q "$tmp/run: its last run ended on a hang, rank [01] on .*: no progress for [0-9.]* s in .*; resuming from its checkpoint" \
  "$tmp/resume.log" || { head -n 20 "$tmp/resume.log"; echo "the resume does not say the last run hung"; exit 1; }
cmp -s "$tmp/full/model.safetensors" "$tmp/run/model.safetensors" || { echo "resumed after the hang: parameters DIFFER"; exit 1; }
echo "resumed after the hang: parameters bitwise those of an uninterrupted run"

# ---- dfer matrix: the hung group's job ends the run; run again, it completes -------------------
tmp="$tmp/m" && mkdir "$tmp"
. "$src/tests/lib/matrix_fixture.sh"
matrix_fixture name=hang methods="finecliper" ranks_per_job=2 epochs=12 set="train.hang_minutes = 0.1
train.log_every = 1"
rc=0
timeout 300 "${mpi[@]}" "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/matrix.log" 2>&1 &
launcher=$!
for _ in $(seq 1 600); do
  first=$(find "$tmp/res" -name metrics.jsonl 2>/dev/null | head -1 || true)
  [ -n "$first" ] && break
  sleep 0.1
done
frozen=$(freeze_rank_when "$first" 8 "^$dfer matrix $tmp/matrix.ini")
wait "$launcher" || rc=$?
check_hang "$rc" "$tmp/matrix.log" "dfer matrix with rank pid $frozen frozen"
hung_job=$(basename "$(dirname "$first")")
"$dfer" matrix --status "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/status.txt"
grep -q "^$hung_job  *started .*; its last run ended on a hang: rank [01] on .*: no progress for" "$tmp/status.txt" \
  || { cat "$tmp/status.txt"; echo "--status does not show the hang of $hung_job"; exit 1; }
"$dfer" matrix --status "$tmp/matrix.ini" --results "$tmp/res" --json \
  | /usr/bin/python3 -c 'import json, sys; j = [j for j in json.load(sys.stdin)["jobs"] if j.get("hang")]; assert len(j) == 1, j' \
  || { echo "--status --json does not give exactly the hung job a hang"; exit 1; }
echo "--status: $(grep -o "its last run ended on a hang: .*" "$tmp/status.txt")"
sed -i '/^train.hang_minutes/d' "$tmp/matrix.ini" # the default from here: a false alarm would fail the test
"${mpi[@]}" "$dfer" matrix "$tmp/matrix.ini" --results "$tmp/res" >"$tmp/matrix2.log" 2>&1 \
  || { tail -n 20 "$tmp/matrix2.log"; echo "the matrix run again after the hang failed"; exit 1; }
done_jobs=$(find "$tmp/res" -name result.json | wc -l)
jobs=$(/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/res/jobs.json")
[ "$done_jobs" = "$jobs" ] || { echo "$done_jobs of $jobs jobs finished after the restart"; exit 1; }
grep -q "resuming $(dirname "$first")" "$tmp/matrix2.log" || { echo "the hung job was not resumed from its checkpoint"; exit 1; }
"$dfer" matrix --status "$tmp/matrix.ini" --results "$tmp/res" | grep -q "ended on a hang" \
  && { echo "--status still shows a hang after the job finished"; exit 1; }
echo "matrix run again after the hang: all $jobs jobs finished, the hung one resumed from its checkpoint"
