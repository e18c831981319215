/* The CPU backend's BF16 path against its own F32 path. Every op runs twice on
 * the same inputs: once with every floating tensor F32, once with the dtypes of
 * the mixed-precision model (activations, activation gradients and frozen
 * weights BF16; trainable parameters, their gradients, layer-norm statistics
 * and per-row losses F32). ops.h promises that an op reads each operand in its
 * own dtype, computes in fp32 and rounds each result once, to nearest even. The
 * BF16 inputs hold bf16-representable values (F32 inputs hold any float), so on
 * the CPU both runs compute the very same fp32 numbers and, bit for bit:
 *  - every BF16 tensor of the mixed run equals f32_to_bf16 of the F32 run's,
 *  - every F32 tensor of the mixed run equals the F32 run's.
 * Inputs are compared too (they must come through untouched), and outputs that
 * the op reads (+=, accumulate, beta != 0) start from random values. */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/ops.h"
#include "testlib.h"

static Ops *g_ops;

enum { ALL_F32 = 0, MIXED = 1 };
enum { MAX_ARGS = 12 };

/* One floating tensor of a case, held twice, once per run, both starting from
 * the same values. */
typedef struct Arg {
    const char *name;
    DType mixed_dtype; /* its dtype in the mixed run */
    int ndim;
    int64_t shape[4];
    int64_t n;
    float *all_f32;
    void *mixed;
} Arg;

typedef struct Case {
    const char *name;
    int count;
    Arg args[MAX_ARGS];
} Case;

static uint64_t g_stream = 1; /* a fresh random stream per tensor */

static Arg *new_arg(Case *c, const char *name, DType mixed_dtype, const int64_t *shape, int ndim) {
    CHECK(c->count < MAX_ARGS && ndim <= 4, "test case %s has too many tensors", c->name);
    Arg *a = &c->args[c->count++];
    a->name = name;
    a->mixed_dtype = mixed_dtype;
    a->ndim = ndim;
    a->n = 1;
    for (int i = 0; i < ndim; i++) a->n *= a->shape[i] = shape[i];
    a->all_f32 = malloc((size_t)a->n * sizeof(float));
    a->mixed = malloc((size_t)a->n * dtype_size(mixed_dtype));
    Rng r;
    rng_init(&r, 11, g_stream++, 0, 0);
    for (int64_t i = 0; i < a->n; i++) {
        float v = (float)rng_normal(&r);
        /* A BF16 operand can only hold bf16 values; an F32 one holds any float in both runs. */
        a->all_f32[i] = mixed_dtype == DT_BF16 ? bf16_to_f32(f32_to_bf16(v)) : v;
    }
    convert_from_f32(a->mixed, mixed_dtype, a->all_f32, (size_t)a->n); /* exact: the values fit */
    return a;
}
#define ARG(c, name, mixed_dtype, ...)                                                                                 \
    new_arg(c, name, mixed_dtype, (const int64_t[]){__VA_ARGS__},                                                    \
            (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

/* The tensor of `a` in the given run. */
static Tensor view(const Arg *a, int run) {
    Tensor t;
    memset(&t, 0, sizeof t);
    t.data = run == MIXED ? a->mixed : (void *)a->all_f32;
    t.dtype = run == MIXED ? a->mixed_dtype : DT_F32;
    t.ndim = a->ndim;
    for (int i = 0; i < a->ndim; i++) t.shape[i] = a->shape[i];
    t.name = a->name;
    return t;
}

static Tensor absent(void) { return tensor_make(NULL, DT_F32, 1, (int64_t)0); }

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Compares both runs of every tensor of the case, then frees them.
 * expect_rounding: the op computes BF16 results that are not bf16 values, and
 * some must round up (round to nearest even away from truncation), so that a
 * narrowing that truncates could not pass. */
static void finish(Case *c, int expect_rounding) {
    int64_t rounded_up = 0;
    int any_bf16 = 0;
    for (int k = 0; k < c->count; k++) {
        Arg *a = &c->args[k];
        int64_t wrong = 0, first = -1;
        double got_first = 0;
        for (int64_t i = 0; i < a->n; i++) {
            float ref = a->all_f32[i];
            int same;
            double got;
            if (a->mixed_dtype == DT_BF16) {
                uint16_t bits, want = f32_to_bf16(ref);
                memcpy(&bits, (const char *)a->mixed + 2 * i, 2);
                same = bits == want;
                got = bf16_to_f32(bits);
                rounded_up += want != (uint16_t)(float_bits(ref) >> 16);
                any_bf16 = 1;
            } else {
                float v = ((const float *)a->mixed)[i];
                same = float_bits(v) == float_bits(ref);
                got = v;
            }
            if (!same) {
                if (first < 0) first = i, got_first = got;
                wrong++;
            }
        }
        EXPECT(wrong == 0, "%s: %s (%s) differs from the all-F32 run at %lld of %lld elements; first [%lld]: %.9g, "
               "all-F32 run %.9g",
               c->name, a->name, dtype_name(a->mixed_dtype), (long long)wrong, (long long)a->n, (long long)first,
               got_first, first >= 0 ? (double)a->all_f32[first] : 0.0);
        free(a->all_f32);
        free(a->mixed);
    }
    EXPECT(any_bf16, "%s: the mixed run has no BF16 tensor", c->name);
    if (expect_rounding)
        EXPECT(rounded_up > 0, "%s: no BF16 result needed rounding up, so truncation would go unnoticed", c->name);
    c->count = 0;
}

/* ---- forward and backward ops, both runs ---------------------------------------- */

static void check_linear(const char *name, DType out_dtype, DType weight_dtype, int with_bias) {
    Case c = {.name = name};
    Arg *y = ARG(&c, "y", out_dtype, 6, 5), *x = ARG(&c, "x", DT_BF16, 6, 9);
    Arg *w = ARG(&c, "w", weight_dtype, 5, 9), *b = ARG(&c, "b", weight_dtype, 5);
    for (int run = ALL_F32; run <= MIXED; run++) {
        Tensor bias = view(b, run);
        op_linear(g_ops, view(y, run), view(x, run), view(w, run), with_bias ? &bias : NULL);
    }
    finish(&c, out_dtype == DT_BF16);
}

static void test_linear(void) {
    check_linear("linear, frozen BF16 weight and bias", DT_BF16, DT_BF16, 1);
    check_linear("linear, trainable F32 weight and bias", DT_BF16, DT_F32, 1);
    check_linear("linear without bias", DT_BF16, DT_BF16, 0);
    check_linear("linear into an F32 output", DT_F32, DT_BF16, 1);
}

static void check_linear_backward(const char *name, DType weight_dtype, DType grad_dtype, int weight_grads,
                                  int accumulate) {
    Case c = {.name = name};
    Arg *dx = ARG(&c, "dx", DT_BF16, 6, 9), *dw = ARG(&c, "dw", grad_dtype, 5, 9), *db = ARG(&c, "db", grad_dtype, 5);
    Arg *dy = ARG(&c, "dy", DT_BF16, 6, 5), *x = ARG(&c, "x", DT_BF16, 6, 9), *w = ARG(&c, "w", weight_dtype, 5, 9);
    for (int run = ALL_F32; run <= MIXED; run++)
        op_linear_backward(g_ops, view(dx, run), weight_grads ? view(dw, run) : absent(),
                           weight_grads ? view(db, run) : absent(), view(dy, run), view(x, run), view(w, run),
                           accumulate);
    finish(&c, 1);
}

static void test_linear_backward(void) {
    check_linear_backward("linear_backward, trainable weight (dw, db +=)", DT_F32, DT_F32, 1, 0);
    check_linear_backward("linear_backward, accumulate into BF16 dx", DT_F32, DT_F32, 1, 1);
    check_linear_backward("linear_backward, frozen BF16 weight, no weight gradients", DT_BF16, DT_F32, 0, 1);
    check_linear_backward("linear_backward, BF16 weight gradients (+=)", DT_BF16, DT_BF16, 1, 0);
}

static void test_matmul(void) {
    const int64_t m = 4, n = 6, k = 7;
    char name[96];
    for (int ta = 0; ta <= 1; ta++)
        for (int tb = 0; tb <= 1; tb++)
            for (int with_beta = 0; with_beta <= 1; with_beta++) {
                snprintf(name, sizeof name, "matmul trans_a=%d trans_b=%d beta=%s", ta, tb, with_beta ? "0.5" : "0");
                Case c = {.name = name};
                Arg *out = ARG(&c, "c", DT_BF16, m, n);
                Arg *a = ta ? ARG(&c, "a", DT_BF16, k, m) : ARG(&c, "a", DT_BF16, m, k);
                Arg *b = tb ? ARG(&c, "b", DT_F32, n, k) : ARG(&c, "b", DT_F32, k, n);
                for (int run = ALL_F32; run <= MIXED; run++)
                    op_matmul(g_ops, view(out, run), view(a, run), view(b, run), ta, tb, 0.75f, with_beta ? 0.5f : 0);
                finish(&c, 1);
            }
}

/* Forward, then (when the statistics are kept) backward on the forward's own
 * F32 mean/rstd, which both runs compute identically. */
static void check_layernorm(const char *name, DType param_dtype, int keep_stats, int accumulate) {
    const int64_t n = 5, d = 24;
    Case c = {.name = name};
    Arg *y = ARG(&c, "y", DT_BF16, n, d), *x = ARG(&c, "x", DT_BF16, n, d);
    Arg *g = ARG(&c, "g", param_dtype, d), *b = ARG(&c, "b", param_dtype, d);
    Arg *mean = ARG(&c, "mean", DT_F32, n), *rstd = ARG(&c, "rstd", DT_F32, n);
    Arg *dx = ARG(&c, "dx", DT_BF16, n, d), *dy = ARG(&c, "dy", DT_BF16, n, d);
    Arg *dg = ARG(&c, "dg", DT_F32, d), *db = ARG(&c, "db", DT_F32, d);
    int trainable = param_dtype == DT_F32;
    for (int run = ALL_F32; run <= MIXED; run++) {
        op_layernorm(g_ops, view(y, run), keep_stats ? view(mean, run) : absent(),
                     keep_stats ? view(rstd, run) : absent(), view(x, run), view(g, run), view(b, run), 1e-5f);
        if (keep_stats)
            op_layernorm_backward(g_ops, view(dx, run), trainable ? view(dg, run) : absent(),
                                  trainable ? view(db, run) : absent(), view(dy, run), view(x, run), view(mean, run),
                                  view(rstd, run), view(g, run), accumulate);
    }
    finish(&c, 1);
}

static void test_layernorm(void) {
    check_layernorm("layernorm + backward, trainable F32 gain/bias", DT_F32, 1, 0);
    check_layernorm("layernorm + backward, accumulate into BF16 dx", DT_F32, 1, 1);
    check_layernorm("layernorm + backward, frozen BF16 gain/bias", DT_BF16, 1, 0);
    check_layernorm("layernorm without statistics", DT_F32, 0, 0);
}

static void test_activations(void) {
    static const char *const names[] = {"quickgelu", "gelu_erf", "gelu_tanh"};
    const Activation acts[] = {ACT_QUICKGELU, ACT_GELU_ERF, ACT_GELU_TANH};
    char name[96];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "activation %s + backward", names[i]);
        Case c = {.name = name};
        Arg *y = ARG(&c, "y", DT_BF16, 4, 33), *x = ARG(&c, "x", DT_BF16, 4, 33);
        Arg *dx = ARG(&c, "dx", DT_BF16, 4, 33), *dy = ARG(&c, "dy", DT_BF16, 4, 33);
        Arg *in_place = ARG(&c, "dy then dx (in place)", DT_BF16, 4, 33);
        for (int run = ALL_F32; run <= MIXED; run++) {
            op_activation(g_ops, acts[i], view(y, run), view(x, run));
            op_activation_backward(g_ops, acts[i], view(dx, run), view(dy, run), view(x, run));
            op_activation_backward(g_ops, acts[i], view(in_place, run), view(in_place, run), view(x, run));
        }
        finish(&c, 1);
    }
}

static void test_add_axpy_scale(void) {
    Case c = {.name = "add (also in place), axpy, scale"};
    Arg *y = ARG(&c, "y", DT_BF16, 3, 20), *a = ARG(&c, "a", DT_BF16, 3, 20), *b = ARG(&c, "b", DT_F32, 3, 20);
    Arg *sum_in_place = ARG(&c, "a then a + b (in place)", DT_BF16, 3, 20);
    Arg *acc_bf16 = ARG(&c, "axpy y BF16", DT_BF16, 3, 20), *acc_f32 = ARG(&c, "axpy y F32", DT_F32, 3, 20);
    Arg *scaled = ARG(&c, "scaled", DT_BF16, 3, 20);
    for (int run = ALL_F32; run <= MIXED; run++) {
        op_add(g_ops, view(y, run), view(a, run), view(b, run));
        op_add(g_ops, view(sum_in_place, run), view(sum_in_place, run), view(b, run));
        op_axpy(g_ops, view(acc_bf16, run), 0.3f, view(b, run));
        op_axpy(g_ops, view(acc_f32, run), -1.7f, view(a, run));
        op_scale(g_ops, view(scaled, run), 0.3f);
    }
    finish(&c, 1);
}

static void test_axpy_rows(void) {
    Case c = {.name = "axpy_rows, beta 0 and 0.7, x aliasing y"};
    Arg *fresh = ARG(&c, "y (beta 0)", DT_BF16, 4, 10), *kept = ARG(&c, "y (beta 0.7)", DT_BF16, 4, 10);
    Arg *self = ARG(&c, "y = x (beta 0.7)", DT_BF16, 4, 10);
    Arg *w = ARG(&c, "w", DT_F32, 4), *x = ARG(&c, "x", DT_BF16, 4, 10);
    for (int run = ALL_F32; run <= MIXED; run++) {
        op_axpy_rows(g_ops, view(fresh, run), view(w, run), view(x, run), 0);
        op_axpy_rows(g_ops, view(kept, run), view(w, run), view(x, run), 0.7f);
        op_axpy_rows(g_ops, view(self, run), view(w, run), view(self, run), 0.7f);
    }
    finish(&c, 1);
}

static void check_add_broadcast(const char *name, DType pos_dtype) {
    Case c = {.name = name};
    Arg *y = ARG(&c, "y", DT_BF16, 3, 4, 5), *p = ARG(&c, "p", pos_dtype, 4, 5);
    Arg *dp = ARG(&c, "dp", pos_dtype, 4, 5), *dy = ARG(&c, "dy", DT_BF16, 3, 4, 5);
    for (int run = ALL_F32; run <= MIXED; run++) {
        op_add_broadcast(g_ops, view(y, run), view(p, run));
        op_add_broadcast_backward(g_ops, view(dp, run), view(dy, run));
    }
    finish(&c, 1);
}

static void test_add_broadcast(void) {
    check_add_broadcast("add_broadcast + backward, trainable F32 positions", DT_F32);
    check_add_broadcast("add_broadcast + backward, BF16 positions and gradient", DT_BF16);
}

/* The saved probabilities are the backend's own bytes (the model types them U8):
 * a BF16 call keeps them in the F32 layout, unrounded, byte for byte what the
 * all-F32 run saves, and its backward reads them back. */
static void check_attention(int causal) {
    const int64_t batch = 2, seq = 5, heads = 2, head_dim = 4, width = heads * head_dim;
    char name[64];
    snprintf(name, sizeof name, "attention + backward, causal=%d", causal);
    Case c = {.name = name};
    Arg *out = ARG(&c, "out", DT_BF16, batch, seq, width), *qkv = ARG(&c, "qkv", DT_BF16, batch, seq, 3 * width);
    Arg *dqkv = ARG(&c, "dqkv", DT_BF16, batch, seq, 3 * width), *dout = ARG(&c, "dout", DT_BF16, batch, seq, width);
    size_t saved_bytes = op_attention_saved_bytes(g_ops, batch, seq, (int)heads);
    unsigned char *saved[2];
    for (int run = ALL_F32; run <= MIXED; run++) {
        saved[run] = calloc(1, saved_bytes);
        Tensor probs = tensor_make(saved[run], DT_U8, 1, (int64_t)saved_bytes);
        probs.name = "saved";
        op_attention(g_ops, view(out, run), probs, view(qkv, run), (int)heads, causal);
        op_attention_backward(g_ops, view(dqkv, run), view(dout, run), view(qkv, run), probs, (int)heads, causal);
    }
    size_t f32_layout = (size_t)(batch * heads * seq * seq) * sizeof(float);
    EXPECT(memcmp(saved[ALL_F32], saved[MIXED], saved_bytes) == 0,
           "%s: the BF16 call saved other probabilities than the F32 call", name);
    int rows_sum_to_one = 1;
    for (int64_t r = 0; r < batch * heads * seq; r++) {
        const float *p = (const float *)saved[MIXED] + r * seq;
        double s = 0;
        for (int64_t j = 0; j < seq; j++) s += p[j];
        rows_sum_to_one &= fabs(s - 1) < 1e-5;
    }
    EXPECT(rows_sum_to_one, "%s: the BF16 call's saved buffer is not F32 probabilities in its first %zu bytes", name,
           f32_layout);
    free(saved[ALL_F32]);
    free(saved[MIXED]);
    finish(&c, 1);
}

static void test_attention(void) {
    check_attention(0);
    check_attention(1);
}

static void check_embedding(const char *name, DType table_dtype) {
    int32_t ids[7] = {3, 0, 3, 5, 1, 3, 0}; /* repeats: the backward adds several rows into one */
    Tensor ids_t = tensor_make(ids, DT_I32, 1, (int64_t)7);
    Case c = {.name = name};
    Arg *y = ARG(&c, "y", DT_BF16, 7, 6), *table = ARG(&c, "table", table_dtype, 6, 6);
    Arg *dtable = ARG(&c, "dtable", table_dtype, 6, 6), *dy = ARG(&c, "dy", DT_BF16, 7, 6);
    for (int run = ALL_F32; run <= MIXED; run++) {
        op_embedding(g_ops, view(y, run), view(table, run), ids_t);
        op_embedding_backward(g_ops, view(dtable, run), view(dy, run), ids_t);
    }
    finish(&c, 1);
}

static void test_embedding(void) {
    check_embedding("embedding + backward, trainable F32 table (y narrows F32 rows)", DT_F32);
    check_embedding("embedding + backward, BF16 table and BF16 dtable (+=)", DT_BF16);
}

static void check_gather_rows(const char *name, DType dx_dtype) {
    int32_t idx[5] = {2, 7, 2, 0, 7};
    Tensor idx_t = tensor_make(idx, DT_I32, 1, (int64_t)5);
    Case c = {.name = name};
    Arg *y = ARG(&c, "y", DT_BF16, 5, 6), *x = ARG(&c, "x", DT_BF16, 2, 4, 6);
    Arg *dx = ARG(&c, "dx", dx_dtype, 2, 4, 6), *dy = ARG(&c, "dy", DT_BF16, 5, 6);
    for (int run = ALL_F32; run <= MIXED; run++) {
        op_gather_rows(g_ops, view(y, run), view(x, run), idx_t);
        op_gather_rows_backward(g_ops, view(dx, run), view(dy, run), idx_t);
    }
    finish(&c, dx_dtype == DT_BF16); /* y gathers bf16 values: nothing to round */
}

static void test_gather_scatter(void) {
    check_gather_rows("gather_rows + backward into BF16 dx (+=)", DT_BF16);
    check_gather_rows("gather_rows + backward into F32 dx (+=)", DT_F32);
    /* Learnable F32 contexts placed into BF16 prompt embeddings: the placed rows
     * round, the rows no index names keep their values. */
    int32_t idx[3] = {4, 1, 6};
    Case c = {.name = "scatter_rows of F32 rows into BF16"};
    Arg *y = ARG(&c, "y", DT_BF16, 8, 6), *x = ARG(&c, "x", DT_F32, 3, 6);
    for (int run = ALL_F32; run <= MIXED; run++)
        op_scatter_rows(g_ops, view(y, run), view(x, run), tensor_make(idx, DT_I32, 1, (int64_t)3));
    finish(&c, 1);
}

static void test_layout_ops(void) {
    Case c = {.name = "im2col, permute_0213 (BF16 in, BF16 out: copies)"};
    Arg *images = ARG(&c, "images", DT_BF16, 2, 3, 8, 8), *patches = ARG(&c, "patches", DT_BF16, 2 * 4, 3 * 16);
    Arg *x = ARG(&c, "x", DT_BF16, 2, 3, 4, 5), *y = ARG(&c, "y", DT_BF16, 2, 4, 3, 5);
    for (int run = ALL_F32; run <= MIXED; run++) {
        op_im2col_patches(g_ops, view(patches, run), view(images, run), 4);
        op_permute_0213(g_ops, view(y, run), view(x, run));
    }
    finish(&c, 0);
}

static void check_prepend_token(const char *name, int with_dx) {
    Case c = {.name = name};
    const int64_t d = 16;
    Arg *y = ARG(&c, "y", DT_BF16, 3, 5, d), *x = ARG(&c, "x", DT_BF16, 3, 4, d), *tok = ARG(&c, "tok", DT_F32, d);
    Arg *dx = ARG(&c, "dx", DT_BF16, 3, 4, d), *dtok = ARG(&c, "dtok", DT_F32, d);
    Arg *dy = ARG(&c, "dy", DT_BF16, 3, 5, d);
    for (int run = ALL_F32; run <= MIXED; run++) {
        op_prepend_token(g_ops, view(y, run), view(x, run), view(tok, run));
        op_prepend_token_backward(g_ops, with_dx ? view(dx, run) : absent(), view(dtok, run), view(dy, run));
    }
    finish(&c, 1); /* the F32 class token rounds into y */
}

static void test_prepend_token(void) {
    check_prepend_token("prepend_token (F32 class token) + backward", 1);
    check_prepend_token("prepend_token + backward without dx", 0);
}

static void test_l2_normalize_mean(void) {
    Case c = {.name = "l2_normalize, mean_dim1 and their backwards"};
    Arg *y = ARG(&c, "y", DT_BF16, 4, 16), *x = ARG(&c, "x", DT_BF16, 4, 16);
    Arg *dx = ARG(&c, "dx", DT_BF16, 4, 16), *dy = ARG(&c, "dy", DT_BF16, 4, 16);
    Arg *mean = ARG(&c, "mean", DT_BF16, 2, 6), *mean_f32 = ARG(&c, "mean F32", DT_F32, 2, 6);
    Arg *frames = ARG(&c, "frames", DT_BF16, 2, 5, 6);
    Arg *dframes = ARG(&c, "dframes", DT_BF16, 2, 5, 6), *dmean = ARG(&c, "dmean", DT_BF16, 2, 6);
    for (int run = ALL_F32; run <= MIXED; run++) {
        op_l2_normalize(g_ops, view(y, run), view(x, run), 1e-12f);
        op_l2_normalize_backward(g_ops, view(dx, run), view(dy, run), view(x, run), 1e-12f);
        op_mean_dim1(g_ops, view(mean, run), view(frames, run));
        op_mean_dim1(g_ops, view(mean_f32, run), view(frames, run));
        op_mean_dim1_backward(g_ops, view(dframes, run), view(dmean, run));
    }
    finish(&c, 1);
}

static void check_cross_entropy(const char *name, int with_dlogits) {
    int32_t labels[5] = {2, 0, 6, 2, 4};
    Case c = {.name = name};
    Arg *loss = ARG(&c, "loss", DT_F32, 5), *dlogits = ARG(&c, "dlogits", DT_BF16, 5, 7);
    Arg *logits = ARG(&c, "logits", DT_BF16, 5, 7);
    for (int run = ALL_F32; run <= MIXED; run++)
        op_cross_entropy(g_ops, view(loss, run), with_dlogits ? view(dlogits, run) : absent(), view(logits, run),
                         tensor_make(labels, DT_I32, 1, (int64_t)5), 1.0f / 3);
    finish(&c, with_dlogits);
}

static void test_cross_entropy(void) {
    check_cross_entropy("cross_entropy with dlogits", 1);
    check_cross_entropy("cross_entropy without dlogits", 0);
}

static void test_sum_squares(void) {
    Case c = {.name = "sum_squares"};
    Arg *x = ARG(&c, "x", DT_BF16, 37, 11);
    double all_f32 = op_sum_squares(g_ops, view(x, ALL_F32)), mixed = op_sum_squares(g_ops, view(x, MIXED));
    EXPECT(all_f32 == mixed && all_f32 > 0, "sum_squares of BF16 %.17g, of the same values in F32 %.17g", mixed,
           all_f32);
    finish(&c, 0);
}

/* ---- rounding, host transfers, refusals ------------------------------------------- */

/* Sums with known bf16 results: ties go to the even neighbour, in either
 * direction, and anything above half an ulp rounds up. Truncation gets [1] and
 * [2] wrong, rounding ties away from zero gets [0] wrong. */
static void test_round_to_nearest_even(void) {
    const float ulp = 1.0f / 128, half = ulp / 2; /* bf16 spacing in [1, 2) */
    float a[4] = {1, 1 + ulp, 1, -1}, b[4] = {half, half, half + ulp / 4096, -half};
    const uint16_t want[4] = {0x3f80 /* 1 */, 0x3f82 /* 1 + 2 ulp */, 0x3f81 /* 1 + ulp */, 0xbf80 /* -1 */};
    uint16_t y[4];
    op_add(g_ops, tensor_make(y, DT_BF16, 1, (int64_t)4), tensor_make(a, DT_F32, 1, (int64_t)4),
           tensor_make(b, DT_F32, 1, (int64_t)4));
    for (int i = 0; i < 4; i++)
        EXPECT(y[i] == want[i], "%.9g + %.9g narrowed to 0x%04x, expected 0x%04x", a[i], b[i], y[i], want[i]);
}

static void test_upload_download_f64(void) {
    const double ulp = 1.0 / 128;
    /* [4] is 2^-40 above the tie of [0]: rounded once it goes up; through a plain float it became the tie (even, 1) */
    double src[5] = {1 + ulp / 2, 1 + 1.5 * ulp, -2.75, 3.0e-3, 1 + ulp / 2 + 0x1p-40}, back[5];
    uint16_t bits[5];
    Tensor t = tensor_make(bits, DT_BF16, 1, (int64_t)5);
    t.name = "bf16 host transfer";
    ops_upload_f64(g_ops, t, src);
    EXPECT(bits[0] == 0x3f80 && bits[1] == 0x3f82, "ops_upload_f64 narrowed ties to 0x%04x 0x%04x", bits[0], bits[1]);
    EXPECT(bits[4] == 0x3f81, "ops_upload_f64 rounded 1 + 2^-8 + 2^-40 to 0x%04x, not once (0x3f81)", bits[4]);
    ops_download_f64(g_ops, back, t);
    for (int i = 0; i < 4; i++)
        EXPECT(back[i] == bf16_to_f32(f32_to_bf16((float)src[i])), "ops_download_f64 [%d]: %.9g", i, back[i]);
}

static void add_f64_to_bf16(void) {
    double y[3], a[3] = {1, 2, 3};
    uint16_t b[3] = {0x3f80, 0x3f80, 0x3f80};
    Tensor bt = tensor_make(b, DT_BF16, 1, (int64_t)3);
    bt.name = "the_bf16_operand";
    op_add(g_ops, tensor_make(y, DT_F64, 1, (int64_t)3), tensor_make(a, DT_F64, 1, (int64_t)3), bt);
}

static void sgd_with_bf16_gradient(void) {
    float w[3] = {1, 2, 3};
    uint16_t g[3] = {0x3f80, 0x3f80, 0x3f80};
    Tensor gt = tensor_make(g, DT_BF16, 1, (int64_t)3);
    gt.name = "the_bf16_gradient";
    op_sgd_update(g_ops, tensor_make(w, DT_F32, 1, (int64_t)3), gt, absent(), 0.1f, 0, 0, 1);
}

static void test_refusals(void) {
    char err[2048];
    int rc = test_exit_status_of(add_f64_to_bf16, err, sizeof err);
    EXPECT(rc == 2 && strstr(err, "the_bf16_operand") && strstr(err, "F64"),
           "F64 mixed with BF16: exit %d, message \"%s\"", rc, err);
    rc = test_exit_status_of(sgd_with_bf16_gradient, err, sizeof err);
    EXPECT(rc == 2 && strstr(err, "the_bf16_gradient") && strstr(err, "F32"),
           "sgd_update with a BF16 gradient: exit %d, message \"%s\"", rc, err);
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* First, before any op has started OpenMP threads, which a forked child would
     * not have (its body fails in the dtype check, before any kernel, anyway). */
    TEST_RUN(test_refusals);
    TEST_RUN(test_round_to_nearest_even);
    TEST_RUN(test_upload_download_f64);
    TEST_RUN(test_linear);
    TEST_RUN(test_linear_backward);
    TEST_RUN(test_matmul);
    TEST_RUN(test_layernorm);
    TEST_RUN(test_activations);
    TEST_RUN(test_add_axpy_scale);
    TEST_RUN(test_axpy_rows);
    TEST_RUN(test_add_broadcast);
    TEST_RUN(test_attention);
    TEST_RUN(test_embedding);
    TEST_RUN(test_gather_scatter);
    TEST_RUN(test_layout_ops);
    TEST_RUN(test_prepend_token);
    TEST_RUN(test_l2_normalize_mean);
    TEST_RUN(test_cross_entropy);
    TEST_RUN(test_sum_squares);
    ops_destroy(g_ops);
    return test_summary();
}
