// Deterministic column sums (bias gradients, add_broadcast_backward, the class
// token's gradient): out[j] += sum_r src[r * row_stride + j].
//
// Two passes, no atomics: pass 1 splits the rows into `chunks` fixed ranges and
// one thread per (column, chunk) sums its range in fp32, in row order, into
// partial[chunk][col] (scratch); pass 2 sums each column's partials in chunk
// order and adds the result into out (rounded once to out's dtype). The split
// depends only on (nrows, ncols), so results are bitwise repeatable on any GPU.
#include "cuda_common.cuh"

namespace {

constexpr int COLSUM_THREADS = 256;

template <typename TS>
__global__ void colsum_partial_kernel(float *partial, const TS *src, int64_t nrows, int64_t ncols, int64_t row_stride,
                                      int64_t rows_per_chunk) {
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t chunk = blockIdx.y;
    if (j >= ncols) return;
    int64_t r0 = chunk * rows_per_chunk, r1 = r0 + rows_per_chunk < nrows ? r0 + rows_per_chunk : nrows;
    float s = 0.0f;
    for (int64_t r = r0; r < r1; r++) s += to_f(src[r * row_stride + j]); // coalesced over j
    partial[chunk * ncols + j] = s;
}

__global__ void colsum_finish_kernel(void *out, int out_bf16, const float *partial, int64_t chunks, int64_t ncols,
                                     float scale) {
    CUDA_GRID_LOOP(j, ncols) {
        float s = 0.0f;
        for (int64_t c = 0; c < chunks; c++) s += partial[c * ncols + j];
        store_f(out, out_bf16, j, load_f(out, out_bf16, j) + scale * s);
    }
}

} // namespace

void cuda_colsum_plan(int64_t nrows, int64_t ncols, int64_t *rows_per_chunk, int64_t *chunks) {
    // Aim for about 1024 blocks in pass 1, at least 16 rows per chunk, at most 8192 chunks
    // (gridDim.y <= 65535). Device-independent on purpose (repeatability across GPU types).
    int64_t col_blocks = (ncols + COLSUM_THREADS - 1) / COLSUM_THREADS;
    int64_t want = 1024 / (col_blocks > 0 ? col_blocks : 1);
    int64_t by_rows = (nrows + 15) / 16;
    int64_t c = want < by_rows ? want : by_rows;
    if (c > 8192) c = 8192;
    if (c < 1) c = 1;
    int64_t rpc = (nrows + c - 1) / c;
    if (rpc < 1) rpc = 1;
    *rows_per_chunk = rpc;
    *chunks = (nrows + rpc - 1) / rpc;
}

void cuda_colsum_finish(CudaCtx *cx, void *out, int out_bf16, const float *partial, int64_t chunks, int64_t ncols,
                        float scale) {
    colsum_finish_kernel<<<cuda_grid(ncols, 256), 256, 0, cx->stream>>>(out, out_bf16, partial, chunks, ncols, scale);
    CUDA_CHECK_LAUNCH();
}

void cuda_colsum_accumulate(CudaCtx *cx, void *out, int out_bf16, const void *src, int src_bf16, int64_t nrows,
                            int64_t ncols, int64_t row_stride) {
    cuda_colsum_accumulate_scaled(cx, out, out_bf16, src, src_bf16, nrows, ncols, row_stride, 1.0f);
}

void cuda_colsum_accumulate_scaled(CudaCtx *cx, void *out, int out_bf16, const void *src, int src_bf16, int64_t nrows,
                                   int64_t ncols, int64_t row_stride, float scale) {
    if (nrows <= 0 || ncols <= 0) return;
    int64_t rpc, chunks;
    cuda_colsum_plan(nrows, ncols, &rpc, &chunks);
    float *partial = (float *)cuda_scratch(cx, (size_t)(chunks * ncols) * sizeof(float));
    int64_t col_blocks = (ncols + COLSUM_THREADS - 1) / COLSUM_THREADS;
    CHECK(col_blocks <= 2147483647, "column sum: %lld columns are too many", (long long)ncols);
    dim3 grid((unsigned)col_blocks, (unsigned)chunks);
    FT_DISPATCH(src_bf16, TS,
                colsum_partial_kernel<TS><<<grid, COLSUM_THREADS, 0, cx->stream>>>(partial, (const TS *)src, nrows,
                                                                                  ncols, row_stride, rpc));
    CUDA_CHECK_LAUNCH();
    cuda_colsum_finish(cx, out, out_bf16, partial, chunks, ncols, scale);
}
