"""Writes a benchmark's results/bench/*.json whole or not at all: a temporary file beside it, synced, then
renamed over it (an interrupted run leaves the previous figures, never half a record)."""
import json
import os


def write(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
