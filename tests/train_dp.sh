#!/usr/bin/env bash
# Data-parallel equivalence: 1 rank x batch 8, 2 ranks x 4 and 4 ranks x 2
# (oversubscribed), and (supervised) 1 rank x 4 micro-batches of 2 with the
# gradients accumulated and 1 rank with block recompute (train.recompute), end
# with the same FineCLIPER parameters after several steps,
# in F64: max relative difference below 1e-9 (only the order of the gradient
# sums differs between the runs) — supervised, and contrastive (the zero-shot
# setting: the InfoNCE loss over the global batch, features all-gathered).
# With --device cuda (the emulated backend's dfer-emu: train_nccl_emulated) the ranks train on
# the CUDA backend and all-reduce and all-gather through NCCL. That backend has no F64: in F32
# every way of splitting the batch orders the sums differently, and Adam carries that into the
# parameters (measured: ~3e-5 after these steps, as much from 4 micro-batches on one rank as
# from 4 ranks). The scale comes from the same run: one rank on the CPU backend, whose sums
# differ from the GPU's only in order; every multi-rank run must stay within twice its
# distance from the one-rank GPU run (measured: NCCL runs 3-7e-5, the scale ~2e-4). A
# reduction that drops or double-counts a rank's gradients moves the parameters far more. A
# uniform scale of all of them (a sum left unaveraged) Adam mostly normalises away in the
# parameters, so every step's gradient norm (the global batch's, after the reduction;
# metrics.jsonl, 6 digits) must also agree with one rank's, within 2e-5 relative or the same
# F32 bound. Measured with per-rank means summed: norms off by exactly 1.0 (2 ranks) and 3.0
# (4 ranks), parameters by 3.6e-2 and 5.5e-2.
# usage: train_dp.sh DFER PYTHON SOURCE_DIR SHARED_DIR [--device cuda]
set -euo pipefail
dfer=$1 py=$2 src=$3 shared=$4
device=cpu dtype=f64 bound=1e-9
if [ "${5:-}" = --device ] && [ "${6:-}" = cuda ]; then device=cuda dtype=f32 bound=1e-6; fi
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
  [ $device = cuda ] && runs+=(1cpu)
  for run in "${runs[@]}"; do
    np=${run:0:1} mb=() run_device=$device
    case $run in
      *mb*) mb=(--set train.micro_batch=${run#*mb}) ;; *rc) mb=(--set train.recompute=blocks) ;; *cpu) run_device=cpu ;;
    esac
    mpirun --oversubscribe --mca btl self,vader -np $np "$dfer" train --config "$src/configs/synth/finecliper.ini" \
      --set data.root="$tmp/data" --set model.weights="$tmp/clip.safetensors" --set model.dtype=$dtype \
      --set train.epochs=1 --set train.batch=8 --set train.eval_batch=8 --set data.frames=4 --set train.threads=1 \
      --set data.loader_threads=1 --set train.log_every=1 --set train.device=$run_device "${extra[@]}" "${mb[@]}" \
      --out "$tmp/$mode/np$run" >"$tmp/$mode-np$run.log" 2>&1 || { cat "$tmp/$mode-np$run.log"; exit 1; }
    if [ $run_device = cuda ] && [ $np -gt 1 ]; then
      grep -q "collectives: NCCL .*a group of $np ranks" "$tmp/$mode-np$run.log" \
        || { echo "$mode np$run: the log does not name NCCL for $np ranks:"; cat "$tmp/$mode-np$run.log"; exit 1; }
    fi
  done
  "$py" - "$tmp/$mode" $mode $device $bound <<'PY' || exit 1
import json, struct, sys
import numpy as np
def read(p):
    d = open(p, "rb").read(); (n,) = struct.unpack("<Q", d[:8]); h = json.loads(d[8:8 + n]); h.pop("__metadata__", None)
    kinds = {"F64": "<f8", "F32": "<f4"}
    return {k: np.frombuffer(d[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], dtype=kinds[v["dtype"]]).astype(np.float64)
            for k, v in h.items()}
t = sys.argv[1]
ref = read(f"{t}/np1/model.safetensors")
init_moved = any(np.abs(v).max() > 0 for k, v in ref.items() if "fc2" in k)
def grad_norms(run):
    steps = [json.loads(l) for l in open(f"{t}/{run}/metrics.jsonl")]
    return np.array([s["grad_norm"] for s in steps if s.get("type") == "step"])
ref_norms = grad_norms("np1")
worst, per_run, scale, norm_worst, norm_runs = 0.0, [], None, 0.0, []
import os
for np_ in ("2", "4", "1mb2", "1rc", "1cpu"):
    if not os.path.exists(f"{t}/np{np_}"):
        continue
    got = read(f"{t}/np{np_}/model.safetensors")
    run_worst = max(float(np.abs(got[k] - v).max() / max(np.abs(v).max(), 1e-12)) for k, v in ref.items())
    per_run.append(f"{np_}: {run_worst:.2e}")
    norms = grad_norms(f"np{np_}")
    if len(norms) != len(ref_norms) or len(norms) == 0:
        sys.exit(f"np{np_}: {len(norms)} logged steps, one rank logged {len(ref_norms)}")
    run_norm = float(np.abs(norms / ref_norms - 1).max())
    norm_runs.append(f"{np_}: {run_norm:.1e}")
    if np_ != "1cpu":
        norm_worst = max(norm_worst, run_norm)
    if np_ == "1cpu":
        scale = run_worst
    else:
        worst = max(worst, run_worst)
bound = float(sys.argv[4]) if scale is None else max(float(sys.argv[4]), 2 * scale)
print(f"{sys.argv[2]} ({sys.argv[3]}): 1x8 vs 2x4 vs 4x2 (supervised also 1x4x2 micro-batches and block recompute): {len(ref)} tensors, max relative difference {worst:.2e} (bound {bound:.2e}; {', '.join(per_run)}); "
      f"up-projections moved from 0: {init_moved}")
# what the contrastive run paired its clips with (the DFEW layout has no captions: the descriptions), for Table 3
captions = json.load(open(f"{t}/np1/result.json")).get("captions")
if captions != ("descriptions" if sys.argv[2] == "contrastive" else None):
    sys.exit(f"result.json records captions {captions!r} for a {sys.argv[2]} run")
norm_bound = max(2e-5, bound)
print(f"  gradient norm of each of {len(ref_norms)} steps against one rank's: worst {norm_worst:.1e} (bound {norm_bound:.0e}; {', '.join(norm_runs)})")
sys.exit(0 if worst < bound and norm_worst < norm_bound and init_moved else 1)
PY
done
# train.threads = 0 gives each rank its share of the node's cores (not every core to every rank, which
# oversubscribes a machine running a matrix): with the ranks unbound, 2 ranks on n cores take n/2 each (at least 1).
if [ $device = cpu ]; then
  mpirun --oversubscribe --bind-to none --mca btl self,vader -np 2 "$dfer" train --config "$src/configs/synth/finecliper.ini" \
    --set data.root="$tmp/data" --set model.weights="$tmp/clip.safetensors" --set train.epochs=1 --set train.batch=4 \
    --set train.eval_batch=4 --set data.frames=2 --set train.threads=0 --set data.loader_threads=1 \
    --set train.max_steps_per_epoch=1 --out "$tmp/threads" >"$tmp/threads.log" 2>&1 || { cat "$tmp/threads.log"; exit 1; }
  share=$(( $(nproc --all) / 2 )); [ "$share" -ge 1 ] || share=1
  grep -q "cpu ($share thread" "$tmp/threads.log" \
    || { echo "2 unbound ranks on $(nproc --all) cores did not take $share threads each:"; grep "cpu (" "$tmp/threads.log"; exit 1; }
  echo "train.threads = 0: 2 unbound ranks on $(nproc --all) cores take $share thread(s) each"
fi
