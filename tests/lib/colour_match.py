"""How far a copy of a video is from its source as a player shows them: both decoded to RGB by the ffmpeg CLI,
which honours each stream's colour tags (matrix, range). Prints the largest over the frames of the 75th
percentile of the absolute differences of a frame's pixels, and the mean, and exits 1 where that percentile is
above the limit (an overlay drawn on a tenth of the copy moves the mean, not the percentile).
usage: colour_match.py SOURCE COPY LIMIT"""
import subprocess
import sys

import numpy as np


def frames(video):
    """[frames, h, w, 3] uint8, the CLI's RGB24 decoding of video's first video stream"""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                            "-of", "csv=p=0", video], check=True, capture_output=True, text=True).stdout
    w, h = (int(x) for x in probe.split()[0].split(",")[:2])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", video, "-sws_flags", "bilinear", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def main():
    source, copy, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
    a, b = frames(source), frames(copy)
    if a.shape != b.shape:
        print(f"the copy decodes to {b.shape}, the source to {a.shape}")
        return 1
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    p75 = np.percentile(d.reshape(len(d), -1), 75, axis=1)
    worst = int(np.argmax(p75))
    print(f"3/4 of the pixels within {p75.max():g} levels in every frame (frame {worst} the worst), mean {d.mean():.3f}")
    return 1 if p75.max() > limit else 0


if __name__ == "__main__":
    sys.exit(main())
