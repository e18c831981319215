#include "model/finecliper.h"

#include <math.h>
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
    cfg->low = 1;
    cfg->video_adapters = 1;
    cfg->text_adapters = 1;
    cfg->fusion_weights = FC_WEIGHTS_SOFTMAX;
    cfg->fusion_temperature = 1;
    cfg->video_weight = 0.5;
    cfg->fusion_loss = FC_LOSS_MODALITIES;
}

const char *finecliper_variant_name(const FineCliperConfig *cfg) {
    /* indexed by low | mid << 1 | high << 2 (0: no level, refused by finecliper_create) */
    static const char *names[8] = {"none", "low", "mid", "low+mid", "high", "low+high", "mid+high", "low+mid+high"};
    return names[(cfg->low ? 1 : 0) | (cfg->mid_streams ? 2 : 0) | (cfg->high ? 4 : 0)];
}

const float *finecliper_last_weights(const FineCliper *m) { return m->weight_host; }

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

/* The three AIM adapters of every vision block under `prefix`; first[l*3+k]. */
static int *declare_aim_set(ParamSet *ps, const char *prefix, int layers, int64_t width, int64_t hidden) {
    static const char *kinds[3] = {"temporal", "spatial", "mlp"};
    int *first = xcalloc((size_t)layers * 3, sizeof(int));
    char name[128];
    for (int l = 0; l < layers; l++)
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "%s.blocks.%d.%s_adapter", prefix, l, kinds[k]);
            first[l * 3 + k] = declare_adapter(ps, name, width, hidden, FC_GROUP_VIDEO);
        }
    return first;
}

static void aim_set_views(const ParamSet *ps, const int *first, int layers, AimBlockParams **p, AimBlockParams **g) {
    *p = xcalloc((size_t)layers, sizeof(AimBlockParams));
    *g = xcalloc((size_t)layers, sizeof(AimBlockParams));
    for (int l = 0; l < layers; l++) {
        adapter_views(ps, first[l * 3 + 0], &(*p)[l].temporal, &(*g)[l].temporal);
        adapter_views(ps, first[l * 3 + 1], &(*p)[l].spatial, &(*g)[l].spatial);
        adapter_views(ps, first[l * 3 + 2], &(*p)[l].mlp, &(*g)[l].mlp);
    }
}

/* One adapter after each block of a text tower; first[l]. */
static int *declare_text_set(ParamSet *ps, const char *prefix, int layers, int64_t width, int64_t hidden) {
    int *first = xcalloc((size_t)layers, sizeof(int));
    char name[128];
    for (int l = 0; l < layers; l++) {
        snprintf(name, sizeof name, "%s.blocks.%d.adapter", prefix, l);
        first[l] = declare_adapter(ps, name, width, hidden, FC_GROUP_TEXT);
    }
    return first;
}

static void text_set_views(const ParamSet *ps, const int *first, int layers, AdapterParams **p, AdapterParams **g) {
    *p = xcalloc((size_t)layers, sizeof(AdapterParams));
    *g = xcalloc((size_t)layers, sizeof(AdapterParams));
    for (int l = 0; l < layers; l++) adapter_views(ps, first[l], &(*p)[l], &(*g)[l]);
}

/* A linear projection [out, in] + bias [out]; returns the weight's index. */
static int declare_projection(ParamSet *ps, const char *prefix, int64_t out, int64_t in, int group) {
    char name[128];
    snprintf(name, sizeof name, "%s.projection.weight", prefix);
    int first = paramset_add(ps, name, 2, out, in, 0, group);
    snprintf(name, sizeof name, "%s.projection.bias", prefix);
    paramset_add(ps, name, 1, out, 0, 0, group);
    return first;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* AIM's initialisation: trunc_normal(std 0.02) for fc1 weights, zeros for fc2
 * and all biases (so adapters start silent), zero temporal embeddings;
 * projections start at identity (square; the stream starts as frozen CLIP's
 * feature) or 1/sqrt(in)-scaled noise (a description tower of another width). */
static void init_values(FineCliper *m, uint64_t seed) {
    ParamSet *ps = &m->params;
    if (ops_is_counting(ps->ops)) return; /* the planner's context keeps no values (drawing L/14's took 3 s) */
    for (int i = 0; i < ps->count; i++) {
        const ParamEntry *e = paramset_get(ps, i);
        size_t n = (size_t)tensor_numel(&e->value);
        double *v = xcalloc(n, sizeof(double));
        if (ends_with(e->name, ".fc1.weight")) {
            Rng r;
            rng_init(&r, seed, 0xADA, (uint64_t)i, 0);
            for (size_t k = 0; k < n; k++) v[k] = 0.02 * rng_trunc_normal(&r, -2.0, 2.0);
        } else if (ends_with(e->name, "projection.weight")) {
            int64_t out = e->shape[0], in = e->shape[1];
            Rng r;
            rng_init(&r, seed, 0x9C0, (uint64_t)i, 0);
            for (int64_t o = 0; o < out; o++)
                for (int64_t k = 0; k < in; k++)
                    v[o * in + k] = out == in ? (double)(o == k) : rng_trunc_normal(&r, -2.0, 2.0) / sqrt((double)in);
        } else if (!strcmp(e->name, "contrastive.logit_scale")) {
            v[0] = log(1 / 0.07); /* CLIP's initial temperature */
        }
        paramset_upload_f64(ps, i, v);
        free(v);
    }
}

int finecliper_create(Ops *ops, ClipModel *clip, ClipModel *desc_clip, const FineCliperConfig *cfg,
                      const int32_t *pos_ids, const int32_t *neg_ids, uint64_t seed, FineCliper *m, Err *err) {
    memset(m, 0, sizeof *m);
    const ClipConfig *c = &clip->cfg;
    if (!c->has_vision || !c->has_text)
        return err_set(err, "FineCLIPER needs a CLIP checkpoint with both towers (this one has %s)",
                       c->has_vision ? "no text tower" : "no vision tower");
    if (!(cfg->fusion_temperature > 0))
        return err_set(err, "FineCLIPER: fusion temperature %g is not positive", cfg->fusion_temperature);
    if (cfg->fusion_weights == FC_WEIGHTS_FIXED && (!cfg->low || !(cfg->video_weight >= 0 && cfg->video_weight <= 1)))
        return err_set(err, "FineCLIPER: fixed fusion weights need the low level (the video feature's weight) and a "
                            "video weight in [0, 1] (%s, %g)", finecliper_variant_name(cfg), cfg->video_weight);
    if (cfg->mid_high_bottleneck_divisor < 0)
        return err_set(err, "FineCLIPER: middle/high bottleneck divisor %d is negative",
                       cfg->mid_high_bottleneck_divisor);
    if (cfg->frames < 1 || cfg->num_classes < 2 || cfg->temperature <= 0 || cfg->bottleneck_divisor < 1)
        return err_set(err, "FineCLIPER: frames %d, classes %d, temperature %g, bottleneck divisor %d are not valid",
                       cfg->frames, cfg->num_classes, cfg->temperature, cfg->bottleneck_divisor);
    if (cfg->use_negative && !neg_ids) return err_set(err, "FineCLIPER with negative descriptors needs their prompts");
    if (cfg->mid_streams & ~(FC_MID_PARSING | FC_MID_LANDMARKS))
        return err_set(err, "FineCLIPER: middle-level streams %d are not valid", cfg->mid_streams);
    if (!cfg->low && !cfg->mid_streams && !cfg->high)
        return err_set(err, "FineCLIPER: no level (low, mid or high) is configured");
    if (cfg->caption_length > 0 && (!cfg->low || cfg->mid_streams || cfg->high))
        return err_set(err, "FineCLIPER: contrastive training (the zero-shot setting) takes the low level only, not %s",
                       finecliper_variant_name(cfg));
    if (cfg->caption_length > c->context_length)
        return err_set(err, "FineCLIPER: caption length %d exceeds the text context %d", cfg->caption_length,
                       c->context_length);
    if (cfg->high) {
        if (!desc_clip || !desc_clip->cfg.has_text)
            return err_set(err, "FineCLIPER's high level needs a description text tower");
        if (cfg->description_length < 2 || cfg->description_length > desc_clip->cfg.context_length)
            return err_set(err, "FineCLIPER: description length %d is outside 2..%d", cfg->description_length,
                           desc_clip->cfg.context_length);
    }
    /* Each adapter's hidden width is the tower's width over its divisor: 0 would declare empty adapters, whose
     * text tower keeps no block outputs (a NULL dereference at the first step) and whose GEMMs have no depth */
    const char *mh_key = cfg->mid_high_bottleneck_divisor > 0 ? "model.mid_high_bottleneck_divisor"
                                                               : "model.bottleneck_divisor";
    struct {
        int on, width, divisor;
        const char *tower, *key;
    } bottlenecks[4] = {
        {cfg->low && cfg->video_adapters, c->vision_width, cfg->bottleneck_divisor, "vision",
         "model.bottleneck_divisor"},
        {cfg->text_adapters, c->text_width, cfg->bottleneck_divisor, "text", "model.bottleneck_divisor"},
        {cfg->mid_streams != 0, c->vision_width, finecliper_mid_high_divisor(cfg), "middle-level vision", mh_key},
        {cfg->high, cfg->high ? desc_clip->cfg.text_width : 0, finecliper_mid_high_divisor(cfg), "description text",
         mh_key},
    };
    for (int i = 0; i < 4; i++)
        if (bottlenecks[i].on && bottlenecks[i].width / bottlenecks[i].divisor < 1)
            return err_set(err, "FineCLIPER: bottleneck divisor %d (%s) exceeds the %s width %d: its adapters would "
                                "have no hidden units", bottlenecks[i].divisor, bottlenecks[i].key,
                           bottlenecks[i].tower, bottlenecks[i].width);
    m->cfg = *cfg;
    m->clip = clip;
    m->desc_clip = cfg->high ? desc_clip : NULL;
    m->ops = ops;
    ParamSet *ps = &m->params;
    paramset_init(ps, ops, paramset_dtype_for(clip->dtype));
    int64_t W = c->vision_width, Tw = c->text_width, E = c->embed_dim;
    int L = c->vision_layers, Lt = c->text_layers, div = cfg->bottleneck_divisor,
        mh_div = finecliper_mid_high_divisor(cfg);
    /* Declaration order = checkpoint order: the low level first, unchanged by the other levels. */
    m->idx_temb = cfg->low ? paramset_add(ps, "visual.temporal_embedding", 2, cfg->frames, W, 0, FC_GROUP_VIDEO) : -1;
    int *vis_first = cfg->low && cfg->video_adapters ? declare_aim_set(ps, "visual", L, W, W / div) : NULL;
    int *pos_first = NULL, *neg_first = NULL, *mid_first = NULL, *desc_first = NULL;
    if (cfg->text_adapters) {
        pos_first = declare_text_set(ps, "text.positive", Lt, Tw, Tw / div);
        if (cfg->use_negative) neg_first = declare_text_set(ps, "text.negative", Lt, Tw, Tw / div);
    }
    for (int k = 0; k < FC_MODALITIES; k++) m->idx_proj[k] = -1;
    if (cfg->low) m->mods[m->n_mod++] = FC_MOD_VIDEO;
    if (cfg->mid_streams) {
        m->idx_mid_temb = paramset_add(ps, "mid.temporal_embedding", 2, cfg->frames, W, 0, FC_GROUP_VIDEO);
        mid_first = declare_aim_set(ps, "mid", L, W, W / mh_div);
        if (cfg->mid_streams & FC_MID_PARSING) {
            m->idx_proj[FC_MOD_PARSING] = declare_projection(ps, "mid.parsing", E, E, FC_GROUP_VIDEO);
            m->mods[m->n_mod++] = FC_MOD_PARSING;
        }
        if (cfg->mid_streams & FC_MID_LANDMARKS) {
            m->idx_proj[FC_MOD_LANDMARKS] = declare_projection(ps, "mid.landmarks", E, E, FC_GROUP_VIDEO);
            m->mods[m->n_mod++] = FC_MOD_LANDMARKS;
        }
    }
    if (cfg->high) {
        const ClipConfig *d = &desc_clip->cfg;
        desc_first = declare_text_set(ps, "description", d->text_layers, d->text_width, d->text_width / mh_div);
        m->idx_proj[FC_MOD_TEXT] = declare_projection(ps, "description", E, d->embed_dim, FC_GROUP_TEXT);
        m->mods[m->n_mod++] = FC_MOD_TEXT;
    }
    if (cfg->caption_length > 0)
        m->idx_logit_scale = paramset_add(ps, "contrastive.logit_scale", 1, 1, 0, 0, FC_GROUP_TEXT);
    paramset_finalize(ps);
    if (vis_first) aim_set_views(ps, vis_first, L, &m->vis, &m->vis_grad);
    if (pos_first) text_set_views(ps, pos_first, Lt, &m->pos, &m->pos_grad);
    if (neg_first) text_set_views(ps, neg_first, Lt, &m->neg, &m->neg_grad);
    if (mid_first) aim_set_views(ps, mid_first, L, &m->mid, &m->mid_grad);
    if (desc_first) text_set_views(ps, desc_first, desc_clip->cfg.text_layers, &m->desc, &m->desc_grad);
    free(vis_first), free(pos_first), free(neg_first), free(mid_first), free(desc_first);
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

static void free_tower_acts(FineCliper *m) {
    aim_acts_free(&m->aim);
    aim_acts_free(&m->aim_mid[0]);
    aim_acts_free(&m->aim_mid[1]);
    text_tower_acts_free(&m->text_pos);
    text_tower_acts_free(&m->text_neg);
    text_tower_acts_free(&m->text_desc);
    text_tower_acts_free(&m->text_cap);
}

static void release_activations(FineCliper *m) {
    if (!m->batch) return;
    free_tower_acts(m);
    arena_free(&m->acts);
    arena_free(&m->scratch);
    free(m->weight_host);
    m->weight_host = NULL;
    m->batch = 0;
    if (m->global) arena_free(&m->gathered);
    m->global = 0;
}

void finecliper_free(FineCliper *m) {
    release_activations(m);
    paramset_free(&m->params);
    free(m->vis), free(m->vis_grad), free(m->pos), free(m->pos_grad), free(m->neg), free(m->neg_grad);
    free(m->mid), free(m->mid_grad), free(m->desc), free(m->desc_grad);
    free(m->pos_ids), free(m->neg_ids);
    memset(m, 0, sizeof *m);
}

/* The towers' activations are in the arena's dtype (the CLIP's: BF16 in the mixed-precision
 * model); the head's small [B,E], [B,C] and [C,E] tensors in the parameters' (F32 there). */
static void alloc_activations(FineCliper *m, Arena *a, int64_t batch) {
    const ClipConfig *c = &m->clip->cfg;
    DType hd = m->params.dtype;
    int C = m->cfg.num_classes, ctx = c->context_length, div = m->cfg.bottleneck_divisor;
    int64_t E = c->embed_dim;
    int fo = m->cfg.forward_only;
    if (m->cfg.low)
        aim_acts_alloc(a, &m->aim, m->clip, batch, m->cfg.frames, m->cfg.recompute, m->vis != NULL, &m->cfg.input, fo);
    for (int s = 0; s < 2; s++) /* the middle level always has its adapters */
        if (m->cfg.mid_streams & (1 << s))
            aim_acts_alloc(a, &m->aim_mid[s], m->clip, batch, m->cfg.frames, m->cfg.recompute, 1, &m->cfg.input, fo);
    int64_t tb = m->cfg.text_adapters ? c->text_width / div : 0;
    text_tower_acts_alloc(a, &m->text_pos, m->clip, C, text_tower_length(m->pos_ids, C, ctx), tb, fo);
    if (m->cfg.use_negative)
        text_tower_acts_alloc(a, &m->text_neg, m->clip, C, text_tower_length(m->neg_ids, C, ctx), tb, fo);
    if (m->cfg.high)
        text_tower_acts_alloc(a, &m->text_desc, m->desc_clip, batch, m->cfg.description_length,
                              m->desc_clip->cfg.text_width / finecliper_mid_high_divisor(&m->cfg), fo);
    if (m->cfg.caption_length > 0 && !fo) { /* an evaluation scores the class texts, not the captions */
        text_tower_acts_alloc(a, &m->text_cap, m->clip, batch, m->cfg.caption_length, tb, 0);
        m->cap_v = arena_tensor_typed(a, "contrastive.video", hd, 2, batch, E, 0, 0);
        m->cap_t = arena_tensor_typed(a, "contrastive.caption", hd, 2, batch, E, 0, 0);
    }
    static const char *names[FC_MODALITIES] = {"video", "parsing", "landmarks", "text"};
    char name[96];
    for (int i = 0; i < m->n_mod; i++) {
        int k = m->mods[i];
#define MOD_TENSOR(field, what, ...)                                           \
    snprintf(name, sizeof name, "head.%s.%s", names[k], what);                \
    m->field[k] = arena_tensor_typed(a, name, hd, __VA_ARGS__);
        MOD_TENSOR(feat, "feature", 2, batch, E, 0, 0);
        MOD_TENSOR(norm, "normalised", 2, batch, E, 0, 0);
        MOD_TENSOR(score, "score", 2, batch, C, 0, 0);
        MOD_TENSOR(mlogits, "logits", 2, batch, C, 0, 0);
        MOD_TENSOR(mloss, "loss", 1, batch, 0, 0, 0);
        MOD_TENSOR(mdlogits, "d_logits", 2, batch, C, 0, 0);
        MOD_TENSOR(weight, "weight", 1, batch, 0, 0, 0);
#undef MOD_TENSOR
    }
    m->fused = arena_tensor_typed(a, "head.fused", hd, 2, batch, E, 0, 0);
    m->fused_norm = arena_tensor_typed(a, "head.fused_normalised", hd, 2, batch, E, 0, 0);
    m->tpn = arena_tensor_typed(a, "head.positive_normalised", hd, 2, C, E, 0, 0);
    m->tnn = arena_tensor_typed(a, "head.negative_normalised", hd, 2, C, E, 0, 0);
    m->logits = arena_tensor_typed(a, "head.logits", hd, 2, batch, C, 0, 0);
    m->loss = arena_tensor_typed(a, "head.loss", hd, 1, batch, 0, 0, 0);
    m->dlogits = arena_tensor_typed(a, "head.d_logits", hd, 2, batch, C, 0, 0);
    m->labels = arena_tensor_typed(a, "head.labels", DT_I32, 1, batch, 0, 0, 0);
}

static double step_impl(FineCliper *m, const FineCliperInputs *in, const int32_t *labels, int batch, int train,
                        float grad_scale, void *logits_host);

/* One training step of placeholder inputs, for scratch_measure (nothing is read on a counting
 * context but the token ids, which must be valid rows); an evaluation step for forward-only activations. */
typedef struct DryRun {
    FineCliper *m;
    int batch;
} DryRun;

static void dry_step(void *ctx) {
    DryRun *d = ctx;
    static const char placeholder = 0;
    int32_t *zeros = xcalloc((size_t)d->batch * (d->m->desc_clip ? d->m->desc_clip->cfg.context_length : 1) + 1,
                             sizeof(int32_t));
    FineCliperInputs in = {.frames = &placeholder, .parsing = &placeholder, .landmarks = &placeholder,
                           .descriptions = zeros};
    step_impl(d->m, &in, zeros, d->batch, !d->m->cfg.forward_only, 1.0f, NULL);
    free(zeros);
}

/* The same for contrastive training, with the rank's own batch as the gathered one (G = B, one
 * rank: no collective), and then an evaluation step (the class texts, forward only), which
 * shares the scratch. The gathered buffers it makes live on the counting context, so they are
 * dropped again; ensure_gathered makes the real ones. */
static void dry_contrastive_step(void *ctx) {
    DryRun *d = ctx;
    FineCliper *m = d->m;
    static const char placeholder = 0;
    int32_t *zeros = xcalloc((size_t)d->batch * m->clip->cfg.context_length + 1, sizeof(int32_t));
    finecliper_contrastive_forward(m, &placeholder, zeros, d->batch, d->batch);
    finecliper_contrastive_backward(m, 0, 1, 1.0f, 1);
    arena_free(&m->gathered);
    m->global = 0;
    FineCliperInputs in = {.frames = &placeholder, .parsing = &placeholder, .landmarks = &placeholder,
                           .descriptions = zeros};
    step_impl(m, &in, zeros, d->batch, 0, 1.0f, NULL);
    free(zeros);
}

static void ensure_activations(FineCliper *m, int64_t batch) {
    if (m->batch == batch) return;
    release_activations(m);
    DType act = m->clip->dtype; /* the towers' activations (BF16 in the mixed-precision model) */
    Arena measure;
    arena_init_measuring(&measure, m->ops, act);
    alloc_activations(m, &measure, batch);
    free_tower_acts(m);
    arena_init(&m->acts, m->ops, measure.peak, act);
    alloc_activations(m, &m->acts, batch);
    m->weight_host = xcalloc((size_t)batch * FC_MODALITIES, sizeof(float));
    m->batch = batch;
    DryRun d = {m, (int)batch};
    int contrastive = m->cfg.caption_length > 0 && !m->cfg.forward_only; /* evaluation scores the class texts */
    size_t scratch = scratch_measure(&m->ops, &m->scratch, act, contrastive ? dry_contrastive_step : dry_step, &d);
    m->scratch_at_own_batch = scratch;
    arena_init(&m->scratch, m->ops, scratch, act);
}

void finecliper_reserve(FineCliper *m, int batch) { ensure_activations(m, batch); }

void finecliper_set_forward_only(FineCliper *m, int forward_only) {
    if (m->cfg.forward_only == forward_only) return;
    release_activations(m);
    m->cfg.forward_only = forward_only;
}

void finecliper_set_recompute(FineCliper *m, int recompute) {
    if (m->cfg.recompute == recompute) return;
    release_activations(m); /* the next step (or reserve) allocates them the new way */
    m->cfg.recompute = recompute;
}

/* A small device tensor read back as doubles (malloc'ed). */
static double *download_reals(Ops *ops, Tensor t) {
    double *v = xmalloc((size_t)tensor_numel(&t) * sizeof(double));
    ops_download_f64(ops, v, t);
    return v;
}

/* PN score of normalised features x [B,E] against the class texts: out = x t+^T (- x t-^T). */
static void pn_score(FineCliper *m, Tensor out, Tensor x) {
    op_matmul(m->ops, out, x, m->tpn, 0, 1, 1.0f, 0.0f);
    if (m->cfg.use_negative) op_matmul(m->ops, out, x, m->tnn, 0, 1, -1.0f, 1.0f);
}

/* The adaptive weights w[b,m] from the scores (constants: no gradient flows
 * through them). conf_m[b] = max_c s_m[b,c]; softmax over the modalities (of conf / fusion_temperature), or
 * conf normalised by its sum (negatives clamped to 0; uniform when all are),
 * or uniform; or fixed, whatever the scores: video_weight for the video feature, the rest shared evenly by the others
 * (the paper's Fig. 8). Also fills m->weight_host [B, FC_MODALITIES]. */
static void modality_weights(FineCliper *m, int batch) {
    int C = m->cfg.num_classes, M = m->n_mod;
    double *conf = xcalloc((size_t)batch * M, sizeof(double));
    /* the confidences only where the weights depend on them: each download waits for the device */
    int from_scores = m->cfg.fusion_weights == FC_WEIGHTS_SOFTMAX || m->cfg.fusion_weights == FC_WEIGHTS_SUM;
    for (int i = 0; from_scores && i < M; i++) {
        double *s = download_reals(m->ops, m->score[m->mods[i]]);
        for (int b = 0; b < batch; b++) {
            double best = s[(size_t)b * C];
            for (int c = 1; c < C; c++) best = fmax(best, s[(size_t)b * C + c]);
            conf[(size_t)b * M + i] = best;
        }
        free(s);
    }
    double *w = xcalloc((size_t)batch * M, sizeof(double));
    for (int b = 0; b < batch; b++) {
        double *cb = conf + (size_t)b * M, *wb = w + (size_t)b * M, total = 0, top = cb[0];
        if (m->cfg.fusion_weights == FC_WEIGHTS_FIXED) { /* the video stream is mods[0] (finecliper_create) */
            for (int i = 0; i < M; i++) wb[i] = M == 1 ? 1.0 : i == 0 ? m->cfg.video_weight
                                                                      : (1.0 - m->cfg.video_weight) / (M - 1);
            continue;
        }
        for (int i = 1; i < M; i++) top = fmax(top, cb[i]);
        for (int i = 0; i < M; i++) {
            if (m->cfg.fusion_weights == FC_WEIGHTS_SOFTMAX) wb[i] = exp((cb[i] - top) / m->cfg.fusion_temperature);
            else if (m->cfg.fusion_weights == FC_WEIGHTS_SUM) wb[i] = fmax(cb[i], 0.0);
            else wb[i] = 1.0;
            total += wb[i];
        }
        for (int i = 0; i < M; i++) wb[i] = total > 0 ? wb[i] / total : 1.0 / M;
    }
    double *col = xmalloc((size_t)batch * sizeof(double));
    memset(m->weight_host, 0, (size_t)batch * FC_MODALITIES * sizeof(float));
    for (int i = 0; i < M; i++) {
        for (int b = 0; b < batch; b++) {
            col[b] = w[(size_t)b * M + i];
            m->weight_host[(size_t)b * FC_MODALITIES + m->mods[i]] = (float)col[b];
        }
        ops_upload_f64(m->ops, m->weight[m->mods[i]], col);
    }
    free(conf), free(w), free(col);
}

static Tensor param_value(const FineCliper *m, int idx) { return paramset_get(&m->params, idx)->value; }
static Tensor param_grad(const FineCliper *m, int idx) { return paramset_get(&m->params, idx)->grad; }

/* Runs the towers of every modality to its feature f_m [B,E] and the class texts. */
static void forward_features(FineCliper *m, const FineCliperInputs *in) {
    Ops *ops = m->ops;
    const ClipModel *clip = m->clip;
    float s = m->cfg.mlp_adapter_scale;
    if (m->cfg.low) {
        CHECK(in->frames, "FineCLIPER (%s): the frames of the batch are missing", finecliper_variant_name(&m->cfg));
        aim_forward(ops, clip, param_value(m, m->idx_temb), m->vis, s, &m->aim, in->frames, &m->scratch);
        ops_copy_convert(ops, m->feat[FC_MOD_VIDEO], m->aim.video_feat);
    }
    for (int st = 0; st < 2; st++) {
        if (!(m->cfg.mid_streams & (1 << st))) continue;
        int k = st == 0 ? FC_MOD_PARSING : FC_MOD_LANDMARKS;
        const void *maps = st == 0 ? in->parsing : in->landmarks;
        CHECK(maps, "FineCLIPER (%s): the %s maps of the batch are missing", finecliper_variant_name(&m->cfg),
              st == 0 ? "parsing" : "landmark");
        aim_forward(ops, clip, param_value(m, m->idx_mid_temb), m->mid, s, &m->aim_mid[st], maps, &m->scratch);
        Tensor b = param_value(m, m->idx_proj[k] + 1);
        op_linear(ops, m->feat[k], m->aim_mid[st].video_feat, param_value(m, m->idx_proj[k]), &b);
    }
    if (m->cfg.high) {
        CHECK(in->descriptions, "FineCLIPER (%s): the descriptions of the batch are missing",
              finecliper_variant_name(&m->cfg));
        text_tower_embed(ops, m->desc_clip, &m->text_desc, in->descriptions, m->desc_clip->cfg.context_length,
                         tensor_none(), tensor_none());
        text_tower_forward(ops, m->desc_clip, m->desc, &m->text_desc, &m->scratch);
        Tensor b = param_value(m, m->idx_proj[FC_MOD_TEXT] + 1);
        op_linear(ops, m->feat[FC_MOD_TEXT], m->text_desc.feat, param_value(m, m->idx_proj[FC_MOD_TEXT]), &b);
    }
    int ctx = clip->cfg.context_length;
    text_tower_embed(ops, clip, &m->text_pos, m->pos_ids, ctx, tensor_none(), tensor_none());
    text_tower_forward(ops, clip, m->pos, &m->text_pos, &m->scratch);
    op_l2_normalize(ops, m->tpn, m->text_pos.feat, 1e-12f);
    if (m->cfg.use_negative) {
        text_tower_embed(ops, clip, &m->text_neg, m->neg_ids, ctx, tensor_none(), tensor_none());
        text_tower_forward(ops, clip, m->neg, &m->text_neg, &m->scratch);
        op_l2_normalize(ops, m->tnn, m->text_neg.feat, 1e-12f);
    }
}

/* Backward from dfeat [B,E] of modality k into its tower's parameters. */
static void backward_modality(FineCliper *m, int k, Tensor dfeat) {
    Ops *ops = m->ops;
    const ClipModel *clip = m->clip;
    float s = m->cfg.mlp_adapter_scale;
    if (k == FC_MOD_VIDEO) {
        aim_backward(ops, clip, param_value(m, m->idx_temb), param_grad(m, m->idx_temb), m->vis, m->vis_grad, s,
                     &m->aim, dfeat, &m->scratch);
        return;
    }
    size_t mark = m->scratch.used;
    int p = m->idx_proj[k];
    if (k == FC_MOD_TEXT) {
        Tensor dx = arena_tensor_typed(&m->scratch, "head.d_description", m->params.dtype, 2, dfeat.shape[0],
                                       m->desc_clip->cfg.embed_dim, 0, 0);
        op_linear_backward(ops, dx, param_grad(m, p), param_grad(m, p + 1), dfeat, m->text_desc.feat,
                           param_value(m, p), 0);
        text_tower_backward(ops, m->desc_clip, m->desc, m->desc_grad, &m->text_desc, dx, tensor_none(), &m->scratch);
    } else {
        AimActs *acts = &m->aim_mid[k == FC_MOD_PARSING ? 0 : 1];
        Tensor dx = arena_tensor_typed(&m->scratch, "head.d_mid", m->params.dtype, 2, dfeat.shape[0],
                                       clip->cfg.embed_dim, 0, 0);
        op_linear_backward(ops, dx, param_grad(m, p), param_grad(m, p + 1), dfeat, acts->video_feat,
                           param_value(m, p), 0);
        aim_backward(ops, clip, param_value(m, m->idx_mid_temb), param_grad(m, m->idx_mid_temb), m->mid, m->mid_grad,
                     s, acts, dx, &m->scratch);
    }
    m->scratch.used = mark;
}

double finecliper_step(FineCliper *m, const FineCliperInputs *in, const int32_t *labels, int batch, int train,
                       float grad_scale, void *logits_host) {
    CHECK(!train || !m->cfg.forward_only, "FineCLIPER: a training step on forward-only (evaluation) activations");
    ensure_activations(m, batch);
    return step_impl(m, in, labels, batch, train, grad_scale, logits_host);
}

/* One step with the activations in place (finecliper_step; the scratch measurement). */
static double step_impl(FineCliper *m, const FineCliperInputs *in, const int32_t *labels, int batch, int train,
                        float grad_scale, void *logits_host) {
    Ops *ops = m->ops;
    int C = m->cfg.num_classes, neg = m->cfg.use_negative, loss_kind = m->cfg.fusion_loss;
    int64_t E = m->clip->cfg.embed_dim;
    float inv_t = 1.0f / m->cfg.temperature;

    /* forward: features, per-modality PN scores, weights, the fused prediction */
    forward_features(m, in);
    for (int i = 0; i < m->n_mod; i++) {
        int k = m->mods[i];
        op_l2_normalize(ops, m->norm[k], m->feat[k], 1e-12f);
        pn_score(m, m->score[k], m->norm[k]);
        ops_copy(ops, m->mlogits[k], m->score[k]);
        op_scale(ops, m->mlogits[k], inv_t);
    }
    if (!m->hold_weights) modality_weights(m, batch);
    for (int i = 0; i < m->n_mod; i++)
        op_axpy_rows(ops, m->fused, m->weight[m->mods[i]], m->norm[m->mods[i]], i ? 1.0f : 0.0f);
    op_l2_normalize(ops, m->fused_norm, m->fused, 1e-12f);
    pn_score(m, m->logits, m->fused_norm);
    op_scale(ops, m->logits, inv_t);
    if (logits_host) ops_download(ops, logits_host, m->logits.data, tensor_bytes(&m->logits));
    if (!labels) return 0.0;

    /* loss: weighted per-modality cross-entropies and/or the fused one */
    ops_upload(ops, m->labels.data, labels, (size_t)batch * sizeof(int32_t));
    double loss = 0;
    if (loss_kind != FC_LOSS_FUSED)
        for (int i = 0; i < m->n_mod; i++) {
            int k = m->mods[i];
            op_cross_entropy(ops, m->mloss[k], train ? m->mdlogits[k] : tensor_none(), m->mlogits[k], m->labels,
                             grad_scale);
            double *l = download_reals(ops, m->mloss[k]);
            for (int b = 0; b < batch; b++) loss += m->weight_host[(size_t)b * FC_MODALITIES + k] * l[b];
            free(l);
            if (train) op_axpy_rows(ops, m->mdlogits[k], m->weight[k], m->mdlogits[k], 0.0f);
        }
    if (loss_kind != FC_LOSS_MODALITIES) {
        op_cross_entropy(ops, m->loss, train ? m->dlogits : tensor_none(), m->logits, m->labels, grad_scale);
        loss += tensor_download_sum(ops, m->loss);
    }
    if (!train) return loss;

    /* backward: d score = d logits / temperature; dnorm_m from its own loss and,
     * through the fusion, w_m * dF; the class texts collect from every term */
    size_t mark = m->scratch.used;
    Tensor dtpn = arena_tensor_typed(&m->scratch, "head.d_positive_normalised", m->params.dtype, 2, C, E, 0, 0);
    Tensor dt = arena_tensor_typed(&m->scratch, "head.d_text", m->params.dtype, 2, C, E, 0, 0);
    Tensor dn = arena_tensor_typed(&m->scratch, "head.d_normalised", m->params.dtype, 2, batch, E, 0, 0);
    Tensor df = arena_tensor_typed(&m->scratch, "head.d_feature", m->params.dtype, 2, batch, E, 0, 0);
    Tensor dfused = arena_tensor_typed(&m->scratch, "head.d_fused", m->params.dtype, 2, batch, E, 0, 0);
    int have_text = 0; /* dtpn holds a term */
    if (loss_kind != FC_LOSS_MODALITIES) {
        op_scale(ops, m->dlogits, inv_t);
        op_matmul(ops, dn, m->dlogits, m->tpn, 0, 0, 1.0f, 0.0f);
        if (neg) op_matmul(ops, dn, m->dlogits, m->tnn, 0, 0, -1.0f, 1.0f);
        op_l2_normalize_backward(ops, dfused, dn, m->fused, 1e-12f);
        op_matmul(ops, dtpn, m->dlogits, m->fused_norm, 1, 0, 1.0f, 0.0f);
        have_text = 1;
    }
    for (int i = 0; i < m->n_mod; i++) {
        int k = m->mods[i];
        if (loss_kind != FC_LOSS_FUSED) {
            op_scale(ops, m->mdlogits[k], inv_t);
            op_matmul(ops, dn, m->mdlogits[k], m->tpn, 0, 0, 1.0f, 0.0f);
            if (neg) op_matmul(ops, dn, m->mdlogits[k], m->tnn, 0, 0, -1.0f, 1.0f);
            op_matmul(ops, dtpn, m->mdlogits[k], m->norm[k], 1, 0, 1.0f, have_text ? 1.0f : 0.0f);
            have_text = 1;
            if (loss_kind == FC_LOSS_BOTH) op_axpy_rows(ops, dn, m->weight[k], dfused, 1.0f);
        } else {
            op_axpy_rows(ops, dn, m->weight[k], dfused, 0.0f);
        }
        op_l2_normalize_backward(ops, df, dn, m->feat[k], 1e-12f);
        backward_modality(m, k, df);
    }
    /* t- enters every score with the opposite sign of t+: d t-_normalised = -dtpn */
    if (m->pos) {
        op_l2_normalize_backward(ops, dt, dtpn, m->text_pos.feat, 1e-12f);
        text_tower_backward(ops, m->clip, m->pos, m->pos_grad, &m->text_pos, dt, tensor_none(), &m->scratch);
    }
    if (neg && m->neg) {
        op_scale(ops, dtpn, -1.0f);
        op_l2_normalize_backward(ops, dt, dtpn, m->text_neg.feat, 1e-12f);
        text_tower_backward(ops, m->clip, m->neg, m->neg_grad, &m->text_neg, dt, tensor_none(), &m->scratch);
    }
    m->scratch.used = mark;
    return loss;
}

/* ---- contrastive training (the zero-shot setting) -------------------------------------- */

static void ensure_gathered(FineCliper *m, int64_t global) {
    if (m->global == global) return;
    if (m->global) arena_free(&m->gathered);
    int64_t E = m->clip->cfg.embed_dim;
    size_t es = dtype_size(m->params.dtype);
    /* the backward's d_all_video and d_all_caption [G,E] open the scratch, measured at G = B:
     * more rows shift the rest up (128 bytes: the arena's alignment of the two) */
    size_t need = m->scratch_at_own_batch + (global > m->batch ? (size_t)(2 * (global - m->batch) * E) * es + 128 : 0);
    if (m->scratch.base && m->scratch.capacity < need) {
        DType act = m->scratch.dtype;
        arena_free(&m->scratch);
        arena_init(&m->scratch, m->ops, need, act);
    }
    arena_init(&m->gathered, m->ops,
               (size_t)(2 * global * E + 4 * global * global + 2 * global) * es + global * 4 + 4096, m->params.dtype);
    Arena *a = &m->gathered;
    m->all_v = arena_tensor(a, "contrastive.all_video", 2, global, E, 0, 0);
    m->all_t = arena_tensor(a, "contrastive.all_caption", 2, global, E, 0, 0);
    m->sim = arena_tensor(a, "contrastive.similarity", 2, global, global, 0, 0);
    m->dsim = arena_tensor(a, "contrastive.d_similarity", 2, global, global, 0, 0);
    m->sim_t = arena_tensor(a, "contrastive.similarity_t", 2, global, global, 0, 0);
    m->dsim_t = arena_tensor(a, "contrastive.d_similarity_t", 2, global, global, 0, 0);
    m->closs = arena_tensor(a, "contrastive.loss", 1, global, 0, 0, 0);
    m->scale_rows = arena_tensor(a, "contrastive.scale", 1, global, 0, 0, 0);
    m->arange = arena_tensor_typed(a, "contrastive.targets", DT_I32, 1, global, 0, 0, 0);
    int32_t *idx = xmalloc((size_t)global * sizeof(int32_t));
    for (int64_t i = 0; i < global; i++) idx[i] = (int32_t)i;
    ops_upload(m->ops, m->arange.data, idx, (size_t)global * sizeof(int32_t));
    free(idx);
    m->global = global;
}

void finecliper_contrastive_forward(FineCliper *m, const void *frames, const int32_t *caption_ids, int batch,
                                    int global) {
    CHECK(m->cfg.caption_length > 0, "FineCLIPER was not configured for contrastive training");
    CHECK(!m->cfg.forward_only, "FineCLIPER: contrastive training on forward-only (evaluation) activations");
    Ops *ops = m->ops;
    ensure_activations(m, batch);
    ensure_gathered(m, global);
    aim_forward(ops, m->clip, param_value(m, m->idx_temb), m->vis, m->cfg.mlp_adapter_scale, &m->aim, frames,
                &m->scratch);
    op_l2_normalize(ops, m->cap_v, m->aim.video_feat, 1e-12f);
    text_tower_embed(ops, m->clip, &m->text_cap, caption_ids, m->clip->cfg.context_length, tensor_none(),
                     tensor_none());
    text_tower_forward(ops, m->clip, m->pos, &m->text_cap, &m->scratch);
    op_l2_normalize(ops, m->cap_t, m->text_cap.feat, 1e-12f);
}

/* Rows [first, first + n) of a [G,E] tensor, as a view. */
static Tensor rows_view(Tensor t, int64_t first, int64_t n) {
    Tensor v = t;
    v.data = (char *)t.data + (size_t)(first * t.shape[1]) * dtype_size(t.dtype);
    v.shape[0] = n;
    return v;
}

double finecliper_contrastive_backward(FineCliper *m, int offset, int train, float grad_scale, int world) {
    Ops *ops = m->ops;
    int64_t G = m->global, B = m->batch, E = m->clip->cfg.embed_dim;
    double s_log;
    paramset_download_f64(&m->params, m->idx_logit_scale, 0, &s_log);
    /* CLIP clamps the scale at 100; beyond it the scale gets no gradient */
    double scale = fmin(exp(s_log), 100.0);
    /* the scale multiplies rows through a tensor of the model dtype: an F32 scalar would round it (F64 checks) */
    double *sv = xmalloc((size_t)G * sizeof(double));
    for (int64_t i = 0; i < G; i++) sv[i] = scale;
    ops_upload_f64(ops, m->scale_rows, sv);
    free(sv);
    op_matmul(ops, m->sim, m->all_v, m->all_t, 0, 1, 1.0f, 0.0f);   /* video -> captions */
    op_axpy_rows(ops, m->sim, m->scale_rows, m->sim, 0.0f);
    op_matmul(ops, m->sim_t, m->all_t, m->all_v, 0, 1, 1.0f, 0.0f); /* captions -> videos */
    op_axpy_rows(ops, m->sim_t, m->scale_rows, m->sim_t, 0.0f);
    op_cross_entropy(ops, m->closs, train ? m->dsim : tensor_none(), m->sim, m->arange, 0.5f * grad_scale);
    double loss = 0.5 * tensor_download_sum(ops, m->closs);
    op_cross_entropy(ops, m->closs, train ? m->dsim_t : tensor_none(), m->sim_t, m->arange, 0.5f * grad_scale);
    loss += 0.5 * tensor_download_sum(ops, m->closs);
    if (!train) return loss;

    /* d log-scale = sum(dsim * sim) + sum(dsim_t * sim_t) (sim is proportional to the scale);
     * not on a counting context (scratch_measure's dry step), which computes nothing */
    if (exp(s_log) < 100.0 && !ops_is_counting(ops)) {
        double *a = download_reals(ops, m->dsim), *b = download_reals(ops, m->sim), ds = 0;
        for (int64_t i = 0; i < G * G; i++) ds += a[i] * b[i];
        free(a), free(b);
        a = download_reals(ops, m->dsim_t), b = download_reals(ops, m->sim_t);
        for (int64_t i = 0; i < G * G; i++) ds += a[i] * b[i];
        free(a), free(b);
        double g;
        paramset_download_f64(&m->params, m->idx_logit_scale, 1, &g);
        g += ds / world; /* every rank computes the same value; the group's sum counts it once */
        Tensor gt = paramset_get(&m->params, m->idx_logit_scale)->grad;
        ops_upload_f64(ops, gt, &g);
    }
    size_t mark = m->scratch.used;
    Tensor dv = arena_tensor_typed(&m->scratch, "contrastive.d_all_video", m->params.dtype, 2, G, E, 0, 0);
    Tensor dt = arena_tensor_typed(&m->scratch, "contrastive.d_all_caption", m->params.dtype, 2, G, E, 0, 0);
    Tensor df = arena_tensor_typed(&m->scratch, "contrastive.d_feature", m->params.dtype, 2, B, E, 0, 0);
    /* sim = c V T^T, sim_t = c T V^T: dV = c (dsim T + dsim_t^T T), dT = c (dsim^T V + dsim_t V) */
    op_matmul(ops, dv, m->dsim, m->all_t, 0, 0, (float)scale, 0.0f);
    op_matmul(ops, dv, m->dsim_t, m->all_t, 1, 0, (float)scale, 1.0f);
    op_matmul(ops, dt, m->dsim, m->all_v, 1, 0, (float)scale, 0.0f);
    op_matmul(ops, dt, m->dsim_t, m->all_v, 0, 0, (float)scale, 1.0f);
    op_l2_normalize_backward(ops, df, rows_view(dv, offset, B), m->aim.video_feat, 1e-12f);
    aim_backward(ops, m->clip, param_value(m, m->idx_temb), param_grad(m, m->idx_temb), m->vis, m->vis_grad,
                 m->cfg.mlp_adapter_scale, &m->aim, df, &m->scratch);
    if (m->pos) {
        op_l2_normalize_backward(ops, df, rows_view(dt, offset, B), m->text_cap.feat, 1e-12f);
        text_tower_backward(ops, m->clip, m->pos, m->pos_grad, &m->text_cap, df, tensor_none(), &m->scratch);
    }
    m->scratch.used = mark;
    return loss;
}
