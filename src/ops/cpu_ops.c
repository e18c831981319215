/* CPU reference backend: the op table over the kernels of cpu_kernels.inc,
 * instantiated for F32 (training and inference on CPUs) and F64 (gradient
 * checks, tight parity tests). Calls mixing BF16 with F32 (the mixed-precision
 * model of ops.h) run the F32 kernels on F32 copies of the BF16 operands; see
 * "operand dtypes" below. GEMMs go through OpenBLAS; the rest is OpenMP loops. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "ops/ops_impl.h"

/* OpenBLAS's own thread count, its build ("OpenBLAS 0.3.21 DYNAMIC_ARCH ...") and the kernels it chose for this
 * CPU ("Haswell"): openblas_config.h is not always on the include path. */
void openblas_set_num_threads(int num_threads);
char *openblas_get_config(void);
char *openblas_get_corename(void);

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

/* ---- operand dtypes -------------------------------------------------------------
 * Every op lists its floating operands once, each with its role: read only,
 * written only, or updated (read, then written: +=, accumulate, beta != 0, or a
 * write that leaves part of the tensor as it was). stage_operands checks the
 * dtypes against the contract of ops.h and picks the kernel instance:
 *  - all F64: the double kernels, operands used in place;
 *  - all F32: the float kernels, operands used in place (no copies, no
 *    allocation: the F32 path costs what it did before BF16 existed);
 *  - F32 and BF16 mixed: the float kernels on F32 views. Each BF16 operand is
 *    replaced by an F32 temporary, widened from it (exactly) when the op reads
 *    it; unstage_operands then narrows every written temporary back to BF16,
 *    round to nearest even, and frees them. That is exactly the contract: read
 *    each operand in its own dtype, compute in fp32, round each result once.
 * The BF16 path exists for correctness (the mixed-precision model on machines
 * without a GPU, and GPU parity tests that compare like with like), not speed:
 * temporaries are malloc'ed per call and widened serially.
 * An output may alias an input (op_add, op_activation_backward, op_axpy_rows):
 * each gets its own temporary, filled before the kernel runs, and only outputs
 * are narrowed back, so the aliasing means what it means on F32 tensors.
 * Tensors with data == NULL (absent optional outputs, a NULL bias) are skipped. */

typedef enum Role { ROLE_READ, ROLE_WRITE, ROLE_UPDATE } Role;

typedef struct Operand {
    T *tensor; /* the op's own parameter, redirected to the F32 view when staged */
    Role role;
} Operand;

#define READ(t) {&(t), ROLE_READ}
#define WRITE(t) {&(t), ROLE_WRITE}
#define UPDATE(t) {&(t), ROLE_UPDATE}
#define WRITE_OR_UPDATE(t, reads_old) {&(t), (reads_old) ? ROLE_UPDATE : ROLE_WRITE}

enum { MAX_OPERANDS = 8 };

typedef struct Staging {
    int count;
    Tensor view[MAX_OPERANDS]; /* F32 views over the temporaries */
    T original[MAX_OPERANDS];  /* the BF16 tensors they stand for */
    Role role[MAX_OPERANDS];
} Staging;

static const char *label(T t) { return t->name ? t->name : "(unnamed)"; }

/* Returns 1 to run the F64 kernels, 0 for the F32 ones (after staging any BF16
 * operand as described above). Fatal, naming the tensor, for any other dtype
 * and for F64 mixed with F32 or BF16. */
static int stage_operands(Staging *s, const char *op, const Operand *operands, int count) {
    s->count = 0;
    T some_f64 = NULL, some_f32_or_bf16 = NULL;
    int any_bf16 = 0;
    for (int i = 0; i < count; i++) {
        T t = *operands[i].tensor;
        if (!t || !t->data) continue;
        CHECK(t->dtype == DT_F32 || t->dtype == DT_BF16 || t->dtype == DT_F64,
              "%s: tensor %s has dtype %s; the CPU backend computes on F32, BF16 or F64 tensors", op, label(t),
              dtype_name(t->dtype));
        if (t->dtype == DT_F64) {
            if (!some_f64) some_f64 = t;
        } else if (!some_f32_or_bf16) {
            some_f32_or_bf16 = t;
        }
        any_bf16 |= t->dtype == DT_BF16;
    }
    CHECK(!some_f64 || !some_f32_or_bf16,
          "%s: tensor %s is F64 but tensor %s is %s; F64 calls take F64 operands only (F32 and BF16 mix freely)", op,
          some_f64 ? label(some_f64) : "", some_f32_or_bf16 ? label(some_f32_or_bf16) : "",
          some_f32_or_bf16 ? dtype_name(some_f32_or_bf16->dtype) : "");
    if (some_f64) return 1;
    if (!any_bf16) return 0;
    for (int i = 0; i < count; i++) {
        T t = *operands[i].tensor;
        if (!t || !t->data || t->dtype != DT_BF16) continue;
        CHECK(s->count < MAX_OPERANDS, "%s: more than %d BF16 operands", op, MAX_OPERANDS);
        size_t n = (size_t)tensor_numel(t);
        float *wide = xmalloc(n * sizeof(float));
        if (operands[i].role != ROLE_WRITE) convert_to_f32(wide, t->data, DT_BF16, n);
        Tensor *view = &s->view[s->count];
        *view = *t;
        view->dtype = DT_F32;
        view->data = wide;
        s->original[s->count] = t;
        s->role[s->count] = operands[i].role;
        s->count++;
        *operands[i].tensor = view;
    }
    return 0;
}

/* Narrows what the kernel wrote back into the BF16 tensors and frees the temporaries. */
static void unstage_operands(Staging *s) {
    for (int i = 0; i < s->count; i++) {
        if (s->role[i] != ROLE_READ)
            convert_from_f32(s->original[i]->data, DT_BF16, s->view[i].data, (size_t)tensor_numel(&s->view[i]));
        free(s->view[i].data);
    }
    s->count = 0;
}

#define OPERAND_COUNT(...) ((int)(sizeof((const Operand[]){__VA_ARGS__}) / sizeof(Operand)))
/* int f64 = STAGE(staging, "op", WRITE(y), READ(x), ...); the op's T parameters
 * now point at F32 views where they were BF16. */
#define STAGE(staging, op, ...)                                                                                  \
    stage_operands(&(staging), op, (const Operand[]){__VA_ARGS__}, OPERAND_COUNT(__VA_ARGS__))

/* Optimiser updates keep to one dtype, F32 (or F64 for the gradient and optimiser
 * checks): the mixed-precision model keeps trainable parameters, their
 * gradients and the optimiser state in F32, so a BF16 operand here is a bug in
 * the caller, not something to widen. */
static int optimiser_precision(const char *op, const Operand *operands, int count) {
    for (int i = 0; i < count; i++) {
        T t = *operands[i].tensor;
        CHECK(!t || !t->data || t->dtype != DT_BF16,
              "%s: tensor %s is BF16; optimiser updates take F32 tensors only (parameters, gradients and optimiser "
              "state stay F32 in the mixed-precision model)",
              op, label(t));
    }
    Staging none; /* with no BF16 operand, staging copies nothing */
    return stage_operands(&none, op, operands, count);
}
#define OPTIMISER_PRECISION(op, ...) optimiser_precision(op, (const Operand[]){__VA_ARGS__}, OPERAND_COUNT(__VA_ARGS__))

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
    Staging st;
    int f64 = STAGE(st, "linear", WRITE(y), READ(x), READ(w), READ(b));
    DISPATCH(f64, linear_fwd, y->data, x->data, w->data, data_or_null(b), ops_rows(x), w->shape[1], w->shape[0]);
    unstage_operands(&st);
}

static void cpu_matmul(Ops *ops, T c, T a, T b, int ta, int tb, float alpha, float beta) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "matmul", WRITE_OR_UPDATE(c, beta != 0), READ(a), READ(b));
    int64_t m = c->shape[0], n = c->shape[1], k = ta ? a->shape[0] : a->shape[1];
    DISPATCH(f64, matmul, c->data, a->data, b->data, m, n, k, ta, tb, alpha, beta);
    unstage_operands(&st);
}

static void cpu_layernorm(Ops *ops, T y, T mean, T rstd, T x, T g, T b, float eps) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "layernorm", WRITE(y), WRITE(mean), WRITE(rstd), READ(x), READ(g), READ(b));
    DISPATCH(f64, layernorm_fwd, y->data, mean->data, rstd->data, x->data, g->data, b->data, ops_rows(x), ops_cols(x),
             (double)eps);
    unstage_operands(&st);
}

static void cpu_activation(Ops *ops, Activation act, T y, T x) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "activation", WRITE(y), READ(x));
    DISPATCH(f64, activation_fwd, act, y->data, x->data, tensor_numel(x));
    unstage_operands(&st);
}

static void cpu_add(Ops *ops, T y, T a, T b) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "add", WRITE(y), READ(a), READ(b));
    DISPATCH(f64, add, y->data, a->data, b->data, tensor_numel(y));
    unstage_operands(&st);
}

static void cpu_axpy(Ops *ops, T y, float alpha, T x) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "axpy", UPDATE(y), READ(x));
    DISPATCH(f64, axpy, y->data, alpha, x->data, tensor_numel(y));
    unstage_operands(&st);
}

static void cpu_axpy_rows(Ops *ops, T y, T w, T x, float beta) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "axpy_rows", WRITE_OR_UPDATE(y, beta != 0), READ(w), READ(x));
    int64_t rows = tensor_numel(w);
    DISPATCH(f64, axpy_rows, y->data, w->data, x->data, beta, rows, tensor_numel(y) / rows);
    unstage_operands(&st);
}

static void cpu_scale(Ops *ops, T y, float alpha) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "scale", UPDATE(y));
    DISPATCH(f64, scale, y->data, alpha, tensor_numel(y));
    unstage_operands(&st);
}

static void cpu_add_broadcast(Ops *ops, T y, T p) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "add_broadcast", UPDATE(y), READ(p));
    int64_t rows = tensor_numel(p);
    DISPATCH(f64, add_broadcast_fwd, y->data, p->data, tensor_numel(y) / rows, rows);
    unstage_operands(&st);
}

static size_t cpu_attention_saved_bytes(int64_t batch, int64_t seq, int heads) {
    /* Probabilities [B, H, S, S] in the widest dtype we compute in (one formula for the
     * backend and the memory planner's counting context: ops.c) */
    return ops_attention_saved_bytes_for(BACKEND_CPU, batch, seq, heads);
}

/* `saved` is raw bytes private to this backend, not an operand: whatever its
 * dtype says (the model types it U8), it holds the probabilities as the kernel
 * instance wrote them, doubles for F64 calls and floats otherwise. A BF16 call
 * runs the float kernels, so its forward and backward share the F32 layout and
 * the probabilities are never rounded to BF16. */
static void cpu_attention(Ops *ops, T out, T saved, T qkv, int heads, int causal) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "attention", WRITE(out), READ(qkv));
    int64_t width = qkv->shape[2] / 3;
    DISPATCH(f64, attention_fwd, out->data, data_or_null(saved), qkv->data, qkv->shape[0], qkv->shape[1], heads,
             width / heads, causal);
    unstage_operands(&st);
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
    Staging st;
    int f64 = STAGE(st, "embedding", WRITE(y), READ(table));
    DISPATCH(f64, rows_gather, y->data, table->data, ids->data, tensor_numel(ids), table->shape[1]);
    unstage_operands(&st);
}

static void cpu_gather_rows(Ops *ops, T y, T x, T idx) {
    (void)ops;
    check_indices("gather_rows", idx, ops_rows(x), x);
    Staging st;
    int f64 = STAGE(st, "gather_rows", WRITE(y), READ(x));
    DISPATCH(f64, rows_gather, y->data, x->data, idx->data, tensor_numel(idx), ops_cols(x));
    unstage_operands(&st);
}

static void cpu_scatter_rows(Ops *ops, T y, T x, T idx) {
    (void)ops;
    check_indices("scatter_rows", idx, ops_rows(y), y);
    Staging st;
    /* UPDATE: the rows no index names keep their values. */
    int f64 = STAGE(st, "scatter_rows", UPDATE(y), READ(x));
    DISPATCH(f64, rows_scatter_set, y->data, x->data, idx->data, tensor_numel(idx), ops_cols(y));
    unstage_operands(&st);
}

static void cpu_im2col_patches(Ops *ops, T patches, T images, int patch) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "im2col", WRITE(patches), READ(images));
    DISPATCH(f64, im2col, patches->data, images->data, images->shape[0], images->shape[2], patch);
    unstage_operands(&st);
}

/* x is U8 pixels, not a floating operand: only y is staged (a BF16 y gets an F32 temporary that
 * is narrowed once, round to nearest even; an F64 y takes the widened fp32 values). */
static void cpu_normalize_images(Ops *ops, T y, T x, const float *lut) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "normalize_images", WRITE(y));
    int64_t images = x->shape[0];
    DISPATCH(f64, normalize_images, y->data, x->data, lut, images, tensor_numel(x) / (3 * images));
    unstage_operands(&st);
}

static void cpu_prepend_token(Ops *ops, T y, T x, T tok) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "prepend_token", WRITE(y), READ(x), READ(tok));
    DISPATCH(f64, prepend_fwd, y->data, x->data, tok->data, x->shape[0], x->shape[1], x->shape[2]);
    unstage_operands(&st);
}

static void cpu_l2_normalize(Ops *ops, T y, T x, float eps) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "l2_normalize", WRITE(y), READ(x));
    DISPATCH(f64, l2norm_fwd, y->data, x->data, ops_rows(x), ops_cols(x), (double)eps);
    unstage_operands(&st);
}

static void cpu_permute_0213(Ops *ops, T y, T x) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "permute_0213", WRITE(y), READ(x));
    DISPATCH(f64, permute_0213, y->data, x->data, x->shape[0], x->shape[1], x->shape[2], x->shape[3]);
    unstage_operands(&st);
}

static void cpu_mean_dim1(Ops *ops, T y, T x) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "mean_dim1", WRITE(y), READ(x));
    DISPATCH(f64, mean_dim1_fwd, y->data, x->data, x->shape[0], x->shape[1], x->shape[2]);
    unstage_operands(&st);
}

static void cpu_cross_entropy(Ops *ops, T loss, T dlogits, T logits, T labels, float grad_scale) {
    (void)ops;
    check_indices("cross_entropy", labels, logits->shape[1], logits);
    Staging st;
    int f64 = STAGE(st, "cross_entropy", WRITE(loss), WRITE(dlogits), READ(logits));
    DISPATCH(f64, cross_entropy, loss->data, data_or_null(dlogits), logits->data, labels->data, logits->shape[0],
             logits->shape[1], (double)grad_scale);
    unstage_operands(&st);
}

static double cpu_sum_squares(Ops *ops, T x) {
    (void)ops;
    Staging st;
    /* A BF16 tensor is widened and summed in double like an F32 one. */
    int f64 = STAGE(st, "sum_squares", READ(x));
    double sum = f64 ? sum_squares_f64(x->data, tensor_numel(x)) : sum_squares_f32(x->data, tensor_numel(x));
    unstage_operands(&st);
    return sum;
}

/* ---- optimiser updates ----------------------------------------------------------------- */

static void cpu_sgd_update(Ops *ops, T w, T g, T buf, float lr, float momentum, float wd, int first) {
    (void)ops;
    int f64 = OPTIMISER_PRECISION("sgd_update", UPDATE(w), READ(g), UPDATE(buf));
    DISPATCH(f64, sgd_update, w->data, g->data, data_or_null(buf), tensor_numel(w), lr, momentum, wd, first);
}

static void cpu_adamw_update(Ops *ops, T w, T g, T m, T v, float lr, float b1, float b2, float eps, float wd,
                             int step) {
    (void)ops;
    int f64 = OPTIMISER_PRECISION("adamw_update", UPDATE(w), READ(g), UPDATE(m), UPDATE(v));
    DISPATCH(f64, adamw_update, w->data, g->data, m->data, v->data, tensor_numel(w), lr, b1, b2, eps, wd, step);
}

/* ---- backward ------------------------------------------------------------------------ */

static void cpu_linear_backward(Ops *ops, T dx, T dw, T db, T dy, T x, T w, int accumulate) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "linear_backward", WRITE_OR_UPDATE(dx, accumulate), UPDATE(dw), UPDATE(db), READ(dy), READ(x),
                    READ(w));
    DISPATCH(f64, linear_bwd, data_or_null(dx), data_or_null(dw), data_or_null(db), dy->data, x->data, w->data,
             ops_rows(dy), w->shape[1], w->shape[0], accumulate);
    unstage_operands(&st);
}

static void cpu_layernorm_backward(Ops *ops, T dx, T dg, T db, T dy, T x, T mean, T rstd, T g, int accumulate) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "layernorm_backward", WRITE_OR_UPDATE(dx, accumulate), UPDATE(dg), UPDATE(db), READ(dy),
                    READ(x), READ(mean), READ(rstd), READ(g));
    DISPATCH(f64, layernorm_bwd, data_or_null(dx), data_or_null(dg), data_or_null(db), dy->data, x->data, mean->data,
             rstd->data, g->data, ops_rows(x), ops_cols(x), accumulate);
    unstage_operands(&st);
}

static void cpu_activation_backward(Ops *ops, Activation act, T dx, T dy, T x) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "activation_backward", WRITE(dx), READ(dy), READ(x));
    DISPATCH(f64, activation_bwd, act, dx->data, dy->data, x->data, tensor_numel(x));
    unstage_operands(&st);
}

static void cpu_attention_backward(Ops *ops, T dqkv, T dout, T qkv, T saved, int heads, int causal) {
    (void)ops;
    CHECK(saved->data, "attention_backward: the forward pass saved no probabilities (saved buffer missing)");
    Staging st;
    /* `saved` is read as the forward's kernel instance wrote it (see cpu_attention). */
    int f64 = STAGE(st, "attention_backward", WRITE(dqkv), READ(dout), READ(qkv));
    int64_t width = qkv->shape[2] / 3;
    DISPATCH(f64, attention_bwd, dqkv->data, dout->data, qkv->data, saved->data, qkv->shape[0], qkv->shape[1], heads,
             width / heads, causal);
    unstage_operands(&st);
}

static void cpu_embedding_backward(Ops *ops, T dtable, T dy, T ids) {
    (void)ops;
    check_indices("embedding_backward", ids, dtable->shape[0], dtable);
    Staging st;
    int f64 = STAGE(st, "embedding_backward", UPDATE(dtable), READ(dy));
    DISPATCH(f64, rows_scatter_add, dtable->data, dy->data, ids->data, tensor_numel(ids), dtable->shape[1]);
    unstage_operands(&st);
}

static void cpu_gather_rows_backward(Ops *ops, T dx, T dy, T idx) {
    (void)ops;
    check_indices("gather_rows_backward", idx, ops_rows(dx), dx);
    Staging st;
    int f64 = STAGE(st, "gather_rows_backward", UPDATE(dx), READ(dy));
    DISPATCH(f64, rows_scatter_add, dx->data, dy->data, idx->data, tensor_numel(idx), ops_cols(dx));
    unstage_operands(&st);
}

static void cpu_prepend_token_backward(Ops *ops, T dx, T dtok, T dy) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "prepend_token_backward", WRITE(dx), UPDATE(dtok), READ(dy));
    int64_t batch = dy->shape[0], seq = dy->shape[1] - 1, d = dy->shape[2];
    DISPATCH(f64, prepend_bwd, data_or_null(dx), data_or_null(dtok), dy->data, batch, seq, d);
    unstage_operands(&st);
}

static void cpu_add_broadcast_backward(Ops *ops, T dp, T dy) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "add_broadcast_backward", UPDATE(dp), READ(dy));
    int64_t rows = tensor_numel(dp);
    DISPATCH(f64, add_broadcast_bwd, dp->data, dy->data, tensor_numel(dy) / rows, rows);
    unstage_operands(&st);
}

static void cpu_l2_normalize_backward(Ops *ops, T dx, T dy, T x, float eps) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "l2_normalize_backward", WRITE(dx), READ(dy), READ(x));
    DISPATCH(f64, l2norm_bwd, dx->data, dy->data, x->data, ops_rows(x), ops_cols(x), (double)eps);
    unstage_operands(&st);
}

static void cpu_mean_dim1_backward(Ops *ops, T dx, T dy) {
    (void)ops;
    Staging st;
    int f64 = STAGE(st, "mean_dim1_backward", WRITE(dx), READ(dy));
    DISPATCH(f64, mean_dim1_bwd, dx->data, dy->data, dx->shape[0], dx->shape[1], dx->shape[2]);
    unstage_operands(&st);
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
    .normalize_images = cpu_normalize_images,
    .prepend_token = cpu_prepend_token,
    .l2_normalize = cpu_l2_normalize,
    .permute_0213 = cpu_permute_0213,
    .mean_dim1 = cpu_mean_dim1,
    .cross_entropy = cpu_cross_entropy,
    .sum_squares = cpu_sum_squares,
    .adapter = ops_vt_adapter_composed,
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
    .adapter_backward = ops_vt_adapter_backward_composed,
};

int cpu_ops_init(Ops *ops, int threads, Err *err) {
    (void)err;
    if (threads <= 0) threads = ops_default_cpu_threads();
    ops->threads = threads;
    ops->vt = &k_cpu_vtable;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    /* The version and the kernels name what the digits of a result depend on: OpenBLAS picks its kernels by CPU
     * (DYNAMIC_ARCH), and kernels of another CPU add up a product in another order. */
    char version[32] = "";
    const char *config = openblas_get_config(), *core = openblas_get_corename();
    if (config && !strncmp(config, "OpenBLAS ", 9))
        snprintf(version, sizeof version, " %.*s", (int)strcspn(config + 9, " "), config + 9);
    snprintf(ops->desc, sizeof ops->desc, "cpu (%d thread%s, OpenBLAS%s, %s kernels)", threads, threads == 1 ? "" : "s",
             version, core && core[0] ? core : "unknown");
    return 0;
}

void cpu_ops_release(Ops *ops) { (void)ops; }
