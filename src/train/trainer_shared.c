/* What training (trainer.c) and evaluation (evaluate.c) share: a run's state on disk (finished or not), the splits
 * of a configuration (a list's class count: data.classes or its training labels), the loaders' configuration and the
 * memory plan's line in the log (trainer_internal.h). */
#include <cJSON.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "io/json_file.h"
#include "train/trainer.h"
#include "train/trainer_internal.h"

int train_run_finished(const char *out_dir) {
    char path[4096];
    run_file_path(path, sizeof path, out_dir, "result.json");
    cJSON *o = NULL;
    Err err;
    if (!fs_exists(path) || json_read_file(path, &o, &err) != 0) return 0;
    const char *status = json_get_string(o, "status", NULL);
    int done = status && !strcmp(status, "done");
    cJSON_Delete(o);
    return done;
}

int trainer_open_split(const Config *cfg, Split split, Dataset *d, Err *err) {
    if (strcmp(cfg->dataset, "list")) return dataset_open(cfg->dataset, cfg->root, split, cfg->fold, d, err);
    if (dataset_open("list", split == SPLIT_TRAIN ? cfg->train_list : cfg->test_list, split, 0, d, err) != 0) return -1;
    if (!cfg->classes) return 0;
    for (int i = 0; i < d->count; i++)
        if (d->clips[i].label >= cfg->classes) {
            err_set(err, "%s: clip %s has label %d, outside data.classes = %d (labels 0..%d)", d->source,
                    d->clips[i].id, d->clips[i].label, cfg->classes, cfg->classes - 1);
            dataset_free(d);
            return -1;
        }
    d->num_classes = cfg->classes;
    return 0;
}

int trainer_list_classes(const Config *cfg, int test_classes, int *classes, Err *err) {
    *classes = test_classes;
    if (strcmp(cfg->dataset, "list") || cfg->classes) return 0;
    Dataset train;
    if (trainer_open_split(cfg, SPLIT_TRAIN, &train, err) != 0)
        return err_prefix(err, "the class count of a list run comes from its training list (or set data.classes): ");
    if (train.num_classes > *classes) *classes = train.num_classes;
    dataset_free(&train);
    return 0;
}

/* The loader's batch buffers in the model context's host memory (ops_alloc_host: page-locked on CUDA). */
static void *pinned_alloc(void *ops, size_t bytes) { return ops_alloc_host(ops, bytes); }
static void pinned_free(void *ops, void *p) { ops_free_host(ops, p); }

LoaderConfig trainer_loader_config(const Config *cfg, const JobModel *jm, const Group *g, int train, char *landmarks,
                               size_t n) {
    int eval_batch = cfg->eval_batch - cfg->eval_batch % g->size;
    LoaderConfig lc = {.global_batch = train ? cfg->batch : (eval_batch < g->size ? g->size : eval_batch),
                       .rank = g->rank, .world = g->size, .frames = cfg->frames, .size = jm->image_size,
                       .train = train, .seed = (uint64_t)cfg->seed, .normalise_clip = job_model_normalise_clip(jm, cfg),
                       .threads = cfg->loader_threads, .prefetch = 2, .max_bad_fraction = cfg->max_bad_fraction,
                       .f64 = jm->f64, .uint8 = jm->uint8_frames, .crop_min_area = cfg->crop_min_area,
                       .mid_streams = jm->mid_streams,
                       .augment_preset = strcmp(cfg->augment, "auto") ? cfg->augment : NULL};
    if (ops_backend(jm->ops) == BACKEND_CUDA)
        lc.host_alloc = pinned_alloc, lc.host_free = pinned_free, lc.host_ctx = jm->ops;
    if (jm->mid_streams) lc.parsing_dir = trainer_mid_dirs(cfg, landmarks, n), lc.landmarks_dir = landmarks;
    return lc;
}

const char *trainer_mid_dirs(const Config *cfg, char *landmarks, size_t n) {
    config_prep_path(cfg, cfg->landmarks, "landmarks", landmarks, n);
    return cfg->parsing[0] ? cfg->parsing : NULL;
}

void trainer_log_memory_plan(const MemoryPlan *p, const Group *g, const char *pass) {
    if (g->rank != 0 || !p->micro_batch) return;
    /* the last pass is shorter where the micro-batch does not divide the rank's share */
    int last = p->local_batch - (p->accumulation - 1) * p->micro_batch;
    char shape[64] = "";
    if (p->accumulation > 1 && last > 0 && last != p->micro_batch) snprintf(shape, sizeof shape, " (the last of %d)", last);
    log_info("memory plan: %.2f of %.2f GiB per rank, %d micro-batch%s of %d clips%s per %s%s",
             (double)p->total / (1u << 30), (double)p->cap / (1u << 30), p->accumulation, p->accumulation > 1 ? "es" : "",
             p->micro_batch, shape, pass, p->recompute ? ", block recompute" : "");
}
