#!/usr/bin/env bash
# A full disk mid-run (a quota on a shared cluster): training into a small tmpfs is resumed with the
# disk filled to 200 KiB, less than the next file it writes. The run must stop with the file and
# "No space left on device" named and a non-zero exit, leave its last checkpoint byte for byte as it
# was and no temporary file behind; once space is freed, resuming ends with bitwise the parameters of
# an uninterrupted run and a metrics.jsonl that holds each step once (the steps logged after the
# checkpoint are cut, then run and logged again).
# usage: train_disk_full.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$1 src=$2 shared=$3
tmp=$(mktemp -d /tmp/dfer-diskfull-XXXXXX)
disk="$tmp/disk"
mkdir "$disk"
if ! mount -t tmpfs -o size=16m dfer-test "$disk" 2>"$tmp/mount.err"; then
  echo "skipped: cannot mount a 16 MiB tmpfs to fill ($(cat "$tmp/mount.err")); needs root with CAP_SYS_ADMIN"
  rm -rf "$tmp"
  exit 77
fi
trap 'umount "$disk" 2>/dev/null; rm -rf "$tmp"' EXIT
"$dfer" synth --layout dfew --clips 30 --size 48 --min-frames 6 --max-frames 14 --seed 5 --out "$tmp/data" 2>/dev/null
"$dfer" init --arch tiny --seed 2 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
common=(--config "$src/configs/synth/finecliper.ini" --set data.root="$tmp/data" --set model.weights="$tmp/clip.safetensors"
        --set train.epochs=2 --set train.batch=4 --set train.eval_batch=8 --set data.frames=4 --set train.threads=2
        --set train.log_every=1)
"$dfer" train "${common[@]}" --out "$tmp/full" >/dev/null 2>&1

run="$disk/run"
"$dfer" train "${common[@]}" --out "$run" --stop-after 3 >/dev/null 2>&1
[ -f "$run/checkpoint.safetensors" ] || { echo "no checkpoint after 3 steps"; exit 1; }
before=$(md5sum <"$run/checkpoint.safetensors")
avail=$(df -k --output=avail "$disk" | tail -1)
dd if=/dev/zero of="$disk/filler" bs=1k count=$((avail - 200)) 2>/dev/null || true
echo "disk filled: $(df -k --output=avail "$disk" | tail -1) KiB free; resuming"
if "$dfer" train "${common[@]}" --out "$run" --resume >/dev/null 2>"$tmp/err"; then
  echo "a run on a full disk ended with status 0"; exit 1
fi
grep -Eq "^dfer: error: $run/[a-z_]+\.[a-z]+: .*No space left on device" "$tmp/err" \
  || { echo "the error does not name the file and the full disk:"; cat "$tmp/err"; exit 1; }
echo "stopped with: $(grep '^dfer: error' "$tmp/err")"
[ "$(md5sum <"$run/checkpoint.safetensors")" = "$before" ] || { echo "the last checkpoint changed"; exit 1; }
left=$(cd "$run" && ls -A | sort | tr '\n' ' ')
[ "$left" = "checkpoint.safetensors config.ini metrics.jsonl " ] || { echo "files left in the run: $left"; exit 1; }
echo "the checkpoint is intact, no temporary file left ($left)"

rm "$disk/filler"
"$dfer" train "${common[@]}" --out "$run" --resume >"$tmp/resume.log" 2>&1 || { cat "$tmp/resume.log"; exit 1; }
grep -q "metrics.jsonl: back to the checkpoint: [1-9][0-9]* line(s)" "$tmp/resume.log" \
  || { echo "the lines logged after the checkpoint were not cut:"; cat "$tmp/resume.log"; exit 1; }
cmp -s "$tmp/full/model.safetensors" "$run/model.safetensors" || { echo "resumed after the full disk: parameters DIFFER"; exit 1; }
steps() { /usr/bin/python3 -c '
import json, sys
print(" ".join("%s:%s:%s" % (d["type"], d["epoch"], d.get("step", "-")) for d in map(json.loads, open(sys.argv[1]))))' "$1"; }
[ "$(steps "$run/metrics.jsonl")" = "$(steps "$tmp/full/metrics.jsonl")" ] \
  || { echo "metrics.jsonl differs from the uninterrupted run's:"; steps "$run/metrics.jsonl"; steps "$tmp/full/metrics.jsonl"; exit 1; }
echo "space freed and resumed: parameters bitwise those of an uninterrupted run; metrics.jsonl logs each of its $(wc -l <"$run/metrics.jsonl") lines once"
