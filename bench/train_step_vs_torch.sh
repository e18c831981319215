#!/usr/bin/env bash
# One training step (forward + backward + SGD update) of FineCLIPER (low level)
# and DFER-CLIP on the CPU, dfer vs the PyTorch reference of
# tests/reference/models_ref.py, side by side in one run: same random CLIP, same
# trainable parameters, same batch, same thread count, both in float32.
# Writes results/bench/cpu_train_step_vs_torch.json.
# usage: bench/train_step_vs_torch.sh [ARCH=demo] [BATCH=4] [FRAMES=8] [THREADS=2] [ITERS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-demo} batch=${2:-4} frames=${3:-8} threads=${4:-2} iters=${5:-5}
build=${DFER_BUILD_DIR:-build}
vocab=${DFER_VOCAB:-../shared/clip/bpe_simple_vocab_16e6.txt.gz}
tmp=$(mktemp -d /tmp/dfer-bench-train-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$build/dfer" init --arch "$arch" --seed 1 --out "$tmp/w.safetensors" >/dev/null
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
results=()
for method in finecliper dfer_clip; do
  set=(model.method=$method model.weights="$tmp/w.safetensors" model.vocab="$vocab" data.frames=$frames
       train.threads=$threads optim.optimizer=sgd optim.momentum=0.9 optim.weight_decay=0.0001)
  [ $method = dfer_clip ] && set+=(model.logit_scale=10 optim.lr=0.00001,0.01,0.001) || set+=(optim.lr=0.01)
  ours=$("$build/bench/bench_train_step" 7 "$batch" "$iters" "${set[@]}")
  "$build/tests/model_dump" "$tmp/$method.safetensors" 7 "$batch" 0 "${set[@]}" >/dev/null
  torch=$(/usr/bin/python3 bench/train_step_torch.py "$tmp/$method.safetensors" "$iters" "$threads")
  rm -f "$tmp/$method.safetensors"
  echo "$ours"
  echo "$torch"
  results+=("$ours" "$torch")
done
mkdir -p results/bench
/usr/bin/python3 - "$arch" "$batch" "$frames" "$threads" "$iters" "${results[@]}" <<'PY'
import json, os, subprocess, sys
sys.path.insert(0, "bench")
import json_atomic
arch, batch, frames, threads, iters = sys.argv[1:6]
rows = [json.loads(x) for x in sys.argv[6:]]
commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
out = {"benchmark": "one training step (forward, backward, SGD update), CPU, fp32", "arch": arch, "batch": int(batch),
       "frames": int(frames), "threads": int(threads), "iters": int(iters), "cpu": cpu, "commit": commit,
       "command": f"bench/train_step_vs_torch.sh {arch} {batch} {frames} {threads} {iters}", "methods": {}}
for ours, torch in zip(rows[0::2], rows[1::2]):
    m = ours["method"]
    ratio = torch["median_step_s"] / ours["median_step_s"]
    out["methods"][m] = {"dfer": ours, "pytorch": torch, "speedup": ratio}
    print(f"{m}: dfer {ours['median_step_s'] * 1e3:.1f} ms/step ({ours['clips_per_s']:.2f} clips/s, peak RSS "
          f"{ours['peak_rss_mib']:.0f} MiB, +{ours['step_rss_growth_mib']:.0f} MiB in the steps), PyTorch "
          f"{torch['median_step_s'] * 1e3:.1f} ms/step (peak RSS {torch['peak_rss_mib']:.0f} MiB, "
          f"+{torch['step_rss_growth_mib']:.0f} MiB): {ratio:.2f}x")
json_atomic.write("results/bench/cpu_train_step_vs_torch.json", out)  # whole or not at all (bench/json_atomic.py)
PY
