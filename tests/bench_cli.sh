#!/usr/bin/env bash
# dfer bench on the CPU with the tiny CLIP: the JSON has every figure, clips/s are positive,
# the model FLOPs equal a recount derived here from the architecture (FineCLIPER low level, with and
# without video adapters, the middle level alone, and DFER-CLIP), the class-prompt lengths equal
# `dfer tokenize`'s, --device
# cuda without a GPU fails naming the GPU, and with torch installed the PyTorch peer's figures are
# there and its model has exactly dfer's trainable parameter count. A --set of a key bench sets from an
# option (data.frames, model.method, ...) is a usage error naming the option; the evaluation FLOPs are
# those of the batch timed; the training peak memory leaves out the forward-only passes, whose peak is
# reported apart. No timing is asserted.
# usage: bench_cli.sh DFER PYTHON SHARED_DIR
set -euo pipefail
dfer=$1 py=$2 shared=$3
vocab=$shared/clip/bpe_simple_vocab_16e6.txt.gz
[ -f "$vocab" ] || { echo "no CLIP vocabulary at $vocab"; exit 1; }
tmp=$(mktemp -d /tmp/dfer-bench-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1
common=(--device cpu --arch tiny --frames 4 --batch 2 --steps 2 --warmup 1 --threads 2 --vocab "$vocab")

peer=()
if "$py" -c 'import torch' 2>/dev/null; then peer=(--peer torch --python "$py"); else echo "SKIP the PyTorch peer: $py has no torch"; fi
"$dfer" bench "${common[@]}" --method finecliper --json "$tmp/fc.json" "${peer[@]}" | tee "$tmp/fc.txt"
"$dfer" bench "${common[@]}" --method dfer_clip --steps 1 --json "$tmp/dc.json" >/dev/null
# the paper's Tab. 1 and 3 ablations: two temporal blocks and no contexts (the class names alone: no text backward)
"$dfer" bench "${common[@]}" --method dfer_clip --steps 1 --set model.temporal_layers=2 --set model.contexts=0 \
  --set model.class_text=name --json "$tmp/dc2.json" >/dev/null
"$dfer" bench "${common[@]}" --method finecliper --steps 1 --set model.video_adapters=false \
  --json "$tmp/fv.json" >/dev/null
"$dfer" bench "${common[@]}" --method finecliper --variant mid --steps 1 --json "$tmp/mid.json" >/dev/null
# every level, its upper adapters narrower: the peer builds the same model (the same trainable parameters)
if [ ${#peer[@]} -gt 0 ]; then
  "$dfer" bench "${common[@]}" --steps 1 --method finecliper --variant low+mid+high --set model.mid_high_bottleneck_divisor=2 \
    --json "$tmp/levels.json" "${peer[@]}" >/dev/null
  "$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); p = d["peer"]["trainable_parameters"]
assert d["mid_high_bottleneck_divisor"] == 2 and p == d["trainable_parameters"], (p, d["trainable_parameters"])
print("every level, upper adapters at width / 2: dfer and the peer train", p, "parameters")' "$tmp/levels.json"
fi
grep -q "train:" "$tmp/fc.txt" && grep -q "MFU:    n/a" "$tmp/fc.txt"

# a peer that fails costs the comparison, not dfer's figures: they are written with the peer's error, exit 1 (the
# JSON was lost); one that built another model (other trainable counts: a stand-in printing the peer's JSON lines,
# as a python whose peer model drifted would) is refused the same way, with both counts named
rc=0; "$dfer" bench "${common[@]}" --method finecliper --steps 1 --json "$tmp/nopeer.json" --peer torch \
  --python /bin/false >/dev/null 2>"$tmp/nopeer.err" || rc=$?
"$py" -c 'import json, sys; d = json.load(open(sys.argv[1]))
assert d["train_clips_per_s"] > 0 and "failed" in d["peer_error"] and "peer" not in d, d.get("peer_error")' \
  "$tmp/nopeer.json" && [ "$rc" = 1 ] \
  || { cat "$tmp/nopeer.err"; echo "a failing peer: exit $rc, or dfer's figures lost"; exit 1; }
# (--peer torch-compile: the stand-in is handed bench_torch.py's --compile)
printf '#!/bin/sh\necho "$@" >%s\necho '"'"'{"train_clips_per_s": 5, "peak_bytes": 1e9, "trainable_parameters": 12}'"'"'\n' \
  "$tmp/drift.args" >"$tmp/drifted"
chmod +x "$tmp/drifted"
rc=0; "$dfer" bench "${common[@]}" --method finecliper --steps 1 --json "$tmp/drift.json" --peer torch-compile \
  --python "$tmp/drifted" >/dev/null 2>"$tmp/drift.err" || rc=$?
[ "$rc" = 1 ] && grep -q "built another model: 12 trainable parameters where dfer trains [0-9]" "$tmp/drift.err" \
  && grep -q "bench_torch.py --spec .* --compile$" "$tmp/drift.args" \
  && "$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert "vs_peer" not in d and d["peer_error"]' \
    "$tmp/drift.json" \
  || { cat "$tmp/drift.err"; echo "a peer of another model: exit $rc"; exit 1; }

# the prompts' token counts, from the tokenizer (its byte-exactness with OpenAI's is tested elsewhere)
classes=(happiness sadness neutral anger surprise disgust fear)
pos=() neg=()
for c in "${classes[@]}"; do pos+=("A person with an expression of $c."); neg+=("A person with an expression of no $c."); done
"$dfer" tokenize --vocab "$vocab" -- "${pos[@]}" >"$tmp/pos.txt"
"$dfer" tokenize --vocab "$vocab" -- "${neg[@]}" >"$tmp/neg.txt"

"$py" - "$tmp" "${#peer[@]}" <<'PY'
import json, sys
tmp, with_peer = sys.argv[1], int(sys.argv[2])
fc, dc = json.load(open(f"{tmp}/fc.json")), json.load(open(f"{tmp}/dc.json"))
keys = ["device", "device_kind", "arch", "model", "method", "frames", "batch", "ranks", "classes", "precision",
        "trainable_parameters", "train_clips_per_s", "train_step_s", "eval_clips_per_s", "split_s", "peak_bytes",
        "peak_gib", "peak_method", "flops", "achieved_tflops", "peak_tflops", "mfu", "text_tokens", "commit",
        "command"]
for r in (fc, dc):
    missing = [k for k in keys if k not in r]
    assert not missing, f"missing keys {missing}"
    for k in ("data_wait", "forward", "backward", "allreduce", "update"):
        assert k in r["split_s"], f"split_s lacks {k}"
    assert r["train_clips_per_s"] > 0 and r["eval_clips_per_s"] > 0, "clips/s not positive"
    assert r["peak_bytes"] > 0 and r["mfu"] is None and r["device_kind"] == "cpu"
    assert r["frames"] == 4 and r["batch"] == 2 and r["arch"] == "tiny" and r["command"].startswith("dfer bench")

# the tiny preset: 32 px images, 8 px patches, width 128, 2 layers; text width 128, 2 layers; embedding 128
R, P, W, Lv, Tw, Lt, E = 32, 8, 128, 2, 128, 2, 128
B, T, C = 2, 4, 7
N, G = B * T, (R // P) ** 2  # frames, patches per frame
S = G + 1                    # tokens per frame
n = N * S

def eot_len(line):
    ids = [int(x) for x in line.split()]
    return ids.index(49407) + 1

Lp = max(eot_len(l) for l in open(f"{tmp}/pos.txt"))
Ln = max(eot_len(l) for l in open(f"{tmp}/neg.txt"))
assert fc["text_tokens"] == {"positive": Lp, "negative": Ln}, (fc["text_tokens"], Lp, Ln)

# FineCLIPER, low level. Per vision block and token, 2 FLOPs per multiply-add: the frozen attention runs twice
# (temporal over T, spatial over S): 2 x (3W^2 + W^2) weights, the MLP 8W^2, three adapters W -> W/4 -> W;
# attention products q k^T and p v over T and over S. The temporal embedding sits below block 0, so the backward
# crosses every block: one input-gradient product per frozen weight, 4 attention products (2x the forward's),
# the adapters' input and weight gradients; the frozen patch embedding gets none.
r = W // 4
frozen = 2 * (2 * 4 * W * W + 8 * W * W)
adapters = 3 * 2 * (2 * W * r)
attn = 4 * T * W + 4 * S * W
v_fwd = 2 * N * G * 3 * P * P * W + Lv * n * (frozen + adapters + attn) + 2 * N * W * E
v_in = Lv * n * (frozen + adapters + 2 * attn) + 2 * N * W * E
v_w = Lv * n * adapters
# A PN text tower on C prompts of L tokens: Houlsby adapters after each block; block 0 and adapter 0's fc1 lie
# below every trainable tensor (no input gradient there).
rt = Tw // 4
def text(L):
    nt = C * L
    fwd = Lt * (nt * (24 * Tw * Tw + 4 * Tw * rt) + 4 * nt * L * Tw) + 2 * C * Tw * E
    gin = (Lt - 1) * (nt * 24 * Tw * Tw + 8 * nt * L * Tw) + Lt * 2 * nt * rt * Tw + (Lt - 1) * 2 * nt * Tw * rt \
        + 2 * C * Tw * E
    gw = Lt * 4 * nt * Tw * rt
    return fwd, gin, gw
tp, tn = text(Lp), text(Ln)
want = {"forward": v_fwd + tp[0] + tn[0], "backward_input": v_in + tp[1] + tn[1], "backward_weight": v_w + tp[2] + tn[2]}
got = fc["flops"]
for k, v in want.items():
    assert got[k] == v, f"FineCLIPER flops.{k}: dfer {got[k]} != recount {v}"
assert got["train_step"] == sum(want.values()) and got["eval_forward"] == want["forward"]

# FineCLIPER without video adapters (model.video_adapters = false): the temporal branch adds nothing and does not
# run, every vision block is a frozen CLIP block (attention 4W^2 and MLP 8W^2 weights, attention over S only) that
# the gradient crosses on its way to the temporal embedding; no vision weight gradient.
fv = json.load(open(f"{tmp}/fv.json"))
plain = 2 * (4 * W * W + 8 * W * W)
f_fwd = 2 * N * G * 3 * P * P * W + Lv * n * (plain + 4 * S * W) + 2 * N * W * E
f_in = Lv * n * (plain + 8 * S * W) + 2 * N * W * E
want_fv = {"forward": f_fwd + tp[0] + tn[0], "backward_input": f_in + tp[1] + tn[1], "backward_weight": tp[2] + tn[2]}
for k, v in want_fv.items():
    assert fv["flops"][k] == v, f"FineCLIPER without video adapters flops.{k}: dfer {fv['flops'][k]} != recount {v}"
# the drop from the model with adapters, per block and token: the temporal attention's weights (4W^2 multiply-adds,
# forward and input gradient), its products over T (forward and backward: 12 T W) and the three adapters (forward,
# input and weight gradients)
temporal = 2 * (2 * 4 * W * W) + 12 * T * W + 3 * adapters
drop = got["train_step"] - fv["flops"]["train_step"]
assert drop == Lv * n * temporal, f"without video adapters the step's FLOPs drop by {drop}, not {Lv * n * temporal}"

# The middle level alone (model.variant = mid, paper Tab. 4: no frames): the parsing and the landmark maps each
# through the shared AIM set (the low level's shapes at the default divisor) and a projection [E,E] (forward, input
# and weight gradient products); the same class texts; nothing of the video stream.
md = json.load(open(f"{tmp}/mid.json"))
proj = 2 * B * E * E
want_md = {"forward": 2 * (v_fwd + proj) + tp[0] + tn[0], "backward_input": 2 * (v_in + proj) + tp[1] + tn[1],
           "backward_weight": 2 * (v_w + proj) + tp[2] + tn[2]}
for k, v in want_md.items():
    assert md["flops"][k] == v, f"FineCLIPER mid flops.{k}: dfer {md['flops'][k]} != recount {v}"
assert md["variant"] == "mid", md.get("variant")

# DFER-CLIP: the fine-tuned encoder (every weight gets a weight gradient, the input gradient crosses every block,
# the patch embedding's weight gradient), the temporal transformer on T+1 tokens of width E (MLP 2E, all
# trainable), the frozen text tower with the gradient to its input contexts (every block).
Ld = dc["text_tokens"]["class_prompts"]
assert Ld >= 2 + 8
enc = 24 * W * W
d_fwd = 2 * N * G * 3 * P * P * W + Lv * (n * enc + 4 * n * S * W) + 2 * N * W * E
d_in = Lv * (n * enc + 8 * n * S * W) + 2 * N * W * E
d_w = 2 * N * G * 3 * P * P * W + Lv * n * enc + 2 * N * W * E
n2 = B * (T + 1)
d_fwd += 16 * n2 * E * E + 4 * n2 * (T + 1) * E
d_in += 16 * n2 * E * E + 8 * n2 * (T + 1) * E
d_w += 16 * n2 * E * E
nt = C * Ld
d_fwd += Lt * (24 * nt * Tw * Tw + 4 * nt * Ld * Tw) + 2 * C * Tw * E
d_in += Lt * (24 * nt * Tw * Tw + 8 * nt * Ld * Tw) + 2 * C * Tw * E
want = {"forward": d_fwd, "backward_input": d_in, "backward_weight": d_w}
for k, v in want.items():
    assert dc["flops"][k] == v, f"DFER-CLIP flops.{k}: dfer {dc['flops'][k]} != recount {v}"
# two temporal blocks, the class names without contexts: the text tower runs forward only
dc2 = json.load(open(f"{tmp}/dc2.json"))
L2 = dc2["text_tokens"]["class_prompts"]
assert L2 < Ld, (L2, Ld)
nt2 = C * L2
text2 = Lt * (24 * nt2 * Tw * Tw + 4 * nt2 * L2 * Tw) + 2 * C * Tw * E
want2 = {"forward": d_fwd - (Lt * (24 * nt * Tw * Tw + 4 * nt * Ld * Tw) + 2 * C * Tw * E) + text2
         + 16 * n2 * E * E + 4 * n2 * (T + 1) * E,
         "backward_input": d_in - (Lt * (24 * nt * Tw * Tw + 8 * nt * Ld * Tw) + 2 * C * Tw * E)
         + 16 * n2 * E * E + 8 * n2 * (T + 1) * E,
         "backward_weight": d_w + 16 * n2 * E * E}
for k, v in want2.items():
    assert dc2["flops"][k] == v, f"DFER-CLIP, 2 blocks, no contexts: flops.{k}: dfer {dc2['flops'][k]} != recount {v}"

if with_peer:
    p, vs = fc["peer"], fc["vs_peer"]
    for k in ("train_clips_per_s", "eval_clips_per_s", "peak_bytes", "train_step_s"):
        assert p[k] > 0, f"peer {k} = {p[k]}"
    assert p["side"] == "pytorch" and p["batch"] == 2 and p["frames"] == 4 and p["dtype"] == "float32"
    assert "no torch.compile" in p["mode"]
    assert p["trainable_parameters"] == fc["trainable_parameters"], \
        f"peer trains {p['trainable_parameters']} parameters, dfer {fc['trainable_parameters']}"
    assert vs["train_speed_ratio"] > 0 and vs["peak_memory_ratio"] > 0
print(f"ok: FLOPs match the recount (FineCLIPER {fc['flops']['train_step']:.6g}, DFER-CLIP "
      f"{dc['flops']['train_step']:.6g}); {'peer checked' if with_peer else 'peer skipped'}")
PY

# --set of a key bench sets from its own option is a usage error naming the option (bench went on using the
# option's value: a 2-frame buffer read by a 16-frame model, FineCLIPER's FLOPs reported for DFER-CLIP)
for kv in "data.frames=16:--frames" "model.method=dfer_clip:--method" "train.batch=4:--batch" "model.variant=low+mid:--variant"; do
  set +e
  "$dfer" bench "${common[@]}" --steps 1 --warmup 0 --set "${kv%%:*}" --json "$tmp/owned.json" >"$tmp/owned.out" 2>&1
  rc=$?
  set -e
  [ $rc = 2 ] || { echo "--set ${kv%%:*}: exit $rc, not the usage error 2"; cat "$tmp/owned.out"; exit 1; }
  grep -q -- "use ${kv##*:}\$" "$tmp/owned.out" || { echo "--set ${kv%%:*}: the message does not name ${kv##*:}"; cat "$tmp/owned.out"; exit 1; }
  [ ! -f "$tmp/owned.json" ] || { echo "--set ${kv%%:*}: a refused run wrote its JSON"; exit 1; }
done
# other keys still go through --set
"$dfer" bench "${common[@]}" --steps 1 --warmup 0 --set optim.optimizer=adamw --json "$tmp/adamw.json" >/dev/null

# the evaluation forward's FLOPs are those of the batch its time was measured at: without --eval the training
# batch's forward-only passes (--eval-batch is not timed), with --eval the evaluation batch's
tiny1=(--device cpu --arch tiny --frames 4 --steps 1 --warmup 0 --threads 2 --vocab "$vocab")
"$dfer" bench "${tiny1[@]}" --batch 2 --eval-batch 6 --json "$tmp/noeval.json" >/dev/null
"$dfer" bench "${tiny1[@]}" --batch 2 --eval-batch 6 --eval --json "$tmp/witheval.json" >/dev/null
"$dfer" bench "${tiny1[@]}" --batch 6 --json "$tmp/b6.json" >/dev/null
# the training peak is read before the forward-only passes; theirs is reported apart (an evaluation batch of
# 48 raised the training peak from 0.13 to 0.36 GiB)
small=(--device cpu --arch small --frames 4 --batch 1 --steps 1 --warmup 0 --threads 1 --vocab "$vocab")
"$dfer" bench "${small[@]}" --json "$tmp/peak1.json" >/dev/null
"$dfer" bench "${small[@]}" --eval --eval-batch 48 --json "$tmp/peak48.json" | tee "$tmp/peak48.txt" | grep -q "evaluation peak"
"$py" - "$tmp" "$(cat "$tmp/adamw.json")" <<'PY'
import json, sys
tmp = sys.argv[1]
assert json.loads(sys.argv[2])["optimizer"] == "adamw", "--set optim.optimizer=adamw was not applied"
ne, we, b6 = (json.load(open(f"{tmp}/{n}.json")) for n in ("noeval", "witheval", "b6"))
assert ne["eval_batch"] == 2 and ne["flops"]["eval_forward"] == ne["flops"]["forward"], \
    f"no --eval: eval_batch {ne['eval_batch']}, eval_forward {ne['flops']['eval_forward']} != forward {ne['flops']['forward']}"
assert we["eval_batch"] == 6 and we["flops"]["eval_forward"] == b6["flops"]["forward"], \
    f"--eval: eval_forward {we['flops']['eval_forward']} != the forward of 6 clips {b6['flops']['forward']}"
p1, p48 = (json.load(open(f"{tmp}/{n}.json")) for n in ("peak1", "peak48"))
for r in (p1, p48):
    assert r["eval_peak_bytes"] is not None and r["eval_peak_bytes"] > 0, r.get("eval_peak_method")
mib = 1 << 20
# the 48-clip host batch itself (4 frames of 64 px) is resident during training: 9 MiB
assert p48["peak_bytes"] < p1["peak_bytes"] + 24 * mib, \
    f"the training peak grew from {p1['peak_bytes'] / mib:.0f} to {p48['peak_bytes'] / mib:.0f} MiB with an evaluation batch of 48"
assert p48["eval_peak_bytes"] > p48["peak_bytes"] + 100 * mib, \
    f"evaluation at 48 clips peaked at {p48['eval_peak_bytes'] / mib:.0f} MiB, training at 1 clip {p48['peak_bytes'] / mib:.0f}"
print(f"ok: training peak {p1['peak_bytes'] / mib:.0f} MiB alone, {p48['peak_bytes'] / mib:.0f} MiB beside an "
      f"evaluation at 48 clips that peaked at {p48['eval_peak_bytes'] / mib:.0f} MiB; eval FLOPs at the timed batch")
PY

# --device cuda on a machine (or build) without a GPU: a clear message, a non-zero exit
if "$dfer" bench --device cuda --arch tiny --frames 4 --batch 2 --steps 1 --warmup 0 --vocab "$vocab" \
     --json "$tmp/cuda.json" 2>"$tmp/cuda.err"; then
  if [ -f "$tmp/cuda.json" ] && grep -q '"device_kind":[[:space:]]*"cuda"' "$tmp/cuda.json"; then
    echo "a GPU is here: --device cuda ran (the no-GPU message is checked on machines without one)"
  else
    echo "--device cuda succeeded without a GPU"; exit 1
  fi
else
  cat "$tmp/cuda.err"
  grep -q "GPU" "$tmp/cuda.err" || { echo "the --device cuda failure does not name the missing GPU"; exit 1; }
  [ ! -f "$tmp/cuda.json" ] || { echo "a failed run wrote its JSON"; exit 1; }
fi
echo "bench_cli: ok"
