#!/usr/bin/env bash
# Two matrix files with other jobs that start at the same instant on a brand-new results folder (train/matrix_folder.h):
# both found no matrix.json, both wrote jobs.json and matrix.json, the last rename won, and both ran on in one folder.
# The record is now made exclusively (linked into place, never renamed over another), before jobs.json:
#   - run A, frozen (SIGSTOP) inside the flush of its matrix.json's temporary file; run B, another file with other
#     jobs, runs to the end on the same folder; A, thawed, is refused (naming both files), writes nothing (matrix.json
#     and jobs.json still B's, no temporary file left);
#   - run B, frozen inside the flush of its jobs.json, its matrix.json in place but no jobs.json yet; run A is refused
#     all the same (the record lists B's jobs), and B, thawed, ends well with its own jobs.json.
# usage: matrix_results_race.sh DFER SOURCE_DIR SHARED_DIR STOP_IN_FSYNC_SO
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3") stop_in_fsync=$(realpath "$4")
tmp=$(mktemp -d /tmp/dfer-matrix-race-XXXXXX)
frozen= # the session (and pid) of the run started frozen: thawed and killed whatever ends the test
cleanup() {
  if [ -n "$frozen" ]; then
    kill -CONT "$frozen" 2>/dev/null || true
    pkill -KILL -s "$frozen" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "FAIL: $*"; exit 1; }
# shellcheck source=tests/lib/matrix_fixture.sh
. "$src/tests/lib/matrix_fixture.sh"
matrix_fixture name=race-test
mkdir "$tmp/a" "$tmp/b"
a=$tmp/a/matrix.ini b=$tmp/b/matrix.ini
mv "$tmp/matrix.ini" "$a"
sed 's/^\[matrix\]$/[matrix]\nseeds = 1, 2/' "$a" >"$b" # B: A's two jobs and two more of seed 2
proc_state() { sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null || true; }
# start_frozen MATRIX RESULTS NAME LOG: the matrix run in a session of its own, stopped inside the fsync of the first
# file whose path holds NAME (tests/preload/stop_in_fsync.c); its pid in $frozen
start_frozen() {
  setsid env LD_PRELOAD="$stop_in_fsync" DFER_TEST_STOP_IN_FSYNC="$3" "$dfer" matrix "$1" --results "$2" >"$4" 2>&1 &
  frozen=$!
  for _ in $(seq 6000); do
    [ "$(proc_state "$frozen")" = T ] && return 0
    case $(proc_state "$frozen") in '' | Z) cat "$4"; fail "$1 ended before it flushed its $3" ;; esac
    sleep 0.01
  done
  cat "$4"
  fail "$1 did not stop inside the flush of its $3 in 60 s"
}
# thaw LOG: the frozen run let go and waited for (120 s at most); its exit status in $rc
thaw() {
  kill -CONT "$frozen"
  for _ in $(seq 12000); do
    case $(proc_state "$frozen") in '' | Z) break ;; esac
    sleep 0.01
  done
  case $(proc_state "$frozen") in '' | Z) ;; *) cat "$1"; fail "the thawed run did not end in 120 s" ;; esac
  rc=0
  wait "$frozen" || rc=$?
  frozen=
}
run() { # run MATRIX RESULTS LOG: to the end (300 s at most), its exit status in $rc
  rc=0
  timeout 300 "$dfer" matrix "$1" --results "$2" >"$3" 2>&1 || rc=$?
}
names() { grep -q "\"matrix_file\":[[:space:]]*\"$2\"" "$1/matrix.json"; }
refusal() { # refusal LOG RESULTS: the log refuses A in B's folder, naming both files and the jobs only B has
  grep -qF "$2 holds the jobs of the matrix $b (its matrix.json says so), not of $a, which has other jobs: 0 only in \
this one, 2 only in the folder's (finecliper-low__dfew__f1__tiny__s2, finecliper-low__dfew__f2__tiny__s2)" "$1"
}

# ---- A frozen inside the write of its record; B takes the folder meanwhile ------------------------------------------
res=$tmp/res
start_frozen "$a" "$res" matrix.json "$tmp/a.log"
ls "$res"/matrix.json.dfer-tmp.* >/dev/null 2>&1 && [ ! -e "$res/matrix.json" ] \
  || { ls -la "$res"; fail "run A is not inside the write of its matrix.json"; }
run "$b" "$res" "$tmp/b.log"
[ "$rc" = 0 ] || { cat "$tmp/b.log"; fail "run B failed on the folder A was taking"; }
names "$res" "$b" || { cat "$res/matrix.json"; fail "matrix.json does not name B after B's run"; }
[ "$(grep -c '"job":' "$res/jobs.json")" = 4 ] || { cat "$res/jobs.json"; fail "jobs.json does not hold B's 4 jobs"; }
snapshot() { (cd "$res" && ls -A && md5sum jobs.json matrix.json tables.md); }
snapshot | grep -v 'dfer-tmp' >"$tmp/before"
thaw "$tmp/a.log"
[ "$rc" != 0 ] || { cat "$tmp/a.log"; fail "run A, thawed, ran in the folder B took"; }
refusal "$tmp/a.log" "$res" || { cat "$tmp/a.log"; fail "run A's refusal does not name both files and B's jobs"; }
snapshot | diff "$tmp/before" - || fail "refused run A wrote into B's folder (or left its temporary file)"
! grep -q '\] job [0-9]/' "$tmp/a.log" || { cat "$tmp/a.log"; fail "refused run A started a job"; }
echo "A, frozen inside the write of its record while B took the new folder, is refused; the folder stays B's"

# ---- B frozen between its record and its jobs.json; A starts then ---------------------------------------------------
res=$tmp/res2
start_frozen "$b" "$res" jobs.json "$tmp/b2.log"
names "$res" "$b" && [ ! -e "$res/jobs.json" ] \
  || { ls -la "$res"; fail "run B is not between its matrix.json and its jobs.json"; }
run "$a" "$res" "$tmp/a2.log"
[ "$rc" != 0 ] || { cat "$tmp/a2.log"; fail "run A ran in the folder whose record B had made (no jobs.json yet)"; }
refusal "$tmp/a2.log" "$res" || { cat "$tmp/a2.log"; fail "run A's refusal does not name both files and B's jobs"; }
[ ! -e "$res/jobs.json" ] && names "$res" "$b" || fail "refused run A wrote jobs.json or matrix.json"
thaw "$tmp/b2.log"
[ "$rc" = 0 ] || { cat "$tmp/b2.log"; fail "run B failed after it was thawed"; }
names "$res" "$b" && [ "$(grep -c '"job":' "$res/jobs.json")" = 4 ] \
  || { cat "$res/matrix.json" "$res/jobs.json"; fail "the folder is not B's after B's run"; }
echo "A, started while B's record was in place but not yet its jobs.json, is refused; B ends with its own job list"
