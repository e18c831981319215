/* The mixed-precision model (BF16 frozen weights and activations, F32
 * parameters, gradients and head; the CUDA path's dtypes) against the same
 * model in F32, on the CPU backend: one training step of FineCLIPER (low level,
 * and all levels) and DFER-CLIP on the tiny CLIP preset, with the same weights,
 * parameters and batch. BF16 keeps 8 bits of mantissa, so the two agree to
 * about 1e-2, not bitwise: the test bounds the loss's relative difference, the
 * logits', and each trainable gradient's relative L2 error and cosine. The
 * bounds are loose enough for rounding and tight enough to fail when a tensor
 * is computed from the wrong dtype (a BF16 buffer read as F32 gives garbage, a
 * dropped accumulation gives a cosine far from 1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/clip_init.h"
#include "model/dfer_clip.h"
#include "model/finecliper.h"
#include "model_compare.h"
#include "testlib.h"

static Ops *g_ops;

/* Relative bounds of BF16 against F32 (8-bit mantissa, ~0.4% per rounding, a few
 * roundings deep through 2+2 blocks). */
#define LOSS_REL_TOL 0.02
#define LOGITS_REL_TOL 0.05
#define GRAD_REL_L2_TOL 0.08
#define GRAD_COSINE_MIN 0.995

static void build_clip(const TensorMap *hf, const ClipConfig *cfg, DType dtype, ClipModel *m) {
    Err err;
    EXPECT(clip_model_from_hf(g_ops, hf, cfg, dtype, m, &err) == 0, "clip (%s): %s", dtype_name(dtype), err.msg);
}

static void finecliper_case(const TensorMap *hf, const ClipConfig *cc, int all_levels) {
    const char *what = all_levels ? "FineCLIPER low+mid+high" : "FineCLIPER low";
    enum { C = 5, B = 3, T = 4 };
    ClipModel clip[2], desc[2];
    FineCliper m[2];
    double loss[2];
    float logits[2][B * C];
    int32_t pos[C * 77], neg[C * 77], desc_ids[B * 77];
    compare_prompts(pos, C, 0, 0), compare_prompts(neg, C, 2, 0), compare_prompts(desc_ids, B, 5, 0);
    size_t frame_vals = (size_t)B * T * 3 * cc->image_size * cc->image_size;
    float *frames = compare_random_floats(frame_vals, 21, 1, 0), *parsing = compare_random_floats(frame_vals, 22, 1, 0),
          *landmarks = compare_random_floats(frame_vals, 23, 1, 0);
    int32_t labels[B] = {1, 4, 0};
    for (int k = 0; k < 2; k++) {
        DType dtype = k ? DT_BF16 : DT_F32;
        build_clip(hf, cc, dtype, &clip[k]);
        FineCliperConfig fc;
        finecliper_config_default(&fc);
        fc.frames = T, fc.num_classes = C, fc.bottleneck_divisor = 4;
        if (all_levels) {
            Err err;
            EXPECT(clip_text_view_stretched(&clip[k], &desc[k], &err) == 0, "stretch: %s", err.msg);
            fc.mid_streams = FC_MID_PARSING | FC_MID_LANDMARKS, fc.high = 1, fc.description_length = 12;
        }
        Err err;
        EXPECT(finecliper_create(g_ops, &clip[k], all_levels ? &desc[k] : NULL, &fc, pos, neg, 5, &m[k], &err) == 0,
               "create (%s): %s", dtype_name(dtype), err.msg);
        compare_perturb_params(&m[k].params);
        int32_t dids[B * 248];
        memset(dids, 0, sizeof dids);
        /* rows of the stretched context */
        for (int b = 0; b < B; b++) memcpy(dids + b * 248, desc_ids + b * 77, 12 * sizeof(int32_t));
        FineCliperInputs in = {.frames = frames, .parsing = all_levels ? parsing : NULL,
                               .landmarks = all_levels ? landmarks : NULL, .descriptions = all_levels ? dids : NULL};
        paramset_zero_grads(&m[k].params);
        loss[k] = finecliper_step(&m[k], &in, labels, B, 1, 1.0f / B, logits[k]);
    }
    compare_step_outputs(what, "F32", "BF16", loss[0], loss[1], logits[0], logits[1], B * C, LOSS_REL_TOL,
                         LOGITS_REL_TOL);
    compare_param_grads(what, &m[0].params, &m[1].params, GRAD_REL_L2_TOL, GRAD_COSINE_MIN);
    for (int k = 0; k < 2; k++) {
        finecliper_free(&m[k]);
        if (all_levels) clip_model_free(&desc[k]);
        clip_model_free(&clip[k]);
    }
    free(frames), free(parsing), free(landmarks);
}

static void dfer_clip_case(const TensorMap *hf, const ClipConfig *cc) {
    enum { C = 5, B = 3, T = 4 };
    ClipModel clip[2];
    DferClip m[2];
    double loss[2];
    float logits[2][B * C];
    int32_t ids[C * 77];
    compare_prompts(ids, C, 1, 3);
    size_t frame_vals = (size_t)B * T * 3 * cc->image_size * cc->image_size;
    float *frames = compare_random_floats(frame_vals, 24, 0.2f, 0.5f); /* raw pixels around 0.5 */
    int32_t labels[B] = {2, 3, 0};
    for (int k = 0; k < 2; k++) {
        DType dtype = k ? DT_BF16 : DT_F32;
        build_clip(hf, cc, dtype, &clip[k]);
        DferClipConfig dc;
        dfer_clip_config_default(&dc);
        dc.frames = T, dc.num_classes = C, dc.contexts = 3, dc.logit_scale = 10.0f;
        Err err;
        EXPECT(dfer_clip_create(g_ops, &clip[k], &dc, ids, 6, &m[k], &err) == 0, "create (%s): %s", dtype_name(dtype),
               err.msg);
        paramset_zero_grads(&m[k].params);
        loss[k] = dfer_clip_step(&m[k], frames, labels, B, 1, 1.0f / B, logits[k]);
    }
    compare_step_outputs("DFER-CLIP", "F32", "BF16", loss[0], loss[1], logits[0], logits[1], B * C, LOSS_REL_TOL,
                         LOGITS_REL_TOL);
    compare_param_grads("DFER-CLIP", &m[0].params, &m[1].params, GRAD_REL_L2_TOL, GRAD_COSINE_MIN);
    for (int k = 0; k < 2; k++) dfer_clip_free(&m[k]), clip_model_free(&clip[k]);
    free(frames);
}

int main(void) {
    Err err;
    CHECK(ops_create(BACKEND_CPU, 2, &g_ops, &err) == 0, "%s", err.msg);
    ClipConfig cc;
    CHECK(clip_config_preset("tiny", &cc, &err) == 0, "%s", err.msg);
    TensorMap hf;
    CHECK(clip_init_random(&cc, 3, &hf, &err) == 0, "%s", err.msg);
    clip_perturb_for_tests(&hf, 4, 0.1f);
    finecliper_case(&hf, &cc, 0);
    finecliper_case(&hf, &cc, 1);
    dfer_clip_case(&hf, &cc);
    tmap_free(&hf);
    ops_destroy(g_ops);
    return test_summary();
}
