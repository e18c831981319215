// Multi-head self-attention on packed projections, forward and backward, for
// the short sequences of this project (S = 197/257 spatial tokens, 16 temporal,
// 77/248 causal text; any S works), head size Dh <= 128. Three implementations
// ("paths") of one contract: the gemm path (attention_gemm.cu: cuBLASLt products over
// materialised score matrices, the default), the flash path (attention_flash.cu:
// FlashAttention-2 on the tensor cores, BF16 operands, Dh = 64) and the tiled path
// here (CUDA cores, any Dh, no [S,S] matrix). The CUDA context picks one when it is
// created from DFER_ATTENTION = gemm (default) | tiled | flash (kernels/cuda_ops.cu;
// an invalid value is fatal; tests switch per call through dfer_cuda_set_attention).
// This file holds the contract, the dispatch and the tiled path: a call the flash
// path cannot take goes to the gemm path, and one the gemm path cannot take (Dh not
// a multiple of 8, one item's buffers above its workspace cap) to the tiled path.
//
// Layout (ops.h): qkv[B,S,3W], W = H*Dh, row i of item b = [q | k | v], head h
// at column h*Dh of each block; out[B,S,W]. Scores s_ij = q_i . k_j / sqrt(Dh),
// causal masks j > i. All scores, softmax statistics and accumulations are fp32;
// operands are read in their own dtype (F32 or BF16) and outputs rounded once.
//
// saved (F32): lse[B,H,S] (the forward's per-row logsumexp of the scaled
// scores), then Delta[B,H,S] (backward's scratch, Delta_i = sum_j p_ij dP_ij).
// Every path writes and reads them identically, so any path's backward takes
// any path's forward.
//
// ==== tiled path: FlashAttention-style, CUDA cores only, no [S,S] matrix in memory ====
// Forward: a block per (query tile of 16 rows, head, batch item): 4 warps of 4
// rows each. K and V of the head stream through shared memory in tiles of 32
// keys (one key per lane for the scores) with an online softmax (running max m,
// running sum l, output rescaled by exp(m_old - m_new)), so shared memory does not
// grow with S. Lane j computes the dot products of key j with the warp's 4 query
// rows (K tile padded to Dh+1 floats per row: conflict-free); the probabilities
// go through a per-warp shared array; for the output each lane owns columns
// lane, lane+32, ... of its rows. Causal blocks stop at their last row's key.
//
// Backward, FlashAttention-2 style without atomics, recomputing
// p_ij = exp(s_ij - lse_i):
//  pass 1 (dq), a block per query tile like the forward: sweep 1 over key tiles
//    gives Delta_i = sum_j p_ij dP_ij with dP_ij = dO_i . v_j (stored in saved);
//    sweep 2 gives dq_i = scale * sum_j p_ij (dP_ij - Delta_i) k_j.
//  pass 2 (dk, dv), a block per tile of 16 key rows, query tiles of 32 streaming
//    through shared memory (q and dO padded, lse and Delta alongside):
//    dv_j = sum_i p_ij dO_i, dk_j = scale * sum_i p_ij (dP_ij - Delta_i) q_i.
// Every element of dqkv is written exactly once (q part by pass 1, k and v parts
// by pass 2): dqkv is overwritten.
//
//
// No path uses atomics: fixed reduction orders, one cuBLASLt algorithm per
// cached plan, so results are bitwise repeatable run to run.
#include "attention_shape.cuh"
#include "cuda_common.cuh"

namespace {

constexpr int KT = 32;             // keys (forward, pass 1) or queries (pass 2) per tile: one per lane
constexpr int WARPS = 4;
constexpr int RPW = 4;             // rows per warp
constexpr int ROWS = WARPS * RPW;  // query rows (forward, pass 1) or key rows (pass 2) per block
constexpr int THREADS = WARPS * 32;
constexpr int MAX_DH = 128;


// dst[r*ld + t] = src[(row_base + i0 + r) * row_stride + col0 + t] for r < count, t < hd;
// rows past the sequence are zeros. Consecutive threads take consecutive t: coalesced.
__device__ void stage_rows(float *dst, int ld, const void *src, int bf16, int64_t row_base, int64_t row_stride,
                           int64_t col0, int i0, int count, int seq, int hd) {
    for (int e = threadIdx.x; e < count * hd; e += blockDim.x) {
        const int r = e / hd, t = e % hd, i = i0 + r;
        dst[r * ld + t] = i < seq ? load_f(src, bf16, (row_base + i) * row_stride + col0 + t) : 0.0f;
    }
}

size_t fwd_smem_floats(int hd) {
    return (size_t)KT * (hd + 1) + (size_t)KT * hd + (size_t)ROWS * hd + WARPS * RPW * KT;
}
size_t dq_smem_floats(int hd) { return 2 * (size_t)KT * (hd + 1) + 2 * (size_t)ROWS * hd + WARPS * RPW * KT; }
size_t dkdv_smem_floats(int hd) {
    return 2 * (size_t)KT * (hd + 1) + 2 * (size_t)KT + 2 * (size_t)ROWS * hd + 2 * WARPS * RPW * KT;
}

// ---- forward ------------------------------------------------------------------------------------

template <int DC> // DC = ceil(Dh / 32): output columns per lane
__global__ void __launch_bounds__(THREADS)
attn_fwd_kernel(void *out, int out_bf16, float *lse, const void *qkv, int qkv_bf16, AttnShape a) {
    extern __shared__ float smem[];
    const int hd = a.hd, ldk = hd + 1;
    float *Ks = smem;             // [KT][hd+1]
    float *Vs = Ks + KT * ldk;    // [KT][hd]
    float *Qs = Vs + KT * hd;     // [ROWS][hd]
    float *Ps = Qs + ROWS * hd;   // [WARPS][RPW][KT]
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int h = blockIdx.y, q0 = blockIdx.x * ROWS;
    const int64_t b = blockIdx.z, row_base = b * a.seq, rs = 3 * a.width;
    float *pw = Ps + warp * RPW * KT;
    const float *qw = Qs + warp * RPW * hd;

    stage_rows(Qs, hd, qkv, qkv_bf16, row_base, rs, (int64_t)h * hd, q0, ROWS, a.seq, hd);

    float o[RPW][DC], m[RPW], l[RPW];
#pragma unroll
    for (int r = 0; r < RPW; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < DC; c++) o[r][c] = 0.0f;
    }
    const int q_last = min(q0 + ROWS, a.seq) - 1;
    const int kend = a.causal ? q_last + 1 : a.seq; // keys any row of this block can see

    for (int k0 = 0; k0 < kend; k0 += KT) {
        __syncthreads(); // the previous tile is consumed (first time: Qs is staged)
        stage_rows(Ks, ldk, qkv, qkv_bf16, row_base, rs, a.width + (int64_t)h * hd, k0, KT, a.seq, hd);
        stage_rows(Vs, hd, qkv, qkv_bf16, row_base, rs, 2 * a.width + (int64_t)h * hd, k0, KT, a.seq, hd);
        __syncthreads();

        // Lane <-> key j = k0 + lane: raw scores of the warp's RPW query rows.
        float s[RPW];
#pragma unroll
        for (int r = 0; r < RPW; r++) s[r] = 0.0f;
        const float *kr = Ks + lane * ldk;
        for (int t = 0; t < hd; t++) {
            const float kv = kr[t];
#pragma unroll
            for (int r = 0; r < RPW; r++) s[r] += qw[r * hd + t] * kv;
        }
        const int j = k0 + lane;
#pragma unroll
        for (int r = 0; r < RPW; r++) {
            const int i = q0 + warp * RPW + r;
            const bool ok = i < a.seq && j < a.seq && (!a.causal || j <= i);
            const float sc = ok ? s[r] * a.scale : -INFINITY;
            const float tmax = warp_max(sc);
            float p = 0.0f;
            if (tmax != -INFINITY) { // warp-uniform: some key of this tile is visible to row i
                const float mnew = fmaxf(m[r], tmax);
                p = ok ? __expf(sc - mnew) : 0.0f;
                const float corr = __expf(m[r] - mnew); // 0 on the first visible tile (m = -inf)
                l[r] = l[r] * corr + warp_sum(p);
                m[r] = mnew;
#pragma unroll
                for (int c = 0; c < DC; c++) o[r][c] *= corr;
            }
            pw[r * KT + lane] = p;
        }
        __syncwarp();
        // o_i += sum_j p_ij v_j, lane owning columns lane + 32c.
        const int jn = min(KT, kend - k0);
        for (int jj = 0; jj < jn; jj++) {
            const float *vr = Vs + jj * hd;
#pragma unroll
            for (int r = 0; r < RPW; r++) {
                const float p = pw[r * KT + jj];
#pragma unroll
                for (int c = 0; c < DC; c++) {
                    const int t = lane + 32 * c;
                    if (t < hd) o[r][c] += p * vr[t];
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < RPW; r++) {
        const int i = q0 + warp * RPW + r;
        if (i >= a.seq) continue;
        const float inv = 1.0f / l[r]; // l >= 1: the row's maximum contributes exp(0)
        const int64_t ob = (row_base + i) * a.width + (int64_t)h * hd;
#pragma unroll
        for (int c = 0; c < DC; c++) {
            const int t = lane + 32 * c;
            if (t < hd) store_f(out, out_bf16, ob + t, o[r][c] * inv);
        }
        if (lse && lane == 0) lse[(b * a.heads + h) * a.seq + i] = m[r] + logf(l[r]);
    }
}

// ---- backward pass 1: Delta and dq, per query row -----------------------------------------------------

template <int DC>
__global__ void __launch_bounds__(THREADS)
attn_bwd_dq_kernel(void *dqkv, int dqkv_bf16, float *delta, const float *lse, const void *dout, int dout_bf16,
                   const void *qkv, int qkv_bf16, AttnShape a) {
    extern __shared__ float smem[];
    const int hd = a.hd, ldk = hd + 1;
    float *Ks = smem;            // [KT][hd+1]
    float *Vs = Ks + KT * ldk;   // [KT][hd+1]
    float *Qs = Vs + KT * ldk;   // [ROWS][hd]
    float *Os = Qs + ROWS * hd;  // [ROWS][hd]  dO rows
    float *Ps = Os + ROWS * hd;  // [WARPS][RPW][KT]
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int h = blockIdx.y, q0 = blockIdx.x * ROWS;
    const int64_t b = blockIdx.z, row_base = b * a.seq, rs = 3 * a.width;
    const int64_t stat_base = (b * a.heads + h) * a.seq; // lse / Delta of this (item, head)
    float *pw = Ps + warp * RPW * KT;
    const float *qw = Qs + warp * RPW * hd, *ow = Os + warp * RPW * hd;

    stage_rows(Qs, hd, qkv, qkv_bf16, row_base, rs, (int64_t)h * hd, q0, ROWS, a.seq, hd);
    stage_rows(Os, hd, dout, dout_bf16, row_base, a.width, (int64_t)h * hd, q0, ROWS, a.seq, hd);

    float row_lse[RPW], row_delta[RPW], dq[RPW][DC];
#pragma unroll
    for (int r = 0; r < RPW; r++) {
        const int i = q0 + warp * RPW + r;
        row_lse[r] = i < a.seq ? lse[stat_base + i] : 0.0f;
        row_delta[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < DC; c++) dq[r][c] = 0.0f;
    }
    const int q_last = min(q0 + ROWS, a.seq) - 1;
    const int kend = a.causal ? q_last + 1 : a.seq;

    // Sweep 0 computes Delta (lane partials, reduced after the sweep); sweep 1 accumulates dq.
    for (int sweep = 0; sweep < 2; sweep++) {
        for (int k0 = 0; k0 < kend; k0 += KT) {
            __syncthreads();
            stage_rows(Ks, ldk, qkv, qkv_bf16, row_base, rs, a.width + (int64_t)h * hd, k0, KT, a.seq, hd);
            stage_rows(Vs, ldk, qkv, qkv_bf16, row_base, rs, 2 * a.width + (int64_t)h * hd, k0, KT, a.seq, hd);
            __syncthreads();

            float s[RPW], dp[RPW];
#pragma unroll
            for (int r = 0; r < RPW; r++) s[r] = dp[r] = 0.0f;
            const float *kr = Ks + lane * ldk, *vr = Vs + lane * ldk;
            for (int t = 0; t < hd; t++) {
                const float kv = kr[t], vv = vr[t];
#pragma unroll
                for (int r = 0; r < RPW; r++) {
                    s[r] += qw[r * hd + t] * kv;
                    dp[r] += ow[r * hd + t] * vv;
                }
            }
            const int j = k0 + lane;
#pragma unroll
            for (int r = 0; r < RPW; r++) {
                const int i = q0 + warp * RPW + r;
                const bool ok = i < a.seq && j < a.seq && (!a.causal || j <= i);
                const float p = ok ? __expf(s[r] * a.scale - row_lse[r]) : 0.0f;
                if (sweep == 0)
                    row_delta[r] += p * dp[r]; // lane partial
                else
                    pw[r * KT + lane] = p * (dp[r] - row_delta[r]); // dS_ij / scale
            }
            if (sweep == 1) {
                __syncwarp();
                const int jn = min(KT, kend - k0);
                for (int jj = 0; jj < jn; jj++) {
                    const float *kj = Ks + jj * ldk;
#pragma unroll
                    for (int r = 0; r < RPW; r++) {
                        const float ds = pw[r * KT + jj];
#pragma unroll
                        for (int c = 0; c < DC; c++) {
                            const int t = lane + 32 * c;
                            if (t < hd) dq[r][c] += ds * kj[t];
                        }
                    }
                }
            }
        }
        if (sweep == 0) {
#pragma unroll
            for (int r = 0; r < RPW; r++) row_delta[r] = warp_sum(row_delta[r]);
        }
    }

#pragma unroll
    for (int r = 0; r < RPW; r++) {
        const int i = q0 + warp * RPW + r;
        if (i >= a.seq) continue;
        const int64_t qb = (row_base + i) * rs + (int64_t)h * hd;
#pragma unroll
        for (int c = 0; c < DC; c++) {
            const int t = lane + 32 * c;
            if (t < hd) store_f(dqkv, dqkv_bf16, qb + t, dq[r][c] * a.scale);
        }
        if (lane == 0) delta[stat_base + i] = row_delta[r];
    }
}

// ---- backward pass 2: dk and dv, per key row ------------------------------------------------------------

template <int DC>
__global__ void __launch_bounds__(THREADS)
attn_bwd_dkdv_kernel(void *dqkv, int dqkv_bf16, const float *lse, const float *delta, const void *dout,
                     int dout_bf16, const void *qkv, int qkv_bf16, AttnShape a) {
    extern __shared__ float smem[];
    const int hd = a.hd, ldk = hd + 1;
    float *Qs = smem;            // [KT][hd+1]  query tile
    float *Os = Qs + KT * ldk;   // [KT][hd+1]  dO tile
    float *Ls = Os + KT * ldk;   // [KT] lse of the tile's queries
    float *Ds = Ls + KT;         // [KT] Delta of the tile's queries
    float *Kr = Ds + KT;         // [ROWS][hd]  this block's key rows
    float *Vr = Kr + ROWS * hd;  // [ROWS][hd]
    float *Ps = Vr + ROWS * hd;  // [WARPS][RPW][KT] p_ij
    float *Ss = Ps + WARPS * RPW * KT; // [WARPS][RPW][KT] p_ij (dP_ij - Delta_i)
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int h = blockIdx.y, j0 = blockIdx.x * ROWS;
    const int64_t b = blockIdx.z, row_base = b * a.seq, rs = 3 * a.width;
    const int64_t stat_base = (b * a.heads + h) * a.seq;
    float *pw = Ps + warp * RPW * KT, *sw = Ss + warp * RPW * KT;
    const float *kw = Kr + warp * RPW * hd, *vw = Vr + warp * RPW * hd;

    stage_rows(Kr, hd, qkv, qkv_bf16, row_base, rs, a.width + (int64_t)h * hd, j0, ROWS, a.seq, hd);
    stage_rows(Vr, hd, qkv, qkv_bf16, row_base, rs, 2 * a.width + (int64_t)h * hd, j0, ROWS, a.seq, hd);

    float dk[RPW][DC], dv[RPW][DC];
#pragma unroll
    for (int r = 0; r < RPW; r++)
#pragma unroll
        for (int c = 0; c < DC; c++) dk[r][c] = dv[r][c] = 0.0f;

    // Causal: queries i < j0 see none of this block's keys; start at the tile holding j0.
    const int istart = a.causal ? (j0 / KT) * KT : 0;
    for (int i0 = istart; i0 < a.seq; i0 += KT) {
        __syncthreads();
        stage_rows(Qs, ldk, qkv, qkv_bf16, row_base, rs, (int64_t)h * hd, i0, KT, a.seq, hd);
        stage_rows(Os, ldk, dout, dout_bf16, row_base, a.width, (int64_t)h * hd, i0, KT, a.seq, hd);
        if (threadIdx.x < KT) {
            const int i = i0 + threadIdx.x;
            Ls[threadIdx.x] = i < a.seq ? lse[stat_base + i] : 0.0f;
            Ds[threadIdx.x] = i < a.seq ? delta[stat_base + i] : 0.0f;
        }
        __syncthreads();

        // Lane <-> query i = i0 + lane.
        float s[RPW], dp[RPW];
#pragma unroll
        for (int r = 0; r < RPW; r++) s[r] = dp[r] = 0.0f;
        const float *qr = Qs + lane * ldk, *orow = Os + lane * ldk;
        for (int t = 0; t < hd; t++) {
            const float qv = qr[t], ov = orow[t];
#pragma unroll
            for (int r = 0; r < RPW; r++) {
                s[r] += qv * kw[r * hd + t];
                dp[r] += ov * vw[r * hd + t];
            }
        }
        const int i = i0 + lane;
#pragma unroll
        for (int r = 0; r < RPW; r++) {
            const int j = j0 + warp * RPW + r;
            const bool ok = i < a.seq && j < a.seq && (!a.causal || j <= i);
            const float p = ok ? __expf(s[r] * a.scale - Ls[lane]) : 0.0f;
            pw[r * KT + lane] = p;
            sw[r * KT + lane] = p * (dp[r] - Ds[lane]);
        }
        __syncwarp();
        const int in = min(KT, a.seq - i0);
        for (int ii = 0; ii < in; ii++) {
            const float *qi = Qs + ii * ldk, *oi = Os + ii * ldk;
#pragma unroll
            for (int r = 0; r < RPW; r++) {
                const float p = pw[r * KT + ii], ds = sw[r * KT + ii];
#pragma unroll
                for (int c = 0; c < DC; c++) {
                    const int t = lane + 32 * c;
                    if (t < hd) {
                        dv[r][c] += p * oi[t];
                        dk[r][c] += ds * qi[t];
                    }
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < RPW; r++) {
        const int j = j0 + warp * RPW + r;
        if (j >= a.seq) continue;
        const int64_t kb = (row_base + j) * rs + a.width + (int64_t)h * hd, vb = kb + a.width;
#pragma unroll
        for (int c = 0; c < DC; c++) {
            const int t = lane + 32 * c;
            if (t < hd) {
                store_f(dqkv, dqkv_bf16, kb + t, dk[r][c] * a.scale);
                store_f(dqkv, dqkv_bf16, vb + t, dv[r][c]);
            }
        }
    }
}

// ---- launch helpers ----------------------------------------------------------------------------------------

// Shared memory above 48 KiB needs an opt-in per kernel; done once per kernel and size.
template <typename K> void allow_smem(K kernel, size_t bytes, size_t *configured) {
    if (bytes <= 48 * 1024 || bytes <= *configured) return;
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    *configured = bytes;
}

AttnShape attn_shape(T qkv, int heads, int causal, const char *op) {
    const AttnShape a = attn_shape_of(qkv->shape[1], heads, (int)(qkv->shape[2] / 3 / heads), causal);
    CHECK(a.hd >= 1 && a.hd <= MAX_DH, "%s: head size %d of %s is outside the CUDA kernels' range [1, %d]", op, a.hd,
          cuda_tname(qkv), MAX_DH);
    // the sequences' count bounds only the paths that put them on gridDim.z (tiled, flash: attn_grid_fits);
    // the gemm path's grids are 1-D (AIM's temporal attention has clips x tokens sequences: 65,792 at 256 L/14 clips)
    CHECK(heads <= 65535, "%s: %d heads exceed the launch grid", op, heads);
    CHECK(qkv->shape[1] < (1 << 30), "%s: sequence of %lld is too long", op, (long long)qkv->shape[1]);
    return a;
}

// The tiled kernels' grid: the sequences on z, at most 65,535 of them.
void attn_grid_fits(int64_t batch, const char *op) {
    CHECK(batch <= 65535, "%s: %lld sequences exceed the tiled kernels' launch grid (65,535); the gemm path "
          "(DFER_ATTENTION=gemm, the default) takes any number", op, (long long)batch);
}

dim3 attn_grid(int64_t batch, const AttnShape &a) {
    return dim3((unsigned)((a.seq + ROWS - 1) / ROWS), (unsigned)a.heads, (unsigned)batch);
}

// Runs the statement with DC (= ceil(Dh/32), 1..4) a constant.
#define DC_DISPATCH(hd, ...) DISPATCH_1_TO_4(((hd) + 31) / 32, DC, __VA_ARGS__)

size_t g_fwd_smem[5], g_dq_smem[5], g_dkdv_smem[5]; // opted-in sizes per DC

} // namespace

size_t cu_attention_saved_bytes(int64_t batch, int64_t seq, int heads) {
    // lse [B,H,S] and Delta [B,H,S], F32: one formula with the memory planner's counting context (ops.c)
    return ops_attention_saved_bytes_for(BACKEND_CUDA, batch, seq, heads);
}

void cu_attention(Ops *ops, T out, T saved, T qkv, int heads, int causal) {
    const char *op = "attention";
    CudaCtx *cx = cuda_ctx(ops);
    int ob = cuda_fdtype(out, op), qb = cuda_fdtype(qkv, op);
    AttnShape a = attn_shape(qkv, heads, causal, op);
    int64_t batch = qkv->shape[0];
    if (batch == 0 || a.seq == 0) return;
    float *lse = saved && saved->data ? (float *)saved->data : NULL;
    CHECK(!lse || ((uintptr_t)lse & 3u) == 0, "%s: saved buffer %s is not 4-byte aligned", op, cuda_tname(saved));
    if (cx->attn_path == CUDA_ATTN_FLASH && qb &&
        cuda_attention_flash(cx, out->data, ob, lse, qkv->data, batch, a.seq, heads, a.hd, causal))
        return;
    if (cuda_attention_gemm(cx, out->data, ob, lse, qkv->data, qb, batch, a.seq, heads, a.hd, causal)) return;
    attn_grid_fits(batch, op);
    size_t smem = fwd_smem_floats(a.hd) * sizeof(float);
    DC_DISPATCH(a.hd, {
        allow_smem(attn_fwd_kernel<DC>, smem, &g_fwd_smem[DC]);
        attn_fwd_kernel<DC><<<attn_grid(batch, a), THREADS, smem, cx->stream>>>(out->data, ob, lse, qkv->data, qb, a);
    });
    CUDA_CHECK_LAUNCH();
}

void cu_attention_backward(Ops *ops, T dqkv, T dout, T qkv, T saved, int heads, int causal) {
    const char *op = "attention_backward";
    CudaCtx *cx = cuda_ctx(ops);
    CHECK(saved && saved->data, "%s: the forward pass saved nothing (saved buffer missing)", op);
    int gb = cuda_fdtype(dqkv, op), ob = cuda_fdtype(dout, op), qb = cuda_fdtype(qkv, op);
    AttnShape a = attn_shape(qkv, heads, causal, op);
    int64_t batch = qkv->shape[0];
    if (batch == 0 || a.seq == 0) return;
    CHECK(((uintptr_t)saved->data & 3u) == 0, "%s: saved buffer %s is not 4-byte aligned", op, cuda_tname(saved));
    float *lse = (float *)saved->data;
    float *delta = lse + (size_t)batch * heads * a.seq;
    if (cx->attn_path == CUDA_ATTN_FLASH && qb && ob &&
        cuda_attention_flash_backward(cx, dqkv->data, gb, dout->data, qkv->data, lse, delta, batch, a.seq, heads, a.hd,
                                      causal))
        return;
    if (cuda_attention_gemm_backward(cx, dqkv->data, gb, dout->data, ob, qkv->data, qb, lse, delta, batch, a.seq, heads,
                                     a.hd, causal))
        return;
    attn_grid_fits(batch, op);
    size_t smem_dq = dq_smem_floats(a.hd) * sizeof(float), smem_kv = dkdv_smem_floats(a.hd) * sizeof(float);
    DC_DISPATCH(a.hd, {
        allow_smem(attn_bwd_dq_kernel<DC>, smem_dq, &g_dq_smem[DC]);
        attn_bwd_dq_kernel<DC><<<attn_grid(batch, a), THREADS, smem_dq, cx->stream>>>(
            dqkv->data, gb, delta, lse, dout->data, ob, qkv->data, qb, a);
    });
    CUDA_CHECK_LAUNCH();
    // Pass 2 reads the Delta that pass 1 wrote (stream order).
    DC_DISPATCH(a.hd, {
        allow_smem(attn_bwd_dkdv_kernel<DC>, smem_kv, &g_dkdv_smem[DC]);
        attn_bwd_dkdv_kernel<DC><<<attn_grid(batch, a), THREADS, smem_kv, cx->stream>>>(
            dqkv->data, gb, lse, delta, dout->data, ob, qkv->data, qb, a);
    });
    CUDA_CHECK_LAUNCH();
}
