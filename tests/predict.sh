#!/usr/bin/env bash
# dfer predict on synthetic MAFW-layout videos (160 px faces dlib finds) with four tiny runs trained for
# a few steps (FineCLIPER low, low+mid+high and mid alone, DFER-CLIP); the outputs are checked, not only
# the exit codes:
#  - ground truth: the JSON parses; the windows start every --stride-s seconds, end at start + window
#    (the last at the duration) and cover the video; each window's frame count is what the frames'
#    presentation times (ffprobe) give; probabilities sum to 1 and `top` is their argmax; the clip's
#    probabilities are the mean over the windows with a face; most frames have a face; the clip's top
#    class is one of the classes (whether it matches the label is printed, not asserted);
#  - no face (ffmpeg's testsrc): every window and the clip have "face": false, no probabilities, exit 0;
#  - rotation: a copy stored sideways with a display matrix (checked against ffmpeg's own autorotation)
#    is reported with that rotation and its upright size, and the face is found; the same pixels
#    without the matrix are not;
#  - 1- and 3-frame videos: one window over the whole video; variable frame rate: window frame counts
#    follow the presentation times;
#  - a frame folder (the dataset's face frames of clip 1) at --fps: the video's frames and windows, about its
#    faces and its clip probabilities; an empty folder, --fps 0 and --fps 1e-300 (too many windows) refused;
#  - --csv has one row per window; --annotate decodes (ffprobe) to the upright size and frame count, and keeps
#    each frame's time (a variable-frame-rate and a 12.5 fps input), and a BT.709 video's true colours and tags
#    (the ffmpeg CLI's decodings of the copy and the source within 4 levels for 3/4 of the pixels);
#  - a truncated mp4: what decodes is predicted, with a warning and "truncated" in the JSON; whole files
#    (also with a longer audio track, and a WebM) are not flagged;
#  - bad input: a missing video, a text file as video, a missing run directory, a run without
#    config.ini: exit 1 naming the path; usage errors exit 2; a copy onto a full disk names the reason.
# usage: predict.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$1 src=$2 shared=$3 py=$4
model=/usr/share/dlib/shape_predictor_68_face_landmarks.dat
[ -r "$model" ] || { echo "missing $model: install libdlib-data (scripts/setup)"; exit 1; }
tmp=$(mktemp -d /tmp/dfer-predict-XXXXXX)
trap 'umount "$tmp/full" 2>/dev/null || true; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
start=$(date +%s)

# ---- data and three tiny runs ------------------------------------------------------------------------
# shellcheck source=tests/lib/predict_fixture.sh
source "$src/tests/lib/predict_fixture.sh"
data=$tmp/data
predict_fixture "$data" 12 50 75
"$dfer" prep --dataset mafw --root "$data" --threads 2 >/dev/null 2>&1        # landmarks: the middle level
"$dfer" describe --landmarks "$data/dfer_prep/landmarks" --out "$data/dfer_prep/descriptions.jsonl" >/dev/null 2>&1
predict_common "$data"
"$dfer" train --config "$src/configs/synth/finecliper.ini" "${common[@]}" --out "$tmp/fc" >/dev/null
"$dfer" train --config "$src/configs/synth/finecliper.ini" "${common[@]}" --set model.variant=low+mid+high \
  --out "$tmp/fcall" >/dev/null
"$dfer" train --config "$src/configs/synth/finecliper.ini" "${common[@]}" --set model.variant=mid --out "$tmp/fcmid" \
  >/dev/null
"$dfer" train --config "$src/configs/synth/dfer_clip.ini" "${common[@]}" --out "$tmp/dc" >/dev/null
echo "setup: 12 synthetic clips, 4 runs trained ($(( $(date +%s) - start )) s)"

# ---- the checker -------------------------------------------------------------------------------------
cat >"$tmp/check.py" <<'PY'
import json, math, subprocess, sys

from frame_times import pts  # tests/lib (PYTHONPATH)

def windows(d, video, window, stride):
    """checks the window layout, frame counts, probabilities and the clip; returns the face share"""
    ws, D, C = d["windows"], d["duration"], d["classes"]
    t = pts(video)
    assert d["frames"] == len(t), f"{d['frames']} frames, ffprobe decodes {len(t)}"
    whole = D <= window + 1e-9  # only a video shorter than a window gets one window over all of it
    n = 1 if whole else math.ceil((D - window) / stride - 1e-9) + 1
    while n > 1 and (n - 1) * stride >= D - 1e-9:  # a stride past the window: no window starts at the end
        n -= 1
    assert len(ws) == n, f"{len(ws)} windows for {D} s (window {window}, stride {stride}): expected {n}"
    for k, w in enumerate(ws):
        s = k * stride
        e = D if whole else min(s + window, D)
        assert abs(w["start_s"] - s) < 1e-6 and abs(w["end_s"] - e) < 1e-6, f"window {k}: {w['start_s']}-{w['end_s']}, expected {s}-{e}"
        last = k == n - 1 and e >= D - 1e-9
        frames = sum(1 for x in t if x >= s - 1e-6 and (last or x < e - 1e-6))
        assert w["frames"] == frames, f"window {k} ({s}-{e} s): {w['frames']} frames, the pts give {frames}"
        assert 0 <= w["face_frames"] <= w["frames"] and abs(w["face_share"] - w["face_frames"] / max(1, w["frames"])) < 1e-9
        assert w["face"] == (w["face_frames"] > 0), f"window {k}: face {w['face']} with {w['face_frames']} face frames"
        if w["face"]:
            p = w["probs"]
            assert sorted(p) == sorted(C) and abs(sum(p.values()) - 1) < 1e-6, f"window {k}: probabilities {p}"
            assert all(0 <= v <= 1 for v in p.values()) and w["top"] == max(p, key=p.get)
        else:
            assert "probs" not in w and "top" not in w
    # the windows reach the end unless a stride longer than the window leaves gaps
    assert (stride > window or abs(ws[-1]["end_s"] - D) < 1e-9) and ws[0]["start_s"] == 0
    with_face = [w for w in ws if w["face"]]
    clip = d["clip"]
    assert clip["windows_with_face"] == len(with_face) and clip["face"] == bool(with_face)
    if with_face:
        for c in C:
            mean = sum(w["probs"][c] for w in with_face) / len(with_face)
            assert abs(clip["probs"][c] - mean) < 1e-9, f"clip probability of {c}: {clip['probs'][c]} vs mean {mean}"
        assert clip["top"] in C and clip["top"] == max(clip["probs"], key=clip["probs"].get)
    else:
        assert "probs" not in clip and "top" not in clip
    return d["face_frames"] / d["frames"]

cmd, path = sys.argv[1], sys.argv[2]
if cmd == "field":                      # field FILE.json EXPR
    d = json.load(open(path)); print(eval(sys.argv[3]))
elif cmd == "windows":                  # windows FILE.json VIDEO WINDOW STRIDE
    d = json.load(open(path)); print(round(windows(d, sys.argv[3], float(sys.argv[4]), float(sys.argv[5])), 4))
elif cmd == "csv":                      # csv FILE.csv FILE.json: the rows are the JSON's windows
    import csv
    rows = list(csv.DictReader(open(path)))
    d = json.load(open(sys.argv[3]))
    assert len(rows) == len(d["windows"]), f"{len(rows)} CSV rows, {len(d['windows'])} windows"
    for r, w in zip(rows, d["windows"]):
        assert abs(float(r["start_s"]) - w["start_s"]) < 1e-6 and abs(float(r["end_s"]) - w["end_s"]) < 1e-6
        assert (r["face"] == "true") == w["face"]
        if w["face"]:
            assert r["top"] == w["top"] and abs(sum(float(r[c]) for c in d["classes"]) - 1) < 1e-4
    print(len(rows))
elif cmd == "times":                   # times A.mp4 B.mp4: B's frames at A's times (1 ms), and the same duration
    a, b = pts(path), pts(sys.argv[3])
    assert len(a) == len(b), f"{len(b)} frames, the input {len(a)}"
    worst = max(abs(x - y) for x, y in zip(a, b))
    assert worst < 1e-3, f"frame times differ by up to {worst:.4f} s"
    def duration(video):
        return float(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=duration",
                                     "-of", "csv=p=0", video], check=True, capture_output=True, text=True).stdout.strip())
    da, db = duration(path), duration(sys.argv[3])
    assert abs(da - db) < 2e-3, f"duration {db} s, the input {da} s"
    print(f"{len(b)} frames at the input's times (within {worst * 1000:.2f} ms), {db:.3f} s")
elif cmd == "same":                     # same A.png B.png: mean absolute difference of two equal-size images
    from PIL import Image
    import numpy as np
    a, b = (np.asarray(Image.open(p).convert("RGB"), dtype=float) for p in (path, sys.argv[3]))
    print(round(float(np.abs(a - b).mean()), 2) if a.shape == b.shape else 999)
PY
check() { PYTHONPATH="$src/tests/lib" "$py" "$tmp/check.py" "$@"; }
predict() { "$dfer" predict --quiet "$@"; }
frames_of() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of default=nw=1:nk=1 "$1" | head -n 1; }
size_of() { ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of default=nw=1:nk=1 "$1" | head -n 2 | paste -sd,; }

# ---- ground truth: synthetic clips -------------------------------------------------------------------
total=0 faces=0
for id in 00001 00002 00003 00004; do
  video=$data/clips/$id.mp4
  label=$("$py" -c "import json,sys; print([c['label_name'] for c in map(json.loads, open(sys.argv[1])) if c['id'] == sys.argv[2]][0])" \
    "$data/synth/clips.jsonl" "$id")
  predict --checkpoint "$tmp/fc" --video "$video" --window-s 1 --stride-s 0.5 --json >"$tmp/gt.json" \
    || fail "predict on $id"
  share=$(check windows "$tmp/gt.json" "$video" 1 0.5) || fail "clip $id: window checks"
  n=$(check field "$tmp/gt.json" "d['frames']") f=$(check field "$tmp/gt.json" "d['face_frames']")
  total=$((total + n)) faces=$((faces + f))
  top=$(check field "$tmp/gt.json" "d['clip'].get('top', 'none')")
  echo "clip $id ($label): $(check field "$tmp/gt.json" "len(d['windows'])") windows, a face in $f of $n frames; predicted $top ($([ "$top" = "$label" ] && echo match || echo no match))"
done
# a stride longer than the window: gaps between the windows, none starting at or past the end (one did, with no frames)
predict --checkpoint "$tmp/fc" --video "$video" --window-s 0.5 --stride-s 1.5 --json >"$tmp/gaps.json" || fail "predict with gaps"
check windows "$tmp/gaps.json" "$video" 0.5 1.5 >/dev/null || fail "stride 1.5 s, window 0.5 s: window checks"
# a stride past the end: one window of --window-s (it was the whole video)
predict --checkpoint "$tmp/fc" --video "$video" --window-s 0.5 --stride-s 100 --json >"$tmp/one.json" || fail "predict, stride past the end"
check windows "$tmp/one.json" "$video" 0.5 100 >/dev/null || fail "stride 100 s, window 0.5 s: window checks"
[ "$(check field "$tmp/one.json" "len(d['windows']), d['windows'][0]['end_s']")" = "(1, 0.5)" ] \
  || fail "stride past the end: not one window of 0.5 s"
[ $((2 * faces)) -gt "$total" ] || fail "a face in only $faces of $total frames"
echo "ground truth: a face in $faces of $total frames"
# the other runs: the middle and high levels (descriptions per window), the middle level alone (maps from the
# windows' landmarks, no frames), DFER-CLIP; default window and stride
video=$data/clips/00001.mp4
for run in fcall fcmid dc; do
  predict --checkpoint "$tmp/$run" --video "$video" --json >"$tmp/$run.json" || fail "predict with $run"
  check windows "$tmp/$run.json" "$video" 2 1 >/dev/null || fail "$run: window checks"
  echo "$run ($(check field "$tmp/$run.json" "(d['method'] + ' ' + d.get('variant', '')).strip()")): clip top $(check field "$tmp/$run.json" "d['clip'].get('top')")"
done
[ "$(check field "$tmp/fcall.json" "all(len(w['description'].split()) >= 5 for w in d['windows'] if w['face'])")" = True ] \
  || fail "the high level's windows lack descriptions"
[ "$(check field "$tmp/fcmid.json" "d['variant']")" = mid ] || fail "the middle level alone: variant not mid"
# the default table
predict --checkpoint "$tmp/fc" --video "$video" >"$tmp/table.txt" || fail "table output"
grep -q "^clip: " "$tmp/table.txt" && grep -q "^window (s)" "$tmp/table.txt" || { cat "$tmp/table.txt"; fail "table"; }

# ---- a frame folder ---------------------------------------------------------------------------------------
# clip 00001's face frames (JPEG, the dataset's data/faces folder) at its video's frame rate: the frames and
# windows of the video (times index / fps), faces in about as many frames, the clip's class probabilities
# close to the video's (two lossy codecs of one rendering); a folder without images, and --fps 0, refused
rate=$(ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate -of default=nw=1:nk=1 "$video")
fps=$("$py" -c "n, d = map(int, '$rate'.split('/')); print(n / d)")
predict --checkpoint "$tmp/fc" --video "$data/data/faces/00001" --fps "$fps" --json >"$tmp/folder.json" \
  || fail "predict on a frame folder"
predict --checkpoint "$tmp/fc" --video "$video" --json >"$tmp/video.json" || fail "predict on 00001"
"$py" - "$tmp/folder.json" "$tmp/video.json" "$fps" <<'PY' || fail "the frame folder against its video"
import json, sys
f, v = (json.load(open(p)) for p in sys.argv[1:3])
fps = float(sys.argv[3])
assert f["frame_folder"] is True and v["frame_folder"] is False
assert f["frames"] == v["frames"] and abs(f["duration"] - f["frames"] / fps) < 1e-6, (f["frames"], v["frames"], f["duration"])
assert [w["frames"] for w in f["windows"]] == [w["frames"] for w in v["windows"]]
assert abs(f["face_frames"] - v["face_frames"]) <= 0.1 * v["frames"], (f["face_frames"], v["face_frames"])
diff = max(abs(f["clip"]["probs"][c] - v["clip"]["probs"][c]) for c in f["classes"])
assert diff < 0.05, diff
print("frame folder: %d frames at %.3g fps, %d windows as the video's, a face in %d (video %d), clip probabilities within %.3f"
      % (f["frames"], fps, len(f["windows"]), f["face_frames"], v["face_frames"], diff))
PY
mkdir "$tmp/empty"
predict --checkpoint "$tmp/fc" --video "$tmp/empty" >/dev/null 2>"$tmp/empty.err" && fail "an empty folder was accepted"
grep -q "$tmp/empty: no frame images" "$tmp/empty.err" || { cat "$tmp/empty.err"; fail "an empty folder: unclear error"; }
rc=0; predict --checkpoint "$tmp/fc" --video "$data/data/faces/00001" --fps 0 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--fps 0: exit $rc, not 2"
# a frame rate so low that the windows cannot be counted (the count of 1e300 s of video overflowed int)
rc=0; predict --checkpoint "$tmp/fc" --video "$data/data/faces/00001" --fps 1e-300 >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "windows, more than 10000000" "$tmp/err" || { cat "$tmp/err"; fail "--fps 1e-300: exit $rc"; }

# ---- no face --------------------------------------------------------------------------------------------
ffmpeg -v error -f lavfi -i testsrc=size=160x120:rate=25 -t 3 -pix_fmt yuv420p "$tmp/noface.mp4"
predict --checkpoint "$tmp/fc" --video "$tmp/noface.mp4" --json >"$tmp/noface.json" || fail "no-face video: exit $?"
check windows "$tmp/noface.json" "$tmp/noface.mp4" 2 1 >/dev/null || fail "no-face video: window checks"
[ "$(check field "$tmp/noface.json" "not any(w['face'] for w in d['windows']) and d['clip']['face'] is False and d['face_frames'] == 0")" = True ] \
  || fail "no-face video: a face was reported"
predict --checkpoint "$tmp/fc" --video "$tmp/noface.mp4" >"$tmp/noface.txt" || fail "no-face table"
grep -q "no face found" "$tmp/noface.txt" || fail "the no-face table does not say so"
echo "no face: $(check field "$tmp/noface.json" "len(d['windows'])") windows, all \"face\": false, exit 0"
# a damaged model is an error even where no window has a face to run it on (it read as "no face found", exit 0);
# a model whose parameters hold NaN gives no prediction (exit 1, as dfer eval refuses it), not "happiness nan"
cp -r "$tmp/fc" "$tmp/fc-cut" && truncate -s 100 "$tmp/fc-cut/model.safetensors"
rc=0; predict --checkpoint "$tmp/fc-cut" --video "$tmp/noface.mp4" >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "fc-cut/model.safetensors" "$tmp/err" || { cat "$tmp/err"; fail "a cut model with no face: exit $rc"; }
cp -r "$tmp/fc" "$tmp/fc-nan"
"$py" - "$tmp/fc-nan/model.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
blob = open(path, "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header, data = json.loads(blob[8:8 + n]), bytearray(blob[8 + n:])
t = next(v for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
lo, hi = t["data_offsets"]
data[lo:hi] = struct.pack("<f", float("nan")) * ((hi - lo) // 4)
header.get("__metadata__", {}).pop("dfer_payload_murmur3", None)  # an edited file drops dfer's digest
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(path, "wb").write(struct.pack("<Q", len(text)) + text + bytes(data))
PY
rc=0; predict --checkpoint "$tmp/fc-nan" --video "$data/data/faces/00001" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "got non-finite logits" "$tmp/err" && ! grep -q "nan" "$tmp/out" \
  || { cat "$tmp/out" "$tmp/err"; fail "a model with NaN parameters: exit $rc"; }
echo "a cut model.safetensors and no face: exit 1 naming it; NaN parameters: exit 1, no prediction"

# ---- rotation ---------------------------------------------------------------------------------------------
# upright reference 200x160 (padded: not square), stored sideways (160x200) with a display matrix that
# turns it upright; which transpose the matrix undoes is checked against ffmpeg's own autorotation
ffmpeg -v error -i "$video" -vf pad=200:160:20:0:gray -c:v libx264 -pix_fmt yuv420p "$tmp/wide.mp4"
ffmpeg -v error -i "$tmp/wide.mp4" -frames:v 1 "$tmp/wide.png"
ok=""
for tr in clock cclock; do
  ffmpeg -v error -y -i "$tmp/wide.mp4" -vf transpose=$tr -c:v libx264 -pix_fmt yuv420p "$tmp/side.mp4"
  ffmpeg -v error -y -i "$tmp/side.mp4" -c copy -metadata:s:v rotate=90 "$tmp/rot.mp4"
  ffmpeg -v error -y -i "$tmp/rot.mp4" -frames:v 1 "$tmp/auto.png"   # ffmpeg applies the matrix
  if [ "$(check same "$tmp/auto.png" "$tmp/wide.png" | awk '{print ($1 < 12)}')" = 1 ]; then ok=$tr; break; fi
done
[ -n "$ok" ] || fail "could not make a rotated video that ffmpeg turns upright"
matrix=$(ffprobe -v error -select_streams v:0 -show_entries stream_side_data=rotation -of csv=p=0 "$tmp/rot.mp4" | head -n 1)
expect=$(( ((-matrix) % 360 + 360) % 360 ))
predict --checkpoint "$tmp/fc" --video "$tmp/rot.mp4" --json --annotate "$tmp/rot_annotated.mp4" >"$tmp/rot.json" \
  || fail "rotated video"
check windows "$tmp/rot.json" "$tmp/rot.mp4" 2 1 >/dev/null || fail "rotated video: window checks"
[ "$(check field "$tmp/rot.json" "(d['rotation'], d['width'], d['height'])")" = "($expect, 200, 160)" ] \
  || fail "rotated video: $(check field "$tmp/rot.json" "(d['rotation'], d['width'], d['height'])"), expected ($expect, 200, 160)"
rot_share=$(check field "$tmp/rot.json" "d['face_frames'] / d['frames']")
predict --checkpoint "$tmp/fc" --video "$tmp/side.mp4" --json >"$tmp/side.json" || fail "sideways video"
side_share=$(check field "$tmp/side.json" "d['face_frames'] / d['frames']")
"$py" -c "import sys; a, b = map(float, sys.argv[1:]); sys.exit(0 if a >= 0.5 and b < a / 2 else 1)" "$rot_share" "$side_share" \
  || fail "face share: $rot_share with the rotation applied, $side_share sideways without it"
echo "rotation: matrix $matrix (ffprobe) -> $expect clockwise, 200x160 upright; face share $rot_share, $side_share without the matrix"
# the annotated copy: upright size, every frame
[ "$(size_of "$tmp/rot_annotated.mp4")" = "200,160" ] || fail "annotated size $(size_of "$tmp/rot_annotated.mp4")"
[ "$(frames_of "$tmp/rot_annotated.mp4")" = "$(frames_of "$tmp/rot.mp4")" ] \
  || fail "annotated: $(frames_of "$tmp/rot_annotated.mp4") frames, the input $(frames_of "$tmp/rot.mp4")"
ls "$tmp" | grep -q "dfer-tmp" && fail "a temporary file of --annotate was left"
echo "annotate: 200x160, $(frames_of "$tmp/rot_annotated.mp4") frames as the input"

# ---- very short videos, variable frame rate, CSV -----------------------------------------------------
for n in 1 3; do
  ffmpeg -v error -i "$video" -frames:v $n -c:v libx264 -pix_fmt yuv420p "$tmp/short$n.mp4"
  predict --checkpoint "$tmp/fcall" --video "$tmp/short$n.mp4" --json >"$tmp/short$n.json" || fail "$n-frame video"
  check windows "$tmp/short$n.json" "$tmp/short$n.mp4" 2 1 >/dev/null || fail "$n-frame video: window checks"
  [ "$(check field "$tmp/short$n.json" "(len(d['windows']), d['windows'][0]['frames'])")" = "(1, $n)" ] || fail "$n-frame video"
  echo "$n-frame video: one window of $(check field "$tmp/short$n.json" "d['duration']") s, face $(check field "$tmp/short$n.json" "d['windows'][0]['face']")"
done
# 25 frames 0.1 s apart, then the rest 0.04 s apart
ffmpeg -v error -i "$video" -vf "setpts='if(lt(N,25),N*0.1,2.5+(N-25)*0.04)/TB'" -fps_mode passthrough \
  -enc_time_base 1:1000 -video_track_timescale 1000 -c:v libx264 -pix_fmt yuv420p "$tmp/vfr.mp4"
predict --checkpoint "$tmp/dc" --video "$tmp/vfr.mp4" --json >"$tmp/vfr.json" || fail "variable frame rate"
check windows "$tmp/vfr.json" "$tmp/vfr.mp4" 2 1 >/dev/null || fail "variable frame rate: windows do not follow the pts"
[ "$(check field "$tmp/vfr.json" "d['variable_frame_rate']")" = True ] || fail "variable frame rate not reported"
echo "variable frame rate: frames per window $(check field "$tmp/vfr.json" "[w['frames'] for w in d['windows']]") over $(check field "$tmp/vfr.json" "d['duration']") s"
# --annotate keeps each frame's time: variable frame rate, and a rate that is not a whole number (12.5 fps
# came out at 13 fps and 0.16 s short when frames were written at a constant whole rate)
predict --checkpoint "$tmp/dc" --video "$tmp/vfr.mp4" --annotate "$tmp/vfr_annotated.mp4" >/dev/null || fail "--annotate, variable frame rate"
r=$(check times "$tmp/vfr.mp4" "$tmp/vfr_annotated.mp4") || fail "--annotate, variable frame rate: $r"
echo "annotate, variable frame rate: $r"
ffmpeg -v error -i "$video" -vf fps=12.5 -c:v libx264 -pix_fmt yuv420p "$tmp/fps12.5.mp4"
predict --checkpoint "$tmp/dc" --video "$tmp/fps12.5.mp4" --annotate "$tmp/fps12.5_annotated.mp4" >/dev/null || fail "--annotate, 12.5 fps"
r=$(check times "$tmp/fps12.5.mp4" "$tmp/fps12.5_annotated.mp4") || fail "--annotate, 12.5 fps: $r"
echo "annotate, 12.5 fps: $r"
# --annotate shows the true colours: the model sees every video through BT.601's matrix (av_frames.c), the copy is
# decoded and encoded with the matrix the source's tag names and carries its tags, so a player (here the ffmpeg
# CLI) shows it as it shows the source. A colourful BT.709 video (no face: only a small text box is drawn): the
# copy through BT.601 and untagged was 15 levels off at the 75th percentile, through BT.601 and tagged BT.709 again
# 15 (saturated colours clip in RGB on the way); now 2
ffmpeg -v error -f lavfi -i testsrc2=size=320x240:rate=25 -t 1 -vf scale=out_color_matrix=bt709 -colorspace bt709 \
  -color_primaries bt709 -color_trc bt709 -c:v libx264 -pix_fmt yuv420p "$tmp/bt709.mp4"
predict --checkpoint "$tmp/dc" --video "$tmp/bt709.mp4" --annotate "$tmp/bt709_annotated.mp4" >/dev/null \
  || fail "--annotate, a BT.709 video"
tags=$(ffprobe -v error -select_streams v:0 -show_entries stream=color_range,color_space,color_transfer,color_primaries \
  -of csv=p=0 "$tmp/bt709_annotated.mp4")
[ "$tags" = "tv,bt709,bt709,bt709" ] || fail "--annotate of a BT.709 video: its copy is tagged $tags"
r=$("$py" "$src/tests/lib/colour_match.py" "$tmp/bt709.mp4" "$tmp/bt709_annotated.mp4" 4) \
  || fail "--annotate of a BT.709 video: the copy's colours: $r"
echo "annotate, BT.709: tagged $tags, $r"
predict --checkpoint "$tmp/dc" --video "$tmp/vfr.mp4" --csv >"$tmp/vfr.csv" || fail "--csv"
rows=$(check csv "$tmp/vfr.csv" "$tmp/vfr.json") || fail "--csv rows"
echo "csv: $rows rows, one per window"
predict --checkpoint "$tmp/fc" --video "$tmp/noface.mp4" --csv >"$tmp/noface.csv" && check csv "$tmp/noface.csv" "$tmp/noface.json" >/dev/null \
  || fail "--csv without faces"

# ---- a truncated file ------------------------------------------------------------------------------------
# the first half of a 3-second mp4 whose index is at its start (faststart: a copy or download cut short still
# opens): the frames that decode are predicted, with a warning (even with --quiet) and "truncated" in the JSON;
# so is a cut WebM (Matroska gives no per-stream duration: the file's, its only stream's); whole files, one
# with an audio track longer than its video, and a whole WebM, are not flagged
ffmpeg -v error -f lavfi -i testsrc=size=160x120:rate=25 -t 3 -pix_fmt yuv420p -movflags +faststart "$tmp/whole.mp4"
head -c $(( $(stat -c %s "$tmp/whole.mp4") / 2 )) "$tmp/whole.mp4" >"$tmp/cut.mp4"
predict --checkpoint "$tmp/fc" --video "$tmp/cut.mp4" --json >"$tmp/cut.json" 2>"$tmp/cut.err" || fail "truncated video: exit $?"
grep -q "warning: $tmp/cut.mp4: the container gives the video 3.00 s, 75 frames, but it decodes to" "$tmp/cut.err" \
  || { cat "$tmp/cut.err"; fail "no warning for a truncated video"; }
[ "$(check field "$tmp/cut.json" "(d['truncated'], d['declared_duration'], d['declared_frames'], d['frames'] < 75)")" = "(True, 3, 75, True)" ] \
  || fail "truncated video: $(check field "$tmp/cut.json" "(d['truncated'], d['declared_duration'], d['declared_frames'], d['frames'])")"
ffmpeg -v error -y -i "$tmp/whole.mp4" -f lavfi -i sine=duration=5 -map 0:v -map 1:a -c:v copy -c:a aac "$tmp/av.mp4"
ffmpeg -v error -i "$tmp/whole.mp4" -c:v libvpx-vp9 -b:v 200k "$tmp/whole.webm"
head -c $(( $(stat -c %s "$tmp/whole.webm") / 2 )) "$tmp/whole.webm" >"$tmp/cut.webm"
predict --checkpoint "$tmp/fc" --video "$tmp/cut.webm" --json >"$tmp/cutw.json" 2>"$tmp/cutw.err" || fail "truncated WebM: exit $?"
grep -q "warning: $tmp/cut.webm: the container gives the video 3.00 s, but it decodes to" "$tmp/cutw.err" \
  || { cat "$tmp/cutw.err"; fail "no warning for a truncated WebM"; }
[ "$(check field "$tmp/cutw.json" "(d['truncated'], d['declared_duration'], d['declared_frames'])")" = "(True, 3, None)" ] \
  || fail "truncated WebM: $(check field "$tmp/cutw.json" "(d['truncated'], d['declared_duration'], d['declared_frames'])")"
for f in whole.mp4 av.mp4 whole.webm; do
  predict --checkpoint "$tmp/fc" --video "$tmp/$f" --json >"$tmp/f.json" 2>"$tmp/f.err" || fail "$f: exit $?"
  [ "$(check field "$tmp/f.json" "d['truncated']")" = False ] && ! grep -q warning "$tmp/f.err" \
    || { cat "$tmp/f.err"; fail "$f: flagged as truncated"; }
done
echo "truncated video: $(check field "$tmp/cut.json" "d['frames']") of 75 frames decoded (a cut WebM: $(check field "$tmp/cutw.json" "d['frames']")), warned and flagged; whole mp4, mp4 with a longer audio track and WebM not flagged"

# ---- bad input ----------------------------------------------------------------------------------------
expect_fail() { # expect_fail NAME STATUS TEXT command...
  local name=$1 status=$2 text=$3 rc=0; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" = "$status" ] || { cat "$tmp/err"; fail "$name: exit $rc, expected $status"; }
  grep -qF -- "$text" "$tmp/err" || { cat "$tmp/err"; fail "$name: message lacks '$text'"; }
  echo "$name: exit $rc: $(head -n 1 "$tmp/err")"
}
printf 'not a video\n' >"$tmp/notes.txt"
mkdir -p "$tmp/norun"
expect_fail "missing video" 1 "$tmp/none.mp4" "$dfer" predict --checkpoint "$tmp/fc" --video "$tmp/none.mp4"
expect_fail "text file as video" 1 "$tmp/notes.txt" "$dfer" predict --checkpoint "$tmp/fc" --video "$tmp/notes.txt"
# a pipe cannot be read twice (it failed after the face scan, blaming the data)
expect_fail "a pipe as video" 1 "not a file or folder (a pipe or device?)" \
  bash -c "cat '$video' | '$dfer' predict --checkpoint '$tmp/fc' --video /dev/stdin"
expect_fail "missing run directory" 1 "$tmp/nosuch" "$dfer" predict --checkpoint "$tmp/nosuch" --video "$video"
expect_fail "run without config.ini" 1 "config.ini" "$dfer" predict --checkpoint "$tmp/norun" --video "$video"
expect_fail "no --video" 2 "--video" "$dfer" predict --checkpoint "$tmp/fc"
expect_fail "negative window" 2 "--window-s" "$dfer" predict --checkpoint "$tmp/fc" --video "$video" --window-s -1
expect_fail "a stride of 1e-12 s" 2 "--stride-s takes a number >= 0.01" "$dfer" predict --checkpoint "$tmp/fc" --video "$video" --stride-s 1e-12
expect_fail "a crop scale of 1e-50" 2 "--crop-scale" "$dfer" predict --checkpoint "$tmp/fc" --video "$video" --crop-scale 1e-50
cp "$video" "$tmp/self.mp4"
expect_fail "--annotate over the input" 2 "is the input video" "$dfer" predict --checkpoint "$tmp/fc" --video "$tmp/self.mp4" --annotate "$tmp/self.mp4"
cmp -s "$video" "$tmp/self.mp4" || fail "--annotate over the input changed it"
expect_fail "--annotate to a .webm" 2 "ending in .mp4" "$dfer" predict --checkpoint "$tmp/fc" --video "$video" --annotate "$tmp/a.webm"
# an --annotate folder that does not exist: said before the video is scanned (it was after the scan and the model,
# the predictions lost)
expect_fail "--annotate into a missing folder" 1 "--annotate: $tmp/nodir/out.mp4: cannot create temporary file" \
  "$dfer" predict --checkpoint "$tmp/fc" --video "$video" --annotate "$tmp/nodir/out.mp4"
grep -q "frames, .* s (" "$tmp/err" && { cat "$tmp/err"; fail "--annotate into a missing folder: refused only after the scan"; }
# a disk full when the copy's index is written (a 4 KiB tmpfs, where root may mount one; a copy under avio's 32 KiB
# buffer reaches the disk only then): the reason is named ("cannot finish the file" said none), no file is left
mkdir "$tmp/full"
if mount -t tmpfs -o size=4k dfer-predict-test "$tmp/full" 2>/dev/null; then
  ffmpeg -v error -f lavfi -i testsrc2=size=160x120:rate=25 -t 0.5 -c:v libx264 -pix_fmt yuv420p "$tmp/small.mp4"
  expect_fail "--annotate onto a full disk" 1 "cannot finish the file (its index): No space left on device" \
    "$dfer" predict --checkpoint "$tmp/dc" --video "$tmp/small.mp4" --annotate "$tmp/full/a.mp4"
  left=$(ls -A "$tmp/full")
  umount "$tmp/full"
  [ -z "$left" ] || fail "--annotate onto a full disk left $left"
else
  echo "SKIP (part): cannot mount a tmpfs (needs root with CAP_SYS_ADMIN): --annotate onto a full disk is not tested"
fi
# --annotate through a symbolic link writes its target (the link stays)
: >"$tmp/target.mp4" && ln -s "$tmp/target.mp4" "$tmp/link.mp4"
"$dfer" predict --checkpoint "$tmp/fc" --video "$video" --quiet --annotate "$tmp/link.mp4" >/dev/null || fail "--annotate through a link"
[ -L "$tmp/link.mp4" ] && [ "$(frames_of "$tmp/target.mp4")" = "$(frames_of "$video")" ] \
  || fail "--annotate through a link: the link was replaced, or its target not written"
echo "--annotate: a missing folder refused before the scan; through a link, the target written"
rc=0; "$dfer" predict --checkpoint "$tmp/fc" --video "$video" --quiet --json >&- 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "cannot write the results to standard output" "$tmp/err" \
  || { cat "$tmp/err"; fail "a closed standard output: exit $rc, expected 1 with a message"; }
echo "closed standard output: exit 1: $(head -n 1 "$tmp/err")"
echo "predict: all checks passed in $(( $(date +%s) - start )) s"
