// The flash path of op_attention and its backward (DFER_ATTENTION=flash; attention.cu has the
// contract and the other two paths): FlashAttention-2 on the tensor cores through warp-level
// mma.sync.m16n8k16 (BF16 operands, F32 accumulators), for head size 64, which every CLIP
// dfer builds has (ViT-B/32, B/16, L/14 and their text towers: width / heads = 64). Scores,
// probabilities and their gradients live in registers: no [S,S] matrix in memory, and no
// gather into per-head buffers (q, k, v are read from qkv's rows, out and dqkv written into
// theirs). It serves where qkv (and, backward, dout) are BF16, Dh = 64, and qkv's rows are
// 16-byte aligned; elsewhere the gemm path (or the tiled one) takes the call.
//
// Fragments and staged tiles: mma_tiles.cuh (the C fragments of one product are, packed, the A
// fragments of the next: probabilities go from S = Q K^T into P V without leaving the registers).
//
// Forward: a block of NW warps (NW = 1 for S <= 16, up to 4) per (tile of 16*NW query rows,
// head, item); each warp owns 16 query rows, holds their q as A fragments, and sweeps the
// keys in tiles of 64 staged in shared memory (K as is, V transposed): S = scale * Q K^T,
// the online softmax (running max m and sum l per row, the output rescaled by exp(m_old -
// m_new)), P rounded to BF16 (as the gemm path and FlashAttention do), O += P V. Then O / l,
// rounded once into out, and lse = m + log l into saved[0] [item, head, row].
//
// Backward (P recomputed from q, k and lse; nothing else kept from the forward), two kernels
// as the tiled path, without atomics:
//  dq: per query tile like the forward; sweep 1 over the key tiles gives Delta_i = sum_j
//      p_ij dP_ij (dP = dO V^T), written to saved[1]; sweep 2 gives dq_i = scale * sum_j
//      p_ij (dP_ij - Delta_i) k_j (dS rounded to BF16 for the product, K staged transposed).
//  dk, dv: a block per tile of 16*NW keys, each warp 16 keys held as A fragments (k and v);
//      the query tiles of 64 stream through shared memory (q and dout as is and transposed,
//      lse and Delta alongside): S^T = scale * K Q^T, P^T, dP^T = V dO^T, dS^T = P^T o (dP^T -
//      Delta), dv += P^T dO, dk += scale * dS^T Q.
// Every element of dqkv is written once (q part by the first kernel, k and v by the second).
// Fixed reduction orders: bitwise repeatable run to run.
#include "cuda_common.cuh"
#include "mma_tiles.cuh"

namespace {

constexpr int FD = MMA_T;      // head size
constexpr int FT = MMA_T;      // keys (forward, dq) or queries (dk/dv) per staged tile
constexpr int TILE = MMA_TILE; // elements of one staged tile
constexpr int MAX_WARPS = 4;

struct FlashShape {
    int seq, heads, causal;
    int64_t width; // H * 64
    float scale;
};

// Sum (or max) over the 4 lanes of a group: the lanes that share a row of a C fragment.
__device__ __forceinline__ float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}
__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

// Writes a warp's 16 x 64 F32 block (C fragments; rows g times mul_a, rows g+8 times mul_b) into
// rows row_base + r0.. of a row-major matrix (F32 or BF16; column offset col0, row stride rs
// elements), rows r at or past `rows` skipped.
__device__ __forceinline__ void store_c_rows(void *dst, int bf, int64_t row_base, int64_t rs, int64_t col0, int r0,
                                             int rows, const float c[8][4], float mul_a, float mul_b, int g, int t) {
    const int ra = r0 + g, rb = ra + 8;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        const int64_t col = col0 + 8 * j + 2 * t, ia = (row_base + ra) * rs + col, ib = (row_base + rb) * rs + col;
        if (bf) {
            if (ra < rows) *reinterpret_cast<uint32_t *>((bf16 *)dst + ia) = pack2(c[j][0] * mul_a, c[j][1] * mul_a);
            if (rb < rows) *reinterpret_cast<uint32_t *>((bf16 *)dst + ib) = pack2(c[j][2] * mul_b, c[j][3] * mul_b);
        } else {
            if (ra < rows) {
                ((float *)dst)[ia] = c[j][0] * mul_a;
                ((float *)dst)[ia + 1] = c[j][1] * mul_a;
            }
            if (rb < rows) {
                ((float *)dst)[ib] = c[j][2] * mul_b;
                ((float *)dst)[ib + 1] = c[j][3] * mul_b;
            }
        }
    }
}

// Where a thread of a flash kernel stands: warps of the block (nw), its warp and its place in the fragments (g, t),
// the first row of the block's tile and of the warp's 16 rows, the two rows its fragments hold (row0 + g and + 8),
// the head (blockIdx.y), the batch item (blockIdx.z) and qkv's row stride (3 W). Rows are queries or keys.
struct FlashLane {
    int nw, warp, g, t, block0, row0, row_a, row_b, h;
    int64_t item, rs;
};
__device__ __forceinline__ FlashLane flash_lane(const FlashShape &a) {
    FlashLane p;
    p.nw = blockDim.x / 32;
    p.warp = threadIdx.x / 32;
    p.g = (threadIdx.x % 32) >> 2;
    p.t = threadIdx.x & 3;
    p.block0 = blockIdx.x * 16 * p.nw;
    p.row0 = p.block0 + 16 * p.warp;
    p.row_a = p.row0 + p.g;
    p.row_b = p.row_a + 8;
    p.h = blockIdx.y;
    p.item = blockIdx.z;
    p.rs = 3 * a.width;
    return p;
}

// ---- forward ------------------------------------------------------------------------------------

__global__ void __launch_bounds__(MAX_WARPS * 32)
flash_fwd_kernel(void *out, int out_bf16, float *lse, const bf16 *qkv, FlashShape a) {
    extern __shared__ float smem[];
    bf16 *Ks = reinterpret_cast<bf16 *>(smem); // [key][dim]
    bf16 *Vt = Ks + TILE;                      // [dim][key]
    const FlashLane p = flash_lane(a);
    const int nw = p.nw, g = p.g, t = p.t, S = a.seq, h = p.h;
    const int block_r0 = p.block0, r0 = p.row0, ra = p.row_a, rb = p.row_b;
    const int64_t item = p.item, rs = p.rs;
    const bf16 *base = qkv + item * S * rs;
    uint32_t qf[4][4];
    load_a_rows(qf, base, rs, (int64_t)h * FD, r0, S, g, t);
    float o[8][4];
    zero8x4(o);
    float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.0f, l_b = 0.0f;
    // causal: keys past the block's last row are masked for all of its rows
    const int key_end = a.causal ? min(S, block_r0 + 16 * nw) : S;
    const int warp_live = r0 < S;
    for (int k0 = 0; k0 < key_end; k0 += FT) {
        __syncthreads(); // the previous tile's readers are done
        stage_tile(Ks, NULL, base, rs, a.width + (int64_t)h * FD, k0, S);
        stage_tile(NULL, Vt, base, rs, 2 * a.width + (int64_t)h * FD, k0, S);
        __syncthreads();
        if (!warp_live || (a.causal && k0 > r0 + 15)) continue; // every key of the tile masked for this warp
        float s[8][4];
        zero8x4(s);
        mma_row_tile(s, qf, Ks, g, t);
        float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int key = k0 + 8 * j + 2 * t + e;
                const bool out_a = key >= S || (a.causal && key > ra), out_b = key >= S || (a.causal && key > rb);
                s[j][e] = out_a ? -INFINITY : s[j][e] * a.scale;
                s[j][2 + e] = out_b ? -INFINITY : s[j][2 + e] * a.scale;
                mx_a = fmaxf(mx_a, s[j][e]);
                mx_b = fmaxf(mx_b, s[j][2 + e]);
            }
        const float mn_a = fmaxf(m_a, quad_max(mx_a)), mn_b = fmaxf(m_b, quad_max(mx_b));
        // a row with every key so far masked keeps m = -inf: exponents relative to 0 give 0, not NaN
        const float base_a = mn_a == -INFINITY ? 0.0f : mn_a, base_b = mn_b == -INFINITY ? 0.0f : mn_b;
        const float alpha_a = __expf(m_a - base_a), alpha_b = __expf(m_b - base_b);
        m_a = mn_a;
        m_b = mn_b;
        l_a *= alpha_a;
        l_b *= alpha_b;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            o[j][0] *= alpha_a;
            o[j][1] *= alpha_a;
            o[j][2] *= alpha_b;
            o[j][3] *= alpha_b;
#pragma unroll
            for (int e = 0; e < 2; e++) {
                s[j][e] = __expf(s[j][e] - base_a);
                s[j][2 + e] = __expf(s[j][2 + e] - base_b);
                l_a += s[j][e];
                l_b += s[j][2 + e];
            }
        }
        uint32_t pf[4][4];
        c_to_a(pf, s);
        mma_row_tile(o, pf, Vt, g, t);
    }
    if (!warp_live) return;
    l_a = quad_sum(l_a);
    l_b = quad_sum(l_b);
    const float inv_a = l_a > 0.0f ? 1.0f / l_a : 0.0f, inv_b = l_b > 0.0f ? 1.0f / l_b : 0.0f;
    store_c_rows(out, out_bf16, item * S, a.width, (int64_t)h * FD, r0, S, o, inv_a, inv_b, g, t);
    if (lse && t == 0) {
        float *lse_row = lse + (item * a.heads + h) * S;
        if (ra < S) lse_row[ra] = m_a + logf(l_a);
        if (rb < S) lse_row[rb] = m_b + logf(l_b);
    }
}

// ---- backward -----------------------------------------------------------------------------------

// The probabilities and dP of one staged key tile (Ks, Vs [key][dim]) for a warp's 16 query rows
// (q and dO as A fragments): s <- p = exp(scale q.k - lse) (0 where masked), dp <- dO V^T.
__device__ __forceinline__ void tile_p_dp(float s[8][4], float dp[8][4], const uint32_t qf[4][4],
                                          const uint32_t dof[4][4], const bf16 *Ks, const bf16 *Vs, int k0, int ra,
                                          int rb, float lse_a, float lse_b, const FlashShape &a, int g, int t) {
    zero8x4(s);
    zero8x4(dp);
    mma_row_tile(s, qf, Ks, g, t);
    mma_row_tile(dp, dof, Vs, g, t);
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const int key = k0 + 8 * j + 2 * t + e;
            const bool out_a = key >= a.seq || (a.causal && key > ra), out_b = key >= a.seq || (a.causal && key > rb);
            s[j][e] = out_a ? 0.0f : __expf(s[j][e] * a.scale - lse_a);
            s[j][2 + e] = out_b ? 0.0f : __expf(s[j][2 + e] * a.scale - lse_b);
        }
}

// dq and Delta: a block per query tile, as the forward.
__global__ void __launch_bounds__(MAX_WARPS * 32)
flash_bwd_dq_kernel(void *dqkv, int dqkv_bf16, float *delta, const float *lse, const bf16 *dout, const bf16 *qkv,
                    FlashShape a) {
    extern __shared__ float smem[];
    bf16 *Ks = reinterpret_cast<bf16 *>(smem); // [key][dim]
    bf16 *Kt = Ks + TILE;                      // [dim][key]
    bf16 *Vs = Kt + TILE;                      // [key][dim]
    const FlashLane p = flash_lane(a);
    const int nw = p.nw, g = p.g, t = p.t, S = a.seq, h = p.h;
    const int block_r0 = p.block0, r0 = p.row0, ra = p.row_a, rb = p.row_b;
    const int64_t item = p.item, rs = p.rs;
    const bf16 *base = qkv + item * S * rs;
    uint32_t qf[4][4], dof[4][4];
    load_a_rows(qf, base, rs, (int64_t)h * FD, r0, S, g, t);
    load_a_rows(dof, dout + item * S * a.width, a.width, (int64_t)h * FD, r0, S, g, t);
    const float *lse_row = lse + (item * a.heads + h) * S;
    const float lse_a = ra < S ? lse_row[ra] : 0.0f, lse_b = rb < S ? lse_row[rb] : 0.0f;
    const int key_end = a.causal ? min(S, block_r0 + 16 * nw) : S;
    const int warp_live = r0 < S;
    float s[8][4], dp[8][4], dq[8][4];
    zero8x4(dq);
    float d_a = 0.0f, d_b = 0.0f;
    // sweep 0: Delta_i = sum_j p_ij dP_ij; sweep 1 (K staged transposed too): dq_i = scale * sum_j p_ij (dP_ij -
    // Delta_i) k_j
    for (int sweep = 0; sweep < 2; sweep++) {
        for (int k0 = 0; k0 < key_end; k0 += FT) {
            __syncthreads();
            stage_tile(Ks, sweep ? Kt : NULL, base, rs, a.width + (int64_t)h * FD, k0, S);
            stage_tile(Vs, NULL, base, rs, 2 * a.width + (int64_t)h * FD, k0, S);
            __syncthreads();
            if (!warp_live || (a.causal && k0 > r0 + 15)) continue;
            tile_p_dp(s, dp, qf, dof, Ks, Vs, k0, ra, rb, lse_a, lse_b, a, g, t);
            if (sweep == 0) {
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    d_a += s[j][0] * dp[j][0] + s[j][1] * dp[j][1];
                    d_b += s[j][2] * dp[j][2] + s[j][3] * dp[j][3];
                }
                continue;
            }
#pragma unroll
            for (int j = 0; j < 8; j++) {
                dp[j][0] = s[j][0] * (dp[j][0] - d_a);
                dp[j][1] = s[j][1] * (dp[j][1] - d_a);
                dp[j][2] = s[j][2] * (dp[j][2] - d_b);
                dp[j][3] = s[j][3] * (dp[j][3] - d_b);
            }
            uint32_t dsf[4][4];
            c_to_a(dsf, dp);
            mma_row_tile(dq, dsf, Kt, g, t);
        }
        if (sweep == 0 && warp_live) {
            d_a = quad_sum(d_a);
            d_b = quad_sum(d_b);
            if (t == 0) {
                float *delta_row = delta + (item * a.heads + h) * S;
                if (ra < S) delta_row[ra] = d_a;
                if (rb < S) delta_row[rb] = d_b;
            }
        }
    }
    if (warp_live) store_c_rows(dqkv, dqkv_bf16, item * S, rs, (int64_t)h * FD, r0, S, dq, a.scale, a.scale, g, t);
}

// dk and dv: a block per tile of 16*NW keys; the queries stream through shared memory.
__global__ void __launch_bounds__(MAX_WARPS * 32)
flash_bwd_dkdv_kernel(void *dqkv, int dqkv_bf16, const float *lse, const float *delta, const bf16 *dout,
                      const bf16 *qkv, FlashShape a) {
    extern __shared__ float smem[];
    bf16 *Qs = reinterpret_cast<bf16 *>(smem); // [query][dim]
    bf16 *Qt = Qs + TILE;                      // [dim][query]
    bf16 *Ds = Qt + TILE;                      // dout [query][dim]
    bf16 *Dt = Ds + TILE;                      // dout [dim][query]
    float *lse_s = reinterpret_cast<float *>(Dt + TILE); // [FT]
    float *delta_s = lse_s + FT;                         // [FT]
    const FlashLane p = flash_lane(a);
    const int g = p.g, t = p.t, S = a.seq, h = p.h, block_c0 = p.block0, c0 = p.row0, ka = p.row_a, kb = p.row_b;
    const int64_t item = p.item, rs = p.rs;
    const bf16 *base = qkv + item * S * rs, *dbase = dout + item * S * a.width;
    const float *lse_row = lse + (item * a.heads + h) * S, *delta_row = delta + (item * a.heads + h) * S;
    uint32_t kf[4][4], vf[4][4];
    load_a_rows(kf, base, rs, a.width + (int64_t)h * FD, c0, S, g, t);
    load_a_rows(vf, base, rs, 2 * a.width + (int64_t)h * FD, c0, S, g, t);
    float dk[8][4], dv[8][4];
    zero8x4(dk);
    zero8x4(dv);
    const int warp_live = c0 < S;
    // causal: queries before the block's first key see none of its keys
    for (int q0 = a.causal ? block_c0 / FT * FT : 0; q0 < S; q0 += FT) {
        __syncthreads();
        stage_tile(Qs, Qt, base, rs, (int64_t)h * FD, q0, S);
        stage_tile(Ds, Dt, dbase, a.width, (int64_t)h * FD, q0, S);
        for (int i = threadIdx.x; i < FT; i += blockDim.x) {
            lse_s[i] = q0 + i < S ? lse_row[q0 + i] : 0.0f;
            delta_s[i] = q0 + i < S ? delta_row[q0 + i] : 0.0f;
        }
        __syncthreads();
        if (!warp_live || (a.causal && q0 + FT - 1 < c0)) continue;
        float st[8][4], dpt[8][4];
        zero8x4(st);
        zero8x4(dpt);
        mma_row_tile(st, kf, Qs, g, t);  // S^T = K Q^T (16 keys x 64 queries)
        mma_row_tile(dpt, vf, Ds, g, t); // dP^T = V dO^T
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int qi = 8 * j + 2 * t + e, q = q0 + qi;
                const bool out_a = q >= S || (a.causal && ka > q), out_b = q >= S || (a.causal && kb > q);
                const float pa = out_a ? 0.0f : __expf(st[j][e] * a.scale - lse_s[qi]);
                const float pb = out_b ? 0.0f : __expf(st[j][2 + e] * a.scale - lse_s[qi]);
                st[j][e] = pa;
                st[j][2 + e] = pb;
                dpt[j][e] = pa * (dpt[j][e] - delta_s[qi]);
                dpt[j][2 + e] = pb * (dpt[j][2 + e] - delta_s[qi]);
            }
        uint32_t f[4][4];
        c_to_a(f, st);
        mma_row_tile(dv, f, Dt, g, t); // dv += P^T dO
        c_to_a(f, dpt);
        mma_row_tile(dk, f, Qt, g, t); // dk += dS^T Q
    }
    if (!warp_live) return;
    store_c_rows(dqkv, dqkv_bf16, item * S, rs, a.width + (int64_t)h * FD, c0, S, dk, a.scale, a.scale, g, t);
    store_c_rows(dqkv, dqkv_bf16, item * S, rs, 2 * a.width + (int64_t)h * FD, c0, S, dv, 1.0f, 1.0f, g, t);
}

FlashShape flash_shape(int seq, int heads, int causal) {
    FlashShape a;
    a.seq = seq;
    a.heads = heads;
    a.causal = causal;
    a.width = (int64_t)heads * FD;
    a.scale = 1.0f / sqrtf((float)FD);
    return a;
}

// Warps per block: one per 16 rows, at most MAX_WARPS (a 16-frame temporal sequence takes one).
int flash_warps(int seq) { return min(MAX_WARPS, (seq + 15) / 16); }

int flash_takes(int hd, const void *qkv, const void *other16, const void *out4) {
    return hd == FD && cuda_aligned16(qkv) && (!other16 || cuda_aligned16(other16)) && ((uintptr_t)out4 & 3u) == 0;
}

} // namespace

int cuda_attention_flash(CudaCtx *cx, void *out, int out_bf16, float *lse, const void *qkv, int64_t batch, int seq,
                         int heads, int hd, int causal) {
    if (batch > 65535 || !flash_takes(hd, qkv, NULL, out)) return 0; /* sequences on gridDim.z: else the gemm path */
    const FlashShape a = flash_shape(seq, heads, causal);
    const int nw = flash_warps(seq);
    const dim3 grid((unsigned)((seq + 16 * nw - 1) / (16 * nw)), (unsigned)heads, (unsigned)batch);
    flash_fwd_kernel<<<grid, nw * 32, 2 * TILE * sizeof(bf16), cx->stream>>>(out, out_bf16, lse, (const bf16 *)qkv,
                                                                              a);
    CUDA_CHECK_LAUNCH();
    return 1;
}

int cuda_attention_flash_backward(CudaCtx *cx, void *dqkv, int dqkv_bf16, const void *dout, const void *qkv,
                                  const float *lse, float *delta, int64_t batch, int seq, int heads, int hd,
                                  int causal) {
    if (batch > 65535 || !flash_takes(hd, qkv, dout, dqkv)) return 0; /* as the forward */
    const FlashShape a = flash_shape(seq, heads, causal);
    const int nw = flash_warps(seq);
    const dim3 grid((unsigned)((seq + 16 * nw - 1) / (16 * nw)), (unsigned)heads, (unsigned)batch);
    flash_bwd_dq_kernel<<<grid, nw * 32, 3 * TILE * sizeof(bf16), cx->stream>>>(
        dqkv, dqkv_bf16, delta, lse, (const bf16 *)dout, (const bf16 *)qkv, a);
    CUDA_CHECK_LAUNCH();
    // reads the Delta the first kernel wrote (stream order)
    flash_bwd_dkdv_kernel<<<grid, nw * 32, 4 * TILE * sizeof(bf16) + 2 * FT * sizeof(float), cx->stream>>>(
        dqkv, dqkv_bf16, lse, delta, (const bf16 *)dout, (const bf16 *)qkv, a);
    CUDA_CHECK_LAUNCH();
    return 1;
}
