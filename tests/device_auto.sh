#!/usr/bin/env bash
# --device auto (train.device = auto; mpi/dist.c choose_auto_backend): the GPU where every node has one for
# each of its ranks, else the CPU with a message naming why, alike on every rank. Run with the emulated
# backend (one emulated GPU per process), the only GPU CI has: one process -> CUDA; two ranks on the node
# of one GPU -> the CPU on both, the reason said once (rank 0); two ranks that each see one GPU of their own
# (DFER_EMU_PCI_BUS_ID differs, as under Slurm's --gpus-per-task=1) -> CUDA; --device cpu stays on the CPU.
# usage: device_auto.sh DFER_EMU SHARED_DIR
set -euo pipefail
dfer=$1 shared=$2
export DFER_VOCAB=$shared/clip/bpe_simple_vocab_16e6.txt.gz OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d /tmp/dfer-device-auto-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
common=(bench --arch tiny --frames 2 --batch 2 --steps 1 --warmup 0)
kind() { sed -n 's/.*"device_kind":[[:space:]]*"\([a-z]*\)".*/\1/p' "$1"; }

"$dfer" "${common[@]}" --json "$tmp/one.json" >"$tmp/one.log" 2>&1 || { cat "$tmp/one.log"; exit 1; }
[ "$(kind "$tmp/one.json")" = cuda ] || { echo "one process with one GPU: auto ran on $(kind "$tmp/one.json")"; exit 1; }
! grep -q "device auto" "$tmp/one.log" || { echo "one process: an unexpected message"; cat "$tmp/one.log"; exit 1; }

mpirun --oversubscribe --mca btl self,vader -np 2 "$dfer" "${common[@]}" --json "$tmp/two.json" >"$tmp/two.log" 2>&1 \
  || { cat "$tmp/two.log"; exit 1; }
[ "$(kind "$tmp/two.json")" = cpu ] || { echo "two ranks on one GPU: auto ran on $(kind "$tmp/two.json")"; exit 1; }
grep -q "device auto: the CPU, because this node has fewer GPUs than ranks" "$tmp/two.log" \
  || { echo "two ranks on one GPU: no message saying why auto is the CPU"; cat "$tmp/two.log"; exit 1; }
[ "$(grep -c 'device auto' "$tmp/two.log")" = 1 ] || { echo "the message came from more than rank 0"; exit 1; }

# Slurm's --gpus-per-task=1: every task sees one GPU, device 0, but each its own (another PCI bus id): auto
# is the GPU (counting devices alone took 2 ranks with 1 visible GPU for a shared one and chose the CPU)
mpirun --oversubscribe --mca btl self,vader -np 1 -x DFER_EMU_PCI_BUS_ID=0000:17:00.0 "$dfer" "${common[@]}" \
  --json "$tmp/own.json" : -np 1 -x DFER_EMU_PCI_BUS_ID=0000:65:00.0 "$dfer" "${common[@]}" --json "$tmp/own.json" \
  >"$tmp/own.log" 2>&1 || { cat "$tmp/own.log"; exit 1; }
[ "$(kind "$tmp/own.json")" = cuda ] || { echo "two ranks, a GPU each: auto ran on $(kind "$tmp/own.json")"; cat "$tmp/own.log"; exit 1; }
! grep -q "device auto\|share" "$tmp/own.log" || { echo "two ranks, a GPU each: an unexpected message"; cat "$tmp/own.log"; exit 1; }

"$dfer" "${common[@]}" --device cpu --json "$tmp/cpu.json" >/dev/null 2>&1
[ "$(kind "$tmp/cpu.json")" = cpu ] || { echo "--device cpu did not run on the CPU"; exit 1; }
echo "device_auto: ok (one process: cuda; two ranks, one GPU: cpu, with the reason; two ranks, one GPU each" \
  "(one visible to each, as --gpus-per-task=1): cuda)"
