/* DFER-CLIP, whole model: every trainable gradient (fine-tuned image encoder,
 * temporal transformer, prompt contexts) against central finite differences of
 * the summed cross-entropy, in F64, on a tiny random CLIP. */
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

static void run(int train_image_encoder) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 2);
    DferClipConfig cfg;
    dfer_clip_config_default(&cfg);
    cfg.frames = 3, cfg.num_classes = 3, cfg.contexts = 2, cfg.logit_scale = 3.0f;
    cfg.train_image_encoder = train_image_encoder;
    int32_t ids[3 * 12];
    tiny_prompts(ids, 3, 0, cfg.contexts);
    DferClip m;
    Err err;
    EXPECT(dfer_clip_create(g_ops, &clip, &cfg, ids, 4, &m, &err) == 0, "create: %s", err.msg);
    if (train_image_encoder) {
        /* the image encoder starts as a copy of CLIP's weights */
        int idx = paramset_find(&m.params, "image_encoder.layers.1.mlp.fc2.weight");
        EXPECT(idx >= 0, "image encoder parameters declared");
        double first;
        double *v = malloc(8 * 32 * sizeof(double));
        paramset_download_f64(&m.params, idx, 0, v);
        first = v[5];
        EXPECT(first == ((double *)clip.vis_layers[1].fc2_w.data)[5], "copied from CLIP");
        free(v);
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
    EXPECT(worst < 1e-5, "image encoder trained=%d: worst relative gradient error %.3g in %s (%d checked)",
           train_image_encoder, worst, worst_name, checked);
    printf("  image encoder trained=%d: %d gradient entries over %d tensors, worst relative error %.2g\n",
           train_image_encoder, checked, m.params.count, worst);
    dfer_clip_free(&m);
    tiny_clip_free(&clip);
    free(fr.data);
}

static void test_full_fine_tuning(void) { run(1); }
static void test_frozen_image_encoder(void) { run(0); }

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_full_fine_tuning);
    TEST_RUN(test_frozen_image_encoder);
    ops_destroy(g_ops);
    return test_summary();
}
