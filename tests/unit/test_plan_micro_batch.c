/* The planner's micro-batch need not divide a rank's share: the share goes through in
 * ceil(share / micro-batch) passes, the last one shorter (job_model_step).
 *  - a step of 8 clips in passes of 3 (3 + 3 + 2) gives the loss and every parameter gradient of
 *    one pass of 8 (F64, tiny CLIP on the CPU, FineCLIPER low level and DFER-CLIP): the global batch
 *    is kept;
 *  - the plan of L/14 FineCLIPER low at 16 frames, global batch 32 under 24 GiB (no recompute) takes
 *    the largest micro-batch that fits, 6 (6 passes), where the divisors of 32 gave 4 (8 passes): one
 *    clip more does not fit, and the plan's activations are those of 6 clips;
 *  - train.micro_batch = 6 (no divisor of 32) is planned as set, 5 + 1 passes; more than the share
 *    is the share in one pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "io/safetensors.h"
#include "model/clip_init.h"
#include "testlib.h"
#include "train/config.h"
#include "train/job_model.h"
#include "train/plan.h"

static void base_config(Config *c) {
    config_defaults(c);
    snprintf(c->vocab, sizeof c->vocab, "%s/clip/bpe_simple_vocab_16e6.txt.gz", test_shared_dir());
}

/* One training step of `batch` clips in passes of `micro` (0: one pass): its loss, and the gradients
 * (numel doubles, malloc'ed). */
static double step(JobModel *m, const JobInputs *in, const int32_t *labels, int batch, int micro, double **grads) {
    m->micro_batch = micro;
    paramset_zero_grads(m->params);
    double loss = job_model_step(m, in, labels, batch, 1, 1.0f / (float)batch, NULL);
    *grads = malloc(m->params->numel * sizeof(double));
    memcpy(*grads, m->params->grads, m->params->numel * sizeof(double));
    return loss;
}

static void check_uneven_passes(const char *method) {
    Config c;
    base_config(&c);
    Err err;
    char set[64];
    snprintf(set, sizeof set, "model.method=%s", method);
    EXPECT(config_set(&c, set, &err) == 0, "%s", err.msg);
    EXPECT(config_set(&c, "model.dtype=f64", &err) == 0, "%s", err.msg);
    EXPECT(config_set(&c, "train.device=cpu", &err) == 0, "%s", err.msg);
    EXPECT(config_set(&c, "data.frames=2", &err) == 0, "%s", err.msg);
    EXPECT(config_set(&c, "train.threads=1", &err) == 0, "%s", err.msg);
    ClipConfig cc;
    EXPECT(clip_config_preset("tiny", &cc, &err) == 0, "%s", err.msg);
    TensorMap hf;
    EXPECT(clip_init_random(&cc, 5, &hf, &err) == 0, "%s", err.msg);
    JobModel m;
    int rc = job_model_create_from_map(&c, 7, NULL, &hf, &cc, &m, &err);
    tmap_free(&hf);
    EXPECT(rc == 0, "%s: %s", method, err.msg);
    if (rc != 0) return;
    EXPECT(m.params->dtype == DT_F64 && !m.uint8_frames, "%s: an F64 model on normalised reals", method);
    enum { B = 8 };
    size_t clip_bytes = job_model_clip_bytes(&m), n = B * clip_bytes / sizeof(double);
    double *frames = malloc(B * clip_bytes);
    Rng r;
    rng_init(&r, 7, 1, 0, 0);
    for (size_t k = 0; k < n; k++) frames[k] = rng_normal(&r) * (strcmp(method, "finecliper") ? 0.3 : 1.0) +
                                              (strcmp(method, "finecliper") ? 0.5 : 0.0);
    int32_t labels[B];
    for (int i = 0; i < B; i++) labels[i] = (int32_t)((i * 5 + 1) % 7);
    JobInputs in = {.frames = frames};
    double *g1, *g3;
    double l1 = step(&m, &in, labels, B, 0, &g1), l3 = step(&m, &in, labels, B, 3, &g3);
    EXPECT(isfinite(l1) && l1 > 0, "%s: loss %g", method, l1);
    EXPECT(fabs(l1 - l3) <= 1e-12 * fabs(l1), "%s: loss of 8 clips in one pass %.17g, in passes of 3+3+2 %.17g",
           method, l1, l3);
    double worst = 0, norm = 0;
    for (size_t k = 0; k < m.params->numel; k++) {
        worst = fmax(worst, fabs(g1[k] - g3[k]));
        norm = fmax(norm, fabs(g1[k]));
    }
    EXPECT(norm > 0 && worst <= 1e-12 * norm, "%s: gradients differ by %.3g (largest %.3g) between one pass and 3+3+2",
           method, worst, norm);
    printf("%s: 8 clips in one pass and in passes of 3+3+2: loss %.12g and %.12g, gradients within %.2g of %.2g\n",
           method, l1, l3, worst, norm);
    free(g1), free(g3), free(frames);
    job_model_free(&m);
}

static void test_uneven_passes_keep_the_batch(void) {
    check_uneven_passes("finecliper");
    check_uneven_passes("dfer_clip");
}

static void l14_config(Config *c) {
    base_config(c);
    c->frames = 16;
    c->batch = 32;
    c->eval_batch = 32;
    c->gpu_mem = 24;
    snprintf(c->recompute, sizeof c->recompute, "none");
}

static void test_largest_micro_batch_that_fits(void) {
    Config c;
    l14_config(&c);
    MemoryPlan p, one_more;
    Err err;
    EXPECT(plan_memory(&c, 7, BACKEND_CUDA, "l14", 1, &p, &err) == 0, "%s", err.msg);
    EXPECT(p.fits && p.micro_batch == 6 && p.accumulation == 6, "L/14 low, 24 GiB: micro-batch %d x %d passes (%s)",
           p.micro_batch, p.accumulation, p.fits ? "fits" : "does not fit");
    c.micro_batch = p.micro_batch + 1;
    EXPECT(plan_memory(&c, 7, BACKEND_CUDA, "l14", 1, &one_more, &err) == 0, "%s", err.msg);
    EXPECT(!one_more.fits && one_more.micro_batch == p.micro_batch + 1,
           "micro-batch %d fits too (%.3f GiB): the planner did not take the largest", one_more.micro_batch,
           one_more.total / 1073741824.0);
    EXPECT(one_more.activations > p.activations, "the plan's activations (%zu) are not those of its smaller "
           "micro-batch (%d clips: %zu)", p.activations, one_more.micro_batch, one_more.activations);
    printf(
        "L/14 FineCLIPER low, 16 frames, batch 32, 24 GiB: micro-batch %d x %d passes, %.3f GiB; %d clips: %.3f GiB\n",
        p.micro_batch, p.accumulation, p.total / 1073741824.0, one_more.micro_batch, one_more.total / 1073741824.0);
}

static void test_set_micro_batch_need_not_divide(void) {
    Config c;
    l14_config(&c);
    c.micro_batch = 6;
    MemoryPlan p;
    Err err;
    EXPECT(plan_memory(&c, 7, BACKEND_CUDA, "l14", 1, &p, &err) == 0, "train.micro_batch 6 of 32: %s", err.msg);
    EXPECT(p.micro_batch == 6 && p.accumulation == 6 && p.fits, "train.micro_batch 6: %d x %d", p.micro_batch,
           p.accumulation);
    c.micro_batch = 64; /* more than the share: the share in one pass */
    snprintf(c.method, sizeof c.method, "finecliper");
    c.gpu_mem = 400;
    EXPECT(plan_memory(&c, 7, BACKEND_CUDA, "l14", 1, &p, &err) == 0, "train.micro_batch 64 of 32: %s", err.msg);
    EXPECT(p.micro_batch == 32 && p.accumulation == 1, "train.micro_batch 64 of 32: %d x %d", p.micro_batch,
           p.accumulation);
}

int main(void) {
    TEST_RUN(test_uneven_passes_keep_the_batch);
    TEST_RUN(test_largest_micro_batch_that_fits);
    TEST_RUN(test_set_micro_batch_need_not_divide);
    return test_summary();
}
