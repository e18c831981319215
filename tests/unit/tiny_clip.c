#include "tiny_clip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

static uint64_t g_key = 7000;

Tensor tiny_random(int ndim, int64_t d0, int64_t d1, int64_t d2, double scale, double offset) {
    Tensor t = tensor_make(NULL, DT_F64, ndim, d0, d1, d2);
    int64_t n = tensor_numel(&t);
    double *v = malloc((size_t)n * sizeof(double));
    Rng r;
    rng_init(&r, 3, g_key++, 0, 0);
    for (int64_t i = 0; i < n; i++) v[i] = offset + scale * rng_normal(&r);
    t.data = v;
    return t;
}

static void random_layer(ClipLayer *p, int64_t w) {
    p->ln1_g = tiny_random(1, w, 0, 0, 0.1, 1), p->ln1_b = tiny_random(1, w, 0, 0, 0.1, 0);
    p->qkv_w = tiny_random(2, 3 * w, w, 0, 0.3, 0), p->qkv_b = tiny_random(1, 3 * w, 0, 0, 0.1, 0);
    p->out_w = tiny_random(2, w, w, 0, 0.3, 0), p->out_b = tiny_random(1, w, 0, 0, 0.1, 0);
    p->ln2_g = tiny_random(1, w, 0, 0, 0.1, 1), p->ln2_b = tiny_random(1, w, 0, 0, 0.1, 0);
    p->fc1_w = tiny_random(2, 4 * w, w, 0, 0.3, 0), p->fc1_b = tiny_random(1, 4 * w, 0, 0, 0.1, 0);
    p->fc2_w = tiny_random(2, w, 4 * w, 0, 0.2, 0), p->fc2_b = tiny_random(1, w, 0, 0, 0.1, 0);
}

void tiny_clip_build(Ops *ops, ClipModel *m, uint64_t seed) { tiny_clip_build_deep(ops, m, seed, 2); }

void tiny_clip_build_deep(Ops *ops, ClipModel *m, uint64_t seed, int vision_layers) {
    g_key = 7000 + seed * 1000;
    memset(m, 0, sizeof *m);
    m->cfg = (ClipConfig){.image_size = 8, .patch_size = 4, .vision_width = 8, .vision_layers = vision_layers,
                          .vision_heads = 2,
                          .context_length = 12, .vocab_size = 60, .text_width = 8, .text_layers = 2,
                          .text_heads = 2, .embed_dim = 6, .has_vision = 1, .has_text = 1};
    m->ops = ops;
    m->dtype = DT_F64;
    m->patch_w = tiny_random(2, 8, 3 * 16, 0, 0.2, 0);
    m->class_emb = tiny_random(1, 8, 0, 0, 0.5, 0);
    m->vis_pos = tiny_random(2, 5, 8, 0, 0.3, 0);
    m->ln_pre_g = tiny_random(1, 8, 0, 0, 0.1, 1), m->ln_pre_b = tiny_random(1, 8, 0, 0, 0.1, 0);
    m->ln_post_g = tiny_random(1, 8, 0, 0, 0.1, 1), m->ln_post_b = tiny_random(1, 8, 0, 0, 0.1, 0);
    m->vis_proj = tiny_random(2, 6, 8, 0, 0.3, 0);
    m->vis_layers = calloc((size_t)vision_layers, sizeof(ClipLayer));
    m->txt_layers = calloc(2, sizeof(ClipLayer));
    /* the vision and text layers drawn in turn (with 2 vision layers the draws of tiny_clip_build as ever) */
    for (int l = 0; l < vision_layers || l < 2; l++) {
        if (l < vision_layers) random_layer(&m->vis_layers[l], 8);
        if (l < 2) random_layer(&m->txt_layers[l], 8);
    }
    m->tok_emb = tiny_random(2, 60, 8, 0, 0.5, 0);
    m->txt_pos = tiny_random(2, 12, 8, 0, 0.2, 0);
    m->ln_final_g = tiny_random(1, 8, 0, 0, 0.1, 1), m->ln_final_b = tiny_random(1, 8, 0, 0, 0.1, 0);
    m->txt_proj = tiny_random(2, 6, 8, 0, 0.3, 0);
}

static void free_layer(ClipLayer *p) {
    Tensor *ts[] = {&p->ln1_g, &p->ln1_b, &p->qkv_w, &p->qkv_b, &p->out_w, &p->out_b,
                    &p->ln2_g, &p->ln2_b, &p->fc1_w, &p->fc1_b, &p->fc2_w, &p->fc2_b};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) free(ts[i]->data);
}

void tiny_clip_free(ClipModel *m) {
    /* tiny_clip_build malloc'ed each weight (m->params is NULL): clip_model_free frees only the layer arrays */
    Tensor *ts[] = {&m->patch_w, &m->class_emb, &m->vis_pos, &m->ln_pre_g, &m->ln_pre_b, &m->ln_post_g,
                    &m->ln_post_b, &m->vis_proj, &m->tok_emb, &m->txt_pos, &m->ln_final_g, &m->ln_final_b,
                    &m->txt_proj};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) free(ts[i]->data);
    for (int l = 0; l < m->cfg.vision_layers; l++) free_layer(&m->vis_layers[l]);
    for (int l = 0; l < 2; l++) free_layer(&m->txt_layers[l]);
    clip_model_free(m);
}

void tiny_prompts(int32_t *ids, int classes, int shift, int placeholders) {
    const int ctx = 12;
    memset(ids, 0, (size_t)classes * ctx * sizeof(int32_t));
    for (int c = 0; c < classes; c++) {
        int len = 2 + placeholders + (c + shift) % 3;
        ids[c * ctx] = 50;
        for (int i = 1; i < len; i++)
            ids[c * ctx + i] = i <= placeholders ? 40 : (int32_t)(1 + (7 * c + 3 * i + shift) % 39);
        ids[c * ctx + len] = 59;
    }
}

void tiny_finecliper(Ops *ops, ClipModel *clip, const FineCliperConfig *cfg, FineCliper *m) {
    enum { MAX_CLASSES = 16 };
    CHECK(cfg->num_classes <= MAX_CLASSES, "tiny_finecliper: %d classes, at most %d", cfg->num_classes, MAX_CLASSES);
    int32_t pos[MAX_CLASSES * 12], neg[MAX_CLASSES * 12];
    tiny_prompts(pos, cfg->num_classes, 0, 0);
    tiny_prompts(neg, cfg->num_classes, 1, 0);
    Err err;
    CHECK(finecliper_create(ops, clip, NULL, cfg, pos, neg, 5, m, &err) == 0, "tiny_finecliper: %s", err.msg);
}

#include <math.h>

double params_gradcheck(ParamSet *ps, double (*loss)(void *ctx), void *ctx, int per_tensor, const char **worst_name,
                        int *checked) {
    double worst = 0;
    *worst_name = "";
    *checked = 0;
    for (int i = 0; i < ps->count; i++) {
        const ParamEntry *e = paramset_get(ps, i);
        int64_t n = tensor_numel(&e->value);
        double *v = malloc((size_t)n * sizeof(double)), *g = malloc((size_t)n * sizeof(double));
        paramset_download_f64(ps, i, 0, v);
        paramset_download_f64(ps, i, 1, g);
        int64_t step = n > per_tensor ? n / per_tensor : 1;
        for (int64_t k = 0; k < n; k += step) {
            double keep = v[k], h = 1e-6;
            v[k] = keep + h;
            paramset_upload_f64(ps, i, v);
            double lp = loss(ctx);
            v[k] = keep - h;
            paramset_upload_f64(ps, i, v);
            double lm = loss(ctx);
            v[k] = keep;
            paramset_upload_f64(ps, i, v);
            double num = (lp - lm) / (2 * h), err = fabs(num - g[k]) / fmax(1e-3, fabs(num));
            if (err > worst) worst = err, *worst_name = e->name;
            (*checked)++;
        }
        free(v);
        free(g);
    }
    return worst;
}

void params_randomise(ParamSet *ps, double scale) {
    for (int i = 0; i < ps->count; i++) {
        Tensor t = tiny_random(1, tensor_numel(&paramset_get(ps, i)->value), 0, 0, scale, 0);
        paramset_upload_f64(ps, i, t.data);
        free(t.data);
    }
}

void tiny_copy_values(const ParamSet *from, ParamSet *to) {
    CHECK(from->count == to->count, "tiny_copy_values: %d and %d parameter tensors", from->count, to->count);
    for (int i = 0; i < from->count; i++) {
        double *v = malloc((size_t)tensor_numel(&paramset_get(from, i)->value) * sizeof(double));
        paramset_download_f64(from, i, 0, v);
        paramset_upload_f64(to, i, v);
        free(v);
    }
}

int64_t tiny_grads_differ(const ParamSet *ref, const ParamSet *m, const char **first, double *largest) {
    int64_t differ = 0;
    if (first) *first = NULL;
    for (int i = 0; i < ref->count; i++) {
        const ParamEntry *e = paramset_get(ref, i);
        int64_t k = tensor_numel(&e->grad);
        double *a = malloc((size_t)k * sizeof(double)), *g = malloc((size_t)k * sizeof(double));
        paramset_download_f64(ref, i, 1, a);
        paramset_download_f64(m, i, 1, g);
        for (int64_t q = 0; q < k; q++) {
            if (a[q] != g[q] && !differ++ && first) *first = e->name;
            if (largest) *largest = fmax(*largest, fabs(a[q]));
        }
        free(a), free(g);
    }
    return differ;
}
