/* bench_paths: the CUDA backend's implementations ("paths") of the ops that have several, timed side by side
 * at a model's shapes, so that which one is the default is decided by figures from the GPU at hand:
 *   op_attention and its backward: gemm (the default), tiled, flash   (DFER_ATTENTION; kernels/attention*.cu)
 *   op_adapter and its backward:   composed (the default), fused      (DFER_ADAPTER; kernels/adapter.cu)
 * For every shape it prints each path's milliseconds per call, forward and backward, and how far each path's
 * outputs are from the first path's (largest difference over the first path's largest value); paths that
 * disagree by more than a BF16 tolerance make it exit 1 (a broken path is not a fast one). A path that hands a
 * call on (flash where Dh != 64, fused where the shapes do not suit it) times the path it hands to.
 *
 * Default shapes: FineCLIPER's on --arch at --frames and --batch (one micro-batch): the vision tower's temporal
 * attention (batch x tokens sequences of the frames), its spatial attention (batch x frames sequences of the
 * tokens), the class prompts' causal text attention (--prompts sequences of the context length), and the three
 * AIM adapters (temporal with its row swap, spatial with its skip, MLP scaled by 0.5) and the text adapters,
 * bottleneck width / 4. --attention and --adapter replace them (scripts/gpu_check step `paths`; the emulated
 * test runs small ones).
 *
 * usage: bench_paths [--arch b16] [--frames 16] [--batch 16] [--prompts 14] [--reps 10] [--warmup 2]
 *                    [--only attention|adapter] [--json FILE]
 *                    [--attention NAME:ITEMS,SEQ,HEADS,HEAD_SIZE[,CAUSAL]]...
 *                    [--adapter NAME:ROWS,WIDTH,BOTTLENECK[,SWAP_P,SWAP_Q[,SCALE[,SKIP]]]]...
 * Needs a CUDA build (or the emulated backend: bench_paths_emu) and a GPU; exits 77 without one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/check.h"
#include "core/fsutil.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "core/timer.h"
#include "model/clip_config.h"
#include "ops/ops.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif

#define MAX_SHAPES 16
#define AGREE_TOL 3e-2 /* BF16 outputs of different paths: the parity tests' widest bound (TOL_ATTN_GEMM_BWD_BF16) */

typedef struct AttnCase {
    char name[32];
    int64_t items, seq;
    int heads, head_size, causal;
} AttnCase;

typedef struct AdapterCase {
    char name[32];
    int64_t rows, width, bottleneck;
    AdapterForm form;
} AdapterCase;

typedef struct Options {
    const char *arch, *only, *json;
    int frames, batch, prompts, reps, warmup;
    AttnCase attn[MAX_SHAPES];
    AdapterCase adapter[MAX_SHAPES];
    int n_attn, n_adapter;
} Options;


static void usage_exit(const char *why) {
    fprintf(stderr, "bench_paths: %s\nusage: bench_paths [--arch b16] [--frames 16] [--batch 16] [--prompts 14] "
                    "[--reps 10] [--warmup 2] [--only attention|adapter] [--json FILE] "
                    "[--attention NAME:ITEMS,SEQ,HEADS,HEAD_SIZE[,CAUSAL]]... "
                    "[--adapter NAME:ROWS,WIDTH,BOTTLENECK[,SWAP_P,SWAP_Q[,SCALE[,SKIP]]]]...\n",
            why);
    exit(2);
}

/* "NAME:v1,v2,...": the name into name[32], up to max numbers into v; returns how many numbers. */
static int parse_case(const char *arg, char *name, double *v, int max) {
    const char *colon = strchr(arg, ':');
    if (!colon || colon == arg || colon - arg >= 32)
        usage_exit("a shape is NAME:NUMBERS (a name of 1 to 31 characters)");
    memcpy(name, arg, (size_t)(colon - arg));
    name[colon - arg] = 0;
    int n = 0;
    for (const char *p = colon + 1; *p;) {
        char *end;
        if (n == max) usage_exit("a shape has too many numbers");
        v[n++] = strtod(p, &end);
        if (end == p || (*end && *end != ',')) usage_exit("a shape's numbers are comma-separated");
        p = *end ? end + 1 : end;
    }
    return n;
}

static void add_attn(Options *o, const char *name, int64_t items, int64_t seq, int heads, int hd, int causal) {
    if (o->n_attn == MAX_SHAPES) usage_exit("too many attention shapes");
    if (items < 1 || seq < 1 || heads < 1 || hd < 1) usage_exit("an attention shape's sizes must be positive");
    AttnCase *c = &o->attn[o->n_attn++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->items = items, c->seq = seq, c->heads = heads, c->head_size = hd, c->causal = causal;
}

static void add_adapter(Options *o, const char *name, int64_t rows, int64_t width, int64_t r, AdapterForm form) {
    if (o->n_adapter == MAX_SHAPES) usage_exit("too many adapter shapes");
    if (rows < 1 || width < 1 || r < 1) usage_exit("an adapter shape's sizes must be positive");
    if (form.swap_p && rows % (form.swap_p * form.swap_q))
        usage_exit("an adapter's rows must be a multiple of SWAP_P x SWAP_Q");
    AdapterCase *c = &o->adapter[o->n_adapter++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->rows = rows, c->width = width, c->bottleneck = r, c->form = form;
}

/* FineCLIPER's shapes on the preset (src/model/aim_vision.h, finecliper.c): see the header comment. */
static void default_cases(Options *o) {
    ClipConfig c;
    Err err;
    if (clip_config_preset(o->arch, &c, &err) != 0) usage_exit(err.msg);
    const int64_t B = o->batch, T = o->frames, S = clip_vision_tokens(&c), W = c.vision_width;
    const int vh = c.vision_heads, th = c.text_heads;
    if (!o->n_attn) {
        add_attn(o, "temporal", B * S, T, vh, (int)(W / vh), 0);
        add_attn(o, "spatial", B * T, S, vh, (int)(W / vh), 0);
        add_attn(o, "text", o->prompts, c.context_length, th, c.text_width / th, 1);
    }
    if (!o->n_adapter) {
        add_adapter(o, "temporal", B * T * S, W, W / 4, (AdapterForm){0, 1.0f, S, T});
        add_adapter(o, "spatial", B * T * S, W, W / 4, (AdapterForm){1, 1.0f, 0, 0});
        add_adapter(o, "mlp", B * T * S, W, W / 4, (AdapterForm){0, 0.5f, 0, 0});
        add_adapter(o, "text", (int64_t)o->prompts * c.context_length, c.text_width, c.text_width / 4,
                    (AdapterForm){1, 1.0f, 0, 0});
    }
}

static int int_arg(const char *v, const char *flag, int lo) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > 1 << 20) {
        char why[96];
        snprintf(why, sizeof why, "%s takes a whole number of at least %d", flag, lo);
        usage_exit(why);
    }
    return (int)x;
}

static void parse_args(int argc, char **argv, Options *o) {
    *o = (Options){.arch = "b16", .frames = 16, .batch = 16, .prompts = 14, .reps = 10, .warmup = 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage_exit("every option takes a value");
        double n[7];
        char name[32];
        int k;
        if (!strcmp(a, "--arch")) o->arch = v;
        else if (!strcmp(a, "--frames")) o->frames = int_arg(v, a, 1);
        else if (!strcmp(a, "--batch")) o->batch = int_arg(v, a, 1);
        else if (!strcmp(a, "--prompts")) o->prompts = int_arg(v, a, 1);
        else if (!strcmp(a, "--reps")) o->reps = int_arg(v, a, 1);
        else if (!strcmp(a, "--warmup")) o->warmup = int_arg(v, a, 0);
        else if (!strcmp(a, "--json")) o->json = v;
        else if (!strcmp(a, "--only")) {
            if (strcmp(v, "attention") && strcmp(v, "adapter")) usage_exit("--only takes attention or adapter");
            o->only = v;
        } else if (!strcmp(a, "--attention")) {
            if ((k = parse_case(v, name, n, 5)) < 4) usage_exit("--attention NAME:ITEMS,SEQ,HEADS,HEAD_SIZE[,CAUSAL]");
            add_attn(o, name, (int64_t)n[0], (int64_t)n[1], (int)n[2], (int)n[3], k > 4 && n[4] != 0);
        } else if (!strcmp(a, "--adapter")) {
            if ((k = parse_case(v, name, n, 7)) < 3 || k == 4)
                usage_exit("--adapter NAME:ROWS,WIDTH,BOTTLENECK[,SWAP_P,SWAP_Q[,SCALE[,SKIP]]]");
            AdapterForm f = {k > 6 && n[6] != 0, k > 5 ? (float)n[5] : 1.0f, k > 3 ? (int64_t)n[3] : 0,
                             k > 4 ? (int64_t)n[4] : 0};
            add_adapter(o, name, (int64_t)n[0], (int64_t)n[1], (int64_t)n[2], f);
        } else {
            usage_exit("unknown option");
        }
        i++;
    }
    default_cases(o);
}

#ifdef DFER_WITH_CUDA
static Ops *g_ops;
static uint64_t g_seed = 1;

/* ---- device tensors ------------------------------------------------------------------------------------ */

static Tensor dev_tensor(const char *name, DType dt, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    Tensor t = ndim == 1 ? tensor_make(NULL, dt, 1, d0) : ndim == 2 ? tensor_make(NULL, dt, 2, d0, d1)
                                                                    : tensor_make(NULL, dt, 3, d0, d1, d2);
    t.name = name;
    t.data = ops_alloc(g_ops, tensor_bytes(&t));
    return t;
}

/* Normal values of standard deviation sd (F32 or BF16 tensors). */
static void fill_normal(Tensor t, float sd) {
    int64_t n = tensor_numel(&t);
    float *h = xmalloc((size_t)n * sizeof(float));
    Rng r;
    rng_init(&r, g_seed++, 0, 0, 0);
    for (int64_t i = 0; i < n; i++) h[i] = sd * (float)rng_normal(&r);
    ops_upload_reals(g_ops, t, h);
    free(h);
}

static float *download_floats(Tensor t) {
    int64_t n = tensor_numel(&t);
    float *h = xmalloc((size_t)n * sizeof(float));
    if (t.dtype == DT_F32) {
        ops_download(g_ops, h, t.data, (size_t)n * sizeof(float));
    } else {
        CHECK(t.dtype == DT_BF16, "bench_paths: %s is neither F32 nor BF16", t.name);
        uint16_t *b = xmalloc((size_t)n * sizeof(uint16_t));
        ops_download(g_ops, b, t.data, (size_t)n * sizeof(uint16_t));
        for (int64_t i = 0; i < n; i++) h[i] = bf16_to_f32(b[i]);
        free(b);
    }
    return h;
}

/* max |a - b| / max |a| over n values (0 when a is all zeros and b equals it) */
static double rel_diff(const float *a, const float *b, int64_t n) {
    double dmax = 0, amax = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= dmax)) dmax = d; /* NaN propagates */
        if (fabs(a[i]) > amax) amax = fabs(a[i]);
    }
    return amax > 0 ? dmax / amax : dmax;
}

/* ---- timing and the report --------------------------------------------------------------------------- */

typedef void (*RunFn)(void *ctx);
/* Milliseconds per call: warmup calls, a sync, then reps calls timed to the sync after them. */
static double time_ms(RunFn fn, void *ctx, const Options *o) {
    for (int i = 0; i < o->warmup; i++) fn(ctx);
    ops_sync(g_ops);
    double t0 = time_now();
    for (int i = 0; i < o->reps; i++) fn(ctx);
    ops_sync(g_ops);
    return (time_now() - t0) * 1e3 / o->reps;
}

typedef struct Row {
    const char *op, *path;
    double fwd_ms, bwd_ms, fwd_diff, bwd_diff;
} Row;

static int g_disagree;

static cJSON *report_rows(const char *op, const char *name, const char *shape, Row *rows, int n) {
    int best_f = 0, best_b = 0;
    for (int i = 1; i < n; i++) {
        if (rows[i].fwd_ms < rows[best_f].fwd_ms) best_f = i;
        if (rows[i].bwd_ms < rows[best_b].bwd_ms) best_b = i;
    }
    printf("%s %s %s\n", op, name, shape);
    cJSON *paths = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        int bad = !(rows[i].fwd_diff <= AGREE_TOL) || !(rows[i].bwd_diff <= AGREE_TOL);
        g_disagree |= bad;
        printf("  %-9s forward %9.3f ms%s  backward %9.3f ms%s  from %s: %.2e / %.2e%s\n", rows[i].path, rows[i].fwd_ms,
               i == best_f ? " *" : "  ", rows[i].bwd_ms, i == best_b ? " *" : "  ", rows[0].path, rows[i].fwd_diff,
               rows[i].bwd_diff, bad ? "  DISAGREES" : "");
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "path", rows[i].path);
        cJSON_AddNumberToObject(p, "forward_ms", rows[i].fwd_ms);
        cJSON_AddNumberToObject(p, "backward_ms", rows[i].bwd_ms);
        cJSON_AddNumberToObject(p, "forward_rel_diff", rows[i].fwd_diff);
        cJSON_AddNumberToObject(p, "backward_rel_diff", rows[i].bwd_diff);
        cJSON_AddItemToArray(paths, p);
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "op", op);
    cJSON_AddStringToObject(c, "name", name);
    cJSON_AddStringToObject(c, "shape", shape);
    cJSON_AddItemToObject(c, "paths", paths);
    cJSON_AddStringToObject(c, "fastest_forward", rows[best_f].path);
    cJSON_AddStringToObject(c, "fastest_backward", rows[best_b].path);
    return c;
}

/* ---- attention ----------------------------------------------------------------------------------------- */

typedef struct AttnRun {
    const AttnCase *c;
    Tensor qkv, out, saved, dout, dqkv;
} AttnRun;

static void attn_fwd(void *p) {
    AttnRun *r = p;
    op_attention(g_ops, r->out, r->saved, r->qkv, r->c->heads, r->c->causal);
}
static void attn_bwd(void *p) {
    AttnRun *r = p;
    op_attention_backward(g_ops, r->dqkv, r->dout, r->qkv, r->saved, r->c->heads, r->c->causal);
}

static cJSON *bench_attention(const AttnCase *c, const Options *o) {
    static const char *paths[] = {"gemm", "tiled", "flash"};
    const int n = 3;
    const int64_t W = (int64_t)c->heads * c->head_size;
    AttnRun r = {c};
    r.qkv = dev_tensor("qkv", DT_BF16, 3, c->items, c->seq, 3 * W);
    r.out = dev_tensor("out", DT_BF16, 3, c->items, c->seq, W);
    r.dout = dev_tensor("dout", DT_BF16, 3, c->items, c->seq, W);
    r.dqkv = dev_tensor("dqkv", DT_BF16, 3, c->items, c->seq, 3 * W);
    r.saved = dev_tensor("saved", DT_U8, 1, (int64_t)op_attention_saved_bytes(g_ops, c->items, c->seq, c->heads), 0, 0);
    fill_normal(r.qkv, 1.0f);
    fill_normal(r.dout, 1.0f);
    Row rows[3];
    float *ref_out = NULL, *ref_dqkv = NULL;
    for (int i = 0; i < n; i++) {
        CHECK(dfer_cuda_set_attention(g_ops, paths[i], 0) == 0, "bench_paths: the context is not a CUDA one");
        rows[i] = (Row){"attention", paths[i], time_ms(attn_fwd, &r, o), 0, 0, 0};
        rows[i].bwd_ms = time_ms(attn_bwd, &r, o);
        attn_fwd(&r); /* the outputs of this path's own forward and backward, for the comparison */
        attn_bwd(&r);
        float *out = download_floats(r.out), *dqkv = download_floats(r.dqkv);
        if (i == 0) {
            ref_out = out, ref_dqkv = dqkv;
        } else {
            rows[i].fwd_diff = rel_diff(ref_out, out, tensor_numel(&r.out));
            rows[i].bwd_diff = rel_diff(ref_dqkv, dqkv, tensor_numel(&r.dqkv));
            free(out), free(dqkv);
        }
    }
    CHECK(dfer_cuda_set_attention(g_ops, "gemm", 0) == 0, "bench_paths: the context is not a CUDA one");
    free(ref_out), free(ref_dqkv);
    Tensor *ts[] = {&r.qkv, &r.out, &r.saved, &r.dout, &r.dqkv};
    for (int i = 0; i < 5; i++) ops_free(g_ops, ts[i]->data);
    char shape[128];
    snprintf(shape, sizeof shape, "[%lld sequences of %lld, %d heads of %d%s]", (long long)c->items,
             (long long)c->seq, c->heads, c->head_size, c->causal ? ", causal" : "");
    return report_rows("attention", c->name, shape, rows, n);
}

/* ---- adapter --------------------------------------------------------------------------------------------- */

typedef struct AdapterRun {
    const AdapterCase *c;
    AdapterWeights w, g;
    Tensor x, res, out, dout, dx, scratch;
} AdapterRun;

static void adapter_fwd(void *p) {
    AdapterRun *r = p;
    op_adapter(g_ops, r->out, r->x, &r->w, r->res, r->c->form, r->scratch);
}
static void adapter_bwd(void *p) {
    AdapterRun *r = p;
    op_adapter_backward(g_ops, r->dx, &r->g, r->dout, r->x, &r->w, r->c->form, 0, r->scratch);
}

static cJSON *bench_adapter(const AdapterCase *c, const Options *o) {
    static const char *paths[] = {"composed", "fused"};
    const int n = 2;
    const int64_t N = c->rows, X = c->width, R = c->bottleneck;
    AdapterRun r = {c};
    r.w = (AdapterWeights){dev_tensor("fc1_w", DT_F32, 2, R, X, 0), dev_tensor("fc1_b", DT_F32, 1, R, 0, 0),
                           dev_tensor("fc2_w", DT_F32, 2, X, R, 0), dev_tensor("fc2_b", DT_F32, 1, X, 0, 0)};
    r.g = (AdapterWeights){dev_tensor("d_fc1_w", DT_F32, 2, R, X, 0), dev_tensor("d_fc1_b", DT_F32, 1, R, 0, 0),
                           dev_tensor("d_fc2_w", DT_F32, 2, X, R, 0), dev_tensor("d_fc2_b", DT_F32, 1, X, 0, 0)};
    r.x = dev_tensor("x", DT_BF16, 2, N, X, 0);
    r.res = dev_tensor("res", DT_BF16, 2, N, X, 0);
    r.out = dev_tensor("out", DT_BF16, 2, N, X, 0);
    r.dout = dev_tensor("dout", DT_BF16, 2, N, X, 0);
    r.dx = dev_tensor("dx", DT_BF16, 2, N, X, 0);
    const size_t fwd_scratch = op_adapter_scratch_bytes(N, X, R, DT_BF16, c->form, 0),
                 bwd_scratch = op_adapter_scratch_bytes(N, X, R, DT_BF16, c->form, 1); /* one buffer serves both */
    r.scratch = dev_tensor("scratch", DT_U8, 1, (int64_t)(fwd_scratch > bwd_scratch ? fwd_scratch : bwd_scratch), 0, 0);
    /* fc2 is not zero here (the model zero-initialises it): every term of the output is exercised */
    fill_normal(r.w.fc1_w, 1.0f / sqrtf((float)X));
    fill_normal(r.w.fc1_b, 0.1f);
    fill_normal(r.w.fc2_w, 1.0f / sqrtf((float)R));
    fill_normal(r.w.fc2_b, 0.1f);
    fill_normal(r.x, 1.0f);
    fill_normal(r.res, 1.0f);
    fill_normal(r.dout, 1.0f);
    Tensor *grads[] = {&r.dx, &r.g.fc1_w, &r.g.fc1_b, &r.g.fc2_w, &r.g.fc2_b};
    Row rows[2];
    float *ref[6] = {0};
    for (int i = 0; i < n; i++) {
        CHECK(dfer_cuda_set_adapter(g_ops, paths[i]) == 0, "bench_paths: the context is not a CUDA one");
        rows[i] = (Row){"adapter", paths[i], time_ms(adapter_fwd, &r, o), 0, 0, 0};
        rows[i].bwd_ms = time_ms(adapter_bwd, &r, o);
        adapter_fwd(&r);
        for (int k = 1; k < 5; k++) ops_zero(g_ops, *grads[k]); /* weight gradients accumulate: one call's */
        adapter_bwd(&r);
        float *got[6];
        got[0] = download_floats(r.out);
        for (int k = 0; k < 5; k++) got[k + 1] = download_floats(*grads[k]);
        if (i == 0) {
            memcpy(ref, got, sizeof got);
            continue;
        }
        rows[i].fwd_diff = rel_diff(ref[0], got[0], tensor_numel(&r.out));
        for (int k = 0; k < 5; k++) {
            double d = rel_diff(ref[k + 1], got[k + 1], tensor_numel(grads[k]));
            if (!(d <= rows[i].bwd_diff)) rows[i].bwd_diff = d;
        }
        for (int k = 0; k < 6; k++) free(got[k]);
    }
    CHECK(dfer_cuda_set_adapter(g_ops, "composed") == 0, "bench_paths: the context is not a CUDA one");
    for (int k = 0; k < 6; k++) free(ref[k]);
    Tensor *ts[] = {&r.w.fc1_w, &r.w.fc1_b, &r.w.fc2_w, &r.w.fc2_b, &r.g.fc1_w, &r.g.fc1_b, &r.g.fc2_w,
                    &r.g.fc2_b, &r.x,       &r.res,     &r.out,     &r.dout,    &r.dx,      &r.scratch};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) ops_free(g_ops, ts[i]->data);
    char shape[160];
    snprintf(shape, sizeof shape, "[%lld rows of %lld, bottleneck %lld%s%s, scale %g]", (long long)N, (long long)X,
             (long long)R, c->form.swap_p ? ", rows swapped" : "", c->form.skip ? ", skip" : "", c->form.scale);
    return report_rows("adapter", c->name, shape, rows, n);
}
#endif /* DFER_WITH_CUDA */

int main(int argc, char **argv) {
    Options o;
    parse_args(argc, argv, &o);
#ifndef DFER_WITH_CUDA
    printf("SKIP: bench_paths: this build has no CUDA backend\n");
    return 77;
#else
    if (dfer_cuda_device_count() == 0) {
        printf("SKIP: bench_paths: no GPU (dfer_cuda_device_count() == 0)\n");
        return 77;
    }
    Err err;
    if (ops_create(BACKEND_CUDA, 1, &g_ops, &err) != 0) {
        fprintf(stderr, "bench_paths: %s\n", err.msg);
        return 1;
    }
    char device[128];
    dfer_cuda_describe(0, device, sizeof device);
    printf("bench_paths on %s: milliseconds per call (%d timed after %d), * the fastest; "
           "\"from P\": largest difference from path P's outputs over P's largest value (forward / backward)\n",
           device, o.reps, o.warmup);
    cJSON *root = cJSON_CreateObject(), *cases = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "device", device);
    cJSON_AddNumberToObject(root, "reps", o.reps);
    cJSON_AddNumberToObject(root, "warmup", o.warmup);
    cJSON_AddNumberToObject(root, "agreement_tolerance", AGREE_TOL);
    if (!o.only || !strcmp(o.only, "attention"))
        for (int i = 0; i < o.n_attn; i++) cJSON_AddItemToArray(cases, bench_attention(&o.attn[i], &o));
    if (!o.only || !strcmp(o.only, "adapter"))
        for (int i = 0; i < o.n_adapter; i++) cJSON_AddItemToArray(cases, bench_adapter(&o.adapter[i], &o));
    cJSON_AddItemToObject(root, "cases", cases);
    cJSON_AddBoolToObject(root, "paths_agree", !g_disagree);
    int rc = 0;
    if (o.json) {
        char *text = cJSON_Print(root);
        if (fs_write_atomic(o.json, text, strlen(text), &err) != 0) {
            fprintf(stderr, "bench_paths: %s\n", err.msg);
            rc = 1;
        }
        free(text);
    }
    cJSON_Delete(root);
    ops_destroy(g_ops);
    if (g_disagree) {
        fprintf(stderr, "bench_paths: paths disagree beyond %.0e (marked DISAGREES above)\n", AGREE_TOL);
        rc = 1;
    }
    return rc;
#endif
}
