#!/usr/bin/env bash
# A checkpoint damaged on disk (a flipped byte in its tensors, which its digest finds; a file cut short) is not
# resumed from: the run goes on from the checkpoint before it, which save_checkpoint keeps as a hard link
# (checkpoint.previous.safetensors), and ends with bitwise the parameters and the metrics.jsonl of an uninterrupted
# run; the damaged file is moved aside. A missing newest checkpoint, or one whose position (in its header) was edited,
# is the same; one that is whole but of another model is refused as before, nothing moved. Both damaged: refused,
# both reasons named. A finished run keeps no previous checkpoint. `dfer eval` refuses a model.safetensors whose
# bytes changed, or whose header another writer rewrote.
# usage: train_checkpoint_damaged.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$1 src=$2 shared=$3
tmp=$(mktemp -d /tmp/dfer-ckpt-damaged-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/lib/train_fixture.sh"
train_fixture
train_common finecliper train.epochs=2 train.threads=2 train.log_every=2
"$dfer" train "${common[@]}" --out "$tmp/full" >/dev/null
[ ! -e "$tmp/full/checkpoint.previous.safetensors" ] || { echo "a finished run kept its previous checkpoint"; exit 1; }

# position FILE: "epoch step" of a checkpoint's metadata; damage FILE OFFSET: one bit of its data section flipped
position() {
  /usr/bin/python3 - "$1" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
p = json.loads(json.loads(raw[8:8 + n])["__metadata__"]["position"])
print(p["epoch"], p["step"])
PY
}
damage() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import struct, sys
path, at = sys.argv[1], int(sys.argv[2])
raw = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
raw[8 + n + at] ^= 0x10
open(path, "r+b").write(raw)  # in place, as a disk would: the same inode
PY
}
# stopped after step 5 of epoch 1 with a checkpoint every 2 steps: the newest at step 5, the one before at step 4
stopped() {
  set +e
  "$dfer" train "${common[@]}" --out "$1" --checkpoint-every 2 --stop-after 5 >/dev/null 2>&1
  set -e
  [ "$(position "$1/checkpoint.safetensors")" = "0 5" ] && [ "$(position "$1/checkpoint.previous.safetensors")" = "0 4" ] \
    || { ls -l "$1"; echo "after 5 steps: no checkpoint at step 5 with the one of step 4 kept"; exit 1; }
}
ends_as_full() { # RUN WHAT
  cmp -s "$tmp/full/model.safetensors" "$1/model.safetensors" || { echo "$2: parameters DIFFER"; exit 1; }
  same_metrics "$tmp/full/metrics.jsonl" "$1/metrics.jsonl" || { echo "$2: metrics.jsonl differs"; exit 1; }
  [ ! -e "$1/checkpoint.previous.safetensors" ] || { echo "$2: the finished run kept its previous checkpoint"; exit 1; }
}

stopped "$tmp/flip"
damage "$tmp/flip/checkpoint.safetensors" 100
"$dfer" train "${common[@]}" --out "$tmp/flip" --resume >/dev/null 2>"$tmp/flip.err" || { cat "$tmp/flip.err"; exit 1; }
grep -q "checkpoint.safetensors cannot be resumed from (.*checkpoint.safetensors: damaged: its bytes are not those it was written with .*); resuming from the checkpoint before it, .*checkpoint.previous.safetensors (epoch 1, step 4)" "$tmp/flip.err" \
  || { cat "$tmp/flip.err"; echo "the fallback to the previous checkpoint was not said, or not why"; exit 1; }
[ -f "$tmp/flip/checkpoint.damaged.safetensors" ] || { echo "the damaged checkpoint was not kept aside"; exit 1; }
ends_as_full "$tmp/flip" "a flipped bit in the newest checkpoint"
echo "a checkpoint with a flipped bit: resumed from the one before (step 4), parameters and log bitwise the full run's"

stopped "$tmp/cut"
truncate -s -4096 "$tmp/cut/checkpoint.safetensors"
"$dfer" train "${common[@]}" --out "$tmp/cut" --resume >/dev/null 2>"$tmp/cut.err" || { cat "$tmp/cut.err"; exit 1; }
grep -q "resuming from the checkpoint before it" "$tmp/cut.err" || { cat "$tmp/cut.err"; exit 1; }
ends_as_full "$tmp/cut" "a checkpoint cut short"
echo "a checkpoint cut short: resumed from the one before, bitwise the full run"

# the header is in the digest too: the position in its metadata edited (step 5 -> 3, valid JSON still) is damage
stopped "$tmp/meta"
/usr/bin/python3 - "$tmp/meta/checkpoint.safetensors" <<'PY'
import sys
path = sys.argv[1]
raw = bytearray(open(path, "rb").read())
at = raw.index(b'\\"step\\":5,')
raw[at + 9] = ord("3")
open(path, "r+b").write(raw)
PY
"$dfer" train "${common[@]}" --out "$tmp/meta" --resume >/dev/null 2>"$tmp/meta.err" || { cat "$tmp/meta.err"; exit 1; }
grep -q "cannot be resumed from (.*damaged.*); resuming from the checkpoint before it, .*(epoch 1, step 4)" "$tmp/meta.err" \
  || { cat "$tmp/meta.err"; echo "an edited position was resumed from"; exit 1; }
ends_as_full "$tmp/meta" "a position edited in the newest checkpoint's header"
echo "a checkpoint whose position was edited: resumed from the one before, bitwise the full run"

# a position edited by a tool that dropped dfer's digest (as one must): an epoch past train.epochs (it resumed "at
# epoch 51" of 2 and wrote a finished result.json of nothing), a best epoch after its epoch, and a position that
# is not JSON are refused
edit_position() { # FILE KEY VALUE: the position's key set (KEY whole: its text), without dfer's digest
  /usr/bin/python3 - "$@" <<'PY'
import json, struct, sys
path, key, value = sys.argv[1], sys.argv[2], sys.argv[3]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header["__metadata__"]
if key == "whole":  # the position's text replaced
    meta["position"] = value
else:
    p = json.loads(meta["position"])
    p[key] = int(value)
    meta["position"] = json.dumps(p)
meta.pop("dfer_payload_murmur3")
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(path, "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
PY
}
for edit in "epoch 50:in epoch 51, past train.epochs = 2" "best_epoch 7:best_epoch 7 is after its epoch 0" \
  "whole {broken:the training position in the metadata is not a JSON object"; do
  stopped "$tmp/pos"
  edit_position "$tmp/pos/checkpoint.safetensors" ${edit%%:*}
  edit_position "$tmp/pos/checkpoint.previous.safetensors" ${edit%%:*}
  cp "$tmp/pos/metrics.jsonl" "$tmp/pos-metrics.bak"
  if "$dfer" train "${common[@]}" --out "$tmp/pos" --resume >/dev/null 2>"$tmp/pos.err"; then
    cat "$tmp/pos.err"; echo "a checkpoint with ${edit%%:*} was resumed from"; exit 1
  fi
  grep -qF "${edit#*:}" "$tmp/pos.err" && cmp -s "$tmp/pos/metrics.jsonl" "$tmp/pos-metrics.bak" \
    && [ ! -e "$tmp/pos/result.json" ] || { cat "$tmp/pos.err"; echo "${edit%%:*}: not refused as it should be"; exit 1; }
  rm -rf "$tmp/pos"
done
echo "a position edited to an epoch past train.epochs, or a best epoch after its epoch: refused, the run's files untouched"

# a newest checkpoint that is whole but does not fit the model (another method's) is refused, not gone back from:
# the previous one would not fit either, and nothing is moved
stopped "$tmp/other"
train_common dfer_clip train.epochs=2 train.threads=2 train.log_every=2
set +e
"$dfer" train "${common[@]}" --out "$tmp/dc" --stop-after 2 >/dev/null 2>&1
set -e
train_common finecliper train.epochs=2 train.threads=2 train.log_every=2
cp "$tmp/dc/checkpoint.safetensors" "$tmp/other/checkpoint.safetensors"
if "$dfer" train "${common[@]}" --out "$tmp/other" --resume >/dev/null 2>"$tmp/other.err"; then
  echo "another method's checkpoint was resumed from"; exit 1
fi
grep -q "does not match the model" "$tmp/other.err" && ! grep -q "resuming from the checkpoint before it" "$tmp/other.err" \
  && [ ! -e "$tmp/other/checkpoint.damaged.safetensors" ] && [ "$(position "$tmp/other/checkpoint.previous.safetensors")" = "0 4" ] \
  || { cat "$tmp/other.err"; ls "$tmp/other"; echo "a checkpoint of another model: not refused as it is, or files moved"; exit 1; }
echo "another model's checkpoint in place of the newest: refused as before, the previous one left alone"

stopped "$tmp/gone"
rm "$tmp/gone/checkpoint.safetensors"
"$dfer" train "${common[@]}" --out "$tmp/gone" --resume >/dev/null 2>"$tmp/gone.err" || { cat "$tmp/gone.err"; exit 1; }
grep -q "checkpoint.safetensors cannot be resumed from (it is missing); resuming from the checkpoint before it" "$tmp/gone.err" \
  || { cat "$tmp/gone.err"; exit 1; }
ends_as_full "$tmp/gone" "a missing newest checkpoint"
echo "the newest checkpoint missing: resumed from the one before, bitwise the full run"

stopped "$tmp/both"
damage "$tmp/both/checkpoint.safetensors" 100
damage "$tmp/both/checkpoint.previous.safetensors" 200
cp "$tmp/both/metrics.jsonl" "$tmp/both-metrics.bak"
if "$dfer" train "${common[@]}" --out "$tmp/both" --resume >/dev/null 2>"$tmp/both.err"; then
  echo "a run whose two checkpoints are damaged was resumed"; exit 1
fi
grep -q "checkpoint.safetensors cannot be resumed from (.*damaged.*), nor the checkpoint before it: .*checkpoint.previous.safetensors: damaged" "$tmp/both.err" \
  || { cat "$tmp/both.err"; echo "both damaged: the message does not name both"; exit 1; }
cmp -s "$tmp/both/metrics.jsonl" "$tmp/both-metrics.bak" && [ ! -e "$tmp/both/model.safetensors" ] \
  || { echo "a refused resume changed the run's files"; exit 1; }
echo "both checkpoints damaged: refused, naming both; the run's files untouched"

# every file dfer writes carries its digest: an evaluated model whose bytes changed is refused
cp -r "$tmp/full" "$tmp/evalme"
damage "$tmp/evalme/model.safetensors" 8
if "$dfer" eval --run "$tmp/evalme" >/dev/null 2>"$tmp/eval.err"; then echo "eval of a damaged model ran"; exit 1; fi
grep -q "model.safetensors: damaged" "$tmp/eval.err" || { cat "$tmp/eval.err"; exit 1; }
echo "dfer eval of a damaged model.safetensors: refused ($(head -n 1 "$tmp/eval.err" | cut -c1-100)...)"
# a header rewritten by another writer that kept dfer's metadata (json.dumps' spacing) is not the file dfer wrote
cp "$tmp/full/model.safetensors" "$tmp/evalme/model.safetensors"
/usr/bin/python3 - "$tmp/evalme/model.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
text = json.dumps(json.loads(raw[8:8 + n])).encode()  # ", " and ": ", the same tensors and metadata
text += b" " * (-len(text) % 8)
open(path, "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
PY
if "$dfer" eval --run "$tmp/evalme" >/dev/null 2>"$tmp/eval.err"; then echo "eval of a rewritten header ran"; exit 1; fi
grep -q "model.safetensors: damaged: .*none: its header is not as dfer writes it" "$tmp/eval.err" \
  || { cat "$tmp/eval.err"; exit 1; }
echo "dfer eval of a model.safetensors whose header another writer rewrote: refused"
