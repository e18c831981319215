#!/bin/sh
# CPU emulation of the CUDA kernels (no GPU needed): the threads of every block
# run as fibers that meet at __syncthreads/__syncwarp (emu_sched.cpp), with an
# exchange buffer for warp shuffles; cuBLASLt is replaced by a naive GEMM that
# honours the descriptors (fake_lt.cpp). The ops are compared with the CPU
# reference kernels (src/ops/cpu_kernels.inc, in double). It checks indexing,
# tiling, masking, dtype paths and the row-major -> column-major GEMM mapping; it
# cannot check GPU-only behaviour (fast-math intrinsics, the memory model,
# cuBLASLt itself, performance). Usage: kernels/emu/run.sh [misc|ln|attn|big|all]
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${EMU_BUILD:-/tmp/dfer-emu}
mkdir -p "$out/gen"
python3 "$here/gen.py" "$out/gen"
CXX="g++ -std=c++20 -O1 -w -I/usr/local/cuda/include -I$root/src -I$root -I$root/kernels -I$here"
for f in "$out"/gen/*.cpp; do $CXX -c "$f" -o "${f%.cpp}.o"; done
$CXX -c "$here/emu_host.cpp" -o "$out/emu_host.o"
$CXX -O2 -c "$here/emu_sched.cpp" -o "$out/emu_sched.o"
$CXX -c "$here/fake_lt.cpp" -o "$out/fake_lt.o"
$CXX -c "$here/test.cpp" -o "$out/test.o"
$CXX -c "$here/test_gemm.cpp" -o "$out/test_gemm.o"
gcc -std=c11 -O2 -D_GNU_SOURCE -w -I"$root/src" -I"$root" -c "$here/cpu_ref.c" -o "$out/cpu_ref.o"
g++ -o "$out/test" "$out/test.o" "$out/emu_host.o" "$out/emu_sched.o" "$out/cpu_ref.o" "$out"/gen/attention.o "$out"/gen/attention_gemm.o "$out"/gen/attention_flash.o "$out"/gen/layernorm.o \
    "$out"/gen/elementwise.o "$out"/gen/reduce.o "$out"/gen/rows.o "$out"/gen/loss_optim.o "$out"/gen/gemm.o \
    "$out/fake_lt.o" -lopenblas -lpthread -lm
g++ -o "$out/test_gemm" "$out/test_gemm.o" "$out"/gen/gemm.o "$out"/gen/elementwise.o "$out"/gen/reduce.o \
    "$out/emu_host.o" "$out/emu_sched.o" "$out/fake_lt.o" -lpthread -lm
"$out/test_gemm"
FAKE_NO_EPI=1 "$out/test_gemm"
"$out/test" "${1:-all}"
