#!/usr/bin/env python3
"""Reference outputs of Pillow 9.4 for dfer's resampling and CLIP preprocessing.

usage: pil_resample.py OUTDIR

Inputs are noise plus gradients (deterministic seed) at odd sizes, saved as
PNG so decoding is lossless. Writes:
  in_N.png, out_N_F.png and cases.txt ('N F out_w out_h', F 0 bilinear,
  1 bicubic): plain resizes (read by tests/tools/resample_check.c);
  extra.txt, one reference per line (read by tests/unit/test_resample.c):
    resize N FILTER OUT_W OUT_H FILE          Pillow resize, FILTER nearest|bilinear|bicubic
    box N FILTER X0 Y0 X1 Y1 OUT_W OUT_H FILE resize(size, FILTER, box=(X0, Y0, X1, Y1))
    clip N N_PX FILE                          clip.py _transform(N_PX) as float32 CHW, raw little-endian
"""
import sys

import numpy as np
from PIL import Image

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def clip_transform(img, n_px):
    """clip/clip.py _transform(n_px) without torchvision: Resize(n_px, BICUBIC)
    with torchvision's size rule, CenterCrop with its rounding, ToTensor, Normalize."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = n_px, int(n_px * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    img = img.resize((new_w, new_h), Image.BICUBIC)
    top, left = int(round((new_h - n_px) / 2.0)), int(round((new_w - n_px) / 2.0))
    x = np.asarray(img, dtype=np.uint8)[top:top + n_px, left:left + n_px]
    x = x.astype(np.float32) / np.float32(255)  # ToTensor: float32 division
    x = (x - CLIP_MEAN) / CLIP_STD  # Normalize: sub_(mean).div_(std) in float32
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype="<f4")


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(7)
    # (input w, h), (output w, h): up- and downscaling, odd sizes, one axis only
    cases = [((225, 301), (224, 224)), ((301, 225), (298, 224)), ((40, 30), (97, 61)), ((500, 500), (224, 224)),
             ((37, 45), (224, 272)), ((224, 224), (112, 112)), ((17, 3), (5, 40)), ((301, 225), (299, 224)),
             ((256, 256), (224, 224)), ((160, 120), (224, 120))]
    lines, extra = [], []
    for i, ((w, h), (ow, oh)) in enumerate(cases):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], -1)
        img = Image.fromarray(np.clip(base + rng.normal(0, 50, (h, w, 3)), 0, 255).astype(np.uint8))
        img.save(f"{out}/in_{i}.png")
        for f, pil in ((0, Image.BILINEAR), (1, Image.BICUBIC)):
            img.resize((ow, oh), pil).save(f"{out}/out_{i}_{f}.png")
            lines.append(f"{i} {f} {ow} {oh}")
        for name, pil in FILTERS.items():
            fname = f"resize_{i}_{name}.png"
            img.resize((ow, oh), pil).save(f"{out}/{fname}")
            extra.append(f"resize {i} {name} {ow} {oh} {fname}")
        # a box inside the image (fractional corners) and a crop-like integer box
        for b, box in enumerate(((w * 0.13, h * 0.21, w * 0.87, h * 0.9), (1, 1, w - 1, h))):
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            for name, pil in FILTERS.items():
                fname = f"box_{i}_{b}_{name}.png"
                img.resize((ow, oh), pil, box=box).save(f"{out}/{fname}")
                extra.append(f"box {i} {name} {box[0]!r} {box[1]!r} {box[2]!r} {box[3]!r} {ow} {oh} {fname}")
        for n_px in (224, 336) if min(w, h) >= 30 else ():
            fname = f"clip_{i}_{n_px}.f32"
            clip_transform(img, n_px).tofile(f"{out}/{fname}")
            extra.append(f"clip {i} {n_px} {fname}")
    open(f"{out}/cases.txt", "w").write("\n".join(lines) + "\n")
    open(f"{out}/extra.txt", "w").write("\n".join(extra) + "\n")


main()
