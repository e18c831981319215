#!/usr/bin/env bash
# jobs/slurm/dfer.sbatch's hang count (.dfer-hangs-<job>.count) with stand-ins for srun and scontrol on PATH
# (the real cluster runs in slurm_matrix.sh): a hang requeues the job and keeps the count for the next run; a job
# that ends for good removes it, whether it succeeded, failed (status 1), or was given up after its hang
# requeues (it stayed behind in the last two cases).
# usage: sbatch_hang_count.sh SOURCE_DIR
set -euo pipefail
src=$(realpath "$1")
tmp=$(mktemp -d /tmp/dfer-sbatch-count-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
# srun: exits FAKE_RC; a "hang" also writes the marker a watchdog would
# shellcheck disable=SC2016 # (expanded by the stand-in, not here)
printf '#!/bin/sh\n[ "$FAKE_RC" = 4 ] && echo "{}" >>"$DFER_HANG_MARKER"\nexit "$FAKE_RC"\n' >"$tmp/bin/srun"
printf '#!/bin/sh\necho "scontrol $*" >>"%s/scontrol.log"\n' "$tmp" >"$tmp/bin/scontrol"
chmod +x "$tmp/bin/srun" "$tmp/bin/scontrol"
count=$tmp/.dfer-hangs-77.count
run() { # run RC: the batch script as job 77 whose srun exits RC; prints the script's status
  local rc=0
  (cd "$tmp" && PATH="$tmp/bin:$PATH" DFER=/bin/true FAKE_RC=$1 SLURM_JOB_ID=77 DFER_HANG_REQUEUES=2 \
    bash "$src/jobs/slurm/dfer.sbatch" train --config "a b.ini" --out "r 1" >>"$tmp/out.log" 2>&1) || rc=$?
  echo "$rc"
}
check() { # check WHAT EXPECTED_STATUS COUNT_FILE_STATE(present|absent) STATUS
  [ "$4" = "$2" ] || { cat "$tmp/out.log"; echo "FAIL: $1: status $4, expected $2"; exit 1; }
  if [ "$3" = present ]; then [ -f "$count" ] || { echo "FAIL: $1: no hang count"; exit 1; }
  else [ ! -e "$count" ] || { echo "FAIL: $1: the hang count $(cat "$count") stayed behind"; exit 1; }; fi
  echo "$1: status $4, hang count $3"
}
check "a hang" 4 present "$(run 4)"
check "a second hang" 4 present "$(run 4)"
[ "$(grep -c requeue "$tmp/scontrol.log")" = 2 ] || { echo "FAIL: not requeued twice"; exit 1; }
check "a third hang: given up" 4 absent "$(run 4)"
[ "$(grep -c requeue "$tmp/scontrol.log")" = 2 ] || { echo "FAIL: requeued after the last allowed hang"; exit 1; }
check "a hang" 4 present "$(run 4)"
check "then a failure" 1 absent "$(run 1)"
check "a hang" 4 present "$(run 4)"
check "then success" 0 absent "$(run 0)"
