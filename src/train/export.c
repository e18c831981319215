#include "train/export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/checkpoint.h"
#include "io/clip_names.h"
#include "io/safetensors.h"
#include "model/dfer_clip.h"
#include "train/config.h"
#include "train/job_model.h"
#include "train/provenance.h"

/* Replaces base tensor `hf_name` by `data` (F32, numel values in rows rows: the run's tensor's first dimension, a
 * packed q/k/v's third of it), stored in the base's dtype (rounded once) or, with dtype, in that one. The values
 * and the rows must be the base's: a [128, 512] run tensor in a [512, 128] base one would be written in its place,
 * the same bytes read the other way (the run's patch embedding is [W, 3 P P] where the base's is [W, 3, P, P]: the
 * rows agree). */
static int put(TensorMap *out, const TensorMap *base, const char *hf_name, const float *data, int64_t numel,
               int64_t rows, const DType *dtype, const char *source, const char *run_name, Err *err) {
    const TensorEntry *b = tmap_find(base, hf_name);
    if (!b) return err_set(err, "%s: the base CLIP has no tensor %s", source, hf_name);
    int64_t n = 1;
    for (int d = 0; d < b->ndim; d++) n *= b->shape[d];
    if (n != numel || (b->ndim > 1 && rows != b->shape[0]))
        return err_set(err, "%s: %s (for %s) is %lld values in %lld rows, the base CLIP's %lld in %lld: not the same "
                            "architecture", source, run_name, hf_name, (long long)numel, (long long)rows,
                       (long long)n, (long long)(b->ndim ? b->shape[0] : 1));
    int64_t bad = 0;
    for (int64_t i = 0; i < numel; i++) bad += !isfinite(data[i]);
    if (bad) /* a diverged run's encoder: exported, every model built on it gives NaN */
        return err_set(err, "%s: %s holds %lld non-finite values (NaN or infinite): the run diverged; its best epoch "
                            "(--best) may be whole", source, run_name, (long long)bad);
    return tmap_add_converted(out, hf_name, dtype ? *dtype : b->dtype, b->ndim, b->shape, data, DT_F32, 1, err);
}

int export_clip_from_run(const char *run_dir, int use_best, const DType *dtype, const char *out_path, Err *err) {
    char path[4200];
    Config cfg;
    if (job_run_config(run_dir, &cfg, err) != 0) return -1;
    if (strcmp(cfg.method, "dfer_clip") || !cfg.train_image_encoder)
        return err_set(
            err, "%s: only a DFER-CLIP run with a fine-tuned image encoder has a new CLIP to export (this one: %s%s)",
            run_dir, cfg.method, strcmp(cfg.method, "dfer_clip") ? "" : " with a frozen encoder");
    if (run_check_model_inputs(run_dir, &cfg, NULL, err) != 0) return -1;
    /* the output must not replace what it is made from (or the run's other parameter files) */
    char base_file[4200];
    Err resolve_err;
    const char *inputs[4] = {"model.safetensors", "best_model.safetensors", "checkpoint.safetensors", NULL};
    for (int i = 0; i < 4; i++) {
        if (inputs[i]) snprintf(path, sizeof path, "%s/%s", run_dir, inputs[i]);
        else if (ckpt_resolve(cfg.weights, base_file, sizeof base_file, &resolve_err) == 0)
            snprintf(path, sizeof path, "%s", base_file);
        else continue;
        if (fs_same_file(out_path, path))
            return err_set(err, "--out %s is %s, which the export reads or the run keeps: write the CLIP elsewhere",
                           out_path, inputs[i] ? path : "the run's base CLIP (model.weights)");
    }
    TensorMap base, run, out;
    ClipConfig cc;
    if (clip_load_hf(cfg.weights, &base, &cc, err) != 0) return err_prefix(err, "the run's base CLIP: ");
    snprintf(path, sizeof path, "%s/%s", run_dir, use_best ? "best_model.safetensors" : "model.safetensors");
    if (safetensors_read(path, &run, err) != 0) {
        tmap_free(&base);
        return -1;
    }
    tmap_init(&out, out_path);
    int rc = 0, replaced = 0;
    /* the run's encoder, renamed; q/k/v unpacked from the fused [3W, W] projection */
    for (int i = 0; i < run.count && rc == 0; i++) {
        const TensorEntry *e = &run.items[i];
        if (strncmp(e->name, "image_encoder.", 14)) continue;
        if (e->dtype != DT_F32) {
            rc = err_set(err, "%s: %s is %s; runs store F32 parameters", path, e->name, dtype_name(e->dtype));
            break;
        }
        const float *v = (const float *)e->data;
        int64_t numel = (int64_t)(e->nbytes / sizeof(float));
        char hf[3][256];
        int parts = dfer_clip_encoder_hf_names(e->name + 14, hf);
        if (!parts) rc = err_set(err, "%s: %s is not a tensor of the image encoder", path, e->name);
        int64_t rows = e->ndim ? e->shape[0] / parts : 1;
        for (int j = 0; j < parts && rc == 0; j++) /* the packed q/k/v: rows in q, k, v order */
            rc = put(&out, &base, hf[j], v + j * numel / parts, numel / parts, rows, dtype, path, e->name, err);
        replaced++;
    }
    if (rc == 0 && !replaced) rc = err_set(err, "%s: no image_encoder tensors", path);
    /* every tensor of the base's image tower comes from the run: one the run lacks would come from the base below,
     * a CLIP of two trainings without a word (a run file missing a layer) */
    for (int i = 0; i < base.count && rc == 0; i++) {
        const char *name = base.items[i].name;
        if ((!strncmp(name, "vision_model.", 13) || !strcmp(name, "visual_projection.weight")) &&
            !tmap_find(&out, name))
            rc = err_set(err, "%s: the fine-tuned image encoder lacks %s (the base CLIP's %s): not a whole encoder",
                         path, name, cfg.weights);
    }
    /* everything else as the base CLIP stores it (in dtype when given) */
    for (int i = 0; i < base.count && rc == 0; i++) {
        const TensorEntry *b = &base.items[i];
        if (!tmap_find(&out, b->name))
            rc = tmap_add_converted(&out, b->name, dtype ? *dtype : b->dtype, b->ndim, b->shape, b->data, b->dtype, 1,
                                    err);
    }
    ClipConfig check;
    if (rc == 0 && (clip_infer_config(&out, &check, err) != 0 || clip_check_shapes(&out, &check, err) != 0))
        rc = err_prefix(err, "the exported CLIP is not consistent: ");
    if (rc == 0) {
        /* where it came from, absolutely (a relative run folder names nothing once the file moves) */
        char *run_abs = realpath(run_dir, NULL);
        const char *meta[] = {"format", "pt", "dfer_exported_from", run_abs ? run_abs : run_dir,
                              "dfer_exported_parameters", use_best ? "best_model.safetensors" : "model.safetensors",
                              "dfer_base_clip", cfg.weights, NULL};
        rc = safetensors_write(out_path, &out, meta, err);
        free(run_abs);
    }
    tmap_free(&out);
    tmap_free(&run);
    tmap_free(&base);
    return rc;
}
