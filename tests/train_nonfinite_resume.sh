#!/usr/bin/env bash
# A run with train.nonfinite = skip stopped inside a logging window that holds a skipped step resumes: the window's
# summed loss is NaN, which the checkpoint's position wrote as "nan" (no JSON), so --resume refused the checkpoint
# ("no training position in the metadata") and the interrupted run could never go on. Resumed, its metrics.jsonl is
# the uninterrupted run's (the window's loss null in both).
# usage: train_nonfinite_resume.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$1 src=$2 shared=$3
tmp=$(mktemp -d /tmp/dfer-nf-resume-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$dfer" synth --layout dfew --clips 24 --size 48 --min-frames 6 --max-frames 10 --seed 4 --out "$tmp/data" 2>/dev/null
"$dfer" init --arch tiny --seed 2 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
# a learning rate of 1e30 makes the parameters infinite at the second update: step 3's loss is not finite (skipped)
run=(--config "$src/configs/synth/finecliper.ini" --set data.root="$tmp/data" --set model.weights="$tmp/clip.safetensors"
     --set train.epochs=1 --set train.batch=4 --set train.eval_batch=8 --set data.frames=4 --set train.threads=2
     --set train.max_steps_per_epoch=4 --set optim.lr=1e30 --set train.nonfinite=skip --set train.log_every=2)
# both end with the evaluation's non-finite logits (exit 1): what matters is that both get there
eval_failed="got non-finite logits"
if "$dfer" train "${run[@]}" --out "$tmp/full" >/dev/null 2>"$tmp/full.err"; then echo "the diverging run passed"; exit 1; fi
grep -qF "$eval_failed" "$tmp/full.err" || { echo "uninterrupted run:"; cat "$tmp/full.err"; exit 1; }
# stopped after step 3: the checkpoint's window (steps 3..4 of log_every 2) holds step 3's non-finite loss
set +e
"$dfer" train "${run[@]}" --out "$tmp/stop" --stop-after 3 >/dev/null 2>"$tmp/stop.err"
set -e
[ -f "$tmp/stop/checkpoint.safetensors" ] || { echo "no checkpoint after 3 steps:"; cat "$tmp/stop.err"; exit 1; }
grep -qF "epoch 1 step 3: non-finite loss or gradient, update skipped" "$tmp/stop.err" \
  || { echo "step 3 was not skipped, the window holds no non-finite loss:"; cat "$tmp/stop.err"; exit 1; }
if "$dfer" train "${run[@]}" --out "$tmp/stop" --resume >/dev/null 2>"$tmp/resume.err"; then
  echo "the resumed diverging run passed"; exit 1
fi
grep -qF "$eval_failed" "$tmp/resume.err" || { echo "the run did not resume to its evaluation:"; cat "$tmp/resume.err"; exit 1; }
/usr/bin/python3 - "$tmp/full/metrics.jsonl" "$tmp/stop/metrics.jsonl" <<'PY'
import json, sys
def lines(p):
    return [{k: v for k, v in json.loads(l).items() if not (k.endswith("_s") or k == "clips_per_s")} for l in open(p)]
full, resumed = lines(sys.argv[1]), lines(sys.argv[2])
assert full == resumed, f"metrics.jsonl differs:\n{full}\n{resumed}"
steps = [s for s in full if s.get("type") == "step"]
assert len(steps) == 2 and steps[1]["loss"] is None, steps
print("stopped inside a window holding a skipped step and resumed: metrics.jsonl as uninterrupted (its loss null)")
PY
