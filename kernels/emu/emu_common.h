// The emulated CUDA device layer the rewritten kernel sources (gen.py) compile against.
//
// Every block runs on the launching host thread: its threads are fibers (emu_sched.cpp)
// that switch at __syncthreads, __syncwarp and warp shuffles, so a block of 1,024 threads
// costs 1,024 small stacks and a few context switches, not 1,024 OS threads. Barriers
// are checked: a barrier some threads of the block (or of the warp) never reach, or reach
// after others exited, is a fatal error naming the kernel, not a hang. The threads of a
// block run in forward order in one phase (between two block barriers) and backward in
// the next, alternating per launch too, so a missing barrier between a write and a read
// by another thread shows in either direction.
//
// Two builds use it:
//  - the kernel test (run.sh, test.cpp): host buffers stand in for device memory, and the
//    few runtime calls the kernel files make are macros below;
//  - the emulated backend (EMU_FULL_RUNTIME, emu.cmake): the whole CUDA backend with
//    kernels/cuda_ops.cu, over a fake CUDA runtime (emu_runtime.cpp) whose device memory the
//    host cannot touch outside launches and copies, and with every launch checked against
//    the limits of the GPUs dfer builds for (emu_check_launch).
#pragma once
// Kernel sources test this where the emulator needs another route than nvcc's (inline PTX).
#define DFER_CUDA_EMULATED 1
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cublasLt.h>
#include <cublas_v2.h>
#include <nccl.h>
#include <vector>
#include <type_traits>
#include <cstring>
#include <cmath>
#include <cstdint>
#include <algorithm>
#include <memory>

#undef __global__
#undef __device__
#undef __shared__
#undef __forceinline__
#undef __launch_bounds__
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)

// ---- the scheduler's state, read by the kernels ---------------------------------------------

// Per block: shared memory and the lanes' exchange slots for shuffles.
struct EmuBlock {
    std::vector<uint64_t> slots;      // [warps][32]
    std::vector<uint32_t> mma;        // [warps][32][6]: the lanes' operands of a warp-level mma
    std::vector<char> dyn, stat;      // dynamic and static shared memory
    std::vector<size_t> stat_offsets; // offset of the k-th static __shared__ array
};
struct EmuThread {
    uint3 tid, bid;
    dim3 bdim, gdim;
    EmuBlock *blk;
};
extern thread_local EmuThread emu_cur;
#define threadIdx emu_cur.tid
#define blockIdx emu_cur.bid
#define blockDim emu_cur.bdim
#define gridDim emu_cur.gdim

// Scheduler entry points (emu_sched.cpp).
void emu_block_barrier();
void emu_warp_barrier(unsigned mask);
void *emu_static_smem(size_t bytes);
void emu_run_grid(const char *kernel, const void *kernel_id, dim3 grid, dim3 block, size_t dyn_smem,
                  void (*body)(void *), void *ctx);

// Checks a launch against the limits of the GPUs dfer builds for (sm_80, sm_89, sm_90: the
// smallest of each), before it runs (emu_sched.cpp).
void emu_check_launch(const char *kernel, const void *kernel_id, dim3 grid, dim3 block, size_t dyn_smem,
                      size_t param_bytes);

// Hooks of the memory layer: trivial for the kernel test (emu_host.cpp), checks over the fake
// runtime's device memory in the emulated backend (emu_runtime.cpp).
// The dynamic shared memory a kernel may take: 48 KiB unless cudaFuncSetAttribute raised it.
size_t emu_smem_optin(const void *kernel_id);
// A pointer argument of a launch must point into live device memory.
void emu_check_kernel_pointer(const char *kernel, int arg, const void *p);
// Device memory is readable and writable only while open (a launch, a copy, a GEMM).
void emu_device_access(bool open);
// Operands of a GEMM or a collective: [p, p + bytes) inside one live allocation.
void emu_check_device_range(const char *what, const void *p, size_t bytes);
// Work about to run on `stream` (a launch, a GEMM, a collective) comes after the copies queued on it
// before: held-back uploads (EMU_DEFER_COPIES, emu_runtime.cpp) run first.
void emu_stream_order(cudaStream_t stream);

inline void *emu_dyn_smem() { return emu_cur.blk->dyn.data(); }
inline void __syncthreads() { emu_block_barrier(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { emu_warp_barrier(mask); }
template <class V> V __shfl_xor_sync(unsigned mask, V v, int lane_mask) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    emu_cur.blk->slots[w * 32 + l] = bits;
    emu_warp_barrier(mask);
    V r;
    uint64_t o = emu_cur.blk->slots[w * 32 + (l ^ lane_mask)];
    memcpy(&r, &o, sizeof r);
    emu_warp_barrier(mask);
    return r;
}
// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (d += a b) for kernels that use the tensor
// cores through inline PTX (attention_flash.cu), which the host compiler cannot take: every lane
// posts its fragments (a: 4 registers of BF16 pairs, b0/b1), then computes its 4 elements of d
// from the whole warp's, in the fragment layout of the PTX ISA (lane = 4 g + t: A rows g and
// g+8, columns 2t.. and 2t+8..; B column g, rows 2t.. and 2t+8..; C rows g and g+8, columns
// 2t and 2t+1; the lower index in the lower 16 bits). Products of BF16 values are exact in
// fp32; the sum runs over k in order (the hardware's order is unspecified).
inline float emu_bf16_half(uint32_t reg, int high) {
    uint32_t bits = (high ? reg >> 16 : reg & 0xffffu) << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
inline void emu_mma_bf16_m16n8k16(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    const int w = threadIdx.x / 32, l = threadIdx.x % 32;
    uint32_t *st = emu_cur.blk->mma.data() + (size_t)w * 32 * 6;
    for (int i = 0; i < 4; i++) st[l * 6 + i] = a[i];
    st[l * 6 + 4] = b0;
    st[l * 6 + 5] = b1;
    emu_warp_barrier(0xffffffffu);
    const int g = l >> 2, t = l & 3;
    for (int i = 0; i < 4; i++) {
        const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
        float acc = d[i];
        for (int k = 0; k < 16; k++) {
            const float av = emu_bf16_half(st[((row % 8) * 4 + (k % 8) / 2) * 6 + (row >= 8) + 2 * (k >= 8)], k & 1);
            const float bv = emu_bf16_half(st[(col * 4 + (k % 8) / 2) * 6 + 4 + (k >= 8)], k & 1);
            acc += av * bv;
        }
        d[i] = acc;
    }
    emu_warp_barrier(0xffffffffu);
}
inline int __any_sync(unsigned mask, int p) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    emu_cur.blk->slots[w * 32 + l] = p != 0;
    emu_warp_barrier(mask);
    int any = 0;
    for (int k = 0; k < 32; k++)
        if (mask >> k & 1u) any |= (int)emu_cur.blk->slots[w * 32 + k];
    emu_warp_barrier(mask);
    return any;
}
// The threads of all blocks run on one host thread, one at a time: atomics need no lock.
inline int atomicCAS(int *p, int cmp, int val) {
    int old = *p;
    if (old == cmp) *p = val;
    return old;
}
inline float __expf(float x) { return expf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
using std::min;
using std::max;

// ---- launches ---------------------------------------------------------------------------------

template <class A> inline void emu_check_arg(const char *kernel, int index, const A &a) {
    if constexpr (std::is_pointer_v<A>)
        if (a) emu_check_kernel_pointer(kernel, index, (const void *)a);
}

// k<<<grid, block, smem, stream>>>(args) becomes emu_launch(grid, block, smem, stream).go("k", k, args).
struct EmuLaunch {
    dim3 g, b;
    size_t smem;
    cudaStream_t stream;
    template <class K, class... A> void go(const char *name, K kernel, A... args) {
        emu_check_launch(name, (const void *)kernel, g, b, smem, (0 + ... + sizeof(A)));
        emu_stream_order(stream);
        int index = 0;
        (emu_check_arg(name, index++, args), ...);
        auto call = [&]() { kernel(args...); };
        emu_run_grid(name, (const void *)kernel, g, b, smem,
                     [](void *c) { (*static_cast<decltype(call) *>(c))(); }, &call);
    }
};
inline EmuLaunch emu_launch(dim3 g, dim3 b, size_t smem = 0, cudaStream_t s = 0) { return EmuLaunch{g, b, smem, s}; }

#include "../cuda_common.cuh"

#ifdef EMU_FULL_RUNTIME
// A stream whose work never completes, as a collective's kernel spins when a peer is gone (fake_nccl.cpp's
// EMU_NCCL_ASYNC_ERROR_AT): cudaStreamQuery says cudaErrorNotReady and a synchronisation waits until
// emu_stream_release (ncclCommAbort ends the kernel). Stream 0, the legacy default stream, waits for every
// stream here, so it hangs with any of them, and cudaDeviceSynchronize does too.
void emu_stream_hang(cudaStream_t stream);
void emu_stream_release(cudaStream_t stream);
// cuda_runtime.h declares this overload for nvcc only.
template <class F> inline cudaError_t cudaFuncSetAttribute(F *kernel, cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttribute((const void *)kernel, attr, value);
}
#else
// The kernel test has no runtime: host buffers are the device's, every copy is immediate.
#undef CUDA_CHECK_LAUNCH
#define CUDA_CHECK_LAUNCH() ((void)0)
#define cudaFuncSetAttribute(...) cudaSuccess
#define cudaMemcpyAsync(dst, src, n, kind, stream) (memcpy((dst), (src), (n)), cudaSuccess)
#define cudaStreamSynchronize(s) cudaSuccess
#endif
