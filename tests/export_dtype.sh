#!/usr/bin/env bash
# dfer export writes each tensor in its base CLIP's dtype: a DFER-CLIP run on an F16 CLIP exports an F16 CLIP whose
# fine-tuned encoder is the run's F32 values rounded once to F16 (equal, bit for bit, to `--dtype f32`'s export
# rounded to nearest-even here) and whose other tensors are the base's bytes; `--dtype f32` writes every tensor in
# F32; a bad --dtype is a usage error. (It wrote the encoder in F32 beside an F16 text tower, whatever the base.)
# usage: export_dtype.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$1 src=$2 shared=$3 python=$4
tmp=$(mktemp -d /tmp/dfer-export-dtype-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$dfer" synth --layout dfew --clips 16 --size 32 --min-frames 4 --max-frames 6 --seed 8 --out "$tmp/data" 2>/dev/null
"$dfer" init --arch tiny --seed 4 --out "$tmp/clip32.safetensors" >/dev/null
"$dfer" convert "$tmp/clip32.safetensors" "$tmp/clip16.safetensors" --dtype f16 >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
"$dfer" train --config "$src/configs/synth/dfer_clip.ini" --set data.root="$tmp/data" \
  --set model.weights="$tmp/clip16.safetensors" --set train.epochs=1 --set train.batch=4 --set train.eval_batch=8 \
  --set data.frames=4 --set train.threads=2 --set train.max_steps_per_epoch=2 --out "$tmp/run" >/dev/null
"$dfer" export --run "$tmp/run" --out "$tmp/keep.safetensors" >/dev/null
"$dfer" export --run "$tmp/run" --out "$tmp/f32.safetensors" --dtype f32 >/dev/null
"$python" - "$tmp/clip16.safetensors" "$tmp/keep.safetensors" "$tmp/f32.safetensors" <<'PY'
import json, struct, sys

def read(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return {k: (t["dtype"], t["shape"], raw[8 + n + t["data_offsets"][0]:8 + n + t["data_offsets"][1]])
            for k, t in header.items()}

base, keep, f32 = (read(p) for p in sys.argv[1:])
assert set(base) == set(keep) == set(f32), "the exports do not hold the base CLIP's tensors"
vision = [k for k in base if k.startswith("vision_model.") or k == "visual_projection.weight"]
assert vision
changed = finer = 0
for name, (dtype, shape, data) in base.items():
    kd, ks, kdata = keep[name]
    fd, fs, fdata = f32[name]
    assert kd == dtype == "F16", f"{name}: {kd} in the default export, {dtype} in the base (F16)"
    assert fd == "F32" and ks == fs == shape, f"{name}: {fd} {fs} in the --dtype f32 export"
    values = struct.unpack(f"<{len(fdata) // 4}f", fdata)
    rounded = struct.pack(f"<{len(values)}e", *values)  # IEEE round to nearest even, as convert_dtype
    assert kdata == rounded, f"{name}: the default export is not the F32 export rounded once to F16"
    if name in vision:
        changed += kdata != data
        # the F32 export holds the run's values, not values already rounded to F16 and widened
        back = struct.unpack(f"<{len(values)}e", rounded)
        finer += any(v != b for v, b in zip(values, back))
    else:
        assert kdata == data, f"{name}: a tensor outside the image encoder is not the base's bytes"
assert changed, "no tensor of the image encoder differs from the base: the run's encoder was not exported"
assert finer, "every value of the F32 export's encoder is an F16 value: it was rounded before it was written"
print(f"export of a run on an F16 CLIP: {len(keep)} tensors in F16 ({changed} of the encoder's {len(vision)} "
      f"fine-tuned, each the F32 export rounded once); --dtype f32: every tensor F32")
PY
"$dfer" info "$tmp/keep.safetensors" >"$tmp/info.txt" || { echo "the F16 export does not load"; exit 1; }
grep -q "integrity:    whole (the digest dfer wrote into it" "$tmp/info.txt" \
  && [ "$("$dfer" info --json "$tmp/clip32.safetensors" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["digest_checked"])')" = True ] \
  || { cat "$tmp/info.txt"; echo "dfer info does not say the export's digest was checked"; exit 1; }
"$python" - "$tmp/clip32.safetensors" "$tmp/nodigest.safetensors" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
h["__metadata__"].pop("dfer_payload_murmur3")
text = json.dumps(h).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
PY
"$dfer" info "$tmp/nodigest.safetensors" | grep -q "integrity:    not known (no digest" \
  || { "$dfer" info "$tmp/nodigest.safetensors"; echo "a file without the digest said to be whole"; exit 1; }
echo "dfer info: the digest of dfer's files said to be checked, a file without one not"
if "$dfer" export --run "$tmp/run" --out "$tmp/bad.safetensors" --dtype f8 >/dev/null 2>"$tmp/err"; then
  echo "--dtype f8 accepted"; exit 1
fi
grep -qF -- "--dtype must be keep, f32, f16 or bf16, not 'f8'" "$tmp/err" && [ ! -e "$tmp/bad.safetensors" ] \
  || { cat "$tmp/err"; echo "--dtype f8: no clear usage error (or a file written)"; exit 1; }
echo "export --dtype f8: usage error, nothing written"
