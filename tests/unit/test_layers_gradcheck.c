/* Gradient checks (F64, central differences) of the composed layers: a whole
 * CLIP block with every parameter trainable, causal and not, keeping its wide tensors (qkv, fc1's output) or
 * computing them again in the backward (block_acts_alloc's recompute: qkv, qkv-fc1), and bottleneck
 * adapters (op_adapter) with and without skip, scale, residual and row swap. L = sum(output * R).
 * Also the fused CUDA kernels' scratch layout (checked here, on the host, where no GPU is needed). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/layers.h"
#include "ops/ops_impl.h"
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
    int heads, causal, recompute; /* Recompute below RECOMPUTE_BLOCKS */
    ClipLayer p;
    Tensor x, xwork, r;
    Arena acts, scratch;
    BlockActs ba;
} BlockCtx;

static double block_loss(void *vp) {
    BlockCtx *c = vp;
    arena_reset(&c->acts);
    block_acts_alloc(&c->acts, &c->ba, c->b, c->s, c->w, 4 * c->w, c->heads, SUBLAYER_KEEP_WEIGHT_INPUTS,
                     c->recompute);
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
    for (int variant = 0; variant < 6; variant++) {
        int causal = variant & 1, level = variant >> 1; /* none, qkv, qkv-fc1 */
        BlockCtx c = {.b = 2, .s = 4, .w = 6, .heads = 2, .causal = causal, .recompute = level};
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
        EXPECT((c.ba.attn.qkv.data == NULL) == (level >= RECOMPUTE_QKV) &&
                   (c.ba.mlp.pre.data == NULL) == (level == RECOMPUTE_QKV_FC1),
               "%s: wide tensors kept: qkv %d, fc1 %d", recompute_name(level), c.ba.attn.qkv.data != NULL,
               c.ba.mlp.pre.data != NULL);
        char what[64];
        snprintf(what, sizeof what, "%sblock dx (%s)", causal ? "causal " : "", recompute_phrase(level));
        check(what, c.x, dx, block_loss, &c);
        static const char *names[12] = {"ln1_g", "ln1_b", "qkv_w", "qkv_b", "out_w", "out_b",
                                        "ln2_g", "ln2_b", "fc1_w", "fc1_b", "fc2_w", "fc2_b"};
        for (int i = 0; i < nt; i++) {
            snprintf(what, sizeof what, "%s (%s)", names[i], recompute_phrase(level));
            check(what, pt[i], gt[i], block_loss, &c);
        }
        for (int i = 0; i < nt; i++) free(pt[i].data), free(gt[i].data);
        free(c.x.data), free(c.xwork.data), free(c.r.data), free(dx.data);
        arena_free(&c.acts);
        arena_free(&c.scratch);
    }
}

/* ---- adapter (op_adapter: the op, with its residual and row swap) ---- */
typedef struct {
    AdapterWeights p;
    AdapterForm form;
    Tensor x, res, out, r, scratch;
} AdCtx;

static double adapter_loss(void *vp) {
    AdCtx *c = vp;
    op_adapter(g_ops, c->out, c->x, &c->p, c->res, c->form, c->scratch);
    return dot(c->out, c->r);
}

static void test_adapter(void) {
    /* plain, skip, scaled, onto a residual, with swapped rows ([2,3,2] -> [2,2,3]), all of them at once */
    static const struct {
        const char *name;
        int skip, residual;
        float scale;
        int64_t p, q;
    } k_variants[] = {{"adapter", 0, 0, 1.0f, 0, 0},          {"adapter+skip", 1, 0, 1.0f, 0, 0},
                      {"adapter*0.5", 0, 0, 0.5f, 0, 0},      {"res+adapter", 0, 1, 1.0f, 0, 0},
                      {"swapped adapter", 0, 0, 1.0f, 3, 2}, {"res+swapped(adapter*0.5+skip)", 1, 1, 0.5f, 3, 2}};
    for (size_t v = 0; v < sizeof k_variants / sizeof k_variants[0]; v++) {
        AdCtx c = {.form = {k_variants[v].skip, k_variants[v].scale, k_variants[v].p, k_variants[v].q}};
        int64_t n = 12, w = 8, rdim = 3;
        c.p.fc1_w = rnd_tensor(2, rdim, w, 0, 0.5), c.p.fc1_b = rnd_tensor(1, rdim, 0, 0, 0.5);
        c.p.fc2_w = rnd_tensor(2, w, rdim, 0, 0.5), c.p.fc2_b = rnd_tensor(1, w, 0, 0, 0.5);
        c.x = rnd_tensor(3, 2, n / 2, w, 1.0), c.out = zeros_like(c.x), c.r = rnd_tensor(3, 2, n / 2, w, 1.0);
        c.res = k_variants[v].residual ? rnd_tensor(3, 2, n / 2, w, 1.0) : tensor_none();
        /* the op's scratch: the larger of the forward's and the backward's, exactly (a short one is fatal) */
        size_t need = op_adapter_scratch_bytes(n, w, rdim, DT_F64, c.form, 1);
        size_t need_fwd = op_adapter_scratch_bytes(n, w, rdim, DT_F64, c.form, 0);
        if (need_fwd > need) need = need_fwd;
        c.scratch = tensor_make(malloc(need), DT_U8, 1, (int64_t)need);
        AdapterWeights g = {zeros_like(c.p.fc1_w), zeros_like(c.p.fc1_b), zeros_like(c.p.fc2_w), zeros_like(c.p.fc2_b)};
        /* dx accumulates onto what is there: start from ones and take them off after */
        Tensor dx = zeros_like(c.x);
        for (int64_t i = 0; i < tensor_numel(&dx); i++) ((double *)dx.data)[i] = 1.0;
        op_adapter_backward(g_ops, dx, &g, c.r, c.x, &c.p, c.form, 1, c.scratch);
        for (int64_t i = 0; i < tensor_numel(&dx); i++) ((double *)dx.data)[i] -= 1.0;
        const char *vn = k_variants[v].name;
        char name[96];
        snprintf(name, sizeof name, "%s dx", vn);
        check(name, c.x, dx, adapter_loss, &c);
        if (c.res.data) { /* out's gradient reaches res unchanged */
            snprintf(name, sizeof name, "%s dres", vn);
            check(name, c.res, c.r, adapter_loss, &c);
        }
        const Tensor *pw[4] = {&c.p.fc1_w, &c.p.fc1_b, &c.p.fc2_w, &c.p.fc2_b}, *gw[4] = {&g.fc1_w, &g.fc1_b, &g.fc2_w,
                                                                                         &g.fc2_b};
        static const char *names[4] = {"fc1_w", "fc1_b", "fc2_w", "fc2_b"};
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "%s %s", vn, names[i]);
            check(name, *pw[i], *gw[i], adapter_loss, &c);
        }
        /* weight gradients only (dx none): the same gradients again, added */
        AdapterWeights g2 = {zeros_like(c.p.fc1_w), zeros_like(c.p.fc1_b), zeros_like(c.p.fc2_w),
                             zeros_like(c.p.fc2_b)};
        op_adapter_backward(g_ops, tensor_none(), &g2, c.r, c.x, &c.p, c.form, 0, c.scratch);
        EXPECT(!memcmp(g2.fc1_w.data, g.fc1_w.data, tensor_bytes(&g.fc1_w)) &&
                   !memcmp(g2.fc2_b.data, g.fc2_b.data, tensor_bytes(&g.fc2_b)),
               "%s: weight gradients without dx are those with it", vn);
        for (int i = 0; i < 4; i++) free(pw[i]->data), free(gw[i]->data);
        free(g2.fc1_w.data), free(g2.fc1_b.data), free(g2.fc2_w.data), free(g2.fc2_b.data);
        free(c.x.data), free(c.out.data), free(c.r.data), free(c.res.data), free(dx.data), free(c.scratch.data);
    }
}

/* ---- the fused adapter kernels' scratch (ops_adapter_fused_layout) ----
 * Each piece the kernels write lies on a 256-byte boundary, inside the total, apart from every other piece,
 * and the total is within what op_adapter_scratch_bytes asks of the caller (what the ops layer checks). */
static void test_adapter_fused_layout(void) {
    const int64_t shapes[][3] = {{1, 64, 8}, {64, 768, 192}, {3152 * 16, 768, 192}, {7, 1024, 256}, {100, 512, 40}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int backward = 0; backward < 2; backward++) {
            const int64_t N = shapes[s][0], X = shapes[s][1], R = shapes[s][2];
            const AdapterFusedLayout l = ops_adapter_fused_layout(N, X, R, backward);
            const size_t mat = (size_t)(R * X) * 2, hid = (size_t)(N * R) * 2, bias = (size_t)(R + X) * 4;
            /* forward: W1, W2, biases; backward: W1, W2^T, W1^T, bias, h, dh */
            struct {
                const char *name;
                size_t at, bytes;
                int present;
            } piece[] = {{"w1", l.w1, mat, 1},         {"w2", l.w2, mat, !backward},
                         {"w2t", l.w2t, mat, backward}, {"w1t", l.w1t, mat, backward},
                         {"bias", l.bias, bias, 1},     {"hidden", l.hidden, hid, backward},
                         {"hidden_grad", l.hidden_grad, hid, backward}};
            const int n = (int)(sizeof piece / sizeof piece[0]);
            for (int i = 0; i < n; i++) {
                EXPECT((piece[i].at != SIZE_MAX) == piece[i].present, "[%lld,%lld,%lld] %s: %s %s",
                       (long long)N, (long long)X, (long long)R, backward ? "backward" : "forward", piece[i].name,
                       piece[i].present ? "missing" : "present where it has no use");
                if (piece[i].at == SIZE_MAX) continue;
                EXPECT(piece[i].at % 256 == 0, "%s at %zu: not 256-byte aligned", piece[i].name, piece[i].at);
                EXPECT(piece[i].at + piece[i].bytes <= l.total, "%s [%zu, +%zu) past the total %zu", piece[i].name,
                       piece[i].at, piece[i].bytes, l.total);
                for (int j = 0; j < i; j++)
                    if (piece[j].at != SIZE_MAX)
                        EXPECT(piece[i].at >= piece[j].at + piece[j].bytes ||
                                   piece[j].at >= piece[i].at + piece[i].bytes,
                               "%s and %s overlap", piece[i].name, piece[j].name);
            }
            const AdapterForm forms[] = {{0, 1.0f, 0, 0}, {1, 0.5f, 16, 197}};
            for (int f = 0; f < 2; f++)
                EXPECT(op_adapter_scratch_bytes(N, X, R, DT_BF16, forms[f], backward) >= l.total,
                       "op_adapter_scratch_bytes below the fused layout's %zu bytes", l.total);
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
    TEST_RUN(test_adapter_fused_layout);
    ops_destroy(g_ops);
    return test_summary();
}
