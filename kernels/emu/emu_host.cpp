// Host-side pieces the kernel test (run.sh) needs: the memory hooks of emu_common.h (host
// buffers stand in for device memory: nothing to check), the core/ and cuda_ops.cu helpers.
#include "emu_common.h"
#include <cstdio>
#include <cstdlib>
#include <cstdarg>
#include <cstdint>

size_t emu_smem_optin(const void *) { return SIZE_MAX; } // cudaFuncSetAttribute is a no-op macro here
void emu_check_kernel_pointer(const char *, int, const void *) {}
void emu_device_access(bool) {}
void emu_check_device_range(const char *, const void *, size_t) {}
void emu_stream_order(cudaStream_t) {}

extern "C" {
void dfer_fatal(const char *file, int line, const char *func, const char *stmt, const char *fmt, ...) {
    fprintf(stderr, "FATAL %s:%d %s `%s`: ", file, line, func, stmt);
    va_list ap; va_start(ap, fmt); vfprintf(stderr, fmt, ap); va_end(ap);
    fprintf(stderr, "\n");
    exit(2);
}
size_t dtype_size(DType t) { return t == DT_F32 ? 4 : t == DT_BF16 ? 2 : t == DT_F64 ? 8 : t == DT_I32 ? 4 : 1; }
const char *dtype_name(DType t) {
    return t == DT_F32 ? "F32" : t == DT_BF16 ? "BF16" : t == DT_F64 ? "F64" : t == DT_I32 ? "I32" : "?";
}
int64_t tensor_numel(const Tensor *t) { int64_t n = 1; for (int i = 0; i < t->ndim; i++) n *= t->shape[i]; return n; }
size_t tensor_bytes(const Tensor *t) { return (size_t)tensor_numel(t) * dtype_size(t->dtype); }
void *xmalloc(size_t n) { void *p = malloc(n ? n : 1); if (!p) abort(); return p; }
// ops.c's formula (attention.cu asks it for the CUDA layout): CPU probabilities [B,H,S,S] in double;
// CUDA lse and Delta, F32 [2,B,H,S]
size_t ops_attention_saved_bytes_for(Backend backend, int64_t batch, int64_t seq, int heads) {
    size_t rows = (size_t)batch * (size_t)heads * (size_t)seq;
    return backend == BACKEND_CPU ? rows * (size_t)seq * sizeof(double) : 2 * rows * sizeof(float);
}
}

int cuda_fdtype(T t, const char *op) {
    if (t->dtype == DT_BF16) return 1;
    if (t->dtype == DT_F32) return 0;
    DFER_FATAL("dtype", "%s: tensor %s has dtype %s", op, cuda_tname(t), dtype_name(t->dtype));
}
int cuda_fdtype_opt(T t, const char *op) { return t && t->data ? cuda_fdtype(t, op) : -1; }
void cuda_require_f32(T t, const char *op) { CHECK(t->dtype == DT_F32, "%s: %s not F32", op, cuda_tname(t)); }
unsigned cuda_grid(int64_t n, int threads) {
    int64_t blocks = (n + threads - 1) / threads;
    const int64_t cap = 4; // small cap in emulation: exercises the grid-stride loops
    return (unsigned)(blocks < 1 ? 1 : blocks > cap ? cap : blocks);
}
void *cuda_scratch(CudaCtx *cx, size_t bytes) {
    if (bytes <= cx->scratch_bytes) return cx->scratch;
    free(cx->scratch);
    cx->scratch = malloc(bytes);
    memset(cx->scratch, 0x7f, bytes);
    cx->scratch_bytes = bytes;
    return cx->scratch;
}
// Like cuda_scratch: fresh contents are garbage (0x7f bytes), so a buffer the gemm path reads
// before writing shows.
void *cuda_attn_workspace(CudaCtx *cx, size_t bytes) {
    if (bytes <= cx->attn_ws_bytes) return cx->attn_ws;
    free(cx->attn_ws);
    cx->attn_ws = aligned_alloc(256, (bytes + 255) / 256 * 256); // cudaMalloc's alignment
    memset(cx->attn_ws, 0x7f, bytes);
    cx->attn_ws_bytes = bytes;
    return cx->attn_ws;
}
void cuda_check_device_errors(CudaCtx *cx) {
    if (cx->d_err[0])
        DFER_FATAL("device index check", "code %d index %d at %d limit %d", cx->d_err[0], cx->d_err[2], cx->d_err[1],
                   cx->d_err[3]);
}
