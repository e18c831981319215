#include "model/finecliper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

void finecliper_config_default(FineCliperConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->frames = 16;
    cfg->num_classes = 7;
    cfg->temperature = 0.01f;
    cfg->mlp_adapter_scale = 0.5f;
    cfg->bottleneck_divisor = 4;
    cfg->use_negative = 1;
    cfg->video_adapters = 1;
    cfg->text_adapters = 1;
}

/* Declares fc1/fc2 of one adapter; returns the index of its first tensor. */
static int declare_adapter(ParamSet *ps, const char *prefix, int64_t width, int64_t hidden, int group) {
    char name[160];
    snprintf(name, sizeof name, "%s.fc1.weight", prefix);
    int first = paramset_add(ps, name, 2, hidden, width, 0, group);
    snprintf(name, sizeof name, "%s.fc1.bias", prefix);
    paramset_add(ps, name, 1, hidden, 0, 0, group);
    snprintf(name, sizeof name, "%s.fc2.weight", prefix);
    paramset_add(ps, name, 2, width, hidden, 0, group);
    snprintf(name, sizeof name, "%s.fc2.bias", prefix);
    paramset_add(ps, name, 1, width, 0, 0, group);
    return first;
}

static void adapter_views(const ParamSet *ps, int first, AdapterParams *p, AdapterParams *g) {
    Tensor *pv = (Tensor *)p, *gv = (Tensor *)g;
    for (int i = 0; i < 4; i++) {
        pv[i] = paramset_get(ps, first + i)->value;
        gv[i] = paramset_get(ps, first + i)->grad;
    }
}

/* AIM's initialisation: trunc_normal(std 0.02) for fc1 weights, zeros for
 * fc2 and all biases (so adapters start silent), zero temporal embedding. */
static void init_values(FineCliper *m, uint64_t seed) {
    ParamSet *ps = &m->params;
    for (int i = 0; i < ps->count; i++) {
        const ParamEntry *e = paramset_get(ps, i);
        size_t n = (size_t)tensor_numel(&e->value);
        double *v = xcalloc(n, sizeof(double));
        size_t len = strlen(e->name);
        if (len > 11 && !strcmp(e->name + len - 11, ".fc1.weight")) {
            Rng r;
            rng_init(&r, seed, 0xADA, (uint64_t)i, 0);
            for (size_t k = 0; k < n; k++) v[k] = 0.02 * rng_trunc_normal(&r, -2.0, 2.0);
        }
        paramset_upload_f64(ps, i, v);
        free(v);
    }
}

int finecliper_create(Ops *ops, ClipModel *clip, const FineCliperConfig *cfg, const int32_t *pos_ids,
                      const int32_t *neg_ids, uint64_t seed, FineCliper *m, Err *err) {
    memset(m, 0, sizeof *m);
    const ClipConfig *c = &clip->cfg;
    if (!c->has_vision || !c->has_text)
        return err_set(err, "FineCLIPER needs a CLIP checkpoint with both towers (this one has %s)",
                       c->has_vision ? "no text tower" : "no vision tower");
    if (cfg->frames < 1 || cfg->num_classes < 2 || cfg->temperature <= 0 || cfg->bottleneck_divisor < 1)
        return err_set(err, "FineCLIPER: frames %d, classes %d, temperature %g, bottleneck divisor %d are not valid",
                       cfg->frames, cfg->num_classes, cfg->temperature, cfg->bottleneck_divisor);
    if (cfg->use_negative && !neg_ids) return err_set(err, "FineCLIPER with negative descriptors needs their prompts");
    m->cfg = *cfg;
    m->clip = clip;
    m->ops = ops;
    ParamSet *ps = &m->params;
    paramset_init(ps, ops, clip->dtype);
    int64_t W = c->vision_width, Tw = c->text_width;
    m->idx_temb = paramset_add(ps, "visual.temporal_embedding", 2, cfg->frames, W, 0, FC_GROUP_VIDEO);
    int *vis_first = NULL, *pos_first = NULL, *neg_first = NULL;
    char name[128];
    if (cfg->video_adapters) {
        vis_first = xcalloc((size_t)c->vision_layers * 3, sizeof(int));
        static const char *kinds[3] = {"temporal", "spatial", "mlp"};
        for (int l = 0; l < c->vision_layers; l++)
            for (int k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "visual.blocks.%d.%s_adapter", l, kinds[k]);
                vis_first[l * 3 + k] = declare_adapter(ps, name, W, W / cfg->bottleneck_divisor, FC_GROUP_VIDEO);
            }
    }
    if (cfg->text_adapters) {
        pos_first = xcalloc((size_t)c->text_layers, sizeof(int));
        neg_first = xcalloc((size_t)c->text_layers, sizeof(int));
        for (int l = 0; l < c->text_layers; l++) {
            snprintf(name, sizeof name, "text.positive.blocks.%d.adapter", l);
            pos_first[l] = declare_adapter(ps, name, Tw, Tw / cfg->bottleneck_divisor, FC_GROUP_TEXT);
        }
        if (cfg->use_negative)
            for (int l = 0; l < c->text_layers; l++) {
                snprintf(name, sizeof name, "text.negative.blocks.%d.adapter", l);
                neg_first[l] = declare_adapter(ps, name, Tw, Tw / cfg->bottleneck_divisor, FC_GROUP_TEXT);
            }
    }
    paramset_finalize(ps);
    if (vis_first) {
        m->vis = xcalloc((size_t)c->vision_layers, sizeof(AimBlockParams));
        m->vis_grad = xcalloc((size_t)c->vision_layers, sizeof(AimBlockParams));
        for (int l = 0; l < c->vision_layers; l++) {
            adapter_views(ps, vis_first[l * 3 + 0], &m->vis[l].temporal, &m->vis_grad[l].temporal);
            adapter_views(ps, vis_first[l * 3 + 1], &m->vis[l].spatial, &m->vis_grad[l].spatial);
            adapter_views(ps, vis_first[l * 3 + 2], &m->vis[l].mlp, &m->vis_grad[l].mlp);
        }
    }
    if (pos_first) {
        m->pos = xcalloc((size_t)c->text_layers, sizeof(AdapterParams));
        m->pos_grad = xcalloc((size_t)c->text_layers, sizeof(AdapterParams));
        for (int l = 0; l < c->text_layers; l++) adapter_views(ps, pos_first[l], &m->pos[l], &m->pos_grad[l]);
        if (cfg->use_negative) {
            m->neg = xcalloc((size_t)c->text_layers, sizeof(AdapterParams));
            m->neg_grad = xcalloc((size_t)c->text_layers, sizeof(AdapterParams));
            for (int l = 0; l < c->text_layers; l++) adapter_views(ps, neg_first[l], &m->neg[l], &m->neg_grad[l]);
        }
    }
    free(vis_first);
    free(pos_first);
    free(neg_first);
    init_values(m, seed);
    size_t ids = (size_t)cfg->num_classes * (size_t)c->context_length;
    m->pos_ids = xmalloc(ids * sizeof(int32_t));
    memcpy(m->pos_ids, pos_ids, ids * sizeof(int32_t));
    if (cfg->use_negative) {
        m->neg_ids = xmalloc(ids * sizeof(int32_t));
        memcpy(m->neg_ids, neg_ids, ids * sizeof(int32_t));
    }
    return 0;
}

static void release_activations(FineCliper *m) {
    if (!m->batch) return;
    aim_acts_free(&m->aim);
    text_tower_acts_free(&m->text_pos);
    text_tower_acts_free(&m->text_neg);
    arena_free(&m->acts);
    arena_free(&m->scratch);
    m->batch = 0;
}

void finecliper_free(FineCliper *m) {
    release_activations(m);
    paramset_free(&m->params);
    free(m->vis), free(m->vis_grad), free(m->pos), free(m->pos_grad), free(m->neg), free(m->neg_grad);
    free(m->pos_ids), free(m->neg_ids);
    memset(m, 0, sizeof *m);
}

static void alloc_activations(FineCliper *m, Arena *a, int64_t batch) {
    const ClipConfig *c = &m->clip->cfg;
    int C = m->cfg.num_classes, ctx = c->context_length;
    int64_t E = c->embed_dim;
    aim_acts_alloc(a, &m->aim, m->clip, batch, m->cfg.frames,
                   m->cfg.video_adapters ? c->vision_width / m->cfg.bottleneck_divisor : 0);
    int64_t tb = m->cfg.text_adapters ? c->text_width / m->cfg.bottleneck_divisor : 0;
    text_tower_acts_alloc(a, &m->text_pos, m->clip, C, text_tower_length(m->pos_ids, C, ctx), tb);
    if (m->cfg.use_negative)
        text_tower_acts_alloc(a, &m->text_neg, m->clip, C, text_tower_length(m->neg_ids, C, ctx), tb);
    m->vn = arena_tensor(a, "head.video_normalised", 2, batch, E, 0, 0);
    m->tpn = arena_tensor(a, "head.positive_normalised", 2, C, E, 0, 0);
    m->tnn = arena_tensor(a, "head.negative_normalised", 2, C, E, 0, 0);
    m->cos_pos = arena_tensor(a, "head.cos_positive", 2, batch, C, 0, 0);
    m->cos_neg = arena_tensor(a, "head.cos_negative", 2, batch, C, 0, 0);
    m->logits = arena_tensor(a, "head.logits", 2, batch, C, 0, 0);
    m->loss = arena_tensor(a, "head.loss", 1, batch, 0, 0, 0);
    m->dlogits = arena_tensor(a, "head.d_logits", 2, batch, C, 0, 0);
    m->labels = arena_tensor_typed(a, "head.labels", DT_I32, 1, batch, 0, 0, 0);
}

static void ensure_activations(FineCliper *m, int64_t batch) {
    if (m->batch == batch) return;
    release_activations(m);
    Arena measure;
    arena_init_measuring(&measure, m->ops, m->params.dtype);
    alloc_activations(m, &measure, batch);
    aim_acts_free(&m->aim);
    text_tower_acts_free(&m->text_pos);
    text_tower_acts_free(&m->text_neg);
    arena_init(&m->acts, m->ops, measure.peak, m->params.dtype);
    alloc_activations(m, &m->acts, batch);
    arena_init(&m->scratch, m->ops,
               backward_scratch_bytes(&m->clip->cfg, batch, m->cfg.frames, m->cfg.num_classes, m->params.dtype),
               m->params.dtype);
    m->batch = batch;
}

double finecliper_step(FineCliper *m, const void *frames_host, const int32_t *labels, int batch, int train,
                       float grad_scale, void *logits_host) {
    Ops *ops = m->ops;
    const ClipModel *clip = m->clip;
    int C = m->cfg.num_classes, ctx = clip->cfg.context_length, neg = m->cfg.use_negative;
    float inv_t = 1.0f / m->cfg.temperature;
    ensure_activations(m, batch);
    Tensor temb = paramset_get(&m->params, m->idx_temb)->value, dtemb = paramset_get(&m->params, m->idx_temb)->grad;

    /* forward: video features, class text features, PN scores */
    aim_forward(ops, clip, temb, m->vis, m->cfg.mlp_adapter_scale, &m->aim, frames_host, &m->scratch);
    text_tower_embed(ops, clip, &m->text_pos, m->pos_ids, ctx, tensor_none(), tensor_none());
    text_tower_forward(ops, clip, m->pos, &m->text_pos, &m->scratch);
    if (neg) {
        text_tower_embed(ops, clip, &m->text_neg, m->neg_ids, ctx, tensor_none(), tensor_none());
        text_tower_forward(ops, clip, m->neg, &m->text_neg, &m->scratch);
    }
    op_l2_normalize(ops, m->vn, m->aim.video_feat, 1e-12f);
    op_l2_normalize(ops, m->tpn, m->text_pos.feat, 1e-12f);
    op_matmul(ops, m->cos_pos, m->vn, m->tpn, 0, 1, 1.0f, 0.0f);
    ops_copy(ops, m->logits, m->cos_pos);
    if (neg) {
        op_l2_normalize(ops, m->tnn, m->text_neg.feat, 1e-12f);
        op_matmul(ops, m->cos_neg, m->vn, m->tnn, 0, 1, 1.0f, 0.0f);
        op_axpy(ops, m->logits, -1.0f, m->cos_neg);
    }
    op_scale(ops, m->logits, inv_t);
    if (logits_host) ops_download(ops, logits_host, m->logits.data, tensor_bytes(&m->logits));
    if (!labels) return 0.0;

    ops_upload(ops, m->labels.data, labels, (size_t)batch * sizeof(int32_t));
    op_cross_entropy(ops, m->loss, train ? m->dlogits : tensor_none(), m->logits, m->labels, grad_scale);
    double loss = tensor_download_sum(ops, m->loss);
    if (!train) return loss;

    /* backward through the head: d score = d logits / temperature */
    size_t mark = m->scratch.used;
    const ClipConfig *c = &clip->cfg;
    Tensor dvn = arena_tensor(&m->scratch, "head.d_video_normalised", 2, batch, c->embed_dim, 0, 0);
    Tensor dv = arena_tensor(&m->scratch, "head.d_video", 2, batch, c->embed_dim, 0, 0);
    Tensor dtn = arena_tensor(&m->scratch, "head.d_text_normalised", 2, C, c->embed_dim, 0, 0);
    Tensor dt = arena_tensor(&m->scratch, "head.d_text", 2, C, c->embed_dim, 0, 0);
    op_scale(ops, m->dlogits, inv_t);
    op_matmul(ops, dvn, m->dlogits, m->tpn, 0, 0, 1.0f, 0.0f);
    if (neg) op_matmul(ops, dvn, m->dlogits, m->tnn, 0, 0, -1.0f, 1.0f);
    op_l2_normalize_backward(ops, dv, dvn, m->aim.video_feat, 1e-12f);
    aim_backward(ops, clip, temb, dtemb, m->vis, m->vis_grad, m->cfg.mlp_adapter_scale, &m->aim, dv, &m->scratch);
    if (m->pos) {
        op_matmul(ops, dtn, m->dlogits, m->vn, 1, 0, 1.0f, 0.0f);
        op_l2_normalize_backward(ops, dt, dtn, m->text_pos.feat, 1e-12f);
        text_tower_backward(ops, clip, m->pos, m->pos_grad, &m->text_pos, dt, tensor_none(), &m->scratch);
    }
    if (neg && m->neg) {
        op_matmul(ops, dtn, m->dlogits, m->vn, 1, 0, -1.0f, 0.0f);
        op_l2_normalize_backward(ops, dt, dtn, m->text_neg.feat, 1e-12f);
        text_tower_backward(ops, clip, m->neg, m->neg_grad, &m->text_neg, dt, tensor_none(), &m->scratch);
    }
    m->scratch.used = mark;
    return loss;
}
