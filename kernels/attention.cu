// Multi-head self-attention on packed projections, forward and backward, for
// the short sequences of this project (S = 197/257 spatial tokens, 16 temporal,
// 77/248 causal text; any S works), head size Dh <= 128. Two implementations
// ("paths") of the same contract here, and a third in attention_flash.cu; the CUDA
// context picks one when it is created from DFER_ATTENTION = gemm (default) | tiled |
// flash (kernels/cuda_ops.cu; an invalid value is fatal; tests switch per call through
// dfer_cuda_set_attention). The flash path (FlashAttention-2 on the tensor cores: BF16
// operands, Dh = 64) hands the calls it cannot take to the gemm path.
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
// ==== gemm path (default): tensor cores through cuBLASLt strided-batched GEMMs ====
// For S up to a few hundred an S x S score matrix per (item, head) is small (257^2
// F32 = 258 KiB), so it is materialised, a chunk of batch items at a time, and
// the two big products of each direction run as cuBLASLt strided-batched GEMMs
// (gemm.cu: cuda_gemm_strided_batched; compute 32F, no TF32; BF16 operands on the
// tensor cores) over the chunk's G = items*H matrices. The CUDA-core kernels of
// the tiled path do those products at a fraction of tensor-core throughput.
// Workspace: the context's own (cuda_attn_workspace; never cuda_scratch, which
// gemm.cu may reuse between calls), at most CUDA_ATTN_WORKSPACE_CAP = 256 MiB
// (cuda_common.cuh): a chunk is the most items whose buffers fit, the batch split
// into equal chunks. e = 2 bytes (BF16) or 4 (F32) is the operand dtype: BF16
// when the product's inputs are all BF16 (forward: qkv; backward: qkv and dout),
// else F32 (BF16 inputs widened exactly). ld_s = S rounded up to 8 floats: rows of
// the score matrices stay 32-byte aligned for the tensor-core kernels.
//  forward, per chunk (buffers 256-byte aligned):
//   Qh, Kh, Vh [G,S,Dh] e    q, k, v of each (item, head) contiguous, the layout a
//                            strided batch needs (one gather kernel; exact)
//   Sc [G,S,ld_s] F32        = (1/sqrt(Dh)) Q K^T (the scale is the GEMM's alpha)
//                            -> one softmax kernel (a warp per row): causal mask,
//                            row max and sum (fp32, __expf), lse into saved[0]
//                            [b,h,i], P = exp(s - lse) written in place in the PV
//                            product's dtype (BF16 when v is BF16, as FlashAttention
//                            does: the one rounding the tiled path does not have;
//                            a BF16 P row keeps the F32 row's pitch, ld 2*ld_s)
//   Oh [G,S,Dh] F32          = P V, then a scatter kernel rounds it once into out.
//  backward, per chunk (P recomputed from Q, K and lse; nothing kept from the forward):
//   Qh, Kh, Vh, dOh [G,S,Dh] e  gathered as above (dout too)
//   Sc [G,S,ld_s] F32        = (1/sqrt(Dh)) Q K^T
//   dP [G,S,ld_s] F32        = dO V^T
//                            -> one kernel per row: p = exp(s - lse), Delta_i =
//                            sum_j p_ij dP_ij (saved[1], as the tiled path), P in
//                            place of Sc and dS = P o (dP - Delta) in place of dP,
//                            both in the operand dtype (rounded to BF16 when e = 2)
//   dQh, dKh, dVh [G,S,Dh] F32  dQ = (1/sqrt(Dh)) dS K, dK = (1/sqrt(Dh)) dS^T Q,
//                            dV = P^T dO; one scatter kernel rounds them once into
//                            dqkv (every element written once: overwritten).
// Bytes per item: forward H*S*(3*Dh*e + 4*ld_s + 4*Dh), backward
// H*S*(4*Dh*e + 8*ld_s + 12*Dh): ~10 MiB for S = 257, H = 12, BF16 backward, so
// ~25 items per chunk. The tiled path serves instead when the gemm path cannot:
// Dh not a multiple of 8 (rows and batch strides of the [G,S,Dh] buffers must be
// 16-byte multiples for the tensor-core kernels), or one item's buffers above the
// cap (H*S^2 large: S beyond a few thousand). Causal runs compute the masked half
// of each S x S product too: still far ahead of CUDA cores at these sizes.
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
// Neither path uses atomics: fixed reduction orders, one cuBLASLt algorithm per
// cached plan, so results are bitwise repeatable run to run.
#include <string.h>

#include "cuda_common.cuh"

namespace {

constexpr int KT = 32;             // keys (forward, pass 1) or queries (pass 2) per tile: one per lane
constexpr int WARPS = 4;
constexpr int RPW = 4;             // rows per warp
constexpr int ROWS = WARPS * RPW;  // query rows (forward, pass 1) or key rows (pass 2) per block
constexpr int THREADS = WARPS * 32;
constexpr int MAX_DH = 128;

struct AttnShape {
    int seq, heads, hd;
    int64_t width; // H * Dh
    float scale;
    int causal;
};

// dst[r*ld + t] = src[(row_base + i0 + r) * row_stride + col0 + t] for r < count, t < hd;
// rows past the sequence are zeros. Consecutive threads take consecutive t: coalesced.
__device__ void stage_rows(float *dst, int ld, const void *src, int bf16, int64_t row_base, int64_t row_stride,
                           int64_t col0, int i0, int count, int seq, int hd) {
    for (int e = threadIdx.x; e < count * hd; e += blockDim.x) {
        const int r = e / hd, t = e % hd, i = i0 + r;
        dst[r * ld + t] = i < seq ? load_f(src, bf16, (row_base + i) * row_stride + col0 + t) : 0.0f;
    }
}

size_t fwd_smem_floats(int hd) { return (size_t)KT * (hd + 1) + (size_t)KT * hd + (size_t)ROWS * hd + WARPS * RPW * KT; }
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
    AttnShape a;
    int64_t width = qkv->shape[2] / 3;
    a.seq = (int)qkv->shape[1];
    a.heads = heads;
    a.hd = (int)(width / heads);
    a.width = width;
    a.scale = 1.0f / sqrtf((float)a.hd);
    a.causal = causal;
    CHECK(a.hd >= 1 && a.hd <= MAX_DH, "%s: head size %d of %s is outside the CUDA kernels' range [1, %d]", op, a.hd,
          cuda_tname(qkv), MAX_DH);
    CHECK(qkv->shape[0] <= 65535 && heads <= 65535, "%s: %lld items x %d heads exceed the launch grid", op,
          (long long)qkv->shape[0], heads);
    CHECK(qkv->shape[1] < (1 << 30), "%s: sequence of %lld is too long", op, (long long)qkv->shape[1]);
    return a;
}

dim3 attn_grid(int64_t batch, const AttnShape &a) {
    return dim3((unsigned)((a.seq + ROWS - 1) / ROWS), (unsigned)a.heads, (unsigned)batch);
}

// Runs the statement with DC (= ceil(Dh/32), 1..4) a constant.
#define DC_DISPATCH(hd, ...)                                                                     \
    do {                                                                                         \
        switch (((hd) + 31) / 32) {                                                              \
        case 1: { constexpr int DC = 1; __VA_ARGS__; } break;                                    \
        case 2: { constexpr int DC = 2; __VA_ARGS__; } break;                                    \
        case 3: { constexpr int DC = 3; __VA_ARGS__; } break;                                    \
        default: { constexpr int DC = 4; __VA_ARGS__; } break;                                   \
        }                                                                                        \
    } while (0)

size_t g_fwd_smem[5], g_dq_smem[5], g_dkdv_smem[5]; // opted-in sizes per DC

// ---- gemm path: layout movers, the row softmax kernels, the host driver ---------------------------------

constexpr int SM_ROWS = 4; // softmax kernels: a warp per row, 4 rows per block
constexpr int SM_THREADS = SM_ROWS * 32;
constexpr int MOVE_THREADS = 256;

// Rows -> heads: for chunk row r = bl*S + i (bl: item within the chunk) of src (parts*W
// columns: 3 for qkv, 1 for dout), dst[part][(bl*H + h)*S + i][t] = src[r][part*W + h*Dh + t],
// dst parts part_stride elements apart. Eight consecutive columns per thread (Dh % 8 == 0:
// they never cross a head), 16-byte accesses when vec (src 16-byte aligned; dst always is).
template <typename TI, typename TO>
__global__ void heads_gather_kernel(TO *dst, int64_t part_stride, const TI *src, int parts, int64_t rows, int vec,
                                    AttnShape a) {
    const int width = (int)a.width, cols = parts * width, hd = a.hd;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const int64_t bl = r / a.seq, i = r % a.seq;
        const TI *srow = src + r * cols;
        for (int c0 = threadIdx.x * 8; c0 < cols; c0 += blockDim.x * 8) {
            const int part = c0 / width, hc = c0 % width, h = hc / hd, t = hc % hd;
            TO *d = dst + part * part_stride + ((bl * a.heads + h) * a.seq + i) * hd + t;
            float v[8];
            if (vec) {
                load8(srow + c0, v);
            } else {
#pragma unroll
                for (int k = 0; k < 8; k++) v[k] = to_f(srow[c0 + k]);
            }
            store8(d, v);
        }
    }
}

// Heads -> rows, the inverse (F32 source, rounded once to dst's dtype): dst[r][part*W + h*Dh + t]
// = src[part][(bl*H + h)*S + i][t]. Every element of the chunk's dst rows is written once.
template <typename TO>
__global__ void heads_scatter_kernel(TO *dst, const float *src, int64_t part_stride, int parts, int64_t rows, int vec,
                                     AttnShape a) {
    const int width = (int)a.width, cols = parts * width, hd = a.hd;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const int64_t bl = r / a.seq, i = r % a.seq;
        TO *drow = dst + r * cols;
        for (int c0 = threadIdx.x * 8; c0 < cols; c0 += blockDim.x * 8) {
            const int part = c0 / width, hc = c0 % width, h = hc / hd, t = hc % hd;
            float v[8];
            load8(src + part * part_stride + ((bl * a.heads + h) * a.seq + i) * hd + t, v);
            if (vec) {
                store8(drow + c0, v);
            } else {
#pragma unroll
                for (int k = 0; k < 8; k++) drow[c0 + k] = from_f<TO>(v[k]);
            }
        }
    }
}

// Forward softmax of the chunk's rows r = g*S + i (g = bl*H + h) of the scaled scores
// sc (F32, pitch ld_s): lse_r (if lse) and P = exp(s - lse), 0 where masked, written in
// place as TP with the same byte pitch. In-place safety: the lane loop runs in order of j
// and a TP store of columns [j0, j0+32) overwrites bytes of floats below j0 + 32, all read
// already (the __syncwarp orders this iteration's loads before its stores).
template <typename TP>
__global__ void __launch_bounds__(SM_THREADS)
attn_softmax_fwd_kernel(float *sc, int64_t rows, int64_t ld_s, float *lse, AttnShape a) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int64_t r0 = (int64_t)blockIdx.x * SM_ROWS; r0 < rows; r0 += (int64_t)gridDim.x * SM_ROWS) {
        const int64_t r = r0 + warp;
        if (r >= rows) continue; // warp-uniform
        const int i = (int)(r % a.seq);
        const int kend = a.causal ? i + 1 : a.seq; // keys row i sees
        float *srow = sc + r * ld_s;
        // Per-lane online max and sum over j = lane, lane+32, ..., then combined.
        float m = -INFINITY, l = 0.0f;
        for (int j = lane; j < kend; j += 32) {
            const float v = srow[j];
            if (v > m) {
                l = l * __expf(m - v) + 1.0f; // m = -inf at first: exp(-inf) = 0
                m = v;
            } else {
                l += __expf(v - m);
            }
        }
        const float mx = warp_max(m); // finite: kend >= 1
        const float sum = warp_sum(l * __expf(m - mx)); // lanes without keys: 0 * 0
        const float row_lse = mx + logf(sum);
        if (lse && lane == 0) lse[r] = row_lse;
        TP *prow = reinterpret_cast<TP *>(srow);
        for (int j0 = 0; j0 < a.seq; j0 += 32) {
            const int j = j0 + lane;
            const float p = j < kend ? __expf(srow[j] - row_lse) : 0.0f;
            __syncwarp();
            if (j < a.seq) prow[j] = from_f<TP>(p);
        }
    }
}

// Backward rows: p = exp(s - lse) (0 where masked), Delta_r = sum_j p dP (lane partials in
// order of j, then a butterfly: fixed order) into delta[r], then P in place of sc and
// dS = p (dP - Delta) in place of dp, both as TP (same in-place argument as above).
template <typename TP>
__global__ void __launch_bounds__(SM_THREADS)
attn_softmax_bwd_kernel(float *sc, float *dp, int64_t rows, int64_t ld_s, const float *lse, float *delta, AttnShape a) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int64_t r0 = (int64_t)blockIdx.x * SM_ROWS; r0 < rows; r0 += (int64_t)gridDim.x * SM_ROWS) {
        const int64_t r = r0 + warp;
        if (r >= rows) continue; // warp-uniform
        const int i = (int)(r % a.seq);
        const int kend = a.causal ? i + 1 : a.seq;
        float *srow = sc + r * ld_s, *drow = dp + r * ld_s;
        const float row_lse = lse[r];
        float part = 0.0f;
        for (int j = lane; j < kend; j += 32) part += __expf(srow[j] - row_lse) * drow[j];
        const float row_delta = warp_sum(part);
        if (lane == 0) delta[r] = row_delta;
        TP *prow = reinterpret_cast<TP *>(srow), *dsrow = reinterpret_cast<TP *>(drow);
        for (int j0 = 0; j0 < a.seq; j0 += 32) {
            const int j = j0 + lane;
            float p = 0.0f, ds = 0.0f;
            if (j < kend) {
                p = __expf(srow[j] - row_lse);
                ds = p * (drow[j] - row_delta);
            }
            __syncwarp();
            if (j < a.seq) {
                prow[j] = from_f<TP>(p);
                dsrow[j] = from_f<TP>(ds);
            }
        }
    }
}

// Byte offsets of a chunk's buffers in the workspace (see the header comment).
struct AttnWs {
    int64_t ld_s;           // pitch (floats) of the score rows
    size_t head_bytes;      // one [G,S,Dh] buffer in the operand dtype
    size_t f32_bytes;       // one [G,S,Dh] F32 buffer
    size_t qkv, dout, sc, dp, grad; // offsets: Qh (Kh, Vh follow head_bytes apart), dOh, Sc, dP, Oh or dQh (dKh, dVh follow)
    size_t bytes;           // total
};

AttnWs attn_ws_layout(int64_t items, const AttnShape &a, int e, int backward) {
    AttnWs w;
    const int64_t g = items * a.heads;
    w.ld_s = (a.seq + 7) / 8 * 8;
    w.head_bytes = cuda_align_up((size_t)(g * a.seq * a.hd) * (size_t)e, 256);
    w.f32_bytes = cuda_align_up((size_t)(g * a.seq * a.hd) * 4, 256);
    const size_t sc_bytes = cuda_align_up((size_t)(g * a.seq * w.ld_s) * 4, 256);
    w.qkv = 0;
    w.dout = 3 * w.head_bytes;
    w.sc = w.dout + (backward ? w.head_bytes : 0);
    w.dp = w.sc + sc_bytes;
    w.grad = w.dp + (backward ? sc_bytes : 0);
    w.bytes = w.grad + (backward ? 3 : 1) * w.f32_bytes;
    return w;
}

// Items per chunk for the gemm path, 0 where it cannot serve (then the tiled path does):
// DFER_ATTENTION=tiled, Dh not a multiple of 8, or one item's buffers above the workspace cap
// (the flash path hands what it cannot take to the gemm path). The batch goes in
// equal chunks (the last may be smaller): bytes(c) <= c * bytes(1) (alignment padding).
int64_t attn_gemm_chunk(const CudaCtx *cx, const AttnShape &a, int64_t batch, int e, int backward) {
    if (cx->attn_path == CUDA_ATTN_TILED || a.hd % 8 != 0) return 0;
    const size_t cap = cx->attn_ws_cap ? cx->attn_ws_cap : CUDA_ATTN_WORKSPACE_CAP;
    const size_t one = attn_ws_layout(1, a, e, backward).bytes;
    if (one > cap) return 0;
    int64_t chunk = (int64_t)(cap / one);
    if (chunk >= batch) return batch;
    const int64_t nchunks = (batch + chunk - 1) / chunk;
    return (batch + nchunks - 1) / nchunks;
}

// Matrix i of a [G, rows, ld] buffer at p: a CudaMat for cuda_gemm_strided_batched.
CudaMat heads_mat(const void *p, int bf16, int64_t rows, int64_t ld) {
    CudaMat m;
    m.p = p;
    m.bf16 = bf16;
    m.ld = ld;
    m.stride = rows * ld;
    return m;
}

unsigned move_grid(int64_t rows) { return cuda_grid(rows, 1); } // a block per row, grid-stride beyond the cap

void attn_gather(CudaCtx *cx, void *dst, int dst_bf16, size_t part_bytes, const void *src, int src_bf16, int parts,
                 int64_t rows, const AttnShape &a) {
    const int64_t part_stride = (int64_t)part_bytes / (dst_bf16 ? 2 : 4);
    const int vec = cuda_aligned16(src);
    FT_DISPATCH(src_bf16, TI, FT_DISPATCH(dst_bf16, TO, {
        heads_gather_kernel<TI, TO><<<move_grid(rows), MOVE_THREADS, 0, cx->stream>>>(
            (TO *)dst, part_stride, (const TI *)src, parts, rows, vec, a);
    }));
    CUDA_CHECK_LAUNCH();
}

void attn_scatter(CudaCtx *cx, void *dst, int dst_bf16, const float *src, size_t part_bytes, int parts, int64_t rows,
                  const AttnShape &a) {
    const int64_t part_stride = (int64_t)part_bytes / 4;
    const int vec = cuda_aligned16(dst);
    FT_DISPATCH(dst_bf16, TO, {
        heads_scatter_kernel<TO><<<move_grid(rows), MOVE_THREADS, 0, cx->stream>>>((TO *)dst, src, part_stride, parts,
                                                                                   rows, vec, a);
    });
    CUDA_CHECK_LAUNCH();
}

void attn_fwd_gemm(CudaCtx *cx, T out, int ob, float *lse, T qkv, int qb, const AttnShape &a, int64_t batch,
                   int64_t chunk) {
    const char *op = "attention";
    const int e = qb ? 2 : 4;
    const AttnWs w = attn_ws_layout(chunk, a, e, 0);
    char *ws = (char *)cuda_attn_workspace(cx, w.bytes);
    const int64_t S = a.seq, hd = a.hd, ld_p = qb ? 2 * w.ld_s : w.ld_s; // P's pitch in its own elements
    char *qh = ws + w.qkv, *kh = qh + w.head_bytes, *vh = kh + w.head_bytes;
    float *sc = (float *)(ws + w.sc), *oh = (float *)(ws + w.grad);
    for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
        const int64_t items = chunk < batch - b0 ? chunk : batch - b0, g = items * a.heads, rows = items * S;
        const char *src = (const char *)qkv->data + (size_t)(b0 * S * 3 * a.width) * (qb ? 2 : 4);
        attn_gather(cx, qh, qb, w.head_bytes, src, qb, 3, rows, a);
        // Sc[g] = scale * Qh[g] Kh[g]^T
        cuda_gemm_strided_batched(cx, op, heads_mat(sc, 0, S, w.ld_s), heads_mat(qh, qb, S, hd), 0,
                                  heads_mat(kh, qb, S, hd), 1, S, S, hd, g, a.scale, 0.0f);
        FT_DISPATCH(qb, TP, {
            attn_softmax_fwd_kernel<TP><<<cuda_grid(g * S, SM_ROWS), SM_THREADS, 0, cx->stream>>>(
                sc, g * S, w.ld_s, lse ? lse + b0 * a.heads * S : NULL, a);
        });
        CUDA_CHECK_LAUNCH();
        // Oh[g] = P[g] Vh[g]
        cuda_gemm_strided_batched(cx, op, heads_mat(oh, 0, S, hd), heads_mat(sc, qb, S, ld_p), 0,
                                  heads_mat(vh, qb, S, hd), 0, S, hd, S, g, 1.0f, 0.0f);
        char *dst = (char *)out->data + (size_t)(b0 * S * a.width) * (ob ? 2 : 4);
        attn_scatter(cx, dst, ob, oh, w.f32_bytes, 1, rows, a);
    }
}

void attn_bwd_gemm(CudaCtx *cx, T dqkv, int gb, T dout, int ob, T qkv, int qb, float *lse, float *delta,
                   const AttnShape &a, int64_t batch, int64_t chunk, int bf) {
    const char *op = "attention_backward";
    const int e = bf ? 2 : 4;
    const AttnWs w = attn_ws_layout(chunk, a, e, 1);
    char *ws = (char *)cuda_attn_workspace(cx, w.bytes);
    const int64_t S = a.seq, hd = a.hd, ld_p = bf ? 2 * w.ld_s : w.ld_s; // P's and dS's pitch
    char *qh = ws + w.qkv, *kh = qh + w.head_bytes, *vh = kh + w.head_bytes, *doh = ws + w.dout;
    float *sc = (float *)(ws + w.sc), *dp = (float *)(ws + w.dp);
    float *dqh = (float *)(ws + w.grad), *dkh = (float *)(ws + w.grad + w.f32_bytes),
          *dvh = (float *)(ws + w.grad + 2 * w.f32_bytes);
    for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
        const int64_t items = chunk < batch - b0 ? chunk : batch - b0, g = items * a.heads, rows = items * S;
        attn_gather(cx, qh, bf, w.head_bytes, (const char *)qkv->data + (size_t)(b0 * S * 3 * a.width) * (qb ? 2 : 4),
                    qb, 3, rows, a);
        attn_gather(cx, doh, bf, w.head_bytes, (const char *)dout->data + (size_t)(b0 * S * a.width) * (ob ? 2 : 4),
                    ob, 1, rows, a);
        // Sc[g] = scale * Qh[g] Kh[g]^T;  dP[g] = dOh[g] Vh[g]^T
        cuda_gemm_strided_batched(cx, op, heads_mat(sc, 0, S, w.ld_s), heads_mat(qh, bf, S, hd), 0,
                                  heads_mat(kh, bf, S, hd), 1, S, S, hd, g, a.scale, 0.0f);
        cuda_gemm_strided_batched(cx, op, heads_mat(dp, 0, S, w.ld_s), heads_mat(doh, bf, S, hd), 0,
                                  heads_mat(vh, bf, S, hd), 1, S, S, hd, g, 1.0f, 0.0f);
        FT_DISPATCH(bf, TP, {
            attn_softmax_bwd_kernel<TP><<<cuda_grid(g * S, SM_ROWS), SM_THREADS, 0, cx->stream>>>(
                sc, dp, g * S, w.ld_s, lse + b0 * a.heads * S, delta + b0 * a.heads * S, a);
        });
        CUDA_CHECK_LAUNCH();
        // dVh[g] = P[g]^T dOh[g];  dQh[g] = scale * dS[g] Kh[g];  dKh[g] = scale * dS[g]^T Qh[g]
        cuda_gemm_strided_batched(cx, op, heads_mat(dvh, 0, S, hd), heads_mat(sc, bf, S, ld_p), 1,
                                  heads_mat(doh, bf, S, hd), 0, S, hd, S, g, 1.0f, 0.0f);
        cuda_gemm_strided_batched(cx, op, heads_mat(dqh, 0, S, hd), heads_mat(dp, bf, S, ld_p), 0,
                                  heads_mat(kh, bf, S, hd), 0, S, hd, S, g, a.scale, 0.0f);
        cuda_gemm_strided_batched(cx, op, heads_mat(dkh, 0, S, hd), heads_mat(dp, bf, S, ld_p), 1,
                                  heads_mat(qh, bf, S, hd), 0, S, hd, S, g, a.scale, 0.0f);
        char *dst = (char *)dqkv->data + (size_t)(b0 * S * 3 * a.width) * (gb ? 2 : 4);
        attn_scatter(cx, dst, gb, dqh, w.f32_bytes, 3, rows, a);
    }
}

} // namespace

// The shape fields the gemm path's planning reads (seq, heads, head size, width).
static AttnShape plan_shape(int64_t seq, int heads, int hd) {
    AttnShape a;
    memset(&a, 0, sizeof a);
    a.seq = (int)seq;
    a.heads = heads;
    a.hd = hd;
    a.width = (int64_t)heads * hd;
    return a;
}

size_t cuda_attention_gemm_bytes(int64_t items, int64_t seq, int heads, int hd, int operand_bytes, int backward) {
    return attn_ws_layout(items, plan_shape(seq, heads, hd), operand_bytes, backward).bytes;
}

int64_t cuda_attention_gemm_chunk(const CudaCtx *cx, int64_t batch, int64_t seq, int heads, int hd, int operand_bytes,
                                  int backward) {
    return attn_gemm_chunk(cx, plan_shape(seq, heads, hd), batch, operand_bytes, backward);
}

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
    const int64_t chunk = attn_gemm_chunk(cx, a, batch, qb ? 2 : 4, 0);
    if (chunk > 0) {
        attn_fwd_gemm(cx, out, ob, lse, qkv, qb, a, batch, chunk);
        return;
    }
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
    // gemm path: BF16 GEMMs when qkv and dout are both BF16, else F32 (BF16 widened exactly).
    const int bf = qb && ob;
    if (cx->attn_path == CUDA_ATTN_FLASH && bf &&
        cuda_attention_flash_backward(cx, dqkv->data, gb, dout->data, qkv->data, lse, delta, batch, a.seq, heads, a.hd,
                                      causal))
        return;
    const int64_t chunk = attn_gemm_chunk(cx, a, batch, bf ? 2 : 4, 1);
    if (chunk > 0) {
        attn_bwd_gemm(cx, dqkv, gb, dout, ob, qkv, qb, lse, delta, a, batch, chunk, bf);
        return;
    }
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
