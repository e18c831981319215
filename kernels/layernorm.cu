// Layer norm over the last dimension of x[N,D], forward and backward.
//
// Forward and the dx half of backward: one warp per row (8 rows per 256-thread
// block), fp32 statistics in two passes over the row (mean, then the mean of
// squared deviations: no cancellation). Rows of every CLIP here (D a multiple of
// 8 up to LN_VEC_MAX_D, 16-byte-aligned tensors, g and b of one dtype) take the
// vectorised kernels: each lane holds 8 consecutive elements per 256 columns in
// registers, read once with 16-byte loads (x, and dy backward) and written once,
// so a row crosses the memory bus once each way; other rows take the scalar
// kernels, which re-read the row from L1/L2 for each pass. The parameter gradients dg[D] += sum_r dy * xhat and
// db[D] += sum_r dy are column sums over rows: deterministic two-pass
// reduction (fixed row chunks -> F32 partials in scratch -> per-column sum in
// chunk order), the same scheme as reduce.cu. x, y/dx and dy are template
// types; g, b, mean, rstd (per row or per column, read once per element) use the
// runtime-dtype helpers.
#include "cuda_common.cuh"

namespace {

constexpr int LN_WARPS = 8;
constexpr int LN_VEC_MAX_D = 4 * 32 * 8; // 1024 (ViT-L's width): four 256-column chunks in a lane's registers

// Row xr's chunks of 8 (the lane's columns (32 c + lane) * 8 ..) into v; zeros past d.
template <int C, typename TX>
__device__ __forceinline__ void ln_load_row(float v[C][8], const TX *xr, int d, int lane) {
#pragma unroll
    for (int c = 0; c < C; c++) {
        const int j0 = (32 * c + lane) * 8;
        if (j0 < d) {
            load8(xr + j0, v[c]);
        } else {
#pragma unroll
            for (int k = 0; k < 8; k++) v[c][k] = 0.0f;
        }
    }
}

// C: the 256-column chunks of a row (d <= 256 C), so that the registers are what the width needs.
template <int C, typename TY, typename TX, typename TP>
__global__ void ln_fwd_vec_kernel(TY *y, void *mean, int mean_bf16, void *rstd, int rstd_bf16, const TX *x,
                                  const TP *g, const TP *b, int64_t n, int d, float eps) {
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * LN_WARPS + threadIdx.x / 32;
    if (row >= n) return; // whole warp leaves together
    float v[C][8];
    ln_load_row<C>(v, x + row * d, d, lane);
    float s = 0.0f;
#pragma unroll
    for (int c = 0; c < C; c++)
#pragma unroll
        for (int k = 0; k < 8; k++) s += v[c][k];
    const float mu = warp_sum(s) / (float)d;
    float var = 0.0f;
#pragma unroll
    for (int c = 0; c < C; c++)
        if ((32 * c + lane) * 8 < d)
#pragma unroll
            for (int k = 0; k < 8; k++) var += (v[c][k] - mu) * (v[c][k] - mu);
    const float rs = rsqrtf(warp_sum(var) / (float)d + eps);
    TY *yr = y + row * d; // may be x's row (in place): this lane wrote nothing it has not read
#pragma unroll
    for (int c = 0; c < C; c++) {
        const int j0 = (32 * c + lane) * 8;
        if (j0 >= d) continue;
        float gv[8], bv[8], o[8];
        load8(g + j0, gv);
        load8(b + j0, bv);
#pragma unroll
        for (int k = 0; k < 8; k++) o[k] = (v[c][k] - mu) * rs * gv[k] + bv[k];
        store8(yr + j0, o);
    }
    if (lane == 0) {
        if (mean) store_f(mean, mean_bf16, row, mu);
        if (rstd) store_f(rstd, rstd_bf16, row, rs);
    }
}

// The dx half of the backward (ln_bwd_dx_kernel's formula), vectorised as the forward.
template <int C, typename TDX, typename TDY, typename TX, typename TP>
__global__ void ln_bwd_dx_vec_kernel(TDX *dx, const TDY *dy, const TX *x, const void *mean, int mean_bf16,
                                     const void *rstd, int rstd_bf16, const TP *g, int64_t n, int d, int accumulate) {
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * LN_WARPS + threadIdx.x / 32;
    if (row >= n) return;
    const float m = load_f(mean, mean_bf16, row), rs = load_f(rstd, rstd_bf16, row);
    float dxh[C][8], xh[C][8];
    ln_load_row<C>(dxh, dy + row * d, d, lane); // dy, then dy * g
    ln_load_row<C>(xh, x + row * d, d, lane);   // x, then xhat
    float s1 = 0.0f, s2 = 0.0f;
#pragma unroll
    for (int c = 0; c < C; c++) {
        const int j0 = (32 * c + lane) * 8;
        if (j0 >= d) continue;
        float gv[8];
        load8(g + j0, gv);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            dxh[c][k] *= gv[k];
            xh[c][k] = (xh[c][k] - m) * rs;
            s1 += dxh[c][k];
            s2 += dxh[c][k] * xh[c][k];
        }
    }
    s1 = warp_sum(s1) / (float)d;
    s2 = warp_sum(s2) / (float)d;
    TDX *dxr = dx + row * d; // may be dy's row (in place): read above
#pragma unroll
    for (int c = 0; c < C; c++) {
        const int j0 = (32 * c + lane) * 8;
        if (j0 >= d) continue;
        float o[8], old[8];
        if (accumulate) load8(dxr + j0, old);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            const float v = rs * (dxh[c][k] - s1 - xh[c][k] * s2);
            o[k] = accumulate ? old[k] + v : v;
        }
        store8(dxr + j0, o);
    }
}

// Runs the statement with C (the 256-column chunks of d <= LN_VEC_MAX_D) a constant.
#define LN_CHUNKS_DISPATCH(d, ...) DISPATCH_1_TO_4(((d) + 255) / 256, C, __VA_ARGS__)

// Whether a row's tensors suit the vectorised kernels (see the header comment).
int ln_vec_serves(int64_t d, const void *const *ptrs, int count, int g_bf16, int b_bf16) {
    if (d % 8 || d > LN_VEC_MAX_D || g_bf16 != b_bf16) return 0;
    for (int i = 0; i < count; i++)
        if (ptrs[i] && !cuda_aligned16(ptrs[i])) return 0;
    return 1;
}

template <typename TY, typename TX>
__global__ void ln_fwd_kernel(TY *y, void *mean, int mean_bf16, void *rstd, int rstd_bf16, const TX *x, const void *g,
                              int g_bf16, const void *b, int b_bf16, int64_t n, int64_t d, float eps) {
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * LN_WARPS + threadIdx.x / 32;
    if (row >= n) return; // whole warp leaves together
    const TX *xr = x + row * d;
    TY *yr = y + row * d;
    float s = 0.0f;
    for (int64_t j = lane; j < d; j += 32) s += to_f(xr[j]);
    const float mu = warp_sum(s) / (float)d;
    float v = 0.0f;
    for (int64_t j = lane; j < d; j += 32) {
        float dv = to_f(xr[j]) - mu;
        v += dv * dv;
    }
    const float rs = rsqrtf(warp_sum(v) / (float)d + eps);
    for (int64_t j = lane; j < d; j += 32)
        yr[j] = from_f<TY>((to_f(xr[j]) - mu) * rs * load_f(g, g_bf16, j) + load_f(b, b_bf16, j));
    if (lane == 0) {
        if (mean) store_f(mean, mean_bf16, row, mu);
        if (rstd) store_f(rstd, rstd_bf16, row, rs);
    }
}

// dx (= or +=) rstd * (dy*g - mean_j(dy*g) - xhat * mean_j(dy*g*xhat)), one warp per row.
template <typename TDX, typename TDY, typename TX>
__global__ void ln_bwd_dx_kernel(TDX *dx, const TDY *dy, const TX *x, const void *mean, int mean_bf16,
                                 const void *rstd, int rstd_bf16, const void *g, int g_bf16, int64_t n, int64_t d,
                                 int accumulate) {
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * LN_WARPS + threadIdx.x / 32;
    if (row >= n) return;
    const float m = load_f(mean, mean_bf16, row), rs = load_f(rstd, rstd_bf16, row);
    const TDY *dyr = dy + row * d;
    const TX *xr = x + row * d;
    TDX *dxr = dx + row * d;
    float s1 = 0.0f, s2 = 0.0f;
    for (int64_t j = lane; j < d; j += 32) {
        float dxh = to_f(dyr[j]) * load_f(g, g_bf16, j), xh = (to_f(xr[j]) - m) * rs;
        s1 += dxh;
        s2 += dxh * xh;
    }
    s1 = warp_sum(s1) / (float)d;
    s2 = warp_sum(s2) / (float)d;
    for (int64_t j = lane; j < d; j += 32) {
        float xh = (to_f(xr[j]) - m) * rs;
        float v = rs * (to_f(dyr[j]) * load_f(g, g_bf16, j) - s1 - xh * s2);
        dxr[j] = from_f<TDX>(accumulate ? to_f(dxr[j]) + v : v);
    }
}

// Pass 1 of dg/db: thread (column j, chunk c) sums its rows into pg/pb[c*d + j].
template <typename TDY, typename TX>
__global__ void ln_bwd_dgdb_partial_kernel(float *pg, float *pb, const TDY *dy, const TX *x, const void *mean,
                                           int mean_bf16, const void *rstd, int rstd_bf16, int64_t n, int64_t d,
                                           int64_t rows_per_chunk) {
    const int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, c = blockIdx.y;
    if (j >= d) return;
    const int64_t r0 = c * rows_per_chunk, r1 = r0 + rows_per_chunk < n ? r0 + rows_per_chunk : n;
    float sg = 0.0f, sb = 0.0f;
    for (int64_t r = r0; r < r1; r++) {
        float g = to_f(dy[r * d + j]);
        float xh = (to_f(x[r * d + j]) - load_f(mean, mean_bf16, r)) * load_f(rstd, rstd_bf16, r);
        sg += g * xh;
        sb += g;
    }
    pg[c * d + j] = sg;
    pb[c * d + j] = sb;
}

} // namespace

void cu_layernorm(Ops *ops, T y, T mean, T rstd, T x, T g, T b, float eps) {
    const char *op = "layernorm";
    CudaCtx *cx = cuda_ctx(ops);
    int yb = cuda_fdtype(y, op), xb = cuda_fdtype(x, op), gb = cuda_fdtype(g, op), bb = cuda_fdtype(b, op);
    int mb = cuda_fdtype_opt(mean, op), rb = cuda_fdtype_opt(rstd, op);
    int64_t n = ops_rows(x), d = ops_cols(x);
    if (n <= 0) return;
    unsigned grid = (unsigned)((n + LN_WARPS - 1) / LN_WARPS);
    void *mp = mb >= 0 ? mean->data : NULL, *rp = rb >= 0 ? rstd->data : NULL;
    const void *ptrs[] = {y->data, x->data, g->data, b->data};
    if (ln_vec_serves(d, ptrs, 4, gb, bb)) {
        LN_CHUNKS_DISPATCH(d, FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX, FT_DISPATCH(gb, TP,
            ln_fwd_vec_kernel<C, TY, TX, TP><<<grid, LN_WARPS * 32, 0, cx->stream>>>(
                (TY *)y->data, mp, mb > 0, rp, rb > 0, (const TX *)x->data, (const TP *)g->data, (const TP *)b->data,
                n, (int)d, eps)))));
        CUDA_CHECK_LAUNCH();
        return;
    }
    FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX,
        ln_fwd_kernel<TY, TX><<<grid, LN_WARPS * 32, 0, cx->stream>>>((TY *)y->data, mp, mb > 0, rp, rb > 0,
                                                                      (const TX *)x->data, g->data, gb, b->data, bb,
                                                                      n, d, eps)));
    CUDA_CHECK_LAUNCH();
}

void cu_layernorm_backward(Ops *ops, T dx, T dg, T db, T dy, T x, T mean, T rstd, T g, int accumulate) {
    const char *op = "layernorm_backward";
    CudaCtx *cx = cuda_ctx(ops);
    int dyb = cuda_fdtype(dy, op), xb = cuda_fdtype(x, op), gb = cuda_fdtype(g, op);
    int mb = cuda_fdtype(mean, op), rb = cuda_fdtype(rstd, op);
    int dxb = cuda_fdtype_opt(dx, op), dgb = cuda_fdtype_opt(dg, op), dbb = cuda_fdtype_opt(db, op);
    int64_t n = ops_rows(x), d = ops_cols(x);
    if (n <= 0 || d <= 0) return;

    const void *ptrs[] = {dx && dx->data ? dx->data : NULL, dy->data, x->data, g->data};
    if (dxb >= 0 && ln_vec_serves(d, ptrs, 4, gb, gb)) {
        unsigned grid = (unsigned)((n + LN_WARPS - 1) / LN_WARPS);
        LN_CHUNKS_DISPATCH(d, FT_DISPATCH(dxb, TDX, FT_DISPATCH(dyb, TDY, FT_DISPATCH(xb, TX, FT_DISPATCH(gb, TP,
            ln_bwd_dx_vec_kernel<C, TDX, TDY, TX, TP><<<grid, LN_WARPS * 32, 0, cx->stream>>>(
                (TDX *)dx->data, (const TDY *)dy->data, (const TX *)x->data, mean->data, mb, rstd->data, rb,
                (const TP *)g->data, n, (int)d, accumulate))))));
        CUDA_CHECK_LAUNCH();
    } else if (dxb >= 0) {
        unsigned grid = (unsigned)((n + LN_WARPS - 1) / LN_WARPS);
        FT_DISPATCH(dxb, TDX, FT_DISPATCH(dyb, TDY, FT_DISPATCH(xb, TX,
            ln_bwd_dx_kernel<TDX, TDY, TX><<<grid, LN_WARPS * 32, 0, cx->stream>>>(
                (TDX *)dx->data, (const TDY *)dy->data, (const TX *)x->data, mean->data, mb, rstd->data, rb, g->data,
                gb, n, d, accumulate))));
        CUDA_CHECK_LAUNCH();
    }

    if (dgb >= 0 || dbb >= 0) {
        int64_t rpc, chunks;
        cuda_colsum_plan(n, d, &rpc, &chunks);
        float *pg = (float *)cuda_scratch(cx, 2 * (size_t)(chunks * d) * sizeof(float));
        float *pb = pg + chunks * d;
        dim3 grid((unsigned)((d + 255) / 256), (unsigned)chunks);
        FT_DISPATCH(dyb, TDY, FT_DISPATCH(xb, TX,
            ln_bwd_dgdb_partial_kernel<TDY, TX><<<grid, 256, 0, cx->stream>>>(
                pg, pb, (const TDY *)dy->data, (const TX *)x->data, mean->data, mb, rstd->data, rb, n, d, rpc)));
        CUDA_CHECK_LAUNCH();
        if (dgb >= 0) cuda_colsum_finish(cx, dg->data, dgb, pg, chunks, d, 1.0f);
        if (dbb >= 0) cuda_colsum_finish(cx, db->data, dbb, pb, chunks, d, 1.0f);
    }
}
