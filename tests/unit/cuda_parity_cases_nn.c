/* test_cuda_ops's cases of the layers' ops: linear (and backward), matmul, layernorm (and
 * backward), activations, attention, the adapter (and backward). The rest of the cases, and the order they run in (each
 * case's random inputs follow from that order), are in test_cuda_ops.c. */
#include <math.h>
#include <stdio.h>

#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif
#include "cuda_parity.h"

/* linear: y = x w^T (+ b). Frozen CLIP layers are all BF16; adapters and heads have F32
 * (trainable) weights under BF16 activations. */
static void fn_linear(Case *c, Ops *o, int s) {
    Tensor b = A(3);
    op_linear(o, A(0), A(1), A(2), c->iv[0] ? &b : NULL);
}
void cuda_parity_cases_linear(void) {
    const int64_t full[][3] = {{394, 768, 2304}, {154, 512, 512}, {33, 768, 512}, {5, 7, 3}};
    const int64_t quick[][3] = {{5, 7, 3}, {37, 64, 48}};
    const Dt3 dts[] = {{"f32", F, F, F}, {"frozen", B, B, B}, {"trainable", B, F, B}}; /* x, w(+b), y */
    int ns = cuda_parity.quick ? 2 : 4;
    for (int d = 0; d < 3; d++)
        for (int bias = 0; bias < 2; bias++)
            for (int k = 0; k < ns; k++) {
                const int64_t *sz = cuda_parity.quick ? quick[k] : full[k];
                int64_t n = sz[0], in = sz[1], out = sz[2];
                Case *c = case_new("linear", "%s bias=%d x=%s w=%s y=%s", dts[d].name, bias, dn(dts[d].a),
                                   dn(dts[d].b), dn(dts[d].c));
                case_sizes(c, "n=%lld in=%lld out=%lld", (long long)n, (long long)in, (long long)out);
                arg_out(c, "y", dts[d].c, TOLK(TOL_GEMM, dts[d].c), DET_REQUIRED, SHAPE(n, out));
                arg_in(c, "x", dts[d].a, 1.0, SHAPE(n, in));
                arg_in(c, "w", dts[d].b, 1.0 / sqrt((double)in), SHAPE(out, in));
                arg_in(c, "b", dts[d].b, 1.0, SHAPE(out));
                c->iv[0] = bias;
                c->fn = fn_linear;
                case_run(c);
            }
}

/* linear backward: dx (= or +=) dy w; dw += dy^T x; db += sum dy. */
static void fn_linear_bwd(Case *c, Ops *o, int s) {
    op_linear_backward(o, A(0), A(1), A(2), A(3), A(4), A(5), (int)c->iv[0]);
}
void cuda_parity_cases_linear_bwd(void) {
    const int64_t full[][3] = {{394, 768, 2304}, {154, 512, 512}, {5, 7, 3}};
    const int64_t quick[][3] = {{5, 7, 3}, {37, 64, 48}};
    /* variant: dx dtype (0 = not computed), weight dtype, weight gradient (0 = frozen), dy/x dtype */
    const struct {
        const char *name;
        DType dx, w, dy;
        int dw;
    } vs[] = {{"f32", F, F, F, 1}, {"frozen", B, B, B, 0}, {"trainable", B, F, B, 1}, {"trainable-first", NO, F, B, 1}};
    int ns = cuda_parity.quick ? 2 : 3;
    for (int v = 0; v < 4; v++)
        for (int acc = 0; acc < 2; acc++)
            for (int k = 0; k < ns; k++) {
                if (vs[v].dx == NO && acc) continue;
                const int64_t *sz = cuda_parity.quick ? quick[k] : full[k];
                int64_t n = sz[0], in = sz[1], out = sz[2];
                Case *c = case_new("linear_backward", "%s accumulate=%d dx=%s w=%s dw=%s dy=%s", vs[v].name, acc,
                                   vs[v].dx != NO ? dn(vs[v].dx) : "none", dn(vs[v].w), vs[v].dw ? dn(vs[v].w) : "none",
                                   dn(vs[v].dy));
                case_sizes(c, "n=%lld in=%lld out=%lld", (long long)n, (long long)in, (long long)out);
                if (vs[v].dx == NO)
                    arg_none(c, "dx", B, SHAPE(n, in));
                else if (acc)
                    arg_acc(c, "dx", vs[v].dx, TOLK(TOL_GEMM, vs[v].dx), DET_REPORT, SHAPE(n, in));
                else
                    arg_out(c, "dx", vs[v].dx, TOLK(TOL_GEMM, vs[v].dx), DET_REPORT, SHAPE(n, in));
                if (vs[v].dw) {
                    arg_acc(c, "dw", F, TOLN(TOL_GEMM_F32), DET_REPORT, SHAPE(out, in));
                    arg_acc(c, "db", F, TOLN(TOL_COLRED_F32), DET_REPORT, SHAPE(out));
                } else {
                    arg_none(c, "dw", vs[v].w, SHAPE(out, in));
                    arg_none(c, "db", vs[v].w, SHAPE(out));
                }
                arg_in(c, "dy", vs[v].dy, 1.0, SHAPE(n, out));
                arg_in(c, "x", vs[v].dy, 1.0, SHAPE(n, in));
                arg_in(c, "w", vs[v].w, 1.0 / sqrt((double)in), SHAPE(out, in));
                c->iv[0] = acc;
                c->fn = fn_linear_bwd;
                case_run(c);
            }
}

/* matmul: c = alpha op(a) op(b) + beta c (contrastive logits, text-video similarity). */
static void fn_matmul(Case *c, Ops *o, int s) {
    op_matmul(o, A(0), A(1), A(2), (int)c->iv[0], (int)c->iv[1], c->fv[0], c->fv[1]);
}
void cuda_parity_cases_matmul(void) {
    const int64_t full[][3] = {{64, 96, 768}, {197, 64, 197}, {7, 5, 3}};
    const int64_t quick[][3] = {{7, 5, 3}, {19, 23, 40}};
    const Dt3 dts[] = {{"f32", F, F, F}, {"bf16", B, B, B}, {"bf16-in-f32-out", B, B, F}}; /* a, b, c */
    const float ab[][2] = {{1.0f, 0.0f}, {0.7f, 0.5f}};
    int ns = cuda_parity.quick ? 2 : 3;
    for (int d = 0; d < 3; d++)
        for (int t = 0; t < 4; t++)
            for (int e = 0; e < 2; e++)
                for (int k = 0; k < ns; k++) {
                    const int64_t *sz = cuda_parity.quick ? quick[k] : full[k];
                    int64_t m = sz[0], n = sz[1], kk = sz[2];
                    int ta = t & 1, tb = t >> 1;
                    Case *c = case_new("matmul", "%s trans_a=%d trans_b=%d alpha=%g beta=%g a=%s b=%s c=%s",
                                       dts[d].name, ta, tb, ab[e][0], ab[e][1], dn(dts[d].a), dn(dts[d].b),
                                       dn(dts[d].c));
                    case_sizes(c, "m=%lld n=%lld k=%lld", (long long)m, (long long)n, (long long)kk);
                    if (ab[e][1] != 0)
                        arg_acc(c, "c", dts[d].c, TOLK(TOL_GEMM, dts[d].c), DET_REQUIRED, SHAPE(m, n));
                    else
                        arg_out(c, "c", dts[d].c, TOLK(TOL_GEMM, dts[d].c), DET_REQUIRED, SHAPE(m, n));
                    if (ta)
                        arg_in(c, "a", dts[d].a, 1.0, SHAPE(kk, m));
                    else
                        arg_in(c, "a", dts[d].a, 1.0, SHAPE(m, kk));
                    if (tb)
                        arg_in(c, "b", dts[d].b, 1.0, SHAPE(n, kk));
                    else
                        arg_in(c, "b", dts[d].b, 1.0, SHAPE(kk, n));
                    c->iv[0] = ta, c->iv[1] = tb;
                    c->fv[0] = ab[e][0], c->fv[1] = ab[e][1];
                    c->fn = fn_matmul;
                    case_run(c);
                }
}

/* layernorm with and without saved statistics. */
static void fn_layernorm(Case *c, Ops *o, int s) { op_layernorm(o, A(0), A(1), A(2), A(3), A(4), A(5), c->fv[0]); }
void cuda_parity_cases_layernorm(void) {
    /* widths of 8k up to 1024 take the vectorised kernels (768 and 1024: ViT-B's and ViT-L's, 512 the text
     * towers', 64 one chunk), 33 and 257 the scalar ones (kernels/layernorm.cu) */
    const int64_t full[][2] = {{394, 768}, {154, 512}, {5, 33}, {3, 1024}};
    const int64_t quick[][2] = {{5, 33}, {16, 257}, {4, 64}};
    const Dt3 dts[] = {{"f32", F, F, F}, {"frozen", B, B, B}, {"trainable", B, F, B}}; /* x, g/b, y */
    int ns = cuda_parity.quick ? 3 : 4;
    for (int d = 0; d < 3; d++)
        for (int stats = 0; stats < 2; stats++)
            for (int k = 0; k < ns; k++) {
                const int64_t *sz = cuda_parity.quick ? quick[k] : full[k];
                int64_t n = sz[0], dd = sz[1];
                Case *c = case_new("layernorm", "%s stats=%d x=%s g=%s y=%s", dts[d].name, stats, dn(dts[d].a),
                                   dn(dts[d].b), dn(dts[d].c));
                case_sizes(c, "n=%lld d=%lld", (long long)n, (long long)dd);
                arg_out(c, "y", dts[d].c, TOLK(TOL_ROWRED, dts[d].c), DET_REQUIRED, SHAPE(n, dd));
                if (stats) {
                    arg_out(c, "mean", F, TOLN(TOL_STATS), DET_REQUIRED, SHAPE(n));
                    arg_out(c, "rstd", F, TOLN(TOL_STATS), DET_REQUIRED, SHAPE(n));
                } else {
                    arg_none(c, "mean", F, SHAPE(n));
                    arg_none(c, "rstd", F, SHAPE(n));
                }
                Arg *x = arg_in(c, "x", dts[d].a, 2.0, SHAPE(n, dd));
                for (int64_t i = 0; i < x->n; i++) x->init[i] = bf16_round(x->init[i] + 0.5f); /* a non-zero mean */
                arg_in(c, "g", dts[d].b, 1.0, SHAPE(dd));
                arg_in(c, "b", dts[d].b, 1.0, SHAPE(dd));
                c->fv[0] = 1e-5f;
                c->fn = fn_layernorm;
                case_run(c);
            }
}

/* layernorm backward from the same statistics on both sides (computed here in double). */
static void fn_layernorm_bwd(Case *c, Ops *o, int s) {
    op_layernorm_backward(o, A(0), A(1), A(2), A(3), A(4), A(5), A(6), A(7), (int)c->iv[0]);
}
void cuda_parity_cases_layernorm_bwd(void) {
    const int64_t full[][2] = {{394, 768}, {5, 33}, {3, 1024}}; /* vectorised and scalar, as the forward's */
    const int64_t quick[][2] = {{5, 33}, {16, 257}, {4, 64}};
    const struct {
        const char *name;
        DType dx, g;
        int dg;
    } vs[] = {{"f32", F, F, 1}, {"frozen", B, B, 0}, {"trainable", B, F, 1}};
    for (int v = 0; v < 3; v++)
        for (int acc = 0; acc < 2; acc++)
            for (int k = 0; k < 3; k++) {
                const int64_t *sz = cuda_parity.quick ? quick[k] : full[k];
                int64_t n = sz[0], dd = sz[1];
                DType act = vs[v].dx;
                Case *c = case_new("layernorm_backward", "%s accumulate=%d dx=%s g=%s dg=%s dy=%s x=%s", vs[v].name,
                                   acc, dn(act), dn(vs[v].g), vs[v].dg ? "F32" : "none", dn(act), dn(act));
                case_sizes(c, "n=%lld d=%lld", (long long)n, (long long)dd);
                if (acc)
                    arg_acc(c, "dx", act, TOLK(TOL_ROWRED, act), DET_REPORT, SHAPE(n, dd));
                else
                    arg_out(c, "dx", act, TOLK(TOL_ROWRED, act), DET_REPORT, SHAPE(n, dd));
                if (vs[v].dg) {
                    arg_acc(c, "dg", F, TOLN(TOL_COLRED_F32), DET_REPORT, SHAPE(dd));
                    arg_acc(c, "db", F, TOLN(TOL_COLRED_F32), DET_REPORT, SHAPE(dd));
                } else {
                    arg_none(c, "dg", F, SHAPE(dd));
                    arg_none(c, "db", F, SHAPE(dd));
                }
                arg_in(c, "dy", act, 1.0, SHAPE(n, dd));
                Arg *x = arg_in(c, "x", act, 2.0, SHAPE(n, dd));
                Arg *mean = arg_in(c, "mean", F, 1.0, SHAPE(n)), *rstd = arg_in(c, "rstd", F, 1.0, SHAPE(n));
                for (int64_t r = 0; r < n; r++) {
                    double mu = 0, var = 0;
                    for (int64_t j = 0; j < dd; j++) mu += x->init[r * dd + j];
                    mu /= (double)dd;
                    for (int64_t j = 0; j < dd; j++) var += (x->init[r * dd + j] - mu) * (x->init[r * dd + j] - mu);
                    mean->init[r] = (float)mu;
                    rstd->init[r] = (float)(1.0 / sqrt(var / (double)dd + 1e-5));
                }
                arg_in(c, "g", vs[v].g, 1.0, SHAPE(dd));
                c->iv[0] = acc;
                c->fn = fn_layernorm_bwd;
                case_run(c);
            }
}

static const char *act_name(Activation a) {
    return a == ACT_QUICKGELU ? "quickgelu" : a == ACT_GELU_ERF ? "gelu_erf" : "gelu_tanh";
}

static void fn_activation(Case *c, Ops *o, int s) { op_activation(o, c->act, A(0), A(1)); }
static void fn_activation_bwd(Case *c, Ops *o, int s) { op_activation_backward(o, c->act, A(0), A(1), A(2)); }
static void fn_activation_bwd_inplace(Case *c, Ops *o, int s) { op_activation_backward(o, c->act, A(0), A(0), A(1)); }
void cuda_parity_cases_activation(void) {
    int64_t n = cuda_parity.quick ? 4099 : 394 * 3072;
    const DType dts[] = {F, B};
    for (int a = 0; a < 3; a++)
        for (int d = 0; d < 2; d++) {
            DType t = dts[d];
            Case *c = case_new("activation", "%s x=%s y=%s", act_name((Activation)a), dn(t), dn(t));
            case_sizes(c, "n=%lld", (long long)n);
            arg_out(c, "y", t, TOLK(TOL_TRANS, t), DET_REQUIRED, SHAPE(n));
            arg_in(c, "x", t, 3.0, SHAPE(n));
            c->act = (Activation)a;
            c->fn = fn_activation;
            case_run(c);

            c = case_new("activation_backward", "%s dx=%s dy=%s x=%s", act_name((Activation)a), dn(t), dn(t), dn(t));
            case_sizes(c, "n=%lld", (long long)n);
            arg_out(c, "dx", t, TOLK(TOL_TRANS, t), DET_REPORT, SHAPE(n));
            arg_in(c, "dy", t, 1.0, SHAPE(n));
            arg_in(c, "x", t, 3.0, SHAPE(n));
            c->act = (Activation)a;
            c->fn = fn_activation_bwd;
            case_run(c);

            c = case_new("activation_backward", "%s in-place dx=dy=%s x=%s", act_name((Activation)a), dn(t), dn(t));
            case_sizes(c, "n=%lld", (long long)n);
            arg_acc(c, "dx=dy", t, TOLK(TOL_TRANS, t), DET_REPORT, SHAPE(n));
            arg_in(c, "x", t, 3.0, SHAPE(n));
            c->act = (Activation)a;
            c->fn = fn_activation_bwd_inplace;
            case_run(c);
        }
}

/* Attention forward and backward (the backward needs the backend's own `saved`), each
 * direction by any CUDA path (kernels/attention.cu, attention_flash.cu; DFER_ATTENTION picks one
 * for a whole run, dfer_cuda_set_attention per call here): gemm (cuBLASLt strided-batched
 * GEMMs), tiled (flash-style kernels on CUDA cores), flash (FlashAttention-2 on the tensor
 * cores: BF16, Dh = 64; other calls go to the gemm path, so F32 cases and other head sizes
 * check that hand-over), and mixed pairs, where one path's backward consumes another path's
 * saved lse. Labels say "path=gemm", "path=tiled", "path=flash", or "path=F>B" (forward F,
 * backward B); every one starts with "attention". Each case sets the path of each call
 * itself. iv[6]: forward path | backward path << 2; iv[7]: the gemm path's workspace cap (0:
 * the default; a small one forces several chunks). The CPU side, and the "GPU" side of
 * --self-test, have one implementation and ignore the paths. */
enum { ATTN_GEMM, ATTN_TILED, ATTN_FLASH };
static const char *const k_attn_path[3] = {"gemm", "tiled", "flash"};
static size_t attn_saved(Case *c, Ops *o) { return op_attention_saved_bytes(o, c->iv[0], c->iv[1], (int)c->iv[2]); }
static void attn_select(Ops *o, int s, int path, int64_t cap) {
#ifdef DFER_WITH_CUDA
    if (s == GPU) (void)dfer_cuda_set_attention(o, k_attn_path[path], (size_t)cap); /* -1 on a CPU context */
#else
    (void)o, (void)s, (void)path, (void)cap;
#endif
}
static void fn_attention(Case *c, Ops *o, int s) {
    int heads = (int)c->iv[2], causal = (int)c->iv[4];
    attn_select(o, s, (int)c->iv[6] & 3, c->iv[7]);
    op_attention(o, A(0), A(1), A(2), heads, causal);
    if (c->iv[5]) {
        attn_select(o, s, ((int)c->iv[6] >> 2) & 3, c->iv[7]);
        op_attention_backward(o, A(4), A(3), A(2), A(1), heads, causal);
    }
}
/* fwd, bwd: ATTN_GEMM, ATTN_TILED or ATTN_FLASH; cap: the gemm path's workspace cap in bytes (0: default). */
static void attention_case(int64_t batch, int64_t seq, int64_t heads, int64_t hd, int causal, DType t, int backward,
                           int fwd, int bwd, int64_t cap) {
    int64_t w = heads * hd;
    char path[32];
    if (!backward || fwd == bwd)
        snprintf(path, sizeof path, "%s", k_attn_path[fwd]);
    else
        snprintf(path, sizeof path, "%s>%s", k_attn_path[fwd], k_attn_path[bwd]);
    Case *c = case_new("attention", "%s path=%s causal=%d qkv=%s out=%s", backward ? "train" : "inference", path,
                       causal, dn(t), dn(t));
    case_sizes(c, "B=%lld S=%lld H=%lld Dh=%lld%s", (long long)batch, (long long)seq, (long long)heads, (long long)hd,
               cap ? " small workspace cap" : "");
    /* A path's tolerance: the forward's for out, the backward's for dqkv (gemm and flash paths, which
     * round P and dS to BF16 for their products: see TOL_ATTN_GEMM). */
    if (fwd != ATTN_TILED)
        arg_out(c, "out", t, TOLK(TOL_ATTN_GEMM, t), DET_REQUIRED, SHAPE(batch, seq, w));
    else
        arg_out(c, "out", t, TOLK(TOL_ATTN, t), DET_REQUIRED, SHAPE(batch, seq, w));
    Arg *saved = arg_add(c, "saved", DT_U8, backward ? ARG_SCRATCH : ARG_NONE, SHAPE(1));
    saved->scratch_bytes = attn_saved;
    arg_in(c, "qkv", t, 1.5, SHAPE(batch, seq, 3 * w));
    if (backward) {
        arg_in(c, "dout", t, 1.0, SHAPE(batch, seq, w));
        if (bwd != ATTN_TILED)
            arg_out(c, "dqkv", t, TOLK(TOL_ATTN_GEMM_BWD, t), DET_REPORT, SHAPE(batch, seq, 3 * w));
        else
            arg_out(c, "dqkv", t, TOLK(TOL_ATTN_BWD, t), DET_REPORT, SHAPE(batch, seq, 3 * w));
    }
    c->iv[0] = batch, c->iv[1] = seq, c->iv[2] = heads, c->iv[3] = hd, c->iv[4] = causal, c->iv[5] = backward;
    c->iv[6] = fwd | bwd << 2, c->iv[7] = cap;
    c->fn = fn_attention;
    case_run(c);
}
/* A training case by each path and by the mixed pairs gemm<->tiled and gemm<->flash (the flash
 * path's lse read by the gemm backward and the other way round); an inference case by each path. */
static void attention_cases(int64_t batch, int64_t seq, int64_t heads, int64_t hd, int causal, DType t, int backward) {
    for (int fwd = 0; fwd < 3; fwd++)
        for (int bwd = 0; bwd < 3; bwd++)
            if (fwd == bwd || (backward && (fwd == ATTN_GEMM || bwd == ATTN_GEMM)))
                attention_case(batch, seq, heads, hd, causal, t, backward, fwd, bwd, 0);
}
void cuda_parity_cases_attention(void) {
    /* more sequences than gridDim.z takes (AIM's temporal attention has clips x tokens of them: 65,792 at 256
     * L/14 clips): the gemm path, and the flash path handing over to it, run them (a check refused them all) */
    attention_case(65537, 2, 1, 8, 0, B, 1, ATTN_GEMM, ATTN_GEMM, 0);
    attention_case(65537, 1, 1, 64, 1, B, 1, ATTN_FLASH, ATTN_FLASH, 0);
    const DType dts[] = {F, B};
    for (int d = 0; d < 2; d++)
        for (int causal = 0; causal < 2; causal++) {
            DType t = dts[d];
            const int64_t seqs[] = {5, 17}, hds[] = {16, 64};
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) attention_cases(2, seqs[i], hds[j] == 16 ? 3 : 2, hds[j], causal, t, 1);
            attention_cases(2, 5, 3, 16, causal, t, 0); /* inference: no saved buffer */
            attention_cases(2, 7, 2, 12, causal, t, 1); /* Dh % 8 != 0: the gemm path hands over to the tiled one */
            /* Several chunks of B=5 (S=64, H=4, Dh=64) under a 1 MiB workspace cap: BF16 2 items per
             * chunk backward, 3 forward; F32 1 and 3. */
            attention_case(5, 64, 4, 64, causal, t, 1, ATTN_GEMM, ATTN_GEMM, (int64_t)1 << 20);
            /* the flash path across its tile edges: a full key tile of 64, 65 (a second with one key),
             * and three tiles with a short last one */
            attention_case(2, 64, 2, 64, causal, t, 1, ATTN_FLASH, ATTN_FLASH, 0);
            attention_case(3, 65, 2, 64, causal, t, 1, ATTN_FLASH, ATTN_FLASH, 0);
            attention_case(1, 150, 2, 64, causal, t, 1, ATTN_FLASH, ATTN_FLASH, 0);
            if (!cuda_parity.quick) {
                attention_cases(2, 197, 4, 64, causal, t, 1); /* ViT-B/16-like sequence */
                attention_cases(1, 197, 2, 64, causal, t, 1);
                attention_cases(2, 77, 8, 64, causal, t, 1); /* CLIP text length */
                attention_cases(1, 197, 4, 64, causal, t, 0);
                attention_cases(4, 16, 8, 64, causal, t, 1);  /* temporal: 16 frames */
                attention_cases(2, 257, 12, 64, causal, t, 1); /* ViT-B/16 at 256 px + CLS, 12 heads */
                attention_cases(1, 248, 8, 64, causal, t, 1); /* Long-CLIP text */
            }
        }
}

/* The adapter (op_adapter): out[m(r)] = res[m(r)] + scale * fc2(gelu(fc1(x[r]))) (+ x[r]). Shapes: rows,
 * width X, bottleneck R; AIM's on B/16 are X = 768, R = 192 (the fused kernels' sizes: X a multiple of 64,
 * R of 8, R <= 256; the others take the composed path on the GPU too). Forms: skip, scale, residual,
 * row swap [A, P, Q] -> [A, Q, P] (AIM's temporal adapter). */
typedef struct AdapterCaseForm {
    const char *name;
    int skip, residual;
    float scale;
    int64_t p, q;
} AdapterCaseForm;
static const AdapterCaseForm k_adapter_forms[] = {
    {"plain", 0, 0, 1.0f, 0, 0},         {"skip", 1, 0, 1.0f, 0, 0}, {"res+scaled", 0, 1, 0.5f, 0, 0},
    {"res+swapped", 0, 1, 1.0f, 5, 3}, {"res+swapped+skip+scaled", 1, 1, 0.5f, 3, 5}};
enum { ADAPTER_FORMS = sizeof k_adapter_forms / sizeof k_adapter_forms[0] };

static AdapterForm adapter_form_of(const Case *c) {
    return (AdapterForm){(int)c->iv[0], c->fv[0], c->iv[1], c->iv[2]};
}
static void adapter_case_form(Case *c, const AdapterCaseForm *f) {
    c->iv[0] = f->skip, c->iv[1] = f->p, c->iv[2] = f->q;
    c->fv[0] = f->scale;
}
/* fc1 [R, X], fc1_b [R], fc2 [X, R], fc2_b [X] (F32: trainable) */
static void adapter_case_weights(Case *c, int64_t width, int64_t bottleneck, DType wt) {
    arg_in(c, "fc1_w", wt, 1.0 / sqrt((double)width), SHAPE(bottleneck, width));
    arg_in(c, "fc1_b", wt, 0.5, SHAPE(bottleneck));
    arg_in(c, "fc2_w", wt, 1.0 / sqrt((double)bottleneck), SHAPE(width, bottleneck));
    arg_in(c, "fc2_b", wt, 0.5, SHAPE(width));
}

/* the GPU's adapter path (iv[4]: 0 composed, 1 fused; dfer_cuda_set_adapter per call) */
static void adapter_path(Case *c, Ops *o, int s) {
#ifdef DFER_WITH_CUDA
    if (s == GPU) (void)dfer_cuda_set_adapter(o, c->iv[4] ? "fused" : "composed"); /* -1 on a CPU context */
#else
    (void)c, (void)o, (void)s;
#endif
}
/* The op's scratch (iv[5..7]: rows, X, R), enough for either side's dtypes (the CPU's may be all-F32). */
static size_t adapter_scratch(const Case *c, int backward) {
    const DType act = c->a[backward ? 6 : 1].dt;
    size_t a = op_adapter_scratch_bytes(c->iv[5], c->iv[6], c->iv[7], act, adapter_form_of(c), backward);
    size_t f = op_adapter_scratch_bytes(c->iv[5], c->iv[6], c->iv[7], DT_F32, adapter_form_of(c), backward);
    return a > f ? a : f;
}
static size_t adapter_scratch_fwd(Case *c, Ops *o) { return (void)o, adapter_scratch(c, 0); }
static size_t adapter_scratch_bwd(Case *c, Ops *o) { return (void)o, adapter_scratch(c, 1); }
static void fn_adapter(Case *c, Ops *o, int s) {
    adapter_path(c, o, s);
    AdapterWeights w = {A(2), A(3), A(4), A(5)};
    op_adapter(o, A(0), A(1), &w, A(6), adapter_form_of(c), A(7));
}
static void fn_adapter_bwd(Case *c, Ops *o, int s) {
    adapter_path(c, o, s);
    AdapterWeights g = {A(1), A(2), A(3), A(4)}, w = {A(7), A(8), A(9), A(10)};
    op_adapter_backward(o, A(0), &g, A(5), A(6), &w, adapter_form_of(c), (int)c->iv[3], A(11));
}

void cuda_parity_cases_adapter(void) {
    /* rows (a multiple of 15: the swapped forms' groups), X, R: fused with R = 64 .. 256 (one to four
     * chunks) and short of a chunk (32: the tiny CLIP's; 40), rows not a multiple of the blocks' 64; and
     * one the fused kernels do not take (X = 96) */
    const int64_t full[][3] = {{150, 128, 64}, {255, 256, 192}, {90, 128, 256}, {60, 768, 192},
                               {45, 128, 40},  {75, 128, 32},   {30, 96, 24}};
    const int64_t quick[][3] = {{75, 128, 64}, {30, 64, 128}, {45, 128, 32}, {15, 96, 24}};
    const int nsizes = cuda_parity.quick ? 4 : 7;
    const DType acts[] = {B, F};
    static const char *const paths[] = {"composed", "fused"};
    for (int path = 0; path < 2; path++) {
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < nsizes; k++)
                for (int f = 0; f < ADAPTER_FORMS; f++) {
                    const int64_t *sz = cuda_parity.quick ? quick[k] : full[k];
                    const int64_t n = sz[0], X = sz[1], R = sz[2];
                    const AdapterCaseForm *form = &k_adapter_forms[f];
                    DType t = acts[d];
                    if (path == 1 && t == F) continue; /* F32 activations: the composed ops either way */
                    Case *c = case_new("adapter", "%s path=%s x=%s out=%s weights=F32", form->name, paths[path], dn(t),
                                       dn(t));
                    case_sizes(c, "n=%lld X=%lld R=%lld", (long long)n, (long long)X, (long long)R);
                    arg_out(c, "out", t, TOLK(TOL_ADAPTER, t), DET_REQUIRED, SHAPE(n, X));
                    arg_in(c, "x", t, 1.0, SHAPE(n, X));
                    adapter_case_weights(c, X, R, F);
                    if (form->residual)
                        arg_in(c, "res", t, 1.0, SHAPE(n, X));
                    else
                        arg_none(c, "res", t, SHAPE(n, X));
                    arg_add(c, "scratch", DT_U8, ARG_SCRATCH, SHAPE(1))->scratch_bytes = adapter_scratch_fwd;
                    adapter_case_form(c, form);
                    c->iv[4] = path, c->iv[5] = n, c->iv[6] = X, c->iv[7] = R;
                    c->fn = fn_adapter;
                    case_run(c);
                    /* backward: dx overwritten, accumulated, or not asked (weight gradients only) */
                    for (int dxm = 0; dxm < 3; dxm++) {
                        if (cuda_parity.quick && dxm != f % 3) continue;
                        c = case_new("adapter_backward", "%s path=%s dx=%s x=%s dout=%s grads=F32", form->name,
                                     paths[path], dxm == 0 ? "=" : dxm == 1 ? "+=" : "none", dn(t), dn(t));
                        case_sizes(c, "n=%lld X=%lld R=%lld", (long long)n, (long long)X, (long long)R);
                        if (dxm == 0)
                            arg_out(c, "dx", t, TOLK(TOL_ADAPTER, t), DET_REQUIRED, SHAPE(n, X));
                        else if (dxm == 1)
                            arg_acc(c, "dx", t, TOLK(TOL_ADAPTER, t), DET_REQUIRED, SHAPE(n, X));
                        else
                            arg_none(c, "dx", t, SHAPE(n, X));
                        const double tol_g = t == B ? TOL_ADAPTER_BF16 : TOL_GEMM_F32;
                        arg_acc(c, "d_fc1_w", F, tol_g, t == B ? "TOL_ADAPTER_BF16" : "TOL_GEMM_F32", DET_REQUIRED,
                                SHAPE(R, X));
                        arg_acc(c, "d_fc1_b", F, t == B ? TOL_ADAPTER_BF16 : TOL_COLRED_F32,
                                t == B ? "TOL_ADAPTER_BF16" : "TOL_COLRED_F32", DET_REQUIRED, SHAPE(R));
                        arg_acc(c, "d_fc2_w", F, tol_g, t == B ? "TOL_ADAPTER_BF16" : "TOL_GEMM_F32", DET_REQUIRED,
                                SHAPE(X, R));
                        arg_acc(c, "d_fc2_b", F, t == B ? TOL_ADAPTER_BF16 : TOL_COLRED_F32,
                                t == B ? "TOL_ADAPTER_BF16" : "TOL_COLRED_F32", DET_REQUIRED, SHAPE(X));
                        arg_in(c, "dout", t, 1.0, SHAPE(n, X));
                        arg_in(c, "x", t, 1.0, SHAPE(n, X));
                        adapter_case_weights(c, X, R, F);
                        arg_add(c, "scratch", DT_U8, ARG_SCRATCH, SHAPE(1))->scratch_bytes = adapter_scratch_bwd;
                        adapter_case_form(c, form);
                        c->iv[3] = dxm == 1;
                        c->iv[4] = path, c->iv[5] = n, c->iv[6] = X, c->iv[7] = R;
                        c->fn = fn_adapter_bwd;
                        case_run(c);
                    }
                }
    }
}
