#include "train/bench.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/rng.h"
#include "core/timer.h"
#include "core/version.h"
#include "io/safetensors.h"
#include "model/clip_init.h"
#include "model/dfer_clip.h"
#include "model/finecliper.h"
#include "text/descriptions.h"
#include "text/tokenizer.h"
#include "train/input_feed.h"
#include "train/job_model.h"
#include "train/optim.h"
#include "train/plan.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#include "kernels/cuda_mem.h"
#endif

#ifndef DFER_SOURCE_DIR
#define DFER_SOURCE_DIR "."
#endif

void bench_options_default(BenchOptions *o) {
    memset(o, 0, sizeof *o);
    o->device = "auto";
    o->arch = "tiny";
    o->method = "finecliper";
    o->variant = "low";
    o->frames = 16;
    o->batch = 8;
    o->steps = 10;
    o->warmup = 2;
    o->classes = 7;
    o->desc_tokens = 128;
    o->seed = 1;
}

int bench_check_device(const char *device, Err *err) {
    if (strcmp(device, "cuda")) return 0;
#ifdef DFER_WITH_CUDA
    if (dfer_cuda_device_count() <= 0)
        return err_set(err, "--device cuda: no GPU found (no CUDA device, driver or runtime on this machine); use "
                            "--device cpu");
    return 0;
#else
    return err_set(err, "--device cuda: no GPU: this dfer was built without CUDA (no nvcc at build time), so it "
                        "cannot run on a GPU; use --device cpu");
#endif
}

/* ---- the run ------------------------------------------------------------------------------------ */

void bench_normalise_arch(const char *in, char *out, size_t n) {
    char tmp[64];
    size_t k = 0;
    const char *p = in;
    if (!strncasecmp(p, "vit-", 4)) p += 4;
    for (; *p && k + 1 < sizeof tmp; p++) {
        if (*p == '/') continue;
        if (*p == '@') {
            tmp[k++] = '-';
            continue;
        }
        tmp[k++] = (char)tolower((unsigned char)*p);
    }
    tmp[k] = 0;
    snprintf(out, n, "%s", tmp);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double minimum(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = fmin(m, v[i]);
    return m;
}

static const char *find_vocab(const BenchOptions *o, char *buf, size_t n) {
    if (o->vocab && *o->vocab) return o->vocab;
    const char *e = getenv("DFER_VOCAB");
    if (e && *e) return e;
    static const char *const dirs[] = {"../shared/clip", "shared/clip"}; /* beside the source tree, or in it */
    for (int i = 0; i < 2; i++) {
        snprintf(buf, n, "%s/%s/%s", DFER_SOURCE_DIR, dirs[i], CLIP_VOCAB_FILE);
        if (fs_exists(buf)) return buf;
    }
    return NULL;
}

static void device_sync(Ops *ops) { ops_sync(ops); }

/* Samples the device memory in use (CUDA) and returns the sample; 0 on the CPU. */
static size_t mem_sample(Ops *ops) {
    (void)ops;
#ifdef DFER_WITH_CUDA
    if (ops_backend(ops) == BACKEND_CUDA) return dfer_cuda_mem_sample();
#endif
    return 0;
}

/* Fills n values of dtype (F32 or F64) with N(0,1) (normalised pixels) or U[0,1) (raw pixels). */
static void *random_pixels(size_t n, int f64, int normal, Rng *r) {
    void *p = xmalloc(n * (f64 ? sizeof(double) : sizeof(float)));
    for (size_t k = 0; k < n; k++) {
        double v = normal ? rng_normal(r) : rng_uniform(r);
        if (f64) ((double *)p)[k] = v;
        else ((float *)p)[k] = (float)v;
    }
    return p;
}

static void *random_bytes(size_t n, Rng *r) {
    uint8_t *p = xmalloc(n);
    for (size_t k = 0; k < n; k++) p[k] = (uint8_t)rng_int(r, 256);
    return p;
}

cJSON *bench_number_or_null(double v, int ok) { return ok ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

/* The configuration keys bench sets from its own options and keeps using the options of (the synthetic
 * batch's size, the FLOP count, the method's branch, the loss scale, the device): a --set of one of them
 * would build a model that disagrees with the rest of the run. */
static const struct {
    const char *key, *option;
} k_bench_owned[] = {
    {"model.method", "--method"},       {"model.variant", "--variant"},   {"data.frames", "--frames"},
    {"train.batch", "--batch"},         {"train.eval_batch", "--eval-batch"}, {"train.threads", "--threads"},
    {"train.seed", "--seed"},           {"train.device", "--device"},     {"model.dtype", "--precision"},
    {"model.vocab", "--vocab"},
};

const char *bench_owned_key(const char *assignment, const char **key) {
    size_t n = strcspn(assignment, "=");
    for (size_t i = 0; i < sizeof k_bench_owned / sizeof k_bench_owned[0]; i++)
        if (strlen(k_bench_owned[i].key) == n && !strncmp(assignment, k_bench_owned[i].key, n)) {
            if (key) *key = k_bench_owned[i].key;
            return k_bench_owned[i].option;
        }
    return NULL;
}

/* What a benchmark run is: the backend, the device's name, and the configuration as `dfer train --set`
 * would resolve it. */
typedef struct BenchSetup {
    char arch[64], device_name[256], vocab[4096];
    ClipConfig cc;
    int finecliper;
    int b, eval_b, nb; /* per rank: training batch, evaluation batch, the larger of those timed */
    Backend backend;
    Config cfg;
} BenchSetup;

static int bench_setup(const BenchOptions *o, const Group *g, BenchSetup *s, Err *err) {
    memset(s, 0, sizeof *s);
    bench_normalise_arch(o->arch, s->arch, sizeof s->arch);
    if (clip_config_preset(s->arch, &s->cc, err) != 0) return err_prefix(err, "--arch: ");
    s->finecliper = !strcmp(o->method, "finecliper");
    if (!s->finecliper && strcmp(o->method, "dfer_clip"))
        return err_set(err, "--method %s: expected finecliper or dfer_clip", o->method);
    if (o->batch < 1 || o->frames < 1 || o->steps < 1 || o->warmup < 0 || o->classes < 2)
        return err_set(err, "--batch, --frames and --steps must be positive, --warmup non-negative, --classes >= 2");
    if (o->batch % g->size)
        return err_set(err, "--batch %d is not a multiple of the %d ranks (it is the global batch)", o->batch, g->size);
    s->b = o->batch / g->size, s->eval_b = (o->eval_batch > 0 ? o->eval_batch : o->batch) / g->size;
    if (s->eval_b < 1) return err_set(err, "--eval-batch must give each of the %d ranks a clip", g->size);
    s->nb = o->eval && s->eval_b > s->b ? s->eval_b : s->b; /* the evaluation batch is timed only with --eval */

    /* the device: cuda must exist before anything is built */
    if (!strcmp(o->device, "cpu")) s->backend = BACKEND_CPU;
    else if (!strcmp(o->device, "cuda")) s->backend = BACKEND_CUDA;
    else if (!strcmp(o->device, "auto")) s->backend = ops_default_backend();
    else return err_set(err, "--device %s: expected cpu, cuda or auto", o->device);
    if (bench_check_device(o->device, err) != 0) return -1;
    if (s->backend == BACKEND_CUDA) {
#ifdef DFER_WITH_CUDA
        /* the device the caller selected (train_collectives: one GPU per local rank) */
        dfer_cuda_describe(dfer_cuda_current_device(), s->device_name, sizeof s->device_name);
        dfer_cuda_mem_reset(); /* the baseline: the CUDA context, before any weight */
#endif
    } else {
        bench_cpu_name(s->device_name, sizeof s->device_name);
    }

    /* the run configuration, as `dfer train --set` would resolve it */
    Config *cfg = &s->cfg;
    config_defaults(cfg);
    char set[CFG_STR + 64];
#define SET(...)                                                                                         \
    do {                                                                                                 \
        snprintf(set, sizeof set, __VA_ARGS__);                                                          \
        if (config_set(cfg, set, err) != 0) return -1;                                                   \
    } while (0)
    SET("model.method=%s", o->method);
    if (s->finecliper) SET("model.variant=%s", o->variant);
    SET("data.frames=%d", o->frames);
    SET("train.batch=%d", o->batch);
    SET("train.eval_batch=%d", o->eval_batch > 0 ? o->eval_batch : o->batch);
    SET("train.threads=%d", o->threads);
    SET("train.seed=%d", o->seed);
    SET("train.device=%s", s->backend == BACKEND_CUDA ? "cuda" : "cpu");
    if (o->precision) SET("model.dtype=%s", o->precision);
    if (o->gpu_mem > 0) SET("train.gpu_mem=%.17g", o->gpu_mem);
    for (int i = 0; i < o->n_sets; i++) {
        const char *key, *option = bench_owned_key(o->sets[i], &key);
        if (option) return err_set(err, "--set %s: bench sets %s itself: use %s", o->sets[i], key, option);
        if (config_set(cfg, o->sets[i], err) != 0) return err_prefix(err, "--set %s: ", o->sets[i]);
    }
#undef SET
    if (strcmp(cfg->objective, "supervised"))
        return err_set(err, "dfer bench times supervised training (train.objective = %s is not benchmarked)",
                       cfg->objective);
    const char *vocab = find_vocab(o, s->vocab, sizeof s->vocab);
    if (!vocab)
        return err_set(err, "no CLIP vocabulary (%s): give --vocab, set DFER_VOCAB, or put it in %s/../shared/clip/ "
                            "or %s/shared/clip/", CLIP_VOCAB_FILE, DFER_SOURCE_DIR, DFER_SOURCE_DIR);
    if (strlen(vocab) >= sizeof cfg->vocab) return err_set(err, "vocabulary path too long: %s", vocab);
    memcpy(cfg->vocab, vocab, strlen(vocab) + 1);
    return 0;
}

/* The high level's descriptions: one per clip of the batch, desc_tokens long (SOT, words, EOT). */
static int bench_descriptions(const BenchOptions *o, int nb, Descriptions **out, Err *err) {
    int words = o->desc_tokens - 2;
    if (words < 1) words = 1;
    char *text = xmalloc((size_t)words * 5 + 1), id[32];
    text[0] = 0;
    for (int i = 0; i < words; i++) strcat(text, i ? " face" : "face");
    Descriptions *descs = xcalloc(1, sizeof *descs);
    descriptions_init(descs);
    for (int i = 0; i < nb; i++) {
        snprintf(id, sizeof id, "bench-%d", i);
        descriptions_add(descs, id, text, 0);
    }
    free(text);
    snprintf(descs->source, sizeof descs->source, "(dfer bench: %d synthetic descriptions)", nb);
    if (descriptions_index(descs, err) != 0) {
        descriptions_free(descs), free(descs);
        return -1;
    }
    *out = descs;
    return 0;
}

/* The synthetic batch of nb clips, resident in host memory as the loader would hand it over (no data
 * wait): uint8 pixels with data.uint8_frames (normalised on the device), else reals. Where the model
 * prefetches (data.device_prefetch, as training's input feed), the pixels are page-locked and each step's
 * copy runs on the copy stream during the step before (bench_step_inputs). */
typedef struct BenchInputs {
    JobInputs in;
    void *frames, *parsing, *landmarks;
    int32_t *labels;
    char **ids;
    int nb;
    Ops *pinned;          /* the context whose page-locked memory holds the pixels; NULL: the heap */
    InputSlots slots;     /* the device copies, when prefetching */
    JobInputs dev[2];     /* in, with slot k's pixels */
    int turn;             /* the slot of the next step's batch; -1 before the first copy */
} BenchInputs;

/* n bytes of the heap's p moved into page-locked memory of ops. */
static void *pin(Ops *ops, void *p, size_t n) {
    if (!p) return NULL;
    void *q = ops_alloc_host(ops, n);
    memcpy(q, p, n);
    free(p);
    return q;
}

static void bench_inputs(const BenchOptions *o, const Group *g, const JobModel *m, const Config *cfg, int nb,
                         BenchInputs *bi) {
    memset(bi, 0, sizeof *bi); /* pinned stays NULL unless the model prefetches: the free path reads it */
    Rng r;
    rng_init(&r, (uint64_t)o->seed, 0xbe, (uint64_t)g->rank, 0);
    size_t nvals = (size_t)nb * o->frames * 3 * m->image_size * m->image_size;
    int normal = job_model_normalise_clip(m, cfg);
    bi->nb = nb;
    bi->frames = m->uint8_frames ? random_bytes(nvals, &r) : random_pixels(nvals, m->f64, normal, &r);
    bi->parsing = !(m->mid_streams & FC_MID_PARSING) ? NULL
                  : m->uint8_frames                  ? random_bytes(nvals, &r)
                                                     : random_pixels(nvals, m->f64, 1, &r);
    bi->landmarks = !(m->mid_streams & FC_MID_LANDMARKS) ? NULL
                    : m->uint8_frames                    ? random_bytes(nvals, &r)
                                                         : random_pixels(nvals, m->f64, 1, &r);
    bi->labels = xmalloc((size_t)nb * sizeof(int32_t));
    for (int i = 0; i < nb; i++) bi->labels[i] = (int32_t)rng_int(&r, o->classes);
    bi->ids = xcalloc((size_t)nb, sizeof *bi->ids);
    for (int i = 0; i < nb; i++) {
        bi->ids[i] = xmalloc(32);
        snprintf(bi->ids[i], 32, "bench-%d", i);
    }
    if (m->prefetch_inputs) {
        bi->pinned = m->ops;
        bi->frames = pin(m->ops, bi->frames, nvals), bi->parsing = pin(m->ops, bi->parsing, nvals);
        bi->landmarks = pin(m->ops, bi->landmarks, nvals);
    }
    bi->in = (JobInputs){.frames = bi->frames, .parsing = bi->parsing, .landmarks = bi->landmarks,
                         .clip_ids = (const char *const *)bi->ids};
    input_slots_init(&bi->slots, m, m->prefetch_inputs ? nb : 0);
    bi->dev[0] = bi->dev[1] = bi->in;
    bi->turn = -1;
}

/* The batch a step computes: the host batch, or, prefetching, its copy in the slot filled during the step before,
 * with the next step's copy queued into the other slot (input_feed.h's order; the same host batch every step). */
static const JobInputs *bench_step_inputs(BenchInputs *bi, const JobModel *m) {
    if (!bi->pinned) return &bi->in;
    const void *host[INPUT_STREAMS] = {bi->frames, bi->parsing, bi->landmarks};
    if (bi->turn < 0) input_slots_fill(&bi->slots, m, 0, host, bi->nb, &bi->dev[0]), bi->turn = 0;
    int k = bi->turn;
    input_slots_ready(&bi->slots);
    input_slots_fill(&bi->slots, m, !k, host, bi->nb, &bi->dev[!k]);
    bi->turn = !k;
    return &bi->dev[k];
}

static void bench_inputs_free(BenchInputs *bi) {
    input_slots_free(&bi->slots); /* after the copies in flight, which read the pixels */
    for (int i = 0; i < bi->nb; i++) free(bi->ids[i]);
    free(bi->ids), free(bi->labels);
    void *pixels[3] = {bi->frames, bi->parsing, bi->landmarks};
    for (int i = 0; i < 3; i++) {
        if (bi->pinned) ops_free_host(bi->pinned, pixels[i]);
        else free(pixels[i]);
    }
}

/* Per-step times of the phases (warmup steps first), each phase ended by a device sync so its time is
 * its own: training (forward+backward, all-reduce, update), forward only, evaluation at its own batch. */
typedef struct BenchTimes {
    double *step, *fb, *ar, *up, *fw, *ev;
    int eval_runs;
    double loss;
    int skipped;
} BenchTimes;

/* Seconds of each of `total` forward-only passes of `batch` clips (no gradient), each ended by a device sync;
 * returns the highest device-memory sample taken after them (CUDA; 0 on the CPU). */
static size_t time_forward(JobModel *m, BenchInputs *bi, int batch, int total, double *seconds) {
    size_t high = 0;
    for (int k = 0; k < total; k++) {
        device_sync(m->ops);
        double t0 = time_now();
        job_model_step(m, bench_step_inputs(bi, m), bi->labels, batch, 0, 1.0f, NULL);
        device_sync(m->ops);
        seconds[k] = time_now() - t0;
        size_t used = mem_sample(m->ops);
        if (used > high) high = used;
    }
    return high;
}

/* One training step (forward and backward, all-reduce, update), each phase ended by a device sync: its seconds
 * in phase[0..2]; returns 1 when the update was skipped (a non-finite loss or gradient). */
static int train_step(const BenchOptions *o, Group *g, JobModel *m, Optimizer *opt, BenchInputs *bi, int b,
                      Tensor grads, double *loss, double phase[3]) {
    double norm = 0;
    device_sync(m->ops);
    double t0 = time_now();
    paramset_zero_grads(m->params);
    *loss = job_model_step(m, bench_step_inputs(bi, m), bi->labels, b, 1, 1.0f / (float)o->batch, NULL);
    device_sync(m->ops);
    double t1 = time_now();
    mem_sample(m->ops);
    group_allreduce(g, grads, 0);
    device_sync(m->ops);
    double t2 = time_now();
    double sum = group_sum_double(g, *loss);
    int skipped = isfinite(sum) ? optimizer_step(opt, 1.0f, &norm) != OPT_STEP_APPLIED : 1;
    device_sync(m->ops);
    double t3 = time_now();
    mem_sample(m->ops);
    phase[0] = t1 - t0, phase[1] = t2 - t1, phase[2] = t3 - t2;
    return skipped;
}

/* The training steps (warmup first); the forward-only passes are bench_time_forward's, timed after the
 * training peak is read. */
static void bench_time(const BenchOptions *o, Group *g, JobModel *m, Optimizer *opt, BenchInputs *bi, int b,
                       BenchTimes *t) {
    int total = o->warmup + o->steps;
    t->step = xmalloc((size_t)total * sizeof(double)), t->fb = xmalloc((size_t)total * sizeof(double));
    t->ar = xmalloc((size_t)total * sizeof(double)), t->up = xmalloc((size_t)total * sizeof(double));
    t->fw = xmalloc((size_t)total * sizeof(double)), t->ev = xmalloc((size_t)total * sizeof(double));
    Tensor grads = tensor_make(m->params->grads, m->params->dtype, 1, (int64_t)m->params->numel);
    t->loss = 0, t->skipped = 0, t->eval_runs = 0;
    group_barrier(g);
    for (int k = 0; k < total; k++) {
        double phase[3];
        t->skipped += train_step(o, g, m, opt, bi, b, grads, &t->loss, phase);
        t->fb[k] = phase[0], t->ar[k] = phase[1], t->up[k] = phase[2];
        t->step[k] = phase[0] + phase[1] + phase[2];
    }
}

/* The forward alone (labels given, no gradient): the same forward as a training step's, and what evaluation
 * runs per batch; then evaluation at another batch size (--eval). Returns the highest device-memory sample
 * after these passes (CUDA; 0 on the CPU). */
static size_t bench_time_forward(const BenchOptions *o, JobModel *m, BenchInputs *bi, int b, int eval_b,
                                 BenchTimes *t) {
    int total = o->warmup + o->steps;
    size_t high = time_forward(m, bi, b, total, t->fw);
    if (o->eval && eval_b != b) {
        size_t e = time_forward(m, bi, eval_b, total, t->ev);
        if (e > high) high = e;
        t->eval_runs = 1;
    }
    return high;
}

/* One row of op_profile: per-step figures of an entry (or of an op's entries added up). */
static cJSON *profile_row(const OpsProfileEntry *e, int with_operands, double per_step, double wall_ms,
                          const DevicePeaks *pk) {
    cJSON *row = cJSON_CreateObject();
    double ms = e->ms * per_step, s = e->ms * 1e-3, bound = bench_bound_ms(e, per_step, pk);
    cJSON_AddStringToObject(row, "op", e->op);
    if (with_operands) cJSON_AddStringToObject(row, "operands", e->operands);
    cJSON_AddNumberToObject(row, "calls_per_step", (double)e->calls * per_step);
    cJSON_AddNumberToObject(row, "ms_per_step", ms);
    cJSON_AddNumberToObject(row, "share", wall_ms > 0 ? ms / wall_ms : 0);
    cJSON_AddNumberToObject(row, "flops_per_step", e->flops * per_step);
    cJSON_AddItemToObject(row, "tflops", bench_number_or_null(e->flops / s * 1e-12, e->flops > 0 && s > 0));
    cJSON_AddItemToObject(row, "gb_per_s", bench_number_or_null(e->bytes / s * 1e-9, s > 0));
    cJSON_AddNumberToObject(row, "bytes_per_step", e->bytes * per_step);
    cJSON_AddItemToObject(row, "bound_ms_per_step", bench_number_or_null(bound, bound >= 0));
    cJSON_AddItemToObject(row, "times_bound", bench_number_or_null(ms / bound, bound > 0));
    return row;
}

/* --profile-steps: that many more training steps with every op timed (ops_profile.c), after the timed steps,
 * which the marks therefore cost nothing. "by_op" adds up the entries of each op; "entries" keeps each op and
 * operand shapes apart. Times are per step; a share is of the step's wall time, and what no op took
 * (outside_ops: host work between launches the GPU waited for, the all-reduce, syncs) is the wall time
 * less the ops' time. */
static cJSON *bench_profile(const BenchOptions *o, Group *g, JobModel *m, Optimizer *opt, BenchInputs *bi,
                            int b, const char *device_name) {
    Tensor grads = tensor_make(m->params->grads, m->params->dtype, 1, (int64_t)m->params->numel);
    ops_profile_start(m->ops);
    for (int k = 0; k < o->profile_steps; k++) {
        double phase[3], loss;
        train_step(o, g, m, opt, bi, b, grads, &loss, phase);
        ops_profile_step(m->ops, phase[0] + phase[1] + phase[2]);
    }
    const OpsProfileEntry *e;
    int steps;
    double wall;
    int n = ops_profile_entries(m->ops, &e, &steps, &wall);
    double per = 1.0 / steps, wall_ms = wall * 1e3 * per, ops_ms = 0, flops = 0, bound = 0;
    /* the peaks of a GPU the tables know (or the options give): each entry's least time on it */
    const char *tf_source = NULL, *bw_source = NULL;
    DevicePeaks pk = bench_device_peaks(o, device_name, &tf_source, &bw_source);
    if (ops_backend(m->ops) != BACKEND_CUDA && (o->peak_tflops <= 0 || o->peak_gbps <= 0)) pk = (DevicePeaks){0, 0};
    cJSON *res = cJSON_CreateObject(), *by_op = cJSON_CreateArray(), *entries = cJSON_CreateArray();
    const int have_bound = pk.tflops > 0 && pk.gbps > 0;
    for (int i = 0; i < n; i++) {
        ops_ms += e[i].ms * per, flops += e[i].flops * per;
        if (have_bound) bound += bench_bound_ms(&e[i], per, &pk);
    }
    OpsProfileEntry *sums;
    int n_ops = ops_profile_by_op(m->ops, &sums);
    for (int i = 0; i < n_ops; i++) cJSON_AddItemToArray(by_op, profile_row(&sums[i], 0, per, wall_ms, &pk));
    free(sums);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(entries, profile_row(&e[i], 1, per, wall_ms, &pk));
    cJSON_AddNumberToObject(res, "steps", steps);
    cJSON_AddNumberToObject(res, "wall_ms_per_step", wall_ms);
    cJSON_AddNumberToObject(res, "ops_ms_per_step", ops_ms);
    cJSON_AddNumberToObject(res, "outside_ops_ms_per_step", wall_ms - ops_ms);
    cJSON_AddNumberToObject(res, "matrix_flops_per_step", flops);
    cJSON_AddStringToObject(res, "method", ops_backend(m->ops) == BACKEND_CUDA
        ? "CUDA events on the ops stream around each op (the outermost of a nest), read after each step's sync"
        : "the host clock around each op (the outermost of a nest): CPU ops return done");
    cJSON_AddStringToObject(res, "bytes", "gb_per_s counts each operand's size once (read or written): low for an op "
                                          "that reads an operand more than once, high for one that reads only part "
                                          "of one (embedding, gather_rows)");
    cJSON_AddItemToObject(res, "bound_ms_per_step", bench_number_or_null(bound, have_bound));
    cJSON_AddStringToObject(res, "bound", "bound_ms_per_step: the least time of an entry's work on the device, its "
                                          "matrix FLOPs at the dense bf16 peak or its bytes (each operand once) at "
                                          "the memory bandwidth, whichever is longer; times_bound = ms / bound");
    if (have_bound) {
        char peaks[256];
        snprintf(peaks, sizeof peaks, "%.6g TFLOP/s (%s), %.6g GB/s (%s)", pk.tflops, tf_source ? tf_source : "?",
                 pk.gbps, bw_source ? bw_source : "?");
        cJSON_AddStringToObject(res, "bound_peaks", peaks);
    }
    cJSON_AddItemToObject(res, "by_op", by_op);
    cJSON_AddItemToObject(res, "entries", entries);
    ops_profile_stop(m->ops);
    return res;
}

static void bench_times_free(BenchTimes *t) {
    free(t->step), free(t->fb), free(t->ar), free(t->up), free(t->fw), free(t->ev);
}

/* What the report of a run is made of (bench_run's results). */
typedef struct BenchRun {
    const BenchOptions *o;
    const BenchSetup *s;
    const JobModel *m;
    const OptimizerConfig *oc;
    const BenchTimes *t;
    BenchShape sh;
    const char *mb_note, *peak_method, *eval_peak_method;
    double peak, process_peak, t_build;
    double eval_peak;    /* the forward-only passes' peak (peak: the training steps'); < 0: not measured */
    double planned;      /* bytes the memory planner counts for this pass (CUDA; 0 on the CPU) */
    double context;      /* bytes the process held on the GPU before the model (CUDA; 0 on the CPU) */
    const MemoryPlan *plan; /* the planner's choice (plan_apply); micro_batch 0 where it chose nothing */
    int ranks;
} BenchRun;

/* The figures of a run as the JSON object `dfer bench` prints and writes. */
static cJSON *bench_report(const BenchRun *r) {
    const BenchOptions *o = r->o;
    const BenchSetup *s = r->s;
    const JobModel *mm = r->m;
    const Config *cfg = &s->cfg;
    const BenchTimes *t = r->t;
    const BenchShape *shp = &r->sh;
    char desc[160];
    /* medians of rank 0's timed steps (the all-reduce makes every rank wait for the slowest) */
    int b = s->b, eval_b = s->eval_b, eval_runs = t->eval_runs;
    int w = o->warmup, n = o->steps;
    double step_min = minimum(t->step + w, n);
    double med[6] = {median(t->step + w, n), median(t->fb + w, n), median(t->ar + w, n), median(t->up + w, n),
                     median(t->fw + w, n), eval_runs ? median(t->ev + w, n) : 0};
    BenchFlops fl, fl_eval;
    bench_flops_passes(shp, b, mm->micro_batch, &fl);
    /* the evaluation forward's FLOPs at the batch its time was measured at: --eval-batch with --eval, else the
     * training batch's forward-only passes */
    int eval_timed_b = eval_runs ? eval_b : b;
    bench_flops_passes(shp, eval_timed_b, mm->micro_batch, &fl_eval);
    int mb = mm->micro_batch > 0 && mm->micro_batch < b ? mm->micro_batch : b;
    double train_flops = fl.forward + fl.backward_input + fl.backward_weight;
    const char *peak_source = NULL;
    double peak_tf = bench_device_peaks(o, s->device_name, &peak_source, NULL).tflops;
    int have_peak = s->backend == BACKEND_CUDA && peak_tf > 0;

    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "side", "dfer");
    cJSON_AddStringToObject(res, "device", s->device_name);
    cJSON_AddStringToObject(res, "backend", ops_describe(mm->ops));
    /* each step's pixels copied during the step before (data.device_prefetch), as training does */
    cJSON_AddBoolToObject(res, "input_prefetch", mm->prefetch_inputs);
#ifdef DFER_WITH_CUDA
    const char *attention_path = dfer_cuda_attention_path(mm->ops);
    if (attention_path) cJSON_AddStringToObject(res, "attention_path", attention_path); /* DFER_ATTENTION */
    const char *adapter_path = dfer_cuda_adapter_path(mm->ops);
    if (adapter_path) cJSON_AddStringToObject(res, "adapter_path", adapter_path); /* DFER_ADAPTER */
    DferGemmStats gs;
    if (dfer_cuda_gemm_stats(mm->ops, &gs) == 0) {
        /* the cuBLASLt plan cache after every timed phase: built > held or any recycled means it
         * thrashes; split_k and mask_retries show what the BF16 reduction-scheme mask does */
        cJSON *gp = cJSON_AddObjectToObject(res, "gemm_plans");
        cJSON_AddNumberToObject(gp, "held", gs.held);
        cJSON_AddNumberToObject(gp, "built", (double)gs.built);
        cJSON_AddNumberToObject(gp, "recycled", (double)gs.recycled);
        cJSON_AddNumberToObject(gp, "split_k", (double)gs.split_k);
        cJSON_AddNumberToObject(gp, "mask_retries", (double)gs.mask_retries);
    }
#endif
    cJSON_AddStringToObject(res, "device_kind", s->backend == BACKEND_CUDA ? "cuda" : "cpu");
    cJSON_AddStringToObject(res, "arch", s->arch);
    cJSON_AddStringToObject(res, "architecture", clip_config_describe(&mm->clip.cfg, desc, sizeof desc));
    cJSON_AddStringToObject(res, "method", cfg->method);
    cJSON_AddStringToObject(res, "variant", s->finecliper ? cfg->variant : "");
    if (s->finecliper) { /* the adapters' width / these (the PyTorch peer builds the same) */
        cJSON_AddNumberToObject(res, "bottleneck_divisor", shp->bottleneck_divisor);
        cJSON_AddNumberToObject(res, "mid_high_bottleneck_divisor", shp->mid_high_divisor);
    }
    char model_name[256];
    if (s->finecliper) snprintf(model_name, sizeof model_name, "FineCLIPER %.31s, %s", cfg->variant, desc);
    else snprintf(model_name, sizeof model_name, "DFER-CLIP, %s", desc);
    cJSON_AddStringToObject(res, "model", model_name);
    cJSON_AddNumberToObject(res, "frames", o->frames);
    cJSON_AddNumberToObject(res, "batch", o->batch);
    cJSON_AddNumberToObject(res, "ranks", r->ranks);
    cJSON_AddNumberToObject(res, "classes", o->classes);
    cJSON_AddStringToObject(res, "precision", o->precision ? o->precision : "default");
    cJSON_AddStringToObject(res, "model_dtype", dtype_name(mm->clip.dtype));
    cJSON_AddNumberToObject(res, "threads", ops_threads(mm->ops));
    cJSON_AddNumberToObject(res, "steps", n);
    cJSON_AddNumberToObject(res, "warmup", w);
    cJSON_AddNumberToObject(res, "micro_batch", mb);
    /* the level the ViT ran at (set, or the planner's choice) */
    cJSON_AddStringToObject(res, "recompute", recompute_name(shp->recompute));
    cJSON_AddNumberToObject(res, "accumulation", (b + mb - 1) / mb);
    cJSON_AddStringToObject(res, "micro_batch_from", r->mb_note);
    if (r->plan && r->plan->micro_batch) { /* what `dfer plan` prints for this configuration */
        cJSON *pj = cJSON_AddObjectToObject(res, "memory_plan");
        cJSON_AddNumberToObject(pj, "cap_bytes", (double)r->plan->cap);
        cJSON_AddNumberToObject(pj, "total_bytes", (double)r->plan->total);
        cJSON_AddNumberToObject(pj, "reserve_bytes", (double)r->plan->reserve);
        cJSON_AddNumberToObject(pj, "micro_batch", r->plan->micro_batch);
        cJSON_AddStringToObject(pj, "recompute", recompute_name(r->plan->recompute));
        cJSON_AddBoolToObject(pj, "fits", r->plan->fits);
    }
    cJSON_AddNumberToObject(res, "trainable_parameters", (double)mm->params->numel);
    cJSON_AddNumberToObject(res, "frozen_parameters", (double)mm->clip.param_count);
    cJSON_AddStringToObject(res, "optimizer", r->oc->kind == OPT_ADAMW ? "adamw" : "sgd");
    cJSON *opto = cJSON_AddObjectToObject(res, "optimizer_config");
    cJSON *lrs = cJSON_AddArrayToObject(opto, "lr");
    for (int i = 0; i < mm->groups; i++) cJSON_AddItemToArray(lrs, cJSON_CreateNumber(r->oc->lr[i]));
    cJSON_AddNumberToObject(opto, "weight_decay", r->oc->weight_decay[0]);
    cJSON_AddNumberToObject(opto, "momentum", r->oc->momentum);
    cJSON *tl = cJSON_AddObjectToObject(res, "text_tokens");
    if (s->finecliper) {
        cJSON_AddNumberToObject(tl, "positive", shp->len_pos);
        cJSON_AddNumberToObject(tl, "negative", shp->len_neg);
        if (shp->high) cJSON_AddNumberToObject(tl, "description", shp->desc_len);
    } else {
        cJSON_AddNumberToObject(tl, "class_prompts", shp->len_text);
    }
    cJSON_AddNumberToObject(res, "train_clips_per_s", o->batch / med[0]);
    cJSON_AddNumberToObject(res, "train_step_s", med[0]);
    cJSON_AddNumberToObject(res, "train_step_min_s", step_min);
    cJSON_AddNumberToObject(res, "eval_batch", eval_runs ? eval_b * r->ranks : o->batch);
    cJSON_AddNumberToObject(res, "eval_clips_per_s", eval_runs ? eval_b * r->ranks / med[5] : o->batch / med[4]);
    cJSON *sp = cJSON_AddObjectToObject(res, "split_s");
    cJSON_AddNumberToObject(sp, "data_wait", 0);
    cJSON_AddNumberToObject(sp, "forward", med[4]);
    cJSON_AddNumberToObject(sp, "backward", fmax(0.0, med[1] - med[4]));
    cJSON_AddNumberToObject(sp, "forward_backward", med[1]);
    cJSON_AddNumberToObject(sp, "allreduce", med[2]);
    cJSON_AddNumberToObject(sp, "update", med[3]);
    cJSON_AddStringToObject(res, "split_note",
                            "medians over the timed steps, each phase ended by a device sync; data wait is 0 (the "
                            "batch is synthetic and resident in host memory: copied to the GPU during the step "
                            "before, as training's input feed does (data.device_prefetch), else uploaded inside "
                            "the forward); forward "
                            "is timed in separate forward-only passes (the same forward, no gradient), backward = "
                            "forward_backward - forward");
    cJSON_AddNumberToObject(res, "peak_bytes", r->peak);
    cJSON_AddNumberToObject(res, "peak_gib", r->peak / (1024.0 * 1024.0 * 1024.0));
    /* what the planner's allowance for the CUDA runtime (PLAN_CUDA_RESERVE_BYTES) stands for, measured:
     * the context before the model, and the peak beyond what the planner counts */
    cJSON_AddItemToObject(res, "planned_bytes", bench_number_or_null(r->planned, r->planned > 0));
    cJSON_AddItemToObject(res, "cuda_context_bytes", bench_number_or_null(r->context, r->context > 0));
    cJSON_AddItemToObject(res, "unplanned_bytes",
                          bench_number_or_null(r->context + r->peak - r->planned, r->planned > 0));
    cJSON_AddStringToObject(res, "peak_method", r->peak_method);
    /* the forward-only passes (at eval_batch), apart: they are not part of a training step */
    cJSON_AddItemToObject(res, "eval_peak_bytes", bench_number_or_null(r->eval_peak, r->eval_peak >= 0));
    cJSON_AddItemToObject(res, "eval_peak_gib",
                          bench_number_or_null(r->eval_peak / (1024.0 * 1024.0 * 1024.0), r->eval_peak >= 0));
    cJSON_AddStringToObject(res, "eval_peak_method", r->eval_peak_method);
    cJSON_AddNumberToObject(res, "process_peak_rss_bytes", r->process_peak);
    cJSON *fj = cJSON_AddObjectToObject(res, "flops");
    cJSON_AddNumberToObject(fj, "train_step", train_flops * r->ranks);
    cJSON_AddNumberToObject(fj, "per_rank_step", train_flops);
    cJSON_AddNumberToObject(fj, "forward", fl.forward);
    cJSON_AddNumberToObject(fj, "backward_input", fl.backward_input);
    cJSON_AddNumberToObject(fj, "backward_weight", fl.backward_weight);
    /* run but not counted: the adapters' fc1 again in the backward (the profile's FLOPs are these plus the model's) */
    cJSON_AddNumberToObject(fj, "recompute", fl.recompute);
    cJSON_AddNumberToObject(fj, "eval_forward", fl_eval.forward);
    cJSON_AddStringToObject(fj, "counted",
                            "matrix products only, 2 per multiply-add: forward of every tower run in the step (class "
                            "prompts included), one input-gradient product per linear the gradient crosses, four "
                            "per attention, one weight-gradient product per trainable linear");
    double achieved = train_flops / med[0];
    cJSON_AddNumberToObject(res, "achieved_tflops", achieved * 1e-12);
    cJSON_AddItemToObject(res, "peak_tflops", bench_number_or_null(peak_tf, have_peak));
    cJSON_AddItemToObject(res, "peak_source", peak_source && have_peak ? cJSON_CreateString(peak_source)
                                                                       : cJSON_CreateNull());
    cJSON_AddItemToObject(res, "mfu", bench_number_or_null(achieved / (peak_tf * 1e12), have_peak));
    double eval_t = eval_runs ? med[5] : med[4];
    cJSON_AddItemToObject(res, "eval_mfu",
                          bench_number_or_null(fl_eval.forward / eval_t / (peak_tf * 1e12), have_peak));
    cJSON_AddNumberToObject(res, "loss", t->loss / b);
    cJSON_AddNumberToObject(res, "skipped_updates", t->skipped);
    cJSON_AddNumberToObject(res, "build_s", r->t_build);

    return res;
}

cJSON *bench_run(const BenchOptions *o, Group *g, Err *err) {
    BenchSetup s;
    if (bench_setup(o, g, &s, err) != 0) return NULL;
    Config *cfg = &s.cfg;

    /* a random CLIP of the preset (dfer init's code), in memory; the high level's descriptions */
    TensorMap hf;
    if (clip_init_random(&s.cc, (uint64_t)o->seed, &hf, err) != 0) return NULL;
    Descriptions *descs = NULL;
    if (s.finecliper && strstr(cfg->variant, "high") && bench_descriptions(o, s.nb, &descs, err) != 0) {
        tmap_free(&hf);
        return NULL;
    }
    JobModel m;
    double t_build = time_now();
    int rc = job_model_create_from_map(cfg, o->classes, descs, &hf, &s.cc, &m, err);
    tmap_free(&hf);
    if (rc != 0) return NULL;
    t_build = time_now() - t_build;
    if (ops_backend(m.ops) != s.backend) {
        err_set(err, "internal: the model was built on the %s backend although %s was asked",
                ops_backend(m.ops) == BACKEND_CPU ? "CPU" : "CUDA", s.backend == BACKEND_CPU ? "the CPU" : "CUDA");
        job_model_free(&m);
        return NULL;
    }
    /* the micro-batch and recompute, as the trainer chooses them (plan_apply) */
    MemoryPlan plan;
    if (plan_apply(cfg, o->classes, s.arch, g->size, &m, &plan, err) != 0) {
        job_model_free(&m);
        return NULL;
    }
    const char *mb_note = cfg->micro_batch > 0 ? "train.micro_batch"
                          : plan.micro_batch   ? "the memory planner (train.gpu_mem)"
                                               : "the whole batch (the CPU takes a rank's share in one pass)";
    OptimizerConfig oc;
    job_model_optimizer_config(cfg, &m, &oc);
    Optimizer opt;
    if (optimizer_create(m.params, &oc, &opt, err) != 0) {
        job_model_free(&m);
        return NULL;
    }
    BenchInputs bi;
    bench_inputs(o, g, &m, cfg, s.nb, &bi);
    int hwm_reset = s.backend == BACKEND_CPU && bench_rss_peak_reset() == 0;
    BenchTimes t;
    bench_time(o, g, &m, &opt, &bi, s.b, &t);
    /* the training peak before any forward-only pass (an evaluation batch larger than the training one
     * would raise it); then the forward-only passes' own */
    const char *peak_method, *eval_peak_method;
    double peak = bench_peak_memory(s.backend, hwm_reset, g, &peak_method);
    int eval_hwm_reset = hwm_reset && bench_rss_peak_reset() == 0;
    size_t cuda_high = bench_time_forward(o, &m, &bi, s.b, s.eval_b, &t);
    double eval_peak = bench_eval_peak_memory(s.backend, eval_hwm_reset, cuda_high, g, &eval_peak_method);
    BenchShape sh = bench_shape(&m, s.b);
    double process_peak = bench_process_peak_bytes();

    BenchRun run = {.o = o, .s = &s, .m = &m, .oc = &oc, .t = &t, .sh = sh, .mb_note = mb_note,
                    .peak_method = peak_method, .eval_peak_method = eval_peak_method, .peak = peak,
                    .eval_peak = eval_peak, .process_peak = process_peak, .t_build = t_build, .plan = &plan,
                    .ranks = g->size};
    /* the plan's prefetch slots hold a rank's larger batch; the benchmark's hold its nb clips */
    if (plan.micro_batch)
        run.planned = (double)(plan.total - plan.reserve - plan.input_prefetch + job_model_prefetch_bytes(&m, s.nb));
#ifdef DFER_WITH_CUDA
    if (s.backend == BACKEND_CUDA) run.context = (double)dfer_cuda_baseline_bytes();
#endif
    cJSON *res = bench_report(&run);
    if (o->profile_steps > 0)
        cJSON_AddItemToObject(res, "op_profile", bench_profile(o, g, &m, &opt, &bi, s.b, s.device_name));
    bench_inputs_free(&bi);
    bench_times_free(&t);
    optimizer_free(&opt);
    job_model_free(&m);
    return res;
}
