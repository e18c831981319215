/* plan_apply_inference: `dfer eval` and `dfer predict` on CUDA pass their batches through the
 * model in micro-batches that the planner sizes for train.gpu_mem. Checked without a GPU on a
 * model built on the counting context as the CUDA backend (what the planner itself uses): B/16
 * FineCLIPER (low) at 16 frames, an evaluation batch of 64 clips on one rank.
 *  - a cap that holds the whole batch: one pass of 64;
 *  - a tight cap: a smaller micro-batch whose plan fits the cap, and the model takes it;
 *  - a cap under one clip: refused, naming train.gpu_mem;
 *  - train.micro_batch (a training setting) does not limit the passes on CUDA: the same plan as without it;
 *  - the plan is of forward-only activations (the model is switched to them) without optimiser state: under a
 *    quarter of a training step's activations a clip;
 *  - the model gives up its gradient buffer: the device memory drops by exactly it, the plan counts the
 *    parameters once (half of a training plan's "trainable + grads"), and the model refuses to train again;
 *  - a zero-shot (contrastive) model's evaluation and DFER-CLIP's split into passes as well;
 *  - on the CPU backend: no plan (the whole batch at once, or train.micro_batch when set), the gradients
 *    released all the same. */
#include <string.h>
#include <sys/stat.h>

#include "model/layers.h"
#include "model/params.h"
#include "testlib.h"
#include "train/config.h"
#include "train/job_model.h"
#include "train/plan.h"

static void base_config(Config *c) {
    config_defaults(c);
    snprintf(c->vocab, sizeof c->vocab, "%s/clip/bpe_simple_vocab_16e6.txt.gz", test_shared_dir());
    c->frames = 16;
    c->batch = 32;
}

/* The plan for an evaluation batch of `batch` clips under `gpu_mem` GiB; the model's micro-batch after. */
static int plan(Config *c, Backend as, int batch, MemoryPlan *p, int *model_micro_batch, Err *err) {
    JobModel m;
    EXPECT(job_model_create_counting(c, 7, as, "b16", &m, err) == 0, "counting model: %s", err->msg);
    size_t before = ops_memory_in_use(m.ops), params = paramset_device_bytes(m.params);
    int rc = plan_apply_inference(c, 7, "b16", batch, &m, p, err);
    *model_micro_batch = m.micro_batch;
    EXPECT(job_model_forward_only(&m), "plan_apply_inference left the model with training activations");
    /* the gradient buffer, half of the parameters' two (each in 256-byte units), is gone and nothing else moved */
    EXPECT(!m.params->grads && before - ops_memory_in_use(m.ops) == params / 2 &&
               paramset_device_bytes(m.params) == params / 2,
           "the model kept its gradients (%p) or freed %zu bytes where the buffer is %zu", m.params->grads,
           before - ops_memory_in_use(m.ops), params / 2);
    job_model_free(&m);
    return rc;
}

/* A model set up for evaluation only, switched back to training: refused, naming what was released. */
static void train_after_evaluation_only(void) {
    Config c;
    base_config(&c);
    JobModel m;
    Err err;
    if (job_model_create_counting(&c, 7, BACKEND_CUDA, "b16", &m, &err) != 0) return;
    job_model_evaluation_only(&m);
    job_model_set_forward_only(&m, 0);
}

static void test_no_way_back_to_training(void) {
    char err[4096];
    const char *tmp = test_tmpdir(); /* the child's exit must leave this process's folder (testlib) */
    int rc = test_exit_status_of(train_after_evaluation_only, err, sizeof err);
    EXPECT(rc == 2 && strstr(err, "evaluation only") && strstr(err, "gradients were released"),
           "switching an evaluation-only model back to training: exit %d, %s", rc, err);
    struct stat st;
    EXPECT(stat(tmp, &st) == 0 && S_ISDIR(st.st_mode), "the dying child removed the test's folder %s", tmp);
}

static void test_micro_batches_follow_the_cap(void) {
    Config c;
    base_config(&c);
    MemoryPlan p;
    Err err;
    int mb;
    c.gpu_mem = 200;
    EXPECT(plan(&c, BACKEND_CUDA, 64, &p, &mb, &err) == 0, "%s", err.msg);
    EXPECT(p.fits && p.micro_batch == 64 && mb == 64, "200 GiB: one pass of 64 (plan %d, model %d)", p.micro_batch, mb);
    size_t per_clip = p.activations_per_clip;
    /* a pass that trains nothing: forward-only activations, no optimiser state, a fraction of a training step's */
    MemoryPlan train;
    EXPECT(plan_memory(&c, 7, BACKEND_CUDA, "b16", 1, &train, &err) == 0, "%s", err.msg);
    EXPECT(2 * p.trainable == train.trainable && p.weights == train.weights,
           "evaluation counts the parameters once (%zu bytes), training with their gradients (%zu); weights %zu, %zu",
           p.trainable, train.trainable, p.weights, train.weights);
    EXPECT(p.forward_only && p.optimizer == 0 && !train.forward_only && train.optimizer > 0 &&
               4 * per_clip < train.activations_per_clip,
           "evaluation: %zu bytes of activations a clip (forward only %d), optimiser %zu; training %zu a clip",
           per_clip, p.forward_only, p.optimizer, train.activations_per_clip);
    printf("B/16 FineCLIPER low, 16 frames: %.3f GiB of activations a clip to evaluate, %.3f to train\n",
           per_clip / 1073741824.0, train.activations_per_clip / 1073741824.0);

    c.gpu_mem = 8;
    EXPECT(plan(&c, BACKEND_CUDA, 64, &p, &mb, &err) == 0, "%s", err.msg);
    EXPECT(p.fits && p.total <= p.cap, "8 GiB: the plan fits (%.2f of %.2f GiB)", p.total / 1073741824.0,
           p.cap / 1073741824.0);
    EXPECT(p.micro_batch > 0 && p.micro_batch < 64 && mb == p.micro_batch,
           "8 GiB: a smaller micro-batch, taken by the model (plan %d, model %d)", p.micro_batch, mb);
    /* and one pass fewer would not have fitted (or recompute made this one fit) */
    int passes = (64 + p.micro_batch - 1) / p.micro_batch, next = (64 + passes - 2) / (passes - 1);
    EXPECT(p.accumulation == passes, "8 GiB: %d passes of %d, not %d", p.accumulation, p.micro_batch, passes);
    EXPECT(p.total - p.activations + (size_t)next * per_clip > p.cap,
           "8 GiB: %d passes of %d clips would have fitted too", passes - 1, next);
    printf("B/16 FineCLIPER low, 16 frames, evaluation batch 64: 200 GiB -> 64 per pass; 8 GiB -> %d per pass "
           "(%.2f GiB%s%s)\n", p.micro_batch, p.total / 1073741824.0, p.recompute ? ", " : "",
           p.recompute ? recompute_phrase(p.recompute) : "");

    c.gpu_mem = 1.2f;
    EXPECT(plan(&c, BACKEND_CUDA, 64, &p, &mb, &err) != 0 && strstr(err.msg, "train.gpu_mem"),
           "1.2 GiB: refused naming train.gpu_mem (%s)", err.msg);
}

static void test_training_micro_batch_not_a_limit(void) {
    Config c;
    base_config(&c);
    c.gpu_mem = 8;
    MemoryPlan planned, p;
    Err err;
    int mb;
    EXPECT(plan(&c, BACKEND_CUDA, 64, &planned, &mb, &err) == 0, "%s", err.msg);
    for (int set = 4; set <= 5; set++) { /* 5 does not divide 64, 4 does */
        c.micro_batch = set;
        EXPECT(plan(&c, BACKEND_CUDA, 64, &p, &mb, &err) == 0, "%s", err.msg);
        EXPECT(p.micro_batch == planned.micro_batch && p.accumulation == planned.accumulation && mb == p.micro_batch &&
                   p.fits && p.micro_batch > set,
               "train.micro_batch %d: planned %d x %d passes (model %d), without it %d x %d", set, p.micro_batch,
               p.accumulation, mb, planned.micro_batch, planned.accumulation);
    }
}

/* A zero-shot (contrastive) run's evaluation scores the class texts: its passes split like any other (a contrastive
 * training step needs a rank's clips at once, an evaluation pass does not), and so do DFER-CLIP's. */
static void test_contrastive_and_dfer_clip_split(void) {
    for (int k = 0; k < 2; k++) {
        Config c;
        base_config(&c);
        c.gpu_mem = 8;
        if (k == 0) snprintf(c.objective, sizeof c.objective, "contrastive");
        else snprintf(c.method, sizeof c.method, "dfer_clip");
        MemoryPlan p;
        Err err;
        int mb;
        int rc = plan(&c, BACKEND_CUDA, 64, &p, &mb, &err);
        EXPECT(rc == 0 && p.fits && p.forward_only && p.micro_batch > 0 && p.micro_batch < 64 && mb == p.micro_batch,
               "%s, evaluation batch 64 under 8 GiB: %s (plan %d clips a pass, model %d)",
               k ? "DFER-CLIP" : "contrastive FineCLIPER", rc ? err.msg : "planned", p.micro_batch, mb);
        printf("%s, evaluation batch 64 under 8 GiB: %d clips a pass (%.2f GiB)\n",
               k ? "DFER-CLIP" : "contrastive FineCLIPER", p.micro_batch, p.total / 1073741824.0);
    }
}

static void test_cpu_unchanged(void) {
    Config c;
    base_config(&c);
    c.gpu_mem = 1.2f;
    MemoryPlan p;
    Err err;
    int mb;
    EXPECT(plan(&c, BACKEND_CPU, 64, &p, &mb, &err) == 0, "%s", err.msg);
    EXPECT(mb == 0 && p.micro_batch == 0, "CPU: no plan, the whole batch (model %d)", mb);
    c.micro_batch = 5;
    EXPECT(plan(&c, BACKEND_CPU, 64, &p, &mb, &err) == 0, "%s", err.msg);
    EXPECT(mb == 5 && p.micro_batch == 0, "CPU: no plan, train.micro_batch's passes (model %d)", mb);
}

int main(void) {
    TEST_RUN(test_micro_batches_follow_the_cap);
    TEST_RUN(test_training_micro_batch_not_a_limit);
    TEST_RUN(test_no_way_back_to_training);
    TEST_RUN(test_contrastive_and_dfer_clip_split);
    TEST_RUN(test_cpu_unchanged);
    return test_summary();
}
