/* train.recompute's levels (model/layers.h, Recompute) in DFER-CLIP's fine-tuned image encoder change what its
 * blocks keep, not what they compute:
 *  - the loss and every trainable gradient of a DFER-CLIP step (tiny CLIP of 3 vision blocks, F64, CPU) at qkv,
 *    qkv-fc1 and blocks equal, bitwise, those at none, for a model built at the level and for one switched to it
 *    after a step
 *    (dfer_clip_set_recompute: its activations are allocated again the new way); and two steps in a row at
 *    blocks equal two at none (the shared set refilled in the backward leaves nothing behind for the next step);
 *  - the activation arena drops by exactly what a level does not keep, computed from the shapes: qkv, every
 *    block's qkv [rows, 3W]; qkv-fc1, also its fc1 output [rows, 4W]; blocks, all but one block's set save its
 *    input (the set measured on its own with block_acts_alloc);
 *  - a frozen image encoder (no backward crosses it) keeps one set of block activations for all its blocks, takes
 *    no level, and its forward is bitwise the trained encoder's at the same weights. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/dfer_clip.h"
#include "testlib.h"
#include "tiny_clip.h"

static Ops *g_ops;

/* 3 vision blocks: at blocks the backward refills the shared set twice, the second time after a refill */
enum { FRAMES = 3, CLASSES = 3, CONTEXTS = 2, BATCH = 2, VISION_LAYERS = 3 };

static void tiny_model_trained(ClipModel *clip, int recompute, int train_image_encoder, DferClip *m) {
    DferClipConfig cfg;
    dfer_clip_config_default(&cfg);
    cfg.frames = FRAMES, cfg.num_classes = CLASSES, cfg.contexts = CONTEXTS, cfg.logit_scale = 3.0f;
    cfg.recompute = recompute, cfg.train_image_encoder = train_image_encoder;
    int32_t ids[CLASSES * 12];
    tiny_prompts(ids, CLASSES, 0, CONTEXTS);
    Err err;
    CHECK(dfer_clip_create(g_ops, clip, &cfg, ids, 4, m, &err) == 0, "create: %s", err.msg);
}

static void tiny_model(ClipModel *clip, int recompute, DferClip *m) { tiny_model_trained(clip, recompute, 1, m); }

/* The activation arena's bytes of a model at `batch` clips. */
static size_t arena_bytes(ClipModel *clip, int recompute, int train_image_encoder) {
    DferClip m;
    tiny_model_trained(clip, recompute, train_image_encoder, &m);
    dfer_clip_reserve(&m, BATCH);
    size_t bytes = m.acts.capacity;
    dfer_clip_free(&m);
    return bytes;
}

/* The bytes of one ViT block's activations as block_acts_alloc allocates them. */
static size_t block_set_bytes(const ClipModel *clip, int keep) {
    const ClipConfig *c = &clip->cfg;
    int64_t S = clip_vision_tokens(c), W = c->vision_width;
    Arena measure;
    arena_init_measuring(&measure, g_ops, clip->dtype);
    BlockActs one;
    block_acts_alloc(&measure, &one, BATCH * FRAMES, S, W, 4 * W, c->vision_heads, keep, RECOMPUTE_NONE);
    return measure.peak;
}

static const int32_t k_labels[BATCH] = {2, 0};

/* `steps` training steps on the same frames, the gradients of each added up (not zeroed between them). */
static double train_steps(DferClip *m, const Tensor *frames, int steps) {
    paramset_zero_grads(&m->params);
    double loss = 0;
    for (int s = 0; s < steps; s++) loss += dfer_clip_step(m, frames->data, k_labels, BATCH, 1, 1.0f, NULL);
    return loss;
}

static void check_levels_bitwise(int steps) {
    ClipModel clip;
    tiny_clip_build_deep(g_ops, &clip, 2, VISION_LAYERS);
    Tensor frames = tiny_random(1, (int64_t)BATCH * FRAMES * 3 * 8 * 8, 0, 0, 1.0, 0); /* raw [B*T,3,8,8] */
    DferClip ref;
    tiny_model(&clip, RECOMPUTE_NONE, &ref);
    params_randomise(&ref.params, 0.3);
    double loss_ref = train_steps(&ref, &frames, steps);
    EXPECT(isfinite(loss_ref) && loss_ref > 0, "loss %g", loss_ref);
    for (int level = RECOMPUTE_NONE + 1; level < RECOMPUTE_LEVELS; level++) {
        /* built at the level, and one built at none that is switched to it after a step */
        for (int switched = 0; switched < 2; switched++) {
            DferClip m;
            tiny_model(&clip, switched ? RECOMPUTE_NONE : level, &m);
            tiny_copy_values(&ref.params, &m.params);
            if (switched) {
                train_steps(&m, &frames, 1);
                dfer_clip_set_recompute(&m, level);
            }
            double loss = train_steps(&m, &frames, steps);
            const char *first;
            double largest = 0;
            int64_t differ = tiny_grads_differ(&ref.params, &m.params, &first, &largest);
            EXPECT(loss == loss_ref && differ == 0 && largest > 0,
                   "%d step%s at recompute %s%s: loss %.17g (none: %.17g), %lld gradient entries differ "
                   "(the first in %s), largest gradient %g",
                   steps, steps > 1 ? "s" : "", recompute_name(level), switched ? " (switched after a step)" : "",
                   loss, loss_ref, (long long)differ, first ? first : "-", largest);
            EXPECT(m.vit_acts.recompute == level, "the model allocated level %d, not %d", m.vit_acts.recompute,
                   level);
            printf("  %d step%s at recompute %-7s%s: loss %.12g and %d gradient tensors bitwise those of none\n",
                   steps, steps > 1 ? "s" : "", recompute_name(level), switched ? " (switched)" : "           ", loss,
                   m.params.count);
            dfer_clip_free(&m);
        }
    }
    dfer_clip_free(&ref);
    tiny_clip_free(&clip);
    free(frames.data);
}

static void test_levels_bitwise_one_step(void) { check_levels_bitwise(1); }
static void test_levels_bitwise_two_steps(void) { check_levels_bitwise(2); }

static void test_arena_drops_by_what_a_level_does_not_keep(void) {
    ClipModel clip;
    tiny_clip_build_deep(g_ops, &clip, 2, VISION_LAYERS);
    const ClipConfig *c = &clip.cfg;
    size_t es = dtype_size(clip.dtype), S = (size_t)clip_vision_tokens(c), rows = (size_t)BATCH * FRAMES * S;
    size_t W = (size_t)c->vision_width, layers = (size_t)c->vision_layers;
    size_t qkv = tiny_arena_bytes(rows * 3 * W * es), fc1 = tiny_arena_bytes(rows * 4 * W * es);
    size_t x_in = tiny_arena_bytes(rows * W * es);
    size_t set = block_set_bytes(&clip, SUBLAYER_KEEP_WEIGHT_INPUTS); /* one trained block's, as kept at none */
    size_t capacity[RECOMPUTE_LEVELS];
    for (int level = 0; level < RECOMPUTE_LEVELS; level++) capacity[level] = arena_bytes(&clip, level, 1);
    size_t want[RECOMPUTE_LEVELS] = {0, layers * qkv, layers * (qkv + fc1), (layers - 1) * (set - x_in)};
    for (int level = 1; level < RECOMPUTE_LEVELS; level++)
        EXPECT(capacity[RECOMPUTE_NONE] - capacity[level] == want[level],
               "%s keeps %zu bytes of activations, none %zu: %zu less, not the %zu its %zu blocks leave",
               recompute_name(level), capacity[level], capacity[RECOMPUTE_NONE],
               capacity[RECOMPUTE_NONE] - capacity[level], want[level], layers);
    printf("  activation arena (%zu blocks; a block's set %zu bytes): none %zu, qkv %zu, qkv-fc1 %zu, blocks %zu\n",
           layers, set, capacity[0], capacity[1], capacity[2], capacity[3]);
    tiny_clip_free(&clip);
}

/* A frozen image encoder (model.train_image_encoder = false) is crossed by no backward: its blocks share one set of
 * activations (the frozen sublayers' own), where a trained encoder keeps one set a block; the rest of the model's
 * activations are the same. */
static void test_frozen_encoder_keeps_one_block_set(void) {
    ClipModel clip;
    tiny_clip_build_deep(g_ops, &clip, 2, VISION_LAYERS);
    size_t layers = (size_t)clip.cfg.vision_layers;
    size_t trained_set = block_set_bytes(&clip, SUBLAYER_KEEP_WEIGHT_INPUTS), frozen_set = block_set_bytes(&clip, 0);
    size_t trained = arena_bytes(&clip, RECOMPUTE_NONE, 1), frozen = arena_bytes(&clip, RECOMPUTE_NONE, 0);
    EXPECT(trained - layers * trained_set == frozen - frozen_set,
           "frozen encoder: %zu bytes of activations less one frozen set of %zu, trained: %zu less %zu sets of %zu",
           frozen, frozen_set, trained, layers, trained_set);
    printf("  activation arena: trained encoder %zu bytes (%zu block sets of %zu), frozen %zu (one set of %zu)\n",
           trained, layers, trained_set, frozen, frozen_set);
    tiny_clip_free(&clip);
}

/* The frozen encoder's shared set gives the forward of the kept sets: a step of a frozen-encoder model and one of a
 * trained-encoder model whose encoder still holds CLIP's weights (nothing randomised, the other parameters copied by
 * name) have bitwise the same loss, and the same gradients of the temporal net and the prompt contexts (computed
 * before the encoder's backward). */
static void test_frozen_encoder_forward_is_the_trained_one(void) {
    ClipModel clip;
    tiny_clip_build_deep(g_ops, &clip, 2, VISION_LAYERS);
    Tensor frames = tiny_random(1, (int64_t)BATCH * FRAMES * 3 * 8 * 8, 0, 0, 1.0, 0);
    DferClip trained, frozen;
    tiny_model_trained(&clip, RECOMPUTE_NONE, 1, &trained);
    tiny_model_trained(&clip, RECOMPUTE_BLOCKS, 0, &frozen); /* the level is dropped: nothing to recompute */
    EXPECT(frozen.cfg.recompute == RECOMPUTE_NONE, "a frozen encoder took recompute level %d", frozen.cfg.recompute);
    params_randomise(&frozen.params, 0.3); /* the contexts and temporal net; copied into the trained model */
    int shared = 0;
    for (int i = 0; i < frozen.params.count; i++) {
        const ParamEntry *e = paramset_get(&frozen.params, i);
        int j = paramset_find(&trained.params, e->name);
        EXPECT(j >= 0, "%s: not a parameter of the trained-encoder model", e->name);
        if (j < 0) continue;
        double *v = malloc((size_t)tensor_numel(&e->value) * sizeof(double));
        paramset_download_f64(&frozen.params, i, 0, v);
        paramset_upload_f64(&trained.params, j, v);
        free(v);
        shared++;
    }
    double loss_trained = train_steps(&trained, &frames, 1), loss_frozen = train_steps(&frozen, &frames, 1);
    int64_t differ = 0;
    for (int i = 0; i < frozen.params.count; i++) {
        const ParamEntry *e = paramset_get(&frozen.params, i);
        int j = paramset_find(&trained.params, e->name);
        int64_t k = tensor_numel(&e->grad);
        double *a = malloc((size_t)k * sizeof(double)), *g = malloc((size_t)k * sizeof(double));
        paramset_download_f64(&frozen.params, i, 1, a);
        paramset_download_f64(&trained.params, j, 1, g);
        for (int64_t q = 0; q < k; q++) differ += a[q] != g[q];
        free(a), free(g);
    }
    EXPECT(loss_frozen == loss_trained && differ == 0 && isfinite(loss_frozen),
           "frozen encoder: loss %.17g, trained %.17g; %lld gradient entries of the %d shared tensors differ",
           loss_frozen, loss_trained, (long long)differ, shared);
    printf("  frozen encoder (one shared block set): loss %.12g and %d shared gradient tensors bitwise the trained "
           "model's\n", loss_frozen, shared);
    dfer_clip_free(&trained);
    dfer_clip_free(&frozen);
    tiny_clip_free(&clip);
    free(frames.data);
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_levels_bitwise_one_step);
    TEST_RUN(test_levels_bitwise_two_steps);
    TEST_RUN(test_arena_drops_by_what_a_level_does_not_keep);
    TEST_RUN(test_frozen_encoder_keeps_one_block_set);
    TEST_RUN(test_frozen_encoder_forward_is_the_trained_one);
    ops_destroy(g_ops);
    return test_summary();
}
