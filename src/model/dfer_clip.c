#include "model/dfer_clip.h"

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

void dfer_clip_config_default(DferClipConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->frames = 16;
    cfg->num_classes = 7;
    cfg->contexts = 8;
    cfg->temporal_layers = 1;
    cfg->logit_scale = 100.0f;
    cfg->train_image_encoder = 1;
}

/* ---- parameters ----------------------------------------------------------------- */

typedef struct Decl {
    int index;
    Tensor *value, *grad;
    const Tensor *init; /* copy initial values from here (frozen CLIP), or NULL */
} Decl;

typedef struct Declarer {
    ParamSet *ps;
    Decl *items;
    int count, cap;
} Declarer;

static void declare(Declarer *d, const char *name, const Tensor *shape_of, Tensor *value, Tensor *grad, int group,
                    const Tensor *init) {
    int64_t dims[3] = {0, 0, 0};
    for (int i = 0; i < shape_of->ndim && i < 3; i++) dims[i] = shape_of->shape[i];
    int idx = paramset_add(d->ps, name, shape_of->ndim, dims[0], dims[1], dims[2], group);
    if (d->count == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 64;
        d->items = xrealloc(d->items, (size_t)d->cap * sizeof *d->items);
    }
    d->items[d->count++] = (Decl){idx, value, grad, init};
}

static Tensor shape2(int64_t a, int64_t b) { return tensor_make(NULL, DT_F32, 2, a, b); }
static Tensor shape1(int64_t a) { return tensor_make(NULL, DT_F32, 1, a); }

static void declare_layer(Declarer *d, const char *prefix, ClipLayer *v, ClipLayer *g, const ClipLayer *init,
                          int64_t x, int64_t hidden, int with_qkv_bias, int group) {
    static const char *names[12] = {"layer_norm1.weight", "layer_norm1.bias", "self_attn.qkv.weight",
                                    "self_attn.qkv.bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
                                    "layer_norm2.weight", "layer_norm2.bias", "mlp.fc1.weight",
                                    "mlp.fc1.bias",       "mlp.fc2.weight",   "mlp.fc2.bias"};
    Tensor shapes[12] = {shape1(x),          shape1(x),      shape2(3 * x, x), shape1(3 * x),
                         shape2(x, x),       shape1(x),      shape1(x),        shape1(x),
                         shape2(hidden, x),  shape1(hidden), shape2(x, hidden), shape1(x)};
    Tensor *vv = (Tensor *)v, *gv = (Tensor *)g;
    const Tensor *iv = (const Tensor *)init;
    for (int i = 0; i < 12; i++) {
        if (i == 3 && !with_qkv_bias) continue; /* DFER-CLIP's to_qkv has no bias */
        char name[200];
        snprintf(name, sizeof name, "%s.%s", prefix, names[i]);
        declare(d, name, &shapes[i], &vv[i], &gv[i], group, init ? &iv[i] : NULL);
    }
}

/* The fine-tuned encoder's names above ("image_encoder." + these) beside the Hugging Face names of the
 * CLIP tensors they start from; layers keep the HF names except the packed q/k/v. */
static const char *const k_encoder_hf_names[][2] = {
    {"patch_embedding.weight", "vision_model.embeddings.patch_embedding.weight"}, /* ours [W, 3*P*P]; HF [W,3,P,P] */
    {"class_embedding", "vision_model.embeddings.class_embedding"},
    {"position_embedding", "vision_model.embeddings.position_embedding.weight"},
    {"pre_layernorm.weight", "vision_model.pre_layrnorm.weight"},
    {"pre_layernorm.bias", "vision_model.pre_layrnorm.bias"},
    {"post_layernorm.weight", "vision_model.post_layernorm.weight"},
    {"post_layernorm.bias", "vision_model.post_layernorm.bias"},
    {"projection.weight", "visual_projection.weight"},
};

int dfer_clip_encoder_hf_names(const char *rest, char hf[3][256]) {
    for (size_t k = 0; k < sizeof k_encoder_hf_names / sizeof k_encoder_hf_names[0]; k++)
        if (!strcmp(rest, k_encoder_hf_names[k][0])) {
            snprintf(hf[0], 256, "%s", k_encoder_hf_names[k][1]);
            return 1;
        }
    int layer;
    char tail[200];
    if (sscanf(rest, "layers.%d.%199s", &layer, tail) != 2) return 0;
    if (!strncmp(tail, "self_attn.qkv.", 14)) {
        for (int j = 0; j < 3; j++)
            snprintf(hf[j], 256, "vision_model.encoder.layers.%d.self_attn.%c_proj.%s", layer, "qkv"[j], tail + 14);
        return 3;
    }
    snprintf(hf[0], 256, "vision_model.encoder.layers.%d.%s", layer, tail);
    return 1;
}

static void upload_from(ParamSet *ps, int idx, const Tensor *src) {
    const ParamEntry *e = paramset_get(ps, idx);
    CHECK(tensor_numel(src) == tensor_numel(&e->value), "initial value of %s has the wrong size", e->name);
    /* Both live on the ops device: a device copy (widened from BF16 weights to F32 parameters in the
     * mixed-precision model). */
    ops_copy_convert(ps->ops, e->value, *src);
}

int dfer_clip_create(Ops *ops, ClipModel *clip, const DferClipConfig *cfg, const int32_t *ids, uint64_t seed,
                     DferClip *m, Err *err) {
    memset(m, 0, sizeof *m);
    const ClipConfig *c = &clip->cfg;
    if (!c->has_vision || !c->has_text)
        return err_set(err, "DFER-CLIP needs a CLIP checkpoint with both towers (this one has %s)",
                       c->has_vision ? "no text tower" : "no vision tower");
    int64_t E = c->embed_dim, W = c->vision_width;
    if (E % 64 != 0 && E > 64)
        return err_set(err, "DFER-CLIP's temporal net needs an embedding size divisible by 64, not %lld", (long long)E);
    if (cfg->contexts < 0 || cfg->contexts + 2 > c->context_length || cfg->frames < 1 || cfg->num_classes < 2 ||
        cfg->temporal_layers < 0)
        return err_set(err, "DFER-CLIP: %d contexts, %d frames, %d classes, %d temporal layers are not valid",
                       cfg->contexts, cfg->frames, cfg->num_classes, cfg->temporal_layers);
    /* where each class's contexts go: positions 1..before, and (middle) the rest right before the EOT */
    int64_t C = cfg->num_classes, M = cfg->contexts;
    int before = cfg->middle ? cfg->contexts / 2 : cfg->contexts;
    m->ctx_pos = xmalloc((size_t)(C * M > 0 ? C * M : 1) * sizeof(int32_t));
    for (int64_t k = 0; k < C; k++) {
        const int32_t *row = ids + k * c->context_length;
        int eot = clip_eot_position(row, c->context_length);
        for (int64_t j = 0; j < M; j++) {
            int at = j < before ? (int)(1 + j) : eot - (int)(M - j), lowest = j < before ? 1 : before + 1;
            if (at < lowest || at >= eot || (cfg->placeholder_id && row[at] != cfg->placeholder_id)) {
                free(m->ctx_pos);
                m->ctx_pos = NULL;
                return err_set(err, "DFER-CLIP: class prompt %lld has no context placeholder at position %d (a class "
                               "text cut at the text encoder's %d tokens?)", (long long)k, at, c->context_length);
            }
            m->ctx_pos[k * M + j] = (int32_t)at;
        }
    }
    m->cfg = *cfg;
    if (!cfg->train_image_encoder) m->cfg.recompute = RECOMPUTE_NONE; /* a frozen encoder keeps nothing to spare */
    m->clip = clip;
    m->ops = ops;
    m->t_blocks = xcalloc((size_t)(cfg->temporal_layers ? cfg->temporal_layers : 1), sizeof(BlockActs));
    m->temporal_heads = E >= 64 ? (int)(E / 64) : 1;
    ParamSet *ps = &m->params;
    paramset_init(ps, ops, paramset_dtype_for(clip->dtype));
    Declarer d = {ps, NULL, 0, 0};
    VitParams init;
    vit_params_from_clip(clip, &init);
    m->vit.layers = xcalloc((size_t)c->vision_layers, sizeof(ClipLayer));
    m->vit_grad.layers = xcalloc((size_t)c->vision_layers, sizeof(ClipLayer));
    if (cfg->train_image_encoder) {
        int g = DC_GROUP_IMAGE_ENCODER;
        declare(&d, "image_encoder.patch_embedding.weight", &init.patch_w, &m->vit.patch_w, &m->vit_grad.patch_w, g,
                &init.patch_w);
        declare(&d, "image_encoder.class_embedding", &init.class_emb, &m->vit.class_emb, &m->vit_grad.class_emb, g,
                &init.class_emb);
        declare(&d, "image_encoder.position_embedding", &init.pos, &m->vit.pos, &m->vit_grad.pos, g, &init.pos);
        declare(&d, "image_encoder.pre_layernorm.weight", &init.ln_pre_g, &m->vit.ln_pre_g, &m->vit_grad.ln_pre_g, g,
                &init.ln_pre_g);
        declare(&d, "image_encoder.pre_layernorm.bias", &init.ln_pre_b, &m->vit.ln_pre_b, &m->vit_grad.ln_pre_b, g,
                &init.ln_pre_b);
        for (int l = 0; l < c->vision_layers; l++) {
            char prefix[64];
            snprintf(prefix, sizeof prefix, "image_encoder.layers.%d", l);
            declare_layer(&d, prefix, &m->vit.layers[l], &m->vit_grad.layers[l], &init.layers[l], W, 4 * W, 1, g);
        }
        declare(&d, "image_encoder.post_layernorm.weight", &init.ln_post_g, &m->vit.ln_post_g, &m->vit_grad.ln_post_g,
                g, &init.ln_post_g);
        declare(&d, "image_encoder.post_layernorm.bias", &init.ln_post_b, &m->vit.ln_post_b, &m->vit_grad.ln_post_b, g,
                &init.ln_post_b);
        declare(&d, "image_encoder.projection.weight", &init.proj, &m->vit.proj, &m->vit_grad.proj, g, &init.proj);
    } else {
        ClipLayer *layers = m->vit.layers;
        m->vit = init;
        memcpy(layers, init.layers, (size_t)c->vision_layers * sizeof(ClipLayer));
        m->vit.layers = layers; /* frozen views; vit_grad stays all-NULL */
    }
    int layers = cfg->temporal_layers;
    m->temporal = xcalloc((size_t)(layers ? layers : 1), sizeof(ClipLayer));
    m->temporal_grad = xcalloc((size_t)(layers ? layers : 1), sizeof(ClipLayer));
    if (layers) { /* without a temporal net (the mean of the frames) none of its tensors */
        Tensor cls_shape = shape1(E), pos_shape = shape2(cfg->frames + 1, E);
        declare(&d, "temporal_net.cls_token", &cls_shape, &m->cls, &m->cls_grad, DC_GROUP_TEMPORAL, NULL);
        declare(&d, "temporal_net.pos_embedding", &pos_shape, &m->pos, &m->pos_grad, DC_GROUP_TEMPORAL, NULL);
    }
    for (int l = 0; l < layers; l++) { /* the first block keeps the one-layer model's names: its runs still load */
        char prefix[64];
        if (l == 0) snprintf(prefix, sizeof prefix, "temporal_net.block");
        else snprintf(prefix, sizeof prefix, "temporal_net.block%d", l + 1);
        declare_layer(&d, prefix, &m->temporal[l], &m->temporal_grad[l], NULL, E, 2 * E, 0, DC_GROUP_TEMPORAL);
    }
    if (M > 0) {
        Tensor ctx_shape = cfg->shared_contexts ? shape2(M, c->text_width)
                                                : tensor_make(NULL, DT_F32, 3, C, M, (int64_t)c->text_width);
        declare(&d, "prompt_learner.ctx", &ctx_shape, &m->ctx, &m->ctx_grad, DC_GROUP_PROMPT, NULL);
    }
    paramset_finalize(ps);

    /* Values: copies of CLIP for the image encoder; the temporal net as PyTorch
     * initialises it (cls/pos N(0,1), Linear uniform(+-1/sqrt(fan_in)), LN 1/0);
     * contexts N(0, 0.02). Keyed by (seed, tensor index). */
    for (int i = 0; i < d.count; i++) {
        Decl *x = &d.items[i];
        const ParamEntry *e = paramset_get(ps, x->index);
        *x->value = e->value;
        *x->grad = e->grad;
        if (ops_is_counting(ps->ops)) continue; /* the planner's context keeps no values */
        if (x->init) {
            upload_from(ps, x->index, x->init);
            continue;
        }
        size_t n = (size_t)tensor_numel(&e->value);
        double *v = xcalloc(n, sizeof(double));
        Rng r;
        rng_init(&r, seed, 0xDFE, (uint64_t)x->index, 0);
        const char *name = e->name;
        size_t len = strlen(name);
        if (strstr(name, "cls_token") || strstr(name, "pos_embedding")) {
            for (size_t k = 0; k < n; k++) v[k] = rng_normal(&r);
        } else if (strstr(name, "prompt_learner")) {
            for (size_t k = 0; k < n; k++) v[k] = 0.02 * rng_normal(&r);
        } else if (len > 7 && !strcmp(name + len - 7, ".weight") && e->ndim == 2) {
            double bound = 1.0 / sqrt((double)e->shape[1]);
            for (size_t k = 0; k < n; k++) v[k] = rng_uniform_range(&r, -bound, bound);
        } else if (len > 5 && !strcmp(name + len - 5, ".bias") && !strstr(name, "layer_norm")) {
            /* nn.Linear bias: uniform(+-1/sqrt(fan_in)); fan_in from the matching weight (declared just before) */
            const ParamEntry *w = paramset_get(ps, x->index - 1);
            double bound = 1.0 / sqrt((double)w->shape[1]);
            for (size_t k = 0; k < n; k++) v[k] = rng_uniform_range(&r, -bound, bound);
        } else if (strstr(name, "layer_norm") && strstr(name, "weight")) {
            for (size_t k = 0; k < n; k++) v[k] = 1.0;
        }
        paramset_upload_f64(ps, x->index, v);
        free(v);
    }
    free(d.items);
    size_t nids = (size_t)cfg->num_classes * (size_t)c->context_length;
    m->ids = xmalloc(nids * sizeof(int32_t));
    memcpy(m->ids, ids, nids * sizeof(int32_t));
    return 0;
}

/* ---- activations ------------------------------------------------------------------- */

/* Towers and the temporal net in the arena's dtype; the head's small tensors in the parameters'. */
static void alloc_activations(DferClip *m, Arena *a, int64_t batch) {
    const ClipConfig *c = &m->clip->cfg;
    DType hd = m->params.dtype;
    int64_t T = m->cfg.frames, E = c->embed_dim, C = m->cfg.num_classes;
    vit_acts_alloc(a, &m->vit_acts, c, batch * T, &m->cfg.input, m->cfg.train_image_encoder && !m->cfg.forward_only,
                   m->cfg.recompute);
    int64_t M = m->cfg.contexts;
    m->t_in = arena_tensor(a, "temporal.input", 3, batch, T, E, 0);
    if (m->cfg.temporal_layers) {
        m->t_x = arena_tensor(a, "temporal.x", 3, batch, T + 1, E, 0);
        for (int l = 0; l < m->cfg.temporal_layers; l++)
            block_acts_alloc(a, &m->t_blocks[l], batch, T + 1, E, 2 * E, m->temporal_heads,
                             SUBLAYER_KEEP_WEIGHT_INPUTS, RECOMPUTE_NONE);
        m->t_rows = arena_tensor_typed(a, "temporal.cls_rows", DT_I32, 1, batch, 0, 0, 0);
    }
    m->video = arena_tensor(a, "temporal.video_features", 2, batch, E, 0, 0);
    int len = text_tower_length(m->ids, (int)C, c->context_length);
    /* without contexts nothing below the text features trains: no backward crosses the tower */
    text_tower_acts_alloc(a, &m->text, m->clip, C, len, 0, m->cfg.forward_only || M == 0);
    if (M > 0) m->ctx_rows = arena_tensor_typed(a, "prompt.ctx_rows", DT_I32, 1, C * M, 0, 0, 0);
    if (M > 0 && m->cfg.shared_contexts) {
        m->ctx_source = arena_tensor_typed(a, "prompt.ctx_source", DT_I32, 1, C * M, 0, 0, 0);
        m->ctx_all = arena_tensor_typed(a, "prompt.ctx_every_class", hd, 2, C * M, c->text_width, 0, 0);
    }
    m->vn = arena_tensor_typed(a, "head.video_normalised", hd, 2, batch, E, 0, 0);
    m->tn = arena_tensor_typed(a, "head.text_normalised", hd, 2, C, E, 0, 0);
    m->logits = arena_tensor_typed(a, "head.logits", hd, 2, batch, C, 0, 0);
    m->loss = arena_tensor_typed(a, "head.loss", hd, 1, batch, 0, 0, 0);
    m->dlogits = arena_tensor_typed(a, "head.d_logits", hd, 2, batch, C, 0, 0);
    m->labels = arena_tensor_typed(a, "head.labels", DT_I32, 1, batch, 0, 0, 0);
}

static void release_activations(DferClip *m) {
    if (!m->batch) return;
    vit_acts_free(&m->vit_acts);
    text_tower_acts_free(&m->text);
    arena_free(&m->acts);
    arena_free(&m->scratch);
    m->batch = 0;
}

static double step_impl(DferClip *m, const void *frames_host, const int32_t *labels, int batch, int train,
                        float grad_scale, void *logits_host);

/* One training step of placeholder inputs, for scratch_measure (frames are never read on a
 * counting context). */
typedef struct DryRun {
    DferClip *m;
    int batch;
} DryRun;

static void dry_step(void *ctx) {
    DryRun *d = ctx;
    static const char placeholder = 0;
    int32_t *zeros = xcalloc((size_t)d->batch, sizeof(int32_t));
    step_impl(d->m, &placeholder, zeros, d->batch, !d->m->cfg.forward_only, 1.0f, NULL);
    free(zeros);
}

static void ensure_activations(DferClip *m, int64_t batch) {
    if (m->batch == batch) return;
    release_activations(m);
    DType act = m->clip->dtype; /* the towers' activations (BF16 in the mixed-precision model) */
    Arena measure;
    arena_init_measuring(&measure, m->ops, act);
    alloc_activations(m, &measure, batch);
    vit_acts_free(&m->vit_acts);
    text_tower_acts_free(&m->text);
    arena_init(&m->acts, m->ops, measure.peak, act);
    alloc_activations(m, &m->acts, batch);

    /* the scratch is measured after the index tables below are in place */
    /* Fixed index tables: where the contexts sit in the prompts (rows of the [C*L, W] text input) and, shared, which
     * context each is; the temporal net's class tokens. */
    int64_t C = m->cfg.num_classes, M = m->cfg.contexts, L = m->text.len, T = m->cfg.frames;
    int32_t *rows = xmalloc((size_t)(C * M > batch ? C * M : batch) * sizeof(int32_t));
    if (M > 0) {
        for (int64_t k = 0; k < C; k++)
            for (int64_t j = 0; j < M; j++) rows[k * M + j] = (int32_t)(k * L + m->ctx_pos[k * M + j]);
        ops_upload(m->ops, m->ctx_rows.data, rows, (size_t)(C * M) * sizeof(int32_t));
    }
    if (M > 0 && m->cfg.shared_contexts) {
        for (int64_t k = 0; k < C * M; k++) rows[k] = (int32_t)(k % M);
        ops_upload(m->ops, m->ctx_source.data, rows, (size_t)(C * M) * sizeof(int32_t));
    }
    if (m->cfg.temporal_layers) {
        for (int64_t b = 0; b < batch; b++) rows[b] = (int32_t)(b * (T + 1));
        ops_upload(m->ops, m->t_rows.data, rows, (size_t)batch * sizeof(int32_t));
    }
    free(rows);
    m->batch = batch;
    DryRun d = {m, (int)batch};
    arena_init(&m->scratch, m->ops, scratch_measure(&m->ops, &m->scratch, act, dry_step, &d), act);
}

void dfer_clip_reserve(DferClip *m, int batch) { ensure_activations(m, batch); }

void dfer_clip_set_forward_only(DferClip *m, int forward_only) {
    if (m->cfg.forward_only == forward_only) return;
    release_activations(m);
    m->cfg.forward_only = forward_only;
}

void dfer_clip_set_recompute(DferClip *m, int recompute) {
    if (!m->cfg.train_image_encoder) recompute = RECOMPUTE_NONE;
    if (m->cfg.recompute == recompute) return;
    release_activations(m); /* the next step (or reserve) allocates them the new way */
    m->cfg.recompute = recompute;
}

void dfer_clip_free(DferClip *m) {
    release_activations(m);
    paramset_free(&m->params);
    free(m->vit.layers);
    free(m->vit_grad.layers);
    free(m->temporal);
    free(m->temporal_grad);
    free(m->t_blocks);
    free(m->ctx_pos);
    free(m->ids);
    memset(m, 0, sizeof *m);
}

/* ---- step ------------------------------------------------------------------------------ */

double dfer_clip_step(DferClip *m, const void *frames_host, const int32_t *labels, int batch, int train,
                      float grad_scale, void *logits_host) {
    CHECK(!train || !m->cfg.forward_only, "DFER-CLIP: a training step on forward-only (evaluation) activations");
    ensure_activations(m, batch);
    return step_impl(m, frames_host, labels, batch, train, grad_scale, logits_host);
}

/* One step with the activations in place (dfer_clip_step; the scratch measurement). */
static double step_impl(DferClip *m, const void *frames_host, const int32_t *labels, int batch, int train,
                        float grad_scale, void *logits_host) {
    Ops *ops = m->ops;
    const ClipModel *clip = m->clip;
    const ClipConfig *c = &clip->cfg;
    int64_t T = m->cfg.frames, E = c->embed_dim, C = m->cfg.num_classes, M = m->cfg.contexts;

    int layers = m->cfg.temporal_layers;
    /* video: frame features -> temporal transformer -> class token (no temporal net: their mean) */
    vit_forward(ops, c, &m->vit, &m->vit_acts, frames_host, &m->scratch);
    ops_copy(ops, m->t_in, tensor_reshape(m->vit_acts.feat, 3, batch, T, E, 0));
    if (layers) {
        op_prepend_token(ops, m->t_x, m->t_in, m->cls);
        op_add_broadcast(ops, m->t_x, m->pos);
        for (int l = 0; l < layers; l++)
            block_forward(ops, &m->temporal[l], &m->t_blocks[l], m->t_x, m->temporal_heads, 0, ACT_GELU_TANH,
                          &m->scratch);
        op_gather_rows(ops, m->video, m->t_x, m->t_rows);
    } else {
        op_mean_dim1(ops, m->video, m->t_in);
    }
    /* text: learnable contexts in the prompts (shared: the one set copied into every class's), frozen encoder */
    Tensor ctx = tensor_none();
    if (M > 0 && m->cfg.shared_contexts) {
        op_gather_rows(ops, m->ctx_all, m->ctx, m->ctx_source);
        ctx = m->ctx_all;
    } else if (M > 0) {
        ctx = tensor_reshape(m->ctx, 2, C * M, c->text_width, 0, 0);
    }
    text_tower_embed(ops, clip, &m->text, m->ids, c->context_length, ctx, m->ctx_rows);
    text_tower_forward(ops, clip, NULL, &m->text, &m->scratch);
    op_l2_normalize(ops, m->vn, m->video, 1e-12f);
    op_l2_normalize(ops, m->tn, m->text.feat, 1e-12f);
    op_matmul(ops, m->logits, m->vn, m->tn, 0, 1, m->cfg.logit_scale, 0.0f);
    if (logits_host) ops_download(ops, logits_host, m->logits.data, tensor_bytes(&m->logits));
    if (!labels) return 0.0;
    ops_upload(ops, m->labels.data, labels, (size_t)batch * sizeof(int32_t));
    op_cross_entropy(ops, m->loss, train ? m->dlogits : tensor_none(), m->logits, m->labels, grad_scale);
    double loss = tensor_download_sum(ops, m->loss);
    if (!train) return loss;

    size_t mark = m->scratch.used;
    Arena *s = &m->scratch;
    Tensor dvn = arena_tensor_typed(s, "head.d_video_normalised", m->params.dtype, 2, batch, E, 0, 0);
    Tensor dv = arena_tensor_typed(s, "head.d_video", m->params.dtype, 2, batch, E, 0, 0);
    Tensor dtn = arena_tensor_typed(s, "head.d_text_normalised", m->params.dtype, 2, C, E, 0, 0);
    Tensor dt = arena_tensor_typed(s, "head.d_text", m->params.dtype, 2, C, E, 0, 0);
    op_scale(ops, m->dlogits, m->cfg.logit_scale);
    op_matmul(ops, dvn, m->dlogits, m->tn, 0, 0, 1.0f, 0.0f);
    op_matmul(ops, dtn, m->dlogits, m->vn, 1, 0, 1.0f, 0.0f);
    op_l2_normalize_backward(ops, dv, dvn, m->video, 1e-12f);
    op_l2_normalize_backward(ops, dt, dtn, m->text.feat, 1e-12f);
    if (M > 0) { /* prompt contexts: gradient of the text input at the context rows (none: nothing to train) */
        Tensor dx0 = arena_tensor(s, "text.d_input", 3, C, m->text.len, c->text_width, 0);
        Tensor dctx = arena_tensor(s, "prompt.d_ctx", 2, C * M, c->text_width, 0, 0);
        text_tower_backward(ops, clip, NULL, NULL, &m->text, dt, dx0, s);
        op_gather_rows(ops, dctx, tensor_reshape(dx0, 2, C * m->text.len, c->text_width, 0, 0), m->ctx_rows);
        if (m->cfg.shared_contexts) op_gather_rows_backward(ops, m->ctx_grad, dctx, m->ctx_source); /* sum of classes */
        else op_axpy(ops, tensor_reshape(m->ctx_grad, 2, C * M, c->text_width, 0, 0), 1.0f, dctx);
    }
    /* temporal net (or the mean of the frames) */
    Tensor dfeat = arena_tensor(s, "temporal.d_input", 3, batch, T, E, 0);
    if (layers) {
        Tensor dtx = arena_tensor(s, "temporal.d_x", 3, batch, T + 1, E, 0);
        ops_zero(ops, dtx);
        op_gather_rows_backward(ops, dtx, dv, m->t_rows);
        for (int l = layers - 1; l >= 0; l--)
            block_backward(ops, &m->temporal[l], &m->temporal_grad[l], &m->t_blocks[l], dtx, m->temporal_heads, 0,
                           ACT_GELU_TANH, s);
        op_add_broadcast_backward(ops, m->pos_grad, dtx);
        op_prepend_token_backward(ops, dfeat, m->cls_grad, dtx);
    } else {
        op_mean_dim1_backward(ops, dfeat, dv);
    }
    /* image encoder (all weights when fine-tuned) */
    if (m->cfg.train_image_encoder)
        vit_backward(ops, c, &m->vit, &m->vit_grad, &m->vit_acts, tensor_reshape(dfeat, 2, batch * T, E, 0, 0), s);
    m->scratch.used = mark;
    return loss;
}
