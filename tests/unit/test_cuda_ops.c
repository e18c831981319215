/* GPU-vs-CPU parity of every op of src/ops/ops.h.
 *
 * Each case builds random inputs (rounded to bf16-representable values, so an
 * F32 and a BF16 copy of an input hold the same numbers), runs the op once on
 * the CUDA backend and once on the CPU backend (the executable specification),
 * and compares every output as  max|gpu - cpu| / max(max|cpu|, tiny)  against a
 * named tolerance (TOL_* in cuda_parity.h, each with the reason for its size). Outputs that
 * are overwritten start as NaN on both sides, so an element the GPU never writes,
 * or a beta-0 path that reads its output, shows up; accumulated outputs start
 * from the same random values on both sides.
 *
 * Dtypes: every op is run all-F32 and in the mixed-precision dtypes the model
 * uses (ops.h: frozen weights and activations BF16, trainable parameters and
 * their gradients F32, layer-norm statistics and per-row losses F32; optimiser
 * updates F32 only). The reference is the CPU backend run with the SAME dtypes
 * as the GPU call (ops.h's contract holds on both backends). Where the CPU
 * backend refuses a case's dtypes (a startup probe finds out, in a child
 * process, before any OpenMP or CUDA state exists), that case's reference runs
 * with every BF16 operand converted to F32 and its BF16 outputs rounded once on
 * the host; the run says so per case and in its summary line.
 * DFER_CUDA_TEST_REF=same|f32 skips the probe and forces one or the other.
 *
 * Determinism: after the parity run each case runs again on the GPU from the
 * same inputs and every output must give the same bits: the CUDA backend says it
 * uses no atomics anywhere (kernels/reduce.cu: fixed-partition column sums;
 * kernels/rows.cu: scatter-adds walk duplicate chains in order; kernels/attention.cu:
 * a backward without atomics). DFER_CUDA_TEST_STRICT_DET=0 (or
 * --backward-determinism-report-only) relaxes that for backward outputs to a
 * report, should a backend give it up; forward ops, the loss, sum_squares and the
 * optimiser updates always have to be bitwise repeatable.
 *
 * Usage: test_cuda_ops [--quick] [--only A,B,...] [--backward-determinism-report-only] [--self-test] [--list]
 *   --quick       small sizes only (every dtype combination is kept): for compute-sanitizer
 *   --only        run the cases whose label contains one of the comma-separated words
 *   --self-test   no GPU needed: the "GPU" side is a second CPU context (checks this
 *                 harness; BF16 cases the CPU refuses then run all-F32 on both sides).
 *                 With DFER_CUDA_TEST_REF=f32 it compares the CPU backend's mixed-precision
 *                 run against its all-F32 run, which tries the tolerances on real rounding.
 *   --list        print the case labels and exit
 * Without a GPU (or in a build without CUDA) it prints "SKIP: no GPU (...)" and
 * exits 77, which tests/gpu.cmake makes ctest count as skipped.
 *
 * The harness and the tolerances are in cuda_parity.h/.c; the cases of the layers' ops (linear,
 * matmul, layernorm, activations, attention) in cuda_parity_cases_nn.c, the others here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "testlib.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif
#include "cuda_parity.h"

/* ---- cases ------------------------------------------------------------------------------ */

/* Elementwise: add (also in place), axpy, axpy_rows (beta 0 never reads y), scale, add_broadcast. */
static void fn_add(Case *c, Ops *o, int s) { op_add(o, A(0), A(1), A(2)); }
static void fn_add_inplace(Case *c, Ops *o, int s) { op_add(o, A(0), A(0), A(1)); }
static void fn_axpy(Case *c, Ops *o, int s) { op_axpy(o, A(0), c->fv[0], A(1)); }
static void fn_axpy_rows(Case *c, Ops *o, int s) { op_axpy_rows(o, A(0), A(1), A(2), c->fv[0]); }
static void fn_axpy_rows_inplace(Case *c, Ops *o, int s) { op_axpy_rows(o, A(0), A(1), A(0), c->fv[0]); }
static void fn_scale(Case *c, Ops *o, int s) { op_scale(o, A(0), c->fv[0]); }
static void fn_add_broadcast(Case *c, Ops *o, int s) { op_add_broadcast(o, A(0), A(1)); }
static void fn_add_broadcast_bwd(Case *c, Ops *o, int s) { op_add_broadcast_backward(o, A(0), A(1)); }
static void cases_elementwise(void) {
    int64_t rows = cuda_parity.quick ? 7 : 394, d = cuda_parity.quick ? 33 : 768;
    const Dt3 add_dts[] = {{"f32", F, F, F}, {"bf16", B, B, B}, {"mixed", B, F, B}}; /* a, b, y */
    for (int k = 0; k < 3; k++) {
        const Dt3 *t = &add_dts[k];
        Case *c = case_new("add", "%s y=%s a=%s b=%s", t->name, dn(t->c), dn(t->a), dn(t->b));
        case_sizes(c, "%lldx%lld", (long long)rows, (long long)d);
        arg_out(c, "y", t->c, TOLK(TOL_ELEM, t->c), DET_REQUIRED, SHAPE(rows, d));
        arg_in(c, "a", t->a, 1.0, SHAPE(rows, d));
        arg_in(c, "b", t->b, 1.0, SHAPE(rows, d));
        c->fn = fn_add;
        case_run(c);

        c = case_new("add", "%s in-place y=a=%s b=%s", t->name, dn(t->a), dn(t->b));
        case_sizes(c, "%lldx%lld", (long long)rows, (long long)d);
        arg_acc(c, "y=a", t->a, TOLK(TOL_ELEM, t->a), DET_REQUIRED, SHAPE(rows, d));
        arg_in(c, "b", t->b, 1.0, SHAPE(rows, d));
        c->fn = fn_add_inplace;
        case_run(c);
    }
    const Dt3 axpy_dts[] = {{"f32", F, F, F}, {"bf16", B, B, B}, {"f32-y-bf16-x", F, B, F}}; /* y, x, w */
    for (int k = 0; k < 3; k++) {
        const Dt3 *t = &axpy_dts[k];
        Case *c = case_new("axpy", "%s y=%s x=%s", t->name, dn(t->a), dn(t->b));
        case_sizes(c, "%lldx%lld", (long long)rows, (long long)d);
        arg_acc(c, "y", t->a, TOLK(TOL_ELEM, t->a), DET_REQUIRED, SHAPE(rows, d));
        arg_in(c, "x", t->b, 1.0, SHAPE(rows, d));
        c->fv[0] = -0.37f;
        c->fn = fn_axpy;
        case_run(c);

        for (int beta = 0; beta < 2; beta++) {
            /* per-row weights are F32 (FineCLIPER's fusion weights, loss weights) */
            c = case_new("axpy_rows", "%s beta=%g y=%s w=F32 x=%s", t->name, beta ? 0.5 : 0.0, dn(t->a), dn(t->b));
            case_sizes(c, "%lldx%lld", (long long)rows, (long long)d);
            if (beta)
                arg_acc(c, "y", t->a, TOLK(TOL_ELEM, t->a), DET_REQUIRED, SHAPE(rows, d));
            else
                arg_out(c, "y", t->a, TOLK(TOL_ELEM, t->a), DET_REQUIRED, SHAPE(rows, d)); /* NaN: must not be read */
            arg_in(c, "w", F, 1.0, SHAPE(rows));
            arg_in(c, "x", t->b, 1.0, SHAPE(rows, d));
            c->fv[0] = beta ? 0.5f : 0.0f;
            c->fn = fn_axpy_rows;
            case_run(c);
        }
        c = case_new("axpy_rows", "%s in-place beta=1.5 y=x=%s w=F32", t->name, dn(t->a));
        case_sizes(c, "%lldx%lld", (long long)rows, (long long)d);
        arg_acc(c, "y=x", t->a, TOLK(TOL_ELEM, t->a), DET_REQUIRED, SHAPE(rows, d));
        arg_in(c, "w", F, 1.0, SHAPE(rows));
        c->fv[0] = 1.5f;
        c->fn = fn_axpy_rows_inplace;
        case_run(c);
    }
    for (int k = 0; k < 2; k++) {
        DType t = k ? B : F;
        Case *c = case_new("scale", "y=%s", dn(t));
        case_sizes(c, "%lldx%lld", (long long)rows, (long long)d);
        arg_acc(c, "y", t, TOLK(TOL_ELEM, t), DET_REQUIRED, SHAPE(rows, d));
        c->fv[0] = 0.37f;
        c->fn = fn_scale;
        case_run(c);
    }
    /* positional embeddings [S, D] over [B, S, D]: frozen (BF16) or trainable (F32) */
    int64_t bb = cuda_parity.quick ? 2 : 8, ss = cuda_parity.quick ? 5 : 197, dd = cuda_parity.quick ? 16 : 768;
    const Dt3 bc_dts[] = {{"f32", F, F, F}, {"frozen", B, B, F}, {"trainable", B, F, F}}; /* y/dy, p, dp */
    for (int k = 0; k < 3; k++) {
        const Dt3 *t = &bc_dts[k];
        Case *c = case_new("add_broadcast", "%s y=%s p=%s", t->name, dn(t->a), dn(t->b));
        case_sizes(c, "B=%lld S=%lld D=%lld", (long long)bb, (long long)ss, (long long)dd);
        arg_acc(c, "y", t->a, TOLK(TOL_ELEM, t->a), DET_REQUIRED, SHAPE(bb, ss, dd));
        arg_in(c, "p", t->b, 1.0, SHAPE(ss, dd));
        c->fn = fn_add_broadcast;
        case_run(c);
        if (k == 1) continue; /* a frozen p has no gradient */
        c = case_new("add_broadcast_backward", "%s dp=%s dy=%s", t->name, dn(t->c), dn(t->a));
        case_sizes(c, "B=%lld S=%lld D=%lld", (long long)bb, (long long)ss, (long long)dd);
        arg_acc(c, "dp", t->c, TOLN(TOL_COLRED_F32), DET_REPORT, SHAPE(ss, dd));
        arg_in(c, "dy", t->a, 1.0, SHAPE(bb, ss, dd));
        c->fn = fn_add_broadcast_bwd;
        case_run(c);
    }
}

/* Rows: embedding, gather, scatter and their backwards. */
static void fn_embedding(Case *c, Ops *o, int s) { op_embedding(o, A(0), A(1), A(2)); }
static void fn_embedding_bwd(Case *c, Ops *o, int s) { op_embedding_backward(o, A(0), A(1), A(2)); }
static void fn_gather(Case *c, Ops *o, int s) { op_gather_rows(o, A(0), A(1), A(2)); }
static void fn_gather_bwd(Case *c, Ops *o, int s) { op_gather_rows_backward(o, A(0), A(1), A(2)); }
static void fn_scatter(Case *c, Ops *o, int s) { op_scatter_rows(o, A(0), A(1), A(2)); }
static void cases_rows(void) {
    int64_t vocab = cuda_parity.quick ? 50 : 49408, n = cuda_parity.quick ? 23 : 154, d = cuda_parity.quick ? 16 : 512;
    const Dt3 emb[] = {{"f32", F, F, F}, {"frozen", B, B, F}, {"learnable", F, B, F}}; /* table, y, dtable */
    for (int k = 0; k < 3; k++) {
        const Dt3 *t = &emb[k];
        Case *c = case_new("embedding", "%s y=%s table=%s", t->name, dn(t->b), dn(t->a));
        case_sizes(c, "V=%lld N=%lld D=%lld", (long long)vocab, (long long)n, (long long)d);
        arg_out(c, "y", t->b, TOLN(TOL_MOVE), DET_REQUIRED, SHAPE(n, d));
        arg_in(c, "table", t->a, 1.0, SHAPE(vocab, d));
        arg_ids(c, "ids", n, vocab, 0);
        c->fn = fn_embedding;
        case_run(c);
        if (k == 1) continue; /* frozen tables get no gradient */
        c = case_new("embedding_backward", "%s dtable=%s dy=%s (repeated ids)", t->name, dn(t->c), dn(t->b));
        int64_t v2 = cuda_parity.quick ? 50 : 4096; /* a smaller table so that ids repeat */
        case_sizes(c, "V=%lld N=%lld D=%lld", (long long)v2, (long long)n, (long long)d);
        arg_acc(c, "dtable", t->c, TOLN(TOL_SCATTER_ADD_F32), DET_REPORT, SHAPE(v2, d));
        arg_in(c, "dy", t->b, 1.0, SHAPE(n, d));
        arg_ids(c, "ids", n, v2 < 8 ? v2 : 8, 0); /* 8 distinct rows: many repeats */
        c->fn = fn_embedding_bwd;
        case_run(c);
    }
    int64_t rows = cuda_parity.quick ? 40 : 154, picks = cuda_parity.quick ? 6 : 32;
    const Dt3 gat[] = {{"f32", F, F, F}, {"bf16", B, B, B}, {"bf16-to-f32", B, F, F}}; /* x, y, (unused) */
    for (int k = 0; k < 3; k++) {
        const Dt3 *t = &gat[k];
        Case *c = case_new("gather_rows", "%s y=%s x=%s", t->name, dn(t->b), dn(t->a));
        case_sizes(c, "rows=%lld picks=%lld D=%lld", (long long)rows, (long long)picks, (long long)d);
        arg_out(c, "y", t->b, TOLN(TOL_MOVE), DET_REQUIRED, SHAPE(picks, d));
        arg_in(c, "x", t->a, 1.0, SHAPE(rows, d));
        arg_ids(c, "idx", picks, rows, 0);
        c->fn = fn_gather;
        case_run(c);
    }
    /* gather backward: EOT pooling's dx (BF16, one index per row: no repeats) and F32 with repeats */
    const struct {
        const char *name;
        DType dx, dy;
        int distinct;
        double tol;
        const char *tol_name;
    } gb[] = {{"bf16-distinct", B, B, 1, TOLN(TOL_ELEM_BF16)},
              {"f32-repeats", F, F, 0, TOLN(TOL_SCATTER_ADD_F32)},
              {"f32-from-bf16-repeats", F, B, 0, TOLN(TOL_SCATTER_ADD_F32)}};
    for (int k = 0; k < 3; k++) {
        Case *c = case_new("gather_rows_backward", "%s dx=%s dy=%s", gb[k].name, dn(gb[k].dx), dn(gb[k].dy));
        case_sizes(c, "rows=%lld picks=%lld D=%lld", (long long)rows, (long long)picks, (long long)d);
        arg_acc(c, "dx", gb[k].dx, gb[k].tol, gb[k].tol_name, DET_REPORT, SHAPE(rows, d));
        arg_in(c, "dy", gb[k].dy, 1.0, SHAPE(picks, d));
        arg_ids(c, "idx", picks, gb[k].distinct ? rows : picks / 2 + 1, gb[k].distinct);
        c->fn = fn_gather_bwd;
        case_run(c);
    }
    /* scatter_rows: DFER-CLIP's learnable contexts (F32) placed into prompt embeddings (BF16) */
    const Dt3 sc[] = {{"f32", F, F, F}, {"contexts", B, F, F}, {"bf16", B, B, B}}; /* y, x */
    for (int k = 0; k < 3; k++) {
        const Dt3 *t = &sc[k];
        Case *c = case_new("scatter_rows", "%s y=%s x=%s", t->name, dn(t->a), dn(t->b));
        case_sizes(c, "rows=%lld picks=%lld D=%lld", (long long)rows, (long long)picks, (long long)d);
        arg_acc(c, "y", t->a, TOLN(TOL_MOVE), DET_REQUIRED, SHAPE(rows, d));
        arg_in(c, "x", t->b, 1.0, SHAPE(picks, d));
        arg_ids(c, "idx", picks, rows, 1);
        c->fn = fn_scatter;
        case_run(c);
    }
}

/* Layout ops: im2col, prepend_token (+backward), permute_0213. */
static void fn_im2col(Case *c, Ops *o, int s) { op_im2col_patches(o, A(0), A(1), (int)c->iv[0]); }
static void fn_prepend(Case *c, Ops *o, int s) { op_prepend_token(o, A(0), A(1), A(2)); }
static void fn_prepend_bwd(Case *c, Ops *o, int s) { op_prepend_token_backward(o, A(0), A(1), A(2)); }
static void fn_permute(Case *c, Ops *o, int s) { op_permute_0213(o, A(0), A(1)); }
static void fn_normalize_images(Case *c, Ops *o, int s) {
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    static const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    op_normalize_images(o, A(0), A(1), c->iv[0] ? clip_mean : zero, c->iv[0] ? clip_std : one);
}
static void cases_layout(void) {
    /* normalize_images: both backends look up the same table that ops.c builds (the loader's
     * fp32 expression) and round once: bit-exact. Planes of 224*224 (16-byte loads) and 13*11
     * (scalar path); CLIP mean/std (FineCLIPER) and raw [0,1] (DFER-CLIP). */
    const int64_t nf[][3] = {{4, 224, 224}, {3, 13, 11}}, nq[][3] = {{2, 16, 16}, {3, 13, 11}};
    for (int k = 0; k < 2; k++)
        for (int z = 0; z < 2; z++)
            for (int clip = 0; clip < 2; clip++) {
                DType t = k ? B : F;
                const int64_t *sz = cuda_parity.quick ? nq[z] : nf[z];
                Case *c = case_new("normalize_images", "y=%s x=U8 %s", dn(t), clip ? "clip" : "raw");
                case_sizes(c, "N=%lld %lldx%lld", (long long)sz[0], (long long)sz[1], (long long)sz[2]);
                arg_out(c, "y", t, TOLN(TOL_MOVE), DET_REQUIRED, SHAPE(sz[0], 3, sz[1], sz[2]));
                arg_bytes(c, "x", SHAPE(sz[0], 3, sz[1], sz[2]));
                c->iv[0] = clip;
                c->fn = fn_normalize_images;
                case_run(c);
            }
    /* patch 16: chunks of 8; 14 (L/14) and 4: pairs; 5: single elements */
    const int64_t full[][3] = {{2, 224, 16}, {1, 32, 16}, {2, 224, 14}, {2, 8, 4}, {1, 15, 5}},
                  quick[][3] = {{2, 8, 4}, {1, 32, 16}, {1, 28, 14}, {1, 15, 5}};
    const Dt3 im[] = {{"f32", F, F, F}, {"f32-images", F, B, F}, {"bf16", B, B, F}}; /* images, patches */
    int ns = cuda_parity.quick ? 4 : 5;
    for (int k = 0; k < 3; k++)
        for (int z = 0; z < ns; z++) {
            const int64_t *sz = cuda_parity.quick ? quick[z] : full[z];
            int64_t bb = sz[0], res = sz[1], p = sz[2], g = res / p;
            Case *c = case_new("im2col_patches", "%s patches=%s images=%s", im[k].name, dn(im[k].b), dn(im[k].a));
            case_sizes(c, "B=%lld R=%lld P=%lld", (long long)bb, (long long)res, (long long)p);
            arg_out(c, "patches", im[k].b, TOLN(TOL_MOVE), DET_REQUIRED, SHAPE(bb * g * g, 3 * p * p));
            arg_in(c, "images", im[k].a, 1.0, SHAPE(bb, 3, res, res));
            c->iv[0] = p;
            c->fn = fn_im2col;
            case_run(c);
        }
    /* prepend_token and its backward: rows of D = 8k take chunks of 8, D = 12 pairs, D = 13 single elements */
    int64_t bb = cuda_parity.quick ? 2 : 8, ss = cuda_parity.quick ? 4 : 196, dd_vec = cuda_parity.quick ? 16 : 768;
    const Dt3 pre[] = {{"f32", F, F, F}, {"frozen", B, B, F}, {"trainable", B, F, F}}; /* x/y, tok, dtok */
    const int64_t dds[] = {dd_vec, 12, 13};
    for (int w = 0; w < 3; w++)
    for (int k = 0; k < 3; k++) {
        const Dt3 *t = &pre[k];
        const int64_t dd = dds[w];
        Case *c = case_new("prepend_token", "%s y=%s x=%s tok=%s", t->name, dn(t->a), dn(t->a), dn(t->b));
        case_sizes(c, "B=%lld S=%lld D=%lld", (long long)bb, (long long)ss, (long long)dd);
        arg_out(c, "y", t->a, TOLN(TOL_MOVE), DET_REQUIRED, SHAPE(bb, ss + 1, dd));
        arg_in(c, "x", t->a, 1.0, SHAPE(bb, ss, dd));
        arg_in(c, "tok", t->b, 1.0, SHAPE(dd));
        c->fn = fn_prepend;
        case_run(c);
    }
    /* backward: dx BF16 (activation gradient), dtok F32 (trainable class token) or not computed */
    const struct {
        const char *name;
        DType dx, dtok, dy;
    } pb[] = {{"f32", F, F, F}, {"trainable", B, F, B}, {"frozen-token", B, NO, B}, {"token-only", NO, F, B}};
    for (int w = 0; w < 3; w++)
    for (int k = 0; k < 4; k++) {
        const int64_t dd = dds[w];
        Case *c =
            case_new("prepend_token_backward", "%s dx=%s dtok=%s dy=%s", pb[k].name,
                     pb[k].dx != NO ? dn(pb[k].dx) : "none", pb[k].dtok != NO ? dn(pb[k].dtok) : "none", dn(pb[k].dy));
        case_sizes(c, "B=%lld S=%lld D=%lld", (long long)bb, (long long)ss, (long long)dd);
        if (pb[k].dx != NO)
            arg_out(c, "dx", pb[k].dx, TOLN(TOL_MOVE), DET_REPORT, SHAPE(bb, ss, dd));
        else
            arg_none(c, "dx", B, SHAPE(bb, ss, dd));
        if (pb[k].dtok != NO)
            arg_acc(c, "dtok", pb[k].dtok, TOLN(TOL_COLRED_F32), DET_REPORT, SHAPE(dd));
        else
            arg_none(c, "dtok", F, SHAPE(dd));
        arg_in(c, "dy", pb[k].dy, 1.0, SHAPE(bb, ss + 1, dd));
        c->fn = fn_prepend_bwd;
        case_run(c);
    }
    /* a last dimension of 8k takes chunks of 8 (more than one: a swapped chunk shows), 2k pairs, odd ones
     * single elements */
    const int64_t pf[][4] = {{2, 8, 50, 64}, {3, 5, 7, 1}, {2, 3, 5, 6}},
                  pq[][4] = {{3, 5, 7, 2}, {2, 4, 6, 16}, {2, 3, 4, 3}};
    for (int k = 0; k < 2; k++)
        for (int z = 0; z < 3; z++) {
            DType t = k ? B : F;
            const int64_t *sz = cuda_parity.quick ? pq[z] : pf[z];
            Case *c = case_new("permute_0213", "y=%s x=%s", dn(t), dn(t));
            case_sizes(c, "%lldx%lldx%lldx%lld", (long long)sz[0], (long long)sz[1], (long long)sz[2],
                       (long long)sz[3]);
            arg_out(c, "y", t, TOLN(TOL_MOVE), DET_REQUIRED, SHAPE(sz[0], sz[2], sz[1], sz[3]));
            arg_in(c, "x", t, 1.0, SHAPE(sz[0], sz[1], sz[2], sz[3]));
            c->fn = fn_permute;
            case_run(c);
        }
}

/* Row reductions: l2_normalize, mean_dim1 (+backwards), cross_entropy, sum_squares. */
static void fn_l2(Case *c, Ops *o, int s) { op_l2_normalize(o, A(0), A(1), c->fv[0]); }
static void fn_l2_bwd(Case *c, Ops *o, int s) { op_l2_normalize_backward(o, A(0), A(1), A(2), c->fv[0]); }
static void fn_mean(Case *c, Ops *o, int s) { op_mean_dim1(o, A(0), A(1)); }
static void fn_mean_bwd(Case *c, Ops *o, int s) { op_mean_dim1_backward(o, A(0), A(1)); }
static void fn_ce(Case *c, Ops *o, int s) { op_cross_entropy(o, A(0), A(1), A(2), A(3), c->fv[0]); }
static void fn_sumsq(Case *c, Ops *o, int s) { c->scalar[s] = op_sum_squares(o, A(0)); }
static void cases_reductions(void) {
    int64_t n = cuda_parity.quick ? 9 : 64, d = cuda_parity.quick ? 33 : 512;
    const Dt3 l2[] = {{"f32", F, F, F}, {"bf16", B, B, B}, {"bf16-to-f32", B, F, F}}; /* x, y, dy */
    for (int k = 0; k < 3; k++) {
        const Dt3 *t = &l2[k];
        Case *c = case_new("l2_normalize", "%s y=%s x=%s (row 0 zero)", t->name, dn(t->b), dn(t->a));
        case_sizes(c, "n=%lld d=%lld", (long long)n, (long long)d);
        arg_out(c, "y", t->b, TOLK(TOL_ROWRED, t->b), DET_REQUIRED, SHAPE(n, d));
        Arg *x = arg_in(c, "x", t->a, 1.0, SHAPE(n, d));
        for (int64_t j = 0; j < d; j++) x->init[j] = 0; /* the eps branch */
        c->fv[0] = 1e-6f;
        c->fn = fn_l2;
        case_run(c);

        c = case_new("l2_normalize_backward", "%s dx=%s dy=%s x=%s", t->name, dn(t->b), dn(t->c), dn(t->a));
        case_sizes(c, "n=%lld d=%lld", (long long)n, (long long)d);
        arg_out(c, "dx", t->b, TOLK(TOL_ROWRED, t->b), DET_REPORT, SHAPE(n, d));
        arg_in(c, "dy", t->c, 1.0, SHAPE(n, d));
        arg_in(c, "x", t->a, 1.0, SHAPE(n, d));
        c->fv[0] = 1e-6f;
        c->fn = fn_l2_bwd;
        case_run(c);
    }
    int64_t bb = cuda_parity.quick ? 3 : 8, tt = cuda_parity.quick ? 4 : 16, dd = cuda_parity.quick ? 16 : 768;
    const Dt3 md[] = {{"f32", F, F, F}, {"bf16", B, B, B}, {"bf16-to-f32", B, F, B}}; /* x, y, dx */
    for (int k = 0; k < 3; k++) {
        const Dt3 *t = &md[k];
        Case *c = case_new("mean_dim1", "%s y=%s x=%s", t->name, dn(t->b), dn(t->a));
        case_sizes(c, "B=%lld T=%lld D=%lld", (long long)bb, (long long)tt, (long long)dd);
        arg_out(c, "y", t->b, TOLK(TOL_ROWRED, t->b), DET_REQUIRED, SHAPE(bb, dd));
        arg_in(c, "x", t->a, 1.0, SHAPE(bb, tt, dd));
        c->fn = fn_mean;
        case_run(c);

        c = case_new("mean_dim1_backward", "%s dx=%s dy=%s", t->name, dn(t->c), dn(t->b));
        case_sizes(c, "B=%lld T=%lld D=%lld", (long long)bb, (long long)tt, (long long)dd);
        arg_out(c, "dx", t->c, TOLK(TOL_ELEM, t->c), DET_REPORT, SHAPE(bb, tt, dd));
        arg_in(c, "dy", t->b, 1.0, SHAPE(bb, dd));
        c->fn = fn_mean_bwd;
        case_run(c);
    }
    /* cross-entropy: loss F32 always; dlogits in the logits' dtype, or F32, or not computed */
    const int64_t cf[][2] = {{64, 7}, {16, 1000}, {3, 2}}, cq[][2] = {{3, 2}, {16, 7}};
    const struct {
        const char *name;
        DType logits, dlogits; /* NO: no dlogits */
    } ce[] = {{"f32", F, F}, {"bf16", B, B}, {"bf16-logits-f32-grad", B, F}, {"bf16-loss-only", B, NO},
              {"f32-loss-only", F, NO}};
    int ns = cuda_parity.quick ? 2 : 3;
    for (int k = 0; k < 5; k++)
        for (int z = 0; z < ns; z++) {
            const int64_t *sz = cuda_parity.quick ? cq[z] : cf[z];
            int64_t rows = sz[0], classes = sz[1];
            Case *c = case_new("cross_entropy", "%s loss=F32 dlogits=%s logits=%s", ce[k].name,
                               ce[k].dlogits != NO ? dn(ce[k].dlogits) : "none", dn(ce[k].logits));
            case_sizes(c, "N=%lld C=%lld", (long long)rows, (long long)classes);
            arg_out(c, "loss", F, TOLN(TOL_CE_LOSS), DET_REQUIRED, SHAPE(rows));
            if (ce[k].dlogits != NO)
                arg_out(c, "dlogits", ce[k].dlogits, TOLK(TOL_ROWRED, ce[k].dlogits), DET_REQUIRED,
                        SHAPE(rows, classes));
            else
                arg_none(c, "dlogits", F, SHAPE(rows, classes));
            arg_in(c, "logits", ce[k].logits, 3.0, SHAPE(rows, classes));
            arg_ids(c, "labels", rows, classes, 0);
            c->fv[0] = 1.0f / (float)rows;
            c->fn = fn_ce;
            case_run(c);
        }
    const int64_t sf[] = {1000003, 77}, sq[] = {1001, 77};
    for (int k = 0; k < 2; k++)
        for (int z = 0; z < 2; z++) {
            DType t = k ? B : F;
            int64_t len = cuda_parity.quick ? sq[z] : sf[z];
            Case *c = case_new("sum_squares", "x=%s", dn(t));
            case_sizes(c, "n=%lld", (long long)len);
            arg_in(c, "x", t, 1.0, SHAPE(len));
            c->has_scalar = 1;
            c->scalar_tol = TOL_SUMSQ;
            c->scalar_tol_name = "TOL_SUMSQ";
            c->scalar_det = DET_REQUIRED;
            c->fn = fn_sumsq;
            case_run(c);
        }
}

/* Optimiser updates: F32 only (ops.h). */
static void fn_sgd(Case *c, Ops *o, int s) {
    op_sgd_update(o, A(0), A(1), A(2), c->fv[0], c->fv[1], c->fv[2], (int)c->iv[0]);
}
static void fn_adamw(Case *c, Ops *o, int s) {
    op_adamw_update(o, A(0), A(1), A(2), A(3), c->fv[0], 0.9f, 0.999f, 1e-8f, c->fv[1], (int)c->iv[0]);
}
static void cases_optim(void) {
    int64_t n = cuda_parity.quick ? 1001 : 100003;
    const struct {
        float momentum, wd;
        int first;
    } sg[] = {{0.9f, 0.0f, 1}, {0.9f, 0.05f, 0}, {0.0f, 0.05f, 0}};
    for (int k = 0; k < 3; k++) {
        Case *c = case_new("sgd_update", "momentum=%g weight_decay=%g first_step=%d w=F32 g=F32 buf=%s", sg[k].momentum,
                           sg[k].wd, sg[k].first, sg[k].momentum != 0 ? "F32" : "none");
        case_sizes(c, "n=%lld", (long long)n);
        arg_acc(c, "w", F, TOLN(TOL_OPTIM), DET_REQUIRED, SHAPE(n));
        arg_in(c, "g", F, 0.1, SHAPE(n));
        if (sg[k].momentum != 0)
            arg_acc(c, "buf", F, TOLN(TOL_OPTIM), DET_REQUIRED, SHAPE(n));
        else
            arg_none(c, "buf", F, SHAPE(n));
        c->fv[0] = 0.01f, c->fv[1] = sg[k].momentum, c->fv[2] = sg[k].wd;
        c->iv[0] = sg[k].first;
        c->fn = fn_sgd;
        case_run(c);
    }
    const int steps[] = {1, 10};
    for (int k = 0; k < 2; k++) {
        Case *c = case_new("adamw_update", "step=%d weight_decay=0.05 w=F32 g=F32 m=F32 v=F32", steps[k]);
        case_sizes(c, "n=%lld", (long long)n);
        arg_acc(c, "w", F, TOLN(TOL_OPTIM), DET_REQUIRED, SHAPE(n));
        arg_in(c, "g", F, 0.1, SHAPE(n));
        Arg *m = arg_acc(c, "m", F, TOLN(TOL_OPTIM), DET_REQUIRED, SHAPE(n));
        Arg *v = arg_acc(c, "v", F, TOLN(TOL_OPTIM), DET_REQUIRED, SHAPE(n));
        for (int64_t i = 0; i < n; i++) {
            m->init[i] *= 0.01f;
            v->init[i] = v->init[i] * v->init[i] * 1e-4f; /* second moments are >= 0 */
        }
        c->fv[0] = 1e-3f, c->fv[1] = 0.05f;
        c->iv[0] = steps[k];
        c->fn = fn_adamw;
        case_run(c);
    }
}

static void run_all_cases(void) {
    cuda_parity_cases_linear();
    cuda_parity_cases_linear_bwd();
    cuda_parity_cases_matmul();
    cuda_parity_cases_layernorm();
    cuda_parity_cases_layernorm_bwd();
    cuda_parity_cases_activation();
    cases_elementwise();
    cuda_parity_cases_attention();
    cases_rows();
    cases_layout();
    cases_reductions();
    cases_optim();
    cuda_parity_cases_adapter();
}

int main(int argc, char **argv) {
    CudaParity *p = &cuda_parity;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            p->quick = 1;
        else if (!strcmp(argv[i], "--self-test"))
            p->self_test = 1;
        else if (!strcmp(argv[i], "--list"))
            p->list = 1;
        else if (!strcmp(argv[i], "--backward-determinism-report-only"))
            p->strict_det = 0;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            p->only = argv[++i];
        else {
            fprintf(
                stderr,
                "usage: %s [--quick] [--only WORD,...] [--backward-determinism-report-only] [--self-test] [--list]\n",
                argv[0]);
            return 2;
        }
    }
    const char *env_det = getenv("DFER_CUDA_TEST_STRICT_DET");
    if (env_det && !strcmp(env_det, "0")) p->strict_det = 0;
    if (!p->only) p->only = getenv("DFER_CUDA_TEST_ONLY");
    if (p->list) {
        run_all_cases();
        return 0;
    }
    if (!p->self_test) {
#ifndef DFER_WITH_CUDA
        test_skip_all("no GPU (this build has no CUDA: DFER_WITH_CUDA is not defined)");
#else
        if (dfer_cuda_device_count() == 0) test_skip_all("no GPU (dfer_cuda_device_count() == 0)");
#endif
    }
    const char *ref = getenv("DFER_CUDA_TEST_REF");
    if (ref && !strcmp(ref, "same"))
        p->ref_forced = 0;
    else if (ref && !strcmp(ref, "f32"))
        p->ref_forced = 1;
    int n_f32_keys = 0;
    if (p->ref_forced < 0) n_f32_keys = cuda_parity_probe_cpu_dtypes(run_all_cases);

    Err err;
    CHECK(ops_create(BACKEND_CPU, 0, &p->ops[CPU], &err) == 0, "CPU backend: %s", err.msg);
    if (p->self_test) {
        CHECK(ops_create(BACKEND_CPU, 0, &p->ops[GPU], &err) == 0, "CPU backend: %s", err.msg);
    } else if (ops_create(BACKEND_CUDA, 0, &p->ops[GPU], &err) != 0) {
        /* A GPU is there but the backend refuses it: that is a failure, not a skip. */
        fprintf(stderr, "test_cuda_ops: the CUDA backend did not start: %s\n", err.msg);
        return 1;
    }
    printf("device side: %s%s\nreference:   %s\n", ops_describe(p->ops[GPU]),
           p->self_test ? " (--self-test: a second CPU context)" : "", ops_describe(p->ops[CPU]));
    printf("reference dtypes: %s\n", p->ref_forced == 1   ? "all-F32 (DFER_CUDA_TEST_REF=f32, or the probe failed)"
                                     : p->ref_forced == 0 ? "the GPU call's own (DFER_CUDA_TEST_REF=same)"
                                     : n_f32_keys         ? "the GPU call's own where the CPU backend takes them, "
                                                            "all-F32 for the cases noted below"
                                                  : "the GPU call's own (the CPU backend took every case's dtypes)");
    printf("sizes: %s; determinism required for forward ops, loss, sum_squares, optimiser%s\n",
           p->quick ? "--quick" : "full", p->strict_det ? " and backward ops" : " (backward: reported)");
    fflush(stdout);
    run_all_cases();
    printf("summary: %d cases, %d outputs compared; %d cases with an all-F32 reference (CPU refused their dtypes); "
           "%d backward outputs not bitwise deterministic (reported only)\n",
           p->cases, p->outputs, p->cases_f32ref, p->nondet_reported);
    ops_destroy(p->ops[GPU]);
    ops_destroy(p->ops[CPU]);
    if (!p->cases) {
        printf("no case matched --only %s\n", p->only ? p->only : "");
        return 1;
    }
    return test_summary();
}
