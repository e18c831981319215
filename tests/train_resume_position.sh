#!/usr/bin/env bash
# A checkpoint whose training position (its metadata's epoch, step, optimiser steps, best epoch, metrics.jsonl
# length, logging window's steps) is negative, fractional, not a number or beyond what it is cast to (hand-edited,
# damaged) is refused on resume, naming the file and the field: the counters were cast to int unchecked, and
# metrics_bytes to long long (1e30: undefined; -5, 2.5: metrics.jsonl silently cut at another length or not at all).
# The same rewrite with valid values (metrics_bytes -1: the log's length unknown) resumes.
# usage: train_resume_position.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$1 src=$2 shared=$3
tmp=$(mktemp -d /tmp/dfer-resume-position-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/lib/train_fixture.sh"
train_fixture
set_position() { # CHECKPOINT KEY VALUE: that key of the metadata's position set to VALUE (JSON text)
  /usr/bin/python3 - "$@" <<'PY'
import json, struct, sys
path, key, value = sys.argv[1:]
b = open(path, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
pos = json.loads(h["__metadata__"]["position"])
pos[key] = json.loads(value)
h["__metadata__"]["position"] = json.dumps(pos, separators=(",", ":"))
h["__metadata__"].pop("dfer_payload_murmur3", None)  # a checkpoint without dfer's digest: its position is what is read
text = json.dumps(h, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)  # the data stays 8-byte aligned
open(path, "wb").write(struct.pack("<Q", len(text)) + text + b[8 + n:])
PY
}
train_common dfer_clip train.epochs=1 train.threads=2 train.log_every=100
set +e
"$dfer" train "${common[@]}" --out "$tmp/position" --stop-after 2 >/dev/null 2>&1
set -e
[ -f "$tmp/position/checkpoint.safetensors" ] || { echo "no checkpoint after 2 steps"; exit 1; }
# refuse_position KEY=VALUE MESSAGE: a checkpoint with that value in its position is refused with the message
refuse_position() {
  rm -rf "$tmp/badpos" && cp -r "$tmp/position" "$tmp/badpos"
  set_position "$tmp/badpos/checkpoint.safetensors" "${1%%=*}" "${1#*=}"
  if "$dfer" train "${common[@]}" --out "$tmp/badpos" --resume >/dev/null 2>"$tmp/err"; then
    echo "a checkpoint with $1 in its position was resumed"; exit 1
  fi
  grep -q "$tmp/badpos/checkpoint.safetensors: $2" "$tmp/err" \
    || { echo "unclear message for $1 in the position:"; cat "$tmp/err"; exit 1; }
}
for bad in epoch=-1 step=1e12 optimizer_steps=2.5 best_epoch=-2 step=-2147483649 \
           metrics_bytes=1e30 metrics_bytes=-5 metrics_bytes=2.5 metrics_bytes=9.3e18 metrics_bytes=1e300 \
           window_steps=-1 window_steps=0.5 window_steps=3e9; do
  refuse_position "$bad" "the training position's \"${bad%%=*}\" in the metadata is .*, not a whole"
done
# not a number at all (it fell back to "unknown" without a word)
for bad in 'metrics_bytes="12"' metrics_bytes=null window_steps=true; do
  refuse_position "$bad" "the training position in the metadata has no number \"${bad%%=*}\""
done
# the same rewrite with the value it had resumes (the checkpoint so rewritten is read), as does metrics_bytes -1
for good in step=2 metrics_bytes=-1; do
  rm -rf "$tmp/goodpos" && cp -r "$tmp/position" "$tmp/goodpos"
  set_position "$tmp/goodpos/checkpoint.safetensors" "${good%%=*}" "${good#*=}"
  "$dfer" train "${common[@]}" --out "$tmp/goodpos" --resume >"$tmp/ok.log" 2>&1 \
    && grep -q "at epoch 1, step 2" "$tmp/ok.log" \
    || { cat "$tmp/ok.log"; echo "a rewritten checkpoint of a valid position ($good) did not resume"; exit 1; }
done
echo "a checkpoint with a negative, fractional, huge or non-numeric position refused on resume, naming the field"
