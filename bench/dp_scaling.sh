#!/usr/bin/env bash
# Data-parallel training on the CPU: step time and the share of it spent in the
# gradient all-reduce (MPI; including the wait for the slowest rank) for 1, 2
# and 4 ranks at the same global batch, FineCLIPER (low level) and DFER-CLIP on
# a small random CLIP and the synthetic benchmark. Ranks beyond the cores are
# oversubscribed, so on a 2-core machine 4 ranks show contention, not speed-up.
# Writes results/bench/cpu_dp_scaling.json.
# usage: bench/dp_scaling.sh [ARCH=tiny] [BATCH=8] [STEPS=12]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-tiny} batch=${2:-8} steps=${3:-12}
build=${DFER_BUILD_DIR:-build}
vocab=${DFER_VOCAB:-../shared/clip/bpe_simple_vocab_16e6.txt.gz}
tmp=$(mktemp -d /tmp/dfer-bench-dp-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$build/dfer" synth --layout dfew --clips 120 --size 64 --seed 3 --out "$tmp/data" 2>/dev/null
"$build/dfer" init --arch "$arch" --seed 1 --out "$tmp/clip.safetensors" >/dev/null
cp "$vocab" "$tmp/"
for method in finecliper dfer_clip; do
  for np in 1 2 4; do
    threads=$(( $(nproc) / np )); [ "$threads" -ge 1 ] || threads=1
    mpirun --oversubscribe --mca btl self,vader -np $np "$build/dfer" train --config "configs/synth/$method.ini" \
      --set data.root="$tmp/data" --set model.weights="$tmp/clip.safetensors" --set train.epochs=1 \
      --set train.batch=$batch --set train.max_steps_per_epoch=$steps --set data.frames=4 --set train.threads=$threads \
      --set data.loader_threads=1 --set train.log_every=1 --out "$tmp/$method-np$np" >/dev/null
  done
done
mkdir -p results/bench
/usr/bin/python3 - "$tmp" "$arch" "$batch" "$steps" <<'PY'
import json, os, subprocess, sys
sys.path.insert(0, "bench")
import json_atomic
tmp, arch, batch, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
out = {"benchmark": "data-parallel training step on the CPU (MPI all-reduce of the trainable gradients)", "arch": arch,
       "global_batch": batch, "frames": 4, "steps": steps, "cpu": cpu, "cores": int(subprocess.check_output(["nproc"])),
       "commit": commit, "command": f"bench/dp_scaling.sh {arch} {batch} {steps}", "runs": []}
for method in ("finecliper", "dfer_clip"):
    for np in (1, 2, 4):
        lines = [json.loads(l) for l in open(f"{tmp}/{method}-np{np}/metrics.jsonl")]
        st = [l for l in lines if l.get("type") == "step"][1:]  # the first step warms up
        res = json.load(open(f"{tmp}/{method}-np{np}/result.json"))
        mean = lambda k: sum(l[k] for l in st) / len(st)
        row = {"method": method, "ranks": np, "trainable": res["trainable_parameters"]["total"],
               "step_s": mean("step_s"), "compute_s": mean("compute_s"), "allreduce_s": mean("allreduce_s"),
               "data_s": mean("data_s")}
        row["allreduce_share"] = row["allreduce_s"] / row["step_s"]
        out["runs"].append(row)
        print(f"{method:10s} {np} rank{'s' if np > 1 else ' '}: step {row['step_s'] * 1e3:7.1f} ms, forward+backward "
              f"{row['compute_s'] * 1e3:7.1f} ms, all-reduce {row['allreduce_s'] * 1e3:6.1f} ms "
              f"({100 * row['allreduce_share']:.1f}% of the step; {row['trainable'] * 4 / 1e6:.2f} MB of gradients), "
              f"data wait {row['data_s'] * 1e3:.1f} ms")
json_atomic.write("results/bench/cpu_dp_scaling.json", out)  # whole or not at all (bench/json_atomic.py)
PY
