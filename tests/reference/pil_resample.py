#!/usr/bin/env python3
"""Writes test images and Pillow's resized outputs (PNG, lossless) for the
byte-exact resampling test: for each case, in_N.png and the expected
out_N.png, plus cases.txt listing 'N filter out_w out_h' (filter 0 bilinear,
1 bicubic). Inputs are noise plus gradients at odd sizes, up- and downscaling.
usage: pil_resample.py OUTDIR"""
import sys

import numpy as np
from PIL import Image

out = sys.argv[1]
rng = np.random.default_rng(7)
cases = [((225, 301), (224, 224)), ((301, 225), (298, 224)), ((40, 30), (97, 61)), ((500, 500), (224, 224)),
         ((37, 45), (224, 272)), ((224, 224), (112, 112)), ((17, 3), (5, 40))]
lines = []
for i, ((w, h), (ow, oh)) in enumerate(cases):
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], -1)
    img = Image.fromarray(np.clip(base + rng.normal(0, 50, (h, w, 3)), 0, 255).astype(np.uint8))
    img.save(f"{out}/in_{i}.png")
    for f, pil in ((0, Image.BILINEAR), (1, Image.BICUBIC)):
        img.resize((ow, oh), pil).save(f"{out}/out_{i}_{f}.png")
        lines.append(f"{i} {f} {ow} {oh}")
open(f"{out}/cases.txt", "w").write("\n".join(lines) + "\n")
