"""Presentation times of a video's decoded frames, from ffprobe (the tests of `dfer predict` compare with them)."""
import subprocess


def pts(video):
    """presentation times of the decoded frames of video's first video stream, in seconds from the first"""
    t = pts_absolute(video)
    return [x - t[0] for x in t]


def start(video):
    """(the first decoded video frame's presentation time, the container's start_time), both in seconds on the
    container's clock: a player shows the frame at their difference"""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0", video],
                         check=True, capture_output=True, text=True).stdout
    return pts_absolute(video)[0], float(out.strip())


def pts_absolute(video):
    """presentation times of the decoded frames of video's first video stream, on the container's clock"""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=best_effort_timestamp_time", "-of", "csv=p=0", video],
                         check=True, capture_output=True, text=True).stdout
    return [float(l.split(",")[0]) for l in out.splitlines() if l.strip(", ")]
