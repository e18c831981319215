#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void optimizer_config_default(OptimizerConfig *cfg, OptKind kind) {
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->groups = 1;
    cfg->lr[0] = kind == OPT_SGD ? 0.01f : 3e-4f;
    cfg->weight_decay[0] = kind == OPT_SGD ? 1e-4f : 0.05f;
    cfg->momentum = 0.9f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-8f;
}

/* AIM's rule: no decay for layer norms and class/positional/temporal embeddings; our reading adds biases (every
 * 1-D parameter), as timm's AdamW does. The patch embedding is a convolution's weight, not an embedding table: it
 * decays as the other matrices do ("patch_embedding" contains "embedding"). */
static int exempt_from_decay(const ParamEntry *e) {
    const char *n = e->name;
    return e->ndim == 1 || strstr(n, "norm") || (strstr(n, "embedding") && !strstr(n, "patch_embedding")) ||
           strstr(n, "cls_token") || strstr(n, ".bias");
}

int optimizer_create(ParamSet *ps, const OptimizerConfig *cfg, Optimizer *opt, Err *err) {
    memset(opt, 0, sizeof *opt);
    if (cfg->groups < 1 || cfg->groups > OPT_MAX_GROUPS)
        return err_set(err, "optimizer: %d learning-rate groups (1..%d allowed)", cfg->groups, OPT_MAX_GROUPS);
    for (int i = 0; i < ps->count; i++)
        if (ps->items[i].group < 0 || ps->items[i].group >= cfg->groups)
            return err_set(err, "optimizer: parameter %s is in group %d, but %d groups are configured",
                           ps->items[i].name, ps->items[i].group, cfg->groups);
    opt->cfg = *cfg;
    opt->ps = ps;
    size_t bytes = (ps->numel ? ps->numel : 1) * dtype_size(ps->dtype);
    Tensor all = tensor_make(NULL, ps->dtype, 1, (int64_t)(ps->numel ? ps->numel : 1));
    if (cfg->kind == OPT_ADAMW || cfg->momentum != 0.0f) {
        opt->state1 = ops_alloc(ps->ops, bytes);
        all.data = opt->state1;
        ops_zero(ps->ops, all);
    }
    if (cfg->kind == OPT_ADAMW) {
        opt->state2 = ops_alloc(ps->ops, bytes);
        all.data = opt->state2;
        ops_zero(ps->ops, all);
    }
    opt->no_decay = xcalloc((size_t)(ps->count ? ps->count : 1), 1);
    if (cfg->no_decay_norms_and_embeddings)
        for (int i = 0; i < ps->count; i++) opt->no_decay[i] = (unsigned char)exempt_from_decay(&ps->items[i]);
    return 0;
}

void optimizer_free(Optimizer *opt) {
    if (opt->state1) ops_free(opt->ps->ops, opt->state1);
    if (opt->state2) ops_free(opt->ps->ops, opt->state2);
    free(opt->no_decay);
    memset(opt, 0, sizeof *opt);
}

static Tensor state_view(const Optimizer *opt, void *base, const ParamEntry *e) {
    Tensor t = e->value;
    t.data = base ? (char *)base + e->offset * dtype_size(opt->ps->dtype) : NULL;
    return t;
}

Tensor optimizer_state(const Optimizer *opt, int which) {
    void *base = which == 0 ? opt->state1 : opt->state2;
    return tensor_make(base, opt->ps->dtype, 1, (int64_t)opt->ps->numel);
}

OptStepResult optimizer_step(Optimizer *opt, float lr_factor, double *grad_norm) {
    ParamSet *ps = opt->ps;
    Ops *ops = ps->ops;
    Tensor grads = tensor_make(ps->grads, ps->dtype, 1, (int64_t)(ps->numel ? ps->numel : 1));
    double norm = sqrt(op_sum_squares(ops, grads));
    if (grad_norm) *grad_norm = norm;
    if (!isfinite(norm)) return OPT_STEP_SKIPPED_NONFINITE;
    if (opt->cfg.clip_norm > 0 && norm > opt->cfg.clip_norm)
        op_scale(ops, grads, (float)(opt->cfg.clip_norm / (norm + 1e-6)));
    int first = opt->step == 0;
    opt->step++;
    for (int i = 0; i < ps->count; i++) {
        const ParamEntry *e = &ps->items[i];
        float lr = opt->cfg.lr[e->group] * lr_factor;
        float wd = opt->no_decay[i] ? 0.0f : opt->cfg.weight_decay[e->group];
        if (opt->cfg.kind == OPT_SGD)
            op_sgd_update(ops, e->value, e->grad, state_view(opt, opt->state1, e), lr, opt->cfg.momentum, wd, first);
        else
            op_adamw_update(ops, e->value, e->grad, state_view(opt, opt->state1, e), state_view(opt, opt->state2, e),
                            lr, opt->cfg.beta1, opt->cfg.beta2, opt->cfg.eps, wd, opt->step);
    }
    return OPT_STEP_APPLIED;
}

double schedule_factor(const ScheduleConfig *s, int epoch, double fraction_of_epoch) {
    switch (s->kind) {
    case SCHED_CONSTANT:
    case SCHED_MULTISTEP: {
        /* MultiStepLR stepped once per epoch: during epoch e the factor is gamma^(milestones <= e); a warm-up
         * scales it by the linear ramp t / warmup_epochs (per step) until the ramp reaches 1 */
        double f = 1.0, t = epoch + fraction_of_epoch;
        if (s->kind == SCHED_MULTISTEP)
            for (int i = 0; i < s->n_milestones; i++)
                if (epoch >= s->milestones[i]) f *= s->gamma;
        return t < s->warmup_epochs ? f * t / s->warmup_epochs : f;
    }
    case SCHED_COSINE: {
        double t = epoch + fraction_of_epoch;
        if (t < s->warmup_epochs) return t / s->warmup_epochs;
        double span = s->epochs - s->warmup_epochs;
        double p = span > 0 ? (t - s->warmup_epochs) / span : 1.0;
        if (p > 1) p = 1;
        return s->min_factor + (1 - s->min_factor) * 0.5 * (1 + cos(M_PI * p));
    }
    }
    return 1.0;
}

int schedule_kind_from_name(const char *name, ScheduleKind *out) {
    if (!strcmp(name, "constant")) *out = SCHED_CONSTANT;
    else if (!strcmp(name, "multistep")) *out = SCHED_MULTISTEP;
    else if (!strcmp(name, "cosine")) *out = SCHED_COSINE;
    else return -1;
    return 0;
}
