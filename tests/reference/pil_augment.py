"""Replays augment_dump's draws with PIL the way DFER-CLIP's video_transform.py
applies them (ImageEnhance.Brightness, Image.rotate NEAREST, crop + BILINEAR
resize or the scale + random-crop fallback, FLIP_LEFT_RIGHT; test time: BILINEAR
resize to SIZE x SIZE) and checks that dfer's output is byte-identical.
usage: pil_augment.py DIR W H N SIZE"""
import sys

import numpy as np
from PIL import Image, ImageEnhance


def main():
    folder = sys.argv[1]
    w, h, n, size = map(int, sys.argv[2:6])
    image = Image.frombytes("RGB", (w, h), open(f"{folder}/in.rgb", "rb").read())
    ours = np.frombuffer(open(f"{folder}/out.rgb", "rb").read(), np.uint8).reshape(n, size, size, 3)
    counts = {"brightness": 0, "rotation": 0, "fallback": 0, "flip": 0, "test": 0}
    failures = 0
    for k, line in enumerate(open(f"{folder}/draws.txt")):
        f = line.split()
        train, x, y, cw, ch, fallback, sw, sh, flip = map(int, f[:9])
        # torchvision draws the brightness factor and the angle as float32
        brightness, angle = float(np.float32(f[9])), float(np.float32(f[10]))
        img = image
        if brightness != 1.0:
            img = ImageEnhance.Brightness(img).enhance(brightness)
            counts["brightness"] += 1
        if angle != 0.0:
            img = img.rotate(angle, Image.NEAREST)
            counts["rotation"] += 1
        if not train:
            img = img.resize((size, size), Image.BILINEAR)
            counts["test"] += 1
        elif fallback:
            img = img.resize((sw, sh), Image.BILINEAR).crop((x, y, x + size, y + size))
            counts["fallback"] += 1
        else:
            img = img.crop((x, y, x + cw, y + ch)).resize((size, size), Image.BILINEAR)
        if flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
            counts["flip"] += 1
        ref = np.asarray(img)
        if not np.array_equal(ref, ours[k]):
            diff = np.abs(ref.astype(int) - ours[k].astype(int))
            print(f"draw {k} ({line.strip()}): {int((diff > 0).sum())} bytes differ, max {int(diff.max())}")
            failures += 1
    print(f"{w}x{h} -> {size}: {n} draws {counts}: {failures} differ from PIL")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
