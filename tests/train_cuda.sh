#!/usr/bin/env bash
# `dfer train` on the GPU (train.device = cuda), end to end, against the same runs on the CPU
# backend: the loader's uint8 frames in page-locked buffers normalised on the device, the memory
# planner, the NCCL communicator of a group of one rank (made and logged; a one-rank group skips
# the collectives themselves, which test_cuda_nccl runs), checkpoints, resume and evaluation. Each run is 2 epochs of 4
# steps of 8 clips on a tiny CLIP, a loss logged at every step.
#
#   1. FineCLIPER (low) and DFER-CLIP in F32 on the GPU against F32 on the CPU: every step's loss
#      and gradient norm, and each evaluation's loss, within 1e-3 relative. Both are F32 throughout
#      (cuBLASLt without TF32), so they differ only in summation order (~1e-6 per op); Adam then
#      amplifies that a little where a gradient component is near zero, hence 1e-3, not 1e-5.
#   2. The same in mixed precision (model.dtype = bf16; DFER-CLIP with micro-batches of 4) against
#      the CPU backend's mixed precision, which rounds once per output as the GPU does: within 2e-2
#      (one BF16 ulp is 2^-8 = 0.4%; an output rounds the other way where the F32 sums differ in
#      their last bits, and test_mixed_precision puts all of BF16 vs F32 within 0.5% of the loss).
#   3. Determinism and resume on the GPU: the mixed-precision FineCLIPER run again, stopped after 2
#      steps (mid-epoch) and resumed from its checkpoint, ends with bitwise the parameters of the first run (the
#      backend has no atomics; cuBLASLt is deterministic for a given GPU and plan).
#      The same mixed-precision run with data.device_prefetch = off (each pass uploads its own pixels
#      instead of the input feed copying the next batch during the step): bitwise the same parameters.
#   4. `dfer eval` of the F32 FineCLIPER model on the GPU and on the CPU: the same UAR, WAR and
#      per-class recall.
#   5. A negative control: another seed differs by more than the tolerance of 1, so the
#      comparison can fail.
#
# usage: train_cuda.sh DFER PYTHON SOURCE_DIR SHARED_DIR [--self-test]
# Exits 77 ("SKIP: no GPU ...") where this dfer has no CUDA or finds no GPU. --self-test runs the
# same script with the CPU standing in for the GPU (CI checks the harness itself that way; the
# NCCL and uint8 log lines are not asked for then).
set -euo pipefail
dfer=$1 py=$2 src=$3 shared=$4
self_test=0
[ "${5:-}" = --self-test ] && self_test=1
device=cuda
if [ "$self_test" = 1 ]; then
  device=cpu
else
  version=$("$dfer" --version)
  if ! grep -q '^CUDA: built' <<<"$version"; then echo "SKIP: no GPU (this dfer was built without CUDA)"; exit 77; fi
  if grep -q '; 0 GPUs found' <<<"$version"; then echo "SKIP: no GPU (no CUDA device, driver or runtime)"; exit 77; fi
  grep '^ *GPU 0:' <<<"$version"
fi
# The emulated GPU (dfer-emu) runs a copy on the copy stream only when the compute stream waits for it or
# the host syncs (kernels/emu): prefetch ordering is then tested, not just assumed. A real GPU ignores it.
export EMU_DEFER_COPIES=1
tmp=$(mktemp -d /tmp/dfer-train-cuda-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$dfer" synth --layout dfew --clips 56 --size 40 --min-frames 6 --max-frames 10 --seed 3 --out "$tmp/data" 2>/dev/null
"$dfer" init --arch tiny --seed 6 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"

run() { # NAME METHOD DEVICE DTYPE [dfer train arguments...]
  local name=$1 method=$2 dev=$3 dtype=$4
  shift 4
  local t0=$SECONDS
  "$dfer" train --config "$src/configs/synth/$method.ini" --set data.root="$tmp/data" \
    --set model.weights="$tmp/clip.safetensors" --set model.dtype="$dtype" --set train.device="$dev" \
    --set train.epochs=2 --set train.max_steps_per_epoch=4 --set train.batch=8 --set train.eval_batch=8 \
    --set data.frames=4 --set train.threads=2 --set data.loader_threads=2 --set train.log_every=1 \
    "$@" --out "$tmp/$name" >"$tmp/$name.log" 2>&1 \
    || { echo "run $name failed:"; tail -40 "$tmp/$name.log"; exit 1; }
  echo "run $name ($method, $dev, $dtype $*): $((SECONDS - t0)) s, $(grep -o 'done: .*UAR [0-9.]* (epoch [0-9]*)' "$tmp/$name.log" | head -1)"
  if [ "$dev" = cuda ]; then
    local wants=("collectives: NCCL" "frames as uint8, normalised on the device" "memory plan:")
    [[ "$*" == *device_prefetch=off* ]] || wants+=("the next batch copied to it during the step")
    for want in "${wants[@]}"; do
      grep -q "$want" "$tmp/$name.log" || { echo "run $name: the log does not say \"$want\":"; cat "$tmp/$name.log"; exit 1; }
    done
    grep -h "collectives: NCCL\|memory plan:\|cuBLASLt plans:" "$tmp/$name.log" | sed 's/^/    /' | head -3
  fi
}

close() { # A B TOLERANCE WHAT [--expect-differ]: step losses, gradient norms, evaluation losses
  "$py" - "$tmp/$1" "$tmp/$2" "$3" "$4" "${5:-}" <<'PY' || exit 1
import json, sys
a, b, tol, what, expect_differ = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5] == "--expect-differ"
def records(d):
    steps, evals = {}, {}
    for line in open(f"{d}/metrics.jsonl"):
        r = json.loads(line)
        if r.get("type") == "step":
            steps[(r["epoch"], r["step"])] = (r["loss"], r["grad_norm"])
        elif r.get("type") == "eval":
            evals[r["epoch"]] = r["loss"]
    return steps, evals
sa, ea = records(a)
sb, eb = records(b)
if not sa or sorted(sa) != sorted(sb) or sorted(ea) != sorted(eb) or not ea:
    sys.exit(f"{what}: the runs logged different steps or evaluations ({len(sa)} vs {len(sb)} steps, {len(ea)} vs {len(eb)} evaluations)")
def rel(x, y):
    return abs(x - y) / max(abs(x), abs(y), 1e-12)
worst = []
for k in sorted(sa):
    worst.append((rel(sa[k][0], sb[k][0]), f"epoch {k[0]} step {k[1]} loss {sa[k][0]:.6g} vs {sb[k][0]:.6g}"))
    worst.append((rel(sa[k][1], sb[k][1]), f"epoch {k[0]} step {k[1]} grad-norm {sa[k][1]:.6g} vs {sb[k][1]:.6g}"))
for k in sorted(ea):
    worst.append((rel(ea[k], eb[k]), f"epoch {k} evaluation loss {ea[k]:.6g} vs {eb[k]:.6g}"))
worst.sort(reverse=True)
first = sa[min(sa)][0], sb[min(sb)][0]
print(f"{what}: {len(sa)} steps, {len(ea)} evaluations; first loss {first[0]:.6g} vs {first[1]:.6g}; "
      f"largest relative difference {worst[0][0]:.3g} ({worst[0][1]}); tolerance {tol:g}")
if expect_differ:
    if worst[0][0] <= tol:
        sys.exit(f"{what}: the runs agree within {tol:g} although they must not: the comparison cannot fail")
elif worst[0][0] > tol:
    print("  over the tolerance:")
    for r, text in worst[:8]:
        if r > tol:
            print(f"    {r:.3g}  {text}")
    sys.exit(1)
PY
}

# 1. F32: the GPU against the CPU
run fc-cpu-f32 finecliper cpu f32
run fc-dev-f32 finecliper "$device" f32
close fc-cpu-f32 fc-dev-f32 1e-3 "FineCLIPER low, F32, $device vs cpu"
run dc-cpu-f32 dfer_clip cpu f32
run dc-dev-f32 dfer_clip "$device" f32
close dc-cpu-f32 dc-dev-f32 1e-3 "DFER-CLIP, F32, $device vs cpu"

# 2. mixed precision: the GPU against the CPU backend's mixed precision
run fc-cpu-bf16 finecliper cpu bf16
run fc-dev-bf16 finecliper "$device" bf16
close fc-cpu-bf16 fc-dev-bf16 2e-2 "FineCLIPER low, mixed precision, $device vs cpu"
run dc-cpu-bf16 dfer_clip cpu bf16 --set train.micro_batch=4
run dc-dev-bf16 dfer_clip "$device" bf16 --set train.micro_batch=4
close dc-cpu-bf16 dc-dev-bf16 2e-2 "DFER-CLIP, mixed precision, micro-batches of 4, $device vs cpu"

# 3. determinism and resume: stop after 2 steps (mid-epoch, a checkpoint), resume, compare bit for bit
"$dfer" train --config "$tmp/fc-dev-bf16/config.ini" --stop-after 2 --out "$tmp/fc-dev-bf16-resumed" \
  >"$tmp/fc-dev-bf16-resumed.log" 2>&1 || { echo "the run stopped after 2 steps failed:"; tail -20 "$tmp/fc-dev-bf16-resumed.log"; exit 1; }
[ ! -f "$tmp/fc-dev-bf16-resumed/model.safetensors" ] || { echo "the run stopped after 2 steps did not stop"; exit 1; }
"$dfer" train --config "$tmp/fc-dev-bf16/config.ini" --resume --out "$tmp/fc-dev-bf16-resumed" \
  >>"$tmp/fc-dev-bf16-resumed.log" 2>&1 || { echo "the resumed run failed:"; tail -20 "$tmp/fc-dev-bf16-resumed.log"; exit 1; }
if cmp -s "$tmp/fc-dev-bf16/model.safetensors" "$tmp/fc-dev-bf16-resumed/model.safetensors"; then
  echo "FineCLIPER low, mixed precision, $device: stopped after 2 steps and resumed, bitwise the parameters of the uninterrupted run"
else
  echo "FineCLIPER low, mixed precision, $device: the run stopped after 2 steps and resumed ends with other parameters than the uninterrupted run"
  exit 1
fi

# 3b. the input feed's prefetch (the next batch's pixels copied on the copy stream during the step, the
#     default) against uploads at the start of each pass (data.device_prefetch = off): bitwise the same
#     parameters. On the emulated GPU, EMU_DEFER_COPIES (above) holds each copy back until a stream or the
#     host waits for it: a feed that waited for none fails here (the loader writes over a batch whose copy
#     has not run, which the emulator stops; tried by removing the feed's two waits, 2026-12-04).
run fc-dev-bf16-noprefetch finecliper "$device" bf16 --set data.device_prefetch=off
if cmp -s "$tmp/fc-dev-bf16/model.safetensors" "$tmp/fc-dev-bf16-noprefetch/model.safetensors"; then
  echo "FineCLIPER low, mixed precision, $device: prefetched batches and uploads at each pass give bitwise the same parameters"
else
  echo "FineCLIPER low, mixed precision, $device: prefetched batches (default) and data.device_prefetch=off end with other parameters"
  exit 1
fi

# 4. dfer eval of one trained model on the device and on the CPU (its run folder copied with train.device
#    = cpu): the same UAR, WAR and per-class recall. F32: a clip's two top classes would have to lie
#    within the summation-order difference (~1e-6) to flip; none does for this model and split.
cp -r "$tmp/fc-dev-f32" "$tmp/fc-dev-f32-on-cpu"
sed -i 's/^device *=.*/device = cpu/' "$tmp/fc-dev-f32-on-cpu/config.ini"
grep -q '^device = cpu$' "$tmp/fc-dev-f32-on-cpu/config.ini" || { echo "the run's config has no device line"; exit 1; }
for r in fc-dev-f32 fc-dev-f32-on-cpu; do
  "$dfer" eval --run "$tmp/$r" >"$tmp/eval-$r.txt" 2>"$tmp/eval-$r.log" \
    || { echo "dfer eval --run $r failed:"; cat "$tmp/eval-$r.log"; exit 1; }
done
if ! diff <(grep -E '^UAR|recall' "$tmp/eval-fc-dev-f32.txt") <(grep -E '^UAR|recall' "$tmp/eval-fc-dev-f32-on-cpu.txt"); then
  echo "dfer eval of one model: $device and cpu disagree (above)"; exit 1
fi
grep -q '^UAR' "$tmp/eval-fc-dev-f32.txt" || { echo "dfer eval printed no UAR"; cat "$tmp/eval-fc-dev-f32.txt"; exit 1; }
echo "dfer eval of the F32 FineCLIPER model on $device and on the CPU: $(grep '^UAR' "$tmp/eval-fc-dev-f32.txt") on both, per-class recall equal"

# 5. negative control: another seed must differ by more than the F32 tolerance
run fc-dev-f32-seed2 finecliper "$device" f32 --set train.seed=2
close fc-dev-f32 fc-dev-f32-seed2 1e-3 "negative control: FineCLIPER low, F32, seed 1 vs seed 2" --expect-differ
echo "train_cuda: all comparisons passed ($device)"
