/* What training (trainer.c) and evaluation (evaluate.c) share: a run's state on disk (finished or not; a resumed run's
 * configuration against its config.ini), the splits of a configuration (a list's class count: data.classes or its
 * training labels), the loaders' configuration, the memory plan's line in the log and the group's agreement on rank
 * 0's writes (trainer_internal.h). */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/watchdog.h"
#include "io/json_file.h"
#include "model/layers.h"
#include "train/job_lock.h"
#include "train/trainer.h"
#include "train/trainer_internal.h"

int lead_write_agreed(Group *g, int rc, const char *what, Err *err) {
    watchdog_mark("the group's agreement that rank 0 wrote %s", what);
    if (group_all_ok_why(g, rc == 0, err)) return 0;
    /* refused by the job lock's write guard (core/fsutil.h): another run took the job over while this one was frozen
     * inside the write; the group leaves the job to it, as at any other look that finds the lock lost */
    int lost = g->rank == 0 && job_lock_lost(NULL, 0, NULL);
    group_bcast(g, &lost, sizeof lost);
    if (lost) return TRAIN_LOCK_LOST;
    if (rc == 0) err_prefix(err, "could not write %s: ", what); /* "... : rank 0 of the group (host H): why" */
    return -1;
}

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

int trainer_open_eval_split(const Config *cfg, const char *eval_dataset, const char *eval_root, const int *folds,
                            int n_folds, Dataset *test, Err *err) {
    if (!eval_dataset) {
        if (n_folds)
            return err_set(err, "data.eval_folds is for zero-shot transfer to another dataset: a run tested on %s, its "
                                "own dataset, evaluates data.fold's test split (its other folds' test clips are in "
                                "its training split)", cfg->dataset);
        return trainer_open_split(cfg, SPLIT_TEST, test, err);
    }
    Config eval_cfg = *cfg;
    snprintf(eval_cfg.dataset, sizeof eval_cfg.dataset, "%s", eval_dataset);
    snprintf(eval_cfg.root, sizeof eval_cfg.root, "%s", eval_root ? eval_root : cfg->root);
    if (n_folds > 1) {
        if (dataset_open_folds(eval_dataset, eval_cfg.root, SPLIT_TEST, folds, n_folds, test, err) != 0)
            return err_prefix(err, "data.eval_folds: ");
        return 0;
    }
    /* one fold: the one named, else the run's own where the target has folds 1..5 (a FERV39k-trained run's
     * data.fold means nothing), else 1 */
    if (n_folds == 1) eval_cfg.fold = folds[0];
    else if (strcmp(eval_cfg.dataset, "ferv39k") && (eval_cfg.fold < 1 || eval_cfg.fold > 5)) eval_cfg.fold = 1;
    return trainer_open_split(&eval_cfg, SPLIT_TEST, test, err);
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
                       .mid_streams = jm->mid_streams, .no_frames = jm->no_frames,
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
    if (p->accumulation > 1 && last > 0 && last != p->micro_batch)
        snprintf(shape, sizeof shape, " (the last of %d)", last);
    const char *how = p->forward_only ? "forward only" : p->recompute ? recompute_phrase(p->recompute) : NULL;
    log_info("memory plan: %.2f of %.2f GiB per rank, %d micro-batch%s of %d clips%s per %s%s%s",
             (double)p->total / (1u << 30), (double)p->cap / (1u << 30), p->accumulation,
             p->accumulation > 1 ? "es" : "", p->micro_batch, shape, pass, how ? ", " : "", how ? how : "");
}

/* Keeps DIR/config.ini (path) beside the one the resumed run is about to write, as config.before-<stamp>.ini. */
static int keep_earlier_config(const char *path, const char *dir, char *kept, size_t n, Err *err) {
    time_t now = time(NULL);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime(&now));
    snprintf(kept, n, "%s/config.before-%s.ini", dir, stamp);
    for (int k = 2; fs_exists(kept) && k < 1000; k++) /* two changes within a second keep both earlier files */
        snprintf(kept, n, "%s/config.before-%s-%d.ini", dir, stamp, k);
    /* a second name, not a rename: config.ini itself stays until the run has passed every check before its first
     * step and writes the new one over it (a start that fails after this point left the folder without one) */
    Err link_err;
    if (fs_link_atomic(path, kept, &link_err) == 0) return 0;
    char *text = NULL; /* a file system without hard links: a copy */
    size_t len = 0;
    int rc = fs_read_all(path, &text, &len, err) == 0 && fs_write_atomic(kept, text, len, err) == 0 ? 0 : -1;
    free(text);
    return rc ? err_prefix(err, "%s: cannot keep it as %s: ", path, kept) : 0;
}

/* A resumed run goes on with what its checkpoint started: a configuration that changes what is trained
 * (DIR/config.ini, written at the start, against cfg) is refused unless allowed, and then the earlier
 * one is kept beside it; paths, device, threads and batching may change (config_diff). A config.ini that is
 * missing or cannot be read is refused the same way: nothing would tell that the checkpoint is resumed with the
 * configuration it was trained with. Rank 0. */
int trainer_check_resumed_config(const Config *cfg, const TrainOptions *opt, Err *err) {
    char path[4096], kept[4200];
    if (!opt->resume || !checkpoint_exists(opt->out_dir)) return 0;
    run_file_path(path, sizeof path, opt->out_dir, "config.ini");
    Config before;
    Err load_err;
    config_defaults(&before);
    int missing = !fs_exists(path);
    if (missing || config_load_file(&before, path, &load_err) != 0) {
        const char *why = missing ? "it does not exist" : load_err.msg;
        if (!opt->allow_config_change)
            return err_set(err, "%s: the run's checkpoint is there but the configuration it was started with cannot be "
                                "read (%s), so resuming might train one run with two. Restore that file, train into a "
                                "new folder, or resume with --allow-config-change",
                           path, why);
        /* the unreadable file is kept, as a changed one is: config.ini is about to be replaced */
        if (!missing && keep_earlier_config(path, opt->out_dir, kept, sizeof kept, err) != 0) return -1;
        log_warn("%s: resuming without comparing the configuration the run was started with (%s; "
                 "--allow-config-change)%s%s",
                 path, why, missing ? "" : "; the file is kept as ", missing ? "" : kept);
        return 0;
    }
    char training[2048], operational[2048];
    int changed = config_diff(&before, cfg, training, sizeof training, operational, sizeof operational);
    if (operational[0]) log_info("resuming with %s", operational);
    if (!changed) return 0;
    /* not even allowed: the checkpoint's optimiser state is AdamW's (load_checkpoint refuses it too, but by then
     * config.ini would have been replaced) */
    if (!strcmp(before.optimizer, "adamw") && strcmp(cfg->optimizer, "adamw"))
        return err_set(err, "%s: the run was started with optim.optimizer = adamw and its checkpoint holds AdamW's "
                            "moments; optim.optimizer = %s cannot resume from them (not even with "
                            "--allow-config-change): resume with adamw or train into a new folder",
                       path, cfg->optimizer);
    if (!opt->allow_config_change)
        return err_set(err,
                       "%s: the run was started with another configuration (%s); resuming would train one run with "
                       "two. Restore those settings, train into a new folder, or resume with "
                       "--allow-config-change",
                       path, training);
    if (keep_earlier_config(path, opt->out_dir, kept, sizeof kept, err) != 0) return -1;
    log_warn("resuming with a changed configuration (--allow-config-change): %s; the earlier one is %s", training,
             kept);
    return 0;
}
