#include "model_compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "testlib.h"

void compare_prompts(int32_t *ids, int classes, int shift, int placeholders) {
    memset(ids, 0, (size_t)classes * 77 * sizeof(int32_t));
    for (int c = 0; c < classes; c++) {
        int len = 3 + placeholders + (c + shift) % 4;
        ids[c * 77] = 49406;
        for (int i = 1; i < len; i++) ids[c * 77 + i] = i <= placeholders ? 343 : 1000 + 37 * c + 11 * i + shift;
        ids[c * 77 + len] = 49407;
    }
}

float *compare_random_floats(size_t n, uint64_t seed, float scale, float offset) {
    float *v = malloc(n * sizeof(float));
    Rng r;
    rng_init(&r, seed, 0, 0, 0);
    for (size_t i = 0; i < n; i++) v[i] = offset + scale * (float)rng_normal(&r);
    return v;
}

void compare_perturb_params(ParamSet *ps) {
    for (int i = 0; i < ps->count; i++) {
        size_t n = (size_t)tensor_numel(&paramset_get(ps, i)->value);
        double *v = malloc(n * sizeof(double));
        paramset_download_f64(ps, i, 0, v);
        Rng r;
        rng_init(&r, 31, (uint64_t)i, 0, 0);
        for (size_t j = 0; j < n; j++) v[j] += 0.05 * rng_normal(&r);
        paramset_upload_f64(ps, i, v);
        free(v);
    }
}

void compare_param_grads(const char *what, ParamSet *ref, ParamSet *other, double rel_tol, double cos_min) {
    EXPECT(ref->count == other->count, "%s: the parameter sets differ", what);
    double worst_rel = 0, worst_cos = 1;
    const char *worst_name = "";
    for (int i = 0; i < ref->count; i++) {
        const ParamEntry *e = paramset_get(ref, i);
        size_t n = (size_t)tensor_numel(&e->value);
        double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double));
        paramset_download_f64(ref, i, 1, a);
        paramset_download_f64(other, i, 1, b);
        double dd = 0, aa = 0, bb = 0, ab = 0;
        for (size_t k = 0; k < n; k++)
            dd += (a[k] - b[k]) * (a[k] - b[k]), aa += a[k] * a[k], bb += b[k] * b[k], ab += a[k] * b[k];
        free(a), free(b);
        if (aa < 1e-24) {
            EXPECT(bb < 1e-12, "%s: %s: zero in the reference, %.3g here", what, e->name, sqrt(bb));
            continue;
        }
        double rel = sqrt(dd / aa), cosine = ab / sqrt(aa * bb + 1e-300);
        if (rel > worst_rel) worst_rel = rel, worst_name = e->name;
        if (cosine < worst_cos) worst_cos = cosine;
        EXPECT(rel < rel_tol && cosine > cos_min, "%s: gradient of %s: relative L2 error %.3g, cosine %.6f", what,
               e->name, rel, cosine);
    }
    printf("%s: %d gradients, worst relative L2 error %.3g (%s), lowest cosine %.6f\n", what, ref->count, worst_rel,
           worst_name, worst_cos);
}

void compare_step_outputs(const char *what, const char *ref_name, const char *other_name, double loss_ref,
                          double loss_other, const float *logits_ref, const float *logits_other, int n,
                          double loss_tol, double logits_tol) {
    double rel = fabs(loss_other - loss_ref) / fabs(loss_ref), worst = 0, scale = 0;
    for (int i = 0; i < n; i++)
        scale = fmax(scale, fabs(logits_ref[i])), worst = fmax(worst, fabs(logits_ref[i] - logits_other[i]));
    printf("%s: loss %.6f (%s) vs %.6f (%s), relative %.2e; logits max difference %.3g of %.3g\n", what, loss_ref,
           ref_name, loss_other, other_name, rel, worst, scale);
    EXPECT(isfinite(loss_other) && rel < loss_tol, "%s: loss differs by %.3g relative", what, rel);
    EXPECT(worst <= logits_tol * scale, "%s: logits differ by %.3g (scale %.3g)", what, worst, scale);
}
