#!/usr/bin/env bash
# dfer synth and the data pipeline from the command line: the same seed gives
# byte-identical files whatever the thread count (and another seed differs);
# each layout passes `dfer data check`; video frames decoded by dfer equal the ffmpeg
# command line's output byte for byte, JPEG frames Pillow's within the IDCTs' rounding.
# usage: data_cli.sh DFER TOOLS_DIR PYTHON
set -euo pipefail
dfer=$1 tools=$2 py=${3:-python3}
tmp=$(mktemp -d /tmp/dfer-data-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 md5sum) | md5sum | cut -d' ' -f1; }
"$dfer" synth --layout mafw --clips 12 --size 48 --seed 9 --threads 1 --out "$tmp/a" 2>/dev/null
"$dfer" synth --layout mafw --clips 12 --size 48 --seed 9 --threads 2 --out "$tmp/b" 2>/dev/null
"$dfer" synth --layout mafw --clips 12 --size 48 --seed 10 --threads 2 --out "$tmp/c" 2>/dev/null
[ "$(sum "$tmp/a")" = "$(sum "$tmp/b")" ] || { echo "same seed, different files"; exit 1; }
[ "$(sum "$tmp/a")" != "$(sum "$tmp/c")" ] || { echo "different seeds, same files"; exit 1; }
echo "synth: identical output for one seed with 1 and 2 threads; another seed differs"
if "$dfer" synth --layout mafw --clips 2 --out "$tmp/a" 2>"$tmp/err"; then echo "wrote into a non-empty directory"; exit 1; fi
grep -q "not empty" "$tmp/err"
# --force replaces the synthetic dataset whole: nothing of the earlier one (8-frame clips, 30 clips) outlives it
"$dfer" synth --layout dfew --clips 30 --size 32 --min-frames 8 --max-frames 8 --seed 1 --out "$tmp/again" 2>/dev/null
"$dfer" synth --layout dfew --clips 10 --size 32 --min-frames 3 --max-frames 3 --seed 5 --force --out "$tmp/again" 2>/dev/null
[ "$(find "$tmp/again/Clip/clip_224x224" -name '*.jpg' | wc -l)" = 30 ] && [ "$(find "$tmp/again/Clip/clip_224x224" -mindepth 1 -type d | wc -l)" = 10 ] \
  || { echo "synth --force left frames or clips of the dataset it replaced"; exit 1; }
[ "$(cat "$tmp/again/EmoLabel_DataSplit/test(single-labeled)"/set_*.csv | grep -vc video_name)" = 10 ] \
  || { echo "synth --force: the split files do not list the new 10 clips"; exit 1; }
# ... and refuses a folder it did not write, removing nothing
mkdir -p "$tmp/mine/data" && echo keep >"$tmp/mine/data/notes.txt"
if "$dfer" synth --layout mafw --clips 2 --force --out "$tmp/mine" 2>"$tmp/err"; then echo "synth --force wrote into a folder it did not write"; exit 1; fi
grep -q "did not write (it has no synth/ folder)" "$tmp/err" && [ -f "$tmp/mine/data/notes.txt" ] \
  || { cat "$tmp/err"; echo "synth --force into another folder: unclear, or removed a file"; exit 1; }
echo "synth --force: the earlier synthetic dataset replaced whole; a folder synth did not write refused"
# few clips: below 5 an empty split is said where it is made (data check then refuses it)
"$dfer" synth --layout dfew --clips 3 --size 32 --seed 0 --out "$tmp/three" 2>"$tmp/three.err"
empty=$(sed -n "s/^synth: warning: with 3 clips fold \([1-5]\)'s test split is empty.*/\1/p" "$tmp/three.err" | head -n 1)
[ -n "$empty" ] || { cat "$tmp/three.err"; echo "synth of 3 clips: no warning of an empty test split"; exit 1; }
if "$dfer" data check --dataset dfew --root "$tmp/three" --fold "$empty" >/dev/null 2>"$tmp/three-check.err"; then
  echo "data check passed fold $empty, whose test split synth said is empty"; exit 1
fi
grep -q "set_$empty.csv: the split file lists no clips" "$tmp/three-check.err" || { cat "$tmp/three-check.err"; exit 1; }
echo "synth: fold $empty's empty test split warned of, and refused by data check"
# from 5 clips every fold has a test clip (a fold the draw left empty takes the largest fold's last clip); seeds 0
# and 2 drew empty folds in DFEW's and MAFW's layouts, and seed 2 FERV39k's test split (fold 1) empty
for layout in dfew mafw ferv39k; do
  for seed in 0 2; do
    out="$tmp/five-$layout-$seed"
    "$dfer" synth --layout $layout --clips 5 --size 32 --min-frames 3 --max-frames 3 --seed $seed --out "$out" \
      2>"$out.err"
    ! grep -q "split is empty" "$out.err" || { cat "$out.err"; echo "synth $layout of 5 clips, seed $seed: empty split"; exit 1; }
    folds=$("$py" -c 'import json, sys; print(sorted(json.loads(l)["fold"] for l in open(sys.argv[1])))' \
      "$out/synth/clips.jsonl")
    [ "$folds" = "[1, 2, 3, 4, 5]" ] || { echo "synth $layout of 5 clips, seed $seed: folds $folds"; exit 1; }
    "$dfer" data check --dataset $layout --root "$out" >/dev/null 2>&1 \
      || { "$dfer" data check --dataset $layout --root "$out"; echo "data check refused $out"; exit 1; }
  done
done
echo "synth of 5 clips: a clip in each fold (dfew, mafw, ferv39k; seeds 0 and 2), data check passes"
for layout in dfew ferv39k mafw; do
  "$dfer" synth --layout $layout --clips 25 --size 48 --seed 2 --out "$tmp/$layout" 2>/dev/null
  "$dfer" data check --dataset $layout --root "$tmp/$layout" >"$tmp/check-$layout.txt"
  grep -q "unreadable clips: 0" "$tmp/check-$layout.txt"
done
echo "data check: dfew, ferv39k and mafw layouts pass"
# the synthetic ground truth is named by the clip id as the reader forms it, where the loader looks for it
# (<landmarks>/<id>.txt, <parsing>/<id>/): FERV39k's ids are Scene/Emotion/0001 (they were 0001, and training
# FineCLIPER's middle level on a synthetic FERV39k found no clip)
while read -r id _; do
  [ -f "$tmp/ferv39k/synth/landmarks/$id.txt" ] && [ -d "$tmp/ferv39k/synth/parsing/$id" ] \
    || { echo "ferv39k: no synthetic landmarks or parsing maps under the clip id $id"; exit 1; }
done < "$tmp/ferv39k/4_setups/All_scenes/test_All.csv"
tail -n +2 "$tmp/dfew/EmoLabel_DataSplit/test(single-labeled)/set_1.csv" | while IFS=, read -r id _; do
  id=$(printf %05d "$id")
  [ -f "$tmp/dfew/synth/landmarks/$id.txt" ] && [ -d "$tmp/dfew/synth/parsing/$id" ] \
    || { echo "dfew: no synthetic landmarks or parsing maps under the clip id $id"; exit 1; }
done
echo "synth: landmarks and parsing maps named by the reader's clip ids (FERV39k: Scene/Emotion/id)"
# videos cut short (a copy or download that stopped; the mp4's index at its start so it still opens): the
# loader trains on what decodes, and data check names each one with its declared and decoded length.
# Whole files, one with an audio track longer than its video, are not named.
ffmpeg -v error -f lavfi -i testsrc=size=64x48:rate=25 -t 3 -pix_fmt yuv420p -movflags +faststart "$tmp/whole.mp4"
ffmpeg -v error -i "$tmp/whole.mp4" -c:v libvpx-vp9 -b:v 100k "$tmp/whole.webm"
ffmpeg -v error -i "$tmp/whole.mp4" -f lavfi -i sine=duration=5 -map 0:v -map 1:a -c:v copy -c:a aac "$tmp/av.mp4"
for f in mp4 webm; do head -c $(( $(stat -c %s "$tmp/whole.$f") / 2 )) "$tmp/whole.$f" >"$tmp/cut.$f"; done
printf '%s 75 0\n' "$tmp/whole.mp4" "$tmp/cut.mp4" "$tmp/whole.webm" "$tmp/cut.webm" "$tmp/av.mp4" >"$tmp/videos.txt"
"$dfer" data check --dataset list --root "$tmp/videos.txt" --split train >"$tmp/check-videos.txt" \
  || { cat "$tmp/check-videos.txt"; echo "data check failed on readable videos"; exit 1; }
grep -q "truncated videos: 2; unreadable clips: 0" "$tmp/check-videos.txt" \
  && grep -q "truncated: $tmp/cut.mp4 decodes to .* its video stream declares 3.00 s, 75 frames" "$tmp/check-videos.txt" \
  && grep -q "truncated: $tmp/cut.webm decodes to .* its video stream declares 3.00 s$" "$tmp/check-videos.txt" \
  && ! grep -q "truncated: $tmp/\(whole\|av\)" "$tmp/check-videos.txt" \
  || { cat "$tmp/check-videos.txt"; echo "data check: truncated videos not named as such"; exit 1; }
echo "data check: the cut mp4 and WebM named as truncated; whole files and an mp4 with longer audio not"
# a list is one file: checked once, its class order that of its labels (11 classes with a label of 7 or more)
[ "$(grep -c 'truncated videos:' "$tmp/check-videos.txt")" = 1 ] && grep -q "^class order: happiness, .*, fear$" "$tmp/check-videos.txt" \
  || { cat "$tmp/check-videos.txt"; echo "data check: a 7-class list not checked once in its order"; exit 1; }
printf '%s 75 9\n' "$tmp/whole.mp4" >"$tmp/video11.txt"
"$dfer" data check --dataset list --root "$tmp/video11.txt" >"$tmp/check-11.txt"
grep -q "^class order: happiness, .*, disappointment$" "$tmp/check-11.txt" && grep -q "helplessness 1, disappointment 0$" "$tmp/check-11.txt" \
  || { cat "$tmp/check-11.txt"; echo "data check: an 11-class list not shown in its order"; exit 1; }
echo "data check: a list checked once, in the class order of its labels (7 or 11 classes)"
# video decoding parity with the ffmpeg command line (bilinear swscale to RGB24)
"$tools/decode_dump" "$tmp/mafw/clips/00001.mp4" "$tmp/ours.rgb"
ffmpeg -v error -i "$tmp/mafw/clips/00001.mp4" -sws_flags bilinear -f rawvideo -pix_fmt rgb24 "$tmp/ref.rgb"
cmp "$tmp/ours.rgb" "$tmp/ref.rgb" || { echo "video frames differ from ffmpeg's"; exit 1; }
# JPEG frames as Pillow decodes them (the peers' reader): within the IDCTs' rounding
"$tools/decode_dump" "$tmp/dfew/Clip/clip_224x224/00001" "$tmp/ours_jpg.rgb"
"$py" - "$tmp/dfew/Clip/clip_224x224/00001" "$tmp/ours_jpg.rgb" <<'PY' || exit 1
import glob, sys
import numpy as np
from PIL import Image
ref = np.concatenate([np.asarray(Image.open(f).convert("RGB")).ravel() for f in sorted(glob.glob(sys.argv[1] + "/*.jpg"))]).astype(int)
ours = np.fromfile(sys.argv[2], np.uint8).astype(int)
assert ours.shape == ref.shape, (ours.shape, ref.shape)
d = np.abs(ours - ref)
assert d.max() <= 3 and d.mean() < 0.25, f"JPEG frames differ from Pillow's: max {d.max()}, mean {d.mean():.3f}"
PY
echo "decoding: $(($(stat -c %s "$tmp/ref.rgb") / (48*48*3))) video frames byte-identical to the ffmpeg CLI, $(($(stat -c %s "$tmp/ours_jpg.rgb") / (48*48*3))) JPEG frames within 3 of Pillow's"
# data preview: the loader's first batch as a PNG (clips x frames tiles), each row's label
# as the dataset's ground truth gives it
"$dfer" data preview --dataset dfew --root "$tmp/dfew" --split train --clips 5 --frames 4 --size 32 --out "$tmp/preview.png" \
  >"$tmp/preview.txt"
[ "$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$tmp/preview.png")" = "128,160" ] \
  || { echo "preview has the wrong size"; exit 1; }
[ "$(grep -c '^row ' "$tmp/preview.txt")" = 5 ] || { echo "preview did not list 5 rows"; exit 1; }
while read -r _ _ _ id _ label _; do
  truth=$(grep "\"id\":\"${id%,}\"" "$tmp/dfew/synth/clips.jsonl" | sed 's/.*"label":\([0-9]*\).*/\1/')
  [ "$truth" = "$label" ] || { echo "preview row of clip $id says label $label, the dataset $truth"; exit 1; }
done < <(grep '^row ' "$tmp/preview.txt")
if "$dfer" data preview --dataset dfew --root "$tmp/dfew" 2>/dev/null; then echo "preview without --out succeeded"; exit 1; fi
# each option in range, together a batch of 206 GB: refused before the loader, saying why
rc=0; "$dfer" data preview --dataset dfew --root "$tmp/dfew" --clips 256 --frames 64 --size 1024 --out "$tmp/big.png" \
  2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q "the preview's batch would take 206.2 GB" "$tmp/err" && [ ! -e "$tmp/big.png" ] \
  || { cat "$tmp/err"; echo "FAIL: a 206 GB preview: exit $rc"; exit 1; }
echo "data preview: a 5 x 4 grid whose rows carry the dataset's labels"
grep -q "^augmentation (dfew): brightness x U\[0.5, 1.5\], random sized crop (area U\[0.08, 1\]) to 32, horizontal flip$" \
  "$tmp/preview.txt" || { cat "$tmp/preview.txt"; echo "preview: DFEW's augmentation not named"; exit 1; }
"$dfer" data preview --dataset dfew --root "$tmp/dfew" --augment ferv39k --clips 2 --frames 2 --size 32 \
  --out "$tmp/preview-f.png" >"$tmp/preview-f.txt"
grep -q "^augmentation (ferv39k): rotation U\[-4, 4\] degrees, random sized crop" "$tmp/preview-f.txt" \
  || { cat "$tmp/preview-f.txt"; echo "preview --augment ferv39k: not FERV39k's augmentation"; exit 1; }
echo "data preview: the augmentation named, --augment's preset used"
