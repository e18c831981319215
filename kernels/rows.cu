// Index-driven row movement: embedding and gather_rows (gathers), scatter_rows
// (overwrite), and the scatter-adds of embedding_backward and
// gather_rows_backward.
//
// Indices live on the device, so they are checked there: an index outside
// [0, limit) skips its row (a gather writes zeros) and sets the context's error
// flag, which the host turns into a fatal message at the next sync point
// (ops_sync, a download, sum_squares).
//
// Duplicate indices without atomics: a links pass gives every position n
// first[n] (no earlier position has the same index) and next[n] (the next
// position with the same index, or -1): one warp per position scans all indices,
// O(N^2 / 32) work, fine for the index counts here (tokens of a prompt batch,
// one row per clip or frame). The scatter-add then lets the first position of
// each index walk its chain in position order and add the rows in fp32 onto the
// destination's value, rounding once: the CPU's serial order, deterministic. The
// overwrite scatter writes from the last position of each chain only (the CPU's
// last-write-wins).
#include <limits.h>

#include "cuda_common.cuh"

namespace {

constexpr int ROW_THREADS = 256;

__global__ void index_links_kernel(const int32_t *idx, int n, int64_t limit, int *first, int *next, int *err,
                                   int code) {
    const int lane = threadIdx.x % 32;
    const int64_t warps = (int64_t)gridDim.x * blockDim.x / 32;
    for (int64_t w = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; w < n; w += warps) {
        const int id = idx[w];
        int has_prev = 0, nxt = INT_MAX;
        for (int m = lane; m < n; m += 32) {
            if (idx[m] != id) continue;
            if (m < w) has_prev = 1;
            else if (m > w && m < nxt) nxt = m;
        }
        has_prev = __any_sync(0xffffffffu, has_prev);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) nxt = min(nxt, __shfl_xor_sync(0xffffffffu, nxt, o));
        if (lane == 0) {
            const int bad = id < 0 || id >= limit;
            if (bad) cuda_report_bad_index(err, code, w, id, limit);
            first[w] = !bad && !has_prev;
            next[w] = nxt == INT_MAX ? -1 : nxt;
        }
    }
}

// y[r, :] = x[idx[r], :] for r < n, rows of d.
template <typename TY, typename TX>
__global__ void gather_kernel(TY *y, const TX *x, const int32_t *idx, int64_t n, int64_t d, int64_t limit, int *err,
                              int code) {
    CUDA_GRID_LOOP(e, n * d) {
        const int64_t r = e / d, j = e % d;
        const int id = idx[r];
        if (id < 0 || id >= limit) {
            if (j == 0) cuda_report_bad_index(err, code, r, id, limit);
            y[e] = from_f<TY>(0.0f);
        } else {
            y[e] = from_f<TY>(to_f(x[(int64_t)id * d + j]));
        }
    }
}

// dst[idx[r], :] += src[r, :] over all r, walking each index's chain from its first position.
template <typename TD, typename TS>
__global__ void scatter_add_kernel(TD *dst, const TS *src, const int32_t *idx, const int *first, const int *next,
                                   int64_t n, int64_t d) {
    CUDA_GRID_LOOP(e, n * d) {
        const int64_t r = e / d, j = e % d;
        if (!first[r]) continue;
        const int64_t o = (int64_t)idx[r] * d + j;
        float s = to_f(dst[o]);
        for (int q = (int)r; q >= 0; q = next[q]) s += to_f(src[(int64_t)q * d + j]);
        dst[o] = from_f<TD>(s);
    }
}

// y[idx[r], :] = x[r, :], written by the last position of each index only.
template <typename TY, typename TX>
__global__ void scatter_set_kernel(TY *y, const TX *x, const int32_t *idx, const int *next, int64_t n, int64_t d,
                                   int64_t limit) {
    CUDA_GRID_LOOP(e, n * d) {
        const int64_t r = e / d, j = e % d;
        const int id = idx[r];
        if (id < 0 || id >= limit || next[r] >= 0) continue;
        y[(int64_t)id * d + j] = from_f<TY>(to_f(x[e]));
    }
}

void gather(CudaCtx *cx, const char *op, int code, T y, T x, T idx, int64_t limit, int64_t d) {
    int yb = cuda_fdtype(y, op), xb = cuda_fdtype(x, op);
    int64_t n = tensor_numel(idx);
    if (n * d <= 0) return;
    FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX,
        gather_kernel<TY, TX><<<cuda_grid(n * d, ROW_THREADS), ROW_THREADS, 0, cx->stream>>>(
            (TY *)y->data, (const TX *)x->data, (const int32_t *)idx->data, n, d, limit, cx->d_err, code)));
    CUDA_CHECK_LAUNCH();
}

// first/next for the n indices (in scratch: first at [0, n), next at [n, 2n)).
int *index_links(CudaCtx *cx, const char *op, int code, T idx, int64_t limit) {
    int64_t n = tensor_numel(idx);
    CHECK(n < INT_MAX, "%s: %lld indices are too many", op, (long long)n);
    int *links = (int *)cuda_scratch(cx, 2 * (size_t)n * sizeof(int));
    index_links_kernel<<<cuda_grid(n * 32, ROW_THREADS), ROW_THREADS, 0, cx->stream>>>(
        (const int32_t *)idx->data, (int)n, limit, links, links + n, cx->d_err, code);
    CUDA_CHECK_LAUNCH();
    return links;
}

void scatter_add(CudaCtx *cx, const char *op, int code, T dst, T src, T idx, int64_t limit, int64_t d) {
    int db = cuda_fdtype(dst, op), sb = cuda_fdtype(src, op);
    int64_t n = tensor_numel(idx);
    if (n * d <= 0) return;
    int *links = index_links(cx, op, code, idx, limit);
    FT_DISPATCH(db, TD, FT_DISPATCH(sb, TS,
        scatter_add_kernel<TD, TS><<<cuda_grid(n * d, ROW_THREADS), ROW_THREADS, 0, cx->stream>>>(
            (TD *)dst->data, (const TS *)src->data, (const int32_t *)idx->data, links, links + n, n, d)));
    CUDA_CHECK_LAUNCH();
}

} // namespace

void cu_embedding(Ops *ops, T y, T table, T ids) {
    gather(cuda_ctx(ops), "embedding", CERR_EMBEDDING, y, table, ids, table->shape[0], table->shape[1]);
}

void cu_gather_rows(Ops *ops, T y, T x, T idx) {
    gather(cuda_ctx(ops), "gather_rows", CERR_GATHER_ROWS, y, x, idx, ops_rows(x), ops_cols(x));
}

void cu_scatter_rows(Ops *ops, T y, T x, T idx) {
    const char *op = "scatter_rows";
    CudaCtx *cx = cuda_ctx(ops);
    int yb = cuda_fdtype(y, op), xb = cuda_fdtype(x, op);
    int64_t n = tensor_numel(idx), d = ops_cols(y), limit = ops_rows(y);
    if (n * d <= 0) return;
    int *links = index_links(cx, op, CERR_SCATTER_ROWS, idx, limit);
    FT_DISPATCH(yb, TY, FT_DISPATCH(xb, TX,
        scatter_set_kernel<TY, TX><<<cuda_grid(n * d, ROW_THREADS), ROW_THREADS, 0, cx->stream>>>(
            (TY *)y->data, (const TX *)x->data, (const int32_t *)idx->data, links + n, n, d, limit)));
    CUDA_CHECK_LAUNCH();
}

void cu_embedding_backward(Ops *ops, T dtable, T dy, T ids) {
    scatter_add(cuda_ctx(ops), "embedding_backward", CERR_EMBEDDING_BWD, dtable, dy, ids, dtable->shape[0],
                dtable->shape[1]);
}

void cu_gather_rows_backward(Ops *ops, T dx, T dy, T idx) {
    scatter_add(cuda_ctx(ops), "gather_rows_backward", CERR_GATHER_ROWS_BWD, dx, dy, idx, ops_rows(dx), ops_cols(dx));
}
