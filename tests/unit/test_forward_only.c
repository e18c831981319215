/* Forward-only activations (job_model_set_forward_only, for `dfer eval` and `dfer predict`: plan_apply_inference):
 * the ViT blocks share one set, as nothing is kept for a backward. On a tiny CLIP in F64 on the CPU:
 *  - an evaluation step of FineCLIPER (low level with the middle level's two map streams, three AIM encoders) and
 *    of DFER-CLIP (fine-tuned image encoder) gives bitwise the loss and logits of the same model with training
 *    activations;
 *  - the activation arena is smaller by exactly all but one block's set in every ViT (FineCLIPER: each stream's
 *    AIM blocks; DFER-CLIP: the trained encoder's sets, one frozen-style set left) and every text tower (and its
 *    adapter inputs), and the scratch is no larger;
 *  - switched back, the model trains again: a training step after it equals one of a model never switched. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/dfer_clip.h"
#include "model/finecliper.h"
#include "model/text_tower.h"
#include "testlib.h"
#include "tiny_clip.h"

static Ops *g_ops;

enum { FRAMES = 3, CLASSES = 3, BATCH = 2 };
static const int32_t k_labels[BATCH] = {2, 0};

static int64_t differ(const double *a, const double *b, int64_t n) {
    int64_t d = 0;
    for (int64_t i = 0; i < n; i++) d += a[i] != b[i];
    return d;
}

/* What a text tower's forward-only activations save: all but one layer's block set and adapter input. */
static size_t text_saving(const ClipModel *clip, const TextTowerActs *t) {
    size_t bytes[2];
    for (int fo = 0; fo < 2; fo++) {
        Arena measure;
        arena_init_measuring(&measure, g_ops, clip->dtype);
        TextTowerActs acts;
        text_tower_acts_alloc(&measure, &acts, clip, t->n, t->len, t->block_out ? 4 : 0, fo);
        text_tower_acts_free(&acts);
        bytes[fo] = measure.peak;
    }
    return bytes[0] - bytes[1];
}

/* ---- FineCLIPER ---- */

typedef struct {
    Tensor frames, parsing, landmarks;
} Inputs;

static void finecliper_model(ClipModel *clip, FineCliper *m) {
    FineCliperConfig cfg;
    finecliper_config_default(&cfg);
    cfg.frames = FRAMES, cfg.num_classes = CLASSES, cfg.temperature = 0.5f;
    cfg.mid_streams = FC_MID_PARSING | FC_MID_LANDMARKS;
    tiny_finecliper(g_ops, clip, &cfg, m);
}

static double finecliper_pass(FineCliper *m, const Inputs *x, int train, double *logits) {
    FineCliperInputs in = {.frames = x->frames.data, .parsing = x->parsing.data, .landmarks = x->landmarks.data};
    if (train) paramset_zero_grads(&m->params);
    return finecliper_step(m, &in, k_labels, BATCH, train, 1.0f, logits);
}

static void test_finecliper(void) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 1);
    int64_t n = (int64_t)BATCH * FRAMES * 3 * 8 * 8;
    Inputs x = {tiny_random(1, n, 0, 0, 1.0, 0), tiny_random(1, n, 0, 0, 1.0, 0.3), tiny_random(1, n, 0, 0, 1.0, -0.2)};
    FineCliper kept, fo;
    finecliper_model(&clip, &kept);
    finecliper_model(&clip, &fo);
    params_randomise(&kept.params, 0.3); /* zero fc2s would leave the adapters out of the comparison */
    tiny_copy_values(&kept.params, &fo.params);
    finecliper_set_forward_only(&fo, 1);
    double lk[BATCH * CLASSES], lf[BATCH * CLASSES];
    double loss_kept = finecliper_pass(&kept, &x, 0, lk), loss_fo = finecliper_pass(&fo, &x, 0, lf);
    EXPECT(loss_kept == loss_fo && differ(lk, lf, BATCH * CLASSES) == 0 && isfinite(loss_fo),
           "FineCLIPER forward only: loss %.17g, with training activations %.17g; %lld logits differ", loss_fo,
           loss_kept, (long long)differ(lk, lf, BATCH * CLASSES));
    /* all but one block's set of each of the three AIM encoders (the same sets in each: one shape) */
    const ClipConfig *c = &clip.cfg;
    Arena measure;
    arena_init_measuring(&measure, g_ops, clip.dtype);
    AimActs one;
    aim_acts_alloc(&measure, &one, &clip, BATCH, FRAMES, RECOMPUTE_NONE, 1, NULL, 0);
    size_t kept_encoder = measure.peak;
    aim_acts_free(&one);
    arena_init_measuring(&measure, g_ops, clip.dtype);
    aim_acts_alloc(&measure, &one, &clip, BATCH, FRAMES, RECOMPUTE_NONE, 1, NULL, 1);
    size_t fo_encoder = measure.peak;
    aim_acts_free(&one);
    /* and the class prompts' text towers (positive and negative, with adapters): all but one layer's */
    size_t text = text_saving(&clip, &kept.text_pos) + (kept.cfg.use_negative ? text_saving(&clip, &kept.text_neg) : 0);
    size_t less = kept.acts.capacity - fo.acts.capacity, want = 3 * (kept_encoder - fo_encoder) + text;
    EXPECT(fo_encoder < kept_encoder && text > 0 && less == want,
           "FineCLIPER forward only: %zu bytes of activations, %zu with training ones: %zu less, not the %zu of 3 "
           "encoders' %d blocks (%zu bytes an encoder, %zu forward only) and the text towers' %zu",
           fo.acts.capacity, kept.acts.capacity, less, want, c->vision_layers, kept_encoder, fo_encoder, text);
    EXPECT(fo.scratch.capacity <= kept.scratch.capacity, "FineCLIPER forward-only scratch %zu bytes, training %zu",
           fo.scratch.capacity, kept.scratch.capacity);
    printf("  FineCLIPER low+mid: evaluation loss %.12g and logits bitwise; activations %zu -> %zu bytes, scratch "
           "%zu -> %zu\n", loss_fo, kept.acts.capacity, fo.acts.capacity, kept.scratch.capacity, fo.scratch.capacity);
    /* switched back, a training step as the model's that never switched */
    finecliper_set_forward_only(&fo, 0);
    double tk = finecliper_pass(&kept, &x, 1, NULL), tf = finecliper_pass(&fo, &x, 1, NULL);
    int64_t gd = tiny_grads_differ(&kept.params, &fo.params, NULL, NULL);
    EXPECT(tk == tf && gd == 0, "FineCLIPER switched back: training loss %.17g (never switched %.17g), %lld "
           "gradient entries differ", tf, tk, (long long)gd);
    finecliper_free(&kept);
    finecliper_free(&fo);
    tiny_clip_free(&clip);
    free(x.frames.data), free(x.parsing.data), free(x.landmarks.data);
}

/* ---- DFER-CLIP ---- */

static void dfer_clip_model(ClipModel *clip, DferClip *m) {
    DferClipConfig cfg;
    dfer_clip_config_default(&cfg);
    cfg.frames = FRAMES, cfg.num_classes = CLASSES, cfg.contexts = 2, cfg.logit_scale = 3.0f;
    int32_t ids[CLASSES * 12];
    tiny_prompts(ids, CLASSES, 0, cfg.contexts);
    Err err;
    CHECK(dfer_clip_create(g_ops, clip, &cfg, ids, 4, m, &err) == 0, "create: %s", err.msg);
}

static void test_dfer_clip(void) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 2);
    Tensor frames = tiny_random(1, (int64_t)BATCH * FRAMES * 3 * 8 * 8, 0, 0, 1.0, 0);
    DferClip kept, fo;
    dfer_clip_model(&clip, &kept);
    dfer_clip_model(&clip, &fo);
    params_randomise(&kept.params, 0.3);
    tiny_copy_values(&kept.params, &fo.params);
    dfer_clip_set_forward_only(&fo, 1);
    double lk[BATCH * CLASSES], lf[BATCH * CLASSES];
    double loss_kept = dfer_clip_step(&kept, frames.data, k_labels, BATCH, 0, 1.0f, lk);
    double loss_fo = dfer_clip_step(&fo, frames.data, k_labels, BATCH, 0, 1.0f, lf);
    EXPECT(loss_kept == loss_fo && differ(lk, lf, BATCH * CLASSES) == 0 && isfinite(loss_fo),
           "DFER-CLIP forward only: loss %.17g, with training activations %.17g; %lld logits differ", loss_fo,
           loss_kept, (long long)differ(lk, lf, BATCH * CLASSES));
    /* the trained encoder's block sets, one set of a frozen block's left */
    const ClipConfig *c = &clip.cfg;
    int64_t S = clip_vision_tokens(c), W = c->vision_width;
    size_t set[2];
    for (int keep = 0; keep < 2; keep++) {
        Arena measure;
        arena_init_measuring(&measure, g_ops, clip.dtype);
        BlockActs b;
        block_acts_alloc(&measure, &b, BATCH * FRAMES, S, W, 4 * W, c->vision_heads, keep, RECOMPUTE_NONE);
        set[keep] = measure.peak;
    }
    size_t less = kept.acts.capacity - fo.acts.capacity,
           want = (size_t)c->vision_layers * set[1] - set[0] + text_saving(&clip, &kept.text);
    EXPECT(less == want, "DFER-CLIP forward only: %zu bytes of activations, %zu with training ones: %zu less, not %zu",
           fo.acts.capacity, kept.acts.capacity, less, want);
    EXPECT(fo.scratch.capacity <= kept.scratch.capacity, "DFER-CLIP forward-only scratch %zu bytes, training %zu",
           fo.scratch.capacity, kept.scratch.capacity);
    printf("  DFER-CLIP: evaluation loss %.12g and logits bitwise; activations %zu -> %zu bytes, scratch %zu -> %zu\n",
           loss_fo, kept.acts.capacity, fo.acts.capacity, kept.scratch.capacity, fo.scratch.capacity);
    dfer_clip_set_forward_only(&fo, 0);
    paramset_zero_grads(&kept.params), paramset_zero_grads(&fo.params);
    double tk = dfer_clip_step(&kept, frames.data, k_labels, BATCH, 1, 1.0f, NULL);
    double tf = dfer_clip_step(&fo, frames.data, k_labels, BATCH, 1, 1.0f, NULL);
    EXPECT(tk == tf && isfinite(tf) && tiny_grads_differ(&kept.params, &fo.params, NULL, NULL) == 0,
           "DFER-CLIP switched back: training loss %.17g (never switched %.17g), %lld gradient entries differ", tf, tk,
           (long long)tiny_grads_differ(&kept.params, &fo.params, NULL, NULL));
    dfer_clip_free(&kept);
    dfer_clip_free(&fo);
    tiny_clip_free(&clip);
    free(frames.data);
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_finecliper);
    TEST_RUN(test_dfer_clip);
    ops_destroy(g_ops);
    return test_summary();
}
