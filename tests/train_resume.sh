#!/usr/bin/env bash
# Resume: a run stopped after step 3 (mid-epoch, inside a logging window of 2 steps) or step 5 (in the
# next epoch), or by SIGUSR1 after step 4 (exit status 3), and resumed ends with bitwise the same trained
# parameters as an uninterrupted run, and the same metrics.jsonl but for timings, for FineCLIPER and
# DFER-CLIP; a checkpoint of another architecture, or input files changed at the same paths, are refused
# with a clear message, as is a checkpoint whose config.ini is missing or unreadable (a damaged position:
# train_resume_position.sh); --resume of a finished run does nothing; a run resumed just before
# an unreadable clip goes on as the uninterrupted one does (the clips read before the restart count); a
# resumed run's result.json counts the seconds of both calls; periodic checkpoints (--checkpoint-every)
# change no logged loss; ranks of a group shown different checkpoints refuse to resume, at once.
# usage: train_resume.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$1 src=$2 shared=$3
tmp=$(mktemp -d /tmp/dfer-resume-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/lib/train_fixture.sh"
train_fixture
for method in finecliper dfer_clip; do
  train_common "$method" train.epochs=2 train.threads=2 train.log_every=2
  "$dfer" train "${common[@]}" --out "$tmp/$method-full" >/dev/null
  # periodic checkpoints change nothing: one at step 5 of 6 (inside a logging window of 2) kept that window's loss
  # in the position, and the next epoch's first window added it to its own (its metrics.jsonl loss was wrong)
  if [ "$method" = finecliper ]; then
    "$dfer" train "${common[@]}" --out "$tmp/$method-every5" --checkpoint-every 5 >/dev/null
    same_metrics "$tmp/$method-full/metrics.jsonl" "$tmp/$method-every5/metrics.jsonl" \
      || { echo "$method: --checkpoint-every 5 changed metrics.jsonl"; exit 1; }
    echo "$method: --checkpoint-every 5: metrics.jsonl as without it"
  fi
  for stop in 3 5; do
    out="$tmp/$method-stop$stop"
    set +e
    "$dfer" train "${common[@]}" --out "$out" --stop-after $stop >/dev/null
    set -e
    [ -f "$out/checkpoint.safetensors" ] || { echo "no checkpoint after $stop steps"; exit 1; }
    [ ! -f "$out/model.safetensors" ] || { echo "a stopped run must not write its final model"; exit 1; }
    "$dfer" train "${common[@]}" --out "$out" --resume >/dev/null
    if cmp -s "$tmp/$method-full/model.safetensors" "$out/model.safetensors"; then
      echo "$method: stopped after $stop steps and resumed: parameters bitwise identical"
    else
      echo "$method: stopped after $stop steps and resumed: parameters DIFFER"; exit 1
    fi
    same_metrics "$tmp/$method-full/metrics.jsonl" "$out/metrics.jsonl" \
      || { echo "$method: stopped after $stop steps and resumed: metrics.jsonl differs"; exit 1; }
    # result.json's seconds count both calls (it had only the last); an uninterrupted run's are its one call's
    /usr/bin/python3 - "$out/result.json" "$tmp/$method-full/result.json" <<'PY' || { echo "$method: result.json seconds"; exit 1; }
import json, sys
resumed, full = (json.load(open(p)) for p in sys.argv[1:])
assert resumed["seconds"] > resumed["seconds_this_call"] > 0, (resumed["seconds"], resumed["seconds_this_call"])
assert abs(full["seconds"] - full["seconds_this_call"]) < 0.01, (full["seconds"], full["seconds_this_call"])
PY
  done
  # preemption: SIGUSR1 (as Slurm sends before the time limit) after step 4: the run checkpoints, exits 3,
  # and resuming gives the uninterrupted run's parameters
  out="$tmp/$method-signal"
  set +e
  "$dfer" train "${common[@]}" --out "$out" --signal-after 4 >"$tmp/signal.log" 2>&1
  rc=$?
  set -e
  [ $rc = 3 ] || { echo "$method: a run stopped by SIGUSR1 exited $rc, not 3"; cat "$tmp/signal.log"; exit 1; }
  grep -q "stopped by signal 10 after epoch 1 step 4" "$tmp/signal.log" || { echo "no stop message"; cat "$tmp/signal.log"; exit 1; }
  [ ! -f "$out/model.safetensors" ] || { echo "an interrupted run must not write its final model"; exit 1; }
  # as if the run had been killed while appending a line: the resumed run cuts it, its lines start whole
  printf '{"type":"step","epo' >>"$out/metrics.jsonl"
  # and as if it had been killed while writing its next checkpoint: the temporary file goes; a user's file stays
  head -c 100000 /dev/urandom >"$out/checkpoint.safetensors.dfer-tmp.k9Xq2Z"
  echo keep >"$out/notes.tmp.txt"
  "$dfer" train "${common[@]}" --out "$out" --resume >"$tmp/resume.log" 2>&1
  grep -q "removed 1 temporary file a killed run left: checkpoint.safetensors.dfer-tmp.k9Xq2Z" "$tmp/resume.log" \
    && [ ! -e "$out/checkpoint.safetensors.dfer-tmp.k9Xq2Z" ] && [ -f "$out/notes.tmp.txt" ] \
    || { echo "$method: the killed checkpoint write's temporary file was not removed (or another file was)"; cat "$tmp/resume.log"; exit 1; }
  grep -q "metrics.jsonl: back to the checkpoint: 0 line(s) and 19 bytes logged after it cut" "$tmp/resume.log" || { echo "$method: torn line not cut"; cat "$tmp/resume.log"; exit 1; }
  /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$out/metrics.jsonl" \
    || { echo "$method: metrics.jsonl has a malformed line after the resume"; exit 1; }
  cmp -s "$tmp/$method-full/model.safetensors" "$out/model.safetensors" \
    || { echo "$method: stopped by SIGUSR1 and resumed: parameters DIFFER"; exit 1; }
  echo "$method: stopped by SIGUSR1 after 4 steps (exit 3) and resumed: parameters bitwise identical"
done
# a resumed run with another configuration ($method and common: the loop's last, DFER-CLIP): what changes
# what is trained is refused and config.ini kept as it was; threads may change; --allow-config-change
# resumes and keeps the earlier config.ini beside the new one
out="$tmp/$method-change"
set +e
"$dfer" train "${common[@]}" --out "$out" --stop-after 3 >/dev/null 2>&1
set -e
cp "$out/config.ini" "$tmp/config-before.ini"
if "$dfer" train "${common[@]}" --set optim.lr=0.005 --out "$out" --resume >/dev/null 2>"$tmp/err"; then
  echo "a resume with another learning rate was accepted"; exit 1
fi
grep -q "$out/config.ini: the run was started with another configuration (optim.lr: .* -> 0.005); resuming would train" "$tmp/err" \
  || { echo "unclear message for a changed configuration:"; cat "$tmp/err"; exit 1; }
cmp -s "$out/config.ini" "$tmp/config-before.ini" || { echo "a refused resume changed config.ini"; exit 1; }
set +e
"$dfer" train "${common[@]}" --set train.threads=1 --out "$out" --resume --stop-after 1 >"$tmp/ok.log" 2>&1
set -e
grep -q "resuming with train.threads: 2 -> 1" "$tmp/ok.log" || { echo "a change of threads was not allowed and said:"; cat "$tmp/ok.log"; exit 1; }
# AdamW's state resumed as SGD's, even with --allow-config-change: refused (Adam's first moments were read as
# SGD's momentum buffer), config.ini kept as it was
cp "$out/config.ini" "$tmp/config-threads.ini"
if "$dfer" train "${common[@]}" --set optim.optimizer=sgd --out "$out" --resume --allow-config-change >/dev/null 2>"$tmp/err"; then
  echo "AdamW's checkpoint resumed with SGD"; exit 1
fi
grep -q "config.ini: the run was started with optim.optimizer = adamw .* optim.optimizer = sgd cannot resume" "$tmp/err" \
  || { echo "unclear message for AdamW's state resumed with SGD:"; cat "$tmp/err"; exit 1; }
cmp -s "$out/config.ini" "$tmp/config-threads.ini" && ! ls "$out"/config.before-* >/dev/null 2>&1 \
  || { echo "a resume refused for its optimiser changed config.ini"; exit 1; }
# an earlier config.before-<stamp>.ini of the same second (two changes within one) is kept, not overwritten:
# placeholders for the next 60 seconds
for s in $(seq 0 60); do echo "earlier $s" >"$out/config.before-$(date -u -d "+$s sec" +%Y%m%dT%H%M%SZ).ini"; done
"$dfer" train "${common[@]}" --set optim.lr=0.005 --out "$out" --resume --allow-config-change >/dev/null 2>"$tmp/ok.log" \
  || { cat "$tmp/ok.log"; echo "--allow-config-change did not resume"; exit 1; }
[ "$(cat "$out"/config.before-*Z.ini | grep -c '^earlier ')" = 61 ] || { echo "an earlier config.before file was overwritten"; exit 1; }
kept=$(ls "$out"/config.before-*Z-2.ini)
cmp -s <(grep -v '^threads = ' "$kept") <(grep -v '^threads = ' "$tmp/config-before.ini") && grep -q "^lr = 0.005$" "$out/config.ini" && [ -f "$out/result.json" ] \
  || { echo "--allow-config-change: the earlier config.ini was not kept, or the run did not finish"; exit 1; }
echo "a changed configuration: refused on resume ($(sed 's/.*another configuration (\(.*\)); resuming.*/\1/' "$tmp/err")), allowed for threads, and with --allow-config-change (earlier kept as $(basename "$kept"))"
# training into a run's folder without --resume is refused (the run stays); a start from scratch empties
# the metrics an earlier start left without a checkpoint
before=$(md5sum <"$tmp/$method-full/model.safetensors")
if "$dfer" train "${common[@]}" --out "$tmp/$method-full" >/dev/null 2>"$tmp/err"; then echo "a second run into a finished run's folder was accepted"; exit 1; fi
grep -q "$tmp/$method-full already holds a run (.*): --resume continues it" "$tmp/err" || { echo "unclear message:"; cat "$tmp/err"; exit 1; }
[ "$(md5sum <"$tmp/$method-full/model.safetensors")" = "$before" ] || { echo "the refused run changed the model"; exit 1; }
mkdir -p "$tmp/fresh" && echo '{"type":"step","epoch":9,"step":99,"loss":7}' >"$tmp/fresh/metrics.jsonl"
set +e
"$dfer" train "${common[@]}" --out "$tmp/fresh" --resume --stop-after 1 --set train.log_every=1 >"$tmp/fresh.log" 2>&1
set -e
grep -q "metrics.jsonl: emptied" "$tmp/fresh.log" && ! grep -q '"epoch":9' "$tmp/fresh/metrics.jsonl" \
  && grep -q '"type":"step","epoch":1' "$tmp/fresh/metrics.jsonl" || { cat "$tmp/fresh.log"; echo "an earlier start's metrics were kept"; exit 1; }
echo "a second run into a run's folder refused without --resume; an earlier start's metrics emptied"
# a checkpoint of another architecture
"$dfer" init --arch small --seed 2 --out "$tmp/other.safetensors" >/dev/null
cp "$tmp/bpe_simple_vocab_16e6.txt.gz" "$tmp/vocab.txt.gz"
set +e
"$dfer" train --config "$src/configs/synth/finecliper.ini" --set data.root="$tmp/data" --set model.weights="$tmp/clip.safetensors" \
  --set train.epochs=2 --set train.batch=4 --set data.frames=4 --out "$tmp/arch" --stop-after 1 >/dev/null 2>&1
set -e
if "$dfer" train --config "$src/configs/synth/finecliper.ini" --set data.root="$tmp/data" --set model.weights="$tmp/other.safetensors" \
     --set model.vocab="$tmp/vocab.txt.gz" --set train.epochs=2 --set train.batch=4 --set data.frames=4 --out "$tmp/arch" --resume 2>"$tmp/err"; then
  echo "a checkpoint of another architecture was accepted"; exit 1
fi
grep -q "does not match the model" "$tmp/err" || { echo "unclear message:"; cat "$tmp/err"; exit 1; }
echo "checkpoint of another architecture refused: $(cat "$tmp/err")"
# a parameter with the model's bytes in another shape (an adapter's [32, 128] weight written as [128, 32]): refused
# by resume and by eval, naming the tensor and both shapes (only the byte count was compared: it loaded transposed)
transpose_in() { # FILE TENSOR: that tensor's shape reversed in the header, which keeps its length
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, struct, sys
path, name = sys.argv[1:]
b = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
h[name]["shape"] = h[name]["shape"][::-1]
h["__metadata__"].pop("dfer_payload_murmur3", None)  # as another writer's file: its shapes are what is checked
text = json.dumps(h, separators=(",", ":")).encode()
assert len(text) <= n and h[name]["shape"][0] != h[name]["shape"][1]
b[8:8 + n] = text + b" " * (n - len(text))
open(path, "wb").write(bytes(b))
PY
}
cp -r "$tmp/arch" "$tmp/transposed"
transpose_in "$tmp/transposed/checkpoint.safetensors" param.visual.blocks.0.mlp_adapter.fc1.weight
if "$dfer" train --config "$src/configs/synth/finecliper.ini" --set data.root="$tmp/data" --set model.weights="$tmp/clip.safetensors" \
     --set train.epochs=2 --set train.batch=4 --set data.frames=4 --out "$tmp/transposed" --resume >/dev/null 2>"$tmp/err"; then
  echo "a checkpoint with a transposed parameter was resumed"; exit 1
fi
grep -q "checkpoint.safetensors: tensor param.visual.blocks.0.mlp_adapter.fc1.weight is F32 \[128, 32\], but the model's is F32 \[32, 128\]" "$tmp/err" \
  || { echo "unclear message for a transposed parameter:"; cat "$tmp/err"; exit 1; }
cp -r "$tmp/finecliper-full" "$tmp/transposed-run"
transpose_in "$tmp/transposed-run/model.safetensors" visual.blocks.0.mlp_adapter.fc1.weight
if "$dfer" eval --run "$tmp/transposed-run" >/dev/null 2>"$tmp/err"; then echo "eval read a transposed parameter"; exit 1; fi
grep -q "model.safetensors: tensor visual.blocks.0.mlp_adapter.fc1.weight is F32 \[128, 32\]" "$tmp/err" \
  || { echo "unclear message for a transposed parameter in eval:"; cat "$tmp/err"; exit 1; }
echo "a parameter of the model's bytes in another shape: refused by resume and eval"
# a checkpoint whose config.ini is missing or cannot be read: refused on resume, naming the file (it resumed without
# comparing, or with a warning only); with --allow-config-change it resumes, the unreadable file kept beside
train_common dfer_clip train.epochs=1 train.threads=2 train.log_every=100
out="$tmp/noconfig"
set +e
"$dfer" train "${common[@]}" --out "$out" --stop-after 2 >/dev/null 2>&1
set -e
[ -f "$out/checkpoint.safetensors" ] || { echo "no checkpoint after 2 steps"; exit 1; }
mv "$out/config.ini" "$tmp/noconfig.ini"
ck=$(md5sum <"$out/checkpoint.safetensors")
if "$dfer" train "${common[@]}" --out "$out" --resume >/dev/null 2>"$tmp/err"; then
  echo "a checkpoint without its config.ini was resumed"; exit 1
fi
grep -q "$out/config.ini: the run's checkpoint is there but the configuration it was started with cannot be read (it does not exist)" "$tmp/err" \
  && [ ! -e "$out/config.ini" ] && [ "$(md5sum <"$out/checkpoint.safetensors")" = "$ck" ] \
  || { echo "a missing config.ini: unclear message, or the run changed:"; cat "$tmp/err"; exit 1; }
printf '[train]\nepochs = many\n' >"$out/config.ini"
if "$dfer" train "${common[@]}" --out "$out" --resume >/dev/null 2>"$tmp/err"; then
  echo "a checkpoint with an unreadable config.ini was resumed"; exit 1
fi
grep -q "$out/config.ini: the run's checkpoint is there but the configuration it was started with cannot be read (.*epochs" "$tmp/err" \
  && grep -qx 'epochs = many' "$out/config.ini" && [ "$(md5sum <"$out/checkpoint.safetensors")" = "$ck" ] \
  || { echo "an unreadable config.ini: unclear message, or the run changed:"; cat "$tmp/err"; exit 1; }
"$dfer" train "${common[@]}" --out "$out" --resume --allow-config-change >"$tmp/ok.log" 2>&1 \
  || { cat "$tmp/ok.log"; echo "--allow-config-change did not resume past an unreadable config.ini"; exit 1; }
grep -q "config.ini: resuming without comparing the configuration the run was started with" "$tmp/ok.log" \
  && grep -qx 'epochs = many' "$out"/config.before-*.ini && grep -q '^epochs = 1$' "$out/config.ini" && [ -f "$out/result.json" ] \
  || { cat "$tmp/ok.log"; echo "--allow-config-change: no warning, the unreadable config.ini not kept, or the run unfinished"; exit 1; }
echo "a checkpoint without a readable config.ini: refused on resume (missing, unreadable), resumed with --allow-config-change"
# a run whose paths are longer than the INI reader's 200-byte lines (a deep cluster path): its config.ini
# reads back whole, so the run resumes and evaluates (these lines used to break at the 200th byte)
deep="$tmp/$(printf 'a-deep-cluster-folder-%.0s' {1..10})"
ln -s "$tmp/data" "$deep"
train_common finecliper train.epochs=1 train.threads=2 train.log_every=100 data.root="$deep"
set +e
"$dfer" train "${common[@]}" --out "$tmp/deep" --stop-after 2 >/dev/null 2>&1
set -e
grep -q "^root = $deep\$" "$tmp/deep/config.ini" && [ "$(grep '^root = ' "$tmp/deep/config.ini" | wc -c)" -gt 200 ] \
  || { echo "config.ini lacks the deep root"; exit 1; }
"$dfer" train "${common[@]}" --out "$tmp/deep" --resume >"$tmp/deep.log" 2>&1 || { cat "$tmp/deep.log"; echo "a run with a deep root did not resume"; exit 1; }
"$dfer" eval --run "$tmp/deep" >"$tmp/deep-eval.log" 2>&1 && grep -q "UAR" "$tmp/deep-eval.log" \
  || { cat "$tmp/deep-eval.log"; echo "a run with a deep root did not evaluate"; exit 1; }
echo "a run with a ${#deep}-character data root: config.ini read back whole, resumed and evaluated"
# input files changed at their paths since the checkpoint (another CLIP copied over the weights): refused, naming
# the file; with --allow-config-change the run resumes with a warning
cp "$tmp/clip.safetensors" "$tmp/swapped.safetensors"
train_common finecliper train.epochs=1 train.threads=2 model.weights="$tmp/swapped.safetensors"
set +e
"$dfer" train "${common[@]}" --out "$tmp/swap" --stop-after 2 >/dev/null 2>&1
set -e
"$dfer" init --arch tiny --seed 3 --out "$tmp/swapped.safetensors" >/dev/null
if "$dfer" train "${common[@]}" --out "$tmp/swap" --resume >/dev/null 2>"$tmp/err"; then
  echo "a resume with other weights at the same path was accepted"; exit 1
fi
grep -q "the checkpoint was trained with other input files at these paths: weights (sha256 .* before, .* now)" "$tmp/err" \
  || { echo "unclear message for changed weights:"; cat "$tmp/err"; exit 1; }
# a refused resume, and one whose weights cannot be loaded, leave config.ini naming what the run was trained with
cp "$tmp/swap/config.ini" "$tmp/swap-config.ini" && cp "$tmp/err" "$tmp/err-swap"
"$dfer" init --arch tiny --seed 5 --out "$tmp/other.safetensors" >/dev/null
for weights in "$tmp/other.safetensors" "$tmp/none.safetensors"; do
  if "$dfer" train "${common[@]}" --set model.weights="$weights" --out "$tmp/swap" --resume >/dev/null 2>"$tmp/err"; then
    echo "a resume with the weights $weights was accepted"; exit 1
  fi
  cmp -s "$tmp/swap/config.ini" "$tmp/swap-config.ini" \
    || { cat "$tmp/err"; diff "$tmp/swap-config.ini" "$tmp/swap/config.ini"; echo "a failed resume rewrote config.ini"; exit 1; }
done
grep -q "none.safetensors" "$tmp/err" || { cat "$tmp/err"; echo "missing weights not named"; exit 1; }
# --allow-config-change with a changed epoch count keeps the earlier config.ini beside it; a start that then fails
# (weights that do not exist) leaves config.ini there as it was (it had been renamed away, the folder left without)
if "$dfer" train "${common[@]}" --set train.epochs=4 --set model.weights="$tmp/none.safetensors" --out "$tmp/swap" \
  --resume --allow-config-change >/dev/null 2>"$tmp/err"; then
  echo "an allowed resume with missing weights started"; exit 1
fi
cmp -s "$tmp/swap/config.ini" "$tmp/swap-config.ini" \
  || { cat "$tmp/err"; ls "$tmp/swap"; echo "a failed --allow-config-change resume took config.ini away"; exit 1; }
rm -f "$tmp/swap"/config.before-*.ini
echo "a resume refused for other weights, one whose weights do not exist, and one allowed to change that then fails:" \
  "config.ini unchanged"
"$dfer" train "${common[@]}" --out "$tmp/swap" --resume --allow-config-change >"$tmp/swap.log" 2>&1 \
  && grep -q "resuming with other input files (--allow-config-change): weights" "$tmp/swap.log" \
  || { cat "$tmp/swap.log"; echo "--allow-config-change did not resume with the new weights"; exit 1; }
echo "weights changed at their path: refused on resume ($(sed 's/.*at these paths: //' "$tmp/err-swap" | cut -c1-60)...), allowed with a warning"
# --resume of a finished run: nothing to do, its files untouched
before=$(md5sum "$tmp/finecliper-full/result.json" "$tmp/finecliper-full/model.safetensors")
train_common finecliper train.epochs=2 train.threads=2 train.log_every=2
"$dfer" train "${common[@]}" --out "$tmp/finecliper-full" --resume >"$tmp/again.log" 2>&1 \
  && grep -q "finished already (result.json): nothing to resume" "$tmp/again.log" \
  && [ "$(md5sum "$tmp/finecliper-full/result.json" "$tmp/finecliper-full/model.safetensors")" = "$before" ] \
  || { cat "$tmp/again.log"; echo "--resume of a finished run did something"; exit 1; }
echo "--resume of a finished run: nothing to do, result.json and model.safetensors untouched"
# an unreadable clip just after the restart: of 48 clips in batches of 4, the 41st of the epoch's order (dfer data
# preview shows the order) has every frame broken; the uninterrupted run skips it (1 of 41 read, under 5%); a run
# stopped after 9 steps and resumed must too (it counted 1 of the 5 clips read since the restart: 20%)
"$dfer" synth --layout dfew --clips 60 --size 32 --min-frames 4 --max-frames 6 --seed 9 --out "$tmp/bad" 2>/dev/null
train_common finecliper train.epochs=1 train.threads=2 data.root="$tmp/bad" train.max_steps_per_epoch=11 train.log_every=1
"$dfer" data preview --dataset dfew --root "$tmp/bad" --split train --clips 48 --frames 2 --size 8 --seed 1 \
  --out "$tmp/order.png" >"$tmp/order.txt"
victim=$(sed -n 's/^row 40: clip \([0-9]*\),.*/\1/p' "$tmp/order.txt")
[ -n "$victim" ] || { cat "$tmp/order.txt"; echo "no row 40 in the preview"; exit 1; }
for f in "$tmp/bad/Clip/clip_224x224/$victim"/*.jpg; do echo broken >"$f"; done
"$dfer" train "${common[@]}" --out "$tmp/bad-full" >"$tmp/bad-full.log" 2>&1 \
  && grep -q "unreadable" "$tmp/bad-full.log" || { cat "$tmp/bad-full.log"; echo "the uninterrupted run did not skip clip $victim"; exit 1; }
set +e
"$dfer" train "${common[@]}" --out "$tmp/bad-res" --stop-after 9 >/dev/null 2>&1
set -e
"$dfer" train "${common[@]}" --out "$tmp/bad-res" --resume >"$tmp/bad-res.log" 2>&1 \
  || { cat "$tmp/bad-res.log"; echo "the run resumed before the unreadable clip $victim stopped on it"; exit 1; }
cmp -s "$tmp/bad-full/model.safetensors" "$tmp/bad-res/model.safetensors" \
  || { echo "resumed before an unreadable clip: parameters differ from the uninterrupted run's"; exit 1; }
echo "an unreadable clip (id $victim) 4 clips after the restart: skipped as by the uninterrupted run, parameters bitwise identical"
# The ranks of a group resume from the same checkpoint or not at all. Rank 1 is given another file at the
# checkpoint's path in a mount namespace of its own (a node whose network file system shows an older checkpoint,
# or a damaged one): every rank fails at once with a message naming both positions (before, the group trained
# on from two positions silently, or rank 0 waited in the first step's collective for the hang watchdog).
if unshare -m true 2>/dev/null; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  mpi=(mpirun --oversubscribe --mca btl self,vader)
  train_common finecliper train.epochs=2 train.threads=1
  out="$tmp/ranks"
  set +e
  "${mpi[@]}" -np 2 "$dfer" train "${common[@]}" --out "$out" --stop-after 2 >/dev/null 2>&1
  cp "$out/checkpoint.safetensors" "$tmp/older.safetensors"
  "${mpi[@]}" -np 2 "$dfer" train "${common[@]}" --out "$out" --resume --stop-after 2 >/dev/null 2>&1
  set -e
  cmp -s "$out/checkpoint.safetensors" "$tmp/older.safetensors" && { echo "the second call wrote no new checkpoint"; exit 1; }
  head -c 1000 "$tmp/older.safetensors" >"$tmp/cut.safetensors"
  for shown in older cut; do
    rc=0
    timeout 120 "${mpi[@]}" -np 1 "$dfer" train "${common[@]}" --out "$out" --resume : \
      -np 1 unshare -m sh -c 'mount --bind "$0" "$1" && shift && exec "$@"' "$tmp/$shown.safetensors" \
      "$out/checkpoint.safetensors" "$dfer" train "${common[@]}" --out "$out" --resume >"$tmp/ranks-$shown.log" 2>&1 || rc=$?
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || { cat "$tmp/ranks-$shown.log"; echo "rank 1 shown the $shown checkpoint: exit $rc"; exit 1; }
    if [ $shown = older ]; then
      grep -q "the ranks of the group do not see the same checkpoint.safetensors: rank 1 resumes at epoch 1, step 2 (2 optimiser steps), rank 0 resumes at epoch 1, step 4" "$tmp/ranks-$shown.log" \
        || { cat "$tmp/ranks-$shown.log"; echo "no clear message for ranks that read different checkpoints"; exit 1; }
    else # rank 1 goes back to the checkpoint before (checkpoint.previous.safetensors), which rank 0 does not
      grep -q "the group cannot resume from $out/checkpoint.safetensors: rank 1 of the group (host [^)]*): .*rank 1 cannot read the newest checkpoint and, from the one before it, resumes at epoch 1, step 2 (2 optimiser steps), rank 0 resumes at epoch 1, step 4 .*what this rank found: $out/checkpoint.safetensors: " "$tmp/ranks-$shown.log" \
        || { cat "$tmp/ranks-$shown.log"; echo "rank 0 did not say why rank 1 could not read the checkpoint"; exit 1; }
    fi
  done
  cmp -s "$out/checkpoint.safetensors" "$tmp/older.safetensors" && { echo "the refused resumes changed the checkpoint"; exit 1; }
  echo "2 ranks, rank 1 shown an older or a cut checkpoint: both refused at once, naming the positions / the failing rank"
else
  echo "SKIP (part): unshare -m is not permitted here, the ranks' checkpoint agreement is not tested"
fi
