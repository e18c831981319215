#!/usr/bin/env bash
# A full disk mid-run (a quota on a shared cluster): training into a 64 MiB tmpfs is resumed with the
# disk filled to 200 KiB, less than the next file it writes. The run must stop with the file and
# "No space left on device" named and a non-zero exit, leave its last checkpoint byte for byte as it
# was and no temporary file behind; once space is freed, resuming ends with bitwise the parameters of
# an uninterrupted run and a metrics.jsonl that holds each step once (the steps logged after the
# checkpoint are cut, then run and logged again).
# Then a 2-rank group of a 4-job matrix on the full disk: rank 0 alone writes, and its failure must
# end the job on both ranks (it hung rank 1 in the next collective before), start no further job
# (each would fail after its first epoch), say so and exit 1; with space freed, the matrix completes.
# usage: train_disk_full.sh DFER SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
root=$(mktemp -d /tmp/dfer-diskfull-XXXXXX)
tmp=$root
disk="$root/disk"
mkdir "$disk"
if ! mount -t tmpfs -o size=64m dfer-test "$disk" 2>"$root/mount.err"; then
  echo "skipped: cannot mount a 64 MiB tmpfs to fill ($(cat "$root/mount.err")); needs root with CAP_SYS_ADMIN"
  rm -rf "$root"
  exit 77
fi
trap 'umount "$disk" 2>/dev/null; rm -rf "$root"' EXIT
fill_disk() { # leave $1 KiB free
  rm -f "$disk/filler"
  local avail
  avail=$(df -k --output=avail "$disk" | tail -1)
  dd if=/dev/zero of="$disk/filler" bs=1k count=$((avail - $1)) 2>/dev/null || true
  echo "disk filled: $(df -k --output=avail "$disk" | tail -1) KiB free"
}
. "$src/tests/lib/train_fixture.sh"
train_fixture
train_common finecliper train.epochs=2 train.threads=2 train.log_every=1
"$dfer" train "${common[@]}" --out "$tmp/full" >/dev/null 2>&1

run="$disk/run"
"$dfer" train "${common[@]}" --out "$run" --stop-after 3 >/dev/null 2>&1
[ -f "$run/checkpoint.safetensors" ] || { echo "no checkpoint after 3 steps"; exit 1; }
before=$(md5sum <"$run/checkpoint.safetensors")
fill_disk 200
if "$dfer" train "${common[@]}" --out "$run" --resume >/dev/null 2>"$tmp/err"; then
  echo "a run on a full disk ended with status 0"; exit 1
fi
grep -Eq "^dfer: error: $run/[a-z_]+\.[a-z]+: .*No space left on device" "$tmp/err" \
  || { echo "the error does not name the file and the full disk:"; cat "$tmp/err"; exit 1; }
echo "stopped with: $(grep '^dfer: error' "$tmp/err")"
[ "$(md5sum <"$run/checkpoint.safetensors")" = "$before" ] || { echo "the last checkpoint changed"; exit 1; }
left=$(cd "$run" && ls -A | sort | tr '\n' ' ')
# predictions.csv (the evaluation's, a few KiB) may fit before the disk is full; whole, as every file
case "$left" in
  "checkpoint.safetensors config.ini metrics.jsonl " | "checkpoint.safetensors config.ini metrics.jsonl predictions.csv ") ;;
  *) echo "files left in the run: $left"; exit 1 ;;
esac
[ ! -e "$run/predictions.csv" ] || [ "$(tail -c 1 "$run/predictions.csv" | od -An -c | tr -d ' ')" = '\n' ] \
  || { echo "predictions.csv is cut short"; exit 1; }
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

# ---- a matrix: one group of 2 ranks, 4 jobs, on the full disk -----------------------------------
rm -rf "$run"
tmp="$root/m" && mkdir "$tmp"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. "$src/tests/lib/matrix_fixture.sh"
matrix_fixture name=disk-full methods="finecliper dfer_clip" ranks_per_job=2 epochs=2
fill_disk 300
rc=0
timeout 300 mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix.ini" --results "$disk/res" \
  >"$tmp/run.log" 2>&1 || rc=$?
[ "$rc" != 124 ] || { tail -n 20 "$tmp/run.log"; echo "the matrix hung on the full disk (killed after 300 s)"; exit 1; }
[ "$rc" = 1 ] || { tail -n 20 "$tmp/run.log"; echo "the matrix on the full disk exited $rc, not 1"; exit 1; }
grep -q "No space left on device" "$tmp/run.log" && grep -q "the disk holding $disk/res is full: no further job of this run starts" "$tmp/run.log" \
  && grep -q "stopped early, the disk holding $disk/res is full" "$tmp/run.log" \
  || { grep -v 'step [0-9]' "$tmp/run.log" | tail -n 20; echo "the matrix did not say that the disk is full"; exit 1; }
started=$(grep -c "\] job [0-9]/4: " "$tmp/run.log" || true)
[ "$started" = 1 ] || { grep "job [0-9]/4" "$tmp/run.log"; echo "$started jobs started on the full disk, not 1"; exit 1; }
echo "matrix on the full disk: the job failed on both ranks, no further job started, exit 1"
rm "$disk/filler"
timeout 600 mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" matrix "$tmp/matrix.ini" --results "$disk/res" \
  >"$tmp/run2.log" 2>&1 || { grep -v 'step [0-9]' "$tmp/run2.log" | tail -n 20; echo "the matrix did not complete once space was freed"; exit 1; }
done_jobs=$(/usr/bin/python3 -c 'import json, sys; print(sum(json.load(open(f))["status"] == "done" for f in sys.argv[1:]))' \
  "$disk"/res/*/result.json)
[ "$done_jobs" = 4 ] || { echo "$done_jobs of 4 jobs done after space was freed"; exit 1; }
echo "space freed: the matrix run again completes all 4 jobs"
