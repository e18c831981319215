#!/usr/bin/env bash
# A results folder belongs to one matrix file (train/matrix_folder.h): two matrices of the same [matrix] name (the
# same default results/NAME) or one --results replaced each other's jobs.json, the job list the tables count, without
# a word, and skipped each other's jobs of the same id as finished. After matrix A has run:
#   - B, A with another seed: refused before anything is written, naming both files and the jobs only B has
#     (jobs.json and matrix.json as they were, no folder for B's jobs);
#   - B, A with fold 2 dropped: refused, naming the job only A has;
#   - C, A with another train.epochs (the same jobs) at another path: shares the folder, each finished job saying
#     that it was trained with another configuration; matrix.json still names A;
#   - A edited (fold 2 dropped): the folder follows it, the log naming the job no longer listed;
#   - with matrix.json deleted, as the error says, B takes the folder.
# usage: matrix_results_owner.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
tmp=$(mktemp -d /tmp/dfer-matrix-owner-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$src/tests/lib/matrix_fixture.sh"
matrix_fixture name=owner-test
res=$tmp/res
a=$tmp/matrix.ini
run() { # run MATRIX LOG: the matrix on $res, its exit status in $rc
  rc=0
  "$dfer" matrix "$1" --results "$res" >"$2" 2>&1 || rc=$?
}
run "$a" "$tmp/a.log"
[ "$rc" = 0 ] || { cat "$tmp/a.log"; fail "matrix A failed"; }
grep -q "\"matrix_file\":[[:space:]]*\"$a\"" "$res/matrix.json" \
  || { cat "$res/matrix.json" || true; fail "matrix.json does not name A"; }
snapshot() { (cd "$res" && ls -A && md5sum jobs.json matrix.json); }
snapshot >"$tmp/before"

mkdir "$tmp/b" "$tmp/one-fold" "$tmp/c"
sed 's/^\[matrix\]$/[matrix]\nseeds = 1, 2/' "$a" >"$tmp/b/matrix.ini"
sed 's/^folds = 1, 2$/folds = 1/' "$a" >"$tmp/one-fold/matrix.ini"
sed 's/^train.epochs = 1$/train.epochs = 2/' "$a" >"$tmp/c/matrix.ini"
run "$tmp/b/matrix.ini" "$tmp/b.log"
[ "$rc" != 0 ] || { cat "$tmp/b.log"; fail "matrix B (another seed) ran in A's folder"; }
f1s2=finecliper-low__dfew__f1__tiny__s2 f2s2=finecliper-low__dfew__f2__tiny__s2
grep -qF "$res holds the jobs of the matrix $a (its matrix.json says so), not of $tmp/b/matrix.ini, which has other \
jobs: 2 only in this one ($f1s2, $f2s2), 0 only in the folder's. " "$tmp/b.log" \
  || { cat "$tmp/b.log"; fail "B's refusal does not name both files and B's jobs"; }
grep -qF "delete $res/matrix.json to hand the folder to $tmp/b/matrix.ini" "$tmp/b.log" \
  || { cat "$tmp/b.log"; fail "B's refusal does not say how to hand the folder over"; }
snapshot | diff "$tmp/before" - || fail "refused matrix B wrote into the results folder"
run "$tmp/one-fold/matrix.ini" "$tmp/one-fold.log"
[ "$rc" != 0 ] || { cat "$tmp/one-fold.log"; fail "matrix A without fold 2, at another path, ran in A's folder"; }
grep -qF "which has other jobs: 0 only in this one, 1 only in the folder's (finecliper-low__dfew__f2__tiny__s1)" \
  "$tmp/one-fold.log" || { cat "$tmp/one-fold.log"; fail "the refusal does not name the job only A has"; }
snapshot | diff "$tmp/before" - || fail "refused matrix A without fold 2 wrote into the results folder"
echo "matrices with other jobs (another seed, a fold dropped) refused in A's folder, nothing written"

run "$tmp/c/matrix.ini" "$tmp/c.log"
[ "$rc" = 0 ] && [ "$(grep -c 'already finished, skipped' "$tmp/c.log")" = 2 ] \
  && [ "$(grep -c 'finished with another configuration than the matrix gives now (train.epochs: 1 -> 2)' \
         "$tmp/c.log")" = 2 ] \
  || { cat "$tmp/c.log"; fail "a matrix with A's jobs (another train.epochs) did not share A's folder, saying so"; }
grep -q "\"matrix_file\":[[:space:]]*\"$a\"" "$res/matrix.json" || fail "a matrix with A's jobs took matrix.json over"
sed -i 's/^folds = 1, 2$/folds = 1/' "$a"
run "$a" "$tmp/a2.log"
[ "$rc" = 0 ] || { cat "$tmp/a2.log"; fail "matrix A, edited, was refused its own folder"; }
grep -qF "$res/jobs.json: the job list changes (the matrix file was edited since): 0 jobs added, 1 no longer listed \
(finecliper-low__dfew__f2__tiny__s1): their results stay in their folders" "$tmp/a2.log" \
  || { cat "$tmp/a2.log"; fail "the edited matrix A does not say which job it no longer lists"; }
[ "$(grep -c '"job":' "$res/jobs.json")" = 1 ] \
  || { cat "$res/jobs.json"; fail "jobs.json does not follow the edited A"; }
echo "a matrix with A's jobs shares its folder; A edited keeps it, saying which job it dropped"

rm "$res/matrix.json"
run "$tmp/b/matrix.ini" "$tmp/b2.log"
[ "$rc" = 0 ] && grep -q "\"matrix_file\":[[:space:]]*\"$tmp/b/matrix.ini\"" "$res/matrix.json" \
  && [ "$(grep -c '"job":' "$res/jobs.json")" = 4 ] \
  || { cat "$tmp/b2.log"; fail "B did not take the folder once matrix.json was deleted"; }
echo "with matrix.json deleted, B took the folder"
