/* Writes everything tests/reference/models_ref.py needs to recompute one
 * training step of a model with PyTorch autograd, and the run of a few SGD
 * steps, all in F64:
 *   - the frozen CLIP weights under Hugging Face names (widened to F64),
 *   - "param.<name>": the trainable parameters (the model's initialisation,
 *     perturbed by 0.05 N(0,1) so that zero-initialised up-projections and
 *     unit layer-norm gains do not hide wrong gradients),
 *   - "input.frames" [B*T,3,R,R], "input.labels" [B], "input.ids_pos" and
 *     "input.ids_neg" [C,context] (the class prompts as dfer tokenised them),
 *   - dfer's "output.logits" [B,C], "output.loss" (summed cross-entropy) and
 *     "grad.<name>" of that summed loss,
 *   - "final.<name>": the parameters after STEPS SGD updates on the same batch
 *     (mean loss), with the losses and the optimiser settings in the metadata.
 *
 * usage: model_dump OUT.safetensors CLASSES BATCH STEPS section.key=value...
 * (the assignments configure the model as `dfer train --set` would; model.dtype
 * is forced to f64). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "io/clip_names.h"
#include "io/safetensors.h"
#include "model/dfer_clip.h"
#include "model/finecliper.h"
#include "train/job_model.h"

static void add_f64(TensorMap *out, const char *prefix, const char *name, int ndim, const int64_t *shape,
                    const double *data) {
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    Err err;
    CHECK(tmap_add(out, full, DT_F64, ndim, shape, data, 1, &err) == 0, "%s", err.msg);
}

static void add_i32(TensorMap *out, const char *name, int ndim, const int64_t *shape, const int32_t *data) {
    Err err;
    CHECK(tmap_add(out, name, DT_I32, ndim, shape, data, 1, &err) == 0, "%s", err.msg);
}

/* Every tensor of one kind (values or gradients) under prefix. */
static void add_params(TensorMap *out, const ParamSet *ps, int grad, const char *prefix) {
    for (int i = 0; i < ps->count; i++) {
        const ParamEntry *e = paramset_get(ps, i);
        double *v = xmalloc((size_t)tensor_numel(&e->value) * sizeof(double));
        paramset_download_f64(ps, i, grad, v);
        add_f64(out, prefix, e->name, e->ndim, e->shape, v);
        free(v);
    }
}

/* The frozen CLIP in Hugging Face names, F32 widened exactly to F64. */
static void add_clip_weights(TensorMap *out, const char *path) {
    Err err;
    TensorMap hf;
    ClipConfig cc;
    CHECK(clip_load_hf(path, &hf, &cc, &err) == 0, "%s", err.msg);
    for (int i = 0; i < hf.count; i++) {
        const TensorEntry *e = &hf.items[i];
        int64_t n = 1;
        for (int d = 0; d < e->ndim; d++) n *= e->shape[d];
        double *v = xmalloc((size_t)(n ? n : 1) * sizeof(double));
        if (e->dtype == DT_F32) {
            const float *f = (const float *)e->data;
            for (int64_t k = 0; k < n; k++) v[k] = f[k];
        } else if (e->dtype == DT_F64) {
            memcpy(v, e->data, (size_t)n * sizeof(double));
        } else {
            DFER_FATAL("dtype", "%s: tensor %s has dtype %s; model_dump widens F32 or F64 only", path, e->name, dtype_name(e->dtype));
        }
        add_f64(out, "", e->name, e->ndim, e->shape, v);
        free(v);
    }
    tmap_free(&hf);
}

int main(int argc, char **argv) {
    if (argc < 5) return fprintf(stderr, "usage: model_dump OUT.safetensors CLASSES BATCH STEPS section.key=value...\n"), 2;
    const char *out_path = argv[1];
    int classes = atoi(argv[2]), batch = atoi(argv[3]), steps = atoi(argv[4]);
    if (classes < 2 || batch < 1 || steps < 0) return fprintf(stderr, "model_dump: bad CLASSES, BATCH or STEPS\n"), 2;
    Err err;
    Config cfg;
    config_defaults(&cfg);
    for (int i = 5; i < argc; i++)
        if (config_set(&cfg, argv[i], &err) != 0) return fprintf(stderr, "model_dump: %s\n", err.msg), 2;
    CHECK(config_set(&cfg, "model.dtype=f64", &err) == 0, "%s", err.msg);
    JobModel m;
    if (job_model_create(&cfg, classes, &m, &err) != 0) return fprintf(stderr, "model_dump: %s\n", err.msg), 1;
    ParamSet *ps = m.params;
    const ClipConfig *cc = &m.clip.cfg;

    /* Perturbed initialisation, keyed by the parameter's index. */
    for (int i = 0; i < ps->count; i++) {
        const ParamEntry *e = paramset_get(ps, i);
        size_t n = (size_t)tensor_numel(&e->value);
        double *v = xmalloc(n * sizeof(double));
        paramset_download_f64(ps, i, 0, v);
        Rng r;
        rng_init(&r, 11, (uint64_t)i, 0, 0);
        for (size_t k = 0; k < n; k++) v[k] += 0.05 * rng_normal(&r);
        paramset_upload_f64(ps, i, v);
        free(v);
    }
    /* One fixed batch: frames [B*T,3,R,R] (raw [0,1] for DFER-CLIP, roughly normalised otherwise), labels [B]. */
    int64_t R = m.image_size, T = cfg.frames, nframes = (int64_t)batch * T;
    size_t nvals = (size_t)(nframes * 3 * R * R);
    double *frames = xmalloc(nvals * sizeof(double));
    Rng r;
    rng_init(&r, 12, 0, 0, 0);
    for (size_t k = 0; k < nvals; k++) frames[k] = job_model_normalise_clip(&m, &cfg) ? rng_normal(&r) : rng_uniform(&r);
    int32_t *labels = xmalloc((size_t)batch * sizeof(int32_t));
    for (int b = 0; b < batch; b++) labels[b] = (int32_t)rng_int(&r, classes);
    /* The middle level's maps (normalised-looking noise, one draw per stream) and the clip ids the
     * high level looks its descriptions up by: dump0, dump1, ... */
    double *maps[2] = {NULL, NULL};
    for (int s = 0; s < 2; s++)
        if (m.mid_streams & (1 << s)) {
            maps[s] = xmalloc(nvals * sizeof(double));
            for (size_t k = 0; k < nvals; k++) maps[s][k] = rng_normal(&r);
        }
    char (*id_text)[16] = xcalloc((size_t)batch, 16);
    const char **ids = xcalloc((size_t)batch, sizeof *ids);
    for (int b = 0; b < batch; b++) snprintf(id_text[b], 16, "dump%d", b), ids[b] = id_text[b];
    /* a variant without the low level gets no frames: the step must not read them */
    JobInputs in = {.frames = m.no_frames ? NULL : frames, .parsing = maps[0], .landmarks = maps[1], .clip_ids = ids};

    TensorMap out;
    tmap_init(&out, out_path);
    add_clip_weights(&out, cfg.weights);
    add_params(&out, ps, 0, "param.");
    int64_t fshape[4] = {nframes, 3, R, R}, bshape[1] = {batch}, ishape[2] = {classes, cc->context_length};
    if (!m.no_frames) add_f64(&out, "", "input.frames", 4, fshape, frames);
    if (maps[0]) add_f64(&out, "", "input.parsing", 4, fshape, maps[0]);
    if (maps[1]) add_f64(&out, "", "input.landmarks", 4, fshape, maps[1]);
    add_i32(&out, "input.labels", 1, bshape, labels);
    const int32_t *pos_ids, *neg_ids = NULL;
    int use_negative = 0;
    if (!strcmp(m.method, "finecliper")) {
        const FineCliper *f = m.impl;
        pos_ids = f->pos_ids, neg_ids = f->neg_ids, use_negative = f->cfg.use_negative;
    } else {
        pos_ids = ((const DferClip *)m.impl)->ids;
    }
    add_i32(&out, "input.ids_pos", 2, ishape, pos_ids);
    if (neg_ids) add_i32(&out, "input.ids_neg", 2, ishape, neg_ids);

    /* The summed loss of the batch and its gradients. */
    double *logits = xmalloc((size_t)batch * classes * sizeof(double));
    paramset_zero_grads(ps);
    double loss = job_model_step(&m, &in, labels, batch, 1, 1.0f, logits);
    if (m.high) { /* the descriptions' token ids the step used [B, desc context] */
        int64_t dshape[2] = {batch, m.desc_clip.cfg.context_length};
        add_i32(&out, "input.ids_desc", 2, dshape, m.desc_ids);
    }
    int64_t lshape[2] = {batch, classes}, one[1] = {1};
    add_f64(&out, "", "output.logits", 2, lshape, logits);
    add_f64(&out, "", "output.loss", 1, one, &loss);
    add_params(&out, ps, 1, "grad.");

    /* STEPS SGD updates on the mean loss of the same batch, as the trainer configures them. */
    OptimizerConfig oc;
    job_model_optimizer_config(&cfg, &m, &oc);
    CHECK(oc.kind == OPT_SGD, "model_dump replays SGD only (optim.optimizer = %s)", cfg.optimizer);
    Optimizer opt;
    CHECK(optimizer_create(ps, &oc, &opt, &err) == 0, "%s", err.msg);
    char *sgd = NULL;
    size_t sgd_len = 0;
    FILE *js = open_memstream(&sgd, &sgd_len);
    CHECK_PTR(js);
    fprintf(js, "{\"momentum\": %.17g, \"weight_decay\": [", (double)oc.momentum);
    for (int g = 0; g < oc.groups; g++) fprintf(js, "%s%.17g", g ? ", " : "", (double)oc.weight_decay[g]);
    fprintf(js, "], \"lr\": [");
    for (int g = 0; g < oc.groups; g++) fprintf(js, "%s%.17g", g ? ", " : "", (double)oc.lr[g]);
    fprintf(js, "], \"group\": {");
    for (int i = 0; i < ps->count; i++) fprintf(js, "%s\"%s\": %d", i ? ", " : "", paramset_get(ps, i)->name, paramset_get(ps, i)->group);
    fprintf(js, "}, \"losses\": [");
    for (int s = 0; s < steps; s++) {
        paramset_zero_grads(ps);
        double mean = job_model_step(&m, &in, labels, batch, 1, 1.0f / (float)batch, NULL) / batch;
        double norm;
        CHECK(optimizer_step(&opt, 1.0f, &norm) == OPT_STEP_APPLIED, "SGD step %d: non-finite gradients", s);
        fprintf(js, "%s%.17g", s ? ", " : "", mean);
        printf("sgd step %d: mean loss %.10g, gradient norm %.6g\n", s, mean, norm);
    }
    fprintf(js, "]}");
    fclose(js);
    add_params(&out, ps, 0, "final.");

    char fusion_temp_s[32], video_weight_s[32];
    snprintf(fusion_temp_s, sizeof fusion_temp_s, "%.17g", (double)cfg.fusion_temperature);
    snprintf(video_weight_s, sizeof video_weight_s, "%.17g", (double)cfg.fusion_video_weight);
    char frames_s[16], temp_s[32], scale_s[32], neg_s[8], logit_s[32], vh[16], th[16], low_s[8], mid_s[8], high_s[8];
    snprintf(low_s, sizeof low_s, "%d", !m.no_frames);
    snprintf(mid_s, sizeof mid_s, "%d", m.mid_streams);
    snprintf(high_s, sizeof high_s, "%d", m.high);
    snprintf(frames_s, sizeof frames_s, "%d", cfg.frames);
    snprintf(temp_s, sizeof temp_s, "%.17g", (double)cfg.temperature);
    snprintf(scale_s, sizeof scale_s, "%.17g", (double)cfg.mlp_adapter_scale);
    snprintf(neg_s, sizeof neg_s, "%d", use_negative);
    snprintf(logit_s, sizeof logit_s, "%.17g", (double)cfg.logit_scale);
    snprintf(vh, sizeof vh, "%d", cc->vision_heads);
    snprintf(th, sizeof th, "%d", cc->text_heads);
    const char *meta[] = {"model", m.method, "frames", frames_s, "temperature", temp_s, "mlp_adapter_scale", scale_s,
                          "use_negative", neg_s, "logit_scale", logit_s, "vision_heads", vh, "text_heads", th,
                          "low", low_s, "mid_streams", mid_s, "high", high_s, "fusion_weights", cfg.fusion_weights,
                          "fusion_temperature", fusion_temp_s, "fusion_video_weight", video_weight_s,
                          "fusion_loss", cfg.fusion_loss, "sgd", sgd, NULL};
    CHECK(safetensors_write(out_path, &out, meta, &err) == 0, "%s", err.msg);
    printf("model_dump: %s, %d trainable tensors, summed loss %.10g -> %s\n", m.method, ps->count, loss, out_path);
    free(sgd), free(logits), free(labels), free(frames), free(maps[0]), free(maps[1]), free(id_text), free(ids);
    optimizer_free(&opt);
    tmap_free(&out);
    job_model_free(&m);
    return 0;
}
