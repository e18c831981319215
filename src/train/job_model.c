#include "train/job_model.h"
#include "train/provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/preprocess.h"
#include "io/clip_names.h"
#include "io/safetensors.h"
#include "model/clip_init.h"
#include "model/dfer_clip.h"
#include "model/finecliper.h"
#include "text/descriptions.h"
#include "text/prompts.h"
#include "text/tokenizer.h"
#include "train/plan.h"

/* The vocabulary from model.vocab, beside model.weights or DFER_VOCAB. Planning (a counting context) needs only
 * the prompts' lengths, not their ids: without a vocabulary *tok is NULL and tokenize_all counts every prompt at
 * the whole context (m->prompts_at_context), so `dfer plan --arch` needs no files at all. */
static int load_tokenizer(const Config *cfg, JobModel *m, ClipTokenizer **tok, Err *err) {
    *tok = NULL;
    if (clip_vocab_resolve(cfg->vocab, cfg->weights, "model.vocab", m->vocab_path, sizeof m->vocab_path, err) != 0) {
        if (!ops_is_counting(m->ops)) return -1;
        m->vocab_path[0] = 0;
        m->prompts_at_context = m->clip.cfg.context_length;
        return 0;
    }
    return clip_tokenizer_load(m->vocab_path, tok, err);
}

/* texts [n] tokenized into ids [n, context]; tok NULL (planning without a vocabulary): each row SOT, placeholders,
 * EOT at context - 1, the longest a prompt can be framed to, so the text tower's activations (sized by the
 * longest prompt, text_tower_length) are never under-counted. */
static int tokenize_all(ClipTokenizer *tok, char texts[][512], int n, int context, int32_t *ids, Err *err) {
    for (int i = 0; i < n; i++) {
        int32_t *row = ids + (size_t)i * context;
        if (!tok) {
            row[0] = CLIP_SOT;
            for (int j = 1; j < context - 1; j++) row[j] = PROMPT_PLACEHOLDER_ID;
            row[context - 1] = CLIP_EOT;
        } else if (clip_tokenize_padded(tok, texts[i], context, 0, row, err) != 0) {
            return err_prefix(err, "class prompt %d: ", i);
        }
    }
    return 0;
}

/* Counts a text of n tokens longer than its encoder's context (framing it then keeps the first `context` ids)
 * in m->text_cut; what names the kind ("descriptions", "captions"). */
static void text_cut_note(JobModel *m, const char *what, int n, const char *clip, int context) {
    TextCut *c = &m->text_cut;
    c->of++;
    if (n <= context) return;
    if (!c->cut++) snprintf(c->first, sizeof c->first, "%s", clip);
    c->what = what, c->context = context;
    if (n > c->longest) c->longest = n;
}

/* The middle and high levels of a FineCLIPER variant: which maps the loader
 * must deliver, the description tower (Long-CLIP, or the CLIP's own text tower
 * with stretched positions) and the descriptions with their longest length. */
int job_model_mid_streams(const Config *cfg) {
    if (strcmp(cfg->method, "finecliper") || !strstr(cfg->variant, "mid")) return 0;
    return !strcmp(cfg->mid_streams, "parsing")     ? FC_MID_PARSING
           : !strcmp(cfg->mid_streams, "landmarks") ? FC_MID_LANDMARKS
                                                    : FC_MID_PARSING | FC_MID_LANDMARKS;
}

static int finecliper_levels(const Config *cfg, JobModel *m, ClipTokenizer *tok, FineCliperConfig *fc, Err *err) {
    fc->low = strstr(cfg->variant, "low") != NULL;
    m->no_frames = !fc->low;
    if (strstr(cfg->variant, "mid")) m->mid_streams = fc->mid_streams = job_model_mid_streams(cfg);
    fc->fusion_weights = !strcmp(cfg->fusion_weights, "sum")       ? FC_WEIGHTS_SUM
                         : !strcmp(cfg->fusion_weights, "uniform") ? FC_WEIGHTS_UNIFORM
                         : !strcmp(cfg->fusion_weights, "fixed")   ? FC_WEIGHTS_FIXED
                                                                   : FC_WEIGHTS_SOFTMAX;
    fc->video_weight = cfg->fusion_video_weight;
    fc->fusion_loss = !strcmp(cfg->fusion_loss, "fused")  ? FC_LOSS_FUSED
                      : !strcmp(cfg->fusion_loss, "both") ? FC_LOSS_BOTH
                                                          : FC_LOSS_MODALITIES;
    if (!strstr(cfg->variant, "high")) return 0;
    m->high = fc->high = 1;
    if (cfg->long_clip[0]) {
        if (clip_model_load(m->ops, cfg->long_clip, m->clip.dtype, &m->desc_clip, err) != 0)
            return err_prefix(err, "model.long_clip: ");
        if (!m->desc_clip.cfg.has_text) return err_set(err, "model.long_clip = %s has no text tower", cfg->long_clip);
    } else if (clip_text_view_stretched(&m->clip, &m->desc_clip, err) != 0) {
        return err_prefix(err, "the description encoder (model.long_clip unset, stretching the CLIP's positions): ");
    }
    const char *path = m->desc_path;
    if (ops_is_counting(m->ops) && !m->descs && (!fs_exists(path) || !tok)) {
        /* planning without the descriptions (or the vocabulary to tokenize them): every description as long as
         * the tower allows (an upper bound) */
        fc->description_length = m->desc_clip.cfg.context_length;
        return 0;
    }
    if (m->descs) { /* given in memory (job_model_create_with) */
        if (m->descs->source[0]) path = m->descs->source;
    } else {
        m->descs = xcalloc(1, sizeof *m->descs);
        if (descriptions_load(path, m->descs, err) != 0)
            return err_prefix(err, "the high level needs per-clip descriptions (model.descriptions; `dfer prep` "
                                   "writes them): ");
    }
    /* Every description tokenized once, here: L_d, the longest (first EOT + 1), makes every step run one
     * fixed length, and the rows [count, L_d] (zeros after the EOT) are what the steps copy. */
    int ctx = m->desc_clip.cfg.context_length, longest = 2, count = descriptions_count(m->descs);
    int32_t *ids = xmalloc(((size_t)count + 1) * ctx * sizeof(int32_t));
    for (int i = 0; i < count; i++) {
        const Description *d = descriptions_at(m->descs, i);
        int32_t *text_ids;
        int n;
        if (clip_tokenize(tok, d->text, &text_ids, &n, err) != 0) {
            free(ids);
            return err_prefix(err, "%s:%d (clip %s): ", path, d->line, d->clip);
        }
        text_cut_note(m, "descriptions", n, d->clip, ctx);
        clip_frame_ids(text_ids, n, ctx, ids + (size_t)i * ctx);
        free(text_ids);
        int len = clip_eot_position(ids + (size_t)i * ctx, ctx) + 1;
        if (len > longest) longest = len;
    }
    for (int i = 0; i < count; i++)
        memmove(ids + (size_t)i * longest, ids + (size_t)i * ctx, (size_t)longest * sizeof(int32_t));
    m->desc_all = xrealloc(ids, ((size_t)count + 1) * longest * sizeof(int32_t));
    fc->description_length = longest;
    return 0;
}

Backend job_backend(const Config *cfg) {
    if (!strcmp(cfg->device, "cuda")) return BACKEND_CUDA;
    if (!strcmp(cfg->device, "cpu")) return BACKEND_CPU;
    return ops_default_backend();
}

static DType dtype_on(const Config *cfg, Backend backend) {
    if (!strcmp(cfg->dtype, "f64")) return DT_F64;
    if (!strcmp(cfg->dtype, "bf16")) return DT_BF16;
    if (!strcmp(cfg->dtype, "f32")) return DT_F32;
    return backend == BACKEND_CUDA ? DT_BF16 : DT_F32;
}

DType job_dtype(const Config *cfg) { return dtype_on(cfg, job_backend(cfg)); }

int job_uint8_frames(const Config *cfg, Backend backend) {
    if (!strcmp(cfg->uint8_frames, "on")) return 1;
    if (!strcmp(cfg->uint8_frames, "off")) return 0;
    return backend == BACKEND_CUDA;
}

/* How the model's host images arrive: with uint8 frames, the pixels and the normalisation the
 * loader's float path would have applied (data.normalise), done on the device instead. */
static ImageInput image_input(const JobModel *m, const Config *cfg) {
    ImageInput in = {0};
    if (!m->uint8_frames) return in;
    int clip = job_model_normalise_clip(m, cfg);
    in.uint8 = 1;
    for (int c = 0; c < 3; c++) in.mean[c] = clip ? k_clip_mean[c] : 0.0f, in.std[c] = clip ? k_clip_std[c] : 1.0f;
    return in;
}

int job_model_create(const Config *cfg, int num_classes, JobModel *m, Err *err) {
    return job_model_create_with(cfg, num_classes, NULL, m, err);
}

/* The frozen CLIP: from an in-memory map (`dfer bench`'s random CLIP), from model.weights (on a counting context,
 * for the planner, its shapes only: clip_model_load reads nothing of the tensors there), or (counting) from a
 * preset's shapes. */
static int load_clip(const Config *cfg, JobModel *m, DType dtype, const char *arch, const TensorMap *hf,
                     const ClipConfig *hf_cfg, Err *err) {
    if (hf) return clip_model_from_hf(m->ops, hf, hf_cfg, dtype, &m->clip, err);
    if (!arch || !ops_is_counting(m->ops)) return clip_model_load(m->ops, cfg->weights, dtype, &m->clip, err);
    TensorMap shapes;
    ClipConfig cc;
    if (clip_config_preset(arch, &cc, err) != 0 || clip_init_shapes(&cc, &shapes, err) != 0) return -1;
    int rc = clip_model_from_hf(m->ops, &shapes, &cc, dtype, &m->clip, err);
    tmap_free(&shapes);
    return rc;
}

/* Where the frozen CLIP comes from when not from model.weights. */
typedef struct ClipSource {
    int counting;          /* build on a counting context for backend `as` (the planner) */
    Backend as;
    const char *arch;      /* counting: shapes of this preset */
    const TensorMap *hf;   /* the weights in memory */
    const ClipConfig *hf_cfg;
} ClipSource;

static int create_model(const Config *cfg, int num_classes, struct Descriptions *descs, const ClipSource *src,
                        JobModel *m, Err *err);

int job_model_create_with(const Config *cfg, int num_classes, struct Descriptions *descs, JobModel *m, Err *err) {
    ClipSource src = {0};
    return create_model(cfg, num_classes, descs, &src, m, err);
}

int job_model_create_from_map(const Config *cfg, int num_classes, struct Descriptions *descs, const TensorMap *hf,
                              const ClipConfig *hf_cfg, JobModel *m, Err *err) {
    ClipSource src = {.hf = hf, .hf_cfg = hf_cfg};
    return create_model(cfg, num_classes, descs, &src, m, err);
}

int job_model_create_counting(const Config *cfg, int num_classes, Backend as, const char *arch, JobModel *m,
                              Err *err) {
    ClipSource src = {.counting = 1, .as = as, .arch = arch};
    return create_model(cfg, num_classes, NULL, &src, m, err);
}

static int create_model(const Config *cfg, int num_classes, struct Descriptions *descs, const ClipSource *src,
                        JobModel *m, Err *err) {
    int counting = src->counting;
    Backend as = src->as;
    memset(m, 0, sizeof *m);
    m->descs = descs;
    snprintf(m->method, sizeof m->method, "%s", cfg->method);
    m->num_classes = num_classes;
    m->frames = cfg->frames;
    DType dtype = counting ? dtype_on(cfg, as) : job_dtype(cfg);
    m->f64 = dtype == DT_F64;
    const char *unbuilt = counting ? NULL : config_unbuilt(cfg); /* eval and predict reach here unvalidated */
    if (unbuilt) {
        err_set(err, "%s", unbuilt);
        goto fail;
    }
    if (counting) m->ops = ops_create_counting(as);
    else if (ops_create(job_backend(cfg), cfg->threads, &m->ops, err) != 0) goto fail;
    else if (ops_backend(m->ops) == BACKEND_CUDA) { /* what the CUDA runtime keeps for itself is not ours to use */
        /* in doubles: at or under the reserve the unsigned difference wrapped (or was 0, no cap) and the cap was
         * not enforced */
        double cap = (double)cfg->gpu_mem * (double)(1u << 30) - (double)PLAN_CUDA_RESERVE_BYTES;
        if (!(cap >= 1.0)) {
            err_set(err, "train.gpu_mem = %g GiB leaves nothing for the model beside the %.0f GiB kept for the CUDA "
                         "runtime: give more than that",
                    (double)cfg->gpu_mem, (double)PLAN_CUDA_RESERVE_BYTES / (1u << 30));
            goto fail;
        }
        ops_set_memory_cap(m->ops, (size_t)cap);
    }
    if (load_clip(cfg, m, dtype, src->arch, src->hf, src->hf_cfg, err) != 0) goto fail;
    if (!m->clip.cfg.has_vision || !m->clip.cfg.has_text) {
        err_set(err, "%s: training needs a CLIP checkpoint with both towers", cfg->weights);
        goto fail;
    }
    m->image_size = m->clip.cfg.image_size;
    m->raw_pixels = strcmp(cfg->method, "finecliper") != 0; /* DFER-CLIP trains on raw [0,1] frames */
    m->uint8_frames = job_uint8_frames(cfg, ops_backend(m->ops));
    /* a counting context stands in for CUDA without its copy stream: the plan counts what the run will hold */
    m->prefetch_inputs = m->uint8_frames && strcmp(cfg->device_prefetch, "off") &&
                         (counting ? as == BACKEND_CUDA : ops_has_prefetch(m->ops));
    ImageInput input = image_input(m, cfg);
    ClipTokenizer *tok;
    if (load_tokenizer(cfg, m, &tok, err) != 0) goto fail;
    int ctx = m->clip.cfg.context_length, rc = 0;
    char (*texts)[512] = xcalloc((size_t)num_classes, 512);
    int32_t *pos = xcalloc((size_t)num_classes * ctx, sizeof(int32_t)),
            *neg = xcalloc((size_t)num_classes * ctx, sizeof(int32_t));
    int recompute = recompute_parse(cfg->recompute); /* auto (-1): none until the planner's choice */
    if (recompute < 0) recompute = RECOMPUTE_NONE;
    if (!strcmp(cfg->method, "finecliper")) {
        /* the high level's and the contrastive captions' descriptions, wherever they are read */
        config_prep_path(cfg, cfg->descriptions, "descriptions.jsonl", m->desc_path, sizeof m->desc_path);
        FineCliperConfig fc;
        finecliper_config_default(&fc);
        fc.frames = cfg->frames;
        fc.num_classes = num_classes;
        fc.temperature = cfg->temperature;
        fc.fusion_temperature = cfg->fusion_temperature;
        fc.mlp_adapter_scale = cfg->mlp_adapter_scale;
        fc.bottleneck_divisor = cfg->bottleneck_divisor;
        fc.mid_high_bottleneck_divisor = cfg->mid_high_bottleneck_divisor;
        fc.use_negative = strcmp(cfg->negative, "none") != 0;
        fc.video_adapters = cfg->video_adapters;
        fc.recompute = recompute;
        fc.text_adapters = cfg->text_adapters;
        int emoclip = !strcmp(cfg->class_prompts, "emoclip");
        if (emoclip) fc.use_negative = 0; /* EmoCLIP's descriptions are positive texts */
        if (!strcmp(cfg->objective, "contrastive")) {
            m->contrastive = 1;
            fc.caption_length = m->clip.cfg.context_length;
            snprintf(m->captions, sizeof m->captions, "%s", cfg->captions);
        }
        for (int c = 0; c < num_classes; c++) {
            if (emoclip) snprintf(texts[c], 512, "%s", prompt_emoclip(c));
            else prompt_positive(cfg->prompt, c, texts[c], 512);
        }
        rc = tokenize_all(tok, texts, num_classes, ctx, pos, err);
        if (rc == 0 && fc.use_negative) {
            for (int c = 0; c < num_classes; c++) prompt_negative(cfg->prompt, cfg->negative, c, texts[c], 512);
            rc = tokenize_all(tok, texts, num_classes, ctx, neg, err);
        }
        if (rc == 0) rc = finecliper_levels(cfg, m, tok, &fc, err);
        fc.input = input;
        FineCliper *f = xcalloc(1, sizeof *f);
        if (rc == 0)
            rc = finecliper_create(m->ops, &m->clip, m->high ? &m->desc_clip : NULL, &fc, pos,
                                   fc.use_negative ? neg : NULL, (uint64_t)cfg->seed, f, err);
        m->impl = f;
        m->params = &f->params;
        m->groups = config_param_groups("finecliper", m->group_names);
    } else {
        DferClipConfig dc;
        dfer_clip_config_default(&dc);
        dc.frames = cfg->frames;
        dc.num_classes = num_classes;
        dc.contexts = cfg->contexts;
        dc.shared_contexts = !cfg->class_specific_contexts;
        dc.temporal_layers = cfg->temporal_layers;
        dc.middle = !strcmp(cfg->context_position, "middle");
        dc.placeholder_id = PROMPT_PLACEHOLDER_ID;
        dc.logit_scale = cfg->logit_scale;
        dc.train_image_encoder = cfg->train_image_encoder;
        dc.recompute = recompute;
        dc.input = input;
        for (int c = 0; c < num_classes; c++)
            prompt_dfer_clip(cfg->class_text, cfg->contexts, dc.middle, c, texts[c], 512);
        rc = tokenize_all(tok, texts, num_classes, ctx, pos, err); /* the model finds the placeholders' positions */
        DferClip *d = xcalloc(1, sizeof *d);
        if (rc == 0) rc = dfer_clip_create(m->ops, &m->clip, &dc, pos, (uint64_t)cfg->seed, d, err);
        m->impl = d;
        m->params = &d->params;
        m->groups = config_param_groups("dfer_clip", m->group_names);
    }
    free(texts), free(pos), free(neg);
    if (m->high || m->contrastive) m->tok = tok; /* descriptions and captions are tokenized per step */
    else clip_tokenizer_free(tok);
    if (rc != 0) goto fail;
    return 0;
fail:
    job_model_free(m);
    return -1;
}

const char *job_captions_name(int captions_used) {
    switch (captions_used) {
    case JOB_CAPTIONS_DATASET: return "dataset";
    case JOB_CAPTIONS_DESCRIPTIONS: return "descriptions";
    case JOB_CAPTIONS_DATASET | JOB_CAPTIONS_DESCRIPTIONS: return "dataset+descriptions";
    default: return NULL;
    }
}

/* Whether a clip's contrastive caption is its description (not the dataset's caption). */
static int caption_from_description(const JobModel *m, const char *dataset_caption) {
    if (!strcmp(m->captions, "descriptions")) return 1;
    if (!strcmp(m->captions, "dataset")) return 0;
    return !dataset_caption || !dataset_caption[0];
}

int job_model_check_dataset(JobModel *m, const Dataset *d, Err *err) {
    if (m->contrastive) {
        int need_desc = 0;
        for (int i = 0; i < d->count; i++) {
            if (!strcmp(m->captions, "dataset") && (!d->clips[i].caption || !d->clips[i].caption[0]))
                return err_set(err, "data.captions = dataset, but clip %s of %s has no caption (only MAFW's "
                                    "with-caption splits carry them)", d->clips[i].id, d->source);
            need_desc |= caption_from_description(m, d->clips[i].caption);
        }
        if (need_desc && !m->descs) {
            m->descs = xcalloc(1, sizeof *m->descs);
            if (descriptions_load(m->desc_path, m->descs, err) != 0)
                return !strcmp(m->captions, "descriptions")
                           ? err_prefix(err, "data.captions = descriptions (contrastive training on `dfer prep`'s "
                                             "descriptions of %s): ", d->source)
                           : err_prefix(err, "contrastive training takes descriptions where %s has no captions: ",
                                        d->source);
        }
        m->captions_used = 0;
        for (int i = 0; i < d->count; i++) {
            int from_description = caption_from_description(m, d->clips[i].caption);
            const char *text = from_description ? descriptions_find(m->descs, d->clips[i].id) : d->clips[i].caption;
            if (from_description && !text)
                return err_set(err, "clip %s of %s has neither a caption nor a description in %s", d->clips[i].id,
                               d->source, m->descs->source);
            m->captions_used |= from_description ? JOB_CAPTIONS_DESCRIPTIONS : JOB_CAPTIONS_DATASET;
            /* captions are tokenized per batch in training; here only their lengths are needed */
            int32_t *text_ids;
            int n;
            if (clip_tokenize(m->tok, text, &text_ids, &n, err) != 0)
                return err_prefix(err, "the caption of clip %s of %s: ", d->clips[i].id, d->source);
            free(text_ids);
            text_cut_note(m, "captions", n, d->clips[i].id, m->clip.cfg.context_length);
        }
        return 0;
    }
    if (!m->high) return 0;
    int missing = 0;
    const char *first = NULL;
    for (int i = 0; i < d->count; i++)
        if (!descriptions_find(m->descs, d->clips[i].id)) {
            if (!missing++) first = d->clips[i].id;
        }
    if (missing)
        return err_set(err, "%d of the %d clips of %s have no description in %s (the first: clip %s)", missing,
                       d->count, d->source, m->descs->source, first);
    return 0;
}

/* Token ids [B, context] of one text per clip (truncated to the context) into *buf (grown to fit).
 * The texts were checked to exist before training (job_model_check_dataset). */
static const int32_t *tokenize_batch(const JobModel *m, const char *const *texts, const char *const *clip_ids,
                                     int batch, int context, const char *what, int32_t **buf, int *cap) {
    if (batch > *cap) {
        *buf = xrealloc(*buf, (size_t)batch * context * sizeof(int32_t));
        *cap = batch;
    }
    for (int b = 0; b < batch; b++) {
        CHECK(texts[b], "clip %s has no %s", clip_ids[b], what);
        Err err = {0};
        CHECK(clip_tokenize_padded(m->tok, texts[b], context, 1, *buf + (size_t)b * context, &err) == 0,
              "%s of clip %s: %s", what, clip_ids[b], err.msg);
    }
    return *buf;
}

void job_model_contrastive_forward(JobModel *m, const JobInputs *in, int batch, int global) {
    CHECK(m->contrastive, "the model was not configured with train.objective = contrastive");
    const char **texts = xmalloc((size_t)batch * sizeof *texts);
    for (int b = 0; b < batch; b++) {
        const char *cap = in->captions ? in->captions[b] : NULL;
        texts[b] = caption_from_description(m, cap) ? descriptions_find(m->descs, in->clip_ids[b]) : cap;
    }
    const int32_t *ids = tokenize_batch(m, texts, in->clip_ids, batch, m->clip.cfg.context_length, "caption",
                                        &m->cap_ids, &m->cap_cap);
    free((void *)texts);
    finecliper_contrastive_forward(m->impl, in->frames, ids, batch, global);
}

void job_model_contrastive_tensors(JobModel *m, Tensor *local_v, Tensor *local_t, Tensor *all_v, Tensor *all_t) {
    FineCliper *f = m->impl;
    *local_v = f->cap_v, *local_t = f->cap_t, *all_v = f->all_v, *all_t = f->all_t;
}

double job_model_contrastive_backward(JobModel *m, int offset, int train, float grad_scale, int world) {
    return finecliper_contrastive_backward(m->impl, offset, train, grad_scale, world);
}

/* Token ids [B, desc context] of the batch's descriptions: rows of the ones tokenized at creation. */
static const int32_t *description_ids(JobModel *m, const char *const *clip_ids, int batch) {
    int ctx = m->desc_clip.cfg.context_length, len = ((FineCliper *)m->impl)->cfg.description_length;
    if (batch > m->desc_cap) {
        m->desc_ids = xrealloc(m->desc_ids, (size_t)batch * ctx * sizeof(int32_t));
        m->desc_cap = batch;
    }
    memset(m->desc_ids, 0, (size_t)batch * ctx * sizeof(int32_t));
    for (int b = 0; b < batch; b++) {
        int i = descriptions_lookup(m->descs, clip_ids[b]);
        CHECK(i >= 0, "clip %s has no description in %s", clip_ids[b], m->descs->source);
        memcpy(m->desc_ids + (size_t)b * ctx, m->desc_all + (size_t)i * len, (size_t)len * sizeof(int32_t));
    }
    return m->desc_ids;
}

void job_model_reserve(JobModel *m, int batch) {
    if (!strcmp(m->method, "finecliper")) finecliper_reserve(m->impl, batch);
    else dfer_clip_reserve(m->impl, batch);
}

size_t job_model_clip_bytes(const JobModel *m) {
    size_t pixel = m->uint8_frames ? 1 : m->f64 ? sizeof(double) : sizeof(float);
    return (size_t)m->frames * 3 * (size_t)m->image_size * (size_t)m->image_size * pixel;
}

int job_model_takes_stream(const JobModel *m, int stream) {
    return (stream == 0 && !m->no_frames) || (stream == 1 && (m->mid_streams & FC_MID_PARSING)) ||
           (stream == 2 && (m->mid_streams & FC_MID_LANDMARKS));
}

int job_model_input_streams(const JobModel *m) {
    int n = 0;
    for (int stream = 0; stream < INPUT_STREAMS; stream++) n += job_model_takes_stream(m, stream);
    return n;
}

size_t job_model_prefetch_bytes(const JobModel *m, int clips) {
    if (!m->prefetch_inputs || clips < 1) return 0;
    size_t one = ((size_t)clips * job_model_clip_bytes(m) + 255) / 256 * 256; /* ops_alloc's 256-byte units */
    return 2 * (size_t)job_model_input_streams(m) * one;
}

void job_model_set_forward_only(JobModel *m, int forward_only) {
    CHECK(forward_only || m->params->grads, "a model set up for evaluation only (job_model_evaluation_only) cannot "
                                            "train again: its parameter gradients were released");
    if (!strcmp(m->method, "finecliper")) finecliper_set_forward_only(m->impl, forward_only);
    else dfer_clip_set_forward_only(m->impl, forward_only);
}

void job_model_evaluation_only(JobModel *m) {
    job_model_set_forward_only(m, 1);
    paramset_release_grads(m->params);
}

int job_model_forward_only(const JobModel *m) {
    return !strcmp(m->method, "finecliper") ? ((const FineCliper *)m->impl)->cfg.forward_only
                                            : ((const DferClip *)m->impl)->cfg.forward_only;
}

int job_model_has_recompute(const JobModel *m) {
    if (job_model_forward_only(m)) return 0;
    return !strcmp(m->method, "finecliper") || ((const DferClip *)m->impl)->cfg.train_image_encoder;
}

void job_model_set_recompute(JobModel *m, int recompute) {
    if (!strcmp(m->method, "finecliper")) finecliper_set_recompute(m->impl, recompute);
    else dfer_clip_set_recompute(m->impl, recompute);
}

static double pass(JobModel *m, const JobInputs *in, const int32_t *labels, int batch, int train, float grad_scale,
                   void *logits);

/* With a micro-batch, the clips go through in slices whose parameter gradients add up (every
 * pass scales by the same 1/global batch): the gradient of the whole batch with the
 * activations of one slice. */
double job_model_step(JobModel *m, const JobInputs *in, const int32_t *labels, int batch, int train, float grad_scale,
                      void *logits) {
    int mb = m->micro_batch;
    if (mb <= 0 || mb >= batch) return pass(m, in, labels, batch, train, grad_scale, logits);
    size_t real = m->f64 ? sizeof(double) : sizeof(float); /* logits */
    size_t clip_bytes = job_model_clip_bytes(m);           /* frames and each map stream */
    double loss = 0;
    for (int at = 0; at < batch; at += mb) {
        int n = batch - at < mb ? batch - at : mb;
        JobInputs part = *in;
        if (in->frames) part.frames = (const char *)in->frames + at * clip_bytes;
        if (in->parsing) part.parsing = (const char *)in->parsing + at * clip_bytes;
        if (in->landmarks) part.landmarks = (const char *)in->landmarks + at * clip_bytes;
        if (in->clip_ids) part.clip_ids = in->clip_ids + at;
        if (in->captions) part.captions = in->captions + at;
        loss += pass(m, &part, labels ? labels + at : NULL, n, train, grad_scale,
                     logits ? (char *)logits + (size_t)at * m->num_classes * real : NULL);
    }
    return loss;
}

static double pass(JobModel *m, const JobInputs *in, const int32_t *labels, int batch, int train, float grad_scale,
                   void *logits) {
    /* The loss kernels index logits by label: a label outside the model's classes is a caller's bug. */
    for (int b = 0; labels && b < batch; b++)
        CHECK(labels[b] >= 0 && labels[b] < m->num_classes, "label %d of clip %d outside the model's %d classes",
              labels[b], b, m->num_classes);
    if (!strcmp(m->method, "finecliper")) {
        FineCliperInputs fi = {.frames = in->frames, .parsing = in->parsing, .landmarks = in->landmarks};
        if (m->high) {
            CHECK(in->clip_ids, "the high level needs the batch's clip ids");
            fi.descriptions = description_ids(m, in->clip_ids, batch);
        }
        return finecliper_step(m->impl, &fi, labels, batch, train, grad_scale, logits);
    }
    return dfer_clip_step(m->impl, in->frames, labels, batch, train, grad_scale, logits);
}

void job_model_free(JobModel *m) {
    if (m->impl) {
        if (!strcmp(m->method, "finecliper")) finecliper_free(m->impl);
        else dfer_clip_free(m->impl);
        free(m->impl);
    }
    if (m->desc_clip.params || m->desc_clip.view_owned) clip_model_free(&m->desc_clip);
    if (m->descs) descriptions_free(m->descs);
    free(m->descs);
    if (m->tok) clip_tokenizer_free(m->tok);
    free(m->desc_ids);
    free(m->desc_all);
    free(m->cap_ids);
    if (m->clip.vis_layers) clip_model_free(&m->clip);
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

/* ---- trained runs -------------------------------------------------------------------------- */

int job_run_config(const char *run_dir, Config *cfg, Err *err) {
    config_defaults(cfg);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.ini", run_dir);
    if (!fs_is_dir(run_dir)) return err_set(err, "%s: no such run directory", run_dir);
    if (!fs_exists(path))
        return err_set(err, "%s: no config.ini: not a run directory of `dfer train` or `dfer matrix`", run_dir);
    return config_load_file(cfg, path, err);
}

int job_run_params_path(const char *run_dir, int best, char *path, size_t n, Err *err) {
    if (!best) {
        snprintf(path, n, "%s/model.safetensors", run_dir);
        if (fs_exists(path)) return 0;
    }
    snprintf(path, n, "%s/best_model.safetensors", run_dir);
    if (fs_exists(path)) return 0;
    if (best) {
        char last[4200];
        snprintf(last, sizeof last, "%s/model.safetensors", run_dir);
        return err_set(err, "%s: no best_model.safetensors (the best epoch's parameters, written at its evaluation): "
                            "the run has not evaluated an epoch yet%s", run_dir,
                       fs_exists(last) ? " (model.safetensors, the last parameters, is there: leave out --best)" : "");
    }
    return err_set(err, "%s: no trained parameters (model.safetensors or best_model.safetensors): the run has not "
                        "evaluated an epoch yet", run_dir);
}

/* A trainable tensor with a row per class ([classes, ...]): DFER-CLIP's learned prompt contexts, unless shared by the
 * classes ([M, W]). */
static int param_is_per_class(const JobModel *m, const ParamEntry *e) {
    return !strcmp(m->method, "dfer_clip") && !strcmp(e->name, "prompt_learner.ctx") && e->ndim == 3;
}

int job_model_load_run(const char *run_dir, const Config *cfg, int num_classes, int run_classes,
                       struct Descriptions *descs, int best, JobModel *m, char *path_out, size_t path_n, Err *err) {
    char path[4096];
    if (job_run_params_path(run_dir, best, path, sizeof path, err) != 0) {
        if (descs) descriptions_free(descs), free(descs);
        memset(m, 0, sizeof *m);
        return -1;
    }
    if (path_out) snprintf(path_out, path_n, "%s", path);
    if (job_model_create_with(cfg, num_classes, descs, m, err) != 0) return -1;
    if (run_check_model_inputs(run_dir, cfg, m, err) != 0) {
        job_model_free(m);
        return -1;
    }
    TensorMap tm;
    if (safetensors_read(path, &tm, err) != 0) {
        job_model_free(m);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < m->params->count && rc == 0; i++) {
        const ParamEntry *e = paramset_get(m->params, i);
        /* a run of more classes than the model's (11 on 7): a per-class tensor's first num_classes rows, the
         * classes both share (the canonical order puts the 7 common ones first) */
        Tensor want = e->value;
        int narrowed = run_classes > num_classes && param_is_per_class(m, e);
        if (narrowed) want.shape[0] = run_classes;
        const TensorEntry *t = tmap_find_as(&tm, e->name, &want, "another configuration?", err);
        if (!t) rc = -1;
        else ops_upload(m->ops, e->value.data, t->data, narrowed ? tensor_bytes(&e->value) : t->nbytes);
    }
    /* a tensor the run's model does not have: the file is another configuration's (a low+mid run's parameters
     * under a low config.ini were evaluated as the low level, the middle level's dropped without a word) */
    for (int i = 0; i < tm.count && rc == 0; i++)
        if (paramset_find(m->params, tm.items[i].name) < 0)
            rc = err_set(err, "%s: tensor %s is not a parameter of the run's model (%s%s%s in %s/config.ini): the file "
                              "is another configuration's", path, tm.items[i].name, cfg->method,
                         !strcmp(cfg->method, "finecliper") ? " " : "",
                         !strcmp(cfg->method, "finecliper") ? cfg->variant : "", run_dir);
    tmap_free(&tm);
    if (rc) job_model_free(m);
    return rc;
}
