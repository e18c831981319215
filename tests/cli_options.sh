#!/usr/bin/env bash
# Numeric options are parsed whole and range-checked by every command (cli_int_option and friends): a value
# atoi took as another number ("10k" -> 10, "2x" -> 2, "abc" -> 0) or out of range is a usage error (exit 2)
# naming the option and the text; valid values still work.
# usage: cli_options.sh DFER SHARED_DIR
set -euo pipefail
dfer=$1 shared=$2
vocab=$shared/clip/bpe_simple_vocab_16e6.txt.gz
tmp=$(mktemp -d /tmp/dfer-cli-options-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
refused() { # refused OPTION VALUE command... (the command line before the option)
  local opt=$1 value=$2 rc=0; shift 2
  "$@" "$opt" "$value" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" = 2 ] || { cat "$tmp/err"; echo "FAIL: $* $opt $value: exit $rc, expected 2"; exit 1; }
  grep -qF -- "$opt takes" "$tmp/err" && grep -qF -- "not '$value'" "$tmp/err" \
    || { cat "$tmp/err"; echo "FAIL: $* $opt $value: the message does not name the option and the value"; exit 1; }
  n=$((n + 1))
}
refused --clips 10k "$dfer" synth --layout dfew --out "$tmp/s"
refused --size abc "$dfer" synth --layout dfew --out "$tmp/s"
refused --size 20 "$dfer" synth --layout dfew --out "$tmp/s"    # the generator's range (it took 16..4096 and failed)
refused --leak-rate 1.5 "$dfer" synth --layout dfew --out "$tmp/s"
refused --seed -3 "$dfer" synth --layout dfew --out "$tmp/s"
# values that are each in range but not together, and a layout that does not exist: usage errors naming them
for bad in "--min-frames 20 --max-frames 10:--max-frames 10 is below --min-frames 20" \
  "--layout affwild:--layout must be dfew, ferv39k or mafw, not 'affwild'" "--classes 11:--classes 11 is MAFW's"; do
  rc=0
  # shellcheck disable=SC2086 # (the words of the case)
  "$dfer" synth --out "$tmp/s" ${bad%%:*} >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" = 2 ] && grep -qF -- "${bad#*:}" "$tmp/err" || { cat "$tmp/err"; echo "FAIL: synth ${bad%%:*}: exit $rc"; exit 1; }
  n=$((n + 1))
done
refused --seed $'\n-1' "$dfer" init --arch tiny --out "$tmp/w.safetensors"  # strtoull skips the newline: 2^64-1
refused --seed 12x "$dfer" init --arch tiny --out "$tmp/w.safetensors"
refused --test-noise -1 "$dfer" init --arch tiny --out "$tmp/w.safetensors"
refused --stop-after 2x "$dfer" train --out "$tmp/r"
refused --checkpoint-every 0 "$dfer" train --out "$tmp/r"
refused --gpu-mem 2 "$dfer" train --out "$tmp/r"   # no more than the CUDA allowance
refused --ranks 0 "$dfer" plan --arch tiny
refused --gpu-mem 1e-300 "$dfer" plan --arch tiny  # a float's 0: refused as the option, not as train.gpu_mem
refused --context 1 "$dfer" tokenize --vocab "$vocab"
refused --threads 1e3 "$dfer" embed --weights "$tmp/w.safetensors"
refused --batch 0 "$dfer" bench
refused --peak-gbps inf "$dfer" bench
refused --window-s 0 "$dfer" predict --checkpoint "$tmp/r" --video "$tmp/v.mp4"
refused --upsample 9 "$dfer" predict --checkpoint "$tmp/r" --video "$tmp/v.mp4"
refused --fold 6 "$dfer" data check --dataset dfew --root "$tmp"
refused --limit 99999999999 "$dfer" prep --dataset dfew --root "$tmp"
# valid values are taken (train --gpu-mem 16 goes on to the configuration's own check)
rc=0; "$dfer" train --gpu-mem 16 --out "$tmp/r" >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "model.weights is not set" "$tmp/err" || { cat "$tmp/err"; echo "FAIL: train --gpu-mem 16: exit $rc"; exit 1; }
[ "$("$dfer" tokenize --vocab "$vocab" --context 4 --truncate -- "a happy face")" = "49406 320 900 49407" ] \
  || { echo "FAIL: tokenize --context 4 --truncate"; exit 1; }
"$dfer" init --arch tiny --seed 7 --test-noise 0.5 --out "$tmp/w.safetensors" >/dev/null || { echo "FAIL: init --seed 7"; exit 1; }
"$dfer" synth --layout dfew --out "$tmp/s" --clips 3 --size 32 --min-frames 4 --max-frames 4 --leak-rate 0.5 --seed 9 \
  --threads 1 >/dev/null 2>&1 || { echo "FAIL: synth with valid options"; exit 1; }
# an option whose value is missing at the end of the line is named as such (getopt said "requires an argument", then
# dfer "unknown option"); an unknown, ambiguous or value-taking flag option is named as given
usage_error() { # usage_error MESSAGE command... : exit 2, MESSAGE on stderr, no "unknown option" unless MESSAGE says so
  local msg=$1 rc=0; shift
  "$@" >/dev/null 2>"$tmp/err" || rc=$?
  [ "$rc" = 2 ] && grep -qF -- "$msg" "$tmp/err" \
    && { [[ $msg == *"unknown option"* ]] || ! grep -q "unknown option" "$tmp/err"; } \
    || { cat "$tmp/err"; echo "FAIL: $*: exit $rc, expected 2 and '$msg'"; exit 1; }
}
usage_error "dfer train: --out needs a value" "$dfer" train --resume --out
usage_error "dfer predict: --video needs a value" "$dfer" predict --checkpoint "$tmp/r" --video
usage_error "dfer report: -o needs a value" "$dfer" report "$tmp" -o
usage_error "dfer tokenize: --context needs a value" "$dfer" tokenize --vocab "$vocab" --context
usage_error "dfer data: --fold needs a value" "$dfer" data check --dataset dfew --root "$tmp" --fold
usage_error "dfer config: --config needs a value" "$dfer" config --config
usage_error "dfer bench: unknown option '--bogus'" "$dfer" bench --bogus=1
usage_error "dfer bench: '--ev' is ambiguous (--eval, --eval-batch)" "$dfer" bench --ev
usage_error "dfer bench: --eval takes no value, not '--eval=3'" "$dfer" bench --eval=3
usage_error "dfer synth: unknown option '-x'" "$dfer" synth -x
# data check reads --split (it checked both splits), and the options of the other subcommand are usage errors (they
# were ignored): a dataset without its training split files passes `check --split test`
"$dfer" synth --layout dfew --out "$tmp/d" --clips 12 --size 32 --min-frames 4 --max-frames 4 --seed 3 --threads 1 \
  >/dev/null 2>&1 || { echo "FAIL: synth of the data check dataset"; exit 1; }
rm "$tmp/d/EmoLabel_DataSplit/train(single-labeled)"/set_*.csv
rc=0; "$dfer" data check --dataset dfew --root "$tmp/d" --fold 2 --split test >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 0 ] && grep -q "^dfew fold 2 test: 4 clips" "$tmp/out" && ! grep -q "train" "$tmp/out" "$tmp/err" \
  || { cat "$tmp/out" "$tmp/err"; echo "FAIL: data check --split test: exit $rc or not the test split alone"; exit 1; }
for args in "check --clips 2" "check --out $tmp/p.png" "check --frames 4" "preview --out $tmp/p.png --full"; do
  rc=0
  # shellcheck disable=SC2086
  "$dfer" data $args --dataset dfew --root "$tmp/d" >/dev/null 2>"$tmp/err" || rc=$?
  opt=$(printf '%s\n' $args | grep -- '^--' | tail -n 1)
  [ "$rc" = 2 ] && grep -qF -- "$opt is for" "$tmp/err" \
    || { cat "$tmp/err"; echo "FAIL: dfer data $args: exit $rc, the option of the other subcommand not named"; exit 1; }
done
# --config in getopt's every spelling (--config=FILE, an abbreviation) is read: a file with an unknown key is an
# error (both used to be skipped, the run going on with the defaults), and files come before every --set
printf '[train]\nepochz = 3\n' >"$tmp/typo.ini"
printf '[train]\nepochs = 2\n' >"$tmp/two.ini"
for args in "plan --arch tiny --config=$tmp/typo.ini" "plan --arch tiny --conf $tmp/typo.ini" \
            "train --out $tmp/r --config=$tmp/typo.ini" "config --config=$tmp/typo.ini"; do
  rc=0
  # shellcheck disable=SC2086
  "$dfer" $args >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" = 1 ] && grep -q "typo.ini:2: unknown key train.epochz" "$tmp/err" \
    || { cat "$tmp/err"; echo "FAIL: dfer $args: exit $rc, the file's error not reported"; exit 1; }
done
[ "$("$dfer" config --set train.epochs=5 --config "$tmp/two.ini" | grep '^epochs = ')" = "epochs = 5" ] \
  || { echo "FAIL: dfer config applies a file after a --set given before it"; exit 1; }
# config --markdown reads its other arguments too (a bad one after it was ignored)
for args in "config --markdown --bogus" "config --markdown extra"; do
  rc=0
  # shellcheck disable=SC2086
  "$dfer" $args >/dev/null 2>&1 || rc=$?
  [ "$rc" = 2 ] || { echo "FAIL: dfer $args: exit $rc, not a usage error"; exit 1; }
done
# what a command prints that cannot be written (a full disk) is an error, not status 0 and a cut file; dfer's own
# help and version too (they ended with status 0)
for args in "config --markdown" "config" "help" "--help" "version" "--version"; do
  rc=0
  # shellcheck disable=SC2086
  "$dfer" $args >/dev/full 2>"$tmp/err" || rc=$?
  [ "$rc" = 1 ] && grep -q "cannot write to standard output: No space left on device" "$tmp/err" \
    || { cat "$tmp/err"; echo "FAIL: dfer $args >/dev/full: exit $rc"; exit 1; }
done
# dfer config prints what was set, and exits 1 with the reason where training would refuse the settings
rc=0; "$dfer" config --set optim.warmup_epochs=30 >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -qx "warmup_epochs = 30" "$tmp/out" && grep -q "optim.warmup_epochs = 30 is not shorter than train.epochs" "$tmp/err" \
  || { cat "$tmp/out" "$tmp/err"; echo "FAIL: dfer config of settings training refuses: exit $rc"; exit 1; }
echo "cli options: $n bad values refused (exit 2, option and value named); valid ones taken; a missing value named;" \
  "data check --split; --config in any spelling read first; a full standard output is an error"
