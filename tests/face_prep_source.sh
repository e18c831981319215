#!/usr/bin/env bash
# dfer prep's cached tracks against the clips they were made from (a track's first line records its clip's
# identity, data/clip_identity.h):
#  - a clip replaced under the same id by another video (its frames mirrored: the same names, count and folder)
#    gets a new track, the one a fresh prep makes, with a warning naming the clip and the old and new source; the
#    other tracks are left byte- and mtime-identical;
#  - a dataset folder moved (mv) or copied without its times (cp -r) reuses every track;
#  - tracks of an older dfer (a first line without the identity) are reused with one note, and counted, where their
#    recorded path is the clip's under the dataset's folder (also after the folder moved); a list that now names
#    another clip under the same id gets a new track;
#  - a video re-encoded in place (same path, same frames) gets a new track.
# usage: face_prep_source.sh DFER PYTHON
set -euo pipefail
dfer=$1 py=$2
model=/usr/share/dlib/shape_predictor_68_face_landmarks.dat
[ -r "$model" ] || { echo "missing $model: install libdlib-data (scripts/setup)"; exit 1; }
tmp=$(mktemp -d /tmp/dfer-face-prep-source-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
json() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
body() { grep -v '^#' "$1"; }   # a track's lines, without its first line (which names the clip's path)
stamp() { (cd "$1" && find . -type f -printf '%p %T@ ' -exec md5sum {} \; | sort); }
counts() { json "$1/dfer_prep/prep_summary.json" "(d['computed'], d['skipped'], d['cached_without_clip_identity'])"; }
prep() { # log root [options]: a DFEW prep of fold 1 (the synthetic set's other folds have no test clips)
  local log=$1 root=$2; shift 2
  "$dfer" prep --dataset dfew --root "$root" --fold 1 "$@" >"$tmp/$log.log" 2>&1 \
    || { cat "$tmp/$log.log"; fail "$log"; }
}

cd "$tmp"
"$dfer" synth --layout dfew --clips 10 --size 224 --seed 5 --threads 2 --out data >/dev/null 2>&1
frames=Clip/clip_224x224
prep first data
[ "$(counts data)" = "(10, 0, 0)" ] || fail "first run: $(counts data)"
folder_id="frame files of [0-9]* bytes, fnv1a [0-9a-f]\{16\}"
video_id="video file of [0-9]* bytes, fnv1a [0-9a-f]\{16\}"
grep -q "): source 24 $folder_id: data/$frames/00002$" data/dfer_prep/landmarks/00002.txt \
  || { head -n 1 data/dfer_prep/landmarks/00002.txt; fail "the track does not record its clip's identity"; }
cp data/dfer_prep/landmarks/00002.txt old_00002.txt

# ---- clip 00002 replaced by another video under the same id: its frames mirrored, names and count kept ----------
stamp data/dfer_prep/landmarks | grep -v '^./00002.txt ' >before
for f in data/$frames/00002/*; do ffmpeg -v error -y -i "$f" -vf hflip -q:v 2 mirrored.jpg && mv mirrored.jpg "$f"; done
prep replaced data
grep -q "computing clip 00002 again: its cached track was made from data/$frames/00002 (24 $folder_id), \
the clip is now data/$frames/00002 (24 $folder_id)" \
  replaced.log || { cat replaced.log; fail "no warning naming the replaced clip and its old and new source"; }
[ "$(counts data)" = "(1, 9, 0)" ] || fail "clip 00002 replaced (computed, skipped, without identity): $(counts data)"
! cmp -s <(body old_00002.txt) <(body data/dfer_prep/landmarks/00002.txt) || fail "the replaced clip kept its old track"
prep fresh data --out fresh --limit 2
cmp -s <(body fresh/landmarks/00002.txt) <(body data/dfer_prep/landmarks/00002.txt) \
  || fail "the replaced clip's new track is not the one a fresh prep makes of it"
stamp data/dfer_prep/landmarks | grep -v '^./00002.txt ' >after
cmp -s before after || fail "tracks of unchanged clips were rewritten"
echo "a clip replaced under its id (mirrored frames): computed again with a warning, its track a fresh prep's; 9 reused"

# ---- the dataset moved, then copied without its files' times: every track reused -----------------------------
stamp data/dfer_prep/landmarks >before
mv data moved
prep moved moved
[ "$(counts moved)" = "(0, 10, 0)" ] || { cat "$tmp/moved.log"; fail "the moved dataset: $(counts moved)"; }
stamp moved/dfer_prep/landmarks >after
cmp -s before after || fail "the moved dataset's tracks were rewritten"
sleep 1.1 # (the copy's mtimes differ from the originals' at whole seconds too)
cp -r moved copied
[ "$(stat -c %Y moved/$frames/00001/$(ls moved/$frames/00001 | head -n 1))" != \
  "$(stat -c %Y copied/$frames/00001/$(ls copied/$frames/00001 | head -n 1))" ] || fail "cp -r kept the mtimes"
prep copied copied
[ "$(counts copied)" = "(0, 10, 0)" ] || { cat "$tmp/copied.log"; fail "the copied dataset: $(counts copied)"; }
! grep -q "computing clip" moved.log copied.log || fail "a moved or copied clip was computed again"
echo "the dataset moved (mv) and copied (cp -r, new mtimes): every track reused"

# ---- tracks of an older dfer: no identity on their first line ------------------------------------------------
sed -i '1s/): source [^:]*: /): /' copied/dfer_prep/landmarks/*.txt
grep -q "model $model): data/$frames/00001$" copied/dfer_prep/landmarks/00001.txt || fail "the older first line"
# recorded: data/... (the first run's); now: copied_again/...: the same place under the dataset's folder
mv copied copied_again
prep older copied_again
[ "$(counts copied_again)" = "(0, 10, 10)" ] || { cat "$tmp/older.log"; fail "older tracks: $(counts copied_again)"; }
[ "$(grep -c "cached tracks record no identity" older.log)" = 1 ] || { cat "$tmp/older.log"; fail "no one-line note"; }
grep -q "prep: 10 cached tracks record no identity of their clip" older.log || fail "the note does not count them"
echo "tracks of an older dfer (no identity): reused after a move, with one note, counted"

# ---- a list: a video re-encoded in place; an older track of a list that names another clip under its id ------
mkdir -p list/a list/b
encode() { ffmpeg -v error -y -framerate 25 -pattern_type glob -i "$1" -c:v libx264 -crf "$2" -pix_fmt yuv420p "$3"; }
encode "moved/$frames/00003/*.jpg" 18 list/a/clip.mp4
encode "moved/$frames/00005/*.jpg" 18 list/b/clip.mp4
printf 'a/clip.mp4 24 0\n' >list/list.txt
listprep() { # folder log
  "$dfer" prep --dataset list --root "$1/list.txt" >"$tmp/$2.log" 2>&1 || { cat "$tmp/$2.log"; fail "$2"; }
}
lcounts() { json "$1/dfer_prep/prep_summary.json" "(d['computed'], d['skipped'], d['cached_without_clip_identity'])"; }
listprep list list1
[ "$(lcounts list)" = "(1, 0, 0)" ] || fail "the list's first run: $(lcounts list)"
ffmpeg -v error -i list/a/clip.mp4 -c:v libx264 -crf 30 -pix_fmt yuv420p reencoded.mp4
mv reencoded.mp4 list/a/clip.mp4
listprep list reencoded
grep -q "computing clip clip.mp4 again: its cached track was made from list/a/clip.mp4 ($video_id), the clip is now \
list/a/clip.mp4 ($video_id)" \
  reencoded.log || { cat reencoded.log; fail "no warning naming the re-encoded video"; }
[ "$(lcounts list)" = "(1, 0, 0)" ] || fail "the re-encoded video: $(lcounts list)"
sed -i '1s/): source [^:]*: /): /' list/dfer_prep/landmarks/clip.mp4.txt
mv list list_moved # an older track, the list's folder moved: reused
listprep list_moved older_list
[ "$(lcounts list_moved)" = "(0, 1, 1)" ] \
  || { cat "$tmp/older_list.log"; fail "an older list track after a move: $(lcounts list_moved)"; }
printf 'b/clip.mp4 24 0\n' >list_moved/list.txt # another clip under the id clip.mp4
listprep list_moved other_clip
grep -q "computing clip clip.mp4 again: its cached track was made from list/a/clip.mp4, the clip is now \
list_moved/b/clip.mp4 (another path under the dataset's folder)" \
  other_clip.log || { cat other_clip.log; fail "no warning naming the other clip of an older track"; }
[ "$(lcounts list_moved)" = "(1, 0, 0)" ] || fail "an older track of another clip: $(lcounts list_moved)"
grep -q "): source $video_id: list_moved/b/clip.mp4$" list_moved/dfer_prep/landmarks/clip.mp4.txt \
  || fail "the new track does not record the video's identity"
echo "a list: a video re-encoded in place computed again; an older track reused after a move, of another clip not"
