#!/usr/bin/env bash
# Bad input to `dfer train`, `dfer eval`, `dfer export` and `dfer predict` gets a clear message and a non-zero
# exit: unknown config keys and bad values, a missing config file, test labels
# the model cannot output, weights without a text tower, and a trained model of
# another architecture given to `dfer eval` (which otherwise evaluates a run); a diverging run stops
# (train.nonfinite=abort) or goes on with its metrics.jsonl still JSON (skip).
# usage: train_bad_input.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$1 src=$2 shared=$3 python=$4
tmp=$(mktemp -d /tmp/dfer-bad-input-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$dfer" synth --layout dfew --clips 24 --size 48 --min-frames 6 --max-frames 10 --seed 4 --out "$tmp/data" 2>/dev/null
"$dfer" init --arch tiny --seed 2 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
common=(--set data.root="$tmp/data" --set model.weights="$tmp/clip.safetensors" --set train.epochs=1 --set train.batch=4
        --set train.eval_batch=8 --set data.frames=4 --set train.threads=2 --set train.max_steps_per_epoch=2)
fc=(--config "$src/configs/synth/finecliper.ini" "${common[@]}")
# expect_fail NAME TEXT command...: the command fails and its stderr contains TEXT
expect_fail() {
  local name=$1 text=$2; shift 2
  if "$@" >"$tmp/out" 2>"$tmp/err"; then echo "$name: accepted"; exit 1; fi
  grep -qF -- "$text" "$tmp/err" || { echo "$name: message lacks '$text':"; cat "$tmp/err"; exit 1; }
  echo "$name: refused: $(head -n 1 "$tmp/err")"
}
expect_fail "unknown key" "model.nosuch" "$dfer" train "${fc[@]}" --set model.nosuch=1 --out "$tmp/r1"
expect_fail "bad value" "train.epochs" "$dfer" train "${fc[@]}" --set train.epochs=-3 --out "$tmp/r1"
expect_fail "unknown method" "resnet" "$dfer" train "${fc[@]}" --set model.method=resnet --out "$tmp/r1"
expect_fail "missing config" "$tmp/none.ini" "$dfer" train --config "$tmp/none.ini" --out "$tmp/r1"
# a value refused after parsing names where it was set: the file's line, or --set
printf '[train]\nepochs = 2\nlog_every = 0\n' >"$tmp/range.ini"
expect_fail "a value out of range, from a file" "train.log_every = 0 must be at least 1 (a progress line every N steps) (train.log_every from $tmp/range.ini:3)" \
  "$dfer" train --config "$tmp/range.ini" "${common[@]}" --out "$tmp/r1"
# a batch the ranks cannot split: said at the start with the key and its origin (the loader said it of "the global
# batch" further on)
expect_fail "a batch that does not split over the ranks" "train.batch = 32 does not split over the 3 ranks of this run: give a multiple of 3 (train.batch from --set)" \
  env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 mpirun --oversubscribe --mca btl self,vader \
  -np 3 "$dfer" train "${fc[@]}" --set train.batch=32 --out "$tmp/r-batch3"
[ ! -e "$tmp/r-batch3" ] || { echo "a refused batch left its run folder"; exit 1; }
# the middle level without `dfer prep`'s face tracks: refused before the first step, naming a track and the command
# (the loader would meet each missing track mid-epoch and walk the whole split for a replacement, a warning a try)
expect_fail "the middle level without face tracks" "have no middle-level input (the first: $tmp/data/dfer_prep/landmarks/" \
  "$dfer" train "${fc[@]}" --set model.variant=low+mid --out "$tmp/r-mid"
grep -q "run \`dfer prep\`" "$tmp/err" && ! grep -q "skipping an unreadable clip" "$tmp/err" \
  || { cat "$tmp/err"; echo "the middle level without tracks: not refused at the start"; exit 1; }
# one track missing (a clip dfer prep could not read), within data.max_bad_fraction: said at the start, and the clip
# is one more unreadable clip
cp -r "$tmp/data/synth/landmarks" "$tmp/tracks1"
one=$(sed -n 2p "$tmp/data/EmoLabel_DataSplit/train(single-labeled)/set_1.csv" | cut -d, -f1)
rm "$tmp/tracks1/$(printf %05d "$one").txt"
"$dfer" train "${fc[@]}" --set model.variant=low+mid --set data.landmarks="$tmp/tracks1" --set data.max_bad_fraction=0.3 \
  --out "$tmp/r-mid1" >/dev/null 2>"$tmp/err" \
  && grep -q "1 of the [0-9]* clips of .* have no middle-level input (the first: $tmp/tracks1/$(printf %05d "$one").txt): read as unreadable clips" "$tmp/err" \
  || { cat "$tmp/err"; echo "one track missing within data.max_bad_fraction: refused, or not said"; exit 1; }
echo "the middle level: no tracks refused at the start; one missing within data.max_bad_fraction said, and trained"
# a fold's test split holding a clip of its training split (a test clip trained on would be scored): training
# refuses it, data check names the clip and fails
mkdir -p "$tmp/leak" && ln -s "$tmp/data/Clip" "$tmp/leak/Clip" && cp -r "$tmp/data/EmoLabel_DataSplit" "$tmp/leak/"
leaked=$(sed -n 2p "$tmp/leak/EmoLabel_DataSplit/train(single-labeled)/set_1.csv")
echo "$leaked" >>"$tmp/leak/EmoLabel_DataSplit/test(single-labeled)/set_1.csv"
leaked_id=$(printf %05d "${leaked%%,*}")
expect_fail "a test clip in the training split" "share 1 clip ($leaked_id," \
  "$dfer" train "${fc[@]}" --set data.root="$tmp/leak" --out "$tmp/r-leak"
if "$dfer" data check --dataset dfew --root "$tmp/leak" --fold 1 >"$tmp/leak.txt" 2>&1; then
  cat "$tmp/leak.txt"; echo "data check passed a fold whose test clip is in its training split"; exit 1
fi
grep -q "in both splits: 1 clip of the test split is also in the training split .*: $leaked_id$" "$tmp/leak.txt" \
  || { cat "$tmp/leak.txt"; echo "data check did not name the clip in both splits"; exit 1; }
echo "data check: the clip in both splits of fold 1 named ($leaked_id), exit 1"
# MAFW with its face crops (data/faces): a clip whose folder is missing is unreadable there, named by data check,
# not read from its uncropped video without a word
"$dfer" synth --layout mafw --clips 12 --size 32 --min-frames 4 --max-frames 6 --seed 4 --out "$tmp/mafw" 2>/dev/null
gone=$(sed -n 1p "$tmp/mafw/single/no_caption/set_1/test.txt" | cut -d. -f1)
rm -r "$tmp/mafw/data/faces/$gone"
if "$dfer" data check --dataset mafw --root "$tmp/mafw" --fold 1 >"$tmp/mafw.txt" 2>&1; then
  cat "$tmp/mafw.txt"; echo "data check passed MAFW with a clip's face folder missing"; exit 1
fi
grep -q "unreadable: .*data/faces/$gone" "$tmp/mafw.txt" && grep -q "unreadable clips: 1$" "$tmp/mafw.txt" \
  || { cat "$tmp/mafw.txt"; echo "data check did not name the missing face folder"; exit 1; }
echo "MAFW: a missing face folder (clip $gone) is an unreadable clip, not its video"
# descriptions longer than the text encoder's context are cut to it when tokenized: said at the start of training
# (their end never reached the model without a word)
"$python" - "$tmp/data" "$tmp/long.jsonl" <<'PY'
import json, sys
clips = [json.loads(l) for l in open(f"{sys.argv[1]}/synth/clips.jsonl")]
with open(sys.argv[2], "w") as f:
    for i, c in enumerate(clips):
        text = "The lips part. " * (80 if i % 2 else 2) + "The eyebrows rise at the end."
        f.write(json.dumps({"clip": c["id"], "text": text}) + "\n")
PY
"$dfer" train "${fc[@]}" --set model.variant=low+high --set model.descriptions="$tmp/long.jsonl" --stop-after 1 \
  --out "$tmp/r-long" >"$tmp/long.log" 2>&1 || { cat "$tmp/long.log"; echo "training with long descriptions failed"; exit 1; }
grep -q "12 of the 24 descriptions are longer than the text encoder's context of 248 tokens (the longest 329; the first: clip 00002)" "$tmp/long.log" \
  || { cat "$tmp/long.log"; echo "descriptions cut to the context without a word"; exit 1; }
echo "long descriptions: $(grep -o '12 of the 24 descriptions[^(]*' "$tmp/long.log")warned of"
# commands that read a run directory say what is wrong with the one they were given
mkdir -p "$tmp/not-a-run"
for cmd in "eval --run" "export --out $tmp/x.safetensors --run" "predict --video $tmp/none.mp4 --checkpoint"; do
  # shellcheck disable=SC2086 # (the command's words)
  expect_fail "dfer ${cmd%% *}, no run" "$tmp/none: no such run directory" "$dfer" $cmd "$tmp/none"
  # shellcheck disable=SC2086
  expect_fail "dfer ${cmd%% *}, not a run" "no config.ini: not a run directory" "$dfer" $cmd "$tmp/not-a-run"
done
# A DFER-CLIP-style list whose test split holds a label (9) the training split's 7 classes lack.
"$python" - "$tmp/data" <<'PY'
import json, sys
root = sys.argv[1]
clips = [json.loads(l) for l in open(f"{root}/synth/clips.jsonl")]
with open(f"{root}/train.txt", "w") as f:
    for c in clips[:16]:
        f.write(f"{c['frames_path']} {c['frames']} {c['label']}\n")
with open(f"{root}/test.txt", "w") as f:
    for c in clips[16:23]:
        f.write(f"{c['frames_path']} {c['frames']} {c['label']}\n")
    f.write(f"{clips[23]['frames_path']} {clips[23]['frames']} 9\n")
PY
expect_fail "test label outside the classes" "has label 9, but the training split" \
  "$dfer" train "${fc[@]}" --set data.dataset=list --set data.train_list="$tmp/data/train.txt" \
  --set data.test_list="$tmp/data/test.txt" --out "$tmp/r2"
# Lists: data.classes bounds the labels and is for lists only; a list whose labels run 1..7 (counted from 1) is
# trained with a warning; data.augment sets a list's training augmentation (auto: crop and flip only); an 11-class
# run evaluated on a test list without labels of 7 or more keeps its 11 classes (it used to become a 7-class model).
"$python" - "$tmp/data" <<'PY'
import json, sys
root = sys.argv[1]
clips = [json.loads(l) for l in open(f"{root}/synth/clips.jsonl")]
def write(name, rows):
    with open(f"{root}/{name}", "w") as f:
        for c, label in rows:
            f.write(f"{c['frames_path']} {c['frames']} {label}\n")
write("train1.txt", [(c, c["label"] + 1) for c in clips[:16]] + [(clips[16], 7)])
write("train11.txt", [(c, c["label"]) for c in clips[:16]] + [(clips[16], 9)])
write("test7.txt", [(c, min(c["label"], 6)) for c in clips[17:]])
PY
lists=(--set data.dataset=list --set data.test_list="$tmp/data/test7.txt")
expect_fail "a label outside data.classes" "outside data.classes = 7" "$dfer" train "${fc[@]}" "${lists[@]}" \
  --set data.train_list="$tmp/data/train1.txt" --set data.classes=7 --out "$tmp/l1"
expect_fail "data.classes of a dataset with its own classes" "is for data.dataset = list" \
  "$dfer" train "${fc[@]}" --set data.classes=11 --out "$tmp/l1"
expect_fail "data.classes neither 7 nor 11" "7 or 11 classes" "$dfer" train "${fc[@]}" "${lists[@]}" \
  --set data.train_list="$tmp/data/train1.txt" --set data.classes=9 --out "$tmp/l1"
"$dfer" train "${fc[@]}" "${lists[@]}" --set data.train_list="$tmp/data/train1.txt" --set data.augment=dfew \
  --out "$tmp/l1" 2>"$tmp/l1.log" >&2
grep -q "no clip has label 0 and the largest is 7" "$tmp/l1.log" \
  || { echo "a list counted from 1 trained without a warning:"; cat "$tmp/l1.log"; exit 1; }
grep -q "finecliper on the lists $tmp/data/train1.txt (train) and $tmp/data/test7.txt (test): 17 train / [0-9]* test clips" \
  "$tmp/l1.log" || { echo "the run's first line does not name its lists:"; grep "train /" "$tmp/l1.log"; exit 1; }
grep -q "training augmentation (dfew): brightness x U\[0.5, 1.5\], random sized crop" "$tmp/l1.log" \
  || { echo "data.augment = dfew did not give DFEW's augmentation:"; grep -i augment "$tmp/l1.log"; exit 1; }
"$dfer" train "${fc[@]}" "${lists[@]}" --set data.train_list="$tmp/data/train11.txt" --out "$tmp/l11" 2>"$tmp/l11.log" >&2
grep -q "training augmentation (the dataset's): random sized crop (area U\[0.6, 1\]) to [0-9]*, horizontal flip$" \
  "$tmp/l11.log" || { echo "a list's default augmentation is not crop and flip:"; grep -i augment "$tmp/l11.log"; exit 1; }
"$dfer" eval --run "$tmp/l11" >"$tmp/eval11.txt"
grep -q "classes: happiness.*, disappointment)" "$tmp/eval11.txt" \
  || { echo "an 11-class list run was evaluated with fewer classes:"; cat "$tmp/eval11.txt"; exit 1; }
echo "lists: data.classes checked, a list counted from 1 warned of, data.augment applied, an 11-class run evaluated" \
  "with its 11 classes on a test list of labels 0..6"
# keep_tensors SRC DST EXPR: a copy of the safetensors file SRC with the tensors whose name k makes the Python
# expression EXPR true (and its metadata); fails when that drops none
keep_tensors() {
  "$python" - "$@" <<'PY'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
meta = header.pop("__metadata__", None)
keep = {k: v for k, v in header.items() if eval(sys.argv[3], {"k": k})}
assert len(keep) < len(header), f"{sys.argv[3]} keeps every tensor of {sys.argv[1]}"
blobs, out, offset = [], {}, 0
for k, v in keep.items():
    b, e = v["data_offsets"]
    blobs.append(data[8 + n + b:8 + n + e])
    out[k] = {"dtype": v["dtype"], "shape": v["shape"], "data_offsets": [offset, offset + e - b]}
    offset += e - b
if meta:  # another writer's file now: dfer's digest of the tensors it wrote no longer applies
    meta.pop("dfer_payload_murmur3", None)
    out["__metadata__"] = meta
h = json.dumps(out).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PY
}
# Weights without a text tower: the vision half of the CLIP (a CLIPVisionModel-style file).
keep_tensors "$tmp/clip.safetensors" "$tmp/vision.safetensors" 'k.startswith("vision_model.") or k == "visual_projection.weight"'
cp "$tmp/bpe_simple_vocab_16e6.txt.gz" "$tmp/vocab.txt.gz"
for method in finecliper dfer_clip; do
  expect_fail "$method with weights without a text tower" "both towers" \
    "$dfer" train --config "$src/configs/synth/$method.ini" "${common[@]}" --set model.weights="$tmp/vision.safetensors" \
    --set model.vocab="$tmp/vocab.txt.gz" --out "$tmp/r3-$method"
done
# dfer eval: a finished run evaluates; the trained parameters of another architecture are refused.
"$dfer" train "${fc[@]}" --out "$tmp/fc" --resume >/dev/null 2>"$tmp/fc.err"
grep -q "$tmp/fc holds no checkpoint to resume: starting a new run there" "$tmp/fc.err" \
  || { cat "$tmp/fc.err"; echo "--resume into a folder without a run started one without a word"; exit 1; }
"$dfer" train --config "$src/configs/synth/dfer_clip.ini" "${common[@]}" --out "$tmp/dc" >/dev/null
"$dfer" eval --run "$tmp/fc" >"$tmp/eval.txt"
grep -q "UAR" "$tmp/eval.txt" || { echo "dfer eval printed no UAR:"; cat "$tmp/eval.txt"; exit 1; }
echo "dfer eval of a finished run: $(grep UAR "$tmp/eval.txt" | head -n 1)"
# dfer export of a DFER-CLIP run whose model file lacks a layer of the encoder: refused (the base CLIP's layer filled
# the gap); the whole run exports
"$dfer" export --run "$tmp/dc" --out "$tmp/dc-clip.safetensors" >/dev/null
mkdir -p "$tmp/dc-partial" && cp "$tmp/dc/config.ini" "$tmp/dc-partial/"
keep_tensors "$tmp/dc/model.safetensors" "$tmp/dc-partial/model.safetensors" 'not k.startswith("image_encoder.layers.1.")'
expect_fail "export of a run without a layer of its encoder" "the fine-tuned image encoder lacks vision_model.encoder.layers.1." \
  "$dfer" export --run "$tmp/dc-partial" --out "$tmp/partial.safetensors"
[ ! -e "$tmp/partial.safetensors" ] || { echo "a refused export left a file"; exit 1; }
# a run tensor of the right size in the other shape (it was written over the base's, the bytes read the other way)
# and one holding NaN (a diverged run's encoder) are refused, naming the tensor
edit_tensor() { # SRC DST NAME swap|nan: the tensor's 2-D shape reversed, or its values NaN; dfer's digest dropped
  "$python" - "$@" <<'PY'
import json, struct, sys
src, dst, name, how = sys.argv[1:5]
data = open(src, "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header, body = json.loads(data[8:8 + n]), bytearray(data[8 + n:])
t = header[name]
if how == "swap":
    t["shape"] = t["shape"][::-1]
else:
    b, e = t["data_offsets"]
    body[b:e] = struct.pack("<f", float("nan")) * ((e - b) // 4)
header.get("__metadata__", {}).pop("dfer_payload_murmur3", None)
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + bytes(body))
PY
}
for how in swap nan; do
  mkdir -p "$tmp/dc-$how" && cp "$tmp/dc/config.ini" "$tmp/dc-$how/"
  edit_tensor "$tmp/dc/model.safetensors" "$tmp/dc-$how/model.safetensors" image_encoder.layers.0.mlp.fc1.weight "$how"
done
expect_fail "export of a tensor in another shape" "image_encoder.layers.0.mlp.fc1.weight (for vision_model.encoder.layers.0.mlp.fc1.weight) is" \
  "$dfer" export --run "$tmp/dc-swap" --out "$tmp/swap.safetensors"
expect_fail "export of a tensor holding NaN" "image_encoder.layers.0.mlp.fc1.weight holds" \
  "$dfer" export --run "$tmp/dc-nan" --out "$tmp/nan.safetensors"
[ ! -e "$tmp/swap.safetensors" ] && [ ! -e "$tmp/nan.safetensors" ] || { echo "a refused export left a file"; exit 1; }
# a run's model.safetensors holding a tensor its model does not have (another configuration's file): eval refuses it
mkdir -p "$tmp/fc-extra" && cp "$tmp/fc/config.ini" "$tmp/fc-extra/"
"$python" - "$tmp/fc/model.safetensors" "$tmp/fc-extra/model.safetensors" <<'PY'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header, body = json.loads(data[8:8 + n]), data[8 + n:]
header["mid.extra.weight"] = {"dtype": "F32", "shape": [2], "data_offsets": [len(body), len(body) + 8]}
header.get("__metadata__", {}).pop("dfer_payload_murmur3", None)
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + body + bytes(8))
PY
expect_fail "a model file with a tensor the run's model lacks" "tensor mid.extra.weight is not a parameter of the run's model (finecliper low in" \
  "$dfer" eval --run "$tmp/fc-extra"
# CLIP weights holding NaN: refused at load, naming the file and the tensor (every step skipped for an epoch, then
# the evaluation failed without naming either)
edit_tensor "$tmp/clip.safetensors" "$tmp/clip-nan.safetensors" vision_model.encoder.layers.0.mlp.fc1.weight nan
expect_fail "CLIP weights holding NaN" "clip-nan.safetensors: tensor vision_model.encoder.layers.0.mlp.fc1.weight holds" \
  "$dfer" train "${fc[@]}" --set model.weights="$tmp/clip-nan.safetensors" --out "$tmp/r-nan"
# export never writes over what it reads or the run keeps
cp "$tmp/dc/model.safetensors" "$tmp/dc-model.bak"
expect_fail "export onto the run's own parameters" "which the export reads or the run keeps" \
  "$dfer" export --run "$tmp/dc" --out "$tmp/dc/model.safetensors"
expect_fail "export onto the run's base CLIP" "the run's base CLIP (model.weights)" \
  "$dfer" export --run "$tmp/dc" --out "$tmp/clip.safetensors"
cmp "$tmp/dc/model.safetensors" "$tmp/dc-model.bak" || { echo "a refused export changed the run's parameters"; exit 1; }
# another CLIP at the base's path (the same architecture, another seed): the finished run's eval and export refuse
# it, naming both digests; with the run's file back they work again
cp "$tmp/clip.safetensors" "$tmp/clip.bak"
"$dfer" init --arch tiny --seed 9 --out "$tmp/clip.safetensors" >/dev/null
expect_fail "eval with another base CLIP at the run's path" "$tmp/clip.safetensors is not the CLIP checkpoint the run trained with" \
  "$dfer" eval --run "$tmp/dc"
expect_fail "export with another base CLIP at the run's path" "is not the CLIP checkpoint the run trained with" \
  "$dfer" export --run "$tmp/dc" --out "$tmp/other.safetensors"
mv "$tmp/clip.bak" "$tmp/clip.safetensors"
"$dfer" eval --run "$tmp/dc" >/dev/null || { echo "eval with the run's own CLIP back failed"; exit 1; }
# another dataset of other classes: a 7-class DFER-CLIP run (a prompt context per class) on MAFW's 11 is refused with
# the counts named (its load failed on the tensor's shape, "another configuration?"); FineCLIPER, whose classes are
# prompts, evaluates there with MAFW's 11
"$dfer" synth --layout mafw --clips 12 --size 32 --min-frames 4 --max-frames 6 --seed 5 --out "$tmp/mafw11" 2>/dev/null
expect_fail "eval of a 7-class DFER-CLIP run on MAFW" "$tmp/dc was trained on 7 classes (dfew), but mafw has 11" \
  "$dfer" eval --run "$tmp/dc" --dataset mafw --root "$tmp/mafw11"
"$dfer" eval --run "$tmp/fc" --dataset mafw --root "$tmp/mafw11" >"$tmp/eval-mafw.txt" 2>&1 \
  && grep -q "on mafw test split .*classes: happiness.*, disappointment)" "$tmp/eval-mafw.txt" \
  || { cat "$tmp/eval-mafw.txt"; echo "a 7-class FineCLIPER run was not evaluated on MAFW's 11 classes"; exit 1; }
echo "eval on MAFW: a 7-class DFER-CLIP run refused with the class counts, FineCLIPER evaluated on its 11 classes"
cp "$tmp/dc/model.safetensors" "$tmp/fc/model.safetensors"
expect_fail "eval with the parameters of another architecture" "does not match the model" "$dfer" eval --run "$tmp/fc"
expect_fail "eval of a directory without a run" "config.ini" "$dfer" eval --run "$tmp/data"
# A diverging run (a learning rate of 1e30: the second update makes the parameters infinite): with
# train.nonfinite=abort it stops at the first non-finite step, named as the log counts steps (from 1);
# with skip it goes on, warns of each skipped step, and metrics.jsonl stays JSON (a non-finite loss or
# gradient norm is null there, never "nan"); its evaluation, whose logits are not finite, scores nothing and
# ends the run with exit 1 (each NaN row was read as class 0, and the epoch reported as a real one, "done").
diverge=(--set optim.lr=1e30 --set train.log_every=1 --set train.max_steps_per_epoch=4)
expect_fail "a diverging run with train.nonfinite=abort" "non-finite loss or gradient at epoch 1 step 3" \
  "$dfer" train "${fc[@]}" "${diverge[@]}" --set train.nonfinite=abort --out "$tmp/nf-abort"
expect_fail "a diverging run with train.nonfinite=skip, evaluated" \
  "evaluation after epoch 1: 8 of the test clips of $tmp/data/EmoLabel_DataSplit/test(single-labeled)/set_1.csv got non-finite logits" \
  "$dfer" train "${fc[@]}" "${diverge[@]}" --set train.nonfinite=skip --out "$tmp/nf-skip"
cp "$tmp/err" "$tmp/nf.log"
grep -q "epoch 1 step 3: non-finite loss or gradient, update skipped" "$tmp/nf.log" \
  || { echo "a skipped non-finite step is not named as the log counts it:"; cat "$tmp/nf.log"; exit 1; }
[ ! -e "$tmp/nf-skip/result.json" ] && [ ! -e "$tmp/nf-skip/best_model.safetensors" ] \
  || { echo "a diverged run wrote a result or a best model"; exit 1; }
"$python" - "$tmp/nf-skip/metrics.jsonl" <<'PY' || exit 1
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"step"' in l]
steps = [s for s in steps if s.get("type") == "step"]
assert len(steps) == 4, steps
assert all(isinstance(s["loss"], float) for s in steps[:2]), steps[:2]
assert steps[2]["loss"] is None and steps[2]["grad_norm"] is None, steps[2]
print("a diverging run: aborted at step 3 with train.nonfinite=abort; with skip, metrics.jsonl stays JSON "
      "(steps 3 and 4: loss and grad_norm null)")
PY
# Unreadable clips past data.max_bad_fraction under 2 ranks: the ranks sum their counts and stop together,
# with the message and exit 1, in training and in the evaluation (a rank deciding alone left the other
# waiting in a collective until the hang watchdog ended the run with status 4, its message lost).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$dfer" synth --layout dfew --clips 24 --size 48 --min-frames 6 --max-frames 10 --seed 4 --out "$tmp/bad-train" 2>/dev/null
cp -r "$tmp/bad-train" "$tmp/bad-test"
split_ids() { tail -n +2 "$1/EmoLabel_DataSplit/$2(single-labeled)/set_1.csv" | cut -d, -f1; }
for id in $(split_ids "$tmp/bad-train" train | head -n 2); do rm -r "$tmp/bad-train/Clip/clip_224x224/$(printf %05d "$id")"; done
rm -r "$tmp/bad-test/Clip/clip_224x224/$(printf %05d "$(split_ids "$tmp/bad-test" test | head -n 1)")"
for which in train test; do
  rc=0
  timeout 300 mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" train "${fc[@]}" --set data.root="$tmp/bad-$which" \
    --set data.max_bad_fraction=0.01 --set train.hang_minutes=0.3 --set train.max_steps_per_epoch=0 \
    --out "$tmp/bad-$which-run" >"$tmp/bad.log" 2>&1 || rc=$?
  [ "$rc" = 1 ] && grep -q "of the [0-9]* clips read so far could not be read (more than 1%" "$tmp/bad.log" \
    && grep -q "the first on this rank: $tmp/bad-$which/Clip/clip_224x224/[0-9]*: " "$tmp/bad.log" \
    && ! grep -q "no progress" "$tmp/bad.log" \
    || { echo "unreadable $which clips under 2 ranks: exit $rc"; cat "$tmp/bad.log"; exit 1; }
  # a clip's failure is logged once by each rank's loader, not at every replacement that walks past it
  most=$(grep -o "skipping an unreadable clip ([^)]*)" "$tmp/bad.log" | sort | uniq -c | awk '{print $1}' | sort -rn \
    | head -n 1)
  [ -n "$most" ] && [ "$most" -le 2 ] \
    || { echo "unreadable $which clips: a clip warned of ${most:-0} times by 2 ranks"; cat "$tmp/bad.log"; exit 1; }
  echo "unreadable $which clips under 2 ranks: both stop, $(grep -m1 -o '[0-9]* of the [0-9]* clips read so far' "$tmp/bad.log")"
done
