// Elementwise and layout ops: activations (+ backward), add, axpy, axpy_rows,
// scale, add_broadcast (+ backward), im2col_patches, prepend_token (+ backward),
// permute_0213, mean_dim1 (+ backward), the F32 <-> BF16 conversion and normalize_images
// (uint8 pixels to normalised frames).
//
// Every kernel is a template over the F32/BF16 type of each tensor operand it
// streams (FT_DISPATCH instantiates all combinations), computes in fp32 and
// rounds once on store. The hot maps (activation, add, axpy, scale, axpy_rows,
// add_broadcast, convert) move 8 elements per 16-byte access when every pointer
// is 16-byte aligned (bf16 x8 = one uint4, f32 x8 = two float4), with a scalar
// tail; otherwise they run scalar. The layout ops (im2col_patches, prepend_token and
// its backward, permute_0213) do the same where their rows split into chunks of 8, and move pairs where
// they split into 2s (chunk_width).
#include <string.h>

#include "cuda_common.cuh"

namespace {

constexpr int EW_THREADS = 256;

// ---- activations (act_value, act_derivative: cuda_common.cuh) ----------------------------

template <int ACT> struct ActFwd {
    __device__ float operator()(float x) const { return act_value<ACT>(x); }
};
template <int ACT> struct ActBwd {
    __device__ float operator()(float dy, float x) const { return dy * act_derivative<ACT>(x); }
};
struct Identity {
    __device__ float operator()(float x) const { return x; }
};
struct Scale {
    float alpha;
    __device__ float operator()(float x) const { return alpha * x; }
};
struct Add {
    __device__ float operator()(float a, float b) const { return a + b; }
};
struct Axpy {
    float alpha;
    __device__ float operator()(float y, float x) const { return y + alpha * x; }
};

// ---- generic maps -------------------------------------------------------------------------

// y[i] = f(x[i]), i < n. vec: all pointers 16-byte aligned (y may alias x).
template <typename TY, typename TX, typename F>
__global__ void map1_kernel(TY *y, const TX *x, int64_t n, int vec, F f) {
    const int64_t start = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    int64_t done = 0;
    if (vec) {
        const int64_t nv = n / 8;
        for (int64_t v = start; v < nv; v += stride) {
            float a[8];
            load8(x + 8 * v, a);
#pragma unroll
            for (int k = 0; k < 8; k++) a[k] = f(a[k]);
            store8(y + 8 * v, a);
        }
        done = nv * 8;
    }
    for (int64_t i = done + start; i < n; i += stride) y[i] = from_f<TY>(f(to_f(x[i])));
}

// y[i] = f(a[i], b[i]), i < n (y may alias a or b).
template <typename TY, typename TA, typename TB, typename F>
__global__ void map2_kernel(TY *y, const TA *a, const TB *b, int64_t n, int vec, F f) {
    const int64_t start = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    int64_t done = 0;
    if (vec) {
        const int64_t nv = n / 8;
        for (int64_t v = start; v < nv; v += stride) {
            float va[8], vb[8];
            load8(a + 8 * v, va);
            load8(b + 8 * v, vb);
#pragma unroll
            for (int k = 0; k < 8; k++) va[k] = f(va[k], vb[k]);
            store8(y + 8 * v, va);
        }
        done = nv * 8;
    }
    for (int64_t i = done + start; i < n; i += stride) y[i] = from_f<TY>(f(to_f(a[i]), to_f(b[i])));
}

template <typename TY, typename TX, typename F>
void map1(CudaCtx *cx, void *y, const void *x, int64_t n, F f) {
    if (n <= 0) return;
    int vec = cuda_aligned16(y) && cuda_aligned16(x);
    int64_t work = vec ? (n + 7) / 8 : n;
    map1_kernel<TY, TX, F><<<cuda_grid(work, EW_THREADS), EW_THREADS, 0, cx->stream>>>((TY *)y, (const TX *)x, n, vec,
                                                                                       f);
    CUDA_CHECK_LAUNCH();
}

template <typename TY, typename TA, typename TB, typename F>
void map2(CudaCtx *cx, void *y, const void *a, const void *b, int64_t n, F f) {
    if (n <= 0) return;
    int vec = cuda_aligned16(y) && cuda_aligned16(a) && cuda_aligned16(b);
    int64_t work = vec ? (n + 7) / 8 : n;
    map2_kernel<TY, TA, TB, F><<<cuda_grid(work, EW_THREADS), EW_THREADS, 0, cx->stream>>>(
        (TY *)y, (const TA *)a, (const TB *)b, n, vec, f);
    CUDA_CHECK_LAUNCH();
}

// Runs the statement with A a constexpr Activation.
#define ACT_DISPATCH(act, A, ...)                                                                \
    do {                                                                                         \
        switch (act) {                                                                           \
        case ACT_QUICKGELU: {                                                                    \
            constexpr int A = ACT_QUICKGELU;                                                     \
            __VA_ARGS__;                                                                         \
        } break;                                                                                 \
        case ACT_GELU_ERF: {                                                                     \
            constexpr int A = ACT_GELU_ERF;                                                      \
            __VA_ARGS__;                                                                         \
        } break;                                                                                 \
        case ACT_GELU_TANH: {                                                                    \
            constexpr int A = ACT_GELU_TANH;                                                     \
            __VA_ARGS__;                                                                         \
        } break;                                                                                 \
        default: DFER_FATAL("activation", "unknown activation %d", (int)(act));                  \
        }                                                                                        \
    } while (0)

// ---- row-structured elementwise ------------------------------------------------------------

// y[r,i] = (beta != 0 ? beta * y[r,i] : 0) + w[r] * x[r,i] for y, x [rows, d]; beta 0 never reads y.
// vec: d % 8 == 0 and y, x 16-byte aligned (a group of 8 never straddles two rows).
template <typename TY, typename TX>
__global__ void axpy_rows_kernel(TY *y, const TX *x, const void *w, int w_bf16, int64_t rows, int64_t d, float beta,
                                 int vec) {
    const int64_t n = rows * d;
    if (vec) {
        CUDA_GRID_LOOP(v, n / 8) {
            const int64_t i0 = 8 * v;
            const float wr = load_f(w, w_bf16, i0 / d);
            float vx[8], vy[8];
            load8(x + i0, vx);
            if (beta != 0.0f) {
                load8(y + i0, vy);
#pragma unroll
                for (int k = 0; k < 8; k++) vy[k] = beta * vy[k] + wr * vx[k];
            } else {
#pragma unroll
                for (int k = 0; k < 8; k++) vy[k] = wr * vx[k];
            }
            store8(y + i0, vy);
        }
    } else {
        CUDA_GRID_LOOP(i, n) {
            float v = load_f(w, w_bf16, i / d) * to_f(x[i]);
            if (beta != 0.0f) v += beta * to_f(y[i]);
            y[i] = from_f<TY>(v);
        }
    }
}

// y[c*rows + i] += p[i] for every copy c (positional embeddings: y [B,S,D], p [S,D]).
template <typename TY, typename TP>
__global__ void add_broadcast_kernel(TY *y, const TP *p, int64_t n, int64_t rows, int vec) {
    if (vec) { // rows % 8 == 0: a group of 8 stays inside one copy
        CUDA_GRID_LOOP(v, n / 8) {
            const int64_t i0 = 8 * v;
            float vy[8], vp[8];
            load8(y + i0, vy);
            load8(p + i0 % rows, vp);
#pragma unroll
            for (int k = 0; k < 8; k++) vy[k] += vp[k];
            store8(y + i0, vy);
        }
    } else {
        CUDA_GRID_LOOP(i, n) y[i] = from_f<TY>(to_f(y[i]) + to_f(p[i % rows]));
    }
}

// The layout ops move whole chunks of V consecutive elements (and do their index arithmetic, 64-bit divisions
// that are dear on a GPU, once a chunk): V = 8 where a row splits into chunks of 8 and the tensors are 16-byte
// aligned (one 16-byte access a chunk), V = 2 where it splits into pairs and they are 8-byte aligned (one
// 4- or 8-byte access: L/14's patch rows of 14 pixels), else V = 1 (chunk_width).
template <int V> struct Chunk;
template <> struct Chunk<8> {
    template <typename T> static __device__ __forceinline__ void load(const T *p, float v[8]) { load8(p, v); }
    template <typename T> static __device__ __forceinline__ void store(T *p, const float v[8]) { store8(p, v); }
};
template <> struct Chunk<2> {
    static __device__ __forceinline__ void load(const float *p, float v[2]) {
        const float2 a = *reinterpret_cast<const float2 *>(p);
        v[0] = a.x;
        v[1] = a.y;
    }
    static __device__ __forceinline__ void load(const __nv_bfloat16 *p, float v[2]) {
        const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(p));
        v[0] = a.x;
        v[1] = a.y;
    }
    static __device__ __forceinline__ void store(float *p, const float v[2]) {
        *reinterpret_cast<float2 *>(p) = make_float2(v[0], v[1]);
    }
    static __device__ __forceinline__ void store(__nv_bfloat16 *p, const float v[2]) {
        *reinterpret_cast<__nv_bfloat162 *>(p) = __floats2bfloat162_rn(v[0], v[1]);
    }
};
template <> struct Chunk<1> {
    template <typename T> static __device__ __forceinline__ void load(const T *p, float v[1]) { v[0] = to_f(p[0]); }
    template <typename T> static __device__ __forceinline__ void store(T *p, const float v[1]) {
        p[0] = from_f<T>(v[0]);
    }
};

// The chunk width for rows of `row` elements between tensors a and b (see above).
static int chunk_width(int64_t row, const void *a, const void *b) {
    if (row % 8 == 0 && cuda_aligned16(a) && cuda_aligned16(b)) return 8;
    if (row % 2 == 0 && (uintptr_t)a % 8 == 0 && (uintptr_t)b % 8 == 0) return 2;
    return 1;
}

// Runs the statement with V the constant chunk width (8, 2 or 1) of the layout kernels below.
#define CHUNK_DISPATCH(width, V, ...)                                                             \
    do {                                                                                          \
        if ((width) == 8) { constexpr int V = 8; __VA_ARGS__; }                                   \
        else if ((width) == 2) { constexpr int V = 2; __VA_ARGS__; }                              \
        else { constexpr int V = 1; __VA_ARGS__; }                                                \
    } while (0)

// patches[B*g*g, 3*P*P] from images[B,3,R,R]: patch index = gy*g + gx, features (channel, ky, kx). A chunk
// of V features (V divides P) shares channel and kernel row and lies side by side in one image row, at an
// offset that is a multiple of V (gx * patch + kx, with res = g * patch).
template <int V, typename TY, typename TX>
__global__ void im2col_kernel(TY *patches, const TX *images, int64_t batch, int64_t res, int64_t patch) {
    const int64_t g = res / patch, pp = patch * patch, chunks = 3 * pp / V;
    CUDA_GRID_LOOP(e, batch * g * g * chunks) {
        const int64_t f = (e % chunks) * V, pr = e / chunks;
        const int64_t b = pr / (g * g), cell = pr % (g * g), gy = cell / g, gx = cell % g;
        const int64_t c = f / pp, ky = (f % pp) / patch, kx = f % patch;
        float v[V];
        Chunk<V>::load(images + ((b * 3 + c) * res + gy * patch + ky) * res + gx * patch + kx, v);
        Chunk<V>::store(patches + V * e, v);
    }
}

// y[B,S+1,D]: row 0 of each item is tok[D], rows 1..S are x[B,S,D]; chunks of V (V divides D). The token's
// row (a 1/(S+1) share, its dtype known only at run time) element by element.
template <int V, typename TY, typename TX>
__global__ void prepend_kernel(TY *y, const TX *x, const void *tok, int tok_bf16, int64_t batch, int64_t seq,
                               int64_t d) {
    const int64_t chunks = d / V;
    CUDA_GRID_LOOP(e, batch * (seq + 1) * chunks) {
        const int64_t j = (e % chunks) * V, row = e / chunks, s = row % (seq + 1), b = row / (seq + 1);
        float v[V];
        if (s == 0) {
#pragma unroll
            for (int k = 0; k < V; k++) v[k] = load_f(tok, tok_bf16, j + k);
        } else {
            Chunk<V>::load(x + (b * seq + s - 1) * d + j, v);
        }
        Chunk<V>::store(y + V * e, v);
    }
}

// dx[B,S,D] = dy[B,S+1,D] without row 0 of each item; chunks of V (V divides D).
template <int V, typename TY, typename TX>
__global__ void prepend_bwd_kernel(TY *dx, const TX *dy, int64_t batch, int64_t seq, int64_t d) {
    const int64_t chunks = d / V;
    CUDA_GRID_LOOP(e, batch * seq * chunks) {
        const int64_t j = (e % chunks) * V, row = e / chunks, s = row % seq, b = row / seq;
        float v[V];
        Chunk<V>::load(dy + (b * (seq + 1) + s + 1) * d + j, v);
        Chunk<V>::store(dx + V * e, v);
    }
}

// y[A,C,B,D] = x[A,B,C,D]; chunks of V of a D-row (V divides D).
template <int V, typename TY, typename TX>
__global__ void permute_0213_kernel(TY *y, const TX *x, int64_t A, int64_t B, int64_t C, int64_t D) {
    const int64_t chunks = D / V;
    CUDA_GRID_LOOP(e, A * C * B * chunks) {
        int64_t t = e / chunks;
        const int64_t j = (e - t * chunks) * V, b = t % B;
        t /= B;
        const int64_t c = t % C, a = t / C;
        float v[V];
        Chunk<V>::load(x + ((a * B + b) * C + c) * D + j, v);
        Chunk<V>::store(y + V * e, v);
    }
}

// y[b,d] = mean_t x[b,t,d] (one thread per output, coalesced over d).
template <typename TY, typename TX>
__global__ void mean_dim1_kernel(TY *y, const TX *x, int64_t B, int64_t T_, int64_t D) {
    CUDA_GRID_LOOP(e, B * D) {
        const int64_t b = e / D, dd = e % D;
        float s = 0.0f;
        for (int64_t t = 0; t < T_; t++) s += to_f(x[(b * T_ + t) * D + dd]);
        y[e] = from_f<TY>(s / (float)T_);
    }
}

// dx[b,t,d] = dy[b,d] / T.
template <typename TY, typename TX>
__global__ void mean_dim1_bwd_kernel(TY *dx, const TX *dy, int64_t B, int64_t T_, int64_t D) {
    CUDA_GRID_LOOP(e, B * T_ * D) {
        const int64_t dd = e % D, b = e / (T_ * D);
        dx[e] = from_f<TY>(to_f(dy[b * D + dd]) / (float)T_);
    }
}

// ---- image preprocessing ----------------------------------------------------------------

// The normalised value of every byte per channel, [3][256] fp32, built by ops.c with the loader's
// own expression; passed by value (3 KiB of the 4 KiB of kernel parameters) and staged in shared
// memory, where the data-dependent lookups do not serialise as they would in the constant bank.
constexpr int NORM_LUT = 3 * 256;
struct NormLut {
    float v[NORM_LUT];
};

// y[n,c,i] = lut[c][x[n,c,i]] for x U8 [images,3,plane] (n = images*3*plane values). A lookup of
// the host-built table, not a device-side division: --use_fast_math would make x/255 and /std
// approximate, and the point of the op is to give the loader's F32 frames bit for bit.
// vec: plane % 16 == 0 and x, y 16-byte aligned: one 16-byte load of 16 pixels, which never
// straddle two channel planes, and two 8-element stores (store8: float4 x2 or one uint4 of bf16).
template <typename TY>
__global__ void normalize_images_kernel(TY *y, const uint8_t *x, int64_t n, int64_t plane, int vec, NormLut lut) {
    __shared__ float table[NORM_LUT];
    for (int k = threadIdx.x; k < NORM_LUT; k += blockDim.x) table[k] = lut.v[k];
    __syncthreads();
    if (vec) {
        CUDA_GRID_LOOP(v, n / 16) {
            const int64_t i0 = 16 * v;
            const float *l = table + ((i0 / plane) % 3) * 256;
            const uint4 u = *reinterpret_cast<const uint4 *>(x + i0);
            const uint8_t *b = reinterpret_cast<const uint8_t *>(&u);
            float lo[8], hi[8];
#pragma unroll
            for (int k = 0; k < 8; k++) lo[k] = l[b[k]], hi[k] = l[b[8 + k]];
            store8(y + i0, lo);
            store8(y + i0 + 8, hi);
        }
    } else {
        CUDA_GRID_LOOP(i, n) y[i] = from_f<TY>(table[((i / plane) % 3) * 256 + x[i]]);
    }
}

} // namespace

// ---- entry points ----------------------------------------------------------------------------

void cuda_convert(CudaCtx *cx, void *dst, int dst_bf16, const void *src, int src_bf16, int64_t n) {
    if (n <= 0) return;
    if (dst_bf16 == src_bf16) {
        if (dst != src)
            CUDA_CHECK(cudaMemcpyAsync(dst, src, (size_t)n * (dst_bf16 ? 2 : 4), cudaMemcpyDeviceToDevice, cx->stream));
        return;
    }
    FT_DISPATCH(dst_bf16, TY, FT_DISPATCH(src_bf16, TX, map1<TY, TX>(cx, dst, src, n, Identity())));
}

void cu_activation(Ops *ops, Activation act, T y, T x) {
    int yb = cuda_fdtype(y, "activation"), xb = cuda_fdtype(x, "activation");
    int64_t n = tensor_numel(x);
    CudaCtx *cx = cuda_ctx(ops);
    ACT_DISPATCH(act, A, FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX, map1<TY, TX>(cx, y->data, x->data, n, ActFwd<A>()))));
}

void cu_activation_backward(Ops *ops, Activation act, T dx, T dy, T x) {
    const char *op = "activation_backward";
    int dxb = cuda_fdtype(dx, op), dyb = cuda_fdtype(dy, op), xb = cuda_fdtype(x, op);
    int64_t n = tensor_numel(x);
    CudaCtx *cx = cuda_ctx(ops);
    ACT_DISPATCH(act, A,
                 FT_DISPATCH(dxb, TY, FT_DISPATCH(dyb, TA, FT_DISPATCH(xb, TB,
                     map2<TY, TA, TB>(cx, dx->data, dy->data, x->data, n, ActBwd<A>())))));
}

void cu_add(Ops *ops, T y, T a, T b) {
    int yb = cuda_fdtype(y, "add"), ab = cuda_fdtype(a, "add"), bb = cuda_fdtype(b, "add");
    CudaCtx *cx = cuda_ctx(ops);
    int64_t n = tensor_numel(y);
    FT_DISPATCH(yb, TY,
                FT_DISPATCH(ab, TA, FT_DISPATCH(bb, TB, map2<TY, TA, TB>(cx, y->data, a->data, b->data, n, Add()))));
}

void cu_axpy(Ops *ops, T y, float alpha, T x) {
    int yb = cuda_fdtype(y, "axpy"), xb = cuda_fdtype(x, "axpy");
    CudaCtx *cx = cuda_ctx(ops);
    int64_t n = tensor_numel(y);
    Axpy f = {alpha};
    FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX, map2<TY, TY, TX>(cx, y->data, y->data, x->data, n, f)));
}

void cu_scale(Ops *ops, T y, float alpha) {
    int yb = cuda_fdtype(y, "scale");
    Scale f = {alpha};
    FT_DISPATCH(yb, TY, map1<TY, TY>(cuda_ctx(ops), y->data, y->data, tensor_numel(y), f));
}

void cu_axpy_rows(Ops *ops, T y, T w, T x, float beta) {
    const char *op = "axpy_rows";
    int yb = cuda_fdtype(y, op), wb = cuda_fdtype(w, op), xb = cuda_fdtype(x, op);
    CudaCtx *cx = cuda_ctx(ops);
    int64_t rows = tensor_numel(w), n = tensor_numel(y);
    if (n <= 0) return;
    int64_t d = n / rows;
    int vec = d % 8 == 0 && cuda_aligned16(y->data) && cuda_aligned16(x->data);
    unsigned grid = cuda_grid(vec ? n / 8 : n, EW_THREADS);
    FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX,
        axpy_rows_kernel<TY, TX><<<grid, EW_THREADS, 0, cx->stream>>>((TY *)y->data, (const TX *)x->data, w->data, wb,
                                                                      rows, d, beta, vec)));
    CUDA_CHECK_LAUNCH();
}

void cu_add_broadcast(Ops *ops, T y, T p) {
    int yb = cuda_fdtype(y, "add_broadcast"), pb = cuda_fdtype(p, "add_broadcast");
    CudaCtx *cx = cuda_ctx(ops);
    int64_t n = tensor_numel(y), rows = tensor_numel(p);
    if (n <= 0) return;
    int vec = rows % 8 == 0 && cuda_aligned16(y->data) && cuda_aligned16(p->data);
    unsigned grid = cuda_grid(vec ? n / 8 : n, EW_THREADS);
    FT_DISPATCH(yb, TY, FT_DISPATCH(pb, TP,
        add_broadcast_kernel<TY, TP><<<grid, EW_THREADS, 0, cx->stream>>>((TY *)y->data, (const TP *)p->data, n, rows,
                                                                          vec)));
    CUDA_CHECK_LAUNCH();
}

void cu_add_broadcast_backward(Ops *ops, T dp, T dy) {
    // dp[rows] += sum over copies c of dy[c, rows]: a column sum of dy viewed as [copies, rows].
    int dpb = cuda_fdtype(dp, "add_broadcast_backward"), dyb = cuda_fdtype(dy, "add_broadcast_backward");
    int64_t rows = tensor_numel(dp), copies = tensor_numel(dy) / rows;
    cuda_colsum_accumulate(cuda_ctx(ops), dp->data, dpb, dy->data, dyb, copies, rows, rows);
}

void cu_im2col_patches(Ops *ops, T patches, T images, int patch) {
    int yb = cuda_fdtype(patches, "im2col"), xb = cuda_fdtype(images, "im2col");
    CudaCtx *cx = cuda_ctx(ops);
    int64_t batch = images->shape[0], res = images->shape[2], n = tensor_numel(patches);
    if (n <= 0) return;
    CHUNK_DISPATCH(chunk_width(patch, patches->data, images->data), V, FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX,
        im2col_kernel<V, TY, TX><<<cuda_grid(n / V, EW_THREADS), EW_THREADS, 0, cx->stream>>>(
            (TY *)patches->data, (const TX *)images->data, batch, res, (int64_t)patch))));
    CUDA_CHECK_LAUNCH();
}

void cu_normalize_images(Ops *ops, T y, T x, const float *lut) {
    int yb = cuda_fdtype(y, "normalize_images"); // F64 outputs are CPU-only (fatal, naming y)
    CudaCtx *cx = cuda_ctx(ops);
    int64_t n = tensor_numel(x);
    if (n <= 0) return;
    int64_t plane = n / (3 * x->shape[0]);
    NormLut table;
    memcpy(table.v, lut, sizeof table.v);
    int vec = plane % 16 == 0 && cuda_aligned16(x->data) && cuda_aligned16(y->data);
    int64_t work = vec ? n / 16 : n;
    FT_DISPATCH(yb, TY,
        normalize_images_kernel<TY><<<cuda_grid(work, EW_THREADS), EW_THREADS, 0, cx->stream>>>(
            (TY *)y->data, (const uint8_t *)x->data, n, plane, vec, table));
    CUDA_CHECK_LAUNCH();
}

void cu_prepend_token(Ops *ops, T y, T x, T tok) {
    const char *op = "prepend_token";
    int yb = cuda_fdtype(y, op), xb = cuda_fdtype(x, op), tb = cuda_fdtype(tok, op);
    CudaCtx *cx = cuda_ctx(ops);
    int64_t batch = x->shape[0], seq = x->shape[1], d = x->shape[2], n = tensor_numel(y);
    if (n <= 0) return;
    CHUNK_DISPATCH(chunk_width(d, y->data, x->data), V, FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX,
        prepend_kernel<V, TY, TX><<<cuda_grid(n / V, EW_THREADS), EW_THREADS, 0, cx->stream>>>(
            (TY *)y->data, (const TX *)x->data, tok->data, tb, batch, seq, d))));
    CUDA_CHECK_LAUNCH();
}

void cu_prepend_token_backward(Ops *ops, T dx, T dtok, T dy) {
    const char *op = "prepend_token_backward";
    CudaCtx *cx = cuda_ctx(ops);
    int dyb = cuda_fdtype(dy, op);
    int64_t batch = dy->shape[0], seq = dy->shape[1] - 1, d = dy->shape[2];
    int dxb = cuda_fdtype_opt(dx, op);
    if (dxb >= 0 && batch * seq * d > 0) {
        CHUNK_DISPATCH(chunk_width(d, dx->data, dy->data), V, FT_DISPATCH(dxb, TY, FT_DISPATCH(dyb, TX,
            prepend_bwd_kernel<V, TY, TX><<<cuda_grid(batch * seq * d / V, EW_THREADS), EW_THREADS, 0, cx->stream>>>(
                (TY *)dx->data, (const TX *)dy->data, batch, seq, d))));
        CUDA_CHECK_LAUNCH();
    }
    // dtok[D] += sum_b dy[b, 0, :]: rows b of dy with stride (S+1)*D.
    int tkb = cuda_fdtype_opt(dtok, op);
    if (tkb >= 0) cuda_colsum_accumulate(cx, dtok->data, tkb, dy->data, dyb, batch, d, (seq + 1) * d);
}

void cu_permute_0213(Ops *ops, T y, T x) {
    int yb = cuda_fdtype(y, "permute_0213"), xb = cuda_fdtype(x, "permute_0213");
    CudaCtx *cx = cuda_ctx(ops);
    int64_t n = tensor_numel(x);
    if (n <= 0) return;
    CHUNK_DISPATCH(chunk_width(x->shape[3], y->data, x->data), V, FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX,
        permute_0213_kernel<V, TY, TX><<<cuda_grid(n / V, EW_THREADS), EW_THREADS, 0, cx->stream>>>(
            (TY *)y->data, (const TX *)x->data, x->shape[0], x->shape[1], x->shape[2], x->shape[3]))));
    CUDA_CHECK_LAUNCH();
}

void cu_mean_dim1(Ops *ops, T y, T x) {
    int yb = cuda_fdtype(y, "mean_dim1"), xb = cuda_fdtype(x, "mean_dim1");
    CudaCtx *cx = cuda_ctx(ops);
    int64_t B = x->shape[0], Tn = x->shape[1], D = x->shape[2];
    if (B * D <= 0) return;
    FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX,
        mean_dim1_kernel<TY, TX><<<cuda_grid(B * D, EW_THREADS), EW_THREADS, 0, cx->stream>>>(
            (TY *)y->data, (const TX *)x->data, B, Tn, D)));
    CUDA_CHECK_LAUNCH();
}

void cu_mean_dim1_backward(Ops *ops, T dx, T dy) {
    int dxb = cuda_fdtype(dx, "mean_dim1_backward"), dyb = cuda_fdtype(dy, "mean_dim1_backward");
    CudaCtx *cx = cuda_ctx(ops);
    int64_t B = dx->shape[0], Tn = dx->shape[1], D = dx->shape[2];
    if (B * Tn * D <= 0) return;
    FT_DISPATCH(dxb, TY, FT_DISPATCH(dyb, TX,
        mean_dim1_bwd_kernel<TY, TX><<<cuda_grid(B * Tn * D, EW_THREADS), EW_THREADS, 0, cx->stream>>>(
            (TY *)dx->data, (const TX *)dy->data, B, Tn, D)));
    CUDA_CHECK_LAUNCH();
}
