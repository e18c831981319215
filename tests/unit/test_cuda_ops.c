/* GPU-vs-CPU parity of every op of src/ops/ops.h.
 *
 * Each case builds random inputs (rounded to bf16-representable values, so an
 * F32 and a BF16 copy of an input hold the same numbers), runs the op once on
 * the CUDA backend and once on the CPU backend (the executable specification),
 * and compares every output as  max|gpu - cpu| / max(max|cpu|, tiny)  against a
 * named tolerance (TOL_* below, each with the reason for its size). Outputs that
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
 * exits 77, which tests/gpu.cmake makes ctest count as skipped. */
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/check.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "ops/ops.h"
#include "testlib.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif

/* ---- tolerances: max|gpu - cpu| / max|cpu| over one output ------------------------------
 * A bf16 ulp is 2^-8..2^-7 of a value; two sides that compute the same fp32 number and round
 * it once can still land one ulp apart when their fp32 paths differ in the last bits (FMA
 * contraction, --use_fast_math's __expf, summation order) and the value sits near a rounding
 * tie. Relative to the largest element that is at most 2^-7. */
#define BF16_ULP (1.0 / 128)
/* Pure data movement (embedding, gather, scatter, permute, prepend, im2col): a copy with at
 * most one F32->BF16 conversion, round-to-nearest-even on both sides: bit-exact. */
#define TOL_MOVE 0.0
/* Elementwise arithmetic (add, axpy, axpy_rows, scale, add_broadcast, mean backward). */
#define TOL_ELEM_BF16 BF16_ULP
#define TOL_ELEM_F32 1e-6 /* a few fp32 ulps: FMA contraction differs between gcc and nvcc */
/* Elementwise transcendental (activations and their derivatives): fast-math __expf and
 * erff/tanhf differ from glibc by a few fp32 ulps; BF16 outputs: one ulp. */
#define TOL_TRANS_BF16 BF16_ULP
#define TOL_TRANS_F32 2e-5
/* Row reductions then elementwise (layernorm, l2_normalize, mean over T, softmax of the
 * loss gradient): fp32 sums in another order (the CPU sums in double) plus one rounding. */
#define TOL_ROWRED_BF16 (BF16_ULP + 1e-4)
#define TOL_ROWRED_F32 1e-5
/* Layer-norm mean/rstd (F32): the CPU computes them in double; fp32 two-pass or Welford on
 * the GPU is ~1e-6 relative for D <= 768. */
#define TOL_STATS 1e-5
/* Column reductions into F32 parameter gradients (db, dg, dp, dtok) over up to ~400 rows. */
#define TOL_COLRED_F32 2e-5
/* GEMMs (linear, matmul, linear backward) with K up to 768. BF16 output: one rounding of an
 * fp32 accumulation, <= 2^-9 of the element, plus order effects: 1e-2 of max|ref|. F32
 * output: fp32 accumulation in another order, ~sqrt(K) 2^-24; 1e-4 fails TF32 (~1e-3), which
 * the contract (fp32 compute) rules out. */
#define TOL_GEMM_BF16 1e-2
#define TOL_GEMM_F32 1e-4
/* Attention forward: two GEMM-like products and an fp32 softmax. A flash-style kernel that
 * rounds P to bf16 before P.V adds ~2^-9 per term: 1.6e-2 for BF16, 1e-4 for F32. */
#define TOL_ATTN_BF16 1.6e-2
#define TOL_ATTN_F32 1e-4
/* Attention backward: four products chained through dP and dS (cancellation in P(dP - rowdot)). */
#define TOL_ATTN_BWD_BF16 3e-2
#define TOL_ATTN_BWD_F32 2e-4
/* Attention by the gemm path (kernels/attention.cu: cuBLASLt strided-batched GEMMs, the default;
 * the TOL_ATTN ones above are the tiled path's). BF16: P is rounded to BF16 before P.V (as
 * FlashAttention does), a relative error of at most 2^-9 per term p_j v_j: at most
 * 2^-9 max|v| on an output, which is 2^-9 * (max|v| / max|out| <= ~4 for these inputs) = 8e-3
 * of max|ref|, on top of the output's own rounding (BF16_ULP): 1.6e-2, made 2e-2 for margin
 * (kernels/emu, whose GEMM accumulates in double, sees <= 4.3e-3 on these inputs up to S = 257,
 * the tiled path <= 2.5e-3). F32: P stays F32 and the GEMMs run fp32 (no TF32): the tiled
 * path's 1e-4. Backward BF16: P and dS are rounded to BF16 before dV, dQ and dK, again 2^-9
 * per term but with independent signs (~2^-9 of an output; the emulator sees <= 5.6e-3, the
 * tiled path <= 2.3e-3): the tiled path's budget holds, 3e-2; F32 2e-4 as the tiled path.
 * Delta and lse (saved) are not compared here: the backward outputs depend on both. */
#define TOL_ATTN_GEMM_BF16 2e-2
#define TOL_ATTN_GEMM_F32 1e-4
#define TOL_ATTN_GEMM_BWD_BF16 3e-2
#define TOL_ATTN_GEMM_BWD_F32 2e-4
/* Scatter-add into F32 with repeated indices (embedding/gather backward): summation order. */
#define TOL_SCATTER_ADD_F32 1e-6
/* Per-row cross-entropy loss (F32): log-sum-exp in fp32 with __expf/__logf vs double on the CPU. */
#define TOL_CE_LOSS 1e-5
/* sum_squares: one fp32 (or wider) reduction of up to 1e6 squares vs the CPU's double sum. */
#define TOL_SUMSQ 1e-5
/* Optimiser updates (F32 only): bit for bit. kernels/loss_optim.cu evaluates the CPU's
 * expression order with round-to-nearest intrinsics, IEEE division and square root, and is
 * compiled without flush-to-zero (kernels/emu checks the same source bitwise on the CPU). */
#define TOL_OPTIM 0.0

#define TOLK(k, dt) ((dt) == DT_BF16 ? k##_BF16 : k##_F32), ((dt) == DT_BF16 ? #k "_BF16" : #k "_F32")
#define TOLN(k) (k), #k

/* ---- harness --------------------------------------------------------------------------- */
enum { CPU = 0, GPU = 1 };
enum { ARG_IN, ARG_OUT, ARG_ACCUM, ARG_NONE, ARG_SCRATCH, ARG_IDS, ARG_BYTES };
enum { DET_REPORT = 0, DET_REQUIRED = 1 };
#define F DT_F32
#define B DT_BF16
#define NO DT_COUNT /* "not computed": a tensor with data == NULL */
#define MAX_ARGS 10

typedef struct Case Case;
typedef struct Arg {
    const char *name;
    DType dt;         /* dtype of the call under test */
    DType side_dt[2]; /* what each side gets (the CPU side may be mapped to F32) */
    int role;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t n;
    float *init;  /* floating values (bf16-representable unless set otherwise) */
    int32_t *ids; /* ARG_IDS */
    uint8_t *u8;  /* ARG_BYTES: U8 input (raw pixels) */
    void *dev[2];
    size_t bytes[2];
    double tol;
    const char *tol_name;
    int det;
    unsigned char *first; /* raw bytes of the first GPU run */
    size_t (*scratch_bytes)(Case *c, Ops *ops);
} Arg;

struct Case {
    char op[48];
    char key[192];   /* op and dtype variant: what the CPU probe decides on */
    char label[320]; /* key and sizes */
    Arg a[MAX_ARGS];
    int na;
    int64_t iv[8];
    float fv[4];
    Activation act;
    void (*fn)(Case *c, Ops *ops, int side);
    int has_scalar;
    double scalar[2], scalar_first, scalar_tol;
    const char *scalar_tol_name;
    int scalar_det;
};

static Ops *g_ops[2];
static int g_quick, g_self_test, g_list, g_strict_det = 1, g_probe_child;
static const char *g_only;
static int g_ref_forced = -1; /* -1 auto (probe), 0 same dtypes, 1 all-F32 */
static uint64_t g_seed_counter = 1;
static int g_cases, g_cases_f32ref, g_outputs, g_nondet_reported;

/* Keys whose CPU reference runs all-F32 (the CPU refused the dtypes), found by the probe. */
#define MAX_KEYS 512
static char g_f32_keys[MAX_KEYS][192];
static int g_n_f32_keys;
static char g_ok_keys[MAX_KEYS][192];
static int g_n_ok_keys;
static int g_probe_fd = -1;

static int key_in(char (*set)[192], int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (!strcmp(set[i], key)) return 1;
    return 0;
}

static float bf16_round(float v) { return bf16_to_f32(f32_to_bf16(v)); }

static const char *dn(DType t) { return t == DT_BF16 ? "BF16" : dtype_name(t); }

static Case *case_new(const char *op, const char *fmt, ...) {
    Case *c = xcalloc(1, sizeof *c);
    snprintf(c->op, sizeof c->op, "%s", op);
    char variant[160] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(variant, sizeof variant, fmt, ap);
    va_end(ap);
    snprintf(c->key, sizeof c->key, "%s %s", op, variant);
    snprintf(c->label, sizeof c->label, "%s", c->key);
    return c;
}

static void case_sizes(Case *c, const char *fmt, ...) {
    char s[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s, sizeof s, fmt, ap);
    va_end(ap);
    size_t len = strlen(c->label);
    snprintf(c->label + len, sizeof c->label - len, " [%s]", s);
}

#define SHAPE(...) (const int64_t[]){__VA_ARGS__}, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

static Arg *arg_add(Case *c, const char *name, DType dt, int role, const int64_t *shape, int ndim) {
    CHECK(c->na < MAX_ARGS, "%s: too many arguments", c->label);
    Arg *a = &c->a[c->na++];
    a->name = name;
    a->dt = dt;
    a->role = role;
    a->ndim = ndim;
    a->n = 1;
    for (int i = 0; i < ndim; i++) a->n *= (a->shape[i] = shape[i]);
    if (role == ARG_IDS) {
        a->ids = xcalloc((size_t)a->n, sizeof(int32_t));
    } else if (role == ARG_BYTES) { /* every byte value first, then random ones */
        a->u8 = xmalloc((size_t)a->n);
        Rng r;
        rng_init(&r, 20242, g_seed_counter++, 0, 0);
        for (int64_t i = 0; i < a->n; i++) a->u8[i] = i < 256 ? (uint8_t)i : (uint8_t)rng_int(&r, 256);
    } else if (role != ARG_NONE && role != ARG_SCRATCH) {
        a->init = xmalloc((size_t)a->n * sizeof(float));
        Rng r;
        rng_init(&r, 20240, g_seed_counter++, 0, 0);
        for (int64_t i = 0; i < a->n; i++)
            a->init[i] = role == ARG_OUT ? NAN : bf16_round((float)rng_normal(&r));
    }
    return a;
}

/* An input of N(0, scale^2) values (then rounded to bf16). */
static Arg *arg_in(Case *c, const char *name, DType dt, double scale, const int64_t *shape, int ndim) {
    Arg *a = arg_add(c, name, dt, ARG_IN, shape, ndim);
    for (int64_t i = 0; i < a->n; i++) a->init[i] = bf16_round((float)(a->init[i] * scale));
    return a;
}
/* An output the op overwrites (starts as NaN on both sides). */
static Arg *arg_out(Case *c, const char *name, DType dt, double tol, const char *tol_name, int det,
                    const int64_t *shape, int ndim) {
    Arg *a = arg_add(c, name, dt, ARG_OUT, shape, ndim);
    a->tol = tol, a->tol_name = tol_name, a->det = det;
    return a;
}
/* An output the op reads and updates (+=, beta, optimiser state): same random start on both sides. */
static Arg *arg_acc(Case *c, const char *name, DType dt, double tol, const char *tol_name, int det,
                    const int64_t *shape, int ndim) {
    Arg *a = arg_add(c, name, dt, ARG_ACCUM, shape, ndim);
    a->tol = tol, a->tol_name = tol_name, a->det = det;
    return a;
}
/* A tensor with data == NULL: "not computed" (frozen weight gradients, no stats, ...). */
static Arg *arg_none(Case *c, const char *name, DType dt, const int64_t *shape, int ndim) {
    return arg_add(c, name, dt, ARG_NONE, shape, ndim);
}
/* U8 bytes (raw pixels): 0..255, then random. */
static Arg *arg_bytes(Case *c, const char *name, const int64_t *shape, int ndim) {
    return arg_add(c, name, DT_U8, ARG_BYTES, shape, ndim);
}
/* I32 indices in [0, limit); distinct ones when asked (n <= limit), else with repeats. */
static Arg *arg_ids(Case *c, const char *name, int64_t n, int64_t limit, int distinct) {
    Arg *a = arg_add(c, name, DT_I32, ARG_IDS, SHAPE(n));
    Rng r;
    rng_init(&r, 20241, g_seed_counter++, 0, 0);
    if (distinct) {
        CHECK(n <= limit, "%s: %lld distinct indices below %lld", c->label, (long long)n, (long long)limit);
        int32_t *perm = xmalloc((size_t)limit * sizeof(int32_t));
        for (int64_t i = 0; i < limit; i++) perm[i] = (int32_t)i;
        for (int64_t i = limit - 1; i > 0; i--) {
            int64_t j = rng_int(&r, i + 1);
            int32_t t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        memcpy(a->ids, perm, (size_t)n * sizeof(int32_t));
        free(perm);
    } else {
        for (int64_t i = 0; i < n; i++) a->ids[i] = (int32_t)rng_int(&r, limit);
        if (n >= 2 && limit >= 1) a->ids[n - 1] = a->ids[0]; /* at least one repeat */
    }
    return a;
}

static Tensor tv(Case *c, int i, int side) {
    Arg *a = &c->a[i];
    Tensor t;
    memset(&t, 0, sizeof t);
    t.data = a->role == ARG_NONE ? NULL : a->dev[side];
    t.dtype = a->role == ARG_SCRATCH ? DT_U8 : a->side_dt[side];
    t.ndim = a->ndim;
    for (int d = 0; d < a->ndim; d++) t.shape[d] = a->shape[d];
    if (a->role == ARG_SCRATCH) {
        t.ndim = 1;
        t.shape[0] = (int64_t)a->bytes[side];
    }
    t.name = a->name;
    return t;
}
#define A(i) tv(c, (i), s)

static int is_output(const Arg *a) { return a->role == ARG_OUT || a->role == ARG_ACCUM; }

static void upload_arg(Case *c, Arg *a, int side) {
    Ops *ops = g_ops[side];
    if (a->role == ARG_NONE) return;
    if (a->role == ARG_SCRATCH) {
        if (a->bytes[side]) {
            Tensor t = tv(c, (int)(a - c->a), side);
            ops_zero(ops, t);
        }
        return;
    }
    if (a->role == ARG_IDS || a->role == ARG_BYTES) {
        ops_upload(ops, a->dev[side], a->role == ARG_IDS ? (void *)a->ids : (void *)a->u8, a->bytes[side]);
        return;
    }
    void *tmp = xmalloc(a->bytes[side]);
    CHECK(convert_from_f32(tmp, a->side_dt[side], a->init, (size_t)a->n) == 0, "%s: cannot convert %s to %s",
          c->label, a->name, dn(a->side_dt[side]));
    ops_upload(ops, a->dev[side], tmp, a->bytes[side]);
    free(tmp);
}

static void alloc_arg(Case *c, Arg *a, int side) {
    if (a->role == ARG_NONE) return;
    if (a->role == ARG_SCRATCH)
        a->bytes[side] = a->scratch_bytes(c, g_ops[side]);
    else
        a->bytes[side] = (size_t)a->n * dtype_size(a->side_dt[side]);
    a->dev[side] = a->bytes[side] ? ops_alloc(g_ops[side], a->bytes[side]) : NULL;
}

static void case_free(Case *c) {
    for (int i = 0; i < c->na; i++) {
        Arg *a = &c->a[i];
        for (int s = 0; s < 2; s++)
            if (a->dev[s] && g_ops[s]) ops_free(g_ops[s], a->dev[s]);
        free(a->init), free(a->ids), free(a->u8), free(a->first);
    }
    free(c);
}

static int selected(const Case *c) {
    if (!g_only || !*g_only) return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", g_only);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","))
        if (*tok && strstr(c->label, tok)) return 1;
    return 0;
}

/* Downloads an output as floats (and, when raw != NULL, its bytes). */
static float *download_arg(Arg *a, int side, unsigned char **raw) {
    unsigned char *bytes = xmalloc(a->bytes[side]);
    ops_download(g_ops[side], bytes, a->dev[side], a->bytes[side]);
    float *v = xmalloc((size_t)a->n * sizeof(float));
    CHECK(convert_to_f32(v, bytes, a->side_dt[side], (size_t)a->n) == 0, "cannot read %s back", a->name);
    if (raw)
        *raw = bytes;
    else
        free(bytes);
    return v;
}

static void run_side(Case *c, int side) {
    for (int i = 0; i < c->na; i++) upload_arg(c, &c->a[i], side);
    c->fn(c, g_ops[side], side);
    ops_sync(g_ops[side]);
}

/* One output: relative error, worst index, verdict. */
static void compare_output(Case *c, Arg *a, const float *gpu, float *cpu) {
    int round_ref = a->side_dt[CPU] == DT_F32 && a->side_dt[GPU] == DT_BF16;
    double maxref = 0, maxdiff = 0;
    int64_t worst = 0, bad_nan = -1;
    for (int64_t i = 0; i < a->n; i++) {
        if (round_ref) cpu[i] = bf16_round(cpu[i]);
        if (!isfinite(cpu[i]) || !isfinite(gpu[i])) {
            if (bad_nan < 0) bad_nan = i;
            continue;
        }
        maxref = fmax(maxref, fabs(cpu[i]));
        double d = fabs((double)gpu[i] - cpu[i]);
        if (d > maxdiff) maxdiff = d, worst = i;
    }
    double rel = maxdiff / fmax(maxref, 1e-30);
    if (bad_nan >= 0) rel = INFINITY, worst = bad_nan;
    int ok = rel <= a->tol;
    g_outputs++;
    test_checks++;
    printf("%s %-76s %-7s rel %.2e  tol %.1e %-22s max|ref| %.3g\n", ok ? "ok  " : "FAIL", c->label, a->name, rel,
           a->tol, a->tol_name, maxref);
    if (!ok)
        test_fail(__FILE__, __LINE__,
                  "%s: output %s differs from the CPU by %.3g of max|ref| (tolerance %s = %.3g); worst at flat index "
                  "%lld: gpu %.9g, cpu %.9g%s",
                  c->label, a->name, rel, a->tol_name, a->tol, (long long)worst, gpu[worst], cpu[worst],
                  bad_nan >= 0 ? " (not finite)" : "");
}

static void probe_report(const char *what) {
    if (g_probe_fd < 0) return;
    char line[256];
    int len = snprintf(line, sizeof line, "%s\n", what);
    if (write(g_probe_fd, line, (size_t)len) != len) _exit(3);
}

static void case_run(Case *c) {
    if (!selected(c)) {
        case_free(c);
        return;
    }
    if (g_list) {
        printf("%s\n", c->label);
        case_free(c);
        return;
    }
    if (g_probe_child) {
        /* Only the CPU side, with the GPU call's dtypes: does the CPU backend take them? */
        if (key_in(g_f32_keys, g_n_f32_keys, c->key) || key_in(g_ok_keys, g_n_ok_keys, c->key)) {
            case_free(c);
            return;
        }
        for (int i = 0; i < c->na; i++) c->a[i].side_dt[CPU] = c->a[i].dt;
        probe_report(c->key);
        for (int i = 0; i < c->na; i++) alloc_arg(c, &c->a[i], CPU);
        run_side(c, CPU);
        probe_report("ok");
        case_free(c);
        return;
    }
    int f32ref = g_ref_forced == 1 || (g_ref_forced < 0 && key_in(g_f32_keys, g_n_f32_keys, c->key));
    for (int i = 0; i < c->na; i++) {
        Arg *a = &c->a[i];
        a->side_dt[GPU] = a->dt;
        a->side_dt[CPU] = f32ref && a->dt == DT_BF16 ? DT_F32 : a->dt;
        /* --self-test: the "GPU" is the CPU too; where the probe found that the CPU refuses the
         * dtypes it runs all-F32 as well. (DFER_CUDA_TEST_REF=f32 --self-test compares the CPU's
         * mixed-precision run against its all-F32 run: a check of the tolerances.) */
        if (g_self_test && key_in(g_f32_keys, g_n_f32_keys, c->key)) a->side_dt[GPU] = a->side_dt[CPU];
    }
    g_cases++;
    g_cases_f32ref += f32ref;
    test_current = c->op;
    if (f32ref)
        printf("note %s: reference computed all-F32 (%s)\n", c->label,
               g_ref_forced == 1 ? "DFER_CUDA_TEST_REF=f32" : "the CPU backend refused these dtypes");
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < c->na; i++) alloc_arg(c, &c->a[i], s);
    run_side(c, CPU);
    run_side(c, GPU);
    if (c->has_scalar) c->scalar_first = c->scalar[GPU];
    for (int i = 0; i < c->na; i++) {
        Arg *a = &c->a[i];
        if (!is_output(a)) continue;
        float *cpu = download_arg(a, CPU, NULL), *gpu = download_arg(a, GPU, &a->first);
        compare_output(c, a, gpu, cpu);
        free(cpu), free(gpu);
    }
    if (c->has_scalar) {
        double rel = fabs(c->scalar[GPU] - c->scalar[CPU]) / fmax(fabs(c->scalar[CPU]), 1e-30);
        int ok = rel <= c->scalar_tol && isfinite(c->scalar[GPU]);
        g_outputs++;
        test_checks++;
        printf("%s %-76s %-7s rel %.2e  tol %.1e %-22s |ref| %.6g\n", ok ? "ok  " : "FAIL", c->label, "result", rel,
               c->scalar_tol, c->scalar_tol_name, c->scalar[CPU]);
        if (!ok)
            test_fail(__FILE__, __LINE__, "%s: gpu %.12g, cpu %.12g: relative %.3g > %s = %.3g", c->label,
                      c->scalar[GPU], c->scalar[CPU], rel, c->scalar_tol_name, c->scalar_tol);
    }
    /* Determinism: the same inputs again on the GPU, compared bit for bit. */
    run_side(c, GPU);
    for (int i = 0; i < c->na; i++) {
        Arg *a = &c->a[i];
        if (!is_output(a)) continue;
        unsigned char *raw = NULL;
        free(download_arg(a, GPU, &raw));
        size_t differ = 0;
        for (size_t k = 0; k < a->bytes[GPU]; k++) differ += raw[k] != a->first[k];
        free(raw);
        if (!differ) continue;
        if (a->det == DET_REQUIRED || g_strict_det) {
            printf("FAIL %-76s %-7s NOT deterministic: %zu of %zu bytes differ between two GPU runs\n", c->label,
                   a->name, differ, a->bytes[GPU]);
            test_fail(__FILE__, __LINE__, "%s: output %s is not bitwise deterministic (%zu bytes differ)", c->label,
                      a->name, differ);
        } else {
            g_nondet_reported++;
            printf("info %-76s %-7s not bitwise deterministic (%zu bytes differ; a backward output: reported only, "
                   "DFER_CUDA_TEST_STRICT_DET=0)\n",
                   c->label, a->name, differ);
        }
    }
    if (c->has_scalar && memcmp(&c->scalar[GPU], &c->scalar_first, sizeof(double)) != 0) {
        if (c->scalar_det == DET_REQUIRED || g_strict_det) {
            printf("FAIL %-76s result  NOT deterministic: %.17g then %.17g\n", c->label, c->scalar_first,
                   c->scalar[GPU]);
            test_fail(__FILE__, __LINE__, "%s: result not deterministic", c->label);
        } else {
            g_nondet_reported++;
        }
    }
    fflush(stdout);
    case_free(c);
}

/* ---- cases ------------------------------------------------------------------------------ */

typedef struct Dt3 {
    const char *name;
    DType a, b, c;
} Dt3;

/* linear: y = x w^T (+ b). Frozen CLIP layers are all BF16; adapters and heads have F32
 * (trainable) weights under BF16 activations. */
static void fn_linear(Case *c, Ops *o, int s) {
    Tensor b = A(3);
    op_linear(o, A(0), A(1), A(2), c->iv[0] ? &b : NULL);
}
static void cases_linear(void) {
    const int64_t full[][3] = {{394, 768, 2304}, {154, 512, 512}, {33, 768, 512}, {5, 7, 3}};
    const int64_t quick[][3] = {{5, 7, 3}, {37, 64, 48}};
    const Dt3 dts[] = {{"f32", F, F, F}, {"frozen", B, B, B}, {"trainable", B, F, B}}; /* x, w(+b), y */
    int ns = g_quick ? 2 : 4;
    for (int d = 0; d < 3; d++)
        for (int bias = 0; bias < 2; bias++)
            for (int k = 0; k < ns; k++) {
                const int64_t *sz = g_quick ? quick[k] : full[k];
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
static void fn_linear_bwd(Case *c, Ops *o, int s) { op_linear_backward(o, A(0), A(1), A(2), A(3), A(4), A(5), (int)c->iv[0]); }
static void cases_linear_bwd(void) {
    const int64_t full[][3] = {{394, 768, 2304}, {154, 512, 512}, {5, 7, 3}};
    const int64_t quick[][3] = {{5, 7, 3}, {37, 64, 48}};
    /* variant: dx dtype (0 = not computed), weight dtype, weight gradient (0 = frozen), dy/x dtype */
    const struct {
        const char *name;
        DType dx, w, dy;
        int dw;
    } vs[] = {{"f32", F, F, F, 1}, {"frozen", B, B, B, 0}, {"trainable", B, F, B, 1}, {"trainable-first", NO, F, B, 1}};
    int ns = g_quick ? 2 : 3;
    for (int v = 0; v < 4; v++)
        for (int acc = 0; acc < 2; acc++)
            for (int k = 0; k < ns; k++) {
                if (vs[v].dx == NO && acc) continue;
                const int64_t *sz = g_quick ? quick[k] : full[k];
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
static void cases_matmul(void) {
    const int64_t full[][3] = {{64, 96, 768}, {197, 64, 197}, {7, 5, 3}};
    const int64_t quick[][3] = {{7, 5, 3}, {19, 23, 40}};
    const Dt3 dts[] = {{"f32", F, F, F}, {"bf16", B, B, B}, {"bf16-in-f32-out", B, B, F}}; /* a, b, c */
    const float ab[][2] = {{1.0f, 0.0f}, {0.7f, 0.5f}};
    int ns = g_quick ? 2 : 3;
    for (int d = 0; d < 3; d++)
        for (int t = 0; t < 4; t++)
            for (int e = 0; e < 2; e++)
                for (int k = 0; k < ns; k++) {
                    const int64_t *sz = g_quick ? quick[k] : full[k];
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
static void cases_layernorm(void) {
    const int64_t full[][2] = {{394, 768}, {154, 512}, {5, 33}};
    const int64_t quick[][2] = {{5, 33}, {16, 257}};
    const Dt3 dts[] = {{"f32", F, F, F}, {"frozen", B, B, B}, {"trainable", B, F, B}}; /* x, g/b, y */
    int ns = g_quick ? 2 : 3;
    for (int d = 0; d < 3; d++)
        for (int stats = 0; stats < 2; stats++)
            for (int k = 0; k < ns; k++) {
                const int64_t *sz = g_quick ? quick[k] : full[k];
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
static void cases_layernorm_bwd(void) {
    const int64_t full[][2] = {{394, 768}, {5, 33}};
    const int64_t quick[][2] = {{5, 33}, {16, 257}};
    const struct {
        const char *name;
        DType dx, g;
        int dg;
    } vs[] = {{"f32", F, F, 1}, {"frozen", B, B, 0}, {"trainable", B, F, 1}};
    for (int v = 0; v < 3; v++)
        for (int acc = 0; acc < 2; acc++)
            for (int k = 0; k < 2; k++) {
                const int64_t *sz = g_quick ? quick[k] : full[k];
                int64_t n = sz[0], dd = sz[1];
                DType act = vs[v].dx;
                Case *c = case_new("layernorm_backward", "%s accumulate=%d dx=%s g=%s dg=%s dy=%s x=%s", vs[v].name, acc,
                                   dn(act), dn(vs[v].g), vs[v].dg ? "F32" : "none", dn(act), dn(act));
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
static void cases_activation(void) {
    int64_t n = g_quick ? 4099 : 394 * 3072;
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
    int64_t rows = g_quick ? 7 : 394, d = g_quick ? 33 : 768;
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
    int64_t bb = g_quick ? 2 : 8, ss = g_quick ? 5 : 197, dd = g_quick ? 16 : 768;
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

/* Attention forward and backward (the backward needs the backend's own `saved`), each
 * direction by either CUDA path (kernels/attention.cu; DFER_ATTENTION picks one for a whole
 * run, dfer_cuda_set_attention per call here): gemm (cuBLASLt strided-batched GEMMs), tiled
 * (flash-style kernels), and the mixed pairs, where each path's backward consumes the other
 * path's saved lse. Labels say "path=gemm", "path=tiled", "path=gemm>tiled" (forward gemm,
 * backward tiled) or "path=tiled>gemm"; every one starts with "attention". Each case sets the
 * path of each call itself. iv[6]: forward path | backward path << 1; iv[7]: the gemm
 * path's workspace cap (0: the default; a small one forces several chunks). The CPU
 * side, and the "GPU" side of --self-test, have one implementation and ignore the paths. */
enum { ATTN_GEMM, ATTN_TILED };
static const char *const k_attn_path[2] = {"gemm", "tiled"};
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
    attn_select(o, s, (int)c->iv[6] & 1, c->iv[7]);
    op_attention(o, A(0), A(1), A(2), heads, causal);
    if (c->iv[5]) {
        attn_select(o, s, ((int)c->iv[6] >> 1) & 1, c->iv[7]);
        op_attention_backward(o, A(4), A(3), A(2), A(1), heads, causal);
    }
}
/* fwd, bwd: ATTN_GEMM or ATTN_TILED; cap: the gemm path's workspace cap in bytes (0: default). */
static void attention_case(int64_t batch, int64_t seq, int64_t heads, int64_t hd, int causal, DType t, int backward,
                           int fwd, int bwd, int64_t cap) {
    int64_t w = heads * hd;
    char path[32];
    if (!backward || fwd == bwd)
        snprintf(path, sizeof path, "%s", k_attn_path[fwd]);
    else
        snprintf(path, sizeof path, "%s>%s", k_attn_path[fwd], k_attn_path[bwd]);
    Case *c = case_new("attention", "%s path=%s causal=%d qkv=%s out=%s", backward ? "train" : "inference", path, causal,
                       dn(t), dn(t));
    case_sizes(c, "B=%lld S=%lld H=%lld Dh=%lld%s", (long long)batch, (long long)seq, (long long)heads, (long long)hd,
               cap ? " small workspace cap" : "");
    /* A path's tolerance: the forward's for out, the backward's for dqkv (gemm paths: see TOL_ATTN_GEMM). */
    if (fwd == ATTN_GEMM)
        arg_out(c, "out", t, TOLK(TOL_ATTN_GEMM, t), DET_REQUIRED, SHAPE(batch, seq, w));
    else
        arg_out(c, "out", t, TOLK(TOL_ATTN, t), DET_REQUIRED, SHAPE(batch, seq, w));
    Arg *saved = arg_add(c, "saved", DT_U8, backward ? ARG_SCRATCH : ARG_NONE, SHAPE(1));
    saved->scratch_bytes = attn_saved;
    arg_in(c, "qkv", t, 1.5, SHAPE(batch, seq, 3 * w));
    if (backward) {
        arg_in(c, "dout", t, 1.0, SHAPE(batch, seq, w));
        if (bwd == ATTN_GEMM)
            arg_out(c, "dqkv", t, TOLK(TOL_ATTN_GEMM_BWD, t), DET_REPORT, SHAPE(batch, seq, 3 * w));
        else
            arg_out(c, "dqkv", t, TOLK(TOL_ATTN_BWD, t), DET_REPORT, SHAPE(batch, seq, 3 * w));
    }
    c->iv[0] = batch, c->iv[1] = seq, c->iv[2] = heads, c->iv[3] = hd, c->iv[4] = causal, c->iv[5] = backward;
    c->iv[6] = fwd | bwd << 1, c->iv[7] = cap;
    c->fn = fn_attention;
    case_run(c);
}
/* A training case by both paths and by the two mixed pairs; an inference case by both paths. */
static void attention_cases(int64_t batch, int64_t seq, int64_t heads, int64_t hd, int causal, DType t, int backward) {
    for (int fwd = 0; fwd < 2; fwd++)
        for (int bwd = 0; bwd < 2; bwd++)
            if (backward || fwd == bwd) attention_case(batch, seq, heads, hd, causal, t, backward, fwd, bwd, 0);
}
static void cases_attention(void) {
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
            if (!g_quick) {
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

/* Rows: embedding, gather, scatter and their backwards. */
static void fn_embedding(Case *c, Ops *o, int s) { op_embedding(o, A(0), A(1), A(2)); }
static void fn_embedding_bwd(Case *c, Ops *o, int s) { op_embedding_backward(o, A(0), A(1), A(2)); }
static void fn_gather(Case *c, Ops *o, int s) { op_gather_rows(o, A(0), A(1), A(2)); }
static void fn_gather_bwd(Case *c, Ops *o, int s) { op_gather_rows_backward(o, A(0), A(1), A(2)); }
static void fn_scatter(Case *c, Ops *o, int s) { op_scatter_rows(o, A(0), A(1), A(2)); }
static void cases_rows(void) {
    int64_t vocab = g_quick ? 50 : 49408, n = g_quick ? 23 : 154, d = g_quick ? 16 : 512;
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
        int64_t v2 = g_quick ? 50 : 4096; /* a smaller table so that ids repeat */
        case_sizes(c, "V=%lld N=%lld D=%lld", (long long)v2, (long long)n, (long long)d);
        arg_acc(c, "dtable", t->c, TOLN(TOL_SCATTER_ADD_F32), DET_REPORT, SHAPE(v2, d));
        arg_in(c, "dy", t->b, 1.0, SHAPE(n, d));
        arg_ids(c, "ids", n, v2 < 8 ? v2 : 8, 0); /* 8 distinct rows: many repeats */
        c->fn = fn_embedding_bwd;
        case_run(c);
    }
    int64_t rows = g_quick ? 40 : 154, picks = g_quick ? 6 : 32;
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
                const int64_t *sz = g_quick ? nq[z] : nf[z];
                Case *c = case_new("normalize_images", "y=%s x=U8 %s", dn(t), clip ? "clip" : "raw");
                case_sizes(c, "N=%lld %lldx%lld", (long long)sz[0], (long long)sz[1], (long long)sz[2]);
                arg_out(c, "y", t, TOLN(TOL_MOVE), DET_REQUIRED, SHAPE(sz[0], 3, sz[1], sz[2]));
                arg_bytes(c, "x", SHAPE(sz[0], 3, sz[1], sz[2]));
                c->iv[0] = clip;
                c->fn = fn_normalize_images;
                case_run(c);
            }
    const int64_t full[][3] = {{2, 224, 16}, {1, 32, 16}, {2, 8, 4}}, quick[][3] = {{2, 8, 4}, {1, 32, 16}};
    const Dt3 im[] = {{"f32", F, F, F}, {"f32-images", F, B, F}, {"bf16", B, B, F}}; /* images, patches */
    int ns = g_quick ? 2 : 3;
    for (int k = 0; k < 3; k++)
        for (int z = 0; z < ns; z++) {
            const int64_t *sz = g_quick ? quick[z] : full[z];
            int64_t bb = sz[0], res = sz[1], p = sz[2], g = res / p;
            Case *c = case_new("im2col_patches", "%s patches=%s images=%s", im[k].name, dn(im[k].b), dn(im[k].a));
            case_sizes(c, "B=%lld R=%lld P=%lld", (long long)bb, (long long)res, (long long)p);
            arg_out(c, "patches", im[k].b, TOLN(TOL_MOVE), DET_REQUIRED, SHAPE(bb * g * g, 3 * p * p));
            arg_in(c, "images", im[k].a, 1.0, SHAPE(bb, 3, res, res));
            c->iv[0] = p;
            c->fn = fn_im2col;
            case_run(c);
        }
    int64_t bb = g_quick ? 2 : 8, ss = g_quick ? 4 : 196, dd = g_quick ? 16 : 768;
    const Dt3 pre[] = {{"f32", F, F, F}, {"frozen", B, B, F}, {"trainable", B, F, F}}; /* x/y, tok, dtok */
    for (int k = 0; k < 3; k++) {
        const Dt3 *t = &pre[k];
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
    for (int k = 0; k < 4; k++) {
        Case *c = case_new("prepend_token_backward", "%s dx=%s dtok=%s dy=%s", pb[k].name,
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
    const int64_t pf[][4] = {{2, 8, 50, 64}, {3, 5, 7, 1}}, pq[][4] = {{3, 5, 7, 2}, {2, 4, 6, 8}};
    for (int k = 0; k < 2; k++)
        for (int z = 0; z < 2; z++) {
            DType t = k ? B : F;
            const int64_t *sz = g_quick ? pq[z] : pf[z];
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
    int64_t n = g_quick ? 9 : 64, d = g_quick ? 33 : 512;
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
    int64_t bb = g_quick ? 3 : 8, tt = g_quick ? 4 : 16, dd = g_quick ? 16 : 768;
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
    } ce[] = {{"f32", F, F}, {"bf16", B, B}, {"bf16-logits-f32-grad", B, F}, {"bf16-loss-only", B, NO}, {"f32-loss-only", F, NO}};
    int ns = g_quick ? 2 : 3;
    for (int k = 0; k < 5; k++)
        for (int z = 0; z < ns; z++) {
            const int64_t *sz = g_quick ? cq[z] : cf[z];
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
            int64_t len = g_quick ? sq[z] : sf[z];
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
    int64_t n = g_quick ? 1001 : 100003;
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
    cases_linear();
    cases_linear_bwd();
    cases_matmul();
    cases_layernorm();
    cases_layernorm_bwd();
    cases_activation();
    cases_elementwise();
    cases_attention();
    cases_rows();
    cases_layout();
    cases_reductions();
    cases_optim();
}

/* ---- the CPU probe ------------------------------------------------------------------------
 * Runs every case's CPU side with the GPU call's dtypes in a child process (quick sizes), one
 * child after another: a child that dies (the CPU backend's fatal "has dtype BF16") names the
 * case it was in through a pipe; that case's key goes to the all-F32 list and a new child
 * carries on after it. Forked before this process has touched OpenMP or CUDA. */
static void probe_cpu_dtypes(void) {
    for (int round = 0; round < MAX_KEYS; round++) {
        int fds[2];
        CHECK_SYS(pipe(fds));
        fflush(stdout);
        pid_t pid = fork();
        CHECK_SYS(pid);
        if (pid == 0) {
            close(fds[0]);
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0) dup2(devnull, 2), dup2(devnull, 1);
            g_probe_fd = fds[1];
            g_probe_child = 1;
            g_quick = 1;
            Err err;
            if (ops_create(BACKEND_CPU, 2, &g_ops[CPU], &err) != 0) _exit(4);
            run_all_cases();
            _exit(0);
        }
        close(fds[1]);
        char buf[192], last[192] = "";
        int have_last = 0;
        FILE *in = fdopen(fds[0], "r");
        while (fgets(buf, sizeof buf, in)) {
            buf[strcspn(buf, "\n")] = 0;
            if (!strcmp(buf, "ok")) {
                if (have_last && g_n_ok_keys < MAX_KEYS) snprintf(g_ok_keys[g_n_ok_keys++], 192, "%s", last);
                have_last = 0;
            } else {
                snprintf(last, sizeof last, "%s", buf);
                have_last = 1;
            }
        }
        fclose(in);
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
        if (!have_last || g_n_f32_keys >= MAX_KEYS) {
            printf("warning: the CPU dtype probe failed outside a case (status %d); every reference runs all-F32\n",
                   status);
            g_ref_forced = 1;
            return;
        }
        snprintf(g_f32_keys[g_n_f32_keys++], 192, "%s", last);
    }
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            g_quick = 1;
        else if (!strcmp(argv[i], "--self-test"))
            g_self_test = 1;
        else if (!strcmp(argv[i], "--list"))
            g_list = 1;
        else if (!strcmp(argv[i], "--backward-determinism-report-only"))
            g_strict_det = 0;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            g_only = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--only WORD,...] [--backward-determinism-report-only] [--self-test] [--list]\n",
                    argv[0]);
            return 2;
        }
    }
    const char *env_det = getenv("DFER_CUDA_TEST_STRICT_DET");
    if (env_det && !strcmp(env_det, "0")) g_strict_det = 0;
    if (!g_only) g_only = getenv("DFER_CUDA_TEST_ONLY");
    if (g_list) {
        run_all_cases();
        return 0;
    }
    if (!g_self_test) {
#ifndef DFER_WITH_CUDA
        test_skip_all("no GPU (this build has no CUDA: DFER_WITH_CUDA is not defined)");
#else
        if (dfer_cuda_device_count() == 0) test_skip_all("no GPU (dfer_cuda_device_count() == 0)");
#endif
    }
    const char *ref = getenv("DFER_CUDA_TEST_REF");
    if (ref && !strcmp(ref, "same"))
        g_ref_forced = 0;
    else if (ref && !strcmp(ref, "f32"))
        g_ref_forced = 1;
    if (g_ref_forced < 0) probe_cpu_dtypes();

    Err err;
    CHECK(ops_create(BACKEND_CPU, 0, &g_ops[CPU], &err) == 0, "CPU backend: %s", err.msg);
    if (g_self_test) {
        CHECK(ops_create(BACKEND_CPU, 0, &g_ops[GPU], &err) == 0, "CPU backend: %s", err.msg);
    } else if (ops_create(BACKEND_CUDA, 0, &g_ops[GPU], &err) != 0) {
        /* A GPU is there but the backend refuses it: that is a failure, not a skip. */
        fprintf(stderr, "test_cuda_ops: the CUDA backend did not start: %s\n", err.msg);
        return 1;
    }
    printf("device side: %s%s\nreference:   %s\n", ops_describe(g_ops[GPU]),
           g_self_test ? " (--self-test: a second CPU context)" : "", ops_describe(g_ops[CPU]));
    printf("reference dtypes: %s\n", g_ref_forced == 1   ? "all-F32 (DFER_CUDA_TEST_REF=f32, or the probe failed)"
                                     : g_ref_forced == 0 ? "the GPU call's own (DFER_CUDA_TEST_REF=same)"
                                     : g_n_f32_keys      ? "the GPU call's own where the CPU backend takes them, "
                                                           "all-F32 for the cases noted below"
                                                         : "the GPU call's own (the CPU backend took every case's dtypes)");
    printf("sizes: %s; determinism required for forward ops, loss, sum_squares, optimiser%s\n",
           g_quick ? "--quick" : "full", g_strict_det ? " and backward ops" : " (backward: reported)");
    fflush(stdout);
    run_all_cases();
    printf("summary: %d cases, %d outputs compared; %d cases with an all-F32 reference (CPU refused their dtypes); "
           "%d backward outputs not bitwise deterministic (reported only)\n",
           g_cases, g_outputs, g_cases_f32ref, g_nondet_reported);
    ops_destroy(g_ops[GPU]);
    ops_destroy(g_ops[CPU]);
    if (!g_cases) {
        printf("no case matched --only %s\n", g_only ? g_only : "");
        return 1;
    }
    return test_summary();
}
