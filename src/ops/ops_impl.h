/* For backends only: the table of functions a backend provides. ops.c checks
 * arguments and shapes once for all backends, then calls through this table
 * with the same tensors; backends read the dtypes from them (ops.h states
 * the mixed-precision contract both follow). */
#ifndef DFER_OPS_IMPL_H
#define DFER_OPS_IMPL_H

#include "ops/ops.h"

typedef const Tensor *T;

typedef struct OpsVtable {
    void *(*alloc)(Ops *ops, size_t bytes);
    void (*free)(Ops *ops, void *ptr);
    void (*upload)(Ops *ops, void *dst, const void *src, size_t bytes);
    void (*download)(Ops *ops, void *dst, const void *src, size_t bytes);
    void (*zero)(Ops *ops, T t);
    void (*copy)(Ops *ops, void *dst, const void *src, size_t bytes); /* device to device */
    void (*sync)(Ops *ops);
    /* page-locked host memory (ops_alloc_host); NULL: plain aligned host memory */
    void *(*alloc_host)(Ops *ops, size_t bytes);
    void (*free_host)(Ops *ops, void *ptr);
    /* ops_prefetch_* (ops.h). NULL on a backend without a copy engine: prefetch_upload is upload and
     * the other two do nothing (its uploads are done when they return). */
    void (*prefetch_upload)(Ops *ops, void *dst, const void *src, size_t bytes);
    void (*prefetch_join)(Ops *ops);
    void (*prefetch_wait_host)(Ops *ops);
    /* 1 when p lies in memory this context's alloc returned on a device (NULL: never, the CPU) */
    int (*is_device_memory)(Ops *ops, const void *p);

    void (*linear)(Ops *ops, T y, T x, T w, T b /* may be NULL */);
    void (*matmul)(Ops *ops, T c, T a, T b, int trans_a, int trans_b, float alpha, float beta);
    void (*layernorm)(Ops *ops, T y, T mean, T rstd, T x, T g, T b, float eps);
    void (*activation)(Ops *ops, Activation act, T y, T x);
    void (*add)(Ops *ops, T y, T a, T b);
    void (*axpy)(Ops *ops, T y, float alpha, T x);
    void (*axpy_rows)(Ops *ops, T y, T w, T x, float beta);
    void (*add_broadcast)(Ops *ops, T y, T p);
    void (*attention)(Ops *ops, T out, T saved, T qkv, int heads, int causal);
    size_t (*attention_saved_bytes)(int64_t batch, int64_t seq, int heads);
    void (*embedding)(Ops *ops, T y, T table, T ids);
    void (*gather_rows)(Ops *ops, T y, T x, T idx);
    void (*scatter_rows)(Ops *ops, T y, T x, T idx);
    void (*im2col_patches)(Ops *ops, T patches, T images, int patch);
    /* y[i] = lut[c][x[i]] for x U8 [N,3,plane] (channel c of image n), y F32/BF16/F64 [N,3,plane]:
     * ops.c fills lut [3][256] with the normalised value of every byte, in fp32 */
    void (*normalize_images)(Ops *ops, T y, T x, const float *lut);
    void (*prepend_token)(Ops *ops, T y, T x, T tok);
    void (*l2_normalize)(Ops *ops, T y, T x, float eps);
    void (*permute_0213)(Ops *ops, T y, T x);
    void (*mean_dim1)(Ops *ops, T y, T x);
    void (*scale)(Ops *ops, T y, float alpha);
    void (*cross_entropy)(Ops *ops, T loss, T dlogits, T logits, T labels, float grad_scale);
    double (*sum_squares)(Ops *ops, T x);
    void (*adapter)(Ops *ops, T out, T x, const AdapterWeights *w, T res, AdapterForm form, T scratch);

    void (*sgd_update)(Ops *ops, T w, T g, T buf, float lr, float momentum, float wd, int first);
    void (*adamw_update)(Ops *ops, T w, T g, T m, T v, float lr, float b1, float b2, float eps, float wd, int step);

    /* backward */
    void (*linear_backward)(Ops *ops, T dx, T dw, T db, T dy, T x, T w, int accumulate);
    void (*layernorm_backward)(Ops *ops, T dx, T dg, T db, T dy, T x, T mean, T rstd, T g, int accumulate);
    void (*activation_backward)(Ops *ops, Activation act, T dx, T dy, T x);
    void (*attention_backward)(Ops *ops, T dqkv, T dout, T qkv, T saved, int heads, int causal);
    void (*embedding_backward)(Ops *ops, T dtable, T dy, T ids);
    void (*gather_rows_backward)(Ops *ops, T dx, T dy, T idx);
    void (*prepend_token_backward)(Ops *ops, T dx, T dtok, T dy);
    void (*add_broadcast_backward)(Ops *ops, T dp, T dy);
    void (*l2_normalize_backward)(Ops *ops, T dx, T dy, T x, float eps);
    void (*mean_dim1_backward)(Ops *ops, T dx, T dy);
    void (*adapter_backward)(Ops *ops, T dx, const AdapterWeights *g, T dout, T x, const AdapterWeights *w,
                             AdapterForm form, int accumulate, T scratch);

    /* Op timing (ops_profile.c), optional: a mark queued in the order of the ops, the milliseconds between
     * two marks (waiting for the later one), and giving a mark back. NULL: the host clock times each op,
     * right for a backend whose ops return done. */
    void *(*mark)(Ops *ops);
    double (*mark_elapsed_ms)(Ops *ops, void *from, void *to);
    void (*mark_free)(Ops *ops, void *mark);
} OpsVtable;

struct Ops {
    Backend backend;
    const OpsVtable *vt;
    int threads;
    int counting; /* the counting backend (count_ops.c): sizes only, no data */
    void *impl;
    /* device memory accounting of ops_alloc/ops_free, for every backend (ops.c) */
    size_t cap, in_use, peak; /* bytes; cap 0: none */
    struct OpsAllocation { void *ptr; size_t bytes; } *allocs;
    int alloc_count, alloc_cap;
    char desc[160];
    struct OpsProfile *profile; /* ops_profile_start .. ops_profile_stop; NULL otherwise */
};

/* Shape helpers shared by backends: rows = product of all but the last dim. */
static inline int64_t ops_rows(T t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim - 1; i++) n *= t->shape[i];
    return n;
}
static inline int64_t ops_cols(T t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

/* ops_adapter_composed and its backward (ops_adapter.c) in the table's form. */
void ops_vt_adapter_composed(Ops *ops, T out, T x, const AdapterWeights *w, T res, AdapterForm form, T scratch);
void ops_vt_adapter_backward_composed(Ops *ops, T dx, const AdapterWeights *g, T dout, T x, const AdapterWeights *w,
                                      AdapterForm form, int accumulate, T scratch);
/* Where kernels/adapter.cu's pieces lie in the op's scratch: byte offsets from its start, each on a 256-byte
 * boundary, SIZE_MAX where the direction has no such piece. Forward: W1 [R,X] and W2 [X,R] as BF16, then b1 [R]
 * and b2 [X] as one F32 piece (b2 = b1 + R). Backward: W1, W2^T [R,X] and W1^T [X,R] as BF16, b1 (F32, the
 * piece as large as forward's), the hidden activation h and its gradient dh, [rows, R] BF16 each. total: the
 * bytes, the fused kernels' part of op_adapter_scratch_bytes. One function for the size the ops layer checks
 * and the carving the kernels do. */
typedef struct AdapterFusedLayout {
    size_t w1, w2, w2t, w1t, bias, hidden, hidden_grad, total;
} AdapterFusedLayout;
AdapterFusedLayout ops_adapter_fused_layout(int64_t rows, int64_t width, int64_t bottleneck, int backward);

/* Backend constructors. */
int cpu_ops_init(Ops *ops, int threads, Err *err);
void cpu_ops_release(Ops *ops);
#ifdef DFER_WITH_CUDA
/* kernels/cuda_ops.cu: a context on the current device (dfer_cuda_select picks
 * it per rank); fills ops->vt, ops->impl and ops->desc. Returns -1 with a
 * message when no GPU is usable. */
int cuda_ops_init(Ops *ops, Err *err);
void cuda_ops_release(Ops *ops);
#endif

#endif
