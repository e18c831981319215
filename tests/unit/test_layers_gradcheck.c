/* Gradient checks (F64, central differences) of the composed layers: a whole
 * CLIP block with every parameter trainable, causal and not, and bottleneck
 * adapters with and without skip and scale. L = sum(output * R). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/layers.h"
#include "testlib.h"

static Ops *g_ops;
static uint64_t g_key = 500;

static Tensor rnd_tensor(int ndim, int64_t d0, int64_t d1, int64_t d2, double scale) {
    Tensor t = tensor_make(NULL, DT_F64, ndim, d0, d1, d2);
    int64_t n = tensor_numel(&t);
    double *v = malloc((size_t)n * sizeof(double));
    Rng r;
    rng_init(&r, 9, g_key++, 0, 0);
    for (int64_t i = 0; i < n; i++) v[i] = scale * rng_normal(&r);
    t.data = v;
    return t;
}

static Tensor zeros_like(Tensor t) {
    t.data = calloc((size_t)tensor_numel(&t), sizeof(double));
    return t;
}

static double dot(Tensor a, Tensor b) {
    double s = 0;
    for (int64_t i = 0; i < tensor_numel(&a); i++) s += ((double *)a.data)[i] * ((double *)b.data)[i];
    return s;
}

typedef double (*LossFn)(void *ctx);

static void check(const char *what, Tensor x, Tensor analytic, LossFn loss, void *ctx) {
    const double h = 1e-6;
    int64_t n = tensor_numel(&x), step = n > 40 ? n / 40 : 1;
    double *xv = x.data, *av = analytic.data, worst = 0;
    for (int64_t i = 0; i < n; i += step) {
        double keep = xv[i];
        xv[i] = keep + h;
        double lp = loss(ctx);
        xv[i] = keep - h;
        double lm = loss(ctx);
        xv[i] = keep;
        double num = (lp - lm) / (2 * h);
        double err = fabs(num - av[i]) / fmax(1.0, fabs(num));
        if (err > worst) worst = err;
    }
    EXPECT(worst < 1e-6, "%s: worst relative gradient error %.3g", what, worst);
}

/* ---- block ---- */
typedef struct {
    int64_t b, s, w;
    int heads, causal;
    ClipLayer p;
    Tensor x, xwork, r;
    Arena acts, scratch;
    BlockActs ba;
} BlockCtx;

static double block_loss(void *vp) {
    BlockCtx *c = vp;
    arena_reset(&c->acts);
    block_acts_alloc(&c->acts, &c->ba, c->b, c->s, c->w, 4 * c->w, c->heads, 1);
    memcpy(c->xwork.data, c->x.data, tensor_bytes(&c->x));
    block_forward(g_ops, &c->p, &c->ba, c->xwork, c->heads, c->causal, ACT_QUICKGELU, &c->scratch);
    return dot(c->xwork, c->r);
}

static void make_layer(ClipLayer *p, int64_t w) {
    p->ln1_g = rnd_tensor(1, w, 0, 0, 0.3), p->ln1_b = rnd_tensor(1, w, 0, 0, 0.3);
    p->qkv_w = rnd_tensor(2, 3 * w, w, 0, 0.4), p->qkv_b = rnd_tensor(1, 3 * w, 0, 0, 0.3);
    p->out_w = rnd_tensor(2, w, w, 0, 0.4), p->out_b = rnd_tensor(1, w, 0, 0, 0.3);
    p->ln2_g = rnd_tensor(1, w, 0, 0, 0.3), p->ln2_b = rnd_tensor(1, w, 0, 0, 0.3);
    p->fc1_w = rnd_tensor(2, 4 * w, w, 0, 0.4), p->fc1_b = rnd_tensor(1, 4 * w, 0, 0, 0.3);
    p->fc2_w = rnd_tensor(2, w, 4 * w, 0, 0.3), p->fc2_b = rnd_tensor(1, w, 0, 0, 0.3);
    for (int64_t i = 0; i < w; i++) ((double *)p->ln1_g.data)[i] += 1, ((double *)p->ln2_g.data)[i] += 1;
}

static void test_block(void) {
    for (int causal = 0; causal < 2; causal++) {
        BlockCtx c = {.b = 2, .s = 4, .w = 6, .heads = 2, .causal = causal};
        make_layer(&c.p, c.w);
        c.x = rnd_tensor(3, c.b, c.s, c.w, 1.0), c.xwork = zeros_like(c.x), c.r = rnd_tensor(3, c.b, c.s, c.w, 1.0);
        arena_init(&c.acts, g_ops, 1 << 20, DT_F64);
        arena_init(&c.scratch, g_ops, 1 << 20, DT_F64);
        block_loss(&c);
        ClipLayer g;
        Tensor *pt = (Tensor *)&c.p, *gt = (Tensor *)&g;
        int nt = (int)(sizeof(ClipLayer) / sizeof(Tensor));
        for (int i = 0; i < nt; i++) gt[i] = zeros_like(pt[i]);
        Tensor dx = zeros_like(c.x);
        memcpy(dx.data, c.r.data, tensor_bytes(&c.r));
        block_backward(g_ops, &c.p, &g, &c.ba, dx, c.heads, c.causal, ACT_QUICKGELU, &c.scratch);
        EXPECT(c.scratch.used == 0, "scratch arena restored after backward");
        check(causal ? "causal block dx" : "block dx", c.x, dx, block_loss, &c);
        static const char *names[12] = {"ln1_g", "ln1_b", "qkv_w", "qkv_b", "out_w", "out_b",
                                        "ln2_g", "ln2_b", "fc1_w", "fc1_b", "fc2_w", "fc2_b"};
        for (int i = 0; i < nt; i++) check(names[i], pt[i], gt[i], block_loss, &c);
        for (int i = 0; i < nt; i++) free(pt[i].data), free(gt[i].data);
        free(c.x.data), free(c.xwork.data), free(c.r.data), free(dx.data);
        arena_free(&c.acts);
        arena_free(&c.scratch);
    }
}

/* ---- adapter ---- */
typedef struct {
    AdapterParams p;
    AdapterActs acts_t;
    Tensor x, y, r;
    int skip;
    float scale;
    Arena acts, scratch;
} AdCtx;

static double adapter_loss(void *vp) {
    AdCtx *c = vp;
    adapter_forward(g_ops, &c->p, &c->acts_t, c->x, c->y, c->skip, c->scale, &c->scratch);
    EXPECT(c->scratch.used == 0, "scratch arena restored after the adapter's forward");
    return dot(c->y, c->r);
}

static void test_adapter(void) {
    for (int variant = 0; variant < 3; variant++) {
        AdCtx c = {.skip = variant == 1, .scale = variant == 2 ? 0.5f : 1.0f};
        int64_t n = 5, w = 8, rdim = 2;
        c.p.fc1_w = rnd_tensor(2, rdim, w, 0, 0.5), c.p.fc1_b = rnd_tensor(1, rdim, 0, 0, 0.5);
        c.p.fc2_w = rnd_tensor(2, w, rdim, 0, 0.5), c.p.fc2_b = rnd_tensor(1, w, 0, 0, 0.5);
        c.x = rnd_tensor(3, 1, n, w, 1.0), c.y = zeros_like(c.x), c.r = rnd_tensor(3, 1, n, w, 1.0);
        arena_init(&c.acts, g_ops, 1 << 16, DT_F64);
        arena_init(&c.scratch, g_ops, 1 << 16, DT_F64);
        adapter_acts_alloc(&c.acts, &c.acts_t, n, rdim);
        adapter_loss(&c);
        AdapterParams g = {zeros_like(c.p.fc1_w), zeros_like(c.p.fc1_b), zeros_like(c.p.fc2_w), zeros_like(c.p.fc2_b)};
        Tensor dx = zeros_like(c.x);
        /* the backward recomputes the GELU output (fc2's input, for fc2_w's gradient) from fc1's */
        adapter_backward(g_ops, &c.p, &g, &c.acts_t, c.x, c.r, dx, 0, c.skip, c.scale, &c.scratch);
        EXPECT(c.scratch.used == 0, "scratch arena restored after the adapter's backward");
        const char *v = variant == 0 ? "adapter" : variant == 1 ? "adapter+skip" : "adapter*0.5";
        char name[64];
        snprintf(name, sizeof name, "%s dx", v);
        check(name, c.x, dx, adapter_loss, &c);
        snprintf(name, sizeof name, "%s fc1_w", v);
        check(name, c.p.fc1_w, g.fc1_w, adapter_loss, &c);
        snprintf(name, sizeof name, "%s fc2_w", v);
        check(name, c.p.fc2_w, g.fc2_w, adapter_loss, &c);
        snprintf(name, sizeof name, "%s fc2_b", v);
        check(name, c.p.fc2_b, g.fc2_b, adapter_loss, &c);
        free(c.p.fc1_w.data), free(c.p.fc1_b.data), free(c.p.fc2_w.data), free(c.p.fc2_b.data);
        free(g.fc1_w.data), free(g.fc1_b.data), free(g.fc2_w.data), free(g.fc2_b.data);
        free(c.x.data), free(c.y.data), free(c.r.data), free(dx.data);
        arena_free(&c.acts);
        arena_free(&c.scratch);
    }
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_block);
    TEST_RUN(test_adapter);
    ops_destroy(g_ops);
    return test_summary();
}
