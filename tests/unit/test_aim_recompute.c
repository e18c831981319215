/* train.recompute's levels (model/layers.h's Recompute, in model/aim_vision.c's blocks) change what the ViT
 * streams keep, not what they compute:
 *  - the loss and every trainable gradient of a FineCLIPER step (tiny CLIP, F64, CPU) at qkv, qkv-fc1 and blocks
 *    equal, bitwise, those at none: the low level with the middle level's two map streams (three AIM encoders),
 *    with video adapters and without them (the plain frozen blocks), and a model whose level is changed after a
 *    step (finecliper_set_recompute: its activations are allocated again the new way);
 *  - the activation arena drops by exactly the tensors a level does not keep, computed here from the shapes:
 *    qkv, every block's two qkv [rows, 3W] in each stream; qkv-fc1, also every block's fc1 output [rows, 4W]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/finecliper.h"
#include "testlib.h"
#include "tiny_clip.h"

static Ops *g_ops;

enum { FRAMES = 3, CLASSES = 3, BATCH = 2, STREAMS = 3 /* the low level's encoder and two map streams */ };

static void tiny_model(ClipModel *clip, int video_adapters, int recompute, FineCliper *m) {
    FineCliperConfig cfg;
    finecliper_config_default(&cfg);
    cfg.frames = FRAMES, cfg.num_classes = CLASSES, cfg.temperature = 0.5f;
    cfg.video_adapters = video_adapters;
    cfg.mid_streams = FC_MID_PARSING | FC_MID_LANDMARKS;
    cfg.recompute = recompute;
    tiny_finecliper(g_ops, clip, &cfg, m);
}

typedef struct {
    Tensor frames, parsing, landmarks;
    int32_t labels[BATCH];
} Batch;

static double train_step(FineCliper *m, const Batch *b) {
    FineCliperInputs in = {.frames = b->frames.data, .parsing = b->parsing.data, .landmarks = b->landmarks.data};
    paramset_zero_grads(&m->params);
    return finecliper_step(m, &in, b->labels, BATCH, 1, 1.0f, NULL);
}

static void check_levels_bitwise(int video_adapters) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 1);
    int64_t n = (int64_t)BATCH * FRAMES * 3 * 8 * 8; /* [B*T,3,8,8] */
    Batch b = {tiny_random(1, n, 0, 0, 1.0, 0), tiny_random(1, n, 0, 0, 1.0, 0.3), tiny_random(1, n, 0, 0, 1.0, -0.2),
               {2, 0}};
    FineCliper ref;
    tiny_model(&clip, video_adapters, RECOMPUTE_NONE, &ref);
    params_randomise(&ref.params, 0.3); /* zero fc2s would leave most adapter gradients zero */
    double loss_ref = train_step(&ref, &b);
    EXPECT(isfinite(loss_ref) && loss_ref > 0, "loss %g", loss_ref);
    for (int level = RECOMPUTE_NONE + 1; level < RECOMPUTE_LEVELS; level++) {
        /* built at the level, and one built at none that is switched to it after a step */
        for (int switched = 0; switched < 2; switched++) {
            FineCliper m;
            tiny_model(&clip, video_adapters, switched ? RECOMPUTE_NONE : level, &m);
            tiny_copy_values(&ref.params, &m.params);
            if (switched) {
                train_step(&m, &b);
                finecliper_set_recompute(&m, level);
            }
            double loss = train_step(&m, &b);
            const char *first;
            double largest = 0;
            int64_t differ = tiny_grads_differ(&ref.params, &m.params, &first, &largest);
            EXPECT(loss == loss_ref && differ == 0 && largest > 0,
                   "video adapters %d, recompute %s%s: loss %.17g (none: %.17g), %lld gradient entries differ "
                   "(the first in %s), largest gradient %g",
                   video_adapters, recompute_name(level), switched ? " (switched after a step)" : "", loss,
                   loss_ref, (long long)differ, first ? first : "-", largest);
            EXPECT(m.aim.recompute == level, "the model allocated level %d, not %d", m.aim.recompute, level);
            printf("  video adapters %d, recompute %-7s%s: loss %.12g and %d gradient tensors bitwise those of none\n",
                   video_adapters, recompute_name(level), switched ? " (switched)" : "           ", loss,
                   m.params.count);
            finecliper_free(&m);
        }
    }
    finecliper_free(&ref);
    tiny_clip_free(&clip);
    free(b.frames.data), free(b.parsing.data), free(b.landmarks.data);
}

static void test_levels_bitwise_with_adapters(void) { check_levels_bitwise(1); }
static void test_levels_bitwise_frozen_blocks(void) { check_levels_bitwise(0); }

static void test_arena_drops_by_the_wide_tensors(void) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 1);
    const ClipConfig *c = &clip.cfg;
    size_t es = dtype_size(clip.dtype), rows = (size_t)BATCH * FRAMES * (size_t)clip_vision_tokens(c);
    size_t W = (size_t)c->vision_width, blocks = (size_t)STREAMS * (size_t)c->vision_layers;
    /* the temporal attention's qkv [B*S,T,3W] has as many entries as the spatial one's [B*T,S,3W] */
    size_t qkv = 2 * tiny_arena_bytes(rows * 3 * W * es), fc1 = tiny_arena_bytes(rows * 4 * W * es);
    size_t capacity[RECOMPUTE_LEVELS];
    for (int level = 0; level < RECOMPUTE_LEVELS; level++) {
        FineCliper m;
        tiny_model(&clip, 1, level, &m);
        finecliper_reserve(&m, BATCH);
        capacity[level] = m.acts.capacity;
        finecliper_free(&m);
    }
    size_t want_qkv = blocks * qkv, want_fc1 = blocks * fc1;
    EXPECT(capacity[RECOMPUTE_NONE] - capacity[RECOMPUTE_QKV] == want_qkv,
           "qkv keeps %zu bytes of activations, none %zu: %zu less, not the %zu of %zu blocks' qkv",
           capacity[RECOMPUTE_QKV], capacity[RECOMPUTE_NONE],
           capacity[RECOMPUTE_NONE] - capacity[RECOMPUTE_QKV], want_qkv, blocks);
    EXPECT(capacity[RECOMPUTE_QKV] - capacity[RECOMPUTE_QKV_FC1] == want_fc1,
           "qkv-fc1 keeps %zu bytes, qkv %zu: %zu less, not the %zu of %zu blocks' fc1 outputs",
           capacity[RECOMPUTE_QKV_FC1], capacity[RECOMPUTE_QKV],
           capacity[RECOMPUTE_QKV] - capacity[RECOMPUTE_QKV_FC1], want_fc1, blocks);
    EXPECT(capacity[RECOMPUTE_BLOCKS] < capacity[RECOMPUTE_NONE], "blocks keeps %zu bytes, none %zu",
           capacity[RECOMPUTE_BLOCKS], capacity[RECOMPUTE_NONE]);
    printf("  activation arena (%zu blocks in %d streams): none %zu, qkv %zu, qkv-fc1 %zu, blocks %zu bytes\n", blocks,
           STREAMS, capacity[0], capacity[1], capacity[2], capacity[3]);
    tiny_clip_free(&clip);
}

static void test_level_names(void) {
    for (int level = 0; level < RECOMPUTE_LEVELS; level++)
        EXPECT(recompute_parse(recompute_name(level)) == level, "level %d: name %s parses to %d", level,
               recompute_name(level), recompute_parse(recompute_name(level)));
    EXPECT(recompute_parse("auto") == -1 && recompute_parse("qkv-fc2") == -1, "auto and qkv-fc2 are levels");
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_levels_bitwise_with_adapters);
    TEST_RUN(test_levels_bitwise_frozen_blocks);
    TEST_RUN(test_arena_drops_by_the_wide_tensors);
    TEST_RUN(test_level_names);
    ops_destroy(g_ops);
    return test_summary();
}
