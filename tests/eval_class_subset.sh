#!/usr/bin/env bash
# A DFER-CLIP run of MAFW's 11 classes evaluated on a dataset of 7 (DFEW) through the prompt contexts of the 7 they
# share: its predictions equal, to the CSV's 6 decimals, those of the same parameters cut to 7 classes by hand
# (prompt_learner.ctx's first 7 rows, another run folder of dataset dfew) evaluated on its own dataset. The reverse,
# a 7-class run on MAFW's 11, is refused with the counts named.
# usage: eval_class_subset.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$1 src=$2 shared=$3 python=$4
tmp=$(mktemp -d /tmp/dfer-eval-subset-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$dfer" synth --layout mafw --clips 24 --size 32 --min-frames 4 --max-frames 6 --seed 6 --out "$tmp/mafw" 2>/dev/null
"$dfer" synth --layout dfew --clips 20 --size 32 --min-frames 4 --max-frames 6 --seed 7 --out "$tmp/dfew" 2>/dev/null
"$dfer" init --arch tiny --seed 3 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
common=(--config "$src/configs/synth/dfer_clip.ini" --set model.weights="$tmp/clip.safetensors" --set train.epochs=1
        --set train.batch=4 --set train.eval_batch=8 --set data.frames=4 --set train.threads=2
        --set train.max_steps_per_epoch=2)
"$dfer" train "${common[@]}" --set data.dataset=mafw --set data.root="$tmp/mafw" --out "$tmp/m11" >/dev/null
grep -q '"classes":.*"disappointment"' "$tmp/m11/result.json" || { echo "the MAFW run has not 11 classes"; exit 1; }

"$dfer" eval --run "$tmp/m11" --dataset dfew --root "$tmp/dfew" --predictions "$tmp/p11on7.csv" >"$tmp/eval.txt"
grep -q "trained on 11 classes (mafw), evaluated on dfew's 7 through the contexts of the first 7" "$tmp/eval.txt" \
  && grep -q "on dfew test split .*classes: happiness, sadness, neutral, anger, surprise, disgust, fear)" "$tmp/eval.txt" \
  || { cat "$tmp/eval.txt"; echo "the 11-class run's evaluation on DFEW does not say what it scored"; exit 1; }

# the same parameters as a 7-class run of DFEW: ctx [11, M, W] cut to its first 7 rows
mkdir "$tmp/m7"
sed -e 's#^dataset *=.*#dataset = dfew#' -e "s#^root *=.*#root = $tmp/dfew#" "$tmp/m11/config.ini" >"$tmp/m7/config.ini"
grep -q "^dataset = dfew" "$tmp/m7/config.ini" || { echo "config.ini has no dataset line to edit"; exit 1; }
"$python" - "$tmp/m11/model.safetensors" "$tmp/m7/model.safetensors" <<'PY'
import json, struct, sys
src, dst = sys.argv[1:]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
body = raw[8 + n:]
out_header, chunks, at = {}, [], 0
for name, t in header.items():
    if name == "__metadata__":  # without dfer's digest of the tensors: this file is written here
        out_header[name] = {k: v for k, v in t.items() if k != "dfer_payload_murmur3"}
        continue
    lo, hi = t["data_offsets"]
    data = body[lo:hi]
    if name == "prompt_learner.ctx":
        assert t["shape"][0] == 11, t["shape"]
        data = data[:len(data) // 11 * 7]
        t = dict(t, shape=[7] + t["shape"][1:])
    out_header[name] = dict(t, data_offsets=[at, at + len(data)])
    chunks.append(data)
    at += len(data)
h = json.dumps(out_header).encode()
h += b" " * (-len(h) % 8)
open(dst, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(chunks))
PY
"$dfer" eval --run "$tmp/m7" --predictions "$tmp/p7.csv" >"$tmp/eval7.txt" || { cat "$tmp/eval7.txt"; exit 1; }
"$python" - "$tmp/p11on7.csv" "$tmp/p7.csv" <<'PY'
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:])
assert len(a) == len(b) and a, (len(a), len(b))
classes = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
assert list(a[0].keys())[-7:] == classes, list(a[0].keys())
worst = max(abs(float(x[c]) - float(y[c])) for x, y in zip(a, b) for c in classes)
assert all(x["clip"] == y["clip"] and x["predicted"] == y["predicted"] for x, y in zip(a, b))
assert worst <= 2e-6, f"probabilities differ by {worst}"
spread = max(abs(float(x[c]) - 1 / 7) for x in a for c in classes)
assert spread > 1e-4, "every probability is 1/7: the check would pass for any contexts"
print(f"11-class run on DFEW: {len(a)} clips' probabilities within {worst:.1e} of the run cut to 7 classes")
PY
# the contexts matter: the run cut to its last 7 rows' classes would predict otherwise (a control of the check)
"$python" - "$tmp/m7/model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]
raw = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
t = json.loads(raw[8:8 + n])["prompt_learner.ctx"]
lo, hi = (8 + n + o for o in t["data_offsets"])
rows = (hi - lo) // 7
raw[lo:hi] = raw[lo + rows:hi] + raw[lo:lo + rows]  # the classes' contexts rotated by one
# the digest is of the tensors before the rotation: the header again without it, padded to its old length
header = json.loads(raw[8:8 + n])
header["__metadata__"].pop("dfer_payload_murmur3", None)
text = json.dumps(header).encode()
raw[8:8 + n] = text + b" " * (n - len(text))
open(p, "wb").write(raw)
PY
"$dfer" eval --run "$tmp/m7" --predictions "$tmp/p7rot.csv" >/dev/null
if cmp -s <(cut -d, -f4- "$tmp/p7rot.csv") <(cut -d, -f4- "$tmp/p11on7.csv"); then
  echo "rotated contexts gave the same probabilities: the comparison cannot tell contexts apart"; exit 1
fi

# the reverse has no contexts for MAFW's other 4 classes
"$dfer" train "${common[@]}" --set data.dataset=dfew --set data.root="$tmp/dfew" --out "$tmp/d7" >/dev/null
if "$dfer" eval --run "$tmp/d7" --dataset mafw --root "$tmp/mafw" >"$tmp/out" 2>"$tmp/err"; then
  echo "a 7-class DFER-CLIP run was evaluated on MAFW's 11 classes"; exit 1
fi
grep -qF "$tmp/d7 was trained on 7 classes (dfew), but mafw has 11" "$tmp/err" && grep -qF "no context for MAFW's other 4" "$tmp/err" \
  || { cat "$tmp/err"; echo "the refusal does not name the class counts"; exit 1; }
echo "a 7-class DFER-CLIP run on MAFW refused: $(head -n 1 "$tmp/err")"
