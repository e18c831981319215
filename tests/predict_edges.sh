#!/usr/bin/env bash
# dfer predict on inputs a user gives that predict.sh does not cover, with one tiny trained run:
#  - an audio file with cover art (an mp3 whose only video stream is its attached picture) is refused, exit 1,
#    naming the file (it was predicted as a 0-second clip of the cover and warned "truncated");
# usage: predict_edges.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$1 src=$2 shared=$3 py=$4
model=/usr/share/dlib/shape_predictor_68_face_landmarks.dat
[ -r "$model" ] || { echo "missing $model: install libdlib-data (scripts/setup)"; exit 1; }
tmp=$(mktemp -d /tmp/dfer-predict-edges-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# ---- a tiny run ----------------------------------------------------------------------------------------
data=$tmp/data
"$dfer" synth --layout mafw --size 160 --difficulty easy --clips 12 --min-frames 50 --max-frames 75 --seed 3 \
  --threads 2 --out "$data" >/dev/null 2>&1
"$dfer" init --arch tiny --seed 2 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
"$dfer" train --config "$src/configs/synth/finecliper.ini" --set data.dataset=mafw --set data.root="$data" \
  --set model.weights="$tmp/clip.safetensors" --set train.epochs=1 --set train.batch=4 --set train.eval_batch=8 \
  --set data.frames=4 --set train.threads=2 --set train.max_steps_per_epoch=2 --out "$tmp/fc" >/dev/null
video=$data/clips/00001.mp4

# ---- an audio file with cover art --------------------------------------------------------------------------
ffmpeg -v error -i "$video" -frames:v 1 "$tmp/cover.jpg"
ffmpeg -v error -f lavfi -i sine=duration=3 -i "$tmp/cover.jpg" -map 0 -map 1 -c:a libmp3lame -c:v copy \
  -disposition:v attached_pic "$tmp/song.mp3"
rc=0; "$dfer" predict --quiet --checkpoint "$tmp/fc" --video "$tmp/song.mp3" --json >"$tmp/song.json" \
  2>"$tmp/song.err" || rc=$?
[ "$rc" = 1 ] && grep -qF "$tmp/song.mp3: no video stream" "$tmp/song.err" \
  || { cat "$tmp/song.err"; fail "an mp3 with cover art: exit $rc, expected 1 naming the file (no video stream)"; }
echo "cover art: exit 1: $(head -n 1 "$tmp/song.err")"

echo "predict_edges: all checks passed"
