#include "train/job_model.h"

#include <stdlib.h>
#include <string.h>

#include "model/dfer_clip.h"
#include "model/finecliper.h"
#include "text/prompts.h"
#include "text/tokenizer.h"

static int load_tokenizer(const Config *cfg, ClipTokenizer **tok, Err *err) {
    char found[4096];
    const char *path = cfg->vocab[0] ? cfg->vocab : NULL;
    if (!path && clip_vocab_find_beside(cfg->weights, found, sizeof found) == 0) path = found;
    if (!path) path = getenv("DFER_VOCAB");
    if (!path)
        return err_set(err, "no CLIP vocabulary: set model.vocab, put %s beside %s, or set DFER_VOCAB", CLIP_VOCAB_FILE,
                       cfg->weights);
    return clip_tokenizer_load(path, tok, err);
}

static int tokenize_all(ClipTokenizer *tok, char texts[][512], int n, int context, int32_t *ids, Err *err) {
    for (int i = 0; i < n; i++)
        if (clip_tokenize_padded(tok, texts[i], context, 0, ids + (size_t)i * context, err) != 0)
            return err_prefix(err, "class prompt %d: ", i);
    return 0;
}

int job_model_create(const Config *cfg, int num_classes, JobModel *m, Err *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->method, sizeof m->method, "%s", cfg->method);
    m->num_classes = num_classes;
    m->f64 = !strcmp(cfg->dtype, "f64");
    if (!strcmp(cfg->device, "cuda")) return err_set(err, "train.device = cuda: the CUDA training path is not built yet (use cpu or auto)");
    if (ops_create(BACKEND_CPU, cfg->threads, &m->ops, err) != 0) return -1;
    if (clip_model_load(m->ops, cfg->weights, m->f64 ? DT_F64 : DT_F32, &m->clip, err) != 0) goto fail;
    if (!m->clip.cfg.has_vision || !m->clip.cfg.has_text) {
        err_set(err, "%s: training needs a CLIP checkpoint with both towers", cfg->weights);
        goto fail;
    }
    m->image_size = m->clip.cfg.image_size;
    ClipTokenizer *tok;
    if (load_tokenizer(cfg, &tok, err) != 0) goto fail;
    int ctx = m->clip.cfg.context_length, rc = 0;
    char (*texts)[512] = xcalloc((size_t)num_classes, 512);
    int32_t *pos = xcalloc((size_t)num_classes * ctx, sizeof(int32_t)), *neg = xcalloc((size_t)num_classes * ctx, sizeof(int32_t));
    if (!strcmp(cfg->method, "finecliper")) {
        FineCliperConfig fc;
        finecliper_config_default(&fc);
        fc.frames = cfg->frames;
        fc.num_classes = num_classes;
        fc.temperature = cfg->temperature;
        fc.mlp_adapter_scale = cfg->mlp_adapter_scale;
        fc.bottleneck_divisor = cfg->bottleneck_divisor;
        fc.use_negative = strcmp(cfg->negative, "none") != 0;
        fc.video_adapters = cfg->video_adapters;
        fc.text_adapters = cfg->text_adapters;
        for (int c = 0; c < num_classes; c++) prompt_positive(cfg->prompt, c, texts[c], 512);
        rc = tokenize_all(tok, texts, num_classes, ctx, pos, err);
        if (rc == 0 && fc.use_negative) {
            for (int c = 0; c < num_classes; c++) prompt_negative(cfg->prompt, cfg->negative, c, texts[c], 512);
            rc = tokenize_all(tok, texts, num_classes, ctx, neg, err);
        }
        FineCliper *f = xcalloc(1, sizeof *f);
        if (rc == 0) rc = finecliper_create(m->ops, &m->clip, &fc, pos, fc.use_negative ? neg : NULL, (uint64_t)cfg->seed, f, err);
        m->impl = f;
        m->params = &f->params;
        m->groups = 2;
        m->group_names[0] = "video", m->group_names[1] = "text";
    } else {
        DferClipConfig dc;
        dfer_clip_config_default(&dc);
        dc.frames = cfg->frames;
        dc.num_classes = num_classes;
        dc.contexts = cfg->contexts;
        dc.logit_scale = cfg->logit_scale;
        dc.train_image_encoder = cfg->train_image_encoder;
        for (int c = 0; c < num_classes; c++) prompt_dfer_clip(cfg->class_text, cfg->contexts, c, texts[c], 512);
        rc = tokenize_all(tok, texts, num_classes, ctx, pos, err);
        for (int c = 0; rc == 0 && c < num_classes; c++)
            for (int j = 1; j <= cfg->contexts; j++)
                if (pos[(size_t)c * ctx + j] != PROMPT_PLACEHOLDER_ID)
                    rc = err_set(err, "internal: the context placeholders did not tokenize as expected");
        DferClip *d = xcalloc(1, sizeof *d);
        if (rc == 0) rc = dfer_clip_create(m->ops, &m->clip, &dc, pos, (uint64_t)cfg->seed, d, err);
        m->impl = d;
        m->params = &d->params;
        m->groups = 3;
        m->group_names[0] = "image_encoder", m->group_names[1] = "temporal_net", m->group_names[2] = "prompt_learner";
        m->raw_pixels = 1;
    }
    free(texts), free(pos), free(neg);
    clip_tokenizer_free(tok);
    if (rc != 0) goto fail;
    return 0;
fail:
    job_model_free(m);
    return -1;
}

double job_model_step(JobModel *m, const void *frames, const int32_t *labels, int batch, int train, float grad_scale,
                      void *logits) {
    /* The loss kernels index logits by label: a label outside the model's classes is a caller's bug. */
    for (int b = 0; labels && b < batch; b++)
        CHECK(labels[b] >= 0 && labels[b] < m->num_classes, "label %d of clip %d outside the model's %d classes",
              labels[b], b, m->num_classes);
    if (!strcmp(m->method, "finecliper")) return finecliper_step(m->impl, frames, labels, batch, train, grad_scale, logits);
    return dfer_clip_step(m->impl, frames, labels, batch, train, grad_scale, logits);
}

void job_model_free(JobModel *m) {
    if (m->impl) {
        if (!strcmp(m->method, "finecliper")) finecliper_free(m->impl);
        else dfer_clip_free(m->impl);
        free(m->impl);
    }
    if (m->clip.params) clip_model_free(&m->clip);
    ops_destroy(m->ops);
    memset(m, 0, sizeof *m);
}

void job_model_optimizer_config(const Config *cfg, const JobModel *m, OptimizerConfig *oc) {
    optimizer_config_default(oc, !strcmp(cfg->optimizer, "adamw") ? OPT_ADAMW : OPT_SGD);
    oc->groups = m->groups;
    for (int i = 0; i < m->groups; i++) {
        oc->lr[i] = cfg->lr[cfg->n_lr == 1 ? 0 : (i < cfg->n_lr ? i : cfg->n_lr - 1)];
        oc->weight_decay[i] = cfg->weight_decay;
    }
    oc->momentum = cfg->momentum;
    oc->clip_norm = cfg->clip_norm;
    oc->no_decay_norms_and_embeddings = oc->kind == OPT_ADAMW;
}

int job_model_normalise_clip(const JobModel *m, const Config *cfg) {
    if (!strcmp(cfg->normalise, "auto")) return !m->raw_pixels;
    return !strcmp(cfg->normalise, "clip");
}
