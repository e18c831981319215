#!/usr/bin/env bash
# dfer prep interrupted: its hang watchdog (core/watchdog.h, --hang-minutes) and stop signals:
#  - a clip whose read never returns (a named pipe without a writer, as a clip on a file system that
#    does not answer): the run ends with status 4 naming the clip and its worker thread, and
#    OUT/hangs.jsonl records it with the clip id; the tracks done before it stay;
#  - run again, it warns that the last run hung, tries the clip once more, hangs again; the third run
#    skips the clip (counted as unreadable, named with the hang records) and completes;
#  - one rank of a 2-rank prep frozen with SIGSTOP (a dead node): the other rank, done with its own
#    clips, ends with status 4 naming the wait for the other ranks instead of waiting for ever; the
#    frozen rank, stopped rather than stuck, records nothing; run again, the prep completes every clip;
#  - a process stopped (Ctrl-Z, a suspended Slurm job) for longer than the limit and continued has not
#    hung: it says the time was left out and completes;
#  - SIGUSR1 (Slurm before a time limit) to one rank of two: both ranks finish the clip they are on and
#    exit 3 without a summary, every track written whole; run again, the prep completes.
# usage: face_prep_interrupt.sh DFER MPIRUN PYTHON
set -euo pipefail
dfer=$1 mpirun=$2 py=$3
tmp=$(mktemp -d /tmp/dfer-prep-hang-XXXXXX)
trap 'pkill -KILL -f "^$dfer prep .*$tmp" 2>/dev/null || true; rm -rf "$tmp"' EXIT
mpi=("$mpirun" --allow-run-as-root --oversubscribe --mca btl self,vader -np 2)
fail() { echo "FAIL: $*"; exit 1; }
json() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
records() { "$py" -c "import json,sys; print(json.dumps([json.loads(l) for l in open(sys.argv[1])]))" "$1"; }
data=$tmp/synth
"$dfer" synth --layout dfew --clips 16 --size 224 --seed 5 --threads 2 --out "$data" >/dev/null 2>&1
frames=$data/Clip/clip_224x224
ids=($(ls "$frames"))

# ---- a clip whose read never returns --------------------------------------------------------------
mkfifo "$tmp/zz_stuck.mp4"
for id in "${ids[@]:0:3}"; do echo "$frames/$id $(ls "$frames/$id" | wc -l) 1"; done >"$tmp/list.txt"
echo "$tmp/zz_stuck.mp4 16 1" >>"$tmp/list.txt"
out=$tmp/dfer_prep
# The runs meant to hang get a 12 s floor (--hang-minutes 0.2): loading dlib's model counts against it, and on a
# loaded 2-core machine (two ranks loading at once) it took over 6 s; the runs not meant to hang get the default.
run_list() { # LOG: the list's prep with a 12 s floor; prints its status
  local rc=0
  timeout 120 "$dfer" prep --dataset list --root "$tmp/list.txt" --hang-minutes 0.2 >"$1" 2>&1 || rc=$?
  echo "$rc"
}
rc=$(run_list "$tmp/fifo1.log")
[ "$rc" = 4 ] || { cat "$tmp/fifo1.log"; fail "a clip that never reads: status $rc, not 4"; }
grep -Eq "^dfer: error \[on [^]]+\]: no progress for [0-9.]+ s in clip zz_stuck.mp4 \($tmp/zz_stuck.mp4\) on worker thread 1 " \
  "$tmp/fifo1.log" || { cat "$tmp/fifo1.log"; fail "the message does not name the stuck clip"; }
grep -q "the same dfer prep command continues with the clips not yet done" "$tmp/fifo1.log" || fail "no advice"
[ "$(records "$out/hangs.jsonl" | "$py" -c "import json,sys; r=json.load(sys.stdin); print([x.get('item') for x in r])")" \
  = "['zz_stuck.mp4']" ] || { cat "$out/hangs.jsonl"; fail "hangs.jsonl does not record the clip"; }
for id in "${ids[@]:0:3}"; do [ -f "$out/landmarks/$id.txt" ] || fail "the track of $id, done before the hang, is missing"; done
echo "stuck clip: $(grep -o 'no progress for [0-9.]* s in clip [^ ]*' "$tmp/fifo1.log") -> status 4, recorded"

rc=$(run_list "$tmp/fifo2.log")
[ "$rc" = 4 ] || { cat "$tmp/fifo2.log"; fail "second run: status $rc, not 4"; }
grep -q "runs of dfer prep here since its last complete one ended on a hang: .*in clip zz_stuck.mp4" "$tmp/fifo2.log" \
  || { cat "$tmp/fifo2.log"; fail "the second run does not say the last one hung"; }
grep -q "clip zz_stuck.mp4: an earlier run hung on it .*trying it once more" "$tmp/fifo2.log" || fail "no retry warning"
grep -q "3 cached" "$tmp/fifo2.log" || fail "the second run did not reuse the 3 tracks"

id=${ids[3]}
echo "$frames/$id $(ls "$frames/$id" | wc -l) 1" >>"$tmp/list.txt"   # one more clip to compute
rc=$(run_list "$tmp/fifo3.log")
[ "$rc" = 0 ] || { cat "$tmp/fifo3.log"; fail "third run: status $rc, not 0"; }
grep -q "clip zz_stuck.mp4 failed (counted as unreadable): $tmp/zz_stuck.mp4: skipped: 2 runs of dfer prep hung on it" \
  "$tmp/fifo3.log" || { cat "$tmp/fifo3.log"; fail "the third run does not skip the clip with the reason"; }
[ "$(json "$out/prep_summary.json" "(d['clips'], d['computed'], d['skipped'], d['unreadable'])")" = "(5, 1, 3, 1)" ] \
  || fail "third run's counts: $(json "$out/prep_summary.json" "(d['clips'], d['computed'], d['skipped'], d['unreadable'])")"
echo "second run hung on it again; the third skipped it (unreadable) and completed"

# first_track OUT: until OUT/landmarks holds a track (15 s at most)
first_track() { for _ in $(seq 1 300); do [ -n "$(ls "$1/landmarks" 2>/dev/null)" ] && return; sleep 0.05; done; }
# prep_two_ranks OUT LOG [OPTION...]: a 2-rank prep of the synthetic set into OUT, in the background; once
# its first track is written, sets launcher (mpirun's pid) and ranks (the ranks' pids)
prep_two_ranks() {
  local out=$1 log=$2
  shift 2
  timeout 120 "${mpi[@]}" "$dfer" prep --dataset dfew --root "$data" --out "$out" "$@" >"$log" 2>&1 &
  launcher=$!
  first_track "$out"
  ranks=($(pgrep -f "^$dfer prep .*--out $out" || true))
  [ "${#ranks[@]}" = 2 ] || fail "expected 2 ranks, found ${#ranks[@]}"
}

# ---- one rank of two frozen -----------------------------------------------------------------------
rc=0
prep_two_ranks "$tmp/p2" "$tmp/frozen.log" --hang-minutes 0.2
kill -STOP "${ranks[1]}"
wait "$launcher" || rc=$?
[ "$rc" = 4 ] || { cat "$tmp/frozen.log"; fail "a frozen rank: status $rc, not 4"; }
grep -Eq "^dfer: error \[rank [01] on [^]]+\]: no progress for [0-9.]+ s in waiting for the other ranks to finish their clips \([0-9]+ of 16 computed over all ranks\)" \
  "$tmp/frozen.log" || { cat "$tmp/frozen.log"; fail "the waiting rank does not name the wait"; }
[ "$(records "$tmp/p2/hangs.jsonl" | "$py" -c "import json,sys; r=json.load(sys.stdin); print(len(r), all('item' not in x and x['phase'].startswith('waiting for the other ranks') for x in r))")" \
  = "1 True" ] || { cat "$tmp/p2/hangs.jsonl"; fail "expected one record, from the waiting rank"; }
"${mpi[@]}" "$dfer" prep --dataset dfew --root "$data" --out "$tmp/p2" >"$tmp/frozen2.log" 2>&1 \
  || { cat "$tmp/frozen2.log"; fail "the run after the frozen one"; }
grep -q "runs of dfer prep here since its last complete one ended on a hang: rank [01] on .*waiting for the other ranks" \
  "$tmp/frozen2.log" || fail "the next run does not report the hang"
[ "$(ls "$tmp/p2/landmarks" | wc -l)" = 16 ] || fail "the run after the hang left clips without a track"
echo "frozen rank: $(grep -o 'no progress for [0-9.]* s in waiting[^)]*)' "$tmp/frozen.log") -> status 4; run again, 16 tracks"

# ---- stopped and continued: no hang -----------------------------------------------------------------
"$dfer" prep --dataset dfew --root "$data" --out "$tmp/p3" --hang-minutes 0.2 >"$tmp/stopped.log" 2>&1 &
pid=$!
first_track "$tmp/p3"
kill -STOP "$pid"
sleep 16   # past the 12 s floor and 10 times a clip's time
kill -CONT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] || { cat "$tmp/stopped.log"; fail "stopped for 16 s and continued: status $rc, not 0"; }
grep -Eq "this process did not run for [0-9.]+ s \(stopped" "$tmp/stopped.log" || { cat "$tmp/stopped.log"; fail "no word of the stop"; }
[ ! -e "$tmp/p3/hangs.jsonl" ] || fail "a stopped process recorded a hang"
[ "$(ls "$tmp/p3/landmarks" | wc -l)" = 16 ] || fail "stopped and continued: not every clip has a track"
echo "stopped for 16 s and continued: $(grep -o 'did not run for [0-9.]* s' "$tmp/stopped.log"), completed"

# ---- a stop signal to one rank of two ---------------------------------------------------------------
rc=0
prep_two_ranks "$tmp/p4" "$tmp/signal.log"
kill -USR1 "${ranks[1]}"
wait "$launcher" || rc=$?
[ "$rc" = 3 ] || { cat "$tmp/signal.log"; fail "SIGUSR1 to one rank: status $rc, not 3"; }
grep -Eq "^prep: stopped by a signal with [0-9]+ of 16 clips done .*the same command continues" "$tmp/signal.log" \
  || { cat "$tmp/signal.log"; fail "no stop message"; }
done_tracks=$(ls "$tmp/p4/landmarks" | wc -l)
[ "$done_tracks" -lt 16 ] && [ ! -e "$tmp/p4/prep_summary.json" ] || fail "stopped, yet $done_tracks tracks and a summary"
for t in "$tmp"/p4/landmarks/*.txt; do
  id=$(basename "$t" .txt)
  [ "$(grep -vc '^#' "$t")" = "$(ls "$frames/$id" | wc -l)" ] || fail "the stopped run left a partial track for $id"
done
[ -z "$(find "$tmp/p4" -name '*.dfer-tmp.*')" ] || fail "the stopped run left a temporary file"
"${mpi[@]}" "$dfer" prep --dataset dfew --root "$data" --out "$tmp/p4" >"$tmp/signal2.log" 2>&1 || { cat "$tmp/signal2.log"; fail "the run after the stop"; }
[ "$(json "$tmp/p4/prep_summary.json" "(d['clips'], d['skipped'], d['computed'])")" = "(16, $done_tracks, $((16 - done_tracks)))" ] \
  || fail "after the stop: $(json "$tmp/p4/prep_summary.json" "(d['clips'], d['skipped'], d['computed'])")"
echo "SIGUSR1 to one rank: both stopped with $done_tracks whole tracks (exit 3); run again, the other $((16 - done_tracks)) computed"

expect_usage() { if "$dfer" prep --dataset dfew --root "$data" --hang-minutes "$1" >"$tmp/bad.log" 2>&1; then fail "--hang-minutes $1 accepted"; fi
  grep -q -- "--hang-minutes takes a number in \[0, 10080\], not '$1'" "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "--hang-minutes $1: no clear message"; }; }
expect_usage -1
expect_usage abc
echo "bad --hang-minutes: clear messages"
