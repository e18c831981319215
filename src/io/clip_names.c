#include "io/clip_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"

/* Bounds on the sizes read from a checkpoint's header (a zero-element tensor may declare any dimension): widths,
 * positions and image sides of every CLIP fit far below them, and int arithmetic on them cannot overflow. */
#define CLIP_MAX_DIM (1 << 16)
#define CLIP_MAX_VOCAB (1 << 22)

/* Prefixes some exporters put before the model's own names. */
static const char *k_prefixes[] = {"module.", "model.", "state_dict.", "cond_stage_model.transformer.",
                                   "clip_l.transformer.", "clip.", "_orig_mod."};

static const char *strip_prefixes(const char *name) {
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < sizeof k_prefixes / sizeof k_prefixes[0]; i++) {
            size_t n = strlen(k_prefixes[i]);
            if (!strncmp(name, k_prefixes[i], n) && name[n]) {
                name += n;
                changed = 1;
            }
        }
    }
    return name;
}

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

/* A per-layer rename table: OpenAI suffix -> HF suffix (q/k/v handled apart). */
static const char *k_layer_map[][2] = {
    {"attn.out_proj.weight", "self_attn.out_proj.weight"}, {"attn.out_proj.bias", "self_attn.out_proj.bias"},
    {"ln_1.weight", "layer_norm1.weight"},                 {"ln_1.bias", "layer_norm1.bias"},
    {"mlp.c_fc.weight", "mlp.fc1.weight"},                 {"mlp.c_fc.bias", "mlp.fc1.bias"},
    {"mlp.c_proj.weight", "mlp.fc2.weight"},               {"mlp.c_proj.bias", "mlp.fc2.bias"},
    {"ln_2.weight", "layer_norm2.weight"},                 {"ln_2.bias", "layer_norm2.bias"},
};

static const char *k_top_map[][2] = {
    {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"},
    {"visual.class_embedding", "vision_model.embeddings.class_embedding"},
    {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"},
    {"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight"},
    {"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias"},
    {"visual.ln_post.weight", "vision_model.post_layernorm.weight"},
    {"visual.ln_post.bias", "vision_model.post_layernorm.bias"},
    {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
    {"ln_final.weight", "text_model.final_layer_norm.weight"},
    {"ln_final.bias", "text_model.final_layer_norm.bias"},
    {"logit_scale", "logit_scale"},
};

/* Transposed copy of a 2-d tensor (any element size). */
static int add_transposed(TensorMap *out, const char *name, const TensorEntry *e, Err *err) {
    if (e->ndim != 2) return err_set(err, "%s: tensor %s should be 2-d", out->source, e->name);
    int64_t r = e->shape[0], c = e->shape[1];
    size_t es = dtype_size(e->dtype);
    uint8_t *t = xmalloc((size_t)(r * c) * es + 1);
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++)
            memcpy(t + ((size_t)(j * r + i)) * es, e->data + ((size_t)(i * c + j)) * es, es);
    tmap_own(out, t);
    int64_t shape[2] = {c, r};
    return tmap_add(out, name, e->dtype, 2, shape, t, 0, err);
}

static int ignored_name(const char *n) {
    size_t len = strlen(n);
    return !strcmp(n, "attn_mask") || !strcmp(n, "input_resolution") || !strcmp(n, "context_length") ||
           !strcmp(n, "vocab_size") || (len >= 12 && !strcmp(n + len - 12, "position_ids")) ||
           (len >= 9 && !strcmp(n + len - 9, "attn_mask"));
}

static int openai_layer(TensorMap *out, const TensorEntry *e, const char *rest, const char *hf_prefix, Err *err) {
    /* rest: "<i>.<suffix>" */
    char *end;
    long layer = strtol(rest, &end, 10);
    if (end == rest || *end != '.') return 0;
    const char *suffix = end + 1;
    char name[256];
    if (!strcmp(suffix, "attn.in_proj_weight") || !strcmp(suffix, "attn.in_proj_bias")) {
        int is_w = suffix[13] == 'w';
        if (e->ndim != (is_w ? 2 : 1) || e->shape[0] % 3)
            return err_set(err, "%s: tensor %s should have 3X rows", out->source, e->name);
        int64_t x = e->shape[0] / 3, row = is_w ? e->shape[1] : 1;
        static const char *qkv[3] = {"q_proj", "k_proj", "v_proj"};
        for (int p = 0; p < 3; p++) {
            snprintf(name, sizeof name, "%s.encoder.layers.%ld.self_attn.%s.%s", hf_prefix, layer, qkv[p],
                     is_w ? "weight" : "bias");
            int64_t shape[2] = {x, row};
            if (tmap_add(out, name, e->dtype, is_w ? 2 : 1, shape,
                         e->data + (size_t)(p * x * row) * dtype_size(e->dtype), 0, err) != 0)
                return -1;
        }
        return 0;
    }
    if (strstr(suffix, "ls_1.") || strstr(suffix, "ls_2."))
        return err_set(err, "%s: tensor %s is a LayerScale, which the CLIP architecture here does not have",
                       out->source, e->name);
    for (size_t i = 0; i < sizeof k_layer_map / sizeof k_layer_map[0]; i++)
        if (!strcmp(suffix, k_layer_map[i][0])) {
            snprintf(name, sizeof name, "%s.encoder.layers.%ld.%s", hf_prefix, layer, k_layer_map[i][1]);
            return tmap_add(out, name, e->dtype, e->ndim, e->shape, e->data, 0, err);
        }
    return 0;
}

/* Long-CLIP: positions 0..19 from positional_embedding, 20.. from positional_embedding_res. */
static int long_clip_positions(TensorMap *out, const TensorEntry *pos, const TensorEntry *res, Err *err) {
    if (pos->ndim != 2 || res->ndim != 2 || pos->shape[0] != res->shape[0] || pos->shape[1] != res->shape[1] ||
        pos->dtype != res->dtype || pos->shape[0] < 20)
        return err_set(err, "%s: positional_embedding and positional_embedding_res disagree in shape or dtype",
                       out->source);
    size_t row = (size_t)pos->shape[1] * dtype_size(pos->dtype);
    uint8_t *m = xmalloc(row * (size_t)pos->shape[0]);
    memcpy(m, pos->data, 20 * row);
    memcpy(m + 20 * row, res->data + 20 * row, row * (size_t)(pos->shape[0] - 20));
    tmap_own(out, m);
    return tmap_add(out, "text_model.embeddings.position_embedding.weight", pos->dtype, 2, pos->shape, m, 0, err);
}

int clip_names_to_hf(const TensorMap *in, TensorMap *out, Err *err) {
    return clip_names_to_hf_scheme(in, out, NULL, err);
}

int clip_names_to_hf_scheme(const TensorMap *in, TensorMap *out, NamingScheme *scheme_found, Err *err) {
    tmap_init(out, in->source);
    int hf = 0;
    for (int i = 0; i < in->count && !hf; i++) {
        const char *n = strip_prefixes(in->items[i].name);
        hf = starts(n, "vision_model.") || starts(n, "text_model.") || starts(n, "visual_projection.");
    }
    if (scheme_found) *scheme_found = hf ? NAMES_HF : NAMES_OPENAI;
    const TensorEntry *pos = NULL, *pos_res = NULL;
    for (int i = 0; i < in->count; i++) {
        const TensorEntry *e = &in->items[i];
        const char *n = strip_prefixes(e->name);
        if (ignored_name(n)) continue;
        if (hf) {
            if (tmap_add(out, n, e->dtype, e->ndim, e->shape, e->data, 0, err) != 0) goto fail;
            continue;
        }
        if (starts(n, "text.")) n += 5; /* open_clip CustomTextCLIP */
        if (starts(n, "visual.transformer.resblocks.")) {
            if (openai_layer(out, e, n + strlen("visual.transformer.resblocks."), "vision_model", err) != 0) goto fail;
        } else if (starts(n, "transformer.resblocks.")) {
            if (openai_layer(out, e, n + strlen("transformer.resblocks."), "text_model", err) != 0) goto fail;
        } else if (!strcmp(n, "visual.proj")) {
            if (add_transposed(out, "visual_projection.weight", e, err) != 0) goto fail;
        } else if (!strcmp(n, "text_projection")) {
            if (add_transposed(out, "text_projection.weight", e, err) != 0) goto fail;
        } else if (!strcmp(n, "text_projection.weight")) { /* open_clip Linear projection: already [E, T] */
            if (tmap_add(out, "text_projection.weight", e->dtype, e->ndim, e->shape, e->data, 0, err) != 0) goto fail;
        } else if (!strcmp(n, "text_projection.bias")) {
            err_set(err, "%s: tensor %s: a biased text projection is not part of the CLIP architecture", in->source,
                    e->name);
            goto fail;
        } else if (!strcmp(n, "positional_embedding") || !strcmp(n, "positional_embedding_res")) {
            /* two names that strip to the same one ("module.positional_embedding" beside "positional_embedding"):
             * the last would win without a word, as tmap_add refuses for every other tensor */
            const TensorEntry **slot = strcmp(n, "positional_embedding") ? &pos_res : &pos;
            if (*slot) {
                err_set(err, "%s: tensors %s and %s are both the text tower's %s", in->source, (*slot)->name, e->name,
                        n);
                goto fail;
            }
            *slot = e;
        } else {
            for (size_t k = 0; k < sizeof k_top_map / sizeof k_top_map[0]; k++)
                if (!strcmp(n, k_top_map[k][0])) {
                    if (tmap_add(out, k_top_map[k][1], e->dtype, e->ndim, e->shape, e->data, 0, err) != 0) goto fail;
                    break;
                }
        }
    }
    if (pos && pos_res) {
        if (long_clip_positions(out, pos, pos_res, err) != 0) goto fail;
    } else if (pos) {
        if (tmap_add(out, "text_model.embeddings.position_embedding.weight", pos->dtype, pos->ndim, pos->shape,
                     pos->data, 0, err) != 0)
            goto fail;
    }
    if (out->count == 0) {
        err_set(err, "%s: no CLIP tensors recognised (neither Hugging Face nor OpenAI names)", in->source);
        goto fail;
    }
    return 0;
fail:
    tmap_free(out);
    return -1;
}

int clip_names_hf_to_openai(const TensorMap *hf, TensorMap *out, Err *err) {
    tmap_init(out, hf->source);
    for (int i = 0; i < hf->count; i++) {
        const TensorEntry *e = &hf->items[i];
        const char *n = e->name;
        char name[256];
        int done = 0;
        for (size_t k = 0; k < sizeof k_top_map / sizeof k_top_map[0] && !done; k++)
            if (!strcmp(n, k_top_map[k][1])) {
                if (tmap_add(out, k_top_map[k][0], e->dtype, e->ndim, e->shape, e->data, 0, err) != 0) goto fail;
                done = 1;
            }
        if (done) continue;
        if (!strcmp(n, "text_model.embeddings.position_embedding.weight")) {
            if (tmap_add(out, "positional_embedding", e->dtype, e->ndim, e->shape, e->data, 0, err) != 0) goto fail;
            /* Long-CLIP's own loader wants positional_embedding_res too (rows 20.. of the positions come from it):
             * the merged rows in both, which read back as the same positions */
            if (e->ndim == 2 && e->shape[0] > 77 &&
                tmap_add(out, "positional_embedding_res", e->dtype, e->ndim, e->shape, e->data, 0, err) != 0)
                goto fail;
        } else if (!strcmp(n, "visual_projection.weight")) {
            if (add_transposed(out, "visual.proj", e, err) != 0) goto fail;
        } else if (!strcmp(n, "text_projection.weight")) {
            if (add_transposed(out, "text_projection", e, err) != 0) goto fail;
        } else if (starts(n, "vision_model.encoder.layers.") || starts(n, "text_model.encoder.layers.")) {
            int vis = n[0] == 'v';
            const char *rest = n + strlen(vis ? "vision_model.encoder.layers." : "text_model.encoder.layers.");
            char *end;
            long layer = strtol(rest, &end, 10);
            if (end == rest || *end != '.') continue; /* not "<i>.<suffix>": no OpenAI counterpart */
            const char *suffix = end + 1;
            const char *oprefix = vis ? "visual.transformer.resblocks" : "transformer.resblocks";
            if (starts(suffix, "self_attn.q_proj.")) {
                /* q, k, v rows back into one in_proj tensor: only a 2-d weight and a 1-d bias */
                int is_w = !strcmp(suffix, "self_attn.q_proj.weight");
                if (!is_w && strcmp(suffix, "self_attn.q_proj.bias")) {
                    err_set(err, "%s: tensor %s is not a projection's weight or bias", hf->source, n);
                    goto fail;
                }
                if (e->ndim != (is_w ? 2 : 1)) {
                    err_set(err, "%s: tensor %s is %d-d, not %d-d", hf->source, n, e->ndim, is_w ? 2 : 1);
                    goto fail;
                }
                char kn[256], vn[256];
                snprintf(kn, sizeof kn, "%.*sk_proj.%s", (int)(strstr(n, "q_proj") - n), n, is_w ? "weight" : "bias");
                snprintf(vn, sizeof vn, "%.*sv_proj.%s", (int)(strstr(n, "q_proj") - n), n, is_w ? "weight" : "bias");
                const TensorEntry *k = tmap_find(hf, kn), *v = tmap_find(hf, vn);
                /* the same dtype and shape: F16 and BF16 have the same size, and their bytes side by side in one
                 * tensor would read as garbage */
                int same = k && v && k->dtype == e->dtype && v->dtype == e->dtype && k->ndim == e->ndim &&
                           v->ndim == e->ndim;
                for (int d = 0; same && d < e->ndim; d++)
                    same = k->shape[d] == e->shape[d] && v->shape[d] == e->shape[d];
                if (!same) {
                    err_set(err, "%s: %s has no k/v projections of its dtype (%s) and shape", hf->source, n,
                            dtype_name(e->dtype));
                    goto fail;
                }
                uint8_t *cat = xmalloc(3 * e->nbytes + 1);
                memcpy(cat, e->data, e->nbytes);
                memcpy(cat + e->nbytes, k->data, e->nbytes);
                memcpy(cat + 2 * e->nbytes, v->data, e->nbytes);
                tmap_own(out, cat);
                int64_t shape[2] = {3 * e->shape[0], is_w ? e->shape[1] : 1};
                snprintf(name, sizeof name, "%s.%ld.attn.in_proj_%s", oprefix, layer, is_w ? "weight" : "bias");
                if (tmap_add(out, name, e->dtype, e->ndim, shape, cat, 0, err) != 0) goto fail;
            } else if (starts(suffix, "self_attn.k_proj.") || starts(suffix, "self_attn.v_proj.")) {
                /* folded into in_proj with q */
            } else {
                for (size_t k = 0; k < sizeof k_layer_map / sizeof k_layer_map[0]; k++)
                    if (!strcmp(suffix, k_layer_map[k][1])) {
                        snprintf(name, sizeof name, "%s.%ld.%s", oprefix, layer, k_layer_map[k][0]);
                        if (tmap_add(out, name, e->dtype, e->ndim, e->shape, e->data, 0, err) != 0) goto fail;
                    }
            }
        }
    }
    return 0;
fail:
    tmap_free(out);
    return -1;
}

/* Layers = 1 + the highest index among "<prefix>.encoder.layers.<i>." names, so a
 * layer with a missing tensor is reported by clip_check_shapes, not dropped. */
static int count_layers(const TensorMap *hf, const char *prefix) {
    char head[64];
    int hn = snprintf(head, sizeof head, "%s.encoder.layers.", prefix), layers = 0;
    for (int i = 0; i < hf->count; i++) {
        const char *n = hf->items[i].name;
        if (strncmp(n, head, (size_t)hn)) continue;
        char *end;
        long l = strtol(n + hn, &end, 10);
        if (end != n + hn && *end == '.' && l >= 0 && l < 10000 && l + 1 > layers) layers = (int)l + 1;
    }
    return layers;
}

int clip_infer_config(const TensorMap *hf, ClipConfig *cfg, Err *err) {
    memset(cfg, 0, sizeof *cfg);
    const TensorEntry *pe = tmap_find(hf, "vision_model.embeddings.patch_embedding.weight");
    const TensorEntry *vp = tmap_find(hf, "vision_model.embeddings.position_embedding.weight");
    const TensorEntry *te = tmap_find(hf, "text_model.embeddings.token_embedding.weight");
    const TensorEntry *tp = tmap_find(hf, "text_model.embeddings.position_embedding.weight");
    const TensorEntry *vproj = tmap_find(hf, "visual_projection.weight");
    const TensorEntry *tproj = tmap_find(hf, "text_projection.weight");
    if (pe) {
        if (pe->ndim != 4 || pe->shape[1] != 3 || pe->shape[2] != pe->shape[3])
            return err_set(err, "%s: patch embedding has shape that is not [W, 3, P, P]", hf->source);
        if (!vp || vp->ndim != 2)
            return err_set(err, "%s: tensor vision_model.embeddings.position_embedding.weight is missing", hf->source);
        /* sizes from an untrusted header: a zero-element tensor may declare any dimension */
        if (pe->shape[0] < 1 || pe->shape[0] > CLIP_MAX_DIM || pe->shape[3] < 1 || pe->shape[3] > CLIP_MAX_DIM ||
            vp->shape[0] < 2 || vp->shape[0] > CLIP_MAX_DIM || vp->shape[1] != pe->shape[0])
            return err_set(err, "%s: patch embedding [%lld, 3, %lld, %lld] and vision positions [%lld, %lld] are not "
                                "the sizes of a CLIP (each 1..%d, positions as wide as the patches)",
                           hf->source, (long long)pe->shape[0], (long long)pe->shape[2], (long long)pe->shape[3],
                           (long long)vp->shape[0], (long long)vp->shape[1], CLIP_MAX_DIM);
        cfg->has_vision = 1;
        cfg->vision_width = (int)pe->shape[0];
        cfg->patch_size = (int)pe->shape[3];
        int g = 0;
        while ((int64_t)(g + 1) * (g + 1) + 1 <= vp->shape[0]) g++;
        if ((int64_t)g * g + 1 != vp->shape[0] || (int64_t)g * cfg->patch_size > CLIP_MAX_DIM)
            return err_set(err, "%s: %lld vision positions is not a square grid plus the class token", hf->source,
                           (long long)vp->shape[0]);
        cfg->image_size = g * cfg->patch_size;
        cfg->vision_layers = count_layers(hf, "vision_model");
        cfg->vision_heads = cfg->vision_width >= 64 ? cfg->vision_width / 64 : 1;
    }
    if (te) {
        if (te->ndim != 2 || !tp || tp->ndim != 2)
            return err_set(err, "%s: text token or position embedding is missing or not 2-d", hf->source);
        if (te->shape[0] < 1 || te->shape[0] > CLIP_MAX_VOCAB || te->shape[1] < 1 || te->shape[1] > CLIP_MAX_DIM ||
            tp->shape[0] < 1 || tp->shape[0] > CLIP_MAX_DIM)
            return err_set(err,
                           "%s: token embedding [%lld, %lld] and positions [%lld, ...] are not the sizes of a CLIP",
                           hf->source, (long long)te->shape[0], (long long)te->shape[1], (long long)tp->shape[0]);
        cfg->has_text = 1;
        cfg->vocab_size = (int)te->shape[0];
        cfg->text_width = (int)te->shape[1];
        cfg->context_length = (int)tp->shape[0];
        cfg->text_layers = count_layers(hf, "text_model");
        cfg->text_heads = cfg->text_width >= 64 ? cfg->text_width / 64 : 1;
        cfg->long_clip = cfg->context_length > 77;
    }
    if (!cfg->has_vision && !cfg->has_text)
        return err_set(err, "%s: neither a vision nor a text tower found", hf->source);
    if (cfg->has_vision && !vproj)
        return err_set(err, "%s: tensor visual_projection.weight is missing (dfer needs CLIP's projections)",
                       hf->source);
    if (cfg->has_text && !tproj)
        return err_set(err, "%s: tensor text_projection.weight is missing (dfer needs CLIP's projections)", hf->source);
    cfg->embed_dim = (int)(vproj ? vproj->shape[0] : tproj->shape[0]);
    return clip_config_validate(cfg, err) == 0 ? 0 : err_prefix(err, "%s: ", hf->source);
}

static int expect(const TensorMap *hf, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d,
                  Err *err) {
    int64_t want[4] = {a, b, c, d};
    const TensorEntry *e = tmap_find(hf, name);
    char ws[96], gs[96];
    if (!e)
        return err_set(err, "%s: tensor %s is missing (expected shape %s)", hf->source, name,
                       shape_str(want, ndim, ws, sizeof ws));
    int ok = e->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = e->shape[i] == want[i];
    if (!ok)
        return err_set(err, "%s: tensor %s has shape %s, but the inferred architecture needs %s", hf->source, name,
                       shape_str(e->shape, e->ndim, gs, sizeof gs), shape_str(want, ndim, ws, sizeof ws));
    if (e->dtype != DT_F32 && e->dtype != DT_F16 && e->dtype != DT_BF16 && e->dtype != DT_F64)
        return err_set(err, "%s: tensor %s has dtype %s, not a floating-point type", hf->source, name,
                       dtype_name(e->dtype));
    return 0;
}

static int check_layers(const TensorMap *hf, const char *prefix, int layers, int64_t x, Err *err) {
    char n[200];
    static const struct {
        const char *suffix;
        int ndim, r, c; /* multiples of x */
    } k[] = {{"layer_norm1.weight", 1, 1, 0}, {"layer_norm1.bias", 1, 1, 0}, {"self_attn.q_proj.weight", 2, 1, 1},
             {"self_attn.q_proj.bias", 1, 1, 0}, {"self_attn.k_proj.weight", 2, 1, 1},
             {"self_attn.k_proj.bias", 1, 1, 0},
             {"self_attn.v_proj.weight", 2, 1, 1}, {"self_attn.v_proj.bias", 1, 1, 0},
             {"self_attn.out_proj.weight", 2, 1, 1}, {"self_attn.out_proj.bias", 1, 1, 0},
             {"layer_norm2.weight", 1, 1, 0}, {"layer_norm2.bias", 1, 1, 0}, {"mlp.fc1.weight", 2, 4, 1},
             {"mlp.fc1.bias", 1, 4, 0}, {"mlp.fc2.weight", 2, 1, 4}, {"mlp.fc2.bias", 1, 1, 0}};
    for (int l = 0; l < layers; l++)
        for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
            snprintf(n, sizeof n, "%s.encoder.layers.%d.%s", prefix, l, k[i].suffix);
            if (expect(hf, n, k[i].ndim, k[i].r * x, k[i].c * x, 0, 0, err) != 0) return -1;
        }
    return 0;
}

int clip_check_shapes(const TensorMap *hf, const ClipConfig *c, Err *err) {
    /* one number, 0-d (OpenAI's) or [1] (Hugging Face's): read into one float */
    const TensorEntry *ls = tmap_find(hf, "logit_scale");
    if (ls) {
        int64_t n = 1;
        for (int i = 0; i < ls->ndim; i++) n *= ls->shape[i];
        char gs[96];
        if (n != 1 || ls->ndim > 1)
            return err_set(err, "%s: tensor logit_scale has shape %s, but it is one number (shape [] or [1])",
                           hf->source, shape_str(ls->shape, ls->ndim, gs, sizeof gs));
        if (ls->dtype != DT_F32 && ls->dtype != DT_F16 && ls->dtype != DT_BF16 && ls->dtype != DT_F64)
            return err_set(err, "%s: tensor logit_scale has dtype %s, not a floating-point type", hf->source,
                           dtype_name(ls->dtype));
    }
    if (c->has_vision) {
        int64_t w = c->vision_width, p = c->patch_size, g = clip_grid(c);
        if (expect(hf, "vision_model.embeddings.patch_embedding.weight", 4, w, 3, p, p, err) ||
            expect(hf, "vision_model.embeddings.class_embedding", 1, w, 0, 0, 0, err) ||
            expect(hf, "vision_model.embeddings.position_embedding.weight", 2, g * g + 1, w, 0, 0, err) ||
            expect(hf, "vision_model.pre_layrnorm.weight", 1, w, 0, 0, 0, err) ||
            expect(hf, "vision_model.pre_layrnorm.bias", 1, w, 0, 0, 0, err) ||
            expect(hf, "vision_model.post_layernorm.weight", 1, w, 0, 0, 0, err) ||
            expect(hf, "vision_model.post_layernorm.bias", 1, w, 0, 0, 0, err) ||
            expect(hf, "visual_projection.weight", 2, c->embed_dim, w, 0, 0, err) ||
            check_layers(hf, "vision_model", c->vision_layers, w, err))
            return -1;
    }
    if (c->has_text) {
        int64_t t = c->text_width;
        if (expect(hf, "text_model.embeddings.token_embedding.weight", 2, c->vocab_size, t, 0, 0, err) ||
            expect(hf, "text_model.embeddings.position_embedding.weight", 2, c->context_length, t, 0, 0, err) ||
            expect(hf, "text_model.final_layer_norm.weight", 1, t, 0, 0, 0, err) ||
            expect(hf, "text_model.final_layer_norm.bias", 1, t, 0, 0, 0, err) ||
            expect(hf, "text_projection.weight", 2, c->embed_dim, t, 0, 0, err) ||
            check_layers(hf, "text_model", c->text_layers, t, err))
            return -1;
    }
    return 0;
}

int clip_load_hf_scheme(const char *path, TensorMap *hf, ClipConfig *cfg, NamingScheme *scheme, Err *err) {
    TensorMap raw;
    if (ckpt_load(path, &raw, err) != 0) return -1;
    TensorMap named;
    int rc = clip_names_to_hf_scheme(&raw, &named, scheme, err);
    if (rc != 0) {
        tmap_free(&raw);
        return -1;
    }
    tmap_adopt(&named, &raw); /* the renamed map references raw's memory: keep it alive */
    *hf = named;
    rc = clip_infer_config(hf, cfg, err);
    if (rc == 0) rc = clip_check_shapes(hf, cfg, err);
    if (rc != 0) tmap_free(hf);
    return rc;
}

int clip_load_hf(const char *path, TensorMap *hf, ClipConfig *cfg, Err *err) {
    return clip_load_hf_scheme(path, hf, cfg, NULL, err);
}
