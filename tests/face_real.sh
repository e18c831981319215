#!/usr/bin/env bash
# dlib, `dfer prep` and the describer on a real face (every other face test uses synthetic ones):
#  - the photograph (scikit-image's astronaut.png, fetched by scripts/setup): one face found where
#    she is, its 68 landmarks in anatomical order;
#  - four 16-frame clips cut out of it by known affine maps (pan, zoom 80 -> 140 px, roll -20 to
#    +20 degrees, mirrored pan; tests/reference/real_face_clips.py): every frame detected, and the
#    landmarks follow the motion: NME against the still's landmarks carried by the maps (per clip,
#    mean and worst frame), mirrored points matched to their iBUG partners;
#  - a negative control: the mirrored clip against unswapped partners must be far off;
#  - the descriptions of these rigid motions name no facial movement and the right head motion
#    (left, right, a tilt, closer to the camera);
#  - `dfer predict` (its own face scan and crops) on an H.264 video of the four clips, with a tiny
#    run trained for two steps: a face in every frame and every window, probabilities that sum to 1.
# usage: face_real.sh DFER PYTHON TEST_MEDIA_DIR SHARED_DIR
set -euo pipefail
dfer=$1 py=$2 media=$3 shared=$4
here=$(cd "$(dirname "$0")" && pwd)
still=$media/astronaut.png
[ -r "$still" ] || { echo "FAIL: missing $still: run scripts/setup (as root) to fetch it"; exit 1; }
tmp=$(mktemp -d /tmp/dfer-face-real-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
json() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# ---- the still -----------------------------------------------------------------------------------
mkdir -p "$tmp/still"
cp "$still" "$tmp/still/001.png"
printf 'still 1 0\n' >"$tmp/still.txt"
"$dfer" prep --dataset list --root "$tmp/still.txt" --out "$tmp/ref" >"$tmp/ref.log" 2>&1 || { cat "$tmp/ref.log"; fail "prep of the still"; }
"$py" - "$tmp/ref/landmarks/still.txt" <<'PY' || fail "the still's face"
import sys
import numpy as np
row = [l.split() for l in open(sys.argv[1]) if not l.startswith("#")][0]
assert row[-1] == "det", f"no face detected in the photograph: {row[-1]}"
p = np.array([float(v) for v in row[:136]]).reshape(68, 2)
box = [float(v) for v in row[136:140]]
# her face spans about x 180-272, y 85-180 of the 512 x 512 photograph
cx, cy, side = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0]
assert abs(cx - 226) < 20 and abs(cy - 133) < 25 and 70 < side < 140, f"face box {box} is not on her face"
y = lambda idx: p[idx, 1].mean()
x = lambda idx: p[idx, 0].mean()
eyes, brows, nose_tip, mouth, chin = range(36, 48), range(17, 27), [30], range(48, 68), [8]
assert y(brows) < y(eyes) < y(nose_tip) < y(mouth) < y(chin), "landmarks not in brow-eye-nose-mouth-chin order"
assert x(range(36, 42)) < x(nose_tip) < x(range(42, 48)), "the eyes are not on either side of the nose"
assert p[48, 0] < p[51, 0] < p[54, 0] and p[0, 0] < p[8, 0] < p[16, 0], "mouth or jaw out of order"
iod = np.hypot(*(p[45] - p[36]))
assert 40 < iod < 90, f"inter-ocular distance {iod:.1f} px"
print(f"still: face box {[round(v) for v in box]}, IOD {iod:.1f} px, landmarks in anatomical order")
PY

# ---- clips under known motion ----------------------------------------------------------------------
"$py" "$here/reference/real_face_clips.py" "$still" "$tmp/ref/landmarks/still.txt" "$tmp/clips" || fail "clip generation"
"$dfer" prep --dataset list --root "$tmp/clips/list.txt" --out "$tmp/prep" --ground-truth "$tmp/clips/truth" \
  >"$tmp/prep.log" 2>&1 || { cat "$tmp/prep.log"; fail "prep of the clips"; }
s=$tmp/prep/prep_summary.json
[ "$(json "$s" "(d['frames'], d['frames_detected'])")" = "(64, 64)" ] \
  || fail "not every frame detected: $(json "$s" "(d['frames'], d['frames_detected'])")"
nme=$(json "$s" "round(d['ground_truth']['nme_detected'], 4)")
"$py" -c "import sys; sys.exit(not float(sys.argv[1]) < 0.03)" "$nme" || fail "NME $nme over the 64 frames (bound 0.03)"
"$py" - "$tmp/prep/landmarks" "$tmp/clips/truth" <<'PY' || fail "per-clip NME"
import sys
import numpy as np
def read(path):
    return np.array([[float(v) for v in l.split()[:136]] for l in open(path) if not l.startswith("#")]).reshape(-1, 68, 2)
for clip in ("pan", "zoom", "rotate", "flip"):
    got, want = read(f"{sys.argv[1]}/{clip}.txt"), read(f"{sys.argv[2]}/{clip}.txt")
    iod = np.linalg.norm(want[:, 45] - want[:, 36], axis=1)
    nme = np.linalg.norm(got - want, axis=2).mean(axis=1) / iod
    print(f"{clip:6s} NME mean {nme.mean():.4f}, worst frame {nme.max():.4f} (IOD {iod.min():.0f}-{iod.max():.0f} px)")
    assert nme.max() < 0.04, f"{clip}: a frame's landmarks are off by {nme.max():.4f} IOD (bound 0.04)"
PY
echo "prep: 64/64 frames detected, NME $nme against the carried landmarks"

# the negative control: mirrored points compared with themselves instead of their partners
mkdir -p "$tmp/unswapped"
"$py" - "$tmp/clips/truth/flip.txt" "$tmp/unswapped/flip.txt" "$here/reference" <<'PY'
import sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from real_face_clips import mirror_index
rows = [l for l in open(sys.argv[1]) if not l.startswith("#")]
with open(sys.argv[2], "w") as f:
    for l in rows:
        p = np.array([float(v) for v in l.split()]).reshape(68, 2)[mirror_index()]
        f.write(" ".join("%.3f" % v for v in p.ravel()) + "\n")
PY
printf 'flip 16 0\n' >"$tmp/clips/flip_only.txt"
"$dfer" prep --dataset list --root "$tmp/clips/flip_only.txt" --out "$tmp/control" --ground-truth "$tmp/unswapped" \
  >"$tmp/control.log" 2>&1 || { cat "$tmp/control.log"; fail "control run"; }
bad=$(json "$tmp/control/prep_summary.json" "round(d['ground_truth']['nme_detected'], 4)")
"$py" -c "import sys; sys.exit(not float(sys.argv[1]) > 0.3)" "$bad" || fail "unswapped mirror points gave NME $bad (want > 0.3)"
echo "control: the mirrored clip against unswapped partners: NME $bad"

# ---- descriptions of rigid motion --------------------------------------------------------------------
"$py" - "$tmp/prep/descriptions.jsonl" <<'PY' || fail "descriptions"
import json, sys
texts = {r["clip"]: r["text"] for r in map(json.loads, open(sys.argv[1]))}
head = {"pan": "moves towards the left of the frame", "flip": "moves towards the right of the frame",
        "rotate": "tilts to one side", "zoom": "moves closer to the camera"}
for clip, motion in head.items():
    t = texts[clip]
    assert "no clear facial movement" in t, f"{clip}: a still face described as moving: {t}"
    assert motion in t, f"{clip}: want the head that {motion}: {t}"
    print(f"{clip}: {t}")
PY
echo "descriptions: no facial movement in any clip, the head's motion named"

# ---- dfer predict on a video of the real face --------------------------------------------------------
# the four clips one after another, 16 fps (4 s), H.264 as most videos users bring
mkdir -p "$tmp/video"
k=0
for clip in pan zoom rotate flip; do
  for f in "$tmp/clips/$clip"/*.jpg; do k=$((k + 1)); cp "$f" "$tmp/video/$(printf %04d $k).jpg"; done
done
ffmpeg -v error -framerate 16 -i "$tmp/video/%04d.jpg" -c:v libx264 -pix_fmt yuv420p "$tmp/face.mp4"

# ---- dfer prep on videos: one decoding pass in chunks of 32 frames -----------------------------------
# the same 64 frames as lossless RGB: a PNG folder, a PNG-coded Matroska video of all of them (two
# whole chunks: the pass must stop at the end that follows them) and of the first 50 (a partial last
# chunk). The videos' tracks must equal the folder's line for line (the tracker is causal), and their
# frame counts what FFmpeg counts.
mkdir -p "$tmp/lossless/folder"
ffmpeg -v error -i "$tmp/video/%04d.jpg" -pix_fmt rgb24 "$tmp/lossless/folder/%04d.png"
ffmpeg -v error -framerate 16 -i "$tmp/lossless/folder/%04d.png" -c:v png "$tmp/lossless/all.mkv"
ffmpeg -v error -framerate 16 -i "$tmp/lossless/folder/%04d.png" -frames:v 50 -c:v png "$tmp/lossless/first50.mkv"
printf '%s 64 1\n' "$tmp/lossless/folder" "$tmp/lossless/all.mkv" >"$tmp/lossless/list.txt"
printf '%s 50 1\n' "$tmp/lossless/first50.mkv" >>"$tmp/lossless/list.txt"
"$dfer" prep --dataset list --root "$tmp/lossless/list.txt" --out "$tmp/lossless/prep" >"$tmp/lossless/prep.log" 2>&1 \
  || { cat "$tmp/lossless/prep.log"; fail "prep of the lossless folder and videos"; }
"$py" - "$tmp/lossless/prep/landmarks" <<'PY' || fail "the videos' tracks differ from the folder's"
import sys
rows = lambda name: [l for l in open(f"{sys.argv[1]}/{name}.txt") if not l.startswith("#")]
folder, video, first50 = rows("folder"), rows("all.mkv"), rows("first50.mkv")
assert len(folder) == 64 and len(video) == 64 and len(first50) == 50, (len(folder), len(video), len(first50))
assert all(r.split()[-1] == "det" for r in folder), "a frame of the folder without a detected face"
assert video == folder, [k for k in range(64) if video[k] != folder[k]][:5]
assert first50 == folder[:50], [k for k in range(50) if first50[k] != folder[k]][:5]
print("prep on videos: 64 and 50 frames in chunks of 32, tracks equal to the PNG folder's")
PY
# a run to predict with: the tiny CLIP, two steps on synthetic MAFW-layout clips (what it predicts is
# not the point here; the face scan and crops in front of it are)
# shellcheck source=tests/lib/predict_fixture.sh
source "$here/lib/predict_fixture.sh"
predict_fixture "$tmp/synth" 8 20 24
predict_common "$tmp/synth"
"$dfer" train --config "$here/../configs/synth/finecliper.ini" "${common[@]}" --out "$tmp/run" >"$tmp/train.log" 2>&1 \
  || { cat "$tmp/train.log"; fail "training the run to predict with"; }
"$dfer" predict --quiet --checkpoint "$tmp/run" --video "$tmp/face.mp4" --window-s 1 --stride-s 1 --json \
  >"$tmp/predict.json" 2>"$tmp/predict.log" || { cat "$tmp/predict.log"; fail "dfer predict"; }
"$py" - "$tmp/predict.json" <<'PY' || fail "predict on the real face"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["frames"] == 64, f"{d['frames']} frames decoded, 64 written"
assert d["face_frames"] == d["frames"], f"a face in {d['face_frames']} of {d['frames']} frames"
ws = d["windows"]
assert len(ws) >= 4 and all(w["face"] and w["face_frames"] == w["frames"] for w in ws), \
    [(w["start_s"], w["face_frames"], w["frames"]) for w in ws]
for w in ws:
    assert abs(sum(w["probs"][c] for c in d["classes"]) - 1) < 1e-4, w["probs"]
assert d["clip"]["face"] and d["clip"]["windows_with_face"] == len(ws)
print(f"predict: {d['frames']} frames, a face in every one, {len(ws)} windows with probabilities")
PY
