// The gemm path of attention (attention.cu: the contract, the dispatch and the other
// paths): tensor cores through cuBLASLt strided-batched GEMMs, the default path.
//
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
#include "attention_shape.cuh"
#include "cuda_common.cuh"

namespace {

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
    // offsets: Qh (Kh, Vh follow head_bytes apart), dOh, Sc, dP, Oh or dQh (dKh, dVh follow)
    size_t qkv, dout, sc, dp, grad;
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

// Items per chunk, 0 where the gemm path cannot serve (then the tiled path does):
// DFER_ATTENTION=tiled, Dh not a multiple of 8, or one item's buffers above the workspace cap. The batch goes in
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

void attn_fwd_gemm(CudaCtx *cx, void *out, int ob, float *lse, const void *qkv, int qb, const AttnShape &a,
                   int64_t batch, int64_t chunk) {
    const char *op = "attention";
    const int e = qb ? 2 : 4;
    const AttnWs w = attn_ws_layout(chunk, a, e, 0);
    char *ws = (char *)cuda_attn_workspace(cx, w.bytes);
    const int64_t S = a.seq, hd = a.hd, ld_p = qb ? 2 * w.ld_s : w.ld_s; // P's pitch in its own elements
    char *qh = ws + w.qkv, *kh = qh + w.head_bytes, *vh = kh + w.head_bytes;
    float *sc = (float *)(ws + w.sc), *oh = (float *)(ws + w.grad);
    for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
        const int64_t items = chunk < batch - b0 ? chunk : batch - b0, g = items * a.heads, rows = items * S;
        const char *src = (const char *)qkv + (size_t)(b0 * S * 3 * a.width) * (qb ? 2 : 4);
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
        char *dst = (char *)out + (size_t)(b0 * S * a.width) * (ob ? 2 : 4);
        attn_scatter(cx, dst, ob, oh, w.f32_bytes, 1, rows, a);
    }
}

void attn_bwd_gemm(CudaCtx *cx, void *dqkv, int gb, const void *dout, int ob, const void *qkv, int qb, const float *lse,
                   float *delta, const AttnShape &a, int64_t batch, int64_t chunk, int bf) {
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
        attn_gather(cx, qh, bf, w.head_bytes, (const char *)qkv + (size_t)(b0 * S * 3 * a.width) * (qb ? 2 : 4),
                    qb, 3, rows, a);
        attn_gather(cx, doh, bf, w.head_bytes, (const char *)dout + (size_t)(b0 * S * a.width) * (ob ? 2 : 4),
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
        char *dst = (char *)dqkv + (size_t)(b0 * S * 3 * a.width) * (gb ? 2 : 4);
        attn_scatter(cx, dst, gb, dqh, w.f32_bytes, 3, rows, a);
    }
}

} // namespace

size_t cuda_attention_gemm_bytes(int64_t items, int64_t seq, int heads, int hd, int operand_bytes, int backward) {
    return attn_ws_layout(items, attn_shape_of(seq, heads, hd, 0), operand_bytes, backward).bytes;
}

int64_t cuda_attention_gemm_chunk(const CudaCtx *cx, int64_t batch, int64_t seq, int heads, int hd, int operand_bytes,
                                  int backward) {
    return attn_gemm_chunk(cx, attn_shape_of(seq, heads, hd, 0), batch, operand_bytes, backward);
}

int cuda_attention_gemm(CudaCtx *cx, void *out, int out_bf16, float *lse, const void *qkv, int qkv_bf16,
                        int64_t batch, int seq, int heads, int hd, int causal) {
    const AttnShape a = attn_shape_of(seq, heads, hd, causal);
    const int64_t chunk = attn_gemm_chunk(cx, a, batch, qkv_bf16 ? 2 : 4, 0);
    if (chunk <= 0) return 0;
    attn_fwd_gemm(cx, out, out_bf16, lse, qkv, qkv_bf16, a, batch, chunk);
    return 1;
}

int cuda_attention_gemm_backward(CudaCtx *cx, void *dqkv, int dqkv_bf16, const void *dout, int dout_bf16,
                                 const void *qkv, int qkv_bf16, const float *lse, float *delta, int64_t batch, int seq,
                                 int heads, int hd, int causal) {
    const AttnShape a = attn_shape_of(seq, heads, hd, causal);
    const int bf = qkv_bf16 && dout_bf16; // BF16 GEMMs when qkv and dout are both BF16, else F32 (widened exactly)
    const int64_t chunk = attn_gemm_chunk(cx, a, batch, bf ? 2 : 4, 1);
    if (chunk <= 0) return 0;
    attn_bwd_gemm(cx, dqkv, dqkv_bf16, dout, dout_bf16, qkv, qkv_bf16, lse, delta, a, batch, chunk, bf);
    return 1;
}
