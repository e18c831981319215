#!/usr/bin/env bash
# Data-parallel equivalence: 1 rank x batch 8, 2 ranks x 4 and 4 ranks x 2
# (oversubscribed), and (supervised) 1 rank x 4 micro-batches of 2 with the
# gradients accumulated and 1 rank with block recompute (train.recompute), end
# with the same FineCLIPER parameters after several steps,
# in F64: max relative difference below 1e-9 (only the order of the gradient
# sums differs between the runs) — supervised, and contrastive (the zero-shot
# setting: the InfoNCE loss over the global batch, features all-gathered).
# usage: train_dp.sh DFER PYTHON SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$1 py=$2 src=$3 shared=$4
tmp=$(mktemp -d /tmp/dfer-dp-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$dfer" synth --layout dfew --clips 30 --size 48 --min-frames 6 --max-frames 12 --seed 8 --out "$tmp/data" 2>/dev/null
"$dfer" init --arch tiny --seed 4 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
"$dfer" describe --landmarks "$tmp/data/synth/landmarks" --out "$tmp/captions.jsonl" 2>/dev/null
contrastive=(--set train.objective=contrastive --set model.class_prompts=emoclip --set model.descriptions="$tmp/captions.jsonl")
for mode in supervised contrastive; do
  extra=()
  [ $mode = contrastive ] && extra=("${contrastive[@]}")
  runs=(1 2 4)
  # 1 rank, its 8 clips in 4 micro-batches of 2 (gradients accumulated); 1 rank with block recompute
  [ $mode = supervised ] && runs+=(1mb2 1rc)
  for run in "${runs[@]}"; do
    np=${run:0:1} mb=()
    case $run in *mb*) mb=(--set train.micro_batch=${run#*mb}) ;; *rc) mb=(--set train.recompute=blocks) ;; esac
    mpirun --oversubscribe --mca btl self,vader -np $np "$dfer" train --config "$src/configs/synth/finecliper.ini" \
      --set data.root="$tmp/data" --set model.weights="$tmp/clip.safetensors" --set model.dtype=f64 \
      --set train.epochs=1 --set train.batch=8 --set train.eval_batch=8 --set data.frames=4 --set train.threads=1 \
      --set data.loader_threads=1 --set train.log_every=100 "${extra[@]}" "${mb[@]}" --out "$tmp/$mode/np$run" >/dev/null
  done
  "$py" - "$tmp/$mode" $mode <<'PY' || exit 1
import json, struct, sys
import numpy as np
def read(p):
    d = open(p, "rb").read(); (n,) = struct.unpack("<Q", d[:8]); h = json.loads(d[8:8 + n]); h.pop("__metadata__", None)
    return {k: np.frombuffer(d[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], dtype="<f8") for k, v in h.items()}
t = sys.argv[1]
ref = read(f"{t}/np1/model.safetensors")
init_moved = any(np.abs(v).max() > 0 for k, v in ref.items() if "fc2" in k)
worst = 0.0
import os
for np_ in ("2", "4", "1mb2", "1rc"):
    if not os.path.exists(f"{t}/np{np_}"):
        continue
    got = read(f"{t}/np{np_}/model.safetensors")
    for k, v in ref.items():
        worst = max(worst, float(np.abs(got[k] - v).max() / max(np.abs(v).max(), 1e-12)))
print(f"{sys.argv[2]}: 1x8 vs 2x4 vs 4x2 (supervised also 1x4x2 micro-batches and block recompute): {len(ref)} tensors, max relative difference {worst:.2e}; "
      f"up-projections moved from 0: {init_moved}")
sys.exit(0 if worst < 1e-9 and init_moved else 1)
PY
done
