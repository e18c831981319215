// Shared by the CUDA op files (kernels/*.cu): the context behind Ops.impl, the
// dtype rules of ops.h (every floating operand F32 or BF16, independently;
// compute in fp32; round each result once to its output's dtype), device
// load/store helpers, launch helpers, and the backend entry points each file
// provides to the vtable in cuda_ops.cu.
#pragma once

#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>

#include "cuda_check.cuh"

extern "C" {
#include "core/check.h"
#include "core/tensor.h"
#include "ops/ops_impl.h"
}

// ---- the context ------------------------------------------------------------------

struct GemmPlan; // gemm.cu: cached cuBLASLt descriptors and algorithm per problem

// Codes the device error flag carries (see cuda_report_bad_index). The host
// reads the flag at every sync point (ops_sync, download, sum_squares) and
// exits naming the op, the position and the offending index.
enum CudaErrCode {
    CERR_NONE = 0,
    CERR_EMBEDDING,
    CERR_GATHER_ROWS,
    CERR_SCATTER_ROWS,
    CERR_EMBEDDING_BWD,
    CERR_GATHER_ROWS_BWD,
    CERR_CROSS_ENTROPY,
};

struct CudaCtx {
    int device;
    int sm_count;
    cudaStream_t stream;        // every op runs on this one non-blocking stream
    // ops_prefetch_*: uploads of the next batch on a second stream (the copy engine) while `stream`
    // computes. prefetch_after_compute orders a prefetch after the compute queued before it;
    // prefetch_done is recorded after each prefetch (what ops_prefetch_join / _wait_host wait for).
    cudaStream_t copy_stream;
    cudaEvent_t prefetch_after_compute, prefetch_done;
    int prefetch_pending;       // a prefetch was queued since the last ops_prefetch_wait_host
    cublasLtHandle_t lt;
    void *workspace;            // cuBLASLt workspace
    size_t workspace_bytes;
    void *scratch;              // growable: dtype conversions, partial sums, index links
    size_t scratch_bytes;
    int *d_err;                 // [4]: code, position, value, limit (device)
    GemmPlan *plans;            // gemm.cu's cache (array of GEMM_CACHE_SIZE)
    int plan_count, plan_next;
    long long plan_misses, plan_evictions; // plans built, and cached ones recycled to make room
    // of the plans built: those whose algorithm splits K, and BF16-output problems for which the
    // reduction-scheme mask left no algorithm, so the heuristic was asked again unrestricted
    long long plan_split_k, plan_mask_retries;
    // attention.cu: which path op_attention/op_attention_backward take (CUDA_ATTN_*; from
    // DFER_ATTENTION when the context is created) and the gemm path's own workspace:
    // growable, at most attn_ws_cap bytes (0: CUDA_ATTN_WORKSPACE_CAP), never shared with
    // cuda_scratch (gemm.cu may reuse that between the path's GEMM calls).
    int attn_path;
    size_t attn_ws_cap;
    void *attn_ws;
    size_t attn_ws_bytes;
    int adapter_fused; // DFER_ADAPTER=fused: adapter.cu's kernels where they serve (0: the composed ops)
    // op timing (ops_profile.c): events given back, for the next marks
    cudaEvent_t *spare_events;
    int spare_count, spare_cap;
};

// Attention paths (attention.cu's header comment): 0 is the default of a zeroed context.
enum CudaAttnPath { CUDA_ATTN_GEMM = 0, CUDA_ATTN_TILED = 1, CUDA_ATTN_FLASH = 2 };
// Most device memory the gemm path's workspace may take; batch items go through in chunks
// that fit (a sequence whose single item does not fit runs tiled).
#define CUDA_ATTN_WORKSPACE_CAP ((size_t)256 << 20)

static inline CudaCtx *cuda_ctx(Ops *ops) { return (CudaCtx *)ops->impl; }

// ---- host helpers (cuda_ops.cu) ------------------------------------------------------

// 1 for BF16, 0 for F32; fatal (naming op and tensor) for anything else, F64 included.
int cuda_fdtype(T t, const char *op);
// Same for an optional tensor: -1 when t is NULL or has no data.
int cuda_fdtype_opt(T t, const char *op);
// Requires F32 (optimiser state).
void cuda_require_f32(T t, const char *op);
// A device buffer of at least `bytes`, valid until the next call. Growing it
// synchronises the stream first, so work queued on the old buffer completes.
void *cuda_scratch(CudaCtx *cx, size_t bytes);
// attention_gemm.cu's workspace of at least `bytes`, kept across calls (grown like
// cuda_scratch: the stream is synchronised before the old buffer goes).
void *cuda_attn_workspace(CudaCtx *cx, size_t bytes);
// Fatal if a kernel has flagged an out-of-range index (call after a stream sync).
void cuda_check_device_errors(CudaCtx *cx);
// Blocks of `threads` for a grid-stride loop over n items (n > 0).
unsigned cuda_grid(int64_t n, int threads);

static inline size_t cuda_align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }
static inline int cuda_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }
static inline const char *cuda_tname(T t) { return t && t->name ? t->name : "(unnamed)"; }

// Column sums, deterministic (fixed partition of rows, fixed summation order):
// out[j] += sum_{r < nrows} src[r * row_stride + j] for j < ncols. src F32 or
// BF16 (src_bf16), out F32 or BF16 (out_bf16). Uses the scratch buffer. (reduce.cu)
void cuda_colsum_accumulate(CudaCtx *cx, void *out, int out_bf16, const void *src, int src_bf16, int64_t nrows,
                            int64_t ncols, int64_t row_stride);
// The same, adding scale * the sum (in fp32; scale 1 is the above, bitwise).
void cuda_colsum_accumulate_scaled(CudaCtx *cx, void *out, int out_bf16, const void *src, int src_bf16, int64_t nrows,
                                   int64_t ncols, int64_t row_stride, float scale);
// Rows per chunk and chunk count of the two-pass column reductions.
void cuda_colsum_plan(int64_t nrows, int64_t ncols, int64_t *rows_per_chunk, int64_t *chunks);
// out[j] (+)= scale * the sum over chunks of partial[c * ncols + j], in chunk order.
void cuda_colsum_finish(CudaCtx *cx, void *out, int out_bf16, const float *partial, int64_t chunks, int64_t ncols,
                        float scale);

// Elementwise conversion between F32/BF16 buffers (n elements) on the stream. (elementwise.cu)
void cuda_convert(CudaCtx *cx, void *dst, int dst_bf16, const void *src, int src_bf16, int64_t n);

// ---- device helpers --------------------------------------------------------------------

static __device__ __forceinline__ float to_f(float v) { return v; }
static __device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename X> static __device__ __forceinline__ X from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Generic (runtime-dtype) element access for operands without a templated path.
static __device__ __forceinline__ float load_f(const void *p, int bf16, int64_t i) {
    return bf16 ? __bfloat162float(((const __nv_bfloat16 *)p)[i]) : ((const float *)p)[i];
}
static __device__ __forceinline__ void store_f(void *p, int bf16, int64_t i, float v) {
    if (bf16)
        ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
    else
        ((float *)p)[i] = v;
}

// Eight consecutive elements through 16-byte accesses (the pointer must be
// 16-byte aligned): bf16 x8 is one uint4, f32 x8 two float4.
static __device__ __forceinline__ void load8(const float *p, float v[8]) {
    float4 a = reinterpret_cast<const float4 *>(p)[0], b = reinterpret_cast<const float4 *>(p)[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
    v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}
static __device__ __forceinline__ void load8(const __nv_bfloat16 *p, float v[8]) {
    uint4 u = *reinterpret_cast<const uint4 *>(p);
    const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
    for (int k = 0; k < 4; k++) {
        float2 f = __bfloat1622float2(h[k]);
        v[2 * k] = f.x;
        v[2 * k + 1] = f.y;
    }
}
static __device__ __forceinline__ void store8(float *p, const float v[8]) {
    reinterpret_cast<float4 *>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4 *>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
static __device__ __forceinline__ void store8(__nv_bfloat16 *p, const float v[8]) {
    uint4 u;
    __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&u);
#pragma unroll
    for (int k = 0; k < 4; k++) h[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
    *reinterpret_cast<uint4 *>(p) = u;
}

static __device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
static __device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// ---- activations: the formulas of cpu_kernels.inc, in fp32 ----------------------------

// tanh for the GELU approximation. Not tanhf: under --use_fast_math that becomes
// tanh.approx.f32 (about 2^-11 relative error, visible in F32 parity tests).
// 1 - 2/(e^2u + 1) has an absolute error of a few 1e-8, which is what matters in
// 1 + tanh(u) and 1 - tanh(u)^2; it saturates to +-1 correctly (e^2u = inf or 0).
static __device__ __forceinline__ float tanh_precise(float u) { return 1.0f - 2.0f / (__expf(2.0f * u) + 1.0f); }

template <int ACT> static __device__ __forceinline__ float act_value(float v) {
    if (ACT == ACT_QUICKGELU) return v / (1.0f + expf(-1.702f * v));
    if (ACT == ACT_GELU_ERF) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752440f));
    const float k = 0.79788456080286535588f; // sqrt(2/pi)
    return 0.5f * v * (1.0f + tanh_precise(k * (v + 0.044715f * v * v * v)));
}

template <int ACT> static __device__ __forceinline__ float act_derivative(float v) {
    if (ACT == ACT_QUICKGELU) {
        float s = 1.0f / (1.0f + expf(-1.702f * v));
        // saturated: 0, not 0 * inf where 1.702 v overflows (|v| > 2e38)
        return s + (s * (1.0f - s) == 0.0f ? 0.0f : 1.702f * v * s * (1.0f - s));
    }
    if (ACT == ACT_GELU_ERF) {
        const float inv_sqrt_2pi = 0.39894228040143267794f;
        return 0.5f * (1.0f + erff(v * 0.70710678118654752440f)) + v * inv_sqrt_2pi * expf(-0.5f * v * v);
    }
    const float k = 0.79788456080286535588f, c = 0.044715f;
    float t = tanh_precise(k * (v + c * v * v * v)), sech2 = 1.0f - t * t;
    // saturated: the second term is 0, also where v * v overflows (|v| > 1.8e19; 0 * inf made the gradient NaN)
    return 0.5f * (1.0f + t) + (sech2 == 0.0f ? 0.0f : 0.5f * v * sech2 * k * (1.0f + 3.0f * c * v * v));
}

// First failure wins; the host reports it at the next sync.
static __device__ __forceinline__ void cuda_report_bad_index(int *err, int code, int64_t pos, int value,
                                                             int64_t limit) {
    if (atomicCAS(err, 0, code) == 0) {
        err[1] = (int)pos;
        err[2] = value;
        err[3] = (int)limit;
    }
}

// Grid-stride loop over [0, n).
#define CUDA_GRID_LOOP(i, n)                                                                      \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

// Runs the statement with NAME a constant 1, 2, 3 or 4: count (1..4; above 4 runs as 4). Kernels templated
// on a small per-thread count (attention's column groups of Dh, layer norm's 256-column chunks) take it.
#define DISPATCH_1_TO_4(count, NAME, ...)                                                         \
    do {                                                                                          \
        switch (count) {                                                                          \
        case 1: { constexpr int NAME = 1; __VA_ARGS__; } break;                                   \
        case 2: { constexpr int NAME = 2; __VA_ARGS__; } break;                                   \
        case 3: { constexpr int NAME = 3; __VA_ARGS__; } break;                                   \
        default: { constexpr int NAME = 4; __VA_ARGS__; } break;                                  \
        }                                                                                         \
    } while (0)

// Runs the statement with TYPE bound to float or __nv_bfloat16 by a runtime flag;
// nest it to instantiate a template for every F32/BF16 combination of its operands.
#define FT_DISPATCH(is_bf16, TYPE, ...)                                                           \
    do {                                                                                          \
        if (is_bf16) {                                                                            \
            typedef __nv_bfloat16 TYPE;                                                           \
            __VA_ARGS__;                                                                          \
        } else {                                                                                  \
            typedef float TYPE;                                                                   \
            __VA_ARGS__;                                                                          \
        }                                                                                         \
    } while (0)

// ---- entry points (each file fills part of the vtable) -------------------------------------

// gemm.cu
void cu_linear(Ops *ops, T y, T x, T w, T b);
void cu_matmul(Ops *ops, T c, T a, T b, int trans_a, int trans_b, float alpha, float beta);
void cu_linear_backward(Ops *ops, T dx, T dw, T db, T dy, T x, T w, int accumulate);
void cuda_gemm_release(CudaCtx *cx);
// Row-major c[M,N] = alpha * op(a) op(b) + beta * c, op = transpose when ta/tb (a stored [M,K] or
// [K,M], b [K,N] or [N,K]), each operand F32 or BF16 (the dtype rules above, as op_matmul). Uses
// cuda_scratch only where an operand needs converting or C is BF16 under F32 inputs.
void cuda_gemm(CudaCtx *cx, const char *op, void *c, int c_bf16, const void *a, int a_bf16, const void *b, int b_bf16,
               int64_t M, int64_t N, int64_t K, int ta, int tb, float alpha, float beta);
// One operand of a strided-batched GEMM: matrix i (row-major, leading dimension ld
// elements) starts at p + i * stride elements; bf16 1 for BF16, 0 for F32.
struct CudaMat {
    const void *p;
    int bf16;
    int64_t ld, stride;
};
// Matrices in one strided-batched cuBLASLt call: its kernels may put the batch in a grid dimension, whose
// y and z limit is 65,535 (cuBLAS had to work around larger counts; AIM's temporal attention reaches 65,792
// sequences x heads at 256 L/14 clips), so cuda_gemm_strided_batched splits a larger batch into such calls.
#define CUDA_GEMM_MAX_BATCH 65535
// For i < batch: c_i[M,N] = alpha * op(a_i) op(b_i) + beta * c_i, op = transpose when ta/tb,
// a_i stored [M,K] (ta = 0) or [K,M], b_i [K,N] (tb = 0) or [N,K]; compute fp32 (no TF32).
// a and b share one dtype; c is F32, or BF16 under BF16 inputs (rounded once). No scratch:
// nothing is converted, cuda_scratch is left alone. Plans are cached like gemm.cu's others. Any batch: more
// than CUDA_GEMM_MAX_BATCH matrices go in several calls.
void cuda_gemm_strided_batched(CudaCtx *cx, const char *op, CudaMat c, CudaMat a, int ta, CudaMat b, int tb, int64_t M,
                               int64_t N, int64_t K, int64_t batch, float alpha, float beta);

// attention.cu
void cu_attention(Ops *ops, T out, T saved, T qkv, int heads, int causal);
size_t cu_attention_saved_bytes(int64_t batch, int64_t seq, int heads);
void cu_attention_backward(Ops *ops, T dqkv, T dout, T qkv, T saved, int heads, int causal);
// attention_gemm.cu: the gemm path. Each returns 0 without launching anything where it cannot
// serve (DFER_ATTENTION=tiled, Dh not a multiple of 8, one item's buffers above the workspace
// cap), 1 when it ran. lse, delta: saved[0] and saved[1] of attention.cu's contract (lse may be
// NULL forward). The backward's products are BF16 when qkv and dout both are, else F32.
int cuda_attention_gemm(CudaCtx *cx, void *out, int out_bf16, float *lse, const void *qkv, int qkv_bf16,
                        int64_t batch, int seq, int heads, int hd, int causal);
int cuda_attention_gemm_backward(CudaCtx *cx, void *dqkv, int dqkv_bf16, const void *dout, int dout_bf16,
                                 const void *qkv, int qkv_bf16, const float *lse, float *delta, int64_t batch, int seq,
                                 int heads, int hd, int causal);
// The gemm path's plan, for tests: workspace bytes of a chunk of `items` (operand_bytes 2
// for BF16 GEMM operands, 4 for F32), and the items per chunk the context would use for a
// batch (0: the tiled path serves, as for DFER_ATTENTION=tiled).
size_t cuda_attention_gemm_bytes(int64_t items, int64_t seq, int heads, int hd, int operand_bytes, int backward);
int64_t cuda_attention_gemm_chunk(const CudaCtx *cx, int64_t batch, int64_t seq, int heads, int hd, int operand_bytes,
                                  int backward);

// attention_flash.cu: the flash path (BF16 qkv, and dout backward; Dh = 64). Each returns 0
// without launching anything where it cannot serve (head size, alignment), 1 when it ran.
// lse, delta: saved[0] and saved[1] of attention.cu's contract (lse may be NULL forward).
int cuda_attention_flash(CudaCtx *cx, void *out, int out_bf16, float *lse, const void *qkv, int64_t batch, int seq,
                         int heads, int hd, int causal);
int cuda_attention_flash_backward(CudaCtx *cx, void *dqkv, int dqkv_bf16, const void *dout, const void *qkv,
                                  const float *lse, float *delta, int64_t batch, int seq, int heads, int hd,
                                  int causal);

// adapter.cu: op_adapter and its backward, fused on the tensor cores (DFER_ADAPTER=fused) where the
// operands allow (BF16 activations, width a multiple of 64, bottleneck of 8, at most 256), else composed
void cu_adapter(Ops *ops, T out, T x, const AdapterWeights *w, T res, AdapterForm form, T scratch);
void cu_adapter_backward(Ops *ops, T dx, const AdapterWeights *g, T dout, T x, const AdapterWeights *w,
                         AdapterForm form, int accumulate, T scratch);

// layernorm.cu
void cu_layernorm(Ops *ops, T y, T mean, T rstd, T x, T g, T b, float eps);
void cu_layernorm_backward(Ops *ops, T dx, T dg, T db, T dy, T x, T mean, T rstd, T g, int accumulate);

// elementwise.cu
void cu_activation(Ops *ops, Activation act, T y, T x);
void cu_activation_backward(Ops *ops, Activation act, T dx, T dy, T x);
void cu_add(Ops *ops, T y, T a, T b);
void cu_axpy(Ops *ops, T y, float alpha, T x);
void cu_axpy_rows(Ops *ops, T y, T w, T x, float beta);
void cu_scale(Ops *ops, T y, float alpha);
void cu_add_broadcast(Ops *ops, T y, T p);
void cu_add_broadcast_backward(Ops *ops, T dp, T dy);
void cu_im2col_patches(Ops *ops, T patches, T images, int patch);
void cu_normalize_images(Ops *ops, T y, T x, const float *lut);
void cu_prepend_token(Ops *ops, T y, T x, T tok);
void cu_prepend_token_backward(Ops *ops, T dx, T dtok, T dy);
void cu_permute_0213(Ops *ops, T y, T x);
void cu_mean_dim1(Ops *ops, T y, T x);
void cu_mean_dim1_backward(Ops *ops, T dx, T dy);

// rows.cu (index-driven row movement)
void cu_embedding(Ops *ops, T y, T table, T ids);
void cu_gather_rows(Ops *ops, T y, T x, T idx);
void cu_scatter_rows(Ops *ops, T y, T x, T idx);
void cu_embedding_backward(Ops *ops, T dtable, T dy, T ids);
void cu_gather_rows_backward(Ops *ops, T dx, T dy, T idx);

// loss_optim.cu
void cu_l2_normalize(Ops *ops, T y, T x, float eps);
void cu_l2_normalize_backward(Ops *ops, T dx, T dy, T x, float eps);
void cu_cross_entropy(Ops *ops, T loss, T dlogits, T logits, T labels, float grad_scale);
double cu_sum_squares(Ops *ops, T x);
void cu_sgd_update(Ops *ops, T w, T g, T buf, float lr, float momentum, float wd, int first);
void cu_adamw_update(Ops *ops, T w, T g, T m, T v, float lr, float b1, float b2, float eps, float wd, int step);
