/* FineCLIPER, whole model: every trainable gradient against central finite
 * differences of the summed loss, in F64, on a tiny random CLIP (both towers)
 * with randomised adapters (zero-initialised up-projections would make most
 * gradients trivially zero) — the low level, and the middle and high levels
 * with adaptive weighting under each loss. Also: the untrained model equals
 * frozen CLIP (adapters start silent), and the parameter counts on B/16. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/finecliper.h"
#include "testlib.h"

#include "tiny_clip.h"

static Ops *g_ops;

typedef struct {
    FineCliper *m;
    FineCliperInputs in;
    int32_t *labels;
    int batch;
} Ctx;

static double loss_fn(void *p) {
    Ctx *c = p;
    return finecliper_step(c->m, &c->in, c->labels, c->batch, 0, 1.0f, NULL);
}

/* levels: low, mid streams, high, loss kind, weights kind (the low level: 1, 0, 0, modalities, softmax). Without the
 * low level the step gets no frames (NULL): it must not read them. */
static void run_variant(int low, int use_negative, int video_adapters, int mid, int high, int loss_kind,
                        int weights_kind) {
    ClipModel clip, desc;
    tiny_clip_build(g_ops, &clip, 1);
    tiny_clip_build(g_ops, &desc, 2); /* the description tower: another tiny CLIP */
    FineCliperConfig cfg;
    finecliper_config_default(&cfg);
    cfg.frames = 3, cfg.num_classes = 3, cfg.temperature = 0.5f, cfg.use_negative = use_negative;
    cfg.video_adapters = video_adapters, cfg.low = low;
    cfg.mid_streams = mid, cfg.high = high, cfg.description_length = 12;
    cfg.fusion_loss = loss_kind, cfg.fusion_weights = weights_kind;
    int32_t pos[3 * 12], neg[3 * 12], desc_ids[2 * 12];
    tiny_prompts(pos, 3, 0, 0);
    tiny_prompts(neg, 3, 1, 0);
    tiny_prompts(desc_ids, 2, 2, 0);
    FineCliper m;
    Err err;
    EXPECT(finecliper_create(g_ops, &clip, &desc, &cfg, pos, neg, 5, &m, &err) == 0, "create: %s", err.msg);
    int batch = 2;
    int64_t n = (int64_t)batch * 3 * 3 * 8 * 8; /* [B*T,3,8,8] */
    Tensor fr = tiny_random(1, n, 0, 0, 1.0, 0), pm = tiny_random(1, n, 0, 0, 1.0, 0.3),
           lm = tiny_random(1, n, 0, 0, 1.0, -0.2);
    int32_t labels[2] = {2, 0};
    FineCliperInputs in = {.frames = low ? fr.data : NULL, .parsing = pm.data, .landmarks = lm.data,
                           .descriptions = desc_ids};
    Ctx c = {&m, in, labels, batch};

    /* Untrained: logits are those of frozen CLIP + (zero) temporal embedding; check via gradient
     * structure instead: fc1 gradients vanish because every fc2 starts at zero. */
    paramset_zero_grads(&m.params);
    finecliper_step(&m, &c.in, labels, batch, 1, 1.0f, NULL);
    int fc1 = paramset_find(&m.params, "visual.blocks.0.temporal_adapter.fc1.weight");
    EXPECT((fc1 >= 0) == (low && video_adapters), "%s: the video stream's adapters are %s",
           finecliper_variant_name(&cfg), fc1 >= 0 ? "declared" : "missing");
    EXPECT((paramset_find(&m.params, "visual.temporal_embedding") >= 0) == low, "%s: the temporal embedding",
           finecliper_variant_name(&cfg));
    if (fc1 >= 0) {
        int64_t n = tensor_numel(&paramset_get(&m.params, fc1)->grad);
        double *g = malloc((size_t)n * sizeof(double)), mx = 0;
        paramset_download_f64(&m.params, fc1, 1, g);
        for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(g[i]));
        EXPECT(mx == 0.0, "zero-initialised up-projection blocks the fc1 gradient (max %g)", mx);
        free(g);
    }

    /* Randomise every trainable tensor, then compare gradients with finite differences. */
    params_randomise(&m.params, 0.3);
    paramset_zero_grads(&m.params);
    double loss = finecliper_step(&m, &c.in, labels, batch, 1, 1.0f, NULL);
    EXPECT(isfinite(loss) && loss > 0, "loss %g", loss);
    /* the weights of every clip sum to 1 over the variant's modalities */
    for (int b = 0; b < batch; b++) {
        double sum = 0;
        for (int k = 0; k < FC_MODALITIES; k++) sum += finecliper_last_weights(&m)[b * FC_MODALITIES + k];
        EXPECT(fabs(sum - 1) < 1e-6, "clip %d: modality weights sum to %g", b, sum);
        /* fixed weights (the paper's Fig. 8): the video feature's 0.5, the others (1 - 0.5) / 3 each */
        const float *w = finecliper_last_weights(&m) + b * FC_MODALITIES;
        if (weights_kind == FC_WEIGHTS_FIXED)
            EXPECT(w[FC_MOD_VIDEO] == 0.5f && w[FC_MOD_PARSING] == (float)(0.5 / 3) && w[FC_MOD_LANDMARKS] == w[1] &&
                       w[FC_MOD_TEXT] == w[1],
                   "clip %d: fixed weights %g %g %g %g", b, w[0], w[1], w[2], w[3]);
    }
    /* The weights are constants of the gradient (as in the paper's reading, and detached in the PyTorch
     * reference): finite differences must not move them. */
    m.hold_weights = 1;
    const char *worst_name;
    int checked;
    double worst = params_gradcheck(&m.params, loss_fn, &c, 6, &worst_name, &checked);
    EXPECT(worst < 1e-5,
           "%s negative=%d video_adapters=%d loss %d: worst relative gradient error %.3g in %s (%d checked)",
           finecliper_variant_name(&cfg), use_negative, video_adapters, loss_kind, worst, worst_name, checked);
    printf("  %s negative=%d video_adapters=%d loss=%d weights=%d: %d gradient entries over %d tensors, worst relative "
           "error %.2g\n",
           finecliper_variant_name(&cfg), use_negative, video_adapters, loss_kind, weights_kind, checked,
           m.params.count, worst);
    finecliper_free(&m);
    tiny_clip_free(&clip);
    tiny_clip_free(&desc);
    free(fr.data), free(pm.data), free(lm.data);
}

/* The paper reports ~13M trainable parameters on ViT-B/16; ours, counted from the declared tensors. */
static void test_b16_parameter_count(void) {
    ClipModel clip;
    memset(&clip, 0, sizeof clip);
    Err err;
    EXPECT(clip_config_preset("b16", &clip.cfg, &err) == 0, "%s", err.msg);
    clip.dtype = DT_F32;
    FineCliperConfig cfg;
    finecliper_config_default(&cfg);
    int32_t ids[7 * 77];
    memset(ids, 0, sizeof ids);
    for (int c = 0; c < 7; c++) ids[c * 77 + 5] = 49407;
    FineCliper m;
    EXPECT(finecliper_create(g_ops, &clip, NULL, &cfg, ids, ids, 1, &m, &err) == 0, "%s", err.msg);
    /* 36 vision adapters x 295,872 + temporal embedding 16 x 768 + 2 x 12 text adapters x 131,712 */
    EXPECT(m.params.numel == 13824768, "FineCLIPER B/16 trainable parameters: %zu", m.params.numel);
    EXPECT(paramset_group_numel(&m.params, FC_GROUP_TEXT) == 3161088, "text adapters");
    finecliper_free(&m);
    /* The other variants: + a second AIM set (36 x 295,872 + 16 x 768) and two projections 512 x 513;
     * + 12 description adapters x 131,712 and a projector 512 x 513 (Long-CLIP-B's text tower is B/16's). Table 4's
     * levels without the frames: the class texts' adapters (3,161,088) and the middle or the high level's. */
    static const struct { int low, mid, high; size_t expect; const char *paper; } v[] = {
        {1, 0, 0, 13824768, "13"}, {1, 1 | 2, 0, 13824768 + 10663680 + 525312, "19"},
        {1, 0, 1, 13824768 + 1580544 + 262656, "14"},
        {1, 1 | 2, 1, 13824768 + 10663680 + 525312 + 1580544 + 262656, "20"},
        {0, 1 | 2, 0, 3161088 + 10663680 + 525312, "-"}, {0, 0, 1, 3161088 + 1580544 + 262656, "-"}};
    for (int i = 0; i < 6; i++) {
        cfg.low = v[i].low, cfg.mid_streams = v[i].mid, cfg.high = v[i].high, cfg.description_length = 8;
        EXPECT(finecliper_create(g_ops, &clip, &clip, &cfg, ids, ids, 1, &m, &err) == 0, "%s", err.msg);
        EXPECT(m.params.numel == v[i].expect, "%s: %zu trainable parameters, expected %zu",
               finecliper_variant_name(&cfg), m.params.numel, v[i].expect);
        printf("  FineCLIPER %-13s on ViT-B/16, 16 frames: %5.2f M trainable parameters (paper: %s M)\n",
               finecliper_variant_name(&cfg), m.params.numel / 1e6, v[i].paper);
        finecliper_free(&m);
    }
}

/* Contrastive training on one rank (the gather is a copy): every trainable gradient, the
 * logit scale's included, against finite differences of the symmetric InfoNCE loss. */
typedef struct {
    FineCliper *m;
    double *frames;
    int32_t *captions;
    int batch;
} CtxC;

static double contrastive_loss(CtxC *c, int train) {
    finecliper_contrastive_forward(c->m, c->frames, c->captions, c->batch, c->batch);
    ops_copy(g_ops, c->m->all_v, c->m->cap_v);
    ops_copy(g_ops, c->m->all_t, c->m->cap_t);
    return finecliper_contrastive_backward(c->m, 0, train, 1.0f, 1);
}

static double contrastive_loss_fn(void *p) { return contrastive_loss(p, 0); }

static void test_contrastive(void) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 1);
    FineCliperConfig cfg;
    finecliper_config_default(&cfg);
    cfg.frames = 2, cfg.num_classes = 3, cfg.use_negative = 0, cfg.caption_length = 12;
    int32_t pos[3 * 12], caps[3 * 12];
    tiny_prompts(pos, 3, 0, 0);
    tiny_prompts(caps, 3, 3, 0);
    FineCliper m;
    Err err;
    EXPECT(finecliper_create(g_ops, &clip, NULL, &cfg, pos, NULL, 5, &m, &err) == 0, "create: %s", err.msg);
    int batch = 3;
    Tensor fr = tiny_random(1, (int64_t)batch * 2 * 3 * 8 * 8, 0, 0, 1.0, 0);
    CtxC c = {&m, fr.data, caps, batch};
    params_randomise(&m.params, 0.3);
    paramset_zero_grads(&m.params);
    double loss = contrastive_loss(&c, 1);
    EXPECT(isfinite(loss) && loss > 0, "contrastive loss %g", loss);
    const char *worst_name;
    int checked;
    double worst = params_gradcheck(&m.params, contrastive_loss_fn, &c, 6, &worst_name, &checked);
    EXPECT(worst < 1e-5, "contrastive: worst relative gradient error %.3g in %s (%d checked)", worst, worst_name,
           checked);
    printf("  contrastive: %d gradient entries over %d tensors, worst relative error %.2g\n", checked,
           m.params.count, worst);
    finecliper_free(&m);
    tiny_clip_free(&clip);
    free(fr.data);
}

static void test_pn_with_adapters(void) { run_variant(1, 1, 1, 0, 0, FC_LOSS_MODALITIES, FC_WEIGHTS_SOFTMAX); }
static void test_positive_only(void) { run_variant(1, 0, 1, 0, 0, FC_LOSS_MODALITIES, FC_WEIGHTS_SOFTMAX); }
static void test_without_video_adapters(void) { run_variant(1, 1, 0, 0, 0, FC_LOSS_MODALITIES, FC_WEIGHTS_SOFTMAX); }
static void test_all_levels_weighted_losses(void) {
    run_variant(1, 1, 1, FC_MID_PARSING | FC_MID_LANDMARKS, 1, FC_LOSS_MODALITIES, FC_WEIGHTS_SOFTMAX);
}
static void test_all_levels_fused_loss(void) {
    run_variant(1, 1, 1, FC_MID_PARSING | FC_MID_LANDMARKS, 1, FC_LOSS_FUSED, FC_WEIGHTS_SOFTMAX);
}
static void test_mid_and_both_losses(void) { run_variant(1, 1, 1, FC_MID_LANDMARKS, 0, FC_LOSS_BOTH, FC_WEIGHTS_SUM); }
static void test_high_positive_only_uniform(void) { run_variant(1, 0, 1, 0, 1, FC_LOSS_BOTH, FC_WEIGHTS_UNIFORM); }
/* the paper's Fig. 8: the video feature's weight fixed (0.5), the other three sharing the rest */
static void test_all_levels_fixed_weights(void) {
    run_variant(1, 1, 1, FC_MID_PARSING | FC_MID_LANDMARKS, 1, FC_LOSS_BOTH, FC_WEIGHTS_FIXED);
}
/* Table 4's levels without the frames: the middle level alone (both map streams, softmax weights), the high level
 * alone (one modality: w = 1) */
static void test_mid_only(void) {
    run_variant(0, 1, 1, FC_MID_PARSING | FC_MID_LANDMARKS, 0, FC_LOSS_MODALITIES, FC_WEIGHTS_SOFTMAX);
}
static void test_high_only(void) { run_variant(0, 1, 1, 0, 1, FC_LOSS_MODALITIES, FC_WEIGHTS_SOFTMAX); }
/* no level at all is refused, and so is contrastive training without the low level */
static void test_levels_refused(void) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 1);
    FineCliperConfig cfg;
    finecliper_config_default(&cfg);
    cfg.frames = 2, cfg.num_classes = 3, cfg.use_negative = 0, cfg.low = 0;
    int32_t pos[3 * 12];
    tiny_prompts(pos, 3, 0, 0);
    FineCliper m;
    Err err;
    EXPECT(finecliper_create(g_ops, &clip, NULL, &cfg, pos, NULL, 5, &m, &err) != 0 && strstr(err.msg, "no level"),
           "a FineCLIPER without levels was created");
    cfg.mid_streams = FC_MID_PARSING, cfg.caption_length = 12;
    EXPECT(finecliper_create(g_ops, &clip, NULL, &cfg, pos, NULL, 5, &m, &err) != 0 && strstr(err.msg, "low level"),
           "contrastive training of the middle level was accepted");
    cfg.caption_length = 0, cfg.fusion_weights = FC_WEIGHTS_FIXED;
    EXPECT(finecliper_create(g_ops, &clip, NULL, &cfg, pos, NULL, 5, &m, &err) != 0 &&
               strstr(err.msg, "fixed fusion weights need the low level"),
           "fixed weights without the video feature were accepted: %s", err.msg);
    cfg.low = 1, cfg.video_weight = 1.5;
    EXPECT(finecliper_create(g_ops, &clip, NULL, &cfg, pos, NULL, 5, &m, &err) != 0 && strstr(err.msg, "in [0, 1]"),
           "a video weight of 1.5 was accepted: %s", err.msg);
    tiny_clip_free(&clip);
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_b16_parameter_count);
    TEST_RUN(test_pn_with_adapters);
    TEST_RUN(test_positive_only);
    TEST_RUN(test_without_video_adapters);
    TEST_RUN(test_all_levels_weighted_losses);
    TEST_RUN(test_all_levels_fused_loss);
    TEST_RUN(test_mid_and_both_losses);
    TEST_RUN(test_high_positive_only_uniform);
    TEST_RUN(test_all_levels_fixed_weights);
    TEST_RUN(test_mid_only);
    TEST_RUN(test_high_only);
    TEST_RUN(test_levels_refused);
    TEST_RUN(test_contrastive);
    ops_destroy(g_ops);
    return test_summary();
}
