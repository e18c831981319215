"""Presentation times of a video's decoded frames, from ffprobe (the tests of `dfer predict` compare with them)."""
import subprocess


def pts(video):
    """presentation times of the decoded frames of video's first video stream, in seconds from the first"""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=best_effort_timestamp_time", "-of", "csv=p=0", video],
                         check=True, capture_output=True, text=True).stdout
    t = [float(l.split(",")[0]) for l in out.splitlines() if l.strip(", ")]
    return [x - t[0] for x in t]
