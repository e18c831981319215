/* Whole training steps on the GPU against the CPU backend running the same
 * mixed-precision model (BF16 frozen weights and activations, F32 parameters,
 * gradients and optimiser state): FineCLIPER (low level; all levels) and
 * DFER-CLIP on the tiny CLIP preset, with the same weights, parameters and
 * batch. Checked: the loss and logits of one step, every trainable gradient
 * (relative L2 error and cosine), then the losses of 10 AdamW steps on the same
 * batch, which must agree step by step and fall on both backends.
 * Both sides round to BF16 at the same tensors; they differ in summation order
 * and in where the GPU keeps fp32 inside a fused kernel, so the bounds are
 * those of test_mixed_precision (BF16 against F32) halved.
 * Without a GPU (or a CUDA build) it prints SKIP and exits 77. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/clip_init.h"
#include "model/dfer_clip.h"
#include "model/finecliper.h"
#include "model_compare.h"
#include "testlib.h"
#include "train/optim.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif

#define LOSS_REL_TOL 0.01
#define LOGITS_REL_TOL 0.025
#define GRAD_REL_L2_TOL 0.04
#define GRAD_COSINE_MIN 0.999
#define STEPS 10

static Ops *g_ops[2]; /* CPU, CUDA */

enum { C = 5, B = 3, T = 4 };

static void compare_curves(const char *what, double curve[2][STEPS]) {
    double worst = 0;
    for (int s = 0; s < STEPS; s++) worst = fmax(worst, fabs(curve[1][s] - curve[0][s]) / fabs(curve[0][s]));
    printf("%s: %d AdamW steps, loss %.4f -> %.4f (CPU), %.4f -> %.4f (GPU), worst step difference %.2e\n", what,
           STEPS, curve[0][0], curve[0][STEPS - 1], curve[1][0], curve[1][STEPS - 1], worst);
    EXPECT(worst < 3 * LOSS_REL_TOL, "%s: the loss curves part by %.3g relative", what, worst);
    EXPECT(curve[1][STEPS - 1] < curve[1][0], "%s: the GPU's loss did not fall", what);
}

static void adamw(Optimizer *opt, ParamSet *ps) {
    OptimizerConfig oc;
    optimizer_config_default(&oc, OPT_ADAMW);
    oc.groups = 3;
    for (int g = 0; g < 3; g++) oc.lr[g] = 1e-3f, oc.weight_decay[g] = 0.01f;
    Err err;
    EXPECT(optimizer_create(ps, &oc, opt, &err) == 0, "optimizer: %s", err.msg);
}

static void finecliper_case(const TensorMap *hf, const ClipConfig *cc, int all_levels) {
    const char *what = all_levels ? "FineCLIPER low+mid+high" : "FineCLIPER low";
    ClipModel clip[2], desc[2];
    FineCliper m[2];
    double loss[2], curve[2][STEPS];
    float logits[2][B * C];
    int32_t pos[C * 77], neg[C * 77], desc_ids[B * 77], dids[B * 248];
    compare_prompts(pos, C, 0, 0), compare_prompts(neg, C, 2, 0), compare_prompts(desc_ids, B, 5, 0);
    memset(dids, 0, sizeof dids);
    for (int b = 0; b < B; b++) memcpy(dids + b * 248, desc_ids + b * 77, 12 * sizeof(int32_t));
    size_t vals = (size_t)B * T * 3 * cc->image_size * cc->image_size;
    float *frames = compare_random_floats(vals, 21, 1, 0), *parsing = compare_random_floats(vals, 22, 1, 0),
          *landmarks = compare_random_floats(vals, 23, 1, 0);
    int32_t labels[B] = {1, 4, 0};
    for (int k = 0; k < 2; k++) {
        Err err;
        EXPECT(clip_model_from_hf(g_ops[k], hf, cc, DT_BF16, &clip[k], &err) == 0, "clip: %s", err.msg);
        FineCliperConfig fc;
        finecliper_config_default(&fc);
        fc.frames = T, fc.num_classes = C, fc.bottleneck_divisor = 4;
        if (all_levels) {
            EXPECT(clip_text_view_stretched(&clip[k], &desc[k], &err) == 0, "stretch: %s", err.msg);
            fc.mid_streams = FC_MID_PARSING | FC_MID_LANDMARKS, fc.high = 1, fc.description_length = 12;
        }
        EXPECT(finecliper_create(g_ops[k], &clip[k], all_levels ? &desc[k] : NULL, &fc, pos, neg, 5, &m[k], &err) == 0,
               "create: %s", err.msg);
        compare_perturb_params(&m[k].params);
        FineCliperInputs in = {.frames = frames, .parsing = all_levels ? parsing : NULL,
                               .landmarks = all_levels ? landmarks : NULL, .descriptions = all_levels ? dids : NULL};
        paramset_zero_grads(&m[k].params);
        loss[k] = finecliper_step(&m[k], &in, labels, B, 1, 1.0f / B, logits[k]);
        if (k == 1) {
            compare_step_outputs(what, "CPU", "GPU", loss[0], loss[1], logits[0], logits[1], B * C, LOSS_REL_TOL,
                                 LOGITS_REL_TOL);
            compare_param_grads(what, &m[0].params, &m[1].params, GRAD_REL_L2_TOL, GRAD_COSINE_MIN);
        }
    }
    for (int k = 0; k < 2; k++) {
        Optimizer opt;
        adamw(&opt, &m[k].params);
        FineCliperInputs in = {.frames = frames, .parsing = all_levels ? parsing : NULL,
                               .landmarks = all_levels ? landmarks : NULL, .descriptions = all_levels ? dids : NULL};
        for (int s = 0; s < STEPS; s++) {
            paramset_zero_grads(&m[k].params);
            curve[k][s] = finecliper_step(&m[k], &in, labels, B, 1, 1.0f / B, NULL) / B;
            double norm;
            optimizer_step(&opt, 1.0f, &norm);
        }
        optimizer_free(&opt);
    }
    compare_curves(what, curve);
    for (int k = 0; k < 2; k++) {
        finecliper_free(&m[k]);
        if (all_levels) clip_model_free(&desc[k]);
        clip_model_free(&clip[k]);
    }
    free(frames), free(parsing), free(landmarks);
}

static void dfer_clip_case(const TensorMap *hf, const ClipConfig *cc) {
    ClipModel clip[2];
    DferClip m[2];
    double loss[2], curve[2][STEPS];
    float logits[2][B * C];
    int32_t ids[C * 77];
    compare_prompts(ids, C, 1, 3);
    size_t vals = (size_t)B * T * 3 * cc->image_size * cc->image_size;
    float *frames = compare_random_floats(vals, 24, 0.2f, 0.5f);
    int32_t labels[B] = {2, 3, 0};
    for (int k = 0; k < 2; k++) {
        Err err;
        EXPECT(clip_model_from_hf(g_ops[k], hf, cc, DT_BF16, &clip[k], &err) == 0, "clip: %s", err.msg);
        DferClipConfig dc;
        dfer_clip_config_default(&dc);
        dc.frames = T, dc.num_classes = C, dc.contexts = 3, dc.logit_scale = 10.0f;
        EXPECT(dfer_clip_create(g_ops[k], &clip[k], &dc, ids, 6, &m[k], &err) == 0, "create: %s", err.msg);
        paramset_zero_grads(&m[k].params);
        loss[k] = dfer_clip_step(&m[k], frames, labels, B, 1, 1.0f / B, logits[k]);
    }
    compare_step_outputs("DFER-CLIP", "CPU", "GPU", loss[0], loss[1], logits[0], logits[1], B * C, LOSS_REL_TOL,
                         LOGITS_REL_TOL);
    compare_param_grads("DFER-CLIP", &m[0].params, &m[1].params, GRAD_REL_L2_TOL, GRAD_COSINE_MIN);
    for (int k = 0; k < 2; k++) {
        Optimizer opt;
        adamw(&opt, &m[k].params);
        for (int s = 0; s < STEPS; s++) {
            paramset_zero_grads(&m[k].params);
            curve[k][s] = dfer_clip_step(&m[k], frames, labels, B, 1, 1.0f / B, NULL) / B;
            double norm;
            optimizer_step(&opt, 1.0f, &norm);
        }
        optimizer_free(&opt);
    }
    compare_curves("DFER-CLIP", curve);
    for (int k = 0; k < 2; k++) dfer_clip_free(&m[k]), clip_model_free(&clip[k]);
    free(frames);
}

/* --self-test: a second CPU context stands in for the GPU (checks this test's own logic anywhere). */
int main(int argc, char **argv) {
    int self_test = argc > 1 && !strcmp(argv[1], "--self-test");
    Backend other = self_test ? BACKEND_CPU : BACKEND_CUDA;
    if (!self_test) {
#ifndef DFER_WITH_CUDA
        printf("SKIP: no GPU (this build has no CUDA)\n");
        return 77;
#else
        if (dfer_cuda_device_count() == 0) {
            printf("SKIP: no GPU (dfer_cuda_device_count() == 0)\n");
            return 77;
        }
#endif
    }
    Err err;
    CHECK(ops_create(BACKEND_CPU, 0, &g_ops[0], &err) == 0, "%s", err.msg);
    CHECK(ops_create(other, 0, &g_ops[1], &err) == 0, "%s", err.msg);
    printf("%s against %s\n", ops_describe(g_ops[1]), ops_describe(g_ops[0]));
    ClipConfig cc;
    CHECK(clip_config_preset("tiny", &cc, &err) == 0, "%s", err.msg);
    TensorMap hf;
    CHECK(clip_init_random(&cc, 3, &hf, &err) == 0, "%s", err.msg);
    clip_perturb_for_tests(&hf, 4, 0.1f);
    finecliper_case(&hf, &cc, 0);
    finecliper_case(&hf, &cc, 1);
    dfer_clip_case(&hf, &cc);
    tmap_free(&hf);
    ops_destroy(g_ops[1]);
    ops_destroy(g_ops[0]);
    return test_summary();
}
