#!/usr/bin/env bash
# CPU image-encoder throughput, dfer vs the PyTorch reference, side by side in
# one run, same weights (random B/16-shaped), same batch, same thread count.
# Writes results/bench/cpu_embed_vs_torch.json.
# usage: bench/embed_vs_torch.sh [ARCH=b16] [BATCH=8] [THREADS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-b16} batch=${2:-8} threads=${3:-2}
build=${DFER_BUILD_DIR:-build}
tmp=$(mktemp -d /tmp/dfer-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$build/dfer" init --arch "$arch" --seed 1 --out "$tmp/w.safetensors" >/dev/null
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
ours=$("$build/bench/bench_embed" --weights "$tmp/w.safetensors" --batch "$batch" --iters 3 --threads "$threads")
torch=$(/usr/bin/python3 tests/reference/clip_ref.py --weights "$tmp/w.safetensors" --threads "$threads" \
        --bench-images "$batch" --bench-iters 3)
echo "$ours"
echo "$torch"
mkdir -p results/bench
/usr/bin/python3 - "$ours" "$torch" "$arch" "$batch" "$threads" <<'PY'
import json, os, subprocess, sys, platform
sys.path.insert(0, "bench")
import json_atomic
ours, torch = json.loads(sys.argv[1]), json.loads(sys.argv[2])
commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
res = {"benchmark": "CLIP image encoder forward, CPU, fp32", "arch": sys.argv[3], "batch": int(sys.argv[4]),
       "threads": int(sys.argv[5]), "cpu": cpu, "ours_images_per_s": ours["images_per_s"],
       "pytorch_images_per_s": torch["images_per_s"], "ratio": ours["images_per_s"] / torch["images_per_s"],
       "pytorch": torch.get("version"), "commit": commit,
       "command": f"bench/embed_vs_torch.sh {sys.argv[3]} {sys.argv[4]} {sys.argv[5]}"}
json_atomic.write("results/bench/cpu_embed_vs_torch.json", res)  # whole or not at all (bench/json_atomic.py)
print(f"dfer {res['ours_images_per_s']:.2f} images/s, PyTorch {res['pytorch_images_per_s']:.2f} images/s, "
      f"ratio {res['ratio']:.2f}x")
PY
