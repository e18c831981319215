/* FineCLIPER's adapter widths from model.bottleneck_divisor and model.mid_high_bottleneck_divisor: a divisor larger
 * than a tower's width leaves its adapters no hidden unit. finecliper_create refuses that, naming the key and the
 * tower (it used to build the model, whose first step dereferenced the text tower's missing block outputs: a
 * segmentation fault of `dfer train --set model.bottleneck_divisor=200` on the tiny CLIP); the largest divisor
 * that leaves one hidden unit trains. The tiny CLIP's towers are 8 wide. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/finecliper.h"
#include "testlib.h"
#include "tiny_clip.h"

static Ops *g_ops;

enum { FRAMES = 2, CLASSES = 3, BATCH = 2 };

static int create(ClipModel *clip, FineCliperConfig *cfg, FineCliper *m, Err *err) {
    int32_t pos[CLASSES * 12], neg[CLASSES * 12];
    tiny_prompts(pos, CLASSES, 0, 0);
    tiny_prompts(neg, CLASSES, 1, 0);
    return finecliper_create(g_ops, clip, NULL, cfg, pos, neg, 5, m, err);
}

static void base_config(FineCliperConfig *cfg) {
    finecliper_config_default(cfg);
    cfg->frames = FRAMES, cfg->num_classes = CLASSES, cfg->temperature = 0.5f;
}

/* create must fail with a message holding both words */
static void expect_refused(ClipModel *clip, FineCliperConfig *cfg, const char *key, const char *tower) {
    FineCliper m;
    Err err = {{0}};
    int rc = create(clip, cfg, &m, &err);
    EXPECT(rc != 0, "divisors %d/%d with a width of 8 were accepted", cfg->bottleneck_divisor,
           cfg->mid_high_bottleneck_divisor);
    if (rc == 0) {
        finecliper_free(&m);
        return;
    }
    EXPECT(strstr(err.msg, key) && strstr(err.msg, tower), "the message names %s and the %s tower: %s", key, tower,
           err.msg);
}

static void test_divisor_beyond_width_refused(void) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 1);
    FineCliperConfig cfg;
    base_config(&cfg);
    cfg.bottleneck_divisor = 9;
    expect_refused(&clip, &cfg, "model.bottleneck_divisor", "vision");
    cfg.video_adapters = 0; /* the text adapters alone */
    expect_refused(&clip, &cfg, "model.bottleneck_divisor", "text");
    base_config(&cfg);
    cfg.mid_streams = FC_MID_LANDMARKS, cfg.mid_high_bottleneck_divisor = 16;
    expect_refused(&clip, &cfg, "model.mid_high_bottleneck_divisor", "middle-level vision");
    /* no adapters at all: the divisor sizes nothing */
    base_config(&cfg);
    cfg.bottleneck_divisor = 9, cfg.video_adapters = 0, cfg.text_adapters = 0;
    FineCliper m;
    Err err;
    EXPECT(create(&clip, &cfg, &m, &err) == 0, "a model without adapters: %s", err.msg);
    finecliper_free(&m);
    tiny_clip_free(&clip);
}

/* A divisor equal to the width: one hidden unit per adapter, and a training step with a finite loss */
static void test_one_hidden_unit_trains(void) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 1);
    FineCliperConfig cfg;
    base_config(&cfg);
    cfg.bottleneck_divisor = 8;
    FineCliper m;
    Err err;
    EXPECT(create(&clip, &cfg, &m, &err) == 0, "divisor 8: %s", err.msg);
    int fc1 = paramset_find(&m.params, "text.positive.blocks.0.adapter.fc1.weight");
    EXPECT(fc1 >= 0 && paramset_get(&m.params, fc1)->shape[0] == 1, "one hidden unit in the text adapters");
    Tensor frames = tiny_random(1, (int64_t)BATCH * FRAMES * 3 * 8 * 8, 0, 0, 1.0, 0);
    int32_t labels[BATCH] = {2, 0};
    FineCliperInputs in = {.frames = frames.data};
    paramset_zero_grads(&m.params);
    double loss = finecliper_step(&m, &in, labels, BATCH, 1, 1.0f, NULL);
    EXPECT(isfinite(loss) && loss > 0, "loss %g", loss);
    free(frames.data);
    finecliper_free(&m);
    tiny_clip_free(&clip);
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_divisor_beyond_width_refused);
    TEST_RUN(test_one_hidden_unit_trains);
    ops_destroy(g_ops);
    return test_summary();
}
