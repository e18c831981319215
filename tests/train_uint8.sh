#!/usr/bin/env bash
# data.uint8_frames: the loader hands over uint8 pixels and the model normalises them
# with op_normalize_images (on the device; here the CPU backend) instead of the loader
# writing normalised floats. In F32 the two must be the same numbers bit for bit, so a
# short training run ends with bitwise the same parameters and the same evaluation
# either way (same seed): FineCLIPER low; FineCLIPER low+mid (parsing and landmark maps
# through the same encoder input, and micro-batches of 2: the frames and maps are sliced
# at 1 byte per value); DFER-CLIP on raw [0,1] pixels (mean 0, std 1, its default) and
# with CLIP's normalisation; FineCLIPER low in mixed precision too (the BF16 images are
# round(F32) either way). A negative control (uint8 with another normalisation) must
# differ, so the comparison can fail.
# usage: train_uint8.sh DFER PYTHON SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$1 py=$2 src=$3 shared=$4
tmp=$(mktemp -d /tmp/dfer-u8-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$dfer" synth --layout dfew --clips 24 --size 40 --min-frames 6 --max-frames 10 --seed 3 --out "$tmp/data" 2>/dev/null
"$dfer" init --arch tiny --seed 6 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"

run() { # NAME METHOD UINT8 [--set ...]: one epoch of 2 steps of 8 clips, evaluated
  local name=$1 method=$2 u8=$3
  shift 3
  "$dfer" train --config "$src/configs/synth/$method.ini" --set data.root="$tmp/data" \
    --set model.weights="$tmp/clip.safetensors" --set model.dtype=f32 --set train.device=cpu \
    --set data.uint8_frames=$u8 --set train.epochs=1 --set train.max_steps_per_epoch=2 --set train.batch=8 \
    --set train.eval_batch=8 --set data.frames=4 --set train.threads=2 --set data.loader_threads=1 \
    --set train.log_every=100 "$@" --out "$tmp/$name" >"$tmp/$name.log" 2>&1 \
    || { echo "run $name failed:"; cat "$tmp/$name.log"; exit 1; }
  local want="normalised by the loader"
  [ "$u8" = on ] && want="as uint8, normalised on the device"
  grep -q "frames $want" "$tmp/$name.log" || { echo "run $name: the log does not say \"frames $want\""; exit 1; }
}

same() { # A B WHAT: bitwise the same parameters and evaluation
  "$py" - "$tmp/$1" "$tmp/$2" "$3" <<'PY' || exit 1
import json, struct, sys
import numpy as np
def read(p):
    d = open(p, "rb").read(); (n,) = struct.unpack("<Q", d[:8]); h = json.loads(d[8:8 + n]); h.pop("__metadata__", None)
    return {k: np.frombuffer(d[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], dtype="<f4") for k, v in h.items()}
a, b, what = sys.argv[1], sys.argv[2], sys.argv[3]
pa, pb = read(f"{a}/model.safetensors"), read(f"{b}/model.safetensors")
differ = [k for k in pa if pa[k].tobytes() != pb[k].tobytes()]
worst = max((float(np.abs(pa[k] - pb[k]).max()) for k in differ), default=0.0)
def evals(d):  # the evaluation records (scores, confusion, loss), without timings
    out = []
    for line in open(f"{d}/metrics.jsonl"):
        r = json.loads(line)
        if r.get("type") == "eval":
            out.append({k: v for k, v in r.items() if "time" not in k and "second" not in k})
    return out
ea, eb = evals(a), evals(b)
eval_same = len(ea) > 0 and ea == eb
print(f"{what}: {len(pa)} tensors, {len(differ)} differ (max |diff| {worst:.3g}); evaluation "
      f"(loss {ea[0].get('loss') if ea else None}) {'identical' if eval_same else 'DIFFERS'}")
sys.exit(0 if not differ and eval_same else 1)
PY
}

differs() { # A B WHAT: the negative control
  if cmp -s "$tmp/$1/model.safetensors" "$tmp/$2/model.safetensors"; then
    echo "$3: identical parameters although the normalisation differs: the comparison cannot fail"; exit 1
  fi
  echo "$3: parameters differ, as they must"
}

run fc-off finecliper off
run fc-on finecliper on
same fc-off fc-on "FineCLIPER low, uint8 frames vs floats"
run fcbf-off finecliper off --set model.dtype=bf16
run fcbf-on finecliper on --set model.dtype=bf16
same fcbf-off fcbf-on "FineCLIPER low, mixed precision (BF16 images: round(F32) both ways), uint8 vs floats"
run fc-raw-on finecliper on --set data.normalise=raw
differs fc-off fc-raw-on "negative control: FineCLIPER low, uint8 frames with raw instead of CLIP normalisation"

mid=(--set model.variant=low+mid --set data.landmarks="$tmp/data/synth/landmarks" --set train.micro_batch=2)
run fcmid-off finecliper off "${mid[@]}"
run fcmid-on finecliper on "${mid[@]}"
same fcmid-off fcmid-on "FineCLIPER low+mid (parsing and landmark maps), micro-batches of 2, uint8 vs floats"

run dc-on dfer_clip on --set data.normalise=auto --set train.micro_batch=4
run dc-off-mb dfer_clip off --set data.normalise=auto --set train.micro_batch=4
same dc-off-mb dc-on "DFER-CLIP raw [0,1] pixels, micro-batches of 4, uint8 vs floats"
run dc-clip-off dfer_clip off
run dc-clip-on dfer_clip on
same dc-clip-off dc-clip-on "DFER-CLIP with CLIP normalisation, uint8 vs floats"
