/* CPU reference backend: the op table over the kernels of cpu_kernels.inc,
 * instantiated for F32 (training and inference on CPUs) and F64 (gradient
 * checks, tight parity tests). Every tensor of one op call has the same dtype.
 * GEMMs go through OpenBLAS; the rest is OpenMP loops. */
#include <cblas.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "ops/ops_impl.h"

/* OpenBLAS's own thread count (openblas_config.h is not always on the include path). */
void openblas_set_num_threads(int num_threads);

#define REAL float
#define K(name) name##_f32
#define GEMM cblas_sgemm
#include "ops/cpu_kernels.inc"
#undef REAL
#undef K
#undef GEMM

#define REAL double
#define K(name) name##_f64
#define GEMM cblas_dgemm
#include "ops/cpu_kernels.inc"
#undef REAL
#undef K
#undef GEMM

/* Both instances take void pointers implicitly converted to their REAL type. */
#define DISPATCH(is64, fn, ...) ((is64) ? fn##_f64(__VA_ARGS__) : fn##_f32(__VA_ARGS__))

/* Returns 1 for F64, 0 for F32; fatal if the tensors with data disagree or use another dtype. */
static int real_kind(const char *op, int count, ...) {
    va_list ap;
    va_start(ap, count);
    int kind = -1;
    for (int i = 0; i < count; i++) {
        T t = va_arg(ap, T);
        if (!t || !t->data || t->dtype == DT_I32) continue;
        int k = t->dtype == DT_F64 ? 1 : t->dtype == DT_F32 ? 0 : -2;
        CHECK(k >= 0, "%s: tensor %s has dtype %s; the CPU backend computes in F32 or F64", op,
              t->name ? t->name : "(unnamed)", dtype_name(t->dtype));
        CHECK(kind < 0 || kind == k, "%s: tensor %s is %s but other operands are %s", op,
              t->name ? t->name : "(unnamed)", dtype_name(t->dtype), kind ? "F64" : "F32");
        kind = k;
    }
    va_end(ap);
    return kind == 1;
}

static void *data_or_null(T t) { return t && t->data ? t->data : NULL; }

/* ---- memory ------------------------------------------------------------------ */

static void *cpu_alloc(Ops *ops, size_t bytes) {
    (void)ops;
    return xmalloc_aligned(bytes);
}
static void cpu_free(Ops *ops, void *p) {
    (void)ops;
    xfree_aligned(p);
}
static void cpu_copy(Ops *ops, void *dst, const void *src, size_t bytes) {
    (void)ops;
    if (bytes) memcpy(dst, src, bytes);
}
static void cpu_zero(Ops *ops, T t) {
    (void)ops;
    memset(t->data, 0, tensor_bytes(t));
}
static void cpu_sync(Ops *ops) { (void)ops; }

/* ---- forward --------------------------------------------------------------------- */

static void cpu_linear(Ops *ops, T y, T x, T w, T b) {
    (void)ops;
    int f64 = real_kind("linear", 4, y, x, w, b);
    DISPATCH(f64, linear_fwd, y->data, x->data, w->data, data_or_null(b), ops_rows(x), w->shape[1], w->shape[0]);
}

static void cpu_matmul(Ops *ops, T c, T a, T b, int ta, int tb, float alpha, float beta) {
    (void)ops;
    int f64 = real_kind("matmul", 3, c, a, b);
    int64_t m = c->shape[0], n = c->shape[1], k = ta ? a->shape[0] : a->shape[1];
    DISPATCH(f64, matmul, c->data, a->data, b->data, m, n, k, ta, tb, alpha, beta);
}

static void cpu_layernorm(Ops *ops, T y, T mean, T rstd, T x, T g, T b, float eps) {
    (void)ops;
    int f64 = real_kind("layernorm", 6, y, mean, rstd, x, g, b);
    DISPATCH(f64, layernorm_fwd, y->data, mean->data, rstd->data, x->data, g->data, b->data, ops_rows(x), ops_cols(x),
             (double)eps);
}

static void cpu_activation(Ops *ops, Activation act, T y, T x) {
    (void)ops;
    int f64 = real_kind("activation", 2, y, x);
    DISPATCH(f64, activation_fwd, act, y->data, x->data, tensor_numel(x));
}

static void cpu_add(Ops *ops, T y, T a, T b) {
    (void)ops;
    int f64 = real_kind("add", 3, y, a, b);
    DISPATCH(f64, add, y->data, a->data, b->data, tensor_numel(y));
}

static void cpu_axpy(Ops *ops, T y, float alpha, T x) {
    (void)ops;
    int f64 = real_kind("axpy", 2, y, x);
    DISPATCH(f64, axpy, y->data, alpha, x->data, tensor_numel(y));
}

static void cpu_axpy_rows(Ops *ops, T y, T w, T x, float beta) {
    (void)ops;
    int64_t rows = tensor_numel(w);
    DISPATCH(real_kind("axpy_rows", 3, y, w, x), axpy_rows, y->data, w->data, x->data, beta, rows,
             tensor_numel(y) / rows);
}

static void cpu_scale(Ops *ops, T y, float alpha) {
    (void)ops;
    DISPATCH(real_kind("scale", 1, y), scale, y->data, alpha, tensor_numel(y));
}

static void cpu_add_broadcast(Ops *ops, T y, T p) {
    (void)ops;
    int64_t rows = tensor_numel(p);
    DISPATCH(real_kind("add_broadcast", 2, y, p), add_broadcast_fwd, y->data, p->data, tensor_numel(y) / rows, rows);
}

static size_t cpu_attention_saved_bytes(int64_t batch, int64_t seq, int heads) {
    /* Probabilities [B, H, S, S] in the widest dtype we compute in. */
    return (size_t)batch * (size_t)heads * (size_t)seq * (size_t)seq * sizeof(double);
}

static void cpu_attention(Ops *ops, T out, T saved, T qkv, int heads, int causal) {
    (void)ops;
    int f64 = real_kind("attention", 2, out, qkv);
    int64_t width = qkv->shape[2] / 3;
    DISPATCH(f64, attention_fwd, out->data, data_or_null(saved), qkv->data, qkv->shape[0], qkv->shape[1], heads,
             width / heads, causal);
}

static void check_indices(const char *op, T idx, int64_t limit, T table) {
    const int32_t *id = idx->data;
    int64_t n = tensor_numel(idx);
    for (int64_t r = 0; r < n; r++)
        CHECK(id[r] >= 0 && id[r] < limit, "%s: index %d at position %lld is outside the %lld rows of %s", op, id[r],
              (long long)r, (long long)limit, table->name ? table->name : "(unnamed)");
}

static void cpu_embedding(Ops *ops, T y, T table, T ids) {
    (void)ops;
    check_indices("embedding", ids, table->shape[0], table);
    DISPATCH(real_kind("embedding", 2, y, table), rows_gather, y->data, table->data, ids->data, tensor_numel(ids),
             table->shape[1]);
}

static void cpu_gather_rows(Ops *ops, T y, T x, T idx) {
    (void)ops;
    check_indices("gather_rows", idx, ops_rows(x), x);
    DISPATCH(real_kind("gather_rows", 2, y, x), rows_gather, y->data, x->data, idx->data, tensor_numel(idx), ops_cols(x));
}

static void cpu_scatter_rows(Ops *ops, T y, T x, T idx) {
    (void)ops;
    check_indices("scatter_rows", idx, ops_rows(y), y);
    DISPATCH(real_kind("scatter_rows", 2, y, x), rows_scatter_set, y->data, x->data, idx->data, tensor_numel(idx),
             ops_cols(y));
}

static void cpu_im2col_patches(Ops *ops, T patches, T images, int patch) {
    (void)ops;
    DISPATCH(real_kind("im2col", 2, patches, images), im2col, patches->data, images->data, images->shape[0],
             images->shape[2], patch);
}

static void cpu_prepend_token(Ops *ops, T y, T x, T tok) {
    (void)ops;
    DISPATCH(real_kind("prepend_token", 3, y, x, tok), prepend_fwd, y->data, x->data, tok->data, x->shape[0],
             x->shape[1], x->shape[2]);
}

static void cpu_l2_normalize(Ops *ops, T y, T x, float eps) {
    (void)ops;
    DISPATCH(real_kind("l2_normalize", 2, y, x), l2norm_fwd, y->data, x->data, ops_rows(x), ops_cols(x), (double)eps);
}

static void cpu_permute_0213(Ops *ops, T y, T x) {
    (void)ops;
    DISPATCH(real_kind("permute_0213", 2, y, x), permute_0213, y->data, x->data, x->shape[0], x->shape[1], x->shape[2],
             x->shape[3]);
}

static void cpu_mean_dim1(Ops *ops, T y, T x) {
    (void)ops;
    DISPATCH(real_kind("mean_dim1", 2, y, x), mean_dim1_fwd, y->data, x->data, x->shape[0], x->shape[1], x->shape[2]);
}

static void cpu_cross_entropy(Ops *ops, T loss, T dlogits, T logits, T labels, float grad_scale) {
    (void)ops;
    check_indices("cross_entropy", labels, logits->shape[1], logits);
    DISPATCH(real_kind("cross_entropy", 3, loss, dlogits, logits), cross_entropy, loss->data, data_or_null(dlogits),
             logits->data, labels->data, logits->shape[0], logits->shape[1], (double)grad_scale);
}

static double cpu_sum_squares(Ops *ops, T x) {
    (void)ops;
    return real_kind("sum_squares", 1, x) ? sum_squares_f64(x->data, tensor_numel(x))
                                          : sum_squares_f32(x->data, tensor_numel(x));
}

/* ---- optimiser updates ----------------------------------------------------------------- */

static void cpu_sgd_update(Ops *ops, T w, T g, T buf, float lr, float momentum, float wd, int first) {
    (void)ops;
    DISPATCH(real_kind("sgd_update", 3, w, g, buf), sgd_update, w->data, g->data, data_or_null(buf), tensor_numel(w),
             lr, momentum, wd, first);
}

static void cpu_adamw_update(Ops *ops, T w, T g, T m, T v, float lr, float b1, float b2, float eps, float wd,
                             int step) {
    (void)ops;
    DISPATCH(real_kind("adamw_update", 4, w, g, m, v), adamw_update, w->data, g->data, m->data, v->data,
             tensor_numel(w), lr, b1, b2, eps, wd, step);
}

/* ---- backward ------------------------------------------------------------------------ */

static void cpu_linear_backward(Ops *ops, T dx, T dw, T db, T dy, T x, T w, int accumulate) {
    (void)ops;
    int f64 = real_kind("linear_backward", 6, dx, dw, db, dy, x, w);
    DISPATCH(f64, linear_bwd, data_or_null(dx), data_or_null(dw), data_or_null(db), dy->data, x->data, w->data,
             ops_rows(dy), w->shape[1], w->shape[0], accumulate);
}

static void cpu_layernorm_backward(Ops *ops, T dx, T dg, T db, T dy, T x, T mean, T rstd, T g, int accumulate) {
    (void)ops;
    int f64 = real_kind("layernorm_backward", 8, dx, dg, db, dy, x, mean, rstd, g);
    DISPATCH(f64, layernorm_bwd, data_or_null(dx), data_or_null(dg), data_or_null(db), dy->data, x->data, mean->data,
             rstd->data, g->data, ops_rows(x), ops_cols(x), accumulate);
}

static void cpu_activation_backward(Ops *ops, Activation act, T dx, T dy, T x) {
    (void)ops;
    DISPATCH(real_kind("activation_backward", 3, dx, dy, x), activation_bwd, act, dx->data, dy->data, x->data,
             tensor_numel(x));
}

static void cpu_attention_backward(Ops *ops, T dqkv, T dout, T qkv, T saved, int heads, int causal) {
    (void)ops;
    CHECK(saved->data, "attention_backward: the forward pass saved no probabilities (saved buffer missing)");
    int f64 = real_kind("attention_backward", 3, dqkv, dout, qkv);
    int64_t width = qkv->shape[2] / 3;
    DISPATCH(f64, attention_bwd, dqkv->data, dout->data, qkv->data, saved->data, qkv->shape[0], qkv->shape[1], heads,
             width / heads, causal);
}

static void cpu_embedding_backward(Ops *ops, T dtable, T dy, T ids) {
    (void)ops;
    check_indices("embedding_backward", ids, dtable->shape[0], dtable);
    DISPATCH(real_kind("embedding_backward", 2, dtable, dy), rows_scatter_add, dtable->data, dy->data, ids->data,
             tensor_numel(ids), dtable->shape[1]);
}

static void cpu_gather_rows_backward(Ops *ops, T dx, T dy, T idx) {
    (void)ops;
    check_indices("gather_rows_backward", idx, ops_rows(dx), dx);
    DISPATCH(real_kind("gather_rows_backward", 2, dx, dy), rows_scatter_add, dx->data, dy->data, idx->data,
             tensor_numel(idx), ops_cols(dx));
}

static void cpu_prepend_token_backward(Ops *ops, T dx, T dtok, T dy) {
    (void)ops;
    int64_t batch = dy->shape[0], seq = dy->shape[1] - 1, d = dy->shape[2];
    DISPATCH(real_kind("prepend_token_backward", 3, dx, dtok, dy), prepend_bwd, data_or_null(dx), data_or_null(dtok),
             dy->data, batch, seq, d);
}

static void cpu_add_broadcast_backward(Ops *ops, T dp, T dy) {
    (void)ops;
    int64_t rows = tensor_numel(dp);
    DISPATCH(real_kind("add_broadcast_backward", 2, dp, dy), add_broadcast_bwd, dp->data, dy->data,
             tensor_numel(dy) / rows, rows);
}

static void cpu_l2_normalize_backward(Ops *ops, T dx, T dy, T x, float eps) {
    (void)ops;
    DISPATCH(real_kind("l2_normalize_backward", 3, dx, dy, x), l2norm_bwd, dx->data, dy->data, x->data, ops_rows(x),
             ops_cols(x), (double)eps);
}

static void cpu_mean_dim1_backward(Ops *ops, T dx, T dy) {
    (void)ops;
    DISPATCH(real_kind("mean_dim1_backward", 2, dx, dy), mean_dim1_bwd, dx->data, dy->data, dx->shape[0], dx->shape[1],
             dx->shape[2]);
}

static const OpsVtable k_cpu_vtable = {
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .zero = cpu_zero,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .linear = cpu_linear,
    .matmul = cpu_matmul,
    .layernorm = cpu_layernorm,
    .activation = cpu_activation,
    .add = cpu_add,
    .axpy = cpu_axpy,
    .axpy_rows = cpu_axpy_rows,
    .scale = cpu_scale,
    .add_broadcast = cpu_add_broadcast,
    .attention = cpu_attention,
    .attention_saved_bytes = cpu_attention_saved_bytes,
    .embedding = cpu_embedding,
    .gather_rows = cpu_gather_rows,
    .scatter_rows = cpu_scatter_rows,
    .im2col_patches = cpu_im2col_patches,
    .prepend_token = cpu_prepend_token,
    .l2_normalize = cpu_l2_normalize,
    .permute_0213 = cpu_permute_0213,
    .mean_dim1 = cpu_mean_dim1,
    .cross_entropy = cpu_cross_entropy,
    .sum_squares = cpu_sum_squares,
    .sgd_update = cpu_sgd_update,
    .adamw_update = cpu_adamw_update,
    .linear_backward = cpu_linear_backward,
    .layernorm_backward = cpu_layernorm_backward,
    .activation_backward = cpu_activation_backward,
    .attention_backward = cpu_attention_backward,
    .embedding_backward = cpu_embedding_backward,
    .gather_rows_backward = cpu_gather_rows_backward,
    .prepend_token_backward = cpu_prepend_token_backward,
    .add_broadcast_backward = cpu_add_broadcast_backward,
    .l2_normalize_backward = cpu_l2_normalize_backward,
    .mean_dim1_backward = cpu_mean_dim1_backward,
};

int cpu_ops_init(Ops *ops, int threads, Err *err) {
    (void)err;
    if (threads <= 0) threads = omp_get_num_procs();
    ops->threads = threads;
    ops->vt = &k_cpu_vtable;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    snprintf(ops->desc, sizeof ops->desc, "cpu (%d thread%s, OpenBLAS)", threads, threads == 1 ? "" : "s");
    return 0;
}

void cpu_ops_release(Ops *ops) { (void)ops; }
