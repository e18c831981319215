#!/bin/sh
# Test media for test_decode, made with the ffmpeg CLI, and the CLI's own
# decoding of them (bilinear swscale to RGB24, cluster.md §4 pitfall 4) as the
# byte-exact reference of videos; Pillow's decoding that of JPEG frames.
# usage: decode_media.sh OUTDIR PYTHON
set -eu
d=$1 py=$2
ff() { ffmpeg -v error -nostdin -y "$@"; }
# H.264 High 4:2:0, 50 frames (cluster.md §4 pitfall 6)
ff -f lavfi -i testsrc=size=224x224:rate=25 -t 2 -pix_fmt yuv420p "$d/t.mp4"
ff -i "$d/t.mp4" -sws_flags bilinear -f rawvideo -pix_fmt rgb24 "$d/t.rgb"
# a width of 16k + 8 (600): swscale's vector path writes past the last row's end (image.c keeps slack)
ff -f lavfi -i testsrc=size=600x480:rate=5 -t 0.6 -pix_fmt yuv420p "$d/w600.mp4"
ff -i "$d/w600.mp4" -sws_flags bilinear -f rawvideo -pix_fmt rgb24 "$d/w600.rgb"
# a video tagged BT.709 (limited range): dfer converts it with the BT.601 matrix whatever the tag, as OpenCV and
# PyAV do (and frames the ffmpeg CLI writes as JPEG then read by Pillow); the CLI's own RGB24 honours the tag
ff -f lavfi -i testsrc=size=320x240:rate=5 -t 0.6 -vf scale=out_color_matrix=bt709 -pix_fmt yuv420p \
  -colorspace bt709 -color_primaries bt709 -color_trc bt709 -color_range tv "$d/bt709.mp4"
ff -i "$d/bt709.mp4" -vf scale=in_color_matrix=bt601:flags=bilinear -f rawvideo -pix_fmt rgb24 "$d/bt709_as_bt601.rgb"
ff -i "$d/bt709.mp4" -sws_flags bilinear -f rawvideo -pix_fmt rgb24 "$d/bt709_as_tagged.rgb"
# a folder of 10 JPEG frames (full-range yuvj420p) and the same frames as a video
mkdir "$d/jpgs"
ff -f lavfi -i testsrc=size=160x120:rate=5 -t 2 -q:v 3 "$d/jpgs/img_%03d.jpg"
# their reference is Pillow's decoding (libjpeg-turbo: fancy chroma upsampling), as the peers read frames
"$py" -c 'import sys, glob; from PIL import Image
open(sys.argv[2], "wb").write(b"".join(Image.open(f).convert("RGB").tobytes() for f in sorted(glob.glob(sys.argv[1] + "/*.jpg"))))' \
  "$d/jpgs" "$d/jpgs.rgb"
ff -framerate 5 -i "$d/jpgs/img_%03d.jpg" -pix_fmt yuv420p "$d/jpgs.mp4"
# a detailed face-crop-like JPEG in 4:2:0 written by Pillow (noise and colour detail: where chroma upsampling
# shows), and Pillow's decoding of it
mkdir "$d/detail"
"$py" -c 'import sys; import numpy as np; from PIL import Image
rng = np.random.default_rng(0); y, x = np.mgrid[0:224, 0:224]
a = np.stack([128 + 100 * np.sin(x / 9.0), 128 + 90 * np.cos(y / 7.0), (x * y) % 256], -1) + rng.normal(0, 20, (224, 224, 3))
Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(sys.argv[1], quality=90, subsampling=2)
open(sys.argv[2], "wb").write(Image.open(sys.argv[1]).convert("RGB").tobytes())' "$d/detail/00001.jpg" "$d/detail.rgb"
# bytewise name order: 'B' < 'a' < 'b'
mkdir "$d/sorted"
cp "$d/jpgs/img_003.jpg" "$d/sorted/B.jpg"
cp "$d/jpgs/img_001.jpg" "$d/sorted/a.jpg"
cp "$d/jpgs/img_002.jpg" "$d/sorted/b.jpg"
echo "not a frame" >"$d/sorted/notes.txt"
# bad inputs
mkdir "$d/bad" "$d/bad/empty" "$d/bad/zero_jpg" "$d/bad/text_jpg" "$d/bad/no_images"
size=$(stat -c %s "$d/t.mp4")
head -c $((size / 2)) "$d/t.mp4" >"$d/bad/truncated.mp4" # the index (moov) is at the end: nothing decodes
ff -f lavfi -i testsrc=size=224x224:rate=25 -t 2 -pix_fmt yuv420p -movflags +faststart "$d/fast.mp4"
size=$(stat -c %s "$d/fast.mp4")
head -c $((size * 6 / 10)) "$d/fast.mp4" >"$d/bad/truncated_faststart.mp4" # index first: the start decodes
cp "$d/jpgs/img_001.jpg" "$d/bad/zero_jpg/img_001.jpg"
: >"$d/bad/zero_jpg/img_002.jpg"
echo "this is text, not a JPEG" >"$d/bad/text_jpg/img_001.jpg"
echo "a note" >"$d/bad/no_images/readme.txt"
echo "plain text with a video name" >"$d/bad/text.mp4"
echo "plain text" >"$d/bad/clip.txt"
# what the CLI decodes of the truncated video (it may report the damage: not fatal here)
ff -i "$d/bad/truncated_faststart.mp4" -sws_flags bilinear -f rawvideo -pix_fmt rgb24 "$d/truncated_faststart.rgb" 2>/dev/null || true
