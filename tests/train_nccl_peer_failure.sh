#!/usr/bin/env bash
# A peer rank that fails inside an NCCL collective (its process died, its network went) is reported by NCCL
# only through ncclCommGetAsyncError, while the collective's kernel spins for ever: a rank that waits for it
# with cudaStreamSynchronize hangs until the hang watchdog (train.hang_minutes) ends it, and its message does
# not say NCCL saw a remote error. kernels/nccl_comm.cu polls the stream and the communicator instead. Here the
# emulated NCCL (dfer-emu, kernels/emu/fake_nccl.cpp) stops the second collective of each of 2 ranks as a lost
# peer would (EMU_NCCL_ASYNC_ERROR_AT=2: the second step's gradient all-reduce): the run must end within
# seconds, with exit status 2 (a fatal error, as a failed MPI collective ends), not the watchdog's 4 nor the
# test's timeout, and the message must name the collective, NCCL's remote error, the rank and the host.
# usage: train_nccl_peer_failure.sh DFER_EMU SOURCE_DIR SHARED_DIR
set -euo pipefail
dfer=$1 src=$2 shared=$3
tmp=$(mktemp -d /tmp/dfer-nccl-peer-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$dfer" synth --layout dfew --clips 16 --size 48 --min-frames 6 --max-frames 12 --seed 8 --out "$tmp/data" 2>/dev/null
"$dfer" init --arch tiny --seed 4 --out "$tmp/clip.safetensors" >/dev/null
cp "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$tmp/"
train=(mpirun --oversubscribe --mca btl self,vader -np 2 -x EMU_NCCL_ASYNC_ERROR_AT=2 "$dfer" train
  --config "$src/configs/synth/finecliper.ini" --set data.root="$tmp/data" --set model.weights="$tmp/clip.safetensors"
  --set model.dtype=f32 --set train.epochs=1 --set train.batch=4 --set train.eval_batch=4 --set data.frames=4
  --set train.threads=1 --set data.loader_threads=1 --set train.log_every=1 --set train.device=cuda
  --set train.hang_minutes=10 --out "$tmp/run")
start=$(date +%s)
rc=0
EMU_NCCL_ASYNC_ERROR_AT=2 timeout -k 10 180 "${train[@]}" >"$tmp/run.log" 2>&1 || rc=$?
took=$(($(date +%s) - start))
cat "$tmp/run.log"
fail() { echo "FAIL: $*"; exit 1; }
[ "$rc" != 124 ] || fail "the run hung in the collective a lost peer stopped (killed by timeout after $took s)"
[ "$rc" = 2 ] || fail "the run exited $rc, not 2 (a fatal error, as a failed MPI collective ends a run)"
grep -q "collectives: NCCL .*a group of 2 ranks" "$tmp/run.log" || fail "the ranks did not train through NCCL"
grep -q "epoch 1/1 step 1/" "$tmp/run.log" || fail "the first step (its collective unharmed) did not finish"
host=$(hostname)
line=$(grep "dfer: fatal \[rank [01] on $host\] .*ncclAllReduce" "$tmp/run.log" | head -1) \
  || fail "no fatal message naming a rank, the host ($host) and ncclAllReduce"
grep -q "remote process exited or there was a network error" <<<"$line" \
  || fail "the message does not name NCCL's remote error: $line"
grep -q "EMU_NCCL_ASYNC_ERROR_AT" <<<"$line" || fail "the message does not carry ncclGetLastError's detail: $line"
! grep -q "no progress" "$tmp/run.log" || fail "the hang watchdog ended the run, not the NCCL error"
# the whole run, start-up and first step included (~25 s on 2 cores); a hang lasts until the timeout
[ "$took" -lt 120 ] || fail "ending the run took $took s"
echo "a peer lost in the second all-reduce ended the run in $took s with status 2: $line"
