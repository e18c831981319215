"""Clips of a real face under known motion, with the landmarks each frame must have.

usage: real_face_clips.py STILL REFERENCE_TRACK OUT

STILL is a photograph with one frontal face (the test takes scikit-image's
astronaut.png, NASA's public-domain portrait of Eileen Collins); REFERENCE_TRACK
is the face track `dfer prep` wrote for it (first line: 68 landmarks and the
face box, iBUG order). Each clip is 16 frames of 224 x 224 JPEG (quality 90, as
DFEW's frames are JPEG) cut out of the still by an affine map known exactly,
so the landmarks of every frame follow from the reference's:

  pan     a 200 px window sliding 60 px across and 30 px down the face
  zoom    a window shrinking from 260 px to 150 px around the face (the face
          from ~80 px, dlib's smallest, to ~140 px)
  rotate  the 200 px window turning from -20 to +20 degrees about the face
  flip    the pan, mirrored: left and right landmarks trade places (iBUG pairs)

Written to OUT: <clip>/NNN.jpg, list.txt (`--dataset list`: path frames label)
and truth/<clip>.txt (face-track format: 136 numbers per frame). Coordinates
are continuous with pixel edges at integers, as in face tracks and in Pillow's
affine transform (an output pixel's centre (j + 0.5) maps to the input point
the matrix gives, checked by the test's own gradient image below).
"""
import math
import os
import sys

import numpy as np
from PIL import Image

FRAMES, SIZE = 16, 224

# iBUG 68-point mirror pairs: the point a horizontal flip turns each point into.
MIRROR_PAIRS = ([(i, 16 - i) for i in range(8)] +                      # jaw
                [(17 + i, 26 - i) for i in range(5)] +                  # brows
                [(31, 35), (32, 34)] +                                  # nostrils
                [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)] +  # eyes
                [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)] +    # outer lips
                [(60, 64), (61, 63), (65, 67)])                         # inner lips


def mirror_index():
    m = list(range(68))
    for a, b in MIRROR_PAIRS:
        m[a], m[b] = b, a
    return m


def check_pillow_convention():
    """Pillow's AFFINE maps output pixel centres (j + 0.5): a 2x shrink of an
    image whose pixel i holds i + 0.5 must give 2j + 1 at output pixel j."""
    ramp = Image.fromarray(np.tile(np.arange(64, dtype=np.float32) + 0.5, (4, 1)), mode="F")
    out = np.asarray(ramp.transform((16, 4), Image.AFFINE, data=(2, 0, 0, 0, 1, 0), resample=Image.BILINEAR))
    want = 2 * np.arange(16) + 1
    if np.abs(out[0, 1:15] - want[1:15]).max() > 1e-4:
        sys.exit(f"Pillow's affine transform does not map pixel centres as assumed: {out[0, :6]}")


def read_reference(path):
    rows = [l.split() for l in open(path) if not l.startswith("#") and l.strip()]
    if not rows or len(rows[0]) < 136:
        sys.exit(f"{path}: no landmark line")
    xy = np.array([float(v) for v in rows[0][:136]]).reshape(68, 2)
    if len(rows[0]) > 140 and rows[0][140] != "det":
        sys.exit(f"{path}: the still's face was not detected ({rows[0][140]})")
    return xy


def window_map(centre, side, angle_deg):
    """The output -> input affine of a side x side window centred at `centre`,
    turned by angle_deg, scaled to SIZE x SIZE; and its input -> output inverse."""
    s = side / SIZE
    c, n = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    lin = s * np.array([[c, -n], [n, c]])          # input offset = lin @ (output - SIZE/2)
    off = np.asarray(centre, float) - lin @ np.array([SIZE / 2, SIZE / 2])
    inv = np.linalg.inv(lin)
    return (lin, off), (inv, -inv @ off)


def main():
    still_path, ref_path, out = sys.argv[1:4]
    check_pillow_convention()
    still = Image.open(still_path).convert("RGB")
    ref = read_reference(ref_path)
    face_centre = ref.mean(axis=0)
    os.makedirs(os.path.join(out, "truth"), exist_ok=True)
    t = np.linspace(0, 1, FRAMES)
    clips = {
        "pan": [(face_centre + [60 * (u - 0.5), 30 * (u - 0.5)], 200, 0) for u in t],
        "zoom": [(face_centre, 260 - 110 * u, 0) for u in t],
        "rotate": [(face_centre, 200, -20 + 40 * u) for u in t],
    }
    clips["flip"] = clips["pan"]
    mirror = mirror_index()
    lines = []
    for name, windows in clips.items():
        os.makedirs(os.path.join(out, name), exist_ok=True)
        truth = []
        for k, (centre, side, angle) in enumerate(windows):
            (lin, off), (inv, inv_off) = window_map(centre, side, angle)
            data = (lin[0, 0], lin[0, 1], off[0], lin[1, 0], lin[1, 1], off[1])
            frame = still.transform((SIZE, SIZE), Image.AFFINE, data=data, resample=Image.BICUBIC)
            pts = ref @ inv.T + inv_off
            if name == "flip":
                frame = frame.transpose(Image.FLIP_LEFT_RIGHT)
                pts = pts[mirror]
                pts[:, 0] = SIZE - pts[:, 0]
            frame.save(os.path.join(out, name, "%03d.jpg" % (k + 1)), quality=90)
            truth.append(" ".join("%.3f" % v for v in pts.ravel()))
        with open(os.path.join(out, "truth", name + ".txt"), "w") as f:
            f.write("# real_face_clips.py: the still's dlib landmarks carried by the clip's known affine maps\n")
            f.write("\n".join(truth) + "\n")
        lines.append(f"{name} {FRAMES} 0")  # label 0 (happiness): she smiles
    with open(os.path.join(out, "list.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"real_face_clips: {len(clips)} clips of {FRAMES} frames in {out}")


if __name__ == "__main__":
    main()
