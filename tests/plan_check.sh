#!/usr/bin/env bash
# The memory planner (dfer plan):
#  1. its count is exact: for every FineCLIPER variant and DFER-CLIP, on a tiny CLIP, the bytes the
#     planner counts for the CPU backend equal what the real model allocates (--verify), in F32 and
#     in the mixed precision (BF16 weights and activations), and so do its evaluation passes (--eval);
#     every recompute level (qkv, qkv-fc1, blocks) is counted exactly too and keeps less than none, qkv-fc1
#     less than qkv, for FineCLIPER and DFER-CLIP;
#  2. it plans the paper's backbones for the GPU without weights or a GPU: every backbone x variant
#     fits 24 GiB at 16 frames and global batch 32, FineCLIPER's low level on L/14 included (its
#     plan is printed); a 2 GiB cap is refused with exit 1 and the reason;
#  3. the input feed's two prefetched batches of pixels are in the GPU plan, exactly, and not with
#     data.device_prefetch = off;
#  4. without a vocabulary it plans the prompts at the whole context (an upper bound, said in the plan); the real
#     model (--verify) without one, or settings out of range, stop with the reason;
#  5. the micro-batch gives the fewest passes that fit, dividing the share or not (L/14 low level: 6 of 32,
#     in 6 passes; under 80 GiB 2 passes of 16), train.micro_batch need not divide the share, and
#     --gpu-mem GiB sets the cap; evaluation passes (--eval) are planned for the cap, not train.micro_batch;
#  6. DFER-CLIP at FineCLIPER's default rate warns; 7. the compute line is `dfer bench`'s FLOP count, part by part.
# usage: plan_check.sh DFER SHARED_DIR
set -euo pipefail
dfer=$1 shared=$2
tmp=$(mktemp -d /tmp/dfer-plan-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$dfer" synth --layout dfew --clips 12 --size 48 --min-frames 6 --max-frames 8 --seed 3 --out "$tmp/data" 2>/dev/null
"$dfer" describe --landmarks "$tmp/data/synth/landmarks" --out "$tmp/desc.jsonl" 2>/dev/null
"$dfer" init --arch tiny --seed 1 --out "$tmp/w.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
common=(--device cpu --verify --set model.weights="$tmp/w.safetensors" --set train.batch=8 --set data.frames=4
        --set model.descriptions="$tmp/desc.jsonl")
for dtype in f32 bf16; do
  for v in low low+mid low+high low+mid+high; do
    out=$("$dfer" plan "${common[@]}" --set model.dtype=$dtype --set model.variant=$v)
    grep -q "verify: .*: equal$" <<<"$out" || { echo "FineCLIPER $v ($dtype): the plan differs from the model"; echo "$out"; exit 1; }
    echo "FineCLIPER $v ($dtype): $(grep verify <<<"$out")"
  done
  out=$("$dfer" plan "${common[@]}" --set model.dtype=$dtype --set model.method=dfer_clip)
  grep -q "verify: .*: equal$" <<<"$out" || { echo "DFER-CLIP ($dtype): the plan differs"; echo "$out"; exit 1; }
  echo "DFER-CLIP ($dtype): $(grep verify <<<"$out")"
done
# evaluation passes (--eval: `dfer eval` and `dfer predict`, forward only, no gradients, no optimiser state): counted
# exactly too, and less than a training step of as many clips; on the CPU train.micro_batch stays their size
for model in "--set model.variant=low+mid+high" "--set model.method=dfer_clip --set optim.lr=1e-5"; do
  for dtype in f32 bf16; do
    # shellcheck disable=SC2086 # (model: words)
    out=$("$dfer" plan "${common[@]}" $model --set model.dtype=$dtype --set train.eval_batch=8 --eval)
    # shellcheck disable=SC2086
    train=$("$dfer" plan "${common[@]}" $model --set model.dtype=$dtype)
    grep -q "verify: .*: equal$" <<<"$out" && grep -q "trainable, no grads" <<<"$out" &&
      grep -q "evaluation batch: 8 clips a rank in 1 pass of 8" <<<"$out" ||
      { echo "evaluation ($model, $dtype): the plan differs from the model"; echo "$out"; exit 1; }
    eval_bytes=$(grep -oE 'allocated [0-9]+ bytes' <<<"$out" | grep -oE '[0-9]+')
    train_bytes=$(grep -oE 'allocated [0-9]+ bytes' <<<"$train" | grep -oE '[0-9]+')
    [ "$eval_bytes" -lt "$train_bytes" ] || { echo "evaluation ($model, $dtype): $eval_bytes bytes, training $train_bytes"; exit 1; }
    echo "evaluation ($model, $dtype): $eval_bytes bytes, a training step $train_bytes (counted exactly)"
  done
done
out=$("$dfer" plan "${common[@]}" --set train.eval_batch=8 --set train.micro_batch=3 --eval)
grep -q "verify: .*: equal$" <<<"$out" && grep -q "in 3 passes of 3 (the last shorter)" <<<"$out" ||
  { echo "evaluation at train.micro_batch 3 on the CPU"; echo "$out"; exit 1; }
# the recompute levels: counted exactly too, and each keeps less than none (the verified bytes: the activations
# differ and nothing else), qkv-fc1 less than qkv (on this 2-block CLIP blocks need not keep less than qkv-fc1:
# one whole set beside the inputs)
for v in low low+mid+high dfer_clip; do
  model=(--set model.variant=$v) name="FineCLIPER $v"
  [ $v = dfer_clip ] && model=(--set model.method=dfer_clip --set optim.lr=1e-5) name=DFER-CLIP # (the paper's rate: no warning)
  declare -A kept=()
  for level in none qkv qkv-fc1 blocks; do
    out=$("$dfer" plan "${common[@]}" "${model[@]}" --set train.recompute=$level)
    grep -q "verify: .*: equal$" <<<"$out" || { echo "recompute $level, $v: the plan differs from the model"; echo "$out"; exit 1; }
    kept[$level]=$(grep -oE 'allocated [0-9]+ bytes' <<<"$out" | grep -oE '[0-9]+')
  done
  for level in qkv qkv-fc1 blocks; do
    [ "${kept[$level]}" -lt "${kept[none]}" ] || { echo "recompute $level, $v: ${kept[$level]} bytes, none ${kept[none]}"; exit 1; }
  done
  [ "${kept[qkv-fc1]}" -lt "${kept[qkv]}" ] || { echo "$v: qkv-fc1 keeps ${kept[qkv-fc1]} bytes, qkv ${kept[qkv]}"; exit 1; }
  echo "$name: bytes with recompute none ${kept[none]}, qkv ${kept[qkv]}, qkv-fc1 ${kept[qkv-fc1]}, blocks ${kept[blocks]} (counted exactly)"
  unset kept
done
# a frozen image encoder (DFER-CLIP) is crossed by no backward and its blocks share one set: counted exactly too; a
# level set by hand changes nothing (the same bytes, "no recompute") and is warned about; the GPU plan has no
# levels line
frozen=(--set model.method=dfer_clip --set optim.lr=1e-5 --set model.train_image_encoder=false)
declare -A kept=()
for level in none blocks; do
  out=$("$dfer" plan "${common[@]}" "${frozen[@]}" --set train.recompute=$level 2>"$tmp/err")
  grep -q "verify: .*: equal$" <<<"$out" && grep -q "no recompute" <<<"$out" ||
    { echo "frozen encoder, recompute $level: the plan differs from the model, or plans a level"; echo "$out"; exit 1; }
  kept[$level]=$(grep -oE 'allocated [0-9]+ bytes' <<<"$out" | grep -oE '[0-9]+')
done
[ "${kept[none]}" = "${kept[blocks]}" ] && grep -q "train.recompute = blocks does nothing here" "$tmp/err" ||
  { echo "frozen encoder: none ${kept[none]} bytes, blocks ${kept[blocks]}; warning: $(cat "$tmp/err")"; exit 1; }
! "$dfer" plan --arch b16 --set model.vocab="$tmp/bpe_simple_vocab_16e6.txt.gz" "${frozen[@]}" | grep -q "recompute levels" ||
  { echo "frozen encoder: the GPU plan lists recompute levels"; exit 1; }
echo "DFER-CLIP, frozen image encoder: ${kept[none]} bytes at any level (counted exactly; a set level warned about)"
unset kept
# the plan needs the weights' shapes only: it does not read (nor hash) their bytes, so a dfer-written file with a
# byte damaged since plans as the whole one did, and the real model (--verify) refuses it, naming the damage
cp "$tmp/w.safetensors" "$tmp/w-damaged.safetensors"
size=$(stat -c %s "$tmp/w-damaged.safetensors")
printf '\x5a' | dd of="$tmp/w-damaged.safetensors" bs=1 seek=$((size - 100)) conv=notrunc status=none
whole=$("$dfer" plan --device cpu --set model.weights="$tmp/w.safetensors" --set train.batch=8 --set data.frames=4)
planned=$("$dfer" plan --device cpu --set model.weights="$tmp/w-damaged.safetensors" --set train.batch=8 --set data.frames=4) ||
  { echo "a weights file with a damaged byte cannot be planned"; echo "$planned"; exit 1; }
[ "$(grep -v weights <<<"$planned")" = "$(grep -v weights <<<"$whole")" ] || { echo "the plans differ:"; diff <(echo "$whole") <(echo "$planned"); exit 1; }
if out=$("$dfer" plan "${common[@]}" --set model.weights="$tmp/w-damaged.safetensors" 2>&1); then
  echo "--verify built the model from damaged weights"; echo "$out"; exit 1
fi
grep -q "w-damaged.safetensors: damaged" <<<"$out" || { echo "--verify: not refused as damaged"; echo "$out"; exit 1; }
echo "damaged weights: planned from their shapes as the whole file; --verify refuses them ($(grep -o 'damaged: [a-z ]*' <<<"$out" | head -1))"
# a micro-batch set by hand need not divide the share: 8 clips go through in passes of 3, 3 and 2 (the planner
# refused it, although the step runs a shorter last pass), counted exactly too
out=$("$dfer" plan "${common[@]}" --set train.micro_batch=3) || { echo "micro_batch 3 of 8 refused"; echo "$out"; exit 1; }
grep -q "verify: .*: equal$" <<<"$out" || { echo "micro_batch 3: the plan differs from the model"; echo "$out"; exit 1; }
grep -q "global 8 = 1 rank x (2 micro-batches of 3 clips + 1 of 2) (gradient accumulation 3)" <<<"$out" ||
  { echo "micro_batch 3 of 8: not 3 passes of 3, 3 and 2"; echo "$out"; exit 1; }

vocab=(--set model.vocab="$tmp/bpe_simple_vocab_16e6.txt.gz")
# without a vocabulary (no model.vocab, no weights beside which to look, no DFER_VOCAB) the plan needs only the
# prompts' lengths: it counts each at the whole context, says so, and plans at least what the tokenized prompts need
for v in low low+mid+high; do
  bare=$(env -u DFER_VOCAB "$dfer" plan --arch b16 --set model.variant=$v 2>&1) ||
    { echo "$v: no plan without a vocabulary:"; echo "$bare"; exit 1; }
  grep -q "prompts: no vocabulary (model.vocab, DFER_VOCAB): each class prompt counted at the whole 77-token context" \
    <<<"$bare" || { echo "$v: the plan without a vocabulary does not say what it assumed:"; echo "$bare"; exit 1; }
  tokenized=$(env -u DFER_VOCAB "$dfer" plan --arch b16 "${vocab[@]}" --set model.variant=$v)
  ! grep -q "prompts: no vocabulary" <<<"$tokenized" || { echo "$v: vocabulary given, yet not used"; exit 1; }
  a=$(grep -oE 'total +[0-9.]+' <<<"$bare" | grep -oE '[0-9.]+$')
  b=$(grep -oE 'total +[0-9.]+' <<<"$tokenized" | grep -oE '[0-9.]+$')
  awk -v a="$a" -v b="$b" 'BEGIN { exit !(a >= b) }' ||
    { echo "$v: $a GiB without a vocabulary, under $b with it"; exit 1; }
  echo "$v without a vocabulary: total $a GiB (tokenized prompts: $b GiB)"
done
# the real model (--verify) still needs the vocabulary, and says so (weights with no vocabulary beside them)
mkdir "$tmp/novocab" && cp "$tmp/w.safetensors" "$tmp/novocab/"
bare_weights=(--set model.weights="$tmp/novocab/w.safetensors")
if env -u DFER_VOCAB "$dfer" plan --device cpu --verify "${bare_weights[@]}" >"$tmp/out" 2>&1; then
  echo "verified a real model without a vocabulary"; exit 1
fi
grep -q "no CLIP vocabulary: set model.vocab" "$tmp/out" ||
  { echo "no vocabulary, wrong message:"; cat "$tmp/out"; exit 1; }
# the configuration's settings are checked before they are counted (a batch of 0 divided by zero before)
if "$dfer" plan --arch b16 "${vocab[@]}" --set train.batch=0 >"$tmp/out" 2>&1; then echo "planned a batch of 0"; exit 1; fi
grep -q "train.batch and train.eval_batch must be positive" "$tmp/out" || { echo "batch 0, wrong message:"; cat "$tmp/out"; exit 1; }
for arch in b32 b16 l14; do
  for v in low low+mid low+high low+mid+high; do
    out=$("$dfer" plan --arch $arch "${vocab[@]}" --set model.variant=$v --set data.frames=16 --set train.batch=32) ||
      { echo "$arch $v does not fit 24 GiB:"; echo "$out"; exit 1; }
    echo "$arch $v: $(grep -E 'total' <<<"$out" | tr -s ' ') $(grep -oE 'micro-batch(es)? of [0-9]+ clips?' <<<"$out")"
    [ $arch = l14 ] && [ $v = low ] && echo "$out"
  done
  "$dfer" plan --arch $arch "${vocab[@]}" --set model.method=dfer_clip --set data.frames=16 --set train.batch=32 >/dev/null ||
    { echo "DFER-CLIP on $arch does not fit 24 GiB"; exit 1; }
done
# the input feed's prefetch slots (data.device_prefetch) are planned: two batches of a rank's pixels for each
# stream the model takes (frames, parsing maps, landmark maps), uint8 [clips, T, 3, 224, 224]; off plans none
pf=(--arch b16 "${vocab[@]}" --set model.variant=low+mid --set data.frames=16 --set train.batch=32 --set train.eval_batch=8)
on=$("$dfer" plan "${pf[@]}") off=$("$dfer" plan "${pf[@]}" --set data.device_prefetch=off)
want=$(awk 'BEGIN { printf "%.3f", 2 * 3 * 32 * 16 * 3 * 224 * 224 / 2^30 }')
got=$(grep -oE 'input prefetch +[0-9.]+' <<<"$on" | grep -oE '[0-9.]+$' || true)
[ "$got" = "$want" ] || { echo "input prefetch planned as '$got' GiB, not $want"; echo "$on"; exit 1; }
! grep -q "input prefetch" <<<"$off" || { echo "data.device_prefetch=off still plans the prefetch slots"; echo "$off"; exit 1; }
t_on=$(grep -oE 'total +[0-9.]+' <<<"$on" | grep -oE '[0-9.]+$') t_off=$(grep -oE 'total +[0-9.]+' <<<"$off" | grep -oE '[0-9.]+$')
awk -v a="$t_on" -v b="$t_off" -v w="$want" 'BEGIN { d = a - b - w; exit !(d < 0.0015 && d > -0.0015) }' ||
  { echo "totals $t_on vs $t_off GiB differ by other than the $want GiB of prefetch"; exit 1; }
echo "input prefetch: $got GiB planned for B/16 low+mid at 32 clips a rank (2 x 3 streams of uint8 pixels); off: none"
if "$dfer" plan --arch l14 "${vocab[@]}" --set train.gpu_mem=2 >"$tmp/out" 2>&1; then echo "L/14 planned into 2 GiB"; exit 1; fi
grep -q "does NOT fit" "$tmp/out" || { cat "$tmp/out"; exit 1; }
echo "a 2 GiB cap for L/14 is refused: $(grep 'over the cap' "$tmp/out" | tr -s ' ')"
# the largest micro-batch that fits, not the largest divisor of the share: L/14's low level at 16 frames and
# global batch 32 takes 6 clips a pass (5 x 6 + 2; the divisors gave 4 x 8) and 7 do not fit without recompute
l14=(--arch l14 "${vocab[@]}" --set data.frames=16 --set train.batch=32)
out=$("$dfer" plan "${l14[@]}") || { echo "$out"; exit 1; }
grep -q "micro-batch 6, no recompute" <<<"$out" && grep -q "(5 micro-batches of 6 clips + 1 of 2) (gradient accumulation 6)" <<<"$out" ||
  { echo "L/14 low: not micro-batch 6 in 6 passes"; echo "$out"; exit 1; }
if "$dfer" plan "${l14[@]}" --set train.recompute=none --set train.micro_batch=7 >"$tmp/out" 2>&1; then
  echo "L/14 low fits 7 clips a pass: the planner did not take the largest"; cat "$tmp/out"; exit 1
fi
grep -q "does NOT fit" "$tmp/out" || { cat "$tmp/out"; exit 1; }
# its evaluation passes on the GPU (--eval): the whole evaluation batch of 64 in one pass under 24 GiB, whatever
# train.micro_batch says (a training setting), the parameters without gradients (DFER-CLIP fine-tunes L/14's image
# encoder: 1.150 of 2.300 GiB); under 8 GiB fewer clips a pass
out=$("$dfer" plan "${l14[@]}" --set train.eval_batch=64 --set train.micro_batch=2 --eval) || { echo "$out"; exit 1; }
grep -q "evaluation batch: 64 clips a rank in 1 pass of 64" <<<"$out" && grep -q "forward only" <<<"$out" ||
  { echo "L/14 low, evaluation batch 64: not one pass"; echo "$out"; exit 1; }
dc=(--set model.method=dfer_clip --set optim.lr=1e-5)
trained=$("$dfer" plan "${l14[@]}" "${dc[@]}" | grep -oE 'trainable \+ grads +[0-9.]+' | grep -oE '[0-9.]+$')
evaluated=$("$dfer" plan "${l14[@]}" "${dc[@]}" --eval | grep -oE 'trainable, no grads +[0-9.]+' | grep -oE '[0-9.]+$')
[ "$trained" = 2.300 ] && [ "$evaluated" = 1.150 ] ||
  { echo "L/14 DFER-CLIP: trainable $trained GiB in training, $evaluated evaluating (2.300 and 1.150)"; exit 1; }
out=$("$dfer" plan "${l14[@]}" --set train.eval_batch=64 --eval --gpu-mem 8) || { echo "$out"; exit 1; }
grep -qE "evaluation batch: 64 clips a rank in [2-9] passes of" <<<"$out" || { echo "L/14 evaluation under 8 GiB"; echo "$out"; exit 1; }
echo "L/14 low, evaluation batch 64: one pass under 24 GiB, $(grep -oE '[0-9]+ passes of [0-9]+' <<<"$out") under 8 GiB; DFER-CLIP's trainable $evaluated GiB evaluating, $trained training"
# over the cap at a micro-batch that was set, fewer clips per pass are the way out (it said "more ranks do not
# help", true only at micro-batch 1); at micro-batch 1 that advice stands
grep -q "over the cap by [0-9.]* GiB at micro-batch 7: fewer clips per pass need less" "$tmp/out" \
  || { cat "$tmp/out"; echo "a set micro-batch over the cap: not told to take fewer clips per pass"; exit 1; }
grep -q "even at micro-batch 1: more ranks do not help" <("$dfer" plan --arch l14 "${vocab[@]}" --set train.gpu_mem=2 2>&1) \
  || { echo "L/14 into 2 GiB at micro-batch 1: the advice changed"; exit 1; }
# the recompute it suggests is what could still be set by hand: the levels beyond one set (qkv: qkv-fc1, blocks), all
# of them beyond none, none where auto tried them all (DFER-CLIP's too)
advice() { "$dfer" plan --arch l14 "${vocab[@]}" --set data.frames=16 "$@" 2>&1 | grep "over the cap" || true; }
grep -q "so does more train.recompute (qkv-fc1, blocks);" <<<"$(advice --gpu-mem 9 --set train.recompute=qkv --set train.micro_batch=32)" &&
  grep -q "; more train.recompute (qkv, qkv-fc1, blocks) may;" <<<"$(advice --gpu-mem 2 --set train.recompute=none)" &&
  ! grep -q "train.recompute" <<<"$(advice --gpu-mem 2)" &&
  ! grep -q "train.recompute" <<<"$(advice --gpu-mem 3 --set model.method=dfer_clip)" &&
  [ -n "$(advice --gpu-mem 3 --set model.method=dfer_clip)" ] ||
  { echo "over the cap: the recompute suggested is not the levels that could still be set"; exit 1; }
# a list plans the classes training gives it: 7, or data.classes (it planned 11, its class table's names)
[ "$("$dfer" plan --arch tiny "${vocab[@]}" --set data.dataset=list | grep -oE '[0-9]+ classes')" = "7 classes" ] &&
  [ "$("$dfer" plan --arch tiny "${vocab[@]}" --set data.dataset=list --set data.classes=11 | grep -oE '[0-9]+ classes')" = "11 classes" ] ||
  { echo "a list's plan: not 7 classes, or data.classes not taken"; exit 1; }
# --gpu-mem GiB is train.gpu_mem, whatever the order beside --set
out=$("$dfer" plan "${l14[@]}" --gpu-mem 80 --set train.gpu_mem=24) || { echo "$out"; exit 1; }
# (80 GiB holds 26 clips a pass: the two passes that takes are evened out, 16 + 16 rather than 26 + 6)
grep -q "of a 80.000 GiB cap: fits" <<<"$out" && grep -q "x 2 micro-batches of 16 clips (gradient accumulation 2)" <<<"$out" ||
  { echo "--gpu-mem 80: not an 80 GiB cap with 2 passes of 16"; echo "$out"; exit 1; }
if "$dfer" plan "${l14[@]}" --gpu-mem 2 >"$tmp/out" 2>&1; then echo "--gpu-mem 2: L/14 planned into 2 GiB"; exit 1; fi
grep -q "of a 2.000 GiB cap: does NOT fit" "$tmp/out" || { cat "$tmp/out"; exit 1; }
for bad in 0 -1 abc; do
  set +e; "$dfer" plan "${l14[@]}" --gpu-mem $bad >"$tmp/out" 2>&1; rc=$?; set -e
  [ $rc = 2 ] && grep -q -- "--gpu-mem" "$tmp/out" || { echo "--gpu-mem $bad: exit $rc"; cat "$tmp/out"; exit 1; }
done
echo "L/14 low: micro-batch 6 in 6 passes (7 does not fit); --gpu-mem sets the cap"
# train.recompute = auto (the default) takes the least recompute that leaves at least 4 clips a pass: as the cap
# shrinks, L/14's low level at 16 frames (32 clips) goes from none to qkv, qkv-fc1 and blocks, and at each cap
# every cheaper level, set by hand, leaves fewer than 4 clips a pass (or does not fit)
levels=(none qkv qkv-fc1 blocks) caps=(24 14 9 7)
for i in 0 1 2 3; do
  out=$("$dfer" plan "${l14[@]}" --gpu-mem "${caps[$i]}") || { echo "$out"; exit 1; }
  phrase=$(grep -oE 'micro-batch [0-9]+, [a-z0-9 ]+ recompute' <<<"$out") mb=$(grep -oE 'micro-batch [0-9]+' <<<"$phrase" | grep -oE '[0-9]+')
  want=$(case ${levels[$i]} in none) echo "no";; qkv) echo "qkv";; qkv-fc1) echo "qkv and fc1";; blocks) echo "block";; esac)
  [[ "$phrase" == *", $want recompute" ]] && [ "$mb" -ge 4 ] ||
    { echo "auto under ${caps[$i]} GiB: '$phrase', not ${levels[$i]} at 4 clips or more"; echo "$out"; exit 1; }
  # the plan's line of every level under the cap has the chosen one at the plan's micro-batch, and all four
  line=$(grep "^  recompute levels:" <<<"$out")
  grep -qE "(:|,) ${levels[$i]} $mb clips a pass" <<<"$line" && [ "$(grep -oE '(none|qkv|qkv-fc1|blocks) ([0-9]+ clips? a pass|does not fit)' <<<"$line" | wc -l)" = 4 ] ||
    { echo "under ${caps[$i]} GiB the levels line does not show ${levels[$i]} at $mb clips:"; echo "$line"; exit 1; }
  for ((j = 0; j < i; j++)); do
    o=$("$dfer" plan "${l14[@]}" --gpu-mem "${caps[$i]}" --set train.recompute=${levels[$j]} 2>&1) || true
    m=$(grep -oE 'micro-batch [0-9]+' <<<"$o" | head -1 | grep -oE '[0-9]+')
    grep -q "does NOT fit" <<<"$o" || [ "$m" -lt 4 ] ||
      { echo "under ${caps[$i]} GiB ${levels[$j]} gives $m clips a pass, yet auto took ${levels[$i]}"; echo "$o"; exit 1; }
  done
  echo "auto under ${caps[$i]} GiB: $phrase"
done
# DFER-CLIP's fine-tuned image encoder has the same levels: on L/14 at 16 frames (32 clips) auto keeps everything
# under 24 GiB (5 clips a pass) and under 12 GiB takes block recompute, where every cheaper level leaves fewer than
# 4 clips a pass; a level set by hand is taken (it was refused as FineCLIPER's before)
dc=(--arch l14 "${vocab[@]}" --config "$(dirname "$0")/../configs/paper/dfer_clip.ini" --set data.frames=16 --set train.batch=32)
phrase24=$("$dfer" plan "${dc[@]}" | grep -oE 'micro-batch [0-9]+, [a-z0-9 ]+ recompute')
out=$("$dfer" plan "${dc[@]}" --gpu-mem 12) || { echo "$out"; exit 1; }
phrase12=$(grep -oE 'micro-batch [0-9]+, [a-z0-9 ]+ recompute' <<<"$out")
[ "$phrase24" = "micro-batch 5, no recompute" ] && [[ "$phrase12" == *", block recompute" ]] &&
  [ "$(grep -oE '[0-9]+' <<<"$phrase12")" -ge 4 ] ||
  { echo "DFER-CLIP L/14 auto: '$phrase24' under 24 GiB, '$phrase12' under 12"; echo "$out"; exit 1; }
for level in none qkv qkv-fc1; do
  o=$("$dfer" plan "${dc[@]}" --gpu-mem 12 --set train.recompute=$level 2>&1) || true
  m=$(grep -oE 'micro-batch [0-9]+' <<<"$o" | head -1 | grep -oE '[0-9]+')
  grep -q "does NOT fit" <<<"$o" || [ "$m" -lt 4 ] ||
    { echo "DFER-CLIP under 12 GiB: $level gives $m clips a pass, yet auto took blocks"; echo "$o"; exit 1; }
done
echo "DFER-CLIP L/14 auto: $phrase24 under 24 GiB, $phrase12 under 12 GiB"
# 6. DFER-CLIP without its recipe (config.c's defaults are FineCLIPER's: one rate of 0.01 for every group) would
#    fine-tune the pretrained image encoder at 0.01: the plan warns, naming the paper's rates; the paper config does
#    not warn, nor a frozen image encoder
"$dfer" plan --arch tiny --set model.method=dfer_clip >/dev/null 2>"$tmp/err"
grep -q "warning: DFER-CLIP fine-tunes its pretrained image encoder at optim.lr = 0.01 (one rate for every group)" \
  "$tmp/err" && grep -q "configs/paper/dfer_clip.ini" "$tmp/err" ||
  { echo "DFER-CLIP at lr 0.01: no warning"; cat "$tmp/err"; exit 1; }
for quiet in "--config configs/paper/dfer_clip.ini" "--set model.method=dfer_clip --set model.train_image_encoder=false"; do
  # shellcheck disable=SC2086 # the options are words
  (cd "$(dirname "$0")/.." && "$dfer" plan --arch tiny $quiet >/dev/null 2>"$tmp/err")
  ! grep -q "warning: DFER-CLIP" "$tmp/err" || { echo "$quiet: a warning"; cat "$tmp/err"; exit 1; }
done
# dfer train says it too, before it reads anything (here it then fails on the missing dataset)
set +e
"$dfer" train --set model.method=dfer_clip --set model.weights="$tmp/none.safetensors" --set data.root="$tmp/none" \
  --out "$tmp/caution-run" >/dev/null 2>"$tmp/err"
set -e
grep -q "warning: DFER-CLIP fine-tunes its pretrained image encoder at optim.lr = 0.01" "$tmp/err" ||
  { echo "dfer train of DFER-CLIP at lr 0.01: no warning"; cat "$tmp/err"; exit 1; }
echo "DFER-CLIP fine-tuning its image encoder at 0.01: warned (plan, train); at the paper's rates or frozen: not"
# 7. the compute it prints is `dfer bench`'s FLOP count of the same step, part by part (forward, input gradients,
#    trainable weight gradients, what runs again), micro-batches that do not divide the share and a recompute level
#    included: the planner and the benchmark count one model
export DFER_VOCAB="$shared/clip/bpe_simple_vocab_16e6.txt.gz"
for case in "finecliper low none" "finecliper low+mid qkv" "dfer_clip - blocks"; do
  read -r method variant level <<<"$case"
  vopt=() vset=()
  [ "$variant" = - ] || vopt=(--variant "$variant") vset=(--set model.variant="$variant")
  "$dfer" bench --device cpu --arch tiny --method "$method" "${vopt[@]}" --frames 3 --batch 5 --steps 1 --warmup 0 \
    --set train.micro_batch=2 --set train.recompute="$level" --json "$tmp/bench.json" >"$tmp/bench.log" 2>&1 ||
    { echo "dfer bench ($case) failed"; cat "$tmp/bench.log"; exit 1; }
  line=$("$dfer" plan --arch tiny --device cpu --set model.method="$method" "${vset[@]}" --set data.frames=3 \
    --set train.batch=5 --set train.micro_batch=2 --set train.recompute="$level" 2>/dev/null | grep "compute:") ||
    { echo "dfer plan ($case): no compute line"; exit 1; }
  python3 - "$tmp/bench.json" "$line" "$case" <<'PY'
import json, re, sys
flops = json.load(open(sys.argv[1]))["flops"]
n = r"([0-9.]+(?:e[-+]?[0-9]+)?)"
m = re.search(rf"compute: {n} TFLOP a step a rank \(forward {n}, input gradients {n}, trainable weight gradients "
              rf"{n}; run again, not counted: {n};", sys.argv[2])
if not m:
    sys.exit(f"{sys.argv[3]}: the plan's compute line does not read: {sys.argv[2]}")
keys = ("train_step", "forward", "backward_input", "backward_weight", "recompute")
for key, text in zip(keys, m.groups()):
    plan, bench = float(text) * 1e12, float(flops[key])
    if abs(plan - bench) > 1e-3 * max(abs(bench), 1.0):  # the plan prints 4 significant digits
        sys.exit(f"{sys.argv[3]}: the plan counts {key} {plan:.4g} FLOP, dfer bench {bench:.4g}")
if flops["recompute"] <= 0 and sys.argv[3].split()[-1] != "none":
    sys.exit(f"{sys.argv[3]}: a recompute level that runs nothing again")
print(f"{sys.argv[3]}: the plan's compute equals dfer bench's ({flops['train_step']:.4g} FLOP a step)")
PY
done
