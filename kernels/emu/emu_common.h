// Fake CUDA device layer: each block runs as blockDim.x std::threads with barriers.
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cublasLt.h>
#include <cublas_v2.h>
#include <nccl.h>
#include <barrier>
#include <thread>
#include <vector>
#include <memory>
#include <cstring>
#include <cmath>
#include <cstdint>
#include <algorithm>

#undef __global__
#undef __device__
#undef __shared__
#undef __forceinline__
#undef __launch_bounds__
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct EmuBlock {
    std::barrier<> *bar;
    std::vector<std::unique_ptr<std::barrier<>>> wbar;
    std::vector<uint64_t> slots; // [warps][32]
    std::vector<char> dyn, stat;
};
extern thread_local EmuBlock *emu_blk;
extern thread_local uint3 emu_tid, emu_bid;
extern thread_local dim3 emu_bdim, emu_gdim;
#define threadIdx emu_tid
#define blockIdx emu_bid
#define blockDim emu_bdim
#define gridDim emu_gdim

inline void *emu_dyn_smem() { return emu_blk->dyn.data(); }
inline void *emu_static_smem(size_t) { return emu_blk->stat.data(); }
inline void __syncthreads() { emu_blk->bar->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu_blk->wbar[threadIdx.x / 32]->arrive_and_wait(); }
template <class V> V __shfl_xor_sync(unsigned, V v, int mask) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    emu_blk->slots[w * 32 + l] = bits;
    __syncwarp();
    V r;
    uint64_t o = emu_blk->slots[w * 32 + (l ^ mask)];
    memcpy(&r, &o, sizeof r);
    __syncwarp();
    return r;
}
inline int __any_sync(unsigned, int p) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    emu_blk->slots[w * 32 + l] = p != 0;
    __syncwarp();
    int any = 0;
    for (int k = 0; k < 32; k++) any |= (int)emu_blk->slots[w * 32 + k];
    __syncwarp();
    return any;
}
#include <mutex>
extern std::mutex emu_atomic_mu;
inline int atomicCAS(int *p, int cmp, int val) {
    std::lock_guard<std::mutex> g(emu_atomic_mu);
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

struct EmuLaunch {
    dim3 g, b;
    size_t smem;
    template <class K, class... A> void go(K kernel, A... args) {
        for (unsigned z = 0; z < g.z; z++)
            for (unsigned y = 0; y < g.y; y++)
                for (unsigned x = 0; x < g.x; x++) {
                    EmuBlock blk;
                    std::barrier<> bar((ptrdiff_t)b.x);
                    blk.bar = &bar;
                    for (unsigned w = 0; w < (b.x + 31) / 32; w++) blk.wbar.emplace_back(new std::barrier<>(32));
                    blk.slots.assign(((b.x + 31) / 32) * 32, 0);
                    blk.dyn.assign(smem + 16, (char)0x7f); // garbage-ish fill
                    blk.stat.assign(65536, (char)0x7f);
                    std::vector<std::thread> th;
                    for (unsigned t = 0; t < b.x; t++)
                        th.emplace_back([&, t]() {
                            emu_blk = &blk;
                            emu_tid = make_uint3(t, 0, 0);
                            emu_bid = make_uint3(x, y, z);
                            emu_bdim = b;
                            emu_gdim = g;
                            kernel(args...);
                        });
                    for (auto &t : th) t.join();
                }
    }
};
inline EmuLaunch emu_launch(dim3 g, dim3 b, size_t smem = 0, cudaStream_t = 0) { return EmuLaunch{g, b, smem}; }

#include "../cuda_common.cuh"

#undef CUDA_CHECK_LAUNCH
#define CUDA_CHECK_LAUNCH() ((void)0)
#define cudaFuncSetAttribute(...) cudaSuccess
#define cudaMemcpyAsync(dst, src, n, kind, stream) (memcpy((dst), (src), (n)), cudaSuccess)
#define cudaStreamSynchronize(s) cudaSuccess
