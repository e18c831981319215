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

#include "core/rng.h"
#include "model/clip_init.h"
#include "model/dfer_clip.h"
#include "model/finecliper.h"
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

/* Prompt rows [C, 77]: SOT, a few ids, EOT (the largest id), zeros. */
static void prompts(int32_t *ids, int classes, int shift, int placeholders) {
    memset(ids, 0, (size_t)classes * 77 * sizeof(int32_t));
    for (int c = 0; c < classes; c++) {
        int len = 3 + placeholders + (c + shift) % 4;
        ids[c * 77] = 49406;
        for (int i = 1; i < len; i++) ids[c * 77 + i] = i <= placeholders ? 343 : 1000 + 37 * c + 11 * i + shift;
        ids[c * 77 + len] = 49407;
    }
}

static float *random_frames(size_t n, uint64_t seed) {
    float *v = malloc(n * sizeof(float));
    Rng r;
    rng_init(&r, seed, 0, 0, 0);
    for (size_t i = 0; i < n; i++) v[i] = (float)rng_normal(&r);
    return v;
}

/* Every trainable gradient of `mixed` against `ref` (same declarations). */
static void compare_grads(const char *what, ParamSet *ref, ParamSet *mixed) {
    EXPECT(ref->count == mixed->count && mixed->dtype == DT_F32, "%s: parameter sets differ", what);
    double worst_rel = 0, worst_cos = 1;
    const char *worst_name = "";
    for (int i = 0; i < ref->count; i++) {
        const ParamEntry *e = paramset_get(ref, i);
        size_t n = (size_t)tensor_numel(&e->value);
        double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double));
        paramset_download_f64(ref, i, 1, a);
        paramset_download_f64(mixed, i, 1, b);
        double dd = 0, aa = 0, bb = 0, ab = 0;
        for (size_t k = 0; k < n; k++) dd += (a[k] - b[k]) * (a[k] - b[k]), aa += a[k] * a[k], bb += b[k] * b[k], ab += a[k] * b[k];
        free(a), free(b);
        if (aa < 1e-24) { /* a gradient that is zero in F32 (an untouched parameter) must be ~zero in BF16 */
            EXPECT(bb < 1e-12, "%s: %s: zero in F32, %.3g in BF16", what, e->name, sqrt(bb));
            continue;
        }
        double rel = sqrt(dd / aa), cosine = ab / sqrt(aa * bb + 1e-300);
        if (rel > worst_rel) worst_rel = rel, worst_name = e->name;
        if (cosine < worst_cos) worst_cos = cosine;
        EXPECT(rel < GRAD_REL_L2_TOL && cosine > GRAD_COSINE_MIN, "%s: gradient of %s: relative L2 error %.3g, cosine %.6f",
               what, e->name, rel, cosine);
    }
    printf("%s: %d gradients, worst relative L2 error %.3g (%s), lowest cosine %.6f\n", what, ref->count, worst_rel,
           worst_name, worst_cos);
}

static void compare_outputs(const char *what, double loss_ref, double loss_mixed, const float *lr, const float *lm,
                            size_t n) {
    double rel = fabs(loss_mixed - loss_ref) / fabs(loss_ref), worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(lr[i])), worst = fmax(worst, fabs(lr[i] - lm[i]));
    printf("%s: loss %.6f (F32) vs %.6f (BF16), relative %.2e; logits max difference %.3g of %.3g\n", what, loss_ref,
           loss_mixed, rel, worst, scale);
    EXPECT(isfinite(loss_mixed) && rel < LOSS_REL_TOL, "%s: loss differs by %.3g relative", what, rel);
    EXPECT(worst <= LOGITS_REL_TOL * scale, "%s: logits differ by %.3g (scale %.3g)", what, worst, scale);
}

static void finecliper_case(const TensorMap *hf, const ClipConfig *cc, int all_levels) {
    const char *what = all_levels ? "FineCLIPER low+mid+high" : "FineCLIPER low";
    enum { C = 5, B = 3, T = 4 };
    ClipModel clip[2], desc[2];
    FineCliper m[2];
    double loss[2];
    float logits[2][B * C];
    int32_t pos[C * 77], neg[C * 77], desc_ids[B * 77];
    prompts(pos, C, 0, 0), prompts(neg, C, 2, 0), prompts(desc_ids, B, 5, 0);
    size_t frame_vals = (size_t)B * T * 3 * cc->image_size * cc->image_size;
    float *frames = random_frames(frame_vals, 21), *parsing = random_frames(frame_vals, 22),
          *landmarks = random_frames(frame_vals, 23);
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
        /* the up-projections start at zero: move them so that every adapter carries gradient */
        for (int i = 0; i < m[k].params.count; i++) {
            const ParamEntry *e = paramset_get(&m[k].params, i);
            size_t n = (size_t)tensor_numel(&e->value);
            double *v = malloc(n * sizeof(double));
            paramset_download_f64(&m[k].params, i, 0, v);
            Rng r;
            rng_init(&r, 31, (uint64_t)i, 0, 0);
            for (size_t j = 0; j < n; j++) v[j] += 0.05 * rng_normal(&r);
            paramset_upload_f64(&m[k].params, i, v);
            free(v);
        }
        int32_t dids[B * 248];
        memset(dids, 0, sizeof dids);
        for (int b = 0; b < B; b++) memcpy(dids + b * 248, desc_ids + b * 77, 12 * sizeof(int32_t)); /* rows of the stretched context */
        FineCliperInputs in = {.frames = frames, .parsing = all_levels ? parsing : NULL,
                               .landmarks = all_levels ? landmarks : NULL, .descriptions = all_levels ? dids : NULL};
        paramset_zero_grads(&m[k].params);
        loss[k] = finecliper_step(&m[k], &in, labels, B, 1, 1.0f / B, logits[k]);
    }
    compare_outputs(what, loss[0], loss[1], logits[0], logits[1], B * C);
    compare_grads(what, &m[0].params, &m[1].params);
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
    prompts(ids, C, 1, 3);
    size_t frame_vals = (size_t)B * T * 3 * cc->image_size * cc->image_size;
    float *frames = random_frames(frame_vals, 24);
    for (size_t i = 0; i < frame_vals; i++) frames[i] = 0.5f + 0.2f * frames[i]; /* raw pixels around 0.5 */
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
    compare_outputs("DFER-CLIP", loss[0], loss[1], logits[0], logits[1], B * C);
    compare_grads("DFER-CLIP", &m[0].params, &m[1].params);
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
