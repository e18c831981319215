/* The harness of test_cuda_ops (cuda_parity.h). */
#include "cuda_parity.h"

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
#include "testlib.h"

CudaParity cuda_parity = {.strict_det = 1, .ref_forced = -1};
static int g_probe_child;
static uint64_t g_seed_counter = 1;

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

Case *case_new(const char *op, const char *fmt, ...) {
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

void case_sizes(Case *c, const char *fmt, ...) {
    char s[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s, sizeof s, fmt, ap);
    va_end(ap);
    size_t len = strlen(c->label);
    snprintf(c->label + len, sizeof c->label - len, " [%s]", s);
}

Arg *arg_add(Case *c, const char *name, DType dt, int role, const int64_t *shape, int ndim) {
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

Arg *arg_in(Case *c, const char *name, DType dt, double scale, const int64_t *shape, int ndim) {
    Arg *a = arg_add(c, name, dt, ARG_IN, shape, ndim);
    for (int64_t i = 0; i < a->n; i++) a->init[i] = bf16_round((float)(a->init[i] * scale));
    return a;
}
Arg *arg_out(Case *c, const char *name, DType dt, double tol, const char *tol_name, int det, const int64_t *shape,
             int ndim) {
    Arg *a = arg_add(c, name, dt, ARG_OUT, shape, ndim);
    a->tol = tol, a->tol_name = tol_name, a->det = det;
    return a;
}
Arg *arg_acc(Case *c, const char *name, DType dt, double tol, const char *tol_name, int det, const int64_t *shape,
             int ndim) {
    Arg *a = arg_add(c, name, dt, ARG_ACCUM, shape, ndim);
    a->tol = tol, a->tol_name = tol_name, a->det = det;
    return a;
}
Arg *arg_none(Case *c, const char *name, DType dt, const int64_t *shape, int ndim) {
    return arg_add(c, name, dt, ARG_NONE, shape, ndim);
}
Arg *arg_bytes(Case *c, const char *name, const int64_t *shape, int ndim) {
    return arg_add(c, name, DT_U8, ARG_BYTES, shape, ndim);
}
Arg *arg_ids(Case *c, const char *name, int64_t n, int64_t limit, int distinct) {
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

Tensor case_arg_tensor(Case *c, int i, int side) {
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

static int is_output(const Arg *a) { return a->role == ARG_OUT || a->role == ARG_ACCUM; }

static void upload_arg(Case *c, Arg *a, int side) {
    Ops *ops = cuda_parity.ops[side];
    if (a->role == ARG_NONE) return;
    if (a->role == ARG_SCRATCH) {
        if (a->bytes[side]) {
            Tensor t = case_arg_tensor(c, (int)(a - c->a), side);
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
        a->bytes[side] = a->scratch_bytes(c, cuda_parity.ops[side]);
    else
        a->bytes[side] = (size_t)a->n * dtype_size(a->side_dt[side]);
    a->dev[side] = a->bytes[side] ? ops_alloc(cuda_parity.ops[side], a->bytes[side]) : NULL;
}

static void case_free(Case *c) {
    for (int i = 0; i < c->na; i++) {
        Arg *a = &c->a[i];
        for (int s = 0; s < 2; s++)
            if (a->dev[s] && cuda_parity.ops[s]) ops_free(cuda_parity.ops[s], a->dev[s]);
        free(a->init), free(a->ids), free(a->u8), free(a->first);
    }
    free(c);
}

static int selected(const Case *c) {
    if (!cuda_parity.only || !*cuda_parity.only) return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", cuda_parity.only);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","))
        if (*tok && strstr(c->label, tok)) return 1;
    return 0;
}

/* Downloads an output as floats (and, when raw != NULL, its bytes). */
static float *download_arg(Arg *a, int side, unsigned char **raw) {
    unsigned char *bytes = xmalloc(a->bytes[side]);
    ops_download(cuda_parity.ops[side], bytes, a->dev[side], a->bytes[side]);
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
    c->fn(c, cuda_parity.ops[side], side);
    ops_sync(cuda_parity.ops[side]);
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
    cuda_parity.outputs++;
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

void case_run(Case *c) {
    if (!selected(c)) {
        case_free(c);
        return;
    }
    if (cuda_parity.list) {
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
    int f32ref =
        cuda_parity.ref_forced == 1 || (cuda_parity.ref_forced < 0 && key_in(g_f32_keys, g_n_f32_keys, c->key));
    for (int i = 0; i < c->na; i++) {
        Arg *a = &c->a[i];
        a->side_dt[GPU] = a->dt;
        a->side_dt[CPU] = f32ref && a->dt == DT_BF16 ? DT_F32 : a->dt;
        /* --self-test: the "GPU" is the CPU too; where the probe found that the CPU refuses the
         * dtypes it runs all-F32 as well. (DFER_CUDA_TEST_REF=f32 --self-test compares the CPU's
         * mixed-precision run against its all-F32 run: a check of the tolerances.) */
        if (cuda_parity.self_test && key_in(g_f32_keys, g_n_f32_keys, c->key)) a->side_dt[GPU] = a->side_dt[CPU];
    }
    cuda_parity.cases++;
    cuda_parity.cases_f32ref += f32ref;
    test_current = c->op;
    if (f32ref)
        printf("note %s: reference computed all-F32 (%s)\n", c->label,
               cuda_parity.ref_forced == 1 ? "DFER_CUDA_TEST_REF=f32" : "the CPU backend refused these dtypes");
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
        cuda_parity.outputs++;
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
        if (a->det == DET_REQUIRED || cuda_parity.strict_det) {
            printf("FAIL %-76s %-7s NOT deterministic: %zu of %zu bytes differ between two GPU runs\n", c->label,
                   a->name, differ, a->bytes[GPU]);
            test_fail(__FILE__, __LINE__, "%s: output %s is not bitwise deterministic (%zu bytes differ)", c->label,
                      a->name, differ);
        } else {
            cuda_parity.nondet_reported++;
            printf("info %-76s %-7s not bitwise deterministic (%zu bytes differ; a backward output: reported only, "
                   "DFER_CUDA_TEST_STRICT_DET=0)\n",
                   c->label, a->name, differ);
        }
    }
    if (c->has_scalar && memcmp(&c->scalar[GPU], &c->scalar_first, sizeof(double)) != 0) {
        if (c->scalar_det == DET_REQUIRED || cuda_parity.strict_det) {
            printf("FAIL %-76s result  NOT deterministic: %.17g then %.17g\n", c->label, c->scalar_first,
                   c->scalar[GPU]);
            test_fail(__FILE__, __LINE__, "%s: result not deterministic", c->label);
        } else {
            cuda_parity.nondet_reported++;
        }
    }
    fflush(stdout);
    case_free(c);
}


/* ---- the CPU probe ------------------------------------------------------------------------
 * Runs every case's CPU side with the GPU call's dtypes in a child process (quick sizes), one
 * child after another: a child that dies (the CPU backend's fatal "has dtype BF16") names the
 * case it was in through a pipe; that case's key goes to the all-F32 list and a new child
 * carries on after it. Forked before this process has touched OpenMP or CUDA. */
int cuda_parity_probe_cpu_dtypes(void (*run_all_cases)(void)) {
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
            cuda_parity.quick = 1;
            Err err;
            if (ops_create(BACKEND_CPU, 2, &cuda_parity.ops[CPU], &err) != 0) _exit(4);
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
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return g_n_f32_keys;
        if (!have_last || g_n_f32_keys >= MAX_KEYS) {
            printf("warning: the CPU dtype probe failed outside a case (status %d); every reference runs all-F32\n",
                   status);
            cuda_parity.ref_forced = 1;
            return g_n_f32_keys;
        }
        snprintf(g_f32_keys[g_n_f32_keys++], 192, "%s", last);
    }
    return g_n_f32_keys;
}

