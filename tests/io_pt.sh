#!/usr/bin/env bash
# PyTorch checkpoints written by Debian's torch (torch.save state dict with fp16
# tensors, a storage offset and a non-contiguous view; Long-CLIP; TorchScript)
# load through `dfer convert` to exactly the original tensors; corrupt zips and
# pickles, and tensors nested deeper than the reader walks, give clear errors.
# usage: io_pt.sh DFER PYTHON SOURCE_DIR
set -euo pipefail
dfer=$1 py=$2 src=$3
tmp=$(mktemp -d /tmp/dfer-io-pt-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$dfer" init --arch tiny --seed 9 --test-noise 0.1 --out "$tmp/hf.safetensors" >/dev/null
"$py" "$src/tests/reference/make_pt_fixtures.py" "$tmp/hf.safetensors" "$tmp"
for f in openai_state_dict longclip torchscript; do
  "$dfer" convert "$tmp/$f.pt" "$tmp/$f.safetensors"
done
"$py" - "$tmp" <<'PY'
import json, struct, sys
import numpy as np
d = sys.argv[1]
def read(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    h = json.loads(data[8:8 + n]); h.pop("__metadata__", None)
    kinds = {"F32": "<f4", "F16": "<f2"}
    return {k: np.frombuffer(data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                             dtype=kinds[v["dtype"]]).reshape(v["shape"]) for k, v in h.items()}
ref = read(f"{d}/hf.safetensors")
bad = 0
for f in ("openai_state_dict", "longclip", "torchscript"):
    got = read(f"{d}/{f}.safetensors")
    if set(got) != set(ref):
        print(f"{f}: tensor names differ: {sorted(set(got) ^ set(ref))[:5]}"); bad = 1; continue
    n_half = 0
    for k, r in ref.items():
        g = got[k]
        if f == "longclip" and k == "text_model.embeddings.position_embedding.weight":
            r = np.fromfile(f"{d}/longclip_expected_positions.f32", dtype="<f4").reshape(g.shape)
        if g.dtype == np.float16:
            n_half += 1
            r = r.astype(np.float16)
        if g.shape != r.shape or not np.array_equal(g, r):
            print(f"{f}: {k} differs (shape {g.shape} vs {r.shape})"); bad = 1
    print(f"{f}: {len(got)} tensors identical to the original ({n_half} stored as fp16)")
sys.exit(bad)
PY
# the .pt files are recognised as OpenAI-named; --openai-names and back is the identity;
# --dtype f16 rounds every tensor (compared with numpy's rounding); Long-CLIP from dfer init
"$dfer" info --json "$tmp/torchscript.pt" >"$tmp/ts.json"
"$dfer" info --json "$tmp/longclip.pt" >"$tmp/lc.json"
"$dfer" convert "$tmp/hf.safetensors" "$tmp/oa.safetensors" --openai-names >/dev/null
"$dfer" convert "$tmp/oa.safetensors" "$tmp/back.safetensors" >/dev/null
"$dfer" convert "$tmp/hf.safetensors" "$tmp/half.safetensors" --dtype f16 >/dev/null
"$dfer" init --arch tiny --seed 3 --long-clip --out "$tmp/long.safetensors" >/dev/null
"$dfer" info --json "$tmp/long.safetensors" >"$tmp/long.json"
# Long-CLIP to OpenAI names has positional_embedding_res, as Long-CLIP's loader wants, and converts back the same
"$dfer" convert "$tmp/long.safetensors" "$tmp/long_oa.safetensors" --openai-names >/dev/null
"$dfer" convert "$tmp/long_oa.safetensors" "$tmp/long_back.safetensors" >/dev/null
"$py" - "$tmp" <<'PY'
import json, struct, sys
import numpy as np
d = sys.argv[1]
def read(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    h = json.loads(data[8:8 + n]); meta = h.pop("__metadata__", {})
    kinds = {"F32": "<f4", "F16": "<f2"}
    return {k: np.frombuffer(data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                             dtype=kinds[v["dtype"]]).reshape(v["shape"]) for k, v in h.items()}, meta
ref, _ = read(f"{d}/hf.safetensors")
oa, meta = read(f"{d}/oa.safetensors")
assert "visual.proj" in oa and "transformer.resblocks.0.attn.in_proj_weight" in oa, sorted(oa)[:5]
assert np.array_equal(oa["visual.proj"], ref["visual_projection.weight"].T)
back, meta = read(f"{d}/back.safetensors")
assert set(back) == set(ref) and all(np.array_equal(back[k], ref[k]) for k in ref), "OpenAI -> HF not identical"
assert meta.get("dfer_source", "").endswith("oa.safetensors") and meta.get("dfer_architecture"), meta
half, _ = read(f"{d}/half.safetensors")
assert all(half[k].dtype == np.float16 and np.array_equal(half[k], ref[k].astype(np.float16)) for k in ref)
ts = json.load(open(f"{d}/ts.json"))
assert ts["naming"] == "openai" and ts["config"]["vision_layers"] == 2 and ts["tensors"] == len(ref), ts
lc = json.load(open(f"{d}/lc.json"))
assert lc["config"]["long_clip"] and lc["config"]["context_length"] == 248, lc
long_ref, _ = read(f"{d}/long.safetensors")
long_oa, _ = read(f"{d}/long_oa.safetensors")
pos = long_ref["text_model.embeddings.position_embedding.weight"]
assert pos.shape[0] == 248 and np.array_equal(long_oa["positional_embedding"], pos), "Long-CLIP positions"
assert np.array_equal(long_oa["positional_embedding_res"], pos), "Long-CLIP: no positional_embedding_res"
long_back, _ = read(f"{d}/long_back.safetensors")
assert set(long_back) == set(long_ref) and all(np.array_equal(long_back[k], long_ref[k]) for k in long_ref), \
    "Long-CLIP: OpenAI names and back not identical"
lg = json.load(open(f"{d}/long.json"))
assert lg["naming"] == "huggingface" and lg["config"]["long_clip"] and lg["config"]["context_length"] == 248, lg
print(f"OpenAI names round trip, f16 conversion, info of .pt and Long-CLIP files: ok "
      f"({ts['parameters']} parameters, {lc['architecture']})")
PY
# corrupt inputs: a truncated zip, and a zip whose data.pkl is garbage
head -c 5000 "$tmp/torchscript.pt" >"$tmp/truncated.pt"
if "$dfer" info "$tmp/truncated.pt" 2>"$tmp/err1"; then echo "truncated zip accepted"; exit 1; fi
grep -q "truncated.pt" "$tmp/err1" || { echo "message does not name the file:"; cat "$tmp/err1"; exit 1; }
mkdir -p "$tmp/bad/archive"
printf '\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01\xff\xff.' >"$tmp/bad/archive/data.pkl"
(cd "$tmp/bad" && "$py" -c "import zipfile; z = zipfile.ZipFile('../badpickle.pt', 'w'); z.write('archive/data.pkl'); z.close()")
if "$dfer" info "$tmp/badpickle.pt" 2>"$tmp/err2"; then echo "corrupt pickle accepted"; exit 1; fi
grep -q "badpickle.pt" "$tmp/err2" && grep -q "opcode" "$tmp/err2" || { echo "unclear message:"; cat "$tmp/err2"; exit 1; }
echo "corrupt zip and pickle rejected: $(cat "$tmp/err1") / $(cat "$tmp/err2")"
# a state dict nested deeper than the reader walks (64 dicts): refused naming the file and the tensor's key path, where
# it was skipped without a word (a CLIP wrapped so deep then failed as "no CLIP tensors" or a missing tensor)
"$py" - "$tmp/deep.pt" <<'PY'
import sys
import torch
deep = torch.arange(3.0)
for i in range(65):
    deep = {f"k{i}": deep}
torch.save({"top": torch.ones(2), "wrapped": deep}, sys.argv[1])
PY
if "$dfer" convert "$tmp/deep.pt" "$tmp/deep.safetensors" 2>"$tmp/err3"; then
  echo "a tensor 66 keys deep converted"; exit 1
fi
grep -q "deep.pt: wrapped.k64.k63.*.k2.k1 is nested in more than 64 dicts" "$tmp/err3" \
  || { echo "unclear message for a tensor nested too deep:"; cat "$tmp/err3"; exit 1; }
echo "a tensor nested deeper than 64 dicts: refused with its key path"
# dfer info names the tensors holding a NaN or infinity (what dfer embed and training stop on), with how many
"$py" - "$tmp/hf.safetensors" "$tmp/nan.safetensors" <<'PY'
import json, struct, sys
d = open(sys.argv[1], "rb").read(); (n,) = struct.unpack("<Q", d[:8]); h = json.loads(d[8:8 + n]); body = bytearray(d[8 + n:])
name = next(k for k in h if k.endswith("visual_projection.weight"))
b = h[name]["data_offsets"][0]
size = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}[h[name]["dtype"]]
nan = {"F32": struct.pack("<f", float("nan")), "F16": b"\x00\x7e", "BF16": b"\xc0\x7f", "F64": struct.pack("<d", float("nan"))}[h[name]["dtype"]]
inf = {"F32": struct.pack("<f", float("inf")), "F16": b"\x00\x7c", "BF16": b"\x80\x7f", "F64": struct.pack("<d", float("inf"))}[h[name]["dtype"]]
body[b:b + size] = nan
body[b + size:b + 2 * size] = inf
h.get("__metadata__", {}).pop("dfer_payload_murmur3", None)  # edited here: dfer's digest of the file is no longer its
head = json.dumps(h).encode()
head += b" " * (-len(head) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(head)) + head + bytes(body))
PY
"$dfer" info "$tmp/hf.safetensors" | grep -q "not finite:   none" || { echo "info: a clean checkpoint not said to be finite"; exit 1; }
"$dfer" info "$tmp/nan.safetensors" | grep -q "not finite:   visual_projection.weight (2 NaN or infinite)" \
  && [ "$("$dfer" info --json "$tmp/nan.safetensors" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["nonfinite"])')" = "{'visual_projection.weight': 2}" ] \
  || { "$dfer" info "$tmp/nan.safetensors"; echo "info: the NaN and the infinity not listed"; exit 1; }
echo "info: the tensor holding a NaN and an infinity named, with the count"
