# Sourced by the training tests (train_resume.sh, train_disk_full.sh, train_hang.sh): a small synthetic
# DFEW-layout set and a random tiny CLIP with the BPE vocabulary beside it in $tmp, and the `dfer train`
# arguments for a configs/synth method on them. The caller has set $dfer, $src, $shared and $tmp.
#   train_fixture                 $tmp/data (30 clips, 48 px, 6-14 frames, seed 5), $tmp/clip.safetensors (seed 2)
#   train_common METHOD K=V...    sets the array `common`: --config configs/synth/METHOD.ini, that data and CLIP,
#                                 4 frames, batch 4 (8 to evaluate), then --set K=V for each further argument
#   same_metrics A B              fails unless two metrics.jsonl are alike but for the timings
# shellcheck disable=SC2154 # dfer, src, shared and tmp are the caller's
train_fixture() {
  "$dfer" synth --layout dfew --clips 30 --size 48 --min-frames 6 --max-frames 14 --seed 5 --out "$tmp/data" 2>/dev/null
  "$dfer" init --arch tiny --seed 2 --out "$tmp/clip.safetensors" >/dev/null
  cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
}

train_common() {
  local method=$1 kv
  shift
  common=(--config "$src/configs/synth/$method.ini" --set data.root="$tmp/data" --set model.weights="$tmp/clip.safetensors"
          --set train.batch=4 --set train.eval_batch=8 --set data.frames=4)
  for kv in "$@"; do common+=(--set "$kv"); done
}

# same_metrics A B: two metrics.jsonl alike but for the timings (the seconds and rates of this call's steps)
same_metrics() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
def lines(p):
    out = []
    for l in open(p):
        o = json.loads(l)
        out.append({k: v for k, v in o.items() if not (k.endswith("_s") or k == "clips_per_s")})
    return out
a, b = lines(sys.argv[1]), lines(sys.argv[2])
for i, (x, y) in enumerate(zip(a, b)):
    if x != y:
        sys.exit(f"line {i + 1}: {x} != {y}")
if len(a) != len(b):
    sys.exit(f"{len(a)} lines against {len(b)}")
PY
}
