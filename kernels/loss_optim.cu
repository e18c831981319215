// Row-wise l2 normalisation (+ backward), softmax cross-entropy, the sum of
// squares for gradient norms, and the SGD / AdamW updates.
#include "cuda_common.cuh"

namespace {

constexpr int ROW_WARPS = 8; // warp-per-row kernels: 8 rows per 256-thread block

// y = x / max(|x|, eps), one warp per row; the norm in fp32.
template <typename TY, typename TX>
__global__ void l2norm_fwd_kernel(TY *y, const TX *x, int64_t n, int64_t d, float eps) {
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * ROW_WARPS + threadIdx.x / 32;
    if (row >= n) return;
    const TX *xr = x + row * d;
    float s = 0.0f;
    for (int64_t j = lane; j < d; j += 32) {
        float v = to_f(xr[j]);
        s += v * v;
    }
    const float norm = sqrtf(warp_sum(s));
    const float inv = 1.0f / (norm > eps ? norm : eps);
    for (int64_t j = lane; j < d; j += 32) y[row * d + j] = from_f<TY>(to_f(xr[j]) * inv);
}

// dx = (dy - x (x . dy) / |x|^2) / |x| when |x| > eps, else dy / eps.
template <typename TDX, typename TDY, typename TX>
__global__ void l2norm_bwd_kernel(TDX *dx, const TDY *dy, const TX *x, int64_t n, int64_t d, float eps) {
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * ROW_WARPS + threadIdx.x / 32;
    if (row >= n) return;
    const TX *xr = x + row * d;
    const TDY *dyr = dy + row * d;
    float s = 0.0f, dot = 0.0f;
    for (int64_t j = lane; j < d; j += 32) {
        float v = to_f(xr[j]);
        s += v * v;
        dot += v * to_f(dyr[j]);
    }
    s = warp_sum(s);
    dot = warp_sum(dot);
    const float norm = sqrtf(s);
    for (int64_t j = lane; j < d; j += 32) {
        float g = to_f(dyr[j]);
        float v = norm > eps ? (g - to_f(xr[j]) * dot / s) / norm : g / eps;
        dx[row * d + j] = from_f<TDX>(v);
    }
}

// One warp per row of logits[N,C]: fp32 log-softmax, loss[r] = lse - z[label],
// dlogits = (softmax - onehot) * grad_scale when dlogits != NULL. A label
// outside [0, C) flags the error, writes a NaN loss and no one-hot.
template <typename TL>
__global__ void cross_entropy_kernel(void *loss, int loss_bf16, void *dlogits, int dl_bf16, const TL *logits,
                                     const int32_t *labels, int64_t n, int64_t c, float grad_scale, int *err) {
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * ROW_WARPS + threadIdx.x / 32;
    if (row >= n) return;
    const TL *z = logits + row * c;
    float mx = -INFINITY;
    for (int64_t j = lane; j < c; j += 32) mx = fmaxf(mx, to_f(z[j]));
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int64_t j = lane; j < c; j += 32) sum += expf(to_f(z[j]) - mx);
    const float lse = mx + logf(warp_sum(sum));
    const int label = labels[row];
    const int bad = label < 0 || label >= c;
    if (lane == 0) {
        if (bad) cuda_report_bad_index(err, CERR_CROSS_ENTROPY, row, label, c);
        store_f(loss, loss_bf16, row, bad ? NAN : lse - to_f(z[label]));
    }
    if (dlogits)
        for (int64_t j = lane; j < c; j += 32) {
            float p = expf(to_f(z[j]) - lse) - (j == label ? 1.0f : 0.0f);
            store_f(dlogits, dl_bf16, row * c + j, p * grad_scale);
        }
}

constexpr int SS_THREADS = 256;

// Pass 1: per-thread fp32 sums over a grid-stride slice, block sum in double -> partial[block].
template <typename TX>
__global__ void sum_squares_partial_kernel(double *partial, const TX *x, int64_t n) {
    __shared__ double sh[SS_THREADS];
    float s = 0.0f;
    CUDA_GRID_LOOP(i, n) {
        float v = to_f(x[i]);
        s += v * v;
    }
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = SS_THREADS / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

// Pass 2 (one block): out = sum of the partials, in double, fixed order.
__global__ void sum_squares_final_kernel(double *out, const double *partial, int count) {
    __shared__ double sh[SS_THREADS];
    double s = 0.0;
    for (int i = threadIdx.x; i < count; i += SS_THREADS) s += partial[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = SS_THREADS / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = sh[0];
}

// The optimiser updates use round-to-nearest intrinsics (no FMA contraction,
// IEEE division and square root) in the CPU reference's evaluation order, and this
// file is compiled without flush-to-zero (CMakeLists.txt), so an F32 update
// matches the CPU backend's bit for bit given the same inputs, subnormals included.

// SGD with coupled weight decay: d = g + wd*w; buf = first ? d : momentum*buf + d; w -= lr*buf.
__global__ void sgd_kernel(float *w, const float *g, float *buf, int64_t n, float lr, float momentum, float wd,
                           int first) {
    CUDA_GRID_LOOP(i, n) {
        float wi = w[i];
        float d = __fadd_rn(g[i], __fmul_rn(wd, wi));
        if (momentum != 0.0f) {
            d = first ? d : __fadd_rn(__fmul_rn(momentum, buf[i]), d);
            buf[i] = d;
        }
        w[i] = __fsub_rn(wi, __fmul_rn(lr, d));
    }
}

// AdamW (decoupled decay): w -= lr*wd*w; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// w -= lr * (m / c1) / (sqrt(v / c2) + eps), c1 = 1 - b1^step, c2 = 1 - b2^step.
__global__ void adamw_kernel(float *w, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2,
                             float one_minus_b1, float one_minus_b2, float eps, float lr_wd, float c1, float c2) {
    CUDA_GRID_LOOP(i, n) {
        float wi = w[i], gi = g[i];
        wi = __fsub_rn(wi, __fmul_rn(lr_wd, wi));
        float mi = __fadd_rn(__fmul_rn(b1, m[i]), __fmul_rn(one_minus_b1, gi));
        float vi = __fadd_rn(__fmul_rn(b2, v[i]), __fmul_rn(__fmul_rn(one_minus_b2, gi), gi));
        m[i] = mi;
        v[i] = vi;
        float num = __fmul_rn(lr, __fdiv_rn(mi, c1));
        float den = __fadd_rn(__fsqrt_rn(__fdiv_rn(vi, c2)), eps);
        w[i] = __fsub_rn(wi, __fdiv_rn(num, den));
    }
}

} // namespace

void cu_l2_normalize(Ops *ops, T y, T x, float eps) {
    int yb = cuda_fdtype(y, "l2_normalize"), xb = cuda_fdtype(x, "l2_normalize");
    CudaCtx *cx = cuda_ctx(ops);
    int64_t n = ops_rows(x), d = ops_cols(x);
    if (n <= 0) return;
    unsigned grid = (unsigned)((n + ROW_WARPS - 1) / ROW_WARPS);
    FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX,
        l2norm_fwd_kernel<TY, TX><<<grid, ROW_WARPS * 32, 0, cx->stream>>>((TY *)y->data, (const TX *)x->data, n, d,
                                                                           eps)));
    CUDA_CHECK_LAUNCH();
}

void cu_l2_normalize_backward(Ops *ops, T dx, T dy, T x, float eps) {
    const char *op = "l2_normalize_backward";
    int dxb = cuda_fdtype(dx, op), dyb = cuda_fdtype(dy, op), xb = cuda_fdtype(x, op);
    CudaCtx *cx = cuda_ctx(ops);
    int64_t n = ops_rows(x), d = ops_cols(x);
    if (n <= 0) return;
    unsigned grid = (unsigned)((n + ROW_WARPS - 1) / ROW_WARPS);
    FT_DISPATCH(dxb, TDX, FT_DISPATCH(dyb, TDY, FT_DISPATCH(xb, TX,
        l2norm_bwd_kernel<TDX, TDY, TX><<<grid, ROW_WARPS * 32, 0, cx->stream>>>(
            (TDX *)dx->data, (const TDY *)dy->data, (const TX *)x->data, n, d, eps))));
    CUDA_CHECK_LAUNCH();
}

void cu_cross_entropy(Ops *ops, T loss, T dlogits, T logits, T labels, float grad_scale) {
    const char *op = "cross_entropy";
    CudaCtx *cx = cuda_ctx(ops);
    int lb = cuda_fdtype(loss, op), zb = cuda_fdtype(logits, op), db = cuda_fdtype_opt(dlogits, op);
    int64_t n = logits->shape[0], c = logits->shape[1];
    if (n <= 0) return;
    CHECK(c > 0, "cross_entropy: logits %s have no classes", cuda_tname(logits));
    unsigned grid = (unsigned)((n + ROW_WARPS - 1) / ROW_WARPS);
    void *dl = db >= 0 ? dlogits->data : NULL;
    FT_DISPATCH(zb, TL,
        cross_entropy_kernel<TL><<<grid, ROW_WARPS * 32, 0, cx->stream>>>(
            loss->data, lb, dl, db > 0, (const TL *)logits->data, (const int32_t *)labels->data, n, c, grad_scale,
            cx->d_err));
    CUDA_CHECK_LAUNCH();
}

double cu_sum_squares(Ops *ops, T x) {
    CudaCtx *cx = cuda_ctx(ops);
    int xb = cuda_fdtype(x, "sum_squares");
    int64_t n = tensor_numel(x);
    if (n <= 0) return 0.0;
    // The grid depends on n only, so the summation order (and the result) repeats exactly.
    int64_t blocks64 = (n + SS_THREADS * 8 - 1) / (SS_THREADS * 8);
    int blocks = (int)(blocks64 > 1024 ? 1024 : blocks64);
    double *partial = (double *)cuda_scratch(cx, (size_t)(blocks + 1) * sizeof(double));
    FT_DISPATCH(xb, TX,
        sum_squares_partial_kernel<TX><<<blocks, SS_THREADS, 0, cx->stream>>>(partial, (const TX *)x->data, n));
    CUDA_CHECK_LAUNCH();
    sum_squares_final_kernel<<<1, SS_THREADS, 0, cx->stream>>>(partial + blocks, partial, blocks);
    CUDA_CHECK_LAUNCH();
    double result = 0.0;
    CUDA_CHECK(cudaMemcpyAsync(&result, partial + blocks, sizeof result, cudaMemcpyDeviceToHost, cx->stream));
    CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    cuda_check_device_errors(cx);
    return result;
}

void cu_sgd_update(Ops *ops, T w, T g, T buf, float lr, float momentum, float wd, int first) {
    const char *op = "sgd_update";
    cuda_require_f32(w, op);
    cuda_require_f32(g, op);
    if (momentum != 0.0f) cuda_require_f32(buf, op);
    int64_t n = tensor_numel(w);
    if (n <= 0) return;
    CudaCtx *cx = cuda_ctx(ops);
    float *bp = momentum != 0.0f ? (float *)buf->data : NULL;
    sgd_kernel<<<cuda_grid(n, 256), 256, 0, cx->stream>>>((float *)w->data, (const float *)g->data, bp, n, lr,
                                                          momentum, wd, first);
    CUDA_CHECK_LAUNCH();
}

void cu_adamw_update(Ops *ops, T w, T g, T m, T v, float lr, float b1, float b2, float eps, float wd, int step) {
    const char *op = "adamw_update";
    cuda_require_f32(w, op);
    cuda_require_f32(g, op);
    cuda_require_f32(m, op);
    cuda_require_f32(v, op);
    int64_t n = tensor_numel(w);
    if (n <= 0) return;
    CudaCtx *cx = cuda_ctx(ops);
    // The scalars exactly as the CPU reference forms them in float.
    float c1 = 1.0f - powf(b1, (float)step), c2 = 1.0f - powf(b2, (float)step);
    float lr_wd = lr * wd;
    adamw_kernel<<<cuda_grid(n, 256), 256, 0, cx->stream>>>((float *)w->data, (const float *)g->data,
                                                            (float *)m->data, (float *)v->data, n, lr, b1, b2,
                                                            1.0f - b1, 1.0f - b2, eps, lr_wd, c1, c2);
    CUDA_CHECK_LAUNCH();
}
