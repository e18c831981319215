/* DFER-CLIP, whole model: every trainable gradient (fine-tuned image encoder,
 * temporal transformer, prompt contexts) against central finite differences of
 * the summed cross-entropy, in F64, on a tiny random CLIP; also in the paper's
 * ablations (Tab. 1: no temporal net, two blocks; Tab. 3: no contexts; Tab. 4:
 * contexts shared by the classes, half of them after the class text). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/dfer_clip.h"
#include "testlib.h"
#include "tiny_clip.h"

static Ops *g_ops;

typedef struct {
    DferClip *m;
    double *frames;
    int32_t *labels;
    int batch;
} Ctx;

static double loss_fn(void *p) {
    Ctx *c = p;
    return dfer_clip_step(c->m, c->frames, c->labels, c->batch, 0, 1.0f, NULL);
}

typedef struct Variant {
    const char *name;
    int train_image_encoder, temporal_layers, contexts, shared, middle;
} Variant;

/* Tiny prompts [3, 12] with the contexts' placeholders (40) where the model puts them: 1..M, or (middle) M/2 there
 * and the rest right before the EOT (59); class tokens between. */
static void variant_prompts(int32_t *ids, const Variant *v) {
    if (!v->middle) {
        tiny_prompts(ids, 3, 0, v->contexts);
        return;
    }
    memset(ids, 0, 3 * 12 * sizeof(int32_t));
    int before = v->contexts / 2;
    for (int c = 0; c < 3; c++) {
        int32_t *row = ids + c * 12, at = 0;
        row[at++] = 50;
        for (int i = 0; i < before; i++) row[at++] = 40;
        for (int i = 0; i < 1 + c; i++) row[at++] = (int32_t)(1 + (7 * c + 3 * i) % 39);
        for (int i = before; i < v->contexts; i++) row[at++] = 40;
        row[at] = 59;
    }
}

static void run(const Variant *v) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 2);
    DferClipConfig cfg;
    dfer_clip_config_default(&cfg);
    cfg.frames = 3, cfg.num_classes = 3, cfg.contexts = v->contexts, cfg.logit_scale = 3.0f;
    cfg.train_image_encoder = v->train_image_encoder, cfg.temporal_layers = v->temporal_layers;
    cfg.shared_contexts = v->shared, cfg.middle = v->middle, cfg.placeholder_id = 40;
    int32_t ids[3 * 12];
    variant_prompts(ids, v);
    DferClip m;
    Err err;
    EXPECT(dfer_clip_create(g_ops, &clip, &cfg, ids, 4, &m, &err) == 0, "%s: create: %s", v->name, err.msg);
    /* the tensors each variant has: blocks, contexts of each class or one set, none */
    int ctx = paramset_find(&m.params, "prompt_learner.ctx");
    EXPECT((paramset_find(&m.params, "temporal_net.block.mlp.fc1.weight") >= 0) == (v->temporal_layers > 0) &&
               (paramset_find(&m.params, "temporal_net.cls_token") >= 0) == (v->temporal_layers > 0) &&
               (paramset_find(&m.params, "temporal_net.block2.mlp.fc1.weight") >= 0) == (v->temporal_layers > 1) &&
               (ctx >= 0) == (v->contexts > 0) &&
               (ctx < 0 || paramset_get(&m.params, ctx)->ndim == (v->shared ? 2 : 3)),
           "%s: the parameters declared", v->name);
    if (v->train_image_encoder) {
        /* the image encoder starts as a copy of CLIP's weights */
        int idx = paramset_find(&m.params, "image_encoder.layers.1.mlp.fc2.weight");
        EXPECT(idx >= 0, "image encoder parameters declared");
        double first;
        double *w = malloc(8 * 32 * sizeof(double));
        paramset_download_f64(&m.params, idx, 0, w);
        first = w[5];
        EXPECT(first == ((double *)clip.vis_layers[1].fc2_w.data)[5], "copied from CLIP");
        free(w);
    }
    int batch = 2;
    Tensor fr = tiny_random(1, (int64_t)batch * 3 * 3 * 8 * 8, 0, 0, 1.0, 0);
    int32_t labels[2] = {1, 2};
    Ctx c = {&m, fr.data, labels, batch};
    params_randomise(&m.params, 0.3);
    paramset_zero_grads(&m.params);
    double loss = dfer_clip_step(&m, c.frames, labels, batch, 1, 1.0f, NULL);
    EXPECT(isfinite(loss) && loss > 0, "loss %g", loss);
    const char *worst_name;
    int checked;
    double worst = params_gradcheck(&m.params, loss_fn, &c, 5, &worst_name, &checked);
    EXPECT(worst < 1e-5, "%s: worst relative gradient error %.3g in %s (%d checked)", v->name, worst, worst_name,
           checked);
    printf("  %s: %d gradient entries over %d tensors, worst relative error %.2g\n", v->name, checked,
           m.params.count, worst);
    dfer_clip_free(&m);
    tiny_clip_free(&clip);
    free(fr.data);
}

static void test_full_fine_tuning(void) { run(&(Variant){"fine-tuned", 1, 1, 2, 0, 0}); }
static void test_frozen_image_encoder(void) { run(&(Variant){"frozen image encoder", 0, 1, 2, 0, 0}); }
static void test_ablations(void) {
    run(&(Variant){"no temporal net (mean of the frames)", 1, 0, 2, 0, 0});
    run(&(Variant){"two temporal blocks", 0, 2, 2, 0, 0});
    run(&(Variant){"no contexts", 1, 1, 0, 0, 0});
    run(&(Variant){"shared contexts", 0, 1, 3, 1, 0});
    run(&(Variant){"contexts in the middle", 0, 1, 3, 0, 1});
    run(&(Variant){"shared, middle, three blocks", 0, 3, 4, 1, 1});
}

/* Prompts without the placeholders where the contexts go are refused, naming the prompt. */
static void test_placeholders_checked(void) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 2);
    DferClipConfig cfg;
    dfer_clip_config_default(&cfg);
    cfg.frames = 2, cfg.num_classes = 3, cfg.contexts = 2, cfg.placeholder_id = 40, cfg.middle = 1;
    int32_t ids[3 * 12];
    tiny_prompts(ids, 3, 0, 2); /* both placeholders first: the middle layout wants one before the EOT */
    DferClip m;
    Err err;
    EXPECT(dfer_clip_create(g_ops, &clip, &cfg, ids, 4, &m, &err) != 0 &&
               strstr(err.msg, "class prompt 0 has no context placeholder at position"),
           "refused: %s", err.msg);
    dfer_clip_free(&m);
    tiny_clip_free(&clip);
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_full_fine_tuning);
    TEST_RUN(test_frozen_image_encoder);
    TEST_RUN(test_ablations);
    TEST_RUN(test_placeholders_checked);
    ops_destroy(g_ops);
    return test_summary();
}
