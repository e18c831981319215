#!/usr/bin/env bash
# dfer synth and the data pipeline from the command line: the same seed gives
# byte-identical files whatever the thread count (and another seed differs);
# each layout passes `dfer data check`; frames decoded by dfer equal the ffmpeg
# command line's output byte for byte (video and JPEG frames).
# usage: data_cli.sh DFER TOOLS_DIR
set -euo pipefail
dfer=$1 tools=$2
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
for layout in dfew ferv39k mafw; do
  "$dfer" synth --layout $layout --clips 25 --size 48 --seed 2 --out "$tmp/$layout" 2>/dev/null
  "$dfer" data check --dataset $layout --root "$tmp/$layout" >"$tmp/check-$layout.txt"
  grep -q "unreadable clips: 0" "$tmp/check-$layout.txt"
done
echo "data check: dfew, ferv39k and mafw layouts pass"
# decoding parity with the ffmpeg command line (bilinear swscale to RGB24)
"$tools/decode_dump" "$tmp/mafw/clips/00001.mp4" "$tmp/ours.rgb"
ffmpeg -v error -i "$tmp/mafw/clips/00001.mp4" -sws_flags bilinear -f rawvideo -pix_fmt rgb24 "$tmp/ref.rgb"
cmp "$tmp/ours.rgb" "$tmp/ref.rgb" || { echo "video frames differ from ffmpeg's"; exit 1; }
"$tools/decode_dump" "$tmp/dfew/Clip/clip_224x224/00001" "$tmp/ours_jpg.rgb"
ffmpeg -v error -pattern_type glob -i "$tmp/dfew/Clip/clip_224x224/00001/*.jpg" -sws_flags bilinear -f rawvideo -pix_fmt rgb24 "$tmp/ref_jpg.rgb"
cmp "$tmp/ours_jpg.rgb" "$tmp/ref_jpg.rgb" || { echo "JPEG frames differ from ffmpeg's"; exit 1; }
echo "decoding: $(($(stat -c %s "$tmp/ref.rgb") / (48*48*3))) video frames and $(($(stat -c %s "$tmp/ref_jpg.rgb") / (48*48*3))) JPEG frames byte-identical to the ffmpeg CLI"
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
echo "data preview: a 5 x 4 grid whose rows carry the dataset's labels"
