#!/usr/bin/env bash
# dfer bench --profile-steps: the matrix FLOPs of the ops a step ran, counted from the operands each op was
# given, equal the model FLOPs counted from the architecture (no step computes a product the model does not
# need, e.g. a gradient below every trainable tensor, and the count misses none); each op ran a whole number
# of times a step; the per-op sums add up to the total; the method names the device's timer. Recompute off:
# recomputation repeats forward products on purpose; the one product the model always runs again (each
# adapter's fc1 in its backward: adapters keep nothing) is counted apart by bench (flops.recompute), and the
# ops' FLOPs equal the model's plus that. With given peaks, each entry's bound (its least time: FLOPs at the
# tensor peak or bytes at the memory's) follows from its counts. FineCLIPER without video adapters
# (finecliper:low-frozen-vit) runs no temporal attention: the model counts plain frozen CLIP blocks, and so must the
# ops. With train.recompute = qkv, qkv-fc1 or blocks (FineCLIPER and DFER-CLIP, every level, @LEVEL) the products
# the level runs again are counted in flops.recompute too, and the ops' FLOPs still equal the model's plus it: qkv
# adds the attentions' qkv products (FineCLIPER's AIM blocks 6 W^2 a token a block, DFER-CLIP's plain blocks 3), qkv-fc1
# also fc1's (4 W^2 more), blocks every block's forward but the last's. On CUDA each attention backward computes q k^T
# again (it keeps each row's softmax statistics, not the probabilities): recompute too, in both counts. No timing
# is asserted.
# usage: bench_profile.sh DFER PYTHON SHARED_DIR [cpu|cuda]   (cuda without a GPU: exit 77, skipped)
set -euo pipefail
dfer=$1 py=$2 shared=$3 device=${4:-cpu}
vocab=$shared/clip/bpe_simple_vocab_16e6.txt.gz
[ -f "$vocab" ] || { echo "no CLIP vocabulary at $vocab"; exit 1; }
tmp=$(mktemp -d /tmp/dfer-bench-profile-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1
if [ "$device" = cuda ] && ! "$dfer" version | grep -qE '^CUDA: .*[1-9][0-9]* GPUs? found'; then
  echo "SKIP: no GPU ($("$dfer" version | grep '^CUDA' || echo 'no CUDA'))"
  exit 77
fi
common=(--device "$device" --arch tiny --frames 2 --batch 1 --steps 1 --warmup 0 --threads 2 --vocab "$vocab")
timer=$([ "$device" = cuda ] && echo "CUDA events" || echo "host clock")

for run in finecliper:low finecliper:low+mid+high dfer_clip:low finecliper:low-frozen-vit \
           finecliper:low+mid+high@qkv finecliper:low+mid+high@qkv-fc1 finecliper:low+mid+high@blocks \
           dfer_clip:low@qkv dfer_clip:low@qkv-fc1 dfer_clip:low@blocks; do
  # the first run with given peaks: each entry's bound (its least time at them) is checked against its counts
  level=none
  [[ $run == *@* ]] && level=${run#*@}
  peaks=() variant=${run%@*} frozen_vit=()
  variant=${variant#*:}
  [ "$run" = finecliper:low ] && peaks=(--peak-tflops 2 --peak-gbps 50)
  [ "$variant" = low-frozen-vit ] && variant=low frozen_vit=(--set model.video_adapters=false)
  "$dfer" bench "${common[@]}" --method "${run%%:*}" --variant "$variant" --profile-steps 2 \
    --set train.recompute=$level "${frozen_vit[@]}" "${peaks[@]}" --json "$tmp/prof.json" >"$tmp/prof.txt"
  grep -q "op profile over 2 steps" "$tmp/prof.txt" || { echo "$run: no op profile in the summary"; exit 1; }
  if [ ${#peaks[@]} -gt 0 ]; then
    grep -q "at the device's peaks (2 TFLOP/s (--peak-tflops), 50 GB/s (--peak-gbps)) the ops would take" "$tmp/prof.txt" \
      || { echo "$run: the summary does not give the ops' bound at the given peaks"; exit 1; }
  fi
  [ "$level" = none ] || cp "$tmp/prof.json" "$tmp/prof-${run%%:*}-$level.json"
  [ "$run" = finecliper:low+mid+high ] || [ "$run" = dfer_clip:low ] && cp "$tmp/prof.json" "$tmp/prof-${run%%:*}-none.json"
  "$py" - "$tmp/prof.json" "$run" "$timer" "${peaks[*]}" "$level" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); run, timer, peaks, level = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
p, model, again = r["op_profile"], r["flops"]["per_rank_step"], r["flops"]["recompute"]
assert p["steps"] == 2, p["steps"]
assert r["recompute"] == level, (run, r["recompute"])
assert timer in p["method"], f"{run}: timed by '{p['method']}', expected the {timer}"
ops = {e["op"] for e in p["by_op"]}
for need in ("linear", "linear_backward", "layernorm", "layernorm_backward", "activation", "sgd_update"):
    assert need in ops, f"{run}: no {need} in the profile ({sorted(ops)})"
assert any(o.startswith("attention_backward") for o in ops), f"{run}: no attention backward"
executed = sum(e["flops_per_step"] for e in p["entries"] if e["op"] != "matmul")  # [B,C] heads: not model FLOPs
# recompute: the adapters' fc1 again in the backward (FineCLIPER's adapters; DFER-CLIP has none)
if run.startswith("finecliper") and level == "none":
    assert 0 < again < 0.05 * model, f"{run}: {again:.0f} FLOPs of recompute beside {model:.0f}"
elif run.startswith("finecliper"):
    assert 0.05 * model < again < model, f"{run}: {again:.0f} FLOPs of recompute beside {model:.0f}"
elif level == "none" and timer == "host clock":
    assert again == 0, f"{run}: {again:.0f} FLOPs of recompute in a model without adapters"
elif level == "none":  # CUDA: each attention backward computes q k^T again (it keeps no probabilities)
    assert 0 < again < 0.05 * model, f"{run}: {again:.0f} FLOPs of attention recompute beside {model:.0f}"
else:
    assert 0.01 * model < again < model, f"{run}: {again:.0f} FLOPs of recompute beside {model:.0f}"
assert abs(executed - model - again) <= 1e-9 * model, \
    f"{run}: the ops ran {executed:.0f} matrix FLOPs a step, the model needs {model:.0f} and recomputes {again:.0f}"
for e in p["entries"]:
    assert e["calls_per_step"] == int(e["calls_per_step"]) and e["ms_per_step"] >= 0, e
for key in ("calls_per_step", "ms_per_step", "flops_per_step"):
    a, b = sum(e[key] for e in p["by_op"]), sum(e[key] for e in p["entries"])
    assert abs(a - b) <= 1e-9 * max(abs(b), 1), f"{run}: by_op {key} {a} != entries' {b}"
assert abs(p["ops_ms_per_step"] - sum(e["ms_per_step"] for e in p["entries"])) <= 1e-6 * max(p["ops_ms_per_step"], 1)
# bounds: with peaks, each entry's least time is its FLOPs at the TFLOP/s or its bytes at the GB/s, whichever is
# longer, and ms over it is times_bound; the step's bound adds them up. Without (the CPU): none.
if peaks:
    for e in p["entries"] + p["by_op"]:
        want = max(e["flops_per_step"] / 2e12, e["bytes_per_step"] / 50e9) * 1e3
        assert e["bytes_per_step"] > 0 and abs(e["bound_ms_per_step"] - want) <= 1e-9 * max(want, 1e-12), (e, want)
        assert abs(e["times_bound"] - e["ms_per_step"] / want) <= 1e-9 * e["times_bound"], e
    total = sum(e["bound_ms_per_step"] for e in p["entries"])
    assert abs(p["bound_ms_per_step"] - total) <= 1e-9 * total, (p["bound_ms_per_step"], total)
    assert "--peak-tflops" in p["bound_peaks"] and "--peak-gbps" in p["bound_peaks"], p["bound_peaks"]
elif timer == "host clock":
    assert p["bound_ms_per_step"] is None and all(e["bound_ms_per_step"] is None for e in p["entries"]), run
# the planner's choice the bench ran with (CUDA: plan_apply under train.gpu_mem, 24 GiB by default; the CPU plans none)
if timer == "CUDA events":
    mp = r["memory_plan"]
    assert mp["cap_bytes"] == 24 * 1024**3 and mp["micro_batch"] == r["micro_batch"] and mp["recompute"] == level \
        and mp["fits"] is True and mp["total_bytes"] > mp["reserve_bytes"] > 0, mp
    assert r["micro_batch_from"] == "the memory planner (train.gpu_mem)", r["micro_batch_from"]
else:
    assert "memory_plan" not in r, r.get("memory_plan")
print(f"ok: {run}: profile of {len(p['entries'])} op-and-shape entries, {executed:.6g} matrix FLOPs a step = the model's + the recompute ({again:.6g})")
PY
done
# the levels against each other: the model's FLOPs do not change; what qkv adds to the recompute is 6/10 of what
# qkv-fc1 adds in FineCLIPER low+mid+high (qkv 3 W^2 for each of two attentions; fc1 4 W^2), 3/7 in DFER-CLIP (one
# attention); blocks adds some (on this 2-block CLIP one block's forward)
"$py" - "$tmp" <<'PY'
import json, sys
for method, share in (("finecliper", 0.6), ("dfer_clip", 3 / 7)):
    d = {k: json.load(open(f"{sys.argv[1]}/prof-{method}-{k}.json"))["flops"] for k in ("none", "qkv", "qkv-fc1", "blocks")}
    assert len({f["per_rank_step"] for f in d.values()}) == 1, {k: f["per_rank_step"] for k, f in d.items()}
    add = {k: d[k]["recompute"] - d["none"]["recompute"] for k in d}
    assert add["qkv"] > 0 and abs(add["qkv"] / add["qkv-fc1"] - share) < 1e-12 and add["blocks"] > 0, (method, add)
    print(f"ok: {method}: recompute FLOPs beyond the adapters' a step: "
          + ", ".join(f"{k} {v:.6g}" for k, v in add.items() if k != "none"))
PY
echo "bench_profile ($device): ok"
