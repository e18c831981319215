#!/usr/bin/env bash
# PyTorch parity of the training step: for random CLIP configs (tiny and small
# presets with noisy biases and norms) and a fixed random batch, dfer's
# FineCLIPER (PN descriptors with "no" and "less", positive prompts only,
# adapters off; the middle and high levels with each fusion loss and weighting (fixed weights too: the paper's Fig. 8),
# and with their own adapter width;
# the middle level alone and the high level alone, without the frames)
# and DFER-CLIP (fine-tuned and frozen image encoder; its ablations: no temporal model (the mean of the
# frames), 2 and 3 temporal blocks, the contexts in CoOp's middle layout, one set of contexts shared by the
# classes, no contexts with the "a photo of" class texts) agree with
# independent autograd implementations (tests/reference/models_ref.py) on the
# logits, the loss, every trainable gradient, the losses of 10 SGD steps
# (momentum, coupled weight decay, per-group rates) and the parameters after
# them: relative error <= 1e-4, all in F64. Where the settings are the ones `dfer bench` runs, the
# benchmark's PyTorch peer (tests/reference/bench_models.py) loaded with the same weights gives the
# same loss and gradients (bench_models_parity.py, relative error <= 1e-6), and a peer one constant
# off does not. (dfer's scalar factors such as
# 1/temperature pass the op interface as F32, so agreement is ~1e-8, not 1e-15.)
# usage: models_parity.sh MODEL_DUMP PYTHON DFER SHARED_DIR
set -euo pipefail
dump=$1 python=$2 dfer=$3 shared=$4
if ! "$python" -c 'import torch, numpy' 2>/dev/null; then
  echo "SKIP: $python has no torch/numpy (scripts/setup installs python3-torch)"; exit 77
fi
tmp=$(mktemp -d /tmp/dfer-models-parity-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
vocab="$shared/clip/bpe_simple_vocab_16e6.txt.gz"
for arch in tiny small; do
  "$dfer" init --arch $arch --seed 3 --test-noise 0.1 --out "$tmp/$arch.safetensors" >/dev/null
done
# Descriptions for the high level, looked up by the dump's clip ids (dump0, dump1, ...): one
# longer than CLIP's 77 tokens, so the stretched positions beyond 77 are used.
long=$(printf 'the left brow rises and falls again, %.0s' $(seq 12))
printf '{"clip": "dump0", "text": "The mouth corners rise slowly while the eyes narrow."}\n{"clip": "dump1", "text": "%s"}\n{"clip": "dump2", "text": "Nothing moves."}\n' "$long" >"$tmp/desc.jsonl"
ref=$(dirname "$0")/reference
status=0
run() { # name arch classes batch settings...
  local name=$1 arch=$2 classes=$3 batch=$4; shift 4
  echo "== $name ($arch, $classes classes, batch $batch): $*"
  "$dump" "$tmp/$name.safetensors" "$classes" "$batch" 10 model.weights="$tmp/$arch.safetensors" model.vocab="$vocab" \
    train.threads=2 optim.optimizer=sgd optim.momentum=0.9 optim.weight_decay=0.01 "$@" >"$tmp/$name.log" \
    || { cat "$tmp/$name.log"; status=1; return; }
  "$python" "$ref/models_ref.py" "$tmp/$name.safetensors" || status=1
  if [[ ${peer:-} == refused ]]; then # a dump at settings the peer has no option for is refused, naming them
    if "$python" "$ref/bench_models_parity.py" "$tmp/$name.safetensors" >/dev/null 2>"$tmp/refused.err" \
      || ! grep -q "settings the benchmark's peer does not take: temperature = 0.05" "$tmp/refused.err"; then
      cat "$tmp/refused.err"; echo "FAIL: the peer's parity check took a dump at temperature 0.05"; status=1
    fi
  elif [[ ${peer:-} ]]; then # the benchmark's PyTorch peer computes the same loss and gradients
    "$python" "$ref/bench_models_parity.py" "$tmp/$name.safetensors" || status=1
  fi
  if [[ ${peer:-} == mutant ]]; then # ... and that check fails for a peer one constant off (QuickGELU's 1.702)
    mkdir -p "$tmp/mutant"
    cp "$ref"/{bench_models.py,models_ref.py,bench_models_parity.py} "$tmp/mutant/"
    sed -i 's/torch.sigmoid(1.702 \* x)/torch.sigmoid(1.7 * x)/' "$tmp/mutant/bench_models.py"
    if ! grep -q 'sigmoid(1.7 \* x)' "$tmp/mutant/bench_models.py"; then
      echo "FAIL: the mutant peer was not made (bench_models.py's QuickGELU changed?)"; status=1
    elif "$python" "$tmp/mutant/bench_models_parity.py" "$tmp/$name.safetensors" >"$tmp/mutant.log"; then
      cat "$tmp/mutant.log"; echo "FAIL: a peer with QuickGELU's 1.7 passed the parity check"; status=1
    else
      echo "  (the same check of a peer whose QuickGELU uses 1.7: $(tail -1 "$tmp/mutant.log"))"
    fi
  fi
  rm -f "$tmp/$name.safetensors"
}
peer=yes run finecliper_pn_no tiny 3 2 model.method=finecliper data.frames=4 optim.lr=0.02,0.005
peer=yes run finecliper_pn_less tiny 4 3 model.method=finecliper model.negative=less data.frames=3 optim.lr=0.01,0.01
peer=yes run finecliper_positive_only tiny 3 2 model.method=finecliper model.negative=none data.frames=4 optim.lr=0.02,0.005
run finecliper_no_adapters tiny 3 2 model.method=finecliper model.video_adapters=0 model.text_adapters=0 data.frames=4 optim.lr=0.05
peer=refused run finecliper_small small 7 2 model.method=finecliper data.frames=3 model.temperature=0.05 optim.lr=0.01,0.002
peer=mutant run finecliper_all_levels tiny 3 2 model.method=finecliper model.variant=low+mid+high model.descriptions="$tmp/desc.jsonl" data.frames=3 optim.lr=0.02,0.005
run finecliper_sharp_fusion tiny 3 2 model.method=finecliper model.variant=low+mid+high model.descriptions="$tmp/desc.jsonl" model.fusion_temperature=0.02 model.mid_high_bottleneck_divisor=2 data.frames=3 optim.lr=0.02,0.005
run finecliper_mid_landmarks_fused tiny 3 3 model.method=finecliper model.variant=low+mid model.mid_streams=landmarks model.fusion_loss=fused data.frames=2 optim.lr=0.02,0.01
peer=yes run finecliper_mid_only tiny 3 2 model.method=finecliper model.variant=mid data.frames=3 optim.lr=0.02,0.005
peer=yes run finecliper_high_only tiny 3 2 model.method=finecliper model.variant=high model.descriptions="$tmp/desc.jsonl" data.frames=2 optim.lr=0.01,0.02
run finecliper_all_fixed tiny 3 2 model.method=finecliper model.variant=low+mid+high model.descriptions="$tmp/desc.jsonl" model.fusion_weights=fixed model.fusion_video_weight=0.3 data.frames=2 optim.lr=0.01,0.02
run finecliper_high_both_sum tiny 4 2 model.method=finecliper model.variant=low+high model.descriptions="$tmp/desc.jsonl" model.fusion_loss=both model.fusion_weights=sum model.negative=less data.frames=2 optim.lr=0.01,0.02
run dfer_clip_finetuned tiny 3 2 model.method=dfer_clip model.logit_scale=10 data.frames=4 optim.lr=0.01,0.02,0.05
run dfer_clip_frozen_encoder tiny 4 3 model.method=dfer_clip model.train_image_encoder=0 model.contexts=4 model.logit_scale=20 data.frames=5 optim.lr=0.01,0.02,0.05
peer=yes run dfer_clip_small small 7 2 model.method=dfer_clip model.logit_scale=100 data.frames=3 optim.lr=0.0001,0.001,0.001
# DFER-CLIP's ablations (the paper's Tab. 1, 3, 4): no temporal model (the frames' mean), a deeper one, the
# contexts split around the class text (CoOp's middle), one set of contexts shared by the classes, no contexts
run dfer_clip_no_temporal tiny 3 2 model.method=dfer_clip model.temporal_layers=0 model.logit_scale=10 data.frames=4 optim.lr=0.01,0.02,0.05
run dfer_clip_deep_middle tiny 3 2 model.method=dfer_clip model.temporal_layers=2 model.context_position=middle model.contexts=4 model.logit_scale=10 data.frames=3 optim.lr=0.01,0.02,0.05
run dfer_clip_shared_frozen tiny 4 2 model.method=dfer_clip model.class_specific_contexts=false model.train_image_encoder=0 model.contexts=3 model.temporal_layers=3 model.logit_scale=20 data.frames=3 optim.lr=0.01,0.02,0.05
run dfer_clip_no_contexts tiny 3 2 model.method=dfer_clip model.contexts=0 model.class_text=photo_of_name model.temporal_layers=0 model.logit_scale=10 data.frames=3 optim.lr=0.01,0.02,0.05
exit $status
