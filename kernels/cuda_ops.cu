// The CUDA backend's context, memory functions and op table. The ops
// themselves live in gemm.cu, attention*.cu, adapter.cu, layernorm.cu, elementwise.cu,
// rows.cu, reduce.cu and loss_optim.cu; every op is queued on the context's one
// non-blocking stream, and only downloads, sum_squares, ops_sync and uploads from pageable
// host memory wait for it. Prefetches (the next batch's pixels) run on a second stream, the
// copy engine's, ordered against the first by events.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"
#include "kernels/cuda_api.h"

// ---- host helpers -------------------------------------------------------------------------

int cuda_fdtype(T t, const char *op) {
    if (t->dtype == DT_BF16) return 1;
    if (t->dtype == DT_F32) return 0;
    DFER_FATAL("dtype", "%s: tensor %s has dtype %s; the CUDA backend takes F32 or BF16 floating operands", op,
               cuda_tname(t), dtype_name(t->dtype));
}

int cuda_fdtype_opt(T t, const char *op) { return t && t->data ? cuda_fdtype(t, op) : -1; }

void cuda_require_f32(T t, const char *op) {
    CHECK(t->dtype == DT_F32, "%s: tensor %s has dtype %s; optimiser updates take F32 only", op, cuda_tname(t),
          dtype_name(t->dtype));
}

unsigned cuda_grid(int64_t n, int threads) {
    // Enough blocks to fill any current GPU several times over; the kernels loop
    // grid-stride past that, so the cap only bounds launch size.
    int64_t blocks = (n + threads - 1) / threads;
    const int64_t cap = 65536;
    return (unsigned)(blocks < 1 ? 1 : blocks > cap ? cap : blocks);
}

// Grows a device buffer of the context to `want` bytes (what: its name in the error).
static void *grow_device_buffer(CudaCtx *cx, void **buf, size_t *have, size_t want, const char *what) {
    if (*buf) {
        // Work already queued may still use the old buffer.
        CUDA_CHECK(cudaStreamSynchronize(cx->stream));
        CUDA_CHECK(cudaFree(*buf));
        *buf = NULL;
        *have = 0;
    }
    cudaError_t e = cudaMalloc(buf, want);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
        DFER_FATAL("cudaMalloc", "cannot allocate %zu bytes for the %s (%s); %.1f of %.1f GiB free", want, what,
                   cudaGetErrorString(e), free_b / 1073741824.0, total_b / 1073741824.0);
    }
    *have = want;
    return *buf;
}

void *cuda_scratch(CudaCtx *cx, size_t bytes) {
    if (bytes <= cx->scratch_bytes) return cx->scratch;
    return grow_device_buffer(cx, &cx->scratch, &cx->scratch_bytes, cuda_align_up(bytes + bytes / 4, (size_t)1 << 20),
                              "backend's scratch");
}

void *cuda_attn_workspace(CudaCtx *cx, size_t bytes) {
    if (bytes <= cx->attn_ws_bytes) return cx->attn_ws;
    // Callers ask for at most the cap; the default one (CUDA_ATTN_WORKSPACE_CAP) is a multiple of
    // 1 MiB, so rounding up to 1 MiB stays under it.
    return grow_device_buffer(cx, &cx->attn_ws, &cx->attn_ws_bytes, cuda_align_up(bytes, (size_t)1 << 20),
                              "attention workspace (DFER_ATTENTION=tiled needs none)");
}

// DFER_ADAPTER's values, indexed by CudaCtx.adapter_fused.
static const char *const k_adapter_path_names[] = {"composed", "fused"};
static int adapter_path_parse(const char *v) {
    for (int p = 0; p < 2; p++)
        if (!strcmp(v, k_adapter_path_names[p])) return p;
    return -1;
}

// DFER_ATTENTION's values, indexed by CudaAttnPath.
static const char *const k_attn_path_names[] = {"gemm", "tiled", "flash"};
enum { ATTN_PATHS = sizeof k_attn_path_names / sizeof k_attn_path_names[0] };

// A path's name as a CudaAttnPath; -1 for anything else.
static int attn_path_parse(const char *v) {
    for (int p = 0; p < ATTN_PATHS; p++)
        if (!strcmp(v, k_attn_path_names[p])) return p;
    return -1;
}

static const char *err_code_op(int code) {
    switch (code) {
    case CERR_EMBEDDING: return "embedding";
    case CERR_GATHER_ROWS: return "gather_rows";
    case CERR_SCATTER_ROWS: return "scatter_rows";
    case CERR_EMBEDDING_BWD: return "embedding_backward";
    case CERR_GATHER_ROWS_BWD: return "gather_rows_backward";
    case CERR_CROSS_ENTROPY: return "cross_entropy (label)";
    default: return "unknown op";
    }
}

void cuda_check_device_errors(CudaCtx *cx) {
    int h[4] = {0, 0, 0, 0};
    CUDA_CHECK(cudaMemcpyAsync(h, cx->d_err, sizeof h, cudaMemcpyDeviceToHost, cx->stream));
    CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    if (h[0] != CERR_NONE)
        DFER_FATAL("device index check", "%s: index %d at position %d is outside [0, %d) (found on the GPU; the op "
                   "skipped that row)", err_code_op(h[0]), h[2], h[1], h[3]);
}

// ---- memory -----------------------------------------------------------------------------------

static void *cu_alloc(Ops *ops, size_t bytes) {
    (void)ops;
    if (bytes == 0) return NULL;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
        DFER_FATAL("cudaMalloc", "cannot allocate %zu bytes (%.2f GiB): %s; %.2f of %.2f GiB free on the device", bytes,
                   bytes / 1073741824.0, cudaGetErrorString(e), free_b / 1073741824.0, total_b / 1073741824.0);
    }
    return p;
}

static void cu_free(Ops *ops, void *p) {
    if (!p) return;
    // Queued kernels may still use p.
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx(ops)->stream));
    CUDA_CHECK(cudaFree(p));
}

// Page-locked host memory (ops_alloc_host): the loader's batch buffers. cudaHostAllocPortable:
// usable from any context of the process.
static void *cu_alloc_host(Ops *ops, size_t bytes) {
    (void)ops;
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocPortable);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        DFER_FATAL("cudaHostAlloc", "cannot allocate %zu bytes (%.2f GiB) of page-locked host memory: %s", bytes,
                   bytes / 1073741824.0, cudaGetErrorString(e));
    }
    return p;
}

static void cu_free_host(Ops *ops, void *p) {
    // A queued upload or prefetch may still read p.
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx(ops)->stream));
    CUDA_CHECK(cudaStreamSynchronize(cuda_ctx(ops)->copy_stream));
    CUDA_CHECK(cudaFreeHost(p));
}

// Whether src lies in page-locked host memory (cudaHostAlloc or cudaHostRegister). Pageable
// memory reads as cudaMemoryTypeUnregistered (CUDA 11+).
static int host_pinned(const void *src) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, src) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return a.type == cudaMemoryTypeHost;
}

// From page-locked memory the copy is a DMA queued on the stream, and the host goes on queuing
// the kernels that consume it (ops.h: the caller leaves the source alone until the next
// download or sync). Pageable buffers: copy on the stream and wait, so the caller may reuse them.
static void cu_upload(Ops *ops, void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    CudaCtx *cx = cuda_ctx(ops);
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cx->stream));
    if (!host_pinned(src)) CUDA_CHECK(cudaStreamSynchronize(cx->stream));
}

// ---- prefetch: the copy stream (ops.h ops_prefetch_*) ------------------------------------------------

// dst may still be read by compute queued before this call (the batch before last lived there): the copy
// waits for it on the device, not on the host.
static void cu_prefetch_upload(Ops *ops, void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    CudaCtx *cx = cuda_ctx(ops);
    if (!host_pinned(src)) {
        // Pageable memory: no DMA from it; the compute stream's upload waits, so it is done here.
        cu_upload(ops, dst, src, bytes);
        return;
    }
    CUDA_CHECK(cudaEventRecord(cx->prefetch_after_compute, cx->stream));
    CUDA_CHECK(cudaStreamWaitEvent(cx->copy_stream, cx->prefetch_after_compute, 0));
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cx->copy_stream));
    CUDA_CHECK(cudaEventRecord(cx->prefetch_done, cx->copy_stream));
    cx->prefetch_pending = 1;
}

static void cu_prefetch_join(Ops *ops) {
    CudaCtx *cx = cuda_ctx(ops);
    if (cx->prefetch_pending) CUDA_CHECK(cudaStreamWaitEvent(cx->stream, cx->prefetch_done, 0));
}

static void cu_prefetch_wait_host(Ops *ops) {
    CudaCtx *cx = cuda_ctx(ops);
    if (!cx->prefetch_pending) return;
    CUDA_CHECK(cudaEventSynchronize(cx->prefetch_done));
    cx->prefetch_pending = 0;
}

static int cu_is_device_memory(Ops *ops, const void *p) {
    (void)ops;
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return a.type == cudaMemoryTypeDevice;
}

static void cu_download(Ops *ops, void *dst, const void *src, size_t bytes) {
    CudaCtx *cx = cuda_ctx(ops);
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cx->stream));
    CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    cuda_check_device_errors(cx);
}

static void cu_zero(Ops *ops, T t) {
    size_t bytes = tensor_bytes(t);
    if (!t->data || !bytes) return;
    CUDA_CHECK(cudaMemsetAsync(t->data, 0, bytes, cuda_ctx(ops)->stream));
}

static void cu_copy(Ops *ops, void *dst, const void *src, size_t bytes) {
    if (!bytes || dst == src) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_ctx(ops)->stream));
}

static void cu_sync(Ops *ops) {
    CudaCtx *cx = cuda_ctx(ops);
    CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    cuda_check_device_errors(cx);
}

// ---- op timing marks (ops_profile.c): events on the stream -------------------------------------------

static void *cu_mark(Ops *ops) {
    CudaCtx *cx = cuda_ctx(ops);
    cudaEvent_t e;
    if (cx->spare_count) e = cx->spare_events[--cx->spare_count];
    else CUDA_CHECK(cudaEventCreate(&e));
    CUDA_CHECK(cudaEventRecord(e, cx->stream));
    return (void *)e;
}

static double cu_mark_elapsed_ms(Ops *ops, void *from, void *to) {
    (void)ops;
    CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)to));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, (cudaEvent_t)from, (cudaEvent_t)to));
    return ms;
}

static void cu_mark_free(Ops *ops, void *mark) {
    CudaCtx *cx = cuda_ctx(ops);
    if (cx->spare_count == cx->spare_cap) {
        int cap = cx->spare_cap ? 2 * cx->spare_cap : 256;
        cudaEvent_t *grown = (cudaEvent_t *)realloc(cx->spare_events, (size_t)cap * sizeof *grown);
        if (!grown) DFER_FATAL("realloc", "out of host memory for %d timing events", cap);
        cx->spare_events = grown, cx->spare_cap = cap;
    }
    cx->spare_events[cx->spare_count++] = (cudaEvent_t)mark;
}

// ---- the table --------------------------------------------------------------------------------

// Filled by name (C++17 has no designated initialisers).
static OpsVtable k_cuda_vtable;

static void fill_vtable(OpsVtable *v) {
    v->alloc = cu_alloc;
    v->free = cu_free;
    v->upload = cu_upload;
    v->download = cu_download;
    v->zero = cu_zero;
    v->copy = cu_copy;
    v->sync = cu_sync;
    v->alloc_host = cu_alloc_host;
    v->free_host = cu_free_host;
    v->prefetch_upload = cu_prefetch_upload;
    v->prefetch_join = cu_prefetch_join;
    v->prefetch_wait_host = cu_prefetch_wait_host;
    v->is_device_memory = cu_is_device_memory;
    v->linear = cu_linear;
    v->matmul = cu_matmul;
    v->layernorm = cu_layernorm;
    v->activation = cu_activation;
    v->add = cu_add;
    v->axpy = cu_axpy;
    v->axpy_rows = cu_axpy_rows;
    v->add_broadcast = cu_add_broadcast;
    v->attention = cu_attention;
    v->attention_saved_bytes = cu_attention_saved_bytes;
    v->embedding = cu_embedding;
    v->gather_rows = cu_gather_rows;
    v->scatter_rows = cu_scatter_rows;
    v->im2col_patches = cu_im2col_patches;
    v->normalize_images = cu_normalize_images;
    v->prepend_token = cu_prepend_token;
    v->l2_normalize = cu_l2_normalize;
    v->permute_0213 = cu_permute_0213;
    v->mean_dim1 = cu_mean_dim1;
    v->scale = cu_scale;
    v->cross_entropy = cu_cross_entropy;
    v->sum_squares = cu_sum_squares;
    v->adapter = cu_adapter;
    v->sgd_update = cu_sgd_update;
    v->adamw_update = cu_adamw_update;
    v->linear_backward = cu_linear_backward;
    v->layernorm_backward = cu_layernorm_backward;
    v->activation_backward = cu_activation_backward;
    v->attention_backward = cu_attention_backward;
    v->embedding_backward = cu_embedding_backward;
    v->gather_rows_backward = cu_gather_rows_backward;
    v->prepend_token_backward = cu_prepend_token_backward;
    v->add_broadcast_backward = cu_add_broadcast_backward;
    v->l2_normalize_backward = cu_l2_normalize_backward;
    v->mean_dim1_backward = cu_mean_dim1_backward;
    v->adapter_backward = cu_adapter_backward;
    v->mark = cu_mark;
    v->mark_elapsed_ms = cu_mark_elapsed_ms;
    v->mark_free = cu_mark_free;
}

// ---- init / release -----------------------------------------------------------------------------

static void ctx_destroy(CudaCtx *cx) {
    // Teardown of a half-built context: errors are ignored (this also runs when init failed).
    if (cx->stream) (void)cudaStreamSynchronize(cx->stream);
    if (cx->copy_stream) (void)cudaStreamSynchronize(cx->copy_stream);
    cuda_gemm_release(cx);
    if (cx->lt) (void)cublasLtDestroy(cx->lt);
    if (cx->workspace) (void)cudaFree(cx->workspace);
    if (cx->scratch) (void)cudaFree(cx->scratch);
    if (cx->attn_ws) (void)cudaFree(cx->attn_ws);
    if (cx->d_err) (void)cudaFree(cx->d_err);
    for (int i = 0; i < cx->spare_count; i++) (void)cudaEventDestroy(cx->spare_events[i]);
    free(cx->spare_events);
    if (cx->prefetch_after_compute) (void)cudaEventDestroy(cx->prefetch_after_compute);
    if (cx->prefetch_done) (void)cudaEventDestroy(cx->prefetch_done);
    if (cx->copy_stream) (void)cudaStreamDestroy(cx->copy_stream);
    if (cx->stream) (void)cudaStreamDestroy(cx->stream);
    (void)cudaGetLastError();
    free(cx);
}

// Initialisation failures are reported, not fatal: `--device auto` falls back to the CPU.
#define INIT_TRY(expr, what)                                                                     \
    do {                                                                                         \
        cudaError_t e_ = (expr);                                                                 \
        if (e_ != cudaSuccess) {                                                                 \
            (void)cudaGetLastError();                                                            \
            ctx_destroy(cx);                                                                     \
            return err_set(err, "CUDA backend: %s failed: %s", what, cudaGetErrorString(e_));    \
        }                                                                                        \
    } while (0)

extern "C" int cuda_ops_init(Ops *ops, Err *err) {
    // DFER_ATTENTION = gemm (default: cuBLASLt tensor-core GEMMs) | tiled (the flash-style
    // kernels on CUDA cores) | flash (FlashAttention-2 on the tensor cores, attention_flash.cu);
    // read once, here. Unset or empty means the default; another value is fatal.
    int attn_path = CUDA_ATTN_GEMM;
    const char *attn_env = getenv("DFER_ATTENTION");
    if (attn_env && *attn_env) {
        attn_path = attn_path_parse(attn_env);
        if (attn_path < 0)
            DFER_FATAL("DFER_ATTENTION", "DFER_ATTENTION=%s: the attention path must be gemm, tiled or flash",
                       attn_env);
    }
    // DFER_ADAPTER = composed (default: ops_adapter.c's sequence of cuBLASLt GEMMs and elementwise
    // passes, measured on a GPU) | fused (adapter.cu's kernels where they serve; checked on the emulated
    // GPU, to become the default once a GPU run has compared them). Read once, here.
    int adapter_fused = 0;
    const char *adapter_env = getenv("DFER_ADAPTER");
    if (adapter_env && *adapter_env) {
        adapter_fused = adapter_path_parse(adapter_env);
        if (adapter_fused < 0)
            DFER_FATAL("DFER_ADAPTER", "DFER_ADAPTER=%s: the adapter path must be composed or fused", adapter_env);
    }
    CudaCtx *cx = (CudaCtx *)calloc(1, sizeof *cx);
    if (!cx) return err_set(err, "CUDA backend: out of host memory");
    cx->attn_path = attn_path;
    cx->adapter_fused = adapter_fused;
    cx->attn_ws_cap = CUDA_ATTN_WORKSPACE_CAP;
    INIT_TRY(cudaGetDevice(&cx->device), "cudaGetDevice");
    INIT_TRY(cudaDeviceGetAttribute(&cx->sm_count, cudaDevAttrMultiProcessorCount, cx->device),
             "cudaDeviceGetAttribute");
    INIT_TRY(cudaStreamCreateWithFlags(&cx->stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    INIT_TRY(cudaStreamCreateWithFlags(&cx->copy_stream, cudaStreamNonBlocking),
             "cudaStreamCreateWithFlags (the copy stream)");
    // Ordering only: no timestamps, so recording and waiting stay cheap.
    INIT_TRY(cudaEventCreateWithFlags(&cx->prefetch_after_compute, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    INIT_TRY(cudaEventCreateWithFlags(&cx->prefetch_done, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    cublasStatus_t s = cublasLtCreate(&cx->lt);
    if (s != CUBLAS_STATUS_SUCCESS) {
        cx->lt = NULL;
        ctx_destroy(cx);
        return err_set(err, "CUDA backend: cublasLtCreate failed: %s", cublasGetStatusString(s));
    }
    cx->workspace_bytes = (size_t)32 << 20;
    INIT_TRY(cudaMalloc(&cx->workspace, cx->workspace_bytes), "cudaMalloc of the 32 MiB cuBLASLt workspace");
    INIT_TRY(cudaMalloc((void **)&cx->d_err, 4 * sizeof(int)), "cudaMalloc of the error flag");
    INIT_TRY(cudaMemsetAsync(cx->d_err, 0, 4 * sizeof(int), cx->stream), "cudaMemsetAsync");
    INIT_TRY(cudaStreamSynchronize(cx->stream), "cudaStreamSynchronize");

    char dev[128];
    dfer_cuda_describe(cx->device, dev, (int)sizeof dev);
    fill_vtable(&k_cuda_vtable);
    ops->vt = &k_cuda_vtable;
    ops->impl = cx;
    ops->threads = 1;
    snprintf(ops->desc, sizeof ops->desc, "cuda (%s, cuBLASLt)", dev);
    return 0;
}

// Whether ops is a context of this backend (by its backend, not its table, which ops_profile_start wraps;
// a counting context stands in for CUDA without being one).
static int is_cuda_context(const Ops *ops) {
    return ops && ops->backend == BACKEND_CUDA && !ops->counting && ops->impl;
}

extern "C" int dfer_cuda_set_attention(Ops *ops, const char *path, size_t workspace_cap) {
    if (!is_cuda_context(ops)) return -1;
    int p = attn_path_parse(path ? path : "");
    CHECK(p >= 0, "dfer_cuda_set_attention: path '%s' is not gemm, tiled or flash", path ? path : "(null)");
    CudaCtx *cx = cuda_ctx(ops);
    cx->attn_path = p;
    cx->attn_ws_cap = workspace_cap ? workspace_cap : CUDA_ATTN_WORKSPACE_CAP;
    return 0;
}

extern "C" const char *dfer_cuda_attention_path(Ops *ops) {
    if (!is_cuda_context(ops)) return NULL;
    const int p = cuda_ctx(ops)->attn_path;
    return p >= 0 && p < ATTN_PATHS ? k_attn_path_names[p] : "?";
}

extern "C" int dfer_cuda_set_adapter(Ops *ops, const char *path) {
    if (!is_cuda_context(ops)) return -1;
    int p = adapter_path_parse(path ? path : "");
    CHECK(p >= 0, "dfer_cuda_set_adapter: path '%s' is not composed or fused", path ? path : "(null)");
    cuda_ctx(ops)->adapter_fused = p;
    return 0;
}

extern "C" const char *dfer_cuda_adapter_path(Ops *ops) {
    if (!is_cuda_context(ops)) return NULL;
    return k_adapter_path_names[cuda_ctx(ops)->adapter_fused ? 1 : 0];
}

extern "C" int dfer_cuda_gemm_stats(Ops *ops, DferGemmStats *s) {
    if (!is_cuda_context(ops)) return -1;
    const CudaCtx *cx = cuda_ctx(ops);
    *s = DferGemmStats{cx->plan_count, cx->plan_misses, cx->plan_evictions, cx->plan_split_k, cx->plan_mask_retries};
    return 0;
}

extern "C" void cuda_ops_release(Ops *ops) {
    CudaCtx *cx = cuda_ctx(ops);
    if (!cx) return;
    CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    CUDA_CHECK(cudaStreamSynchronize(cx->copy_stream));
    ctx_destroy(cx);
    ops->impl = NULL;
}
