#!/usr/bin/env bash
# dfer prep run again over cached tracks lists each frame-folder clip once: the check of the folder's frame count
# against the track's lines and the check of the clip's identity (data/clip_identity.h) share one listing (on a
# network file system each listing of 10k+ clip folders costs a round trip). Every track is reused, so the identity
# computed from that listing is the one the first run recorded, byte for byte. Counted by an LD_PRELOAD shim
# (tests/preload/count_listings.c) over opendir/scandir of the clips' folders.
# usage: face_prep_listings.sh DFER COUNT_LISTINGS_SHIM PYTHON
set -euo pipefail
dfer=$1 shim=$2 py=$3
model=/usr/share/dlib/shape_predictor_68_face_landmarks.dat
[ -r "$model" ] || { echo "missing $model: install libdlib-data (scripts/setup)"; exit 1; }
[ -r "$shim" ] || { echo "missing the shim $shim"; exit 1; }
tmp=$(mktemp -d /tmp/dfer-face-prep-listings-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
counts() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print((d['computed'], d['skipped']))" "$1"; }

cd "$tmp"
"$dfer" synth --layout dfew --clips 10 --size 224 --seed 5 --threads 2 --out data >/dev/null 2>&1
frames=data/Clip/clip_224x224
prep() { # log: a DFEW prep of fold 1 (the synthetic set's other folds have no test clips) on two threads
  "$dfer" prep --dataset dfew --root data --fold 1 --threads 2 >"$1.log" 2>&1 || { cat "$1.log"; fail "$1"; }
}
prep first
clips=$(ls data/dfer_prep/landmarks | wc -l)
[ "$clips" -ge 4 ] || fail "the first run made $clips tracks"
summary=data/dfer_prep/prep_summary.json
[ "$(counts $summary)" = "($clips, 0)" ] || fail "first run (computed, skipped): $(counts $summary)"
grep -q "): source [0-9]* frame files of" data/dfer_prep/landmarks/00001.txt || fail "the track records no identity"

# the rerun: every track cached; the shim notes each listing of a clip's folder
DFER_TEST_COUNT_LISTINGS=$frames/ DFER_TEST_COUNT_LISTINGS_LOG=$tmp/listings LD_PRELOAD=$shim prep rerun
[ "$(counts $summary)" = "(0, $clips)" ] || { cat rerun.log; fail "rerun (computed, skipped): $(counts $summary)"; }
! grep -q "computing clip" rerun.log || { cat rerun.log; fail "a cached track was computed again"; }
[ -s listings ] || fail "the shim noted no listing of a clip folder (is it preloaded?)"
sort listings | uniq -c | sed 's/^ *//' >per_folder
echo "listings of each clip folder in the rerun:"; cat per_folder
[ "$(wc -l <per_folder)" = "$clips" ] || fail "$(wc -l <per_folder) clip folders listed, want each of the $clips"
if grep -v '^1 ' per_folder; then fail "a clip folder listed more than once in the rerun (above)"; fi
echo "a rerun over $clips cached folder clips: each folder listed once, every track reused"
