// Layer norm over the last dimension of x[N,D], forward and backward.
//
// Forward and the dx half of backward: one warp per row (8 rows per 256-thread
// block), fp32 statistics in two passes over the row (mean, then the mean of
// squared deviations: no cancellation), the row re-read from L1/L2 for the
// output pass. The parameter gradients dg[D] += sum_r dy * xhat and
// db[D] += sum_r dy are column sums over rows: deterministic two-pass
// reduction (fixed row chunks -> F32 partials in scratch -> per-column sum in
// chunk order), the same scheme as reduce.cu. x, y/dx and dy are template
// types; g, b, mean, rstd (per row or per column, read once per element) use the
// runtime-dtype helpers.
#include "cuda_common.cuh"

namespace {

constexpr int LN_WARPS = 8;

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

    if (dxb >= 0) {
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
