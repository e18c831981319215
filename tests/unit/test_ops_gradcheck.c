/* Gradient checks of every backward op against central finite differences,
 * in double precision (the CPU backend computes in F64 when given F64
 * tensors). Each check defines a scalar L = sum(op_output * R) for a fixed
 * random R, so dL/d(output) = R is the upstream gradient fed to backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/ops.h"
#include "testlib.h"

static Ops *g_ops;
static uint64_t g_key = 100;

static double *rnd(int64_t n) {
    Rng r;
    rng_init(&r, 42, g_key++, 0, 0);
    double *v = malloc((size_t)(n ? n : 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) v[i] = rng_normal(&r);
    return v;
}
static double *zeros(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(double)); }

static Tensor d1(double *p, int64_t a) { return tensor_make(p, DT_F64, 1, a); }
static Tensor d2(double *p, int64_t a, int64_t b) { return tensor_make(p, DT_F64, 2, a, b); }
static Tensor d3(double *p, int64_t a, int64_t b, int64_t c) { return tensor_make(p, DT_F64, 3, a, b, c); }
static Tensor none(void) { return tensor_make(NULL, DT_F64, 1, (int64_t)0); }

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

typedef double (*LossFn)(void *ctx);

/* Compares analytic[i] with (L(x+h e_i) - L(x-h e_i)) / 2h for every element
 * (or 60 spread-out ones for large inputs). */
static void check(const char *what, double *x, int64_t n, const double *analytic, LossFn loss, void *ctx) {
    const double h = 1e-6;
    int64_t step = n > 60 ? n / 60 : 1;
    double worst = 0;
    for (int64_t i = 0; i < n; i += step) {
        double keep = x[i];
        x[i] = keep + h;
        double lp = loss(ctx);
        x[i] = keep - h;
        double lm = loss(ctx);
        x[i] = keep;
        double num = (lp - lm) / (2 * h);
        double err = fabs(num - analytic[i]) / fmax(1.0, fabs(num));
        if (err > worst) worst = err;
    }
    EXPECT(worst < 1e-6, "%s: worst relative gradient error %.3g", what, worst);
}

/* ---- linear ---- */
typedef struct { int64_t n, in, out; double *x, *w, *b, *y, *r; } LinearCtx;
static double linear_loss(void *p) {
    LinearCtx *c = p;
    Tensor b = d1(c->b, c->out);
    op_linear(g_ops, d2(c->y, c->n, c->out), d2(c->x, c->n, c->in), d2(c->w, c->out, c->in), &b);
    return dot(c->y, c->r, c->n * c->out);
}
static void test_linear(void) {
    LinearCtx c = {4, 6, 5};
    c.x = rnd(c.n * c.in), c.w = rnd(c.out * c.in), c.b = rnd(c.out), c.y = zeros(c.n * c.out), c.r = rnd(c.n * c.out);
    double *dx = rnd(c.n * c.in), *dw = zeros(c.out * c.in), *db = zeros(c.out);
    double *dx0 = malloc(c.n * c.in * sizeof(double));
    memcpy(dx0, dx, c.n * c.in * sizeof(double));
    /* accumulate = 1: dx must come back as its old content plus the gradient */
    op_linear_backward(g_ops, d2(dx, c.n, c.in), d2(dw, c.out, c.in), d1(db, c.out), d2(c.r, c.n, c.out),
                       d2(c.x, c.n, c.in), d2(c.w, c.out, c.in), 1);
    for (int64_t i = 0; i < c.n * c.in; i++) dx[i] -= dx0[i];
    check("linear dx", c.x, c.n * c.in, dx, linear_loss, &c);
    check("linear dw", c.w, c.out * c.in, dw, linear_loss, &c);
    check("linear db", c.b, c.out, db, linear_loss, &c);
    /* frozen weight: no dw, dx overwritten */
    op_linear_backward(g_ops, d2(dx0, c.n, c.in), none(), none(), d2(c.r, c.n, c.out), d2(c.x, c.n, c.in),
                       d2(c.w, c.out, c.in), 0);
    EXPECT(fabs(dx0[3] - dx[3]) < 1e-12, "input-gradient-only mode gives the same dx");
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(dx), free(dw), free(db), free(dx0);
}

/* ---- layer norm ---- */
typedef struct { int64_t n, d; double *x, *g, *b, *y, *mean, *rstd, *r; } LnCtx;
static double ln_loss(void *p) {
    LnCtx *c = p;
    op_layernorm(g_ops, d2(c->y, c->n, c->d), d1(c->mean, c->n), d1(c->rstd, c->n), d2(c->x, c->n, c->d),
                 d1(c->g, c->d), d1(c->b, c->d), 1e-5f);
    return dot(c->y, c->r, c->n * c->d);
}
static void test_layernorm(void) {
    LnCtx c = {3, 7};
    c.x = rnd(c.n * c.d), c.g = rnd(c.d), c.b = rnd(c.d), c.y = zeros(c.n * c.d), c.mean = zeros(c.n);
    c.rstd = zeros(c.n), c.r = rnd(c.n * c.d);
    ln_loss(&c);
    double *dx = zeros(c.n * c.d), *dg = zeros(c.d), *db = zeros(c.d);
    op_layernorm_backward(g_ops, d2(dx, c.n, c.d), d1(dg, c.d), d1(db, c.d), d2(c.r, c.n, c.d), d2(c.x, c.n, c.d),
                          d1(c.mean, c.n), d1(c.rstd, c.n), d1(c.g, c.d), 0);
    check("layernorm dx", c.x, c.n * c.d, dx, ln_loss, &c);
    check("layernorm dg", c.g, c.d, dg, ln_loss, &c);
    check("layernorm db", c.b, c.d, db, ln_loss, &c);
    /* accumulate = 1 (a residual stream): dx comes back as its old content plus the same gradient */
    double *dx_acc = rnd(c.n * c.d), *dx_old = malloc((size_t)(c.n * c.d) * sizeof(double));
    memcpy(dx_old, dx_acc, (size_t)(c.n * c.d) * sizeof(double));
    op_layernorm_backward(g_ops, d2(dx_acc, c.n, c.d), none(), none(), d2(c.r, c.n, c.d), d2(c.x, c.n, c.d),
                          d1(c.mean, c.n), d1(c.rstd, c.n), d1(c.g, c.d), 1);
    for (int64_t i = 0; i < c.n * c.d; i++) dx_acc[i] -= dx_old[i];
    check("layernorm dx, accumulated", c.x, c.n * c.d, dx_acc, ln_loss, &c);
    free(dx_acc), free(dx_old);
    free(c.x), free(c.g), free(c.b), free(c.y), free(c.mean), free(c.rstd), free(c.r), free(dx), free(dg), free(db);
}

/* ---- activations ---- */
typedef struct { Activation act; int64_t n; double *x, *y, *r; } ActCtx;
static double act_loss(void *p) {
    ActCtx *c = p;
    op_activation(g_ops, c->act, d1(c->y, c->n), d1(c->x, c->n));
    return dot(c->y, c->r, c->n);
}
static void test_activations(void) {
    const char *names[3] = {"QuickGELU", "erf GELU", "tanh GELU"};
    for (int a = 0; a < 3; a++) {
        ActCtx c = {(Activation)a, 40};
        c.x = rnd(c.n), c.y = zeros(c.n), c.r = rnd(c.n);
        for (int64_t i = 0; i < c.n; i++) c.x[i] *= 2.5; /* cover the tails */
        c.x[0] = -9.0, c.x[1] = 9.0, c.x[2] = -30.0, c.x[3] = 30.0; /* and the saturated ends */
        double *dx = zeros(c.n);
        op_activation_backward(g_ops, c.act, d1(dx, c.n), d1(c.r, c.n), d1(c.x, c.n));
        check(names[a], c.x, c.n, dx, act_loss, &c);
        free(c.x), free(c.y), free(c.r), free(dx);
    }
}

/* ---- attention ---- */
typedef struct { int64_t b, s; int heads, causal; int64_t w; double *qkv, *out, *saved, *r; } AttCtx;
static double att_loss(void *p) {
    AttCtx *c = p;
    op_attention(g_ops, d3(c->out, c->b, c->s, c->w), d1(c->saved, c->b * c->heads * c->s * c->s),
                 d3(c->qkv, c->b, c->s, 3 * c->w), c->heads, c->causal);
    return dot(c->out, c->r, c->b * c->s * c->w);
}
static void test_attention(void) {
    for (int causal = 0; causal < 2; causal++) {
        AttCtx c = {2, 5, 2, causal, 6};
        c.qkv = rnd(c.b * c.s * 3 * c.w), c.out = zeros(c.b * c.s * c.w), c.r = rnd(c.b * c.s * c.w);
        c.saved = zeros(c.b * c.heads * c.s * c.s);
        att_loss(&c);
        double *dqkv = rnd(c.b * c.s * 3 * c.w); /* garbage: backward must overwrite */
        op_attention_backward(g_ops, d3(dqkv, c.b, c.s, 3 * c.w), d3(c.r, c.b, c.s, c.w), d3(c.qkv, c.b, c.s, 3 * c.w),
                              d1(c.saved, c.b * c.heads * c.s * c.s), c.heads, c.causal);
        check(causal ? "causal attention dqkv" : "attention dqkv", c.qkv, c.b * c.s * 3 * c.w, dqkv, att_loss, &c);
        free(c.qkv), free(c.out), free(c.saved), free(c.r), free(dqkv);
    }
}

/* ---- gather / embedding / prepend / broadcast / l2 / mean ---- */
typedef struct { int64_t n, rows, d; int32_t *idx; double *x, *y, *r; int embedding; } GatherCtx;
static double gather_loss(void *p) {
    GatherCtx *c = p;
    Tensor idx = tensor_make(c->idx, DT_I32, 1, c->n);
    if (c->embedding) op_embedding(g_ops, d2(c->y, c->n, c->d), d2(c->x, c->rows, c->d), idx);
    else op_gather_rows(g_ops, d2(c->y, c->n, c->d), d2(c->x, c->rows, c->d), idx);
    return dot(c->y, c->r, c->n * c->d);
}
static void test_gather_and_embedding(void) {
    int32_t idx[5] = {2, 0, 2, 3, 1}; /* a repeated row: its gradient must add up */
    for (int e = 0; e < 2; e++) {
        GatherCtx c = {5, 4, 3, idx};
        c.embedding = e;
        c.x = rnd(c.rows * c.d), c.y = zeros(c.n * c.d), c.r = rnd(c.n * c.d);
        double *dx = zeros(c.rows * c.d);
        Tensor ti = tensor_make(idx, DT_I32, 1, c.n);
        if (e) op_embedding_backward(g_ops, d2(dx, c.rows, c.d), d2(c.r, c.n, c.d), ti);
        else op_gather_rows_backward(g_ops, d2(dx, c.rows, c.d), d2(c.r, c.n, c.d), ti);
        check(e ? "embedding dtable" : "gather_rows dx", c.x, c.rows * c.d, dx, gather_loss, &c);
        free(c.x), free(c.y), free(c.r), free(dx);
    }
}

typedef struct { int64_t b, s, d; double *x, *tok, *pos, *y, *r; } PrepCtx;
static double prep_loss(void *p) {
    PrepCtx *c = p;
    op_prepend_token(g_ops, d3(c->y, c->b, c->s + 1, c->d), d3(c->x, c->b, c->s, c->d), d1(c->tok, c->d));
    op_add_broadcast(g_ops, d3(c->y, c->b, c->s + 1, c->d), d2(c->pos, c->s + 1, c->d));
    return dot(c->y, c->r, c->b * (c->s + 1) * c->d);
}
static void test_prepend_and_broadcast(void) {
    PrepCtx c = {2, 3, 4};
    c.x = rnd(c.b * c.s * c.d), c.tok = rnd(c.d), c.pos = rnd((c.s + 1) * c.d), c.y = zeros(c.b * (c.s + 1) * c.d);
    c.r = rnd(c.b * (c.s + 1) * c.d);
    double *dx = zeros(c.b * c.s * c.d), *dtok = zeros(c.d), *dpos = zeros((c.s + 1) * c.d);
    op_add_broadcast_backward(g_ops, d2(dpos, c.s + 1, c.d), d3(c.r, c.b, c.s + 1, c.d));
    op_prepend_token_backward(g_ops, d3(dx, c.b, c.s, c.d), d1(dtok, c.d), d3(c.r, c.b, c.s + 1, c.d));
    check("prepend_token dx", c.x, c.b * c.s * c.d, dx, prep_loss, &c);
    check("prepend_token dtok", c.tok, c.d, dtok, prep_loss, &c);
    check("add_broadcast dp", c.pos, (c.s + 1) * c.d, dpos, prep_loss, &c);
    free(c.x), free(c.tok), free(c.pos), free(c.y), free(c.r), free(dx), free(dtok), free(dpos);
}

typedef struct { int64_t b, t, d; double *x, *m, *y, *r; } NormCtx;
static double norm_loss(void *p) {
    NormCtx *c = p;
    op_mean_dim1(g_ops, d2(c->m, c->b, c->d), d3(c->x, c->b, c->t, c->d));
    op_l2_normalize(g_ops, d2(c->y, c->b, c->d), d2(c->m, c->b, c->d), 1e-12f);
    return dot(c->y, c->r, c->b * c->d);
}
static void test_mean_and_l2(void) {
    NormCtx c = {3, 4, 5};
    c.x = rnd(c.b * c.t * c.d), c.m = zeros(c.b * c.d), c.y = zeros(c.b * c.d), c.r = rnd(c.b * c.d);
    norm_loss(&c);
    double *dm = zeros(c.b * c.d), *dx = zeros(c.b * c.t * c.d);
    op_l2_normalize_backward(g_ops, d2(dm, c.b, c.d), d2(c.r, c.b, c.d), d2(c.m, c.b, c.d), 1e-12f);
    op_mean_dim1_backward(g_ops, d3(dx, c.b, c.t, c.d), d2(dm, c.b, c.d));
    check("mean_dim1 + l2_normalize dx", c.x, c.b * c.t * c.d, dx, norm_loss, &c);
    free(c.x), free(c.m), free(c.y), free(c.r), free(dm), free(dx);
}

/* l2_normalize of rows whose norm is below eps: y = x / eps, so dx = dy / eps (the other branch of the op). */
typedef struct { int64_t n, d; double eps; double *x, *y, *r; } SmallNormCtx;
static double small_norm_loss(void *p) {
    SmallNormCtx *c = p;
    op_l2_normalize(g_ops, d2(c->y, c->n, c->d), d2(c->x, c->n, c->d), (float)c->eps);
    return dot(c->y, c->r, c->n * c->d);
}
static void test_l2_normalize_below_eps(void) {
    SmallNormCtx c = {2, 5, 0.5};
    c.x = rnd(c.n * c.d), c.y = zeros(c.n * c.d), c.r = rnd(c.n * c.d);
    for (int64_t i = 0; i < c.d; i++) c.x[i] *= 0.01; /* row 0: norm about 0.02, below eps; row 1 above */
    double *dx = zeros(c.n * c.d);
    op_l2_normalize_backward(g_ops, d2(dx, c.n, c.d), d2(c.r, c.n, c.d), d2(c.x, c.n, c.d), (float)c.eps);
    check("l2_normalize dx, a row below eps and one above", c.x, c.n * c.d, dx, small_norm_loss, &c);
    free(c.x), free(c.y), free(c.r), free(dx);
}

typedef struct { int64_t n, c; double *z, *loss; int32_t *labels; } CeCtx;
static double ce_loss(void *p) {
    CeCtx *c = p;
    op_cross_entropy(g_ops, d1(c->loss, c->n), none(), d2(c->z, c->n, c->c), tensor_make(c->labels, DT_I32, 1, c->n),
                     1.0f);
    double s = 0;
    for (int64_t i = 0; i < c->n; i++) s += c->loss[i];
    return s / (double)c->n;
}
static void test_cross_entropy(void) {
    int32_t labels[4] = {0, 3, 1, 3};
    CeCtx c = {4, 5, NULL, NULL, labels};
    c.z = rnd(c.n * c.c), c.loss = zeros(c.n);
    double *dz = zeros(c.n * c.c);
    op_cross_entropy(g_ops, d1(c.loss, c.n), d2(dz, c.n, c.c), d2(c.z, c.n, c.c), tensor_make(labels, DT_I32, 1, c.n),
                     1.0f / (float)c.n);
    /* loss of row 0 by hand */
    double mx = c.z[0], z = 0;
    for (int j = 1; j < 5; j++) mx = fmax(mx, c.z[j]);
    for (int j = 0; j < 5; j++) z += exp(c.z[j] - mx);
    EXPECT_NEAR(c.loss[0], mx + log(z) - c.z[0], 1e-12);
    check("cross_entropy dlogits", c.z, c.n * c.c, dz, ce_loss, &c);
    EXPECT_NEAR(op_sum_squares(g_ops, d1(c.z, 3)), c.z[0] * c.z[0] + c.z[1] * c.z[1] + c.z[2] * c.z[2], 1e-12);
    free(c.z), free(c.loss), free(dz);
}

/* matmul with both transposes against the plain definition. */
static void test_matmul_transposes(void) {
    double *a = rnd(6), *b = rnd(6), c[4], ref[4];
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            /* op(a) [2,3], op(b) [3,2] */
            Tensor A = ta ? d2(a, 3, 2) : d2(a, 2, 3), B = tb ? d2(b, 2, 3) : d2(b, 3, 2);
            for (int i = 0; i < 4; i++) c[i] = 1.0;
            op_matmul(g_ops, d2(c, 2, 2), A, B, ta, tb, 2.0f, 0.5f);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) {
                    double s = 0;
                    for (int k = 0; k < 3; k++)
                        s += (ta ? a[k * 2 + i] : a[i * 3 + k]) * (tb ? b[j * 3 + k] : b[k * 2 + j]);
                    ref[i * 2 + j] = 2 * s + 0.5;
                }
            for (int i = 0; i < 4; i++) EXPECT_NEAR(c[i], ref[i], 1e-12);
        }
    free(a), free(b);
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_linear);
    TEST_RUN(test_layernorm);
    TEST_RUN(test_activations);
    TEST_RUN(test_attention);
    TEST_RUN(test_gather_and_embedding);
    TEST_RUN(test_prepend_and_broadcast);
    TEST_RUN(test_mean_and_l2);
    TEST_RUN(test_l2_normalize_below_eps);
    TEST_RUN(test_cross_entropy);
    TEST_RUN(test_matmul_transposes);
    ops_destroy(g_ops);
    return test_summary();
}
