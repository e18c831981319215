#!/usr/bin/env bash
# CLIP inference parity: `dfer embed` against the independent PyTorch
# reference (tests/reference/clip_ref.py) on random small configurations with
# noisy biases and layer norms, random images of odd sizes and several texts,
# and a Long-CLIP text tower (248 positions) with a ~100-token description.
# Embeddings and logits must agree to 1e-4 absolute.
# usage: clip_parity.sh DFER PYTHON SHARED_DIR SOURCE_DIR
set -euo pipefail
dfer=$1 py=$2 shared=$3 src=$4
vocab=$shared/clip/bpe_simple_vocab_16e6.txt.gz
tmp=$(mktemp -d /tmp/dfer-clip-parity-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Images: random noise + gradients, odd sizes (resize up and down, non-square crops).
"$py" - "$tmp" <<'PY'
import sys, numpy as np
from PIL import Image
rng = np.random.default_rng(5)
for i, (w, h) in enumerate([(45, 37), (64, 64), (23, 71), (300, 211)]):
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], -1)
    img = np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(f"{sys.argv[1]}/img{i}.png")
PY

texts=("a photo of a cat" "A person with an expression of happiness." "a face showing no anger" "x")
status=0
long_text=$(printf 'the left brow rises and falls again, %.0s' $(seq 12)) # ~100 tokens: beyond CLIP's 77
for arch in tiny small tiny-long; do
  w=$tmp/$arch.safetensors
  arch_texts=("${texts[@]}") init_args=(--arch "$arch")
  [ "$arch" = tiny-long ] && arch_texts+=("$long_text") init_args=(--arch tiny --long-clip)
  "$dfer" init "${init_args[@]}" --seed 11 --test-noise 0.1 --out "$w" >/dev/null
  img_args=() ids_args=()
  for i in 0 1 2 3; do img_args+=(--image "$tmp/img$i.png"); done
  text_args=()
  for t in "${arch_texts[@]}"; do
    text_args+=(--text "$t")
    ids_args+=(--ids "$("$dfer" tokenize --vocab "$vocab" -- "$t")")
  done
  "$dfer" embed --weights "$w" --vocab "$vocab" --threads 2 --json "${img_args[@]}" "${text_args[@]}" >"$tmp/ours.json"
  "$py" "$src/tests/reference/clip_ref.py" --weights "$w" "${img_args[@]}" "${ids_args[@]}" >"$tmp/ref.json"
  "$py" - "$tmp/ours.json" "$tmp/ref.json" "$arch" <<'PY' || status=1
import json, sys
import numpy as np
ours, ref, arch = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
bad = 0
for key in ("image_embeddings", "text_embeddings", "logits"):
    a, b = np.array(ours[key]), np.array(ref[key])
    if a.shape != b.shape:
        print(f"{arch} {key}: shape {a.shape} vs reference {b.shape}"); bad = 1; continue
    d = np.abs(a - b).max()
    scale = np.abs(b).max()
    ok = d <= 1e-4
    print(f"{arch} {key}: shape {a.shape}, max |ours - torch| = {d:.3g} (max |value| {scale:.3g}) {'ok' if ok else 'FAIL'}")
    bad |= not ok
# The test must be able to fail: embeddings that are all equal would pass trivially.
if np.std(np.array(ref["image_embeddings"]), axis=0).max() < 1e-3:
    print(f"{arch}: reference image embeddings do not vary across images"); bad = 1
sys.exit(bad)
PY
done

# Weights with a NaN in the image projection, a NaN logit_scale, and none: embed refuses the first two (it printed
# nan logits and picked the first text, exit 0) and warns of the third (CLIP's 100 used).
w=$tmp/tiny.safetensors
"$py" - "$w" "$tmp" <<'PY'
import json, struct, sys
import numpy as np
src, out = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
# the files written here are edits: dfer's digest of the tensors it wrote goes (it would call them damaged)
header.get("__metadata__", {}).pop("dfer_payload_murmur3", None)
def patched(name, value, path):
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    b = bytearray(data[8 + n:])
    start = header[name]["data_offsets"][0]
    b[start:start + 4] = np.float32(value).tobytes()
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + bytes(b))
patched("visual_projection.weight", np.nan, out + "/nanvis.safetensors")
patched("logit_scale", np.nan, out + "/nanscale.safetensors")
keep = {k: v for k, v in header.items() if k != "logit_scale"}
blobs, offset, new = [], 0, {}
for k, v in keep.items():
    if k == "__metadata__":
        new[k] = v
        continue
    b, e = v["data_offsets"]
    blobs.append(data[8 + n + b:8 + n + e])
    new[k] = dict(v, data_offsets=[offset, offset + e - b])
    offset += e - b
h = json.dumps(new).encode()
open(out + "/nologit.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PY
embed_fails() { # embed_fails WEIGHTS TEXT: embed exits 1 and says TEXT
  local rc=0
  "$dfer" embed --weights "$1" --vocab "$vocab" --image "$tmp/img0.png" --text a --text b >"$tmp/out" 2>&1 || rc=$?
  [ "$rc" = 1 ] && grep -qF -- "$2" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: embed with $1: exit $rc"; status=1; }
}
# weights holding NaN are refused at load, naming the file and the tensor (before any embedding is computed)
embed_fails "$tmp/nanvis.safetensors" "nanvis.safetensors: tensor visual_projection.weight holds 1 NaN or infinite value"
embed_fails "$tmp/nanscale.safetensors" "nanscale.safetensors: tensor logit_scale holds 1 NaN or infinite value"
"$dfer" embed --weights "$tmp/nologit.safetensors" --vocab "$vocab" --image "$tmp/img0.png" --text a --text b \
  >/dev/null 2>"$tmp/err" && grep -q "has no logit_scale: the logits use CLIP's trained value, 100" "$tmp/err" \
  || { cat "$tmp/err"; echo "FAIL: no warning for weights without logit_scale"; status=1; }
# a bad text is named by its number, counted as the output counts (from 0)
rc=0
"$dfer" embed --weights "$w" --vocab "$vocab" --text fine --text "$(printf 'bad \xff')" >"$tmp/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q 'text 1 (--text "bad ' "$tmp/out" || { cat "$tmp/out"; echo "FAIL: a bad second text: exit $rc"; status=1; }
exit $status
