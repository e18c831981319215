#!/usr/bin/env bash
# What a run leaves besides its model and scores.
# Trained with relative paths, its config.ini names the weights and data absolutely, so `dfer eval` works from
# another folder.
# Its inputs (result.json "inputs"): the weights, the vocabulary and both split files, each with its absolute
# path, size and SHA-256 (as sha256sum computes them), the splits with their clip counts; the log names the
# weights' digest.
# Every test clip's prediction, as training leaves it (RUN/predictions.csv, its last evaluation) and as
# `dfer eval --predictions F` writes it:
#   - one row per test clip in the split file's order, with the clip's label; each row's probabilities
#     sum to 1 and its `predicted` is their argmax; the share of rows predicted right is the WAR printed
#     and logged, and the recall of each class the UAR;
#   - dfer eval of the finished run writes the same file as training did; --best evaluates
#     best_model.safetensors (the log names it);
#   - 2 ranks (each evaluates its shard; the rows meet on rank 0) give the 1-rank file's labels and
#     predictions, probabilities within 1e-5;
#   - dfer eval's loss (FineCLIPER's low level: the cross-entropy of the clip's class probabilities) is
#     the mean of -log p(label) over the rows;
#   - a test clip that cannot be read is left out of the scores and the loss: its row has no prediction,
#     no other clip is scored twice, and the printed WAR, loss and clip count are the rows' that have one;
#     the log says how many were left out.
# usage: eval_predictions.sh DFER SOURCE_DIR SHARED_DIR PYTHON
set -euo pipefail
dfer=$1 src=$2 shared=$3 python=$4
tmp=$(mktemp -d /tmp/dfer-eval-predictions-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "FAIL: $*"; exit 1; }
"$dfer" synth --layout dfew --clips 80 --size 48 --min-frames 6 --max-frames 10 --seed 5 --out "$tmp/data" 2>/dev/null
"$dfer" init --arch tiny --seed 3 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
# trained with paths relative to $tmp; everything after runs elsewhere (config.ini names the files absolutely)
(cd "$tmp" && "$dfer" train --config "$src/configs/synth/finecliper.ini" --set data.root=data \
  --set model.weights=./clip.safetensors --set train.epochs=2 --set train.batch=4 --set train.eval_batch=3 \
  --set data.frames=2 --set train.threads=1 --set data.loader_threads=1 --set train.max_steps_per_epoch=8 \
  --set data.max_bad_fraction=0.2 \
  --out run) >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; fail "training"; }
real=$(cd "$tmp" && pwd -P)
grep -qx "weights = $real/clip.safetensors" "$tmp/run/config.ini" && grep -qx "root = $real/data" "$tmp/run/config.ini" \
  || { grep -E "^(weights|root) =" "$tmp/run/config.ini"; fail "config.ini does not name the weights and data absolutely"; }
split="$tmp/data/EmoLabel_DataSplit/test(single-labeled)/set_1.csv"

# result.json's epochs are the log's and metrics.jsonl's (counted from 1): best is the first evaluation with the
# highest WAR, last the final one
"$python" - "$tmp/run" "$tmp/train.log" <<'PY' || fail "result.json's epochs"
import json, re, sys
r = json.load(open(sys.argv[1] + "/result.json"))
evals = [d for d in map(json.loads, open(sys.argv[1] + "/metrics.jsonl")) if d["type"] == "eval"]
best = max(evals, key=lambda d: (d["war"], -d["epoch"]))
assert r["epoch_counted_from"] == 1, r.get("epoch_counted_from")
assert (r["best"]["epoch"], r["best"]["war"]) == (best["epoch"], best["war"]), (r["best"]["epoch"], best)
assert r["last"]["epoch"] == evals[-1]["epoch"] == 2, (r["last"]["epoch"], evals[-1]["epoch"])
said = re.search(r"best WAR [0-9.]+ UAR [0-9.]+ \(epoch ([0-9]+)\)", open(sys.argv[2]).read())
assert said and int(said.group(1)) == r["best"]["epoch"], said and said.group(0)
print("result.json: best epoch %d and last %d, as metrics.jsonl and the log count them" % (r["best"]["epoch"],
      r["last"]["epoch"]))
PY

"$python" - "$tmp/run/result.json" "$tmp" <<'PY' || fail "result.json's inputs"
import hashlib, json, os, sys
inputs = json.load(open(sys.argv[1]))["inputs"]
tmp = os.path.realpath(sys.argv[2])
want = {"weights": tmp + "/clip.safetensors", "vocab": tmp + "/bpe_simple_vocab_16e6.txt.gz",
        "train_split": tmp + "/data/EmoLabel_DataSplit/train(single-labeled)/set_1.csv",
        "test_split": tmp + "/data/EmoLabel_DataSplit/test(single-labeled)/set_1.csv"}
assert sorted(inputs) == sorted(want), sorted(inputs)
for name, path in want.items():
    e = inputs[name]
    data = open(path, "rb").read()
    assert e["path"] == path, (name, e["path"])
    assert (e["bytes"], e["sha256"]) == (len(data), hashlib.sha256(data).hexdigest()), name
for name in ("train_split", "test_split"):
    rows = [l for l in open(want[name]) if l.strip() and not l.startswith("video_name")]
    assert inputs[name]["clips"] == len(rows), (name, inputs[name]["clips"], len(rows))
print("result.json inputs: weights %s..., vocabulary, train (%d clips) and test (%d) split files, digests as hashlib's"
      % (inputs["weights"]["sha256"][:12], inputs["train_split"]["clips"], inputs["test_split"]["clips"]))
PY
sha=$(sha256sum "$tmp/clip.safetensors" | cut -c1-16)
grep -q "weights $real/clip.safetensors: [0-9.]* MiB, sha256 $sha\.\.\." "$tmp/train.log" || { cat "$tmp/train.log"; fail "the log does not name the weights' digest"; }

# check CSV [EVAL_OUTPUT]: the rows against the split file and the probabilities; prints "n_scored war uar"
check() {
  "$python" - "$1" "$split" "${2:-}" <<'PY'
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
names = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
split = [l.strip().split(",") for l in open(sys.argv[2]) if l.strip() and not l.startswith("video_name")]
assert [r["clip"] for r in rows] == ["%05d" % int(v) for v, _ in split], "rows are not the split file's clips in order"
order = {"1": "happiness", "2": "sadness", "3": "neutral", "4": "anger", "5": "surprise", "6": "disgust", "7": "fear"}
assert [r["label"] for r in rows] == [order[l] for _, l in split], "labels differ from the split file's"
scored = [r for r in rows if r["predicted"]]
for r in scored:
    p = [float(r[n]) for n in names]
    assert abs(sum(p) - 1) < 1e-5, "probabilities of %s sum to %g" % (r["clip"], sum(p))
    assert r["predicted"] == names[p.index(max(p))], "predicted is not the argmax for %s" % r["clip"]
for r in rows:
    if not r["predicted"]:
        assert all(r[n] == "" for n in names), "an unscored row has probabilities"
war = 100.0 * sum(r["label"] == r["predicted"] for r in scored) / len(scored)
recalls = []  # the classes of the split and those predicted (one predicted but absent recalls 0), as sklearn's
for n in names:  # confusion_matrix(normalize="true").diagonal().mean()
    of = [r for r in scored if r["label"] == n]
    if of: recalls.append(100.0 * sum(r["predicted"] == n for r in of) / len(of))
    elif any(r["predicted"] == n for r in scored): recalls.append(0.0)
print(len(scored), "%.2f" % war, "%.2f" % (sum(recalls) / len(recalls)))
PY
}
# loss_check CSV EVAL_OUTPUT: the printed loss against the mean of -log p(label) over the scored rows
loss_check() {
  "$python" - "$@" <<'PY'
import csv, math, re, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["predicted"]]
want = sum(-math.log(float(r[r["label"]])) for r in rows) / len(rows)
got = float(re.search(r"^loss (\S+) ", open(sys.argv[2]).read(), re.M).group(1))
assert abs(got - want) < 1e-4 * max(1, want), "loss %.6f printed, the rows give %.6f" % (got, want)
print("%.6f" % got)
PY
}
read -r n war uar < <(check "$tmp/run/predictions.csv") || fail "training's predictions.csv"
last=$(grep '"type":"eval"' "$tmp/run/metrics.jsonl" | tail -n 1)
logged=$("$python" -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.2f %.2f" % (d["war"], d["uar"]))' "$last")
[ "$logged" = "$war $uar" ] || fail "predictions.csv gives WAR/UAR $war $uar, the last evaluation logged $logged"
echo "training's predictions.csv: $n clips, WAR $war UAR $uar as the last evaluation logged"
# result.json's recalls give back its UAR, and classes_scored says over how many, on a real run (a class predicted but
# absent, which has the recall 0 the UAR counts where it had -1, is test_metrics' case: this split may hold every
# class)
"$python" - "$tmp/run/result.json" <<'PY' || fail "result.json's recalls and classes_scored"
import json, sys
r = json.load(open(sys.argv[1]))
for key in ("best", "last"):
    s = r[key]
    scored = [v for v in s["recall"] if v >= 0]
    assert s["classes_scored"] == len(scored), (key, s["classes_scored"], s["recall"])
    assert abs(sum(scored) / len(scored) - s["uar"]) < 1e-9, (key, s["uar"], s["recall"])
PY

"$dfer" eval --run "$tmp/run" --predictions "$tmp/eval.csv" >"$tmp/eval.txt" 2>&1 || { cat "$tmp/eval.txt"; fail "dfer eval"; }
# a test split of the clips the model gave its most predicted class but which are of another: that class is
# predicted and absent, listed with its 0 recall, so the printed UAR is the mean of the printed recalls (it was not:
# such a class was left out of the list)
mkdir -p "$tmp/two" && ln -s "$tmp/data/Clip" "$tmp/two/Clip" && cp -r "$tmp/data/EmoLabel_DataSplit" "$tmp/two/"
"$python" - "$tmp/eval.csv" "$split" "$tmp/two/EmoLabel_DataSplit/test(single-labeled)/set_1.csv" <<'PY'
import collections, csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
top = collections.Counter(r["predicted"] for r in rows if r["predicted"]).most_common(1)[0][0]
wrong = {int(r["clip"]) for r in rows if r["predicted"] == top and r["label"] != top}
assert wrong, "the model gave every clip of its most predicted class that class"
lines = open(sys.argv[2]).read().splitlines()
open(sys.argv[3], "w").write("\n".join([lines[0]] + [l for l in lines[1:] if int(l.split(",")[0]) in wrong]) + "\n")
PY
"$dfer" eval --run "$tmp/run" --dataset dfew --root "$tmp/two" >"$tmp/two.out" 2>&1 || { cat "$tmp/two.out"; fail "eval on the clips of other classes"; }
"$python" - "$tmp/two.out" <<'PY' || { cat "$tmp/two.out"; fail "the printed UAR is not the mean of the printed recalls"; }
import re, sys
text = open(sys.argv[1]).read()
uar = float(re.search(r"^UAR ([0-9.]+)", text, re.M).group(1))
recalls = [float(x) for x in re.findall(r"^  \S+ +recall +([0-9.]+)", text, re.M)]
absent = re.findall(r"^  (\S+) +recall   0.00  \(no clip of it; predicted [0-9]+ times?", text, re.M)
assert absent and abs(sum(recalls) / len(recalls) - uar) < 0.0101, (uar, recalls, absent)  # each rounded to 0.01
# a UAR over fewer classes than the dataset's says how many
over = re.search(r"^UAR [0-9.]+  WAR [0-9.]+  \(the UAR over the ([0-9]+) classes the split holds or the model "
                 r"predicted, of 7\)$", text, re.M)
assert (over and int(over.group(1)) == len(recalls)) if len(recalls) < 7 else not over, (len(recalls), over)
print("eval on clips of other classes than the one predicted: UAR %.2f, the mean of %d recalls, %d of them of "
      "classes predicted but absent (%s)"
      % (uar, len(recalls), len(absent), ", ".join(absent)))
PY
cmp -s "$tmp/eval.csv" "$tmp/run/predictions.csv" || fail "dfer eval's predictions differ from training's last evaluation"
grep -q "UAR $uar  WAR $war" "$tmp/eval.txt" || { cat "$tmp/eval.txt"; fail "dfer eval prints other scores"; }
loss=$(loss_check "$tmp/eval.csv" "$tmp/eval.txt") || { cat "$tmp/eval.txt"; fail "dfer eval's loss"; }
"$dfer" eval --run "$tmp/run" --best --predictions "$tmp/best.csv" >"$tmp/best.txt" 2>&1 || fail "dfer eval --best"
grep -q "best_model.safetensors on dfew" "$tmp/best.txt" && check "$tmp/best.csv" >/dev/null || fail "--best"
# --best on a run without best_model.safetensors says which file is missing (it named model.safetensors too)
mkdir -p "$tmp/nobest" && cp "$tmp/run"/*.ini "$tmp/run"/*.json "$tmp/run/model.safetensors" "$tmp/nobest/"
rc=0; "$dfer" eval --run "$tmp/nobest" --best >/dev/null 2>"$tmp/nobest.err" || rc=$?
[ "$rc" = 1 ] && grep -q "no best_model.safetensors .* (model.safetensors, the last parameters, is there: leave out --best)" "$tmp/nobest.err" \
  || { cat "$tmp/nobest.err"; fail "--best without best_model.safetensors: exit $rc"; }
echo "dfer eval: the same file as training's; --best evaluates best_model.safetensors (and says when there is none)"

mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" eval --run "$tmp/run" --predictions "$tmp/two.csv" \
  >"$tmp/two.txt" 2>&1 || { cat "$tmp/two.txt"; fail "2-rank dfer eval"; }
"$python" - "$tmp/eval.csv" "$tmp/two.csv" <<'PY' || fail "2 ranks"
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
assert len(a) == len(b)
worst = 0
for x, y in zip(a, b):
    assert (x["clip"], x["label"], x["predicted"]) == (y["clip"], y["label"], y["predicted"]), (x, y)
    worst = max([worst] + [abs(float(x[k]) - float(y[k])) for k in x if k not in ("clip", "label", "predicted")])
assert worst < 1e-5, worst
print("2 ranks: the 1-rank rows, probabilities within %.1g" % worst)
PY

# an unreadable test clip: its frames gone (the last one: the loader checks the share of bad clips from the 4th read on)
gone=$(tail -n 1 "$tmp/run/predictions.csv" | cut -d, -f1)
rm -r "$tmp/data/Clip/clip_224x224/$gone"
"$dfer" eval --run "$tmp/run" --predictions "$tmp/gone.csv" >"$tmp/gone.txt" 2>"$tmp/gone.err" \
  || { cat "$tmp/gone.txt" "$tmp/gone.err"; fail "dfer eval with an unreadable clip"; }
grep -q "1 test clip could not be read: left out of the scores and the loss" "$tmp/gone.err" || { cat "$tmp/gone.err"; fail "no warning"; }
read -r n2 war2 _ < <(check "$tmp/gone.csv") || fail "the predictions with an unreadable clip"
[ "$n2" = $((n - 1)) ] || fail "$n2 scored rows, want $((n - 1))"
[ -z "$(grep "^$gone," "$tmp/gone.csv" | cut -d, -f3)" ] || fail "the unreadable clip has a prediction"
grep -q "($n2 clips; " "$tmp/gone.txt" && grep -qE "WAR $war2(\$|  \(the UAR over the [0-9]+ classes)" "$tmp/gone.txt" \
  || { cat "$tmp/gone.txt"; fail "dfer eval's count or WAR is not the scored rows' ($n2, $war2)"; }
loss2=$(loss_check "$tmp/gone.csv" "$tmp/gone.txt") || { cat "$tmp/gone.txt"; fail "the loss with an unreadable clip"; }
echo "an unreadable test clip: no prediction, left out of the scores and the loss ($n2 clips, WAR $war2, loss $loss2 against $loss), warned"
