// op_adapter and its backward fused on the tensor cores, with DFER_ADAPTER=fused (ops.h has the
// contract; ops_adapter.c the composed form, the default, which also serves here where these kernels
// do not: F32 activations, a width that is not a multiple of 64, a bottleneck that is not a multiple
// of 8 or is over 256). Every CLIP adapter dfer builds fits: AIM's on ViT-B (768 -> 192) and ViT-L
// (1024 -> 256), the text adapters (512 -> 128), the tiny test CLIP's (128 -> 32). A bottleneck short
// of a multiple of 64 runs as the next one with zero weights past its end (hidden units of 0).
//
// Composed, an adapter is two GEMMs through F32 scratch (its trainable weights are F32, and
// cuBLASLt's bias epilogue takes only a bias of the output's dtype), an elementwise pass each for
// the rounding, the GELU, the scale, the skip and the residual, and for AIM's temporal adapter a
// permute: about 12 passes over an [N, X] tensor per adapter. Fused, x is read and out written
// once; the [N, R] hidden activation never leaves the registers.
//
// Forward (adapter_fwd_kernel): a block of 4 warps per 64 rows, each warp 16 rows. fc1: for each
// 64-column chunk of the bottleneck, the x rows' A fragments (read from global memory) times W1's
// tiles staged in shared memory, over the width in steps of 64; + b1, the GELU in fp32, rounded to
// BF16 and kept as A fragments (R/64 chunks of 16 registers). fc2: for each 64-column chunk of the
// width, the kept fragments times W2's R/64 tiles; the epilogue adds b2, scales, adds x (skip) and
// the residual (res, in out's rows) and writes out's row m(r) once.
//
// Backward (adapter_bwd_kernel): per warp's 16 rows and 64-column chunk of the bottleneck, fc1 is
// computed again (pre = x W1^T + b1) beside the hidden's gradient g = (scale * dout[m(r)]) W2 (dout
// rows scaled in fp32, rounded to BF16 as the product's operand), both over the width; then h =
// gelu(pre) goes to the op's scratch in out's rows (for fc2's weight gradient) and dh = g *
// gelu'(pre), rounded to BF16, to the scratch in x's rows (fc1's) and into A fragments; dx = dh W1
// (+ dout[m(r)] with skip, + dx with accumulate) over the width. The weight gradients are cuBLASLt GEMMs over the rows
// (fixed order: bitwise repeatable): dW2 += scale * dout^T h, dW1 += dh^T x, and the biases' deterministic column sums.
//
// The weights go in as BF16 copies made once per call (the product operands a BF16 GEMM would
// take), transposed where the backward needs them with k along a row (W2^T for g, W1^T for dx).
#include "cuda_common.cuh"
#include "mma_tiles.cuh"

namespace {

constexpr int AD_WARPS = 4;            // warps per block, 16 rows each
constexpr int AD_ROWS = 16 * AD_WARPS; // rows per block
constexpr int AD_MAX_CHUNKS = 4;       // bottleneck chunks of 64: R <= 256

struct AdapterDev {
    const bf16 *x;         // [rows, X]
    const bf16 *res;       // forward: [rows, X] in out's rows, or NULL
    bf16 *out;             // forward: [rows, X] in out's rows
    const bf16 *dout;      // backward: [rows, X] in out's rows
    bf16 *dx;              // backward: [rows, X], or NULL
    bf16 *h;               // backward: [rows, R] the GELU's output, in out's rows
    bf16 *dh;              // backward: [rows, R] the hidden's gradient, in x's rows
    const bf16 *w1, *w2;   // [R, X] fc1's weight; forward: [X, R] fc2's
    const bf16 *w2t, *w1t; // backward: [R, X] fc2's weight transposed, [X, R] fc1's
    const float *b1, *b2;  // [R]; forward: [X]
    int64_t rows;
    int width, bottleneck;
    float scale;
    int skip, accumulate;
    int64_t swap_p, swap_q; // 0: out's rows are x's; else [A, P, Q] -> [A, Q, P]
};

// The row of out that x's row r feeds (ops.h: op_adapter's m).
__device__ __forceinline__ int64_t out_row(const AdapterDev &a, int64_t r) {
    if (a.swap_p == 0) return r;
    const int64_t pq = a.swap_p * a.swap_q, grp = r / pq, w = r - grp * pq, p = w / a.swap_q, q = w - p * a.swap_q;
    return grp * pq + q * a.swap_p + p;
}

__device__ __forceinline__ float2 unpack2(uint32_t v) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&v));
}

// The A fragments of 16 rows x 64 columns (offset col0) whose rows g and g + 8 start at ra and rb
// (NULL: zeros), each pair multiplied by s in fp32 and rounded back to BF16 (s = 1: as stored).
__device__ __forceinline__ void load_a_scaled(uint32_t f[4][4], const bf16 *ra, const bf16 *rb, int64_t col0, float s,
                                              int t) {
#pragma unroll
    for (int c = 0; c < 4; c++) {
        const int64_t col = col0 + 16 * c + 2 * t;
        f[c][0] = ra ? ld32(ra + col) : 0u;
        f[c][1] = rb ? ld32(rb + col) : 0u;
        f[c][2] = ra ? ld32(ra + col + 8) : 0u;
        f[c][3] = rb ? ld32(rb + col + 8) : 0u;
        if (s != 1.0f)
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const float2 v = unpack2(f[c][u]);
                f[c][u] = pack2(v.x * s, v.y * s);
            }
    }
}

// Where a thread stands: its warp's rows (row_a = row g of the warp's 16, row_b = row g + 8; -1
// past the launch's rows), its place in the fragments (g, t) and the block's rows in range.
struct AdapterLane {
    int warp, g, t, block_rows;
    int64_t block0, row_a, row_b;
};
__device__ __forceinline__ AdapterLane adapter_lane(const AdapterDev &a) {
    AdapterLane p;
    p.warp = threadIdx.x / 32;
    p.g = (threadIdx.x % 32) >> 2;
    p.t = threadIdx.x & 3;
    p.block0 = (int64_t)blockIdx.x * AD_ROWS;
    const int64_t left = a.rows - p.block0;
    p.block_rows = left < AD_ROWS ? (int)left : AD_ROWS;
    p.row_a = p.block0 + 16 * p.warp + p.g;
    p.row_b = p.row_a + 8;
    if (p.row_a >= a.rows) p.row_a = -1;
    if (p.row_b >= a.rows) p.row_b = -1;
    return p;
}

// The 16 x 64 product acc = A (the warp's fragments of K = 64 * CHUNKS columns) times the
// transposes of CHUNKS staged tiles (rows n0.. of `weight` [n_rows, k_len], each tile 64 of k).
// The block stages the tiles together: every thread calls this.
template <int CHUNKS>
__device__ __forceinline__ void product_kept(float acc[8][4], const uint32_t af[][4][4], bf16 *tiles,
                                             const bf16 *weight, int64_t k_len, int n0, int n_rows, int g, int t) {
    __syncthreads(); // the tiles' previous readers are done
#pragma unroll
    for (int kc = 0; kc < CHUNKS; kc++) // k past k_len (a bottleneck short of 64 * CHUNKS) as zeros
        stage_tile(tiles + kc * MMA_TILE, NULL, weight, k_len, kc * MMA_T, n0, n_rows, (int)k_len - kc * MMA_T);
    __syncthreads();
    zero8x4(acc);
#pragma unroll
    for (int kc = 0; kc < CHUNKS; kc++) mma_row_tile(acc, af[kc], tiles + kc * MMA_TILE, g, t);
}

template <int CHUNKS>
__global__ void __launch_bounds__(AD_WARPS * 32) adapter_fwd_kernel(AdapterDev a) {
    extern __shared__ float smem[];
    bf16 *tiles = reinterpret_cast<bf16 *>(smem); // CHUNKS staged tiles
    const AdapterLane p = adapter_lane(a);
    const int X = a.width, R = a.bottleneck;
    const bf16 *xb = a.x + p.block0 * X;
    // fc1, bias and GELU, kept as the A fragments of fc2 (16 rows x 64 columns per chunk)
    uint32_t hf[CHUNKS][4][4];
#pragma unroll
    for (int rc = 0; rc < CHUNKS; rc++) {
        float acc[8][4];
        zero8x4(acc);
        for (int k0 = 0; k0 < X; k0 += MMA_T) {
            __syncthreads();
            stage_tile(tiles, NULL, a.w1, X, k0, rc * MMA_T, R);
            __syncthreads();
            uint32_t xf[4][4];
            load_a_rows(xf, xb, X, k0, 16 * p.warp, p.block_rows, p.g, p.t);
            mma_row_tile(acc, xf, tiles, p.g, p.t);
        }
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int col = rc * MMA_T + 8 * j + 2 * p.t;
            const bool live = col < R; // past the bottleneck: pre = 0, a GELU output of 0
            const float b0 = live ? a.b1[col] : 0.0f, b1 = live ? a.b1[col + 1] : 0.0f;
            acc[j][0] = act_value<ACT_GELU_ERF>(acc[j][0] + b0);
            acc[j][1] = act_value<ACT_GELU_ERF>(acc[j][1] + b1);
            acc[j][2] = act_value<ACT_GELU_ERF>(acc[j][2] + b0);
            acc[j][3] = act_value<ACT_GELU_ERF>(acc[j][3] + b1);
        }
        c_to_a(hf[rc], acc);
    }
    // fc2 and the epilogue, 64 columns of the width at a time
    const int64_t orow_a = p.row_a >= 0 ? out_row(a, p.row_a) : -1, orow_b = p.row_b >= 0 ? out_row(a, p.row_b) : -1;
    for (int n0 = 0; n0 < X; n0 += MMA_T) {
        float acc[8][4];
        product_kept<CHUNKS>(acc, hf, tiles, a.w2, R, n0, X, p.g, p.t);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int col = n0 + 8 * j + 2 * p.t;
            const float b0 = a.b2[col], b1 = a.b2[col + 1];
#pragma unroll
            for (int half = 0; half < 2; half++) {
                const int64_t r = half ? p.row_b : p.row_a, orow = half ? orow_b : orow_a;
                if (r < 0) continue;
                float v0 = (acc[j][2 * half] + b0) * a.scale, v1 = (acc[j][2 * half + 1] + b1) * a.scale;
                if (a.skip) {
                    const float2 xv = unpack2(ld32(a.x + r * X + col));
                    v0 += xv.x;
                    v1 += xv.y;
                }
                if (a.res) {
                    const float2 rv = unpack2(ld32(a.res + orow * X + col));
                    v0 = rv.x + v0;
                    v1 = rv.y + v1;
                }
                *reinterpret_cast<uint32_t *>(a.out + orow * X + col) = pack2(v0, v1);
            }
        }
    }
}

template <int CHUNKS>
__global__ void __launch_bounds__(AD_WARPS * 32) adapter_bwd_kernel(AdapterDev a) {
    extern __shared__ float smem[];
    bf16 *tiles = reinterpret_cast<bf16 *>(smem); // two tiles (W1, W2^T), then CHUNKS (W1^T)
    const AdapterLane p = adapter_lane(a);
    const int X = a.width, R = a.bottleneck;
    const bf16 *xb = a.x + p.block0 * X;
    const int64_t orow_a = p.row_a >= 0 ? out_row(a, p.row_a) : -1, orow_b = p.row_b >= 0 ? out_row(a, p.row_b) : -1;
    const bf16 *dout_a = orow_a >= 0 ? a.dout + orow_a * X : NULL, *dout_b = orow_b >= 0 ? a.dout + orow_b * X : NULL;
    uint32_t dhf[CHUNKS][4][4]; // dh of the warp's rows as A fragments of dx's product
#pragma unroll
    for (int rc = 0; rc < CHUNKS; rc++) {
        float pre[8][4], gh[8][4];
        zero8x4(pre);
        zero8x4(gh);
        for (int k0 = 0; k0 < X; k0 += MMA_T) {
            __syncthreads();
            stage_tile(tiles, NULL, a.w1, X, k0, rc * MMA_T, R);
            stage_tile(tiles + MMA_TILE, NULL, a.w2t, X, k0, rc * MMA_T, R);
            __syncthreads();
            uint32_t f[4][4];
            load_a_rows(f, xb, X, k0, 16 * p.warp, p.block_rows, p.g, p.t);
            mma_row_tile(pre, f, tiles, p.g, p.t);
            load_a_scaled(f, dout_a, dout_b, k0, a.scale, p.t);
            mma_row_tile(gh, f, tiles + MMA_TILE, p.g, p.t);
        }
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int col = rc * MMA_T + 8 * j + 2 * p.t;
            const bool live = col < R; // past the bottleneck: gh = 0 (W2^T's rows there are zeros)
            const float b0 = live ? a.b1[col] : 0.0f, b1 = live ? a.b1[col + 1] : 0.0f;
#pragma unroll
            for (int half = 0; half < 2; half++) {
                const float u0 = pre[j][2 * half] + b0, u1 = pre[j][2 * half + 1] + b1;
                gh[j][2 * half] *= act_derivative<ACT_GELU_ERF>(u0);
                gh[j][2 * half + 1] *= act_derivative<ACT_GELU_ERF>(u1);
                const int64_t r = half ? p.row_b : p.row_a, orow = half ? orow_b : orow_a;
                if (r < 0 || !live) continue;
                *reinterpret_cast<uint32_t *>(a.h + orow * R + col) =
                    pack2(act_value<ACT_GELU_ERF>(u0), act_value<ACT_GELU_ERF>(u1));
                *reinterpret_cast<uint32_t *>(a.dh + r * R + col) = pack2(gh[j][2 * half], gh[j][2 * half + 1]);
            }
        }
        c_to_a(dhf[rc], gh); // the same BF16 values as written to dh
    }
    if (!a.dx) return; // no warp reaches another barrier: the whole block returns here
    for (int n0 = 0; n0 < X; n0 += MMA_T) {
        float acc[8][4];
        product_kept<CHUNKS>(acc, dhf, tiles, a.w1t, R, n0, X, p.g, p.t);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int col = n0 + 8 * j + 2 * p.t;
#pragma unroll
            for (int half = 0; half < 2; half++) {
                const int64_t r = half ? p.row_b : p.row_a;
                if (r < 0) continue;
                float v0 = acc[j][2 * half], v1 = acc[j][2 * half + 1];
                bf16 *dst = a.dx + r * X + col;
                if (a.accumulate) {
                    const float2 old = unpack2(ld32(dst));
                    v0 = old.x + v0;
                    v1 = old.y + v1;
                }
                if (a.skip) {
                    const float2 dz = unpack2(ld32((half ? dout_b : dout_a) + col));
                    v0 += dz.x;
                    v1 += dz.y;
                }
                *reinterpret_cast<uint32_t *>(dst) = pack2(v0, v1);
            }
        }
    }
}

// BF16 copies of the weights (any of the outputs may be NULL) and F32 copies of the biases.
__global__ void adapter_weights_kernel(bf16 *w1, bf16 *w2, bf16 *w2t, bf16 *w1t, float *b1, float *b2,
                                       const void *fc1_w, int fc1_w_bf16, const void *fc2_w, int fc2_w_bf16,
                                       const void *fc1_b, int fc1_b_bf16, const void *fc2_b, int fc2_b_bf16, int R,
                                       int X) {
    CUDA_GRID_LOOP(i, (int64_t)R * X) {
        // fc1_w [R, X]: element i is (n, k) = (i / X, i % X); fc2_w [X, R]: (i / R, i % R)
        const bf16 v1 = __float2bfloat16_rn(load_f(fc1_w, fc1_w_bf16, i));
        const bf16 v2 = __float2bfloat16_rn(load_f(fc2_w, fc2_w_bf16, i));
        if (w1) w1[i] = v1;
        if (w1t) w1t[(i % X) * R + i / X] = v1;
        if (w2) w2[i] = v2;
        if (w2t) w2t[(i % R) * X + i / R] = v2;
        if (b1 && i < R) b1[i] = load_f(fc1_b, fc1_b_bf16, i);
        if (b2 && i < X) b2[i] = load_f(fc2_b, fc2_b_bf16, i);
    }
}

// Whether the fused kernels serve: BF16 activations with 16-byte-aligned rows, a width that is a
// multiple of 64, a bottleneck that is a multiple of 8 (16-byte rows of the transposed copies) and at
// most 256.
int fused_serves(const AdapterWeights *w, const Tensor *const *acts, int count) {
    const int64_t R = w->fc1_w.shape[0], X = w->fc1_w.shape[1];
    if (R % 8 || X % MMA_T || R > AD_MAX_CHUNKS * MMA_T || R * X > INT32_MAX) return 0;
    for (int i = 0; i < count; i++)
        if (acts[i] && acts[i]->data && (acts[i]->dtype != DT_BF16 || !cuda_aligned16(acts[i]->data))) return 0;
    return 1;
}

// The weights' copies in the op's scratch where ops_adapter_fused_layout puts them (forward W1, W2, b1, b2;
// backward W1, W2^T, W1^T, b1), made on the stream; the pieces the layout lacks stay NULL.
struct WeightCopies {
    bf16 *w1, *w2, *w2t, *w1t;
    float *b1, *b2;
};
template <typename P> P *scratch_piece(T scratch, size_t offset) {
    return offset == SIZE_MAX ? NULL : (P *)((char *)scratch->data + offset);
}
WeightCopies weight_copies(CudaCtx *cx, const AdapterWeights *w, const AdapterFusedLayout &l, T scratch) {
    const int64_t R = w->fc1_w.shape[0], X = w->fc1_w.shape[1];
    CHECK(tensor_bytes(scratch) >= l.total, "adapter: scratch %s holds %zu bytes, the fused kernels take %zu",
          cuda_tname(scratch), tensor_bytes(scratch), l.total);
    WeightCopies c = {};
    c.w1 = scratch_piece<bf16>(scratch, l.w1);
    c.w2 = scratch_piece<bf16>(scratch, l.w2);
    c.w2t = scratch_piece<bf16>(scratch, l.w2t);
    c.w1t = scratch_piece<bf16>(scratch, l.w1t);
    c.b1 = scratch_piece<float>(scratch, l.bias);
    c.b2 = c.w2 ? c.b1 + R : NULL; // forward only: fc2's bias follows fc1's in the one F32 piece
    adapter_weights_kernel<<<cuda_grid(R * X, 256), 256, 0, cx->stream>>>(
        c.w1, c.w2, c.w2t, c.w1t, c.b1, c.b2, w->fc1_w.data, cuda_fdtype(&w->fc1_w, "adapter"), w->fc2_w.data,
        cuda_fdtype(&w->fc2_w, "adapter"), w->fc1_b.data, cuda_fdtype(&w->fc1_b, "adapter"), w->fc2_b.data,
        cuda_fdtype(&w->fc2_b, "adapter"), (int)R, (int)X);
    CUDA_CHECK_LAUNCH();
    return c;
}

template <typename Kernel> void launch_chunks(Kernel k1, Kernel k2, Kernel k3, Kernel k4, int chunks, int64_t rows,
                                              size_t smem, cudaStream_t stream, const AdapterDev &a) {
    Kernel k = chunks == 1 ? k1 : chunks == 2 ? k2 : chunks == 3 ? k3 : k4;
    const int64_t blocks = (rows + AD_ROWS - 1) / AD_ROWS;
    CHECK(blocks <= INT32_MAX, "adapter: %lld rows are too many for one launch", (long long)rows);
    k<<<(unsigned)blocks, AD_WARPS * 32, smem, stream>>>(a);
    CUDA_CHECK_LAUNCH();
}

AdapterDev adapter_dev(const AdapterWeights *w, AdapterForm form, int64_t rows) {
    AdapterDev a = {};
    a.rows = rows;
    a.bottleneck = (int)w->fc1_w.shape[0];
    a.width = (int)w->fc1_w.shape[1];
    a.scale = form.scale;
    a.skip = form.skip;
    a.swap_p = form.swap_p;
    a.swap_q = form.swap_q;
    return a;
}

} // namespace

void cu_adapter(Ops *ops, T out, T x, const AdapterWeights *w, T res, AdapterForm form, T scratch) {
    const Tensor *acts[] = {out, x, res};
    if (!cuda_ctx(ops)->adapter_fused || !fused_serves(w, acts, 3)) {
        ops_adapter_composed(ops, *out, *x, w, *res, form, *scratch);
        return;
    }
    CudaCtx *cx = cuda_ctx(ops);
    AdapterDev a = adapter_dev(w, form, tensor_numel(x) / w->fc1_w.shape[1]);
    if (a.rows == 0) return;
    const AdapterFusedLayout l = ops_adapter_fused_layout(a.rows, a.width, a.bottleneck, 0);
    WeightCopies c = weight_copies(cx, w, l, scratch);
    a.x = (const bf16 *)x->data;
    a.res = res && res->data ? (const bf16 *)res->data : NULL;
    a.out = (bf16 *)out->data;
    a.w1 = c.w1, a.w2 = c.w2, a.b1 = c.b1, a.b2 = c.b2;
    const int chunks = (a.bottleneck + MMA_T - 1) / MMA_T;
    launch_chunks(adapter_fwd_kernel<1>, adapter_fwd_kernel<2>, adapter_fwd_kernel<3>, adapter_fwd_kernel<4>, chunks,
                  a.rows, (size_t)chunks * MMA_TILE * sizeof(bf16), cx->stream, a);
}

void cu_adapter_backward(Ops *ops, T dx, const AdapterWeights *g, T dout, T x, const AdapterWeights *w,
                         AdapterForm form, int accumulate, T scratch) {
    const Tensor *acts[] = {dx, dout, x};
    if (!cuda_ctx(ops)->adapter_fused || !fused_serves(w, acts, 3)) {
        ops_adapter_backward_composed(ops, *dx, g, *dout, *x, w, form, accumulate, *scratch);
        return;
    }
    CudaCtx *cx = cuda_ctx(ops);
    const char *op = "adapter_backward";
    AdapterDev a = adapter_dev(w, form, tensor_numel(x) / w->fc1_w.shape[1]);
    const int64_t rows = a.rows, X = a.width, R = a.bottleneck;
    if (rows == 0) return;
    a.accumulate = accumulate;
    const AdapterFusedLayout l = ops_adapter_fused_layout(rows, X, R, 1);
    WeightCopies c = weight_copies(cx, w, l, scratch);
    a.w1 = c.w1, a.w2t = c.w2t, a.w1t = c.w1t, a.b1 = c.b1;
    a.h = scratch_piece<bf16>(scratch, l.hidden);
    a.dh = scratch_piece<bf16>(scratch, l.hidden_grad);
    a.x = (const bf16 *)x->data;
    a.dout = (const bf16 *)dout->data;
    a.dx = dx && dx->data ? (bf16 *)dx->data : NULL;
    const int chunks = (int)((R + MMA_T - 1) / MMA_T);
    launch_chunks(adapter_bwd_kernel<1>, adapter_bwd_kernel<2>, adapter_bwd_kernel<3>, adapter_bwd_kernel<4>, chunks,
                  rows, (size_t)(chunks > 2 ? chunks : 2) * MMA_TILE * sizeof(bf16), cx->stream, a);
    // fc2: dW2[X, R] += scale * dout[N, X]^T h[N, R] (both in out's rows); db2 += scale * column sums of dout
    const int gw1 = cuda_fdtype_opt(&g->fc1_w, op), gb1 = cuda_fdtype_opt(&g->fc1_b, op);
    const int gw2 = cuda_fdtype_opt(&g->fc2_w, op), gb2 = cuda_fdtype_opt(&g->fc2_b, op);
    if (gw2 >= 0) cuda_gemm(cx, op, g->fc2_w.data, gw2, a.dout, 1, a.h, 1, X, R, rows, 1, 0, form.scale, 1.0f);
    if (gb2 >= 0) cuda_colsum_accumulate_scaled(cx, g->fc2_b.data, gb2, a.dout, 1, rows, X, X, form.scale);
    // fc1: dW1[R, X] += dh[N, R]^T x[N, X] (both in x's rows); db1 += column sums of dh
    if (gw1 >= 0) cuda_gemm(cx, op, g->fc1_w.data, gw1, a.dh, 1, a.x, 1, R, X, rows, 1, 0, 1.0f, 1.0f);
    if (gb1 >= 0) cuda_colsum_accumulate(cx, g->fc1_b.data, gb1, a.dh, 1, rows, R, R);
}
