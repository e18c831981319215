#include "model/clip_init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/rng.h"

static uint64_t name_key(const char *s) { return fnv1a_text(FNV1A_BASIS, s); }

typedef enum { FILL_NORMAL, FILL_ONES, FILL_ZEROS, FILL_CONST } Fill;

/* When set, tensors are declared with their shapes only (no values): architecture checks. */
static _Thread_local int g_shapes_only;

static int add(TensorMap *m, uint64_t seed, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d,
               Fill fill, double value, Err *err) {
    int64_t shape[4] = {a, b, c, d};
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    if (g_shapes_only) return tmap_add(m, name, DT_F32, ndim, shape, NULL, 0, err);
    float *v = xmalloc((size_t)(n ? n : 1) * sizeof(float));
    Rng r;
    rng_init(&r, seed, name_key(name), 0, 0);
    for (int64_t i = 0; i < n; i++)
        v[i] = fill == FILL_NORMAL ? (float)(value * rng_normal(&r)) : fill == FILL_ONES ? 1.0f
                                                                     : fill == FILL_CONST ? (float)value : 0.0f;
    tmap_own(m, v);
    return tmap_add(m, name, DT_F32, ndim, shape, v, 0, err);
}

static int add_layers(TensorMap *m, uint64_t seed, const char *prefix, int layers, int64_t x, Err *err) {
    double attn_std = pow((double)x, -0.5), proj_std = pow((double)x, -0.5) * pow(2.0 * layers, -0.5);
    double fc_std = pow(2.0 * (double)x, -0.5);
    char n[200];
#define NAME(s) (snprintf(n, sizeof n, "%s.encoder.layers.%d.%s", prefix, l, s), n)
    for (int l = 0; l < layers; l++) {
        if (add(m, seed, NAME("layer_norm1.weight"), 1, x, 0, 0, 0, FILL_ONES, 0, err) ||
            add(m, seed, NAME("layer_norm1.bias"), 1, x, 0, 0, 0, FILL_ZEROS, 0, err) ||
            add(m, seed, NAME("self_attn.q_proj.weight"), 2, x, x, 0, 0, FILL_NORMAL, attn_std, err) ||
            add(m, seed, NAME("self_attn.q_proj.bias"), 1, x, 0, 0, 0, FILL_ZEROS, 0, err) ||
            add(m, seed, NAME("self_attn.k_proj.weight"), 2, x, x, 0, 0, FILL_NORMAL, attn_std, err) ||
            add(m, seed, NAME("self_attn.k_proj.bias"), 1, x, 0, 0, 0, FILL_ZEROS, 0, err) ||
            add(m, seed, NAME("self_attn.v_proj.weight"), 2, x, x, 0, 0, FILL_NORMAL, attn_std, err) ||
            add(m, seed, NAME("self_attn.v_proj.bias"), 1, x, 0, 0, 0, FILL_ZEROS, 0, err) ||
            add(m, seed, NAME("self_attn.out_proj.weight"), 2, x, x, 0, 0, FILL_NORMAL, proj_std, err) ||
            add(m, seed, NAME("self_attn.out_proj.bias"), 1, x, 0, 0, 0, FILL_ZEROS, 0, err) ||
            add(m, seed, NAME("layer_norm2.weight"), 1, x, 0, 0, 0, FILL_ONES, 0, err) ||
            add(m, seed, NAME("layer_norm2.bias"), 1, x, 0, 0, 0, FILL_ZEROS, 0, err) ||
            add(m, seed, NAME("mlp.fc1.weight"), 2, 4 * x, x, 0, 0, FILL_NORMAL, fc_std, err) ||
            add(m, seed, NAME("mlp.fc1.bias"), 1, 4 * x, 0, 0, 0, FILL_ZEROS, 0, err) ||
            add(m, seed, NAME("mlp.fc2.weight"), 2, x, 4 * x, 0, 0, FILL_NORMAL, proj_std, err) ||
            add(m, seed, NAME("mlp.fc2.bias"), 1, x, 0, 0, 0, FILL_ZEROS, 0, err))
            return -1;
    }
#undef NAME
    return 0;
}

int clip_init_random(const ClipConfig *c, uint64_t seed, TensorMap *m, Err *err) {
    if (clip_config_validate(c, err) != 0) return -1;
    tmap_init(m, "(random CLIP)");
    /* A text-only config has no patch size (0): its grid is not computed (division by zero). */
    int64_t W = c->vision_width, P = c->patch_size, g = c->has_vision ? clip_grid(c) : 0;
    int64_t T = c->text_width, E = c->embed_dim;
    double vscale = pow((double)W, -0.5);
    int rc = 0;
    if (c->has_vision)
        rc = add(m, seed, "vision_model.embeddings.patch_embedding.weight", 4, W, 3, P, P, FILL_NORMAL,
                 pow(3.0 * P * P, -0.5), err) ||
             add(m, seed, "vision_model.embeddings.class_embedding", 1, W, 0, 0, 0, FILL_NORMAL, vscale, err) ||
             add(m, seed, "vision_model.embeddings.position_embedding.weight", 2, g * g + 1, W, 0, 0, FILL_NORMAL,
                 vscale, err) ||
             add(m, seed, "vision_model.pre_layrnorm.weight", 1, W, 0, 0, 0, FILL_ONES, 0, err) ||
             add(m, seed, "vision_model.pre_layrnorm.bias", 1, W, 0, 0, 0, FILL_ZEROS, 0, err) ||
             add_layers(m, seed, "vision_model", c->vision_layers, W, err) ||
             add(m, seed, "vision_model.post_layernorm.weight", 1, W, 0, 0, 0, FILL_ONES, 0, err) ||
             add(m, seed, "vision_model.post_layernorm.bias", 1, W, 0, 0, 0, FILL_ZEROS, 0, err) ||
             add(m, seed, "visual_projection.weight", 2, E, W, 0, 0, FILL_NORMAL, vscale, err);
    if (!rc && c->has_text)
        rc = add(m, seed, "text_model.embeddings.token_embedding.weight", 2, c->vocab_size, T, 0, 0, FILL_NORMAL,
                 0.02, err) ||
             add(m, seed, "text_model.embeddings.position_embedding.weight", 2, c->context_length, T, 0, 0,
                 FILL_NORMAL, 0.01, err) ||
             add_layers(m, seed, "text_model", c->text_layers, T, err) ||
             add(m, seed, "text_model.final_layer_norm.weight", 1, T, 0, 0, 0, FILL_ONES, 0, err) ||
             add(m, seed, "text_model.final_layer_norm.bias", 1, T, 0, 0, 0, FILL_ZEROS, 0, err) ||
             add(m, seed, "text_projection.weight", 2, E, T, 0, 0, FILL_NORMAL, pow((double)T, -0.5), err);
    if (!rc) rc = add(m, seed, "logit_scale", 0, 0, 0, 0, 0, FILL_CONST, log(1.0 / 0.07), err);
    if (rc) tmap_free(m);
    return rc ? -1 : 0;
}

int clip_init_shapes(const ClipConfig *cfg, TensorMap *hf_out, Err *err) {
    g_shapes_only = 1;
    int rc = clip_init_random(cfg, 0, hf_out, err);
    g_shapes_only = 0;
    return rc;
}

int clip_perturb_for_tests(TensorMap *hf, uint64_t seed, float scale) {
    int perturbed = 0;
    for (int i = 0; i < hf->count; i++) {
        TensorEntry *e = &hf->items[i];
        size_t len = strlen(e->name);
        int bias = len > 5 && !strcmp(e->name + len - 5, ".bias");
        int norm = strstr(e->name, "norm") || strstr(e->name, "layrnorm");
        if ((!bias && !norm) || e->dtype != DT_F32 || !e->data) continue;
        int owned = 0; /* never write through a reference to someone else's memory (an mmap) */
        for (int k = 0; k < hf->n_owned && !owned; k++) owned = hf->owned[k] == (const void *)e->data;
        if (!owned) continue;
        Rng r;
        rng_init(&r, seed, name_key(e->name), 1, 0);
        float *v = (float *)e->data; /* clip_init_random's own buffers: writable */
        for (size_t k = 0; k < e->nbytes / 4; k++) v[k] += scale * (float)rng_normal(&r);
        perturbed++;
    }
    return perturbed;
}
