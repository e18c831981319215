#!/usr/bin/env bash
# dfer predict on inputs a user gives that predict.sh does not cover, with one tiny trained run:
#  - predict gives eval's probabilities for the same frames (a test clip's face frames, one window, the whole
#    frame as the crop);
#  - an audio file with cover art (an mp3 whose only video stream is its attached picture) is refused, exit 1,
#    naming the file (it was predicted as a 0-second clip of the cover and warned "truncated");
#  - --annotate with a stride past the end (one 0.5 s window of a 2 s clip): frames after the last window
#    show no classes (they showed the last window's, as if it covered them), frames inside it do;
#  - --annotate of a 2500 fps video writes every frame at its time (the writer refused the rate: exit 1);
#  - an --annotate copy that cannot be written (a file size limit) fails after the predictions are given out;
#  - times on a player's clock: an MP4 whose video starts 0.5 s after its audio and two MPEG-TS files give
#    start_offset_s (the first frame's time on the player's clock) and container_start_s as ffprobe's numbers,
#    with the windows' own times unchanged and player_start_s / player_end_s (JSON, CSV) theirs plus the offset;
#  - a 4K video scanned with 16 detector threads stays under 1.3 GB resident (the scan held 64 frames: 1.8 GB).
# usage: predict_edges.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$1 src=$2 shared=$3 py=$4
model=/usr/share/dlib/shape_predictor_68_face_landmarks.dat
[ -r "$model" ] || { echo "missing $model: install libdlib-data (scripts/setup)"; exit 1; }
tmp=$(mktemp -d /tmp/dfer-predict-edges-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# ---- a tiny run ----------------------------------------------------------------------------------------
# shellcheck source=tests/lib/predict_fixture.sh
source "$src/tests/lib/predict_fixture.sh"
data=$tmp/data
predict_fixture "$data" 12 50 75
predict_common "$data"
"$dfer" train --config "$src/configs/synth/finecliper.ini" "${common[@]}" --out "$tmp/fc" >/dev/null
video=$data/clips/00001.mp4

# ---- predict against eval ----------------------------------------------------------------------------------
# the same frames give the same probabilities: a test clip's face frames as a frame folder, one window over the
# whole clip (the run's data.frames segment centres, as eval samples) and --crop-scale 100 (the crop is the whole
# square face frame, as eval feeds it) against training's last evaluation (predictions.csv, 6 decimals)
"$py" - "$dfer" "$tmp/fc" "$data/data/faces" <<'PY' || fail "predict against eval's probabilities"
import csv, json, subprocess, sys
dfer, run, faces = sys.argv[1:]
row = next(csv.DictReader(open(run + "/predictions.csv")))
out = subprocess.run([dfer, "predict", "--quiet", "--checkpoint", run, "--video", faces + "/" + row["clip"], "--json",
                      "--window-s", "1000", "--crop-scale", "100"], check=True, capture_output=True, text=True).stdout
d = json.loads(out)
assert len(d["windows"]) == 1 and d["face_frames"] == d["frames"], (len(d["windows"]), d["face_frames"], d["frames"])
worst = max(abs(d["clip"]["probs"][c] - float(row[c])) for c in d["classes"])
assert worst < 2e-6, f"clip {row['clip']}: predict and eval differ by up to {worst:.2e}"
print(f"predict against eval: clip {row['clip']}, probabilities within {worst:.1e}")
PY

# ---- an audio file with cover art --------------------------------------------------------------------------
ffmpeg -v error -i "$video" -frames:v 1 "$tmp/cover.jpg"
ffmpeg -v error -f lavfi -i sine=duration=3 -i "$tmp/cover.jpg" -map 0 -map 1 -c:a libmp3lame -c:v copy \
  -disposition:v attached_pic "$tmp/song.mp3"
rc=0; "$dfer" predict --quiet --checkpoint "$tmp/fc" --video "$tmp/song.mp3" --json >"$tmp/song.json" \
  2>"$tmp/song.err" || rc=$?
[ "$rc" = 1 ] && grep -qF "$tmp/song.mp3: no video stream" "$tmp/song.err" \
  || { cat "$tmp/song.err"; fail "an mp3 with cover art: exit $rc, expected 1 naming the file (no video stream)"; }
echo "cover art: exit 1: $(head -n 1 "$tmp/song.err")"

# ---- --annotate after the last window --------------------------------------------------------------------
# the label box (top-left) of frame N of the annotated copy against the input's frame N: mean absolute
# difference of the grey levels (the codec alone differs by a level or two; a label by tens)
label_diff() {
  local n=$1
  for f in "$video" "$tmp/gap.mp4"; do
    ffmpeg -v error -i "$f" -vf "select=eq(n\,$n),crop=48:32:8:6" -frames:v 1 -f rawvideo -pix_fmt gray - \
      >"$tmp/$(basename "$f").gray"
  done
  "$py" -c "import sys; a, b = (open(p, 'rb').read() for p in sys.argv[1:]); assert len(a) == len(b) == 48 * 32
print(round(sum(abs(x - y) for x, y in zip(a, b)) / len(a), 1))" "$tmp/$(basename "$video").gray" "$tmp/gap.mp4.gray"
}
"$dfer" predict --quiet --checkpoint "$tmp/fc" --video "$video" --window-s 0.5 --stride-s 100 --json \
  --annotate "$tmp/gap.mp4" >"$tmp/gap.json" || fail "--annotate with a stride past the end"
[ "$("$py" -c "import json, sys; d = json.load(open(sys.argv[1])); w = d['windows']
print(len(w), w[0]['end_s'], d['duration'] > 1.5)" "$tmp/gap.json")" = "1 0.5 True" ] || fail "not one 0.5 s window"
inside=$(label_diff 5) after=$(label_diff 40) # 0.2 s: in the window; 1.6 s: after it
"$py" -c "import sys; i, a = map(float, sys.argv[1:]); sys.exit(0 if i > 20 and a < 5 else 1)" "$inside" "$after" \
  || fail "label box against the input: $inside at 0.2 s (in the window: expected > 20), $after at 1.6 s" \
          "(after it: expected < 5, no classes)"
echo "annotate after the last window: label box differs by $inside at 0.2 s (in the window), $after at 1.6 s (after it)"
# ---- --annotate of a high-speed video ----------------------------------------------------------------------
# 2500 fps (frames 0.4 ms apart): the annotated copy has every frame at the input's time (its declared rate was
# refused by the writer after the scan and the model: exit 1, the predictions lost)
ffmpeg -v error -i "$video" -vf "setpts='N*0.0004/TB'" -fps_mode passthrough -enc_time_base 1:100000 \
  -video_track_timescale 100000 -c:v libx264 -pix_fmt yuv420p "$tmp/fast.mp4"
"$dfer" predict --quiet --checkpoint "$tmp/fc" --video "$tmp/fast.mp4" --json --annotate "$tmp/fast_annotated.mp4" \
  >"$tmp/fast.json" || fail "--annotate of a 2500 fps video: exit $?"
PYTHONPATH="$src/tests/lib" "$py" - "$tmp/fast.mp4" "$tmp/fast_annotated.mp4" <<'PY' \
  || fail "--annotate at 2500 fps: frames or times differ"
import sys
from frame_times import pts
a, b = pts(sys.argv[1]), pts(sys.argv[2])
assert len(a) == len(b) and len(a) > 40, (len(a), len(b))
worst = max(abs(x - y) for x, y in zip(a, b))
assert worst < 1e-4, worst
print(f"annotate at 2500 fps: {len(b)} frames at the input's times (within {worst * 1e3:.3f} ms)")
PY
# ---- --annotate that cannot be written ----------------------------------------------------------------------
# a file size limit (20 KiB; SIGXFSZ ignored: writes fail with EFBIG) stops the annotated copy at its end, after
# the scan and the model: exit 1 naming it, but the predictions are out (they were lost with it) and no file is left
rc=0; (trap '' XFSZ; ulimit -f 20; "$dfer" predict --quiet --checkpoint "$tmp/fc" --video "$video" --json \
  --annotate "$tmp/limited.mp4" >"$tmp/limited.json" 2>"$tmp/limited.err") || rc=$?
[ "$rc" = 1 ] && grep -qF "$tmp/limited.mp4" "$tmp/limited.err" \
  || { cat "$tmp/limited.err"; fail "--annotate over the size limit: exit $rc"; }
"$py" -c "import json, sys; d = json.load(open(sys.argv[1])); assert d['windows'] and d['clip']['face']" \
  "$tmp/limited.json" || fail "--annotate that cannot be written: the predictions were lost"
ls "$tmp" | grep -q "limited.mp4" && fail "--annotate that cannot be written left $(ls "$tmp" | grep limited.mp4)"
echo "--annotate that cannot be written: exit 1 ($(head -n 1 "$tmp/limited.err")), the predictions given out"

# ---- times on a player's clock ---------------------------------------------------------------------------------
# the windows count from the first decoded frame, a player's clock from the container's start time: an MP4 whose
# video starts 0.5 s after its audio (-itsoffset: an edit list's empty edit), the same remuxed to MPEG-TS (its clock
# starts at 1.4 s; the AAC priming puts the audio 23 ms before the video's 0.5 s) and the clip alone as MPEG-TS
# (clock and video both start at ~1.48 s). start_offset_s is ffprobe's first frame time minus the container's
# start_time (within a frame; they were not given), container_start_s that start_time; the windows (start_s, end_s,
# frames, probabilities) are the clip's own, and player_start_s / player_end_s (JSON and CSV) theirs plus the offset
ffmpeg -v error -itsoffset 0.5 -i "$video" -f lavfi -i sine=duration=4 -map 0:v -map 1:a -c:v copy -c:a aac \
  "$tmp/late.mp4"
ffmpeg -v error -i "$tmp/late.mp4" -map 0 -c copy "$tmp/late.ts"
ffmpeg -v error -i "$video" -map 0:v -c copy "$tmp/plain.ts"
for f in "$video" "$tmp/late.mp4" "$tmp/late.ts" "$tmp/plain.ts"; do
  "$dfer" predict --quiet --checkpoint "$tmp/fc" --video "$f" --json >"$f.json" || fail "predict $f: exit $?"
done
"$dfer" predict --quiet --checkpoint "$tmp/fc" --video "$tmp/late.ts" --csv >"$tmp/late.ts.csv" || fail "--csv of a TS"
"$dfer" predict --quiet --checkpoint "$tmp/fc" --video "$tmp/late.mp4" >"$tmp/late.mp4.txt" || fail "table of late.mp4"
grep -qF "its first frame is at 0.500 s on a player's clock" "$tmp/late.mp4.txt" \
  || { cat "$tmp/late.mp4.txt"; fail "the table does not give late.mp4's first frame at 0.500 s"; }
PYTHONPATH="$src/tests/lib" "$py" - "$video" "$tmp" <<'PY' || fail "times on a player's clock"
import csv, json, sys
from frame_times import start
video, tmp = sys.argv[1:]
base = json.load(open(video + ".json"))
# expected offset by construction (0.5 s late; the TS's AAC priming is within a frame), and ffprobe's container start
cases = [(video, 0.0, 0.0), (tmp + "/late.mp4", 0.5, 0.0), (tmp + "/late.ts", 0.5, 1.4), (tmp + "/plain.ts", 0.0, None)]
for path, made, made_start in cases:
    d = json.load(open(path + ".json"))
    first, container = start(path)
    frame = 1 / d["nominal_fps"]
    probe = first - container
    off = d["start_offset_s"]
    assert abs(off - probe) < frame, f"{path}: start_offset_s {off}, ffprobe {first} - {container} = {probe}"
    assert abs(off - made) < frame, f"{path}: start_offset_s {off}, made {made} s late"
    assert abs(d["container_start_s"] - container) < 2e-6, f"{path}: container_start_s {d['container_start_s']}"
    assert made_start is None or abs(container - made_start) < frame, f"{path}: ffprobe's start_time {container}"
    assert len(d["windows"]) == len(base["windows"]), (path, len(d["windows"]), len(base["windows"]))
    for w, b in zip(d["windows"], base["windows"]):
        assert w["start_s"] == b["start_s"] and abs(w["end_s"] - b["end_s"]) < 1e-6 and w["frames"] == b["frames"], \
            f"{path}: window {w['start_s']}-{w['end_s']} ({w['frames']} frames), the clip's {b}"
        assert w["face"] == b["face"] and all(abs(w["probs"][c] - b["probs"][c]) < 1e-6 for c in b.get("probs", {}))
        assert abs(w["player_start_s"] - (w["start_s"] + off)) < 1e-9 and \
            abs(w["player_end_s"] - (w["end_s"] + off)) < 1e-9, f"{path}: player times {w}"
    print(f"{path.split('/')[-1]}: first frame at {off:.6f} s on a player's clock (ffprobe {probe:.6f}), "
          f"container start {d['container_start_s']:.6f} s")
d = json.load(open(tmp + "/late.ts.json"))
rows = list(csv.DictReader(open(tmp + "/late.ts.csv")))
assert len(rows) == len(d["windows"]) and all(
    abs(float(r["player_start_s"]) - w["player_start_s"]) < 1e-6 and
    abs(float(r["player_end_s"]) - w["player_end_s"]) < 1e-6 and
    abs(float(r["start_s"]) - w["start_s"]) < 1e-6 for r, w in zip(rows, d["windows"])), "CSV player times"
PY

# ---- the face scan's memory with many detector threads ------------------------------------------------------
# a 4K copy of the clip (51 frames of 24 MB) scanned with 16 detector threads: the decoded frames held at once
# are bounded (4 per thread, all 51 of them, took the peak from 0.9 to 1.8 GB); peak resident memory
# from getrusage, the same JSON as with one thread
ffmpeg -v error -i "$video" -vf scale=3840:2160 -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$tmp/4k.mp4"
"$py" - "$dfer" "$tmp/fc" "$tmp/4k.mp4" <<'PY' || fail "the face scan of a 4K video with 16 detector threads"
import resource, subprocess, sys
dfer, run, video = sys.argv[1:]
def predict(threads):
    return subprocess.run([dfer, "predict", "--quiet", "--checkpoint", run, "--video", video, "--json", "--upsample",
                           "0", "--detect-threads", str(threads)], check=True, capture_output=True, text=True).stdout
many = predict(16)
peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
assert predict(1) == many, "16 detector threads changed the predictions"
assert peak_mib < 1300, f"peak resident memory {peak_mib:.0f} MiB with 16 detector threads (expected < 1300)"
print(f"4K video, 16 detector threads: peak {peak_mib:.0f} MiB, the same JSON as with one thread")
PY
echo "predict_edges: all checks passed"
