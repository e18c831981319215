#include "train/trainer.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/stop.h"
#include "core/timer.h"
#include "core/version.h"
#include "core/watchdog.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "train/job_model.h"
#include "train/metrics.h"
#include "train/optim.h"
#include "train/plan.h"
#include "train/run_hang.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif


typedef struct Position {
    int epoch, step;          /* the next step to run */
    int opt_steps;            /* optimiser updates so far */
    double best_war, best_uar;
    int best_epoch;
    Scores best, last;
    int has_best, has_last;
    Confusion best_cm, last_cm;
    long long metrics_bytes;  /* metrics.jsonl's length when the checkpoint was written; -1 unknown (an older checkpoint) */
} Position;

/* ---- checkpoints -------------------------------------------------------------------- */

/* The best and last evaluations' confusion matrices [C,C] (I64) travel in the checkpoint, so a resumed run
 * reports what an uninterrupted one would. */
static const char *const k_confusion_names[2] = {"metrics.best_confusion", "metrics.last_confusion"};

static void path_in(char *buf, size_t n, const char *dir, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

/* Copies a device tensor to a host buffer owned by the map and adds it under `name`. */
static int add_host_copy(TensorMap *m, Ops *ops, const char *name, Tensor t, Err *err) {
    size_t bytes = tensor_bytes(&t);
    void *h = xmalloc(bytes + 1);
    ops_download(ops, h, t.data, bytes);
    tmap_own(m, h);
    return tmap_add(m, name, t.dtype, t.ndim, t.shape, h, 0, err);
}

static int save_params(const JobModel *jm, const char *path, const char *prefix, TensorMap *into, Err *err) {
    TensorMap own;
    TensorMap *m = into;
    watchdog_mark("writing %s", path);
    if (!m) {
        tmap_init(&own, path);
        m = &own;
    }
    char name[512];
    int rc = 0;
    for (int i = 0; i < jm->params->count && rc == 0; i++) {
        const ParamEntry *e = paramset_get(jm->params, i);
        snprintf(name, sizeof name, "%s%s", prefix, e->name);
        rc = add_host_copy(m, jm->ops, name, e->value, err);
    }
    if (!into) {
        if (rc == 0) rc = safetensors_write(path, m, (const char *[]){"format", "dfer", "method", jm->method, NULL}, err);
        tmap_free(m);
    }
    return rc;
}

static int save_checkpoint(const char *dir, const JobModel *jm, const Optimizer *opt, const Position *pos, Err *err) {
    char path[4096];
    path_in(path, sizeof path, dir, "checkpoint.safetensors");
    TensorMap m;
    tmap_init(&m, path);
    int rc = save_params(jm, path, "param.", &m, err);
    for (int which = 0; which < 2 && rc == 0; which++) {
        Tensor all = optimizer_state(opt, which);
        if (!all.data) continue;
        char name[64];
        snprintf(name, sizeof name, "optimizer.state%d", which + 1);
        rc = add_host_copy(&m, jm->ops, name, all, err);
    }
    const Confusion *cms[2] = {pos->has_best ? &pos->best_cm : NULL, pos->has_last ? &pos->last_cm : NULL};
    for (int k = 0; k < 2 && rc == 0; k++) {
        if (!cms[k]) continue;
        int64_t shape[2] = {cms[k]->classes, cms[k]->classes};
        rc = tmap_add(&m, k_confusion_names[k], DT_I64, 2, shape, cms[k]->counts, 1, err);
    }
    /* the log's length now: a resume from here drops the lines of steps made after it (they are made again) */
    char metrics[4096];
    struct stat st;
    path_in(metrics, sizeof metrics, dir, "metrics.jsonl");
    long long metrics_bytes = stat(metrics, &st) == 0 ? (long long)st.st_size : 0;
    char meta_json[1024];
    snprintf(meta_json, sizeof meta_json,
             "{\"epoch\":%d,\"step\":%d,\"optimizer_steps\":%d,\"best_war\":%.17g,\"best_uar\":%.17g,\"best_epoch\":%d,"
             "\"metrics_bytes\":%lld}",
             pos->epoch, pos->step, pos->opt_steps, pos->best_war, pos->best_uar, pos->best_epoch, metrics_bytes);
    if (rc == 0) rc = safetensors_write(path, &m, (const char *[]){"format", "dfer-checkpoint", "position", meta_json, NULL}, err);
    tmap_free(&m);
    return rc;
}

static int load_checkpoint(const char *dir, JobModel *jm, Optimizer *opt, Position *pos, Err *err) {
    char path[4096];
    path_in(path, sizeof path, dir, "checkpoint.safetensors");
    TensorMap m;
    if (safetensors_read(path, &m, err) != 0) return -1;
    int rc = 0;
    char name[512];
    for (int i = 0; i < jm->params->count && rc == 0; i++) {
        const ParamEntry *e = paramset_get(jm->params, i);
        snprintf(name, sizeof name, "param.%s", e->name);
        const TensorEntry *t = tmap_find(&m, name);
        if (!t || t->nbytes != tensor_bytes(&e->value) || t->dtype != e->value.dtype)
            rc = err_set(err, "%s: tensor %s is missing or does not match the model (another architecture or dtype?)", path, name);
        else ops_upload(jm->ops, e->value.data, t->data, t->nbytes);
    }
    for (int which = 0; which < 2 && rc == 0; which++) {
        Tensor all = optimizer_state(opt, which);
        if (!all.data) continue;
        snprintf(name, sizeof name, "optimizer.state%d", which + 1);
        const TensorEntry *t = tmap_find(&m, name);
        if (!t || t->nbytes != tensor_bytes(&all)) rc = err_set(err, "%s: %s is missing or has the wrong size", path, name);
        else ops_upload(jm->ops, all.data, t->data, t->nbytes);
    }
    const char *meta = safetensors_metadata(&m, "position");
    cJSON *o = meta ? cJSON_Parse(meta) : NULL;
    if (rc == 0 && !o) rc = err_set(err, "%s: no training position in the metadata", path);
    static const char *const position_keys[] = {"epoch", "step", "optimizer_steps", "best_war", "best_uar", "best_epoch"};
    double v[6];
    for (int k = 0; k < 6 && rc == 0; k++)
        if (!isfinite(v[k] = json_get_number(o, position_keys[k], NAN)))
            rc = err_set(err, "%s: the training position in the metadata has no number \"%s\"", path, position_keys[k]);
    if (rc == 0) {
        pos->epoch = (int)v[0], pos->step = (int)v[1], pos->opt_steps = (int)v[2];
        pos->best_war = v[3], pos->best_uar = v[4], pos->best_epoch = (int)v[5];
        opt->step = pos->opt_steps;
        double bytes = json_get_number(o, "metrics_bytes", -1); /* absent from checkpoints before it was kept */
        pos->metrics_bytes = isfinite(bytes) && bytes >= 0 ? (long long)bytes : -1;
    }
    for (int k = 0; k < 2 && rc == 0; k++) {
        const TensorEntry *t = tmap_find(&m, k_confusion_names[k]);
        if (!t) continue; /* no evaluation before the checkpoint */
        int C = jm->num_classes;
        if (t->dtype != DT_I64 || t->ndim != 2 || t->shape[0] != C || t->shape[1] != C) {
            rc = err_set(err, "%s: %s is not a %dx%d I64 confusion matrix", path, k_confusion_names[k], C, C);
            break;
        }
        Confusion *cm = k ? &pos->last_cm : &pos->best_cm;
        confusion_init(cm, C);
        memcpy(cm->counts, t->data, (size_t)C * C * sizeof(int64_t));
        scores_compute(cm, k ? &pos->last : &pos->best);
        if (k) pos->has_last = 1;
        else pos->has_best = 1;
    }
    cJSON_Delete(o);
    tmap_free(&m);
    return rc;
}

/* ---- logging --------------------------------------------------------------------------- */

/* A lost log line does not stop a run of days; the first failure is said. */
static void append_line(const char *dir, const char *file, const char *line) {
    static int warned;
    char path[4096];
    Err err;
    path_in(path, sizeof path, dir, file);
    if (fs_append_line(path, line, &err) != 0 && !warned++) log_warn("%s (training goes on; later log lines may be lost too)", err.msg);
}

/* A resumed run's log as it was at its checkpoint. The lines of steps a killed or failed run made after its
 * last checkpoint go (the resumed run makes those steps again and logs them anew), and so does half a line
 * a run killed while appending left. metrics_bytes: the log's length at the checkpoint, -1 when the
 * checkpoint does not say (only the torn line is cut then). Rank 0 alone: warnings, never an early exit. */
static void metrics_rewind(const char *path, long long metrics_bytes) {
    struct stat st;
    if (metrics_bytes >= 0 && stat(path, &st) == 0) {
        if (st.st_size < metrics_bytes)
            log_warn("%s: shorter than when the checkpoint was written (%lld < %lld bytes): lines were lost", path,
                     (long long)st.st_size, metrics_bytes);
        else if (st.st_size > metrics_bytes) {
            long long lines = 0; /* the lines cut, for the message */
            FILE *f = fopen(path, "rb");
            if (f && fseeko(f, (off_t)metrics_bytes, SEEK_SET) == 0)
                for (int c; (c = fgetc(f)) != EOF;) lines += c == '\n';
            if (f) fclose(f);
            if (truncate(path, (off_t)metrics_bytes) != 0)
                log_warn("%s: cannot cut it back to the checkpoint (%s): some steps will appear twice", path, strerror(errno));
            else
                log_info("%s: back to the checkpoint: %lld line(s) and %lld bytes logged after it cut (those steps run again)",
                         path, lines, (long long)st.st_size - metrics_bytes);
        }
    }
    size_t cut = 0;
    Err err;
    if (fs_trim_torn_tail(path, &cut, &err) != 0) log_warn("%s", err.msg);
    else if (cut) log_warn("%s: cut the last %zu bytes, a line the stopped run did not finish", path, cut);
}

/* Rank 0 alone writes the run's files. rc: its result (0 on the other ranks). A failure there (a full
 * disk) must end the job on every rank of the group, not leave the others waiting in the next
 * collective: every rank returns -1 then, the others with a message that points to rank 0's. */
static int lead_write_agreed(Group *g, int rc, const char *what, Err *err) {
    watchdog_mark("the group's agreement that rank 0 wrote %s", what);
    if (group_all_ok(g, rc == 0)) return 0;
    if (g->rank != 0) err_set(err, "rank 0 of the group could not write %s (its error says why)", what);
    return -1;
}

/* ---- evaluation -------------------------------------------------------------------------- */

/* The model's inputs for a batch: frames, the middle level's maps when the
 * loader delivers them, and the clip ids (descriptions are looked up by id).
 * ids [b.n] is filled from the dataset. */
static JobInputs batch_inputs(const Batch *b, const Dataset *d, const char **ids) {
    for (int i = 0; i < b->n; i++) ids[i] = d->clips[b->indices[i]].id;
    for (int i = 0; i < b->n; i++) ids[b->n + i] = d->clips[b->indices[i]].caption;
    return (JobInputs){.frames = b->frames, .parsing = b->parsing, .landmarks = b->landmark_maps, .clip_ids = ids,
                       .captions = ids + b->n};
}

/* One contrastive step (the zero-shot setting): local features, all-gathered over the group,
 * the symmetric InfoNCE loss of the global batch and the backward of this rank's rows. Returns
 * this rank's share of the (identical) global loss, so that the group's sum is the loss. */
static double contrastive_step(JobModel *jm, const JobInputs *in, int n, Group *g, int global) {
    job_model_contrastive_forward(jm, in, n, global);
    Tensor lv, lt, av, at;
    job_model_contrastive_tensors(jm, &lv, &lt, &av, &at);
    group_allgather(g, av, lv);
    group_allgather(g, at, lt);
    return job_model_contrastive_backward(jm, g->rank * n, 1, 1.0f / (float)global, g->size) / g->size;
}

/* The loader's batch buffers in the model context's host memory (ops_alloc_host: page-locked on CUDA). */
static void *pinned_alloc(void *ops, size_t bytes) { return ops_alloc_host(ops, bytes); }
static void pinned_free(void *ops, void *p) { ops_free_host(ops, p); }

/* The loader of a run: training (global batch train.batch, augmentation) or evaluation (train.eval_batch,
 * rounded down to a multiple of the ranks, at least one clip per rank), the method's normalisation, and
 * what the model's middle level needs; the tracks directory defaults to `dfer prep`'s output beside the
 * dataset (written into landmarks[n], which must outlive the loader). With data.uint8_frames the loader
 * writes uint8 pixels and the model normalises them on the device (the same mean/std). On CUDA the batch
 * buffers are page-locked, so the model's uploads from them are asynchronous DMAs on the stream: a batch
 * is read by its step, which downloads its loss or logits (a stream sync) before the next loader_next
 * may overwrite the buffer. The loader must be destroyed before the model (its context frees them). */
static LoaderConfig run_loader_config(const Config *cfg, const JobModel *jm, const Group *g, int train, char *landmarks,
                                      size_t n) {
    int eval_batch = cfg->eval_batch - cfg->eval_batch % g->size;
    LoaderConfig lc = {.global_batch = train ? cfg->batch : (eval_batch < g->size ? g->size : eval_batch),
                       .rank = g->rank, .world = g->size, .frames = cfg->frames, .size = jm->image_size,
                       .train = train, .seed = (uint64_t)cfg->seed, .normalise_clip = job_model_normalise_clip(jm, cfg),
                       .threads = cfg->loader_threads, .prefetch = 2, .max_bad_fraction = cfg->max_bad_fraction,
                       .f64 = jm->f64, .uint8 = jm->uint8_frames, .crop_min_area = cfg->crop_min_area,
                       .mid_streams = jm->mid_streams};
    if (ops_backend(jm->ops) == BACKEND_CUDA)
        lc.host_alloc = pinned_alloc, lc.host_free = pinned_free, lc.host_ctx = jm->ops;
    if (jm->mid_streams) {
        config_prep_path(cfg, cfg->landmarks, "landmarks", landmarks, n);
        lc.landmarks_dir = landmarks;
        lc.parsing_dir = cfg->parsing[0] ? cfg->parsing : NULL;
    }
    return lc;
}

/* One pass over the test split; phase names it in the watchdog's marks ("evaluation after epoch 3"). */
static int evaluate(JobModel *jm, Loader *test, const Dataset *d, Group *g, int epoch, const char *phase, Confusion *cm,
                    double *loss_out, Err *err) {
    confusion_init(cm, jm->num_classes);
    loader_start_epoch(test, epoch);
    Batch b;
    int rc;
    double loss = 0;
    void *logits = xmalloc((size_t)jm->num_classes * 1024 * sizeof(double));
    const char **ids = NULL;
    int batch = 0;
    for (;;) {
        watchdog_mark("%s: waiting for batch %d (the loader)", phase, batch + 1);
        if ((rc = loader_next(test, &b, err)) != 0) break;
        if (b.n == 0) continue;
        watchdog_mark("%s: the forward pass of batch %d", phase, ++batch);
        ids = xrealloc(ids, 2 * (size_t)b.n * sizeof *ids);
        JobInputs in = batch_inputs(&b, d, ids);
        loss += job_model_step(jm, &in, b.labels, b.n, 0, 1.0f, logits);
        confusion_add_logits(cm, logits, jm->f64, b.labels, b.n);
    }
    free(logits);
    free(ids);
    if (rc < 0) return -1;
    watchdog_mark("%s: the reduction of the confusion matrix over the group", phase);
    group_allreduce_i64(g, cm->counts, cm->classes * cm->classes);
    *loss_out = group_sum_double(g, loss);
    return 0;
}

static cJSON *scores_json(const Scores *s, const Confusion *cm, int epoch) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epoch", epoch);
    cJSON_AddNumberToObject(o, "uar", s->uar);
    cJSON_AddNumberToObject(o, "war", s->war);
    cJSON *rec = cJSON_AddArrayToObject(o, "recall");
    for (int c = 0; c < cm->classes; c++) cJSON_AddItemToArray(rec, cJSON_CreateNumber(s->recall[c]));
    cJSON *conf = cJSON_AddArrayToObject(o, "confusion");
    for (int t = 0; t < cm->classes; t++) {
        cJSON *row = cJSON_CreateArray();
        for (int p = 0; p < cm->classes; p++) cJSON_AddItemToArray(row, cJSON_CreateNumber((double)cm->counts[t * cm->classes + p]));
        cJSON_AddItemToArray(conf, row);
    }
    return o;
}

/* ---- the run ----------------------------------------------------------------------------- */

static int write_result(const Config *cfg, const TrainOptions *opt, const JobModel *jm, const Position *pos,
                        double seconds, Err *err) {
    cJSON *o = opt->job_json ? cJSON_Parse(opt->job_json) : NULL;
    if (!o) o = cJSON_CreateObject();
    if (!cJSON_GetObjectItem(o, "method")) cJSON_AddStringToObject(o, "method", cfg->method);
    if (!cJSON_GetObjectItem(o, "dataset")) cJSON_AddStringToObject(o, "dataset", cfg->dataset);
    cJSON_AddStringToObject(o, "status", "done");
    /* the peers select the epoch with the best WAR on the test split: report that, and the last */
    cJSON_AddNumberToObject(o, "uar", pos->best.uar);
    cJSON_AddNumberToObject(o, "war", pos->best.war);
    cJSON_AddStringToObject(o, "reported_epoch", "best (by WAR on the test split, as the peers select)");
    cJSON *cls = cJSON_AddArrayToObject(o, "classes");
    for (int c = 0; c < jm->num_classes; c++) cJSON_AddItemToArray(cls, cJSON_CreateString(k_class_names[c]));
    cJSON *rec = cJSON_AddArrayToObject(o, "recall");
    for (int c = 0; c < jm->num_classes; c++) cJSON_AddItemToArray(rec, cJSON_CreateNumber(pos->best.recall[c]));
    cJSON_AddItemToObject(o, "best", scores_json(&pos->best, &pos->best_cm, pos->best_epoch));
    cJSON_AddItemToObject(o, "last", scores_json(&pos->last, &pos->last_cm, cfg->epochs - 1));
    /* the backbone's architecture, for comparisons with published numbers (dfer table --paper) */
    char arch[128];
    cJSON_AddStringToObject(o, "clip_arch", clip_config_describe(&jm->clip.cfg, arch, sizeof arch));
    /* contrastive (zero-shot) training: what the clips were paired with (Table 3 tells the kinds apart) */
    const char *captions = jm->contrastive ? job_captions_name(jm->captions_used) : NULL;
    if (captions) cJSON_AddStringToObject(o, "captions", captions);
    cJSON *params = cJSON_AddObjectToObject(o, "trainable_parameters");
    cJSON_AddNumberToObject(params, "total", (double)jm->params->numel);
    for (int gi = 0; gi < jm->groups; gi++)
        cJSON_AddNumberToObject(params, jm->group_names[gi], (double)paramset_group_numel(jm->params, gi));
    cJSON_AddNumberToObject(o, "seed", cfg->seed);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    /* when the job finished, for provenance (a copied results folder keeps it, unlike file times) */
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(o, "finished", when);
    cJSON_AddNumberToObject(o, "finished_unix", (double)now);
    cJSON_AddStringToObject(o, "commit", dfer_git_commit);
    if (opt->command) cJSON_AddStringToObject(o, "command", opt->command);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    cJSON_AddStringToObject(o, "host", host);
    char path[4096];
    path_in(path, sizeof path, opt->out_dir, "result.json");
    int rc = json_write_atomic(path, o, err);
    cJSON_Delete(o);
    return rc;
}

static int open_split(const Config *cfg, Split split, Dataset *d, Err *err) {
    if (!strcmp(cfg->dataset, "list"))
        return dataset_open("list", split == SPLIT_TRAIN ? cfg->train_list : cfg->test_list, split, 0, d, err);
    return dataset_open(cfg->dataset, cfg->root, split, cfg->fold, d, err);
}

/* Whether any rank of the group has received a stop signal (core/stop.h): all
 * ranks of a group take the same decision at the same step. */
static int group_stop_requested(Group *g) {
    int64_t flag = stop_requested() != 0;
    group_allreduce_i64(g, &flag, 1);
    return flag > 0;
}

static void log_stopped(const char *out_dir, const Position *pos) {
    log_warn("stopped by signal %d after epoch %d step %d: checkpoint written in %s; run again with --resume to continue",
             stop_requested(), pos->epoch + 1, pos->step, out_dir);
}

static void log_memory_plan(const MemoryPlan *p, const Group *g, const char *pass) {
    if (g->rank == 0 && p->micro_batch)
        log_info("memory plan: %.2f of %.2f GiB per rank, %d micro-batch%s of %d clips per %s%s",
                 (double)p->total / (1u << 30), (double)p->cap / (1u << 30), p->accumulation,
                 p->accumulation > 1 ? "es" : "", p->micro_batch, pass, p->recompute ? ", block recompute" : "");
}

/* The micro-batch and recompute of the job (plan_apply), and the plan in the log. */
static int choose_micro_batch(const Config *cfg, int classes, Group *g, JobModel *jm, Err *err) {
    MemoryPlan p;
    if (plan_apply(cfg, classes, NULL, g->size, jm, &p, err) != 0) {
        job_model_free(jm);
        return -1;
    }
    log_memory_plan(&p, g, "step");
    return 0;
}

int train_collectives(const Config *cfg, const Dist *d, CollBackend *backend, Err *err) {
    *backend = COLL_MPI;
    if (job_backend(cfg) != BACKEND_CUDA) return 0;
    if (dist_select_gpu(d, err) != 0) return -1;
    *backend = COLL_NCCL;
    return 0;
}

/* A resumed run goes on with what its checkpoint started: a configuration that changes what is trained
 * (DIR/config.ini, written at the start, against cfg) is refused unless allowed, and then the earlier
 * one is kept beside it; paths, device, threads and batching may change (config_diff). Rank 0. */
static int check_resumed_config(const Config *cfg, const TrainOptions *opt, Err *err) {
    char path[4096], kept[4200];
    path_in(path, sizeof path, opt->out_dir, "checkpoint.safetensors");
    if (!opt->resume || !fs_exists(path)) return 0;
    path_in(path, sizeof path, opt->out_dir, "config.ini");
    if (!fs_exists(path)) return 0;
    Config before;
    Err load_err;
    config_defaults(&before);
    if (config_load_file(&before, path, &load_err) != 0) {
        log_warn("%s: cannot compare the configuration the run was started with (%s); resuming", path, load_err.msg);
        return 0;
    }
    char training[2048], operational[2048];
    int changed = config_diff(&before, cfg, training, sizeof training, operational, sizeof operational);
    if (operational[0]) log_info("resuming with %s", operational);
    if (!changed) return 0;
    if (!opt->allow_config_change)
        return err_set(err, "%s: the run was started with another configuration (%s); resuming would train one run with "
                            "two. Restore those settings, train into a new folder, or resume with "
                            "--allow-config-change",
                       path, training);
    time_t now = time(NULL);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime(&now));
    snprintf(kept, sizeof kept, "%s/config.before-%s.ini", opt->out_dir, stamp);
    if (rename(path, kept) != 0) return err_set(err, "%s: cannot keep it as %s: %s", path, kept, strerror(errno));
    log_warn("resuming with a changed configuration (--allow-config-change): %s; the earlier one is %s", training, kept);
    return 0;
}

static int train_job(const Config *cfg, const TrainOptions *opt, Group *g, Err *err) {
    if (fs_mkdirs(opt->out_dir, err) != 0) return -1;
    int lead = g->rank == 0;
    char path[4096];
    /* a run of days is not overwritten by a command that forgot --resume */
    static const char *const run_files[] = {"checkpoint.safetensors", "result.json"};
    for (int i = 0; i < 2 && !opt->resume; i++) {
        path_in(path, sizeof path, opt->out_dir, run_files[i]);
        if (fs_exists(path))
            return err_set(err, "%s already holds a run (%s): --resume continues it; to train from the start, delete it "
                                "or give another --out", opt->out_dir, run_files[i]);
    }
    int refused = lead && check_resumed_config(cfg, opt, err) != 0;
    group_bcast(g, &refused, sizeof refused); /* every rank stops, or none */
    if (refused) {
        if (!lead) err_set(err, "the run's configuration changed since its checkpoint (rank 0 says how)");
        return -1;
    }
    int written = 0;
    if (lead) {
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        config_write(cfg, mem);
        fclose(mem);
        path_in(path, sizeof path, opt->out_dir, "config.ini");
        written = fs_write_atomic(path, text, len, err);
        free(text);
    }
    if (lead_write_agreed(g, written, "config.ini", err) != 0) return -1;
    Dataset train, test;
    int contrastive = !strcmp(cfg->objective, "contrastive");
    watchdog_mark("reading the dataset's split files (%s)", cfg->root[0] ? cfg->root : cfg->train_list);
    if (open_split(cfg, SPLIT_TRAIN, &train, err) != 0) return -1;
    /* zero-shot transfer: evaluated on another dataset's test split, with its classes */
    Config eval_cfg = *cfg;
    if (opt->eval_dataset) {
        snprintf(eval_cfg.dataset, sizeof eval_cfg.dataset, "%s", opt->eval_dataset);
        snprintf(eval_cfg.root, sizeof eval_cfg.root, "%s", opt->eval_root);
        if (strcmp(eval_cfg.dataset, "ferv39k") && (eval_cfg.fold < 1 || eval_cfg.fold > 5)) eval_cfg.fold = 1;
    }
    if (open_split(&eval_cfg, SPLIT_TEST, &test, err) != 0) {
        dataset_free(&train);
        return -1;
    }
    int classes = contrastive ? test.num_classes : train.num_classes;
    /* A list's class count follows its labels: a test label the training split's model cannot output is an error
     * (contrastive training learns no classes: its model takes the test split's). */
    for (int i = 0; i < test.count && !contrastive; i++)
        if (test.clips[i].label >= train.num_classes) {
            err_set(err, "%s: clip %s has label %d, but the training split %s has %d classes (labels 0..%d)", test.source,
                    test.clips[i].id, test.clips[i].label, train.source, train.num_classes, train.num_classes - 1);
            dataset_free(&train), dataset_free(&test);
            return -1;
        }
    JobModel jm;
    watchdog_mark("loading the model (%s)", cfg->weights);
    if (job_model_create(cfg, classes, &jm, err) != 0 || choose_micro_batch(cfg, classes, g, &jm, err) != 0) {
        dataset_free(&train), dataset_free(&test);
        return -1;
    }
    OptimizerConfig oc;
    job_model_optimizer_config(cfg, &jm, &oc);
    ScheduleConfig sc = {.gamma = cfg->gamma, .warmup_epochs = cfg->warmup_epochs, .epochs = cfg->epochs};
    schedule_kind_from_name(cfg->schedule, &sc.kind);
    sc.n_milestones = cfg->n_milestones;
    memcpy(sc.milestones, cfg->milestones, sizeof cfg->milestones);
    Optimizer optim;
    memset(&optim, 0, sizeof optim);
    Loader *tl = NULL, *el = NULL;
    int status = -1;
    const char **ids = xcalloc(2 * (size_t)cfg->batch, sizeof *ids);
    char landmarks[CFG_STR + 64];
    if (job_model_check_dataset(&jm, &train, err) != 0 || (!contrastive && job_model_check_dataset(&jm, &test, err) != 0))
        goto done;
    if (optimizer_create(jm.params, &oc, &optim, err) != 0) goto done;
    LoaderConfig lc = run_loader_config(cfg, &jm, g, 1, landmarks, sizeof landmarks);
    if (loader_create(&train, &lc, &tl, err) != 0) goto done;
    LoaderConfig ec = run_loader_config(cfg, &jm, g, 0, landmarks, sizeof landmarks);
    if (loader_create(&test, &ec, &el, err) != 0) goto done;

    Position pos = {.best_war = -1, .best_epoch = -1, .metrics_bytes = -1};
    path_in(path, sizeof path, opt->out_dir, "checkpoint.safetensors");
    int resumed = opt->resume && fs_exists(path);
    if (resumed) {
        watchdog_mark("reading the checkpoint in %s", opt->out_dir);
        if (load_checkpoint(opt->out_dir, &jm, &optim, &pos, err) != 0) goto done;
        if (lead) log_info("resuming %s at epoch %d, step %d", opt->out_dir, pos.epoch + 1, pos.step);
    }
    char hang[1024];
    if (lead && resumed && run_ended_on_hang(opt->out_dir, hang, sizeof hang))
        log_warn("%s: its last run ended on a hang, %s; resuming from its checkpoint", opt->out_dir, hang);
    path_in(path, sizeof path, opt->out_dir, "metrics.jsonl");
    if (lead && resumed) metrics_rewind(path, pos.metrics_bytes);
    else if (lead && fs_exists(path)) { /* from the start: an earlier start's lines (it never checkpointed) go */
        if (truncate(path, 0) != 0) log_warn("%s: cannot empty it (%s): its lines will mix with this run's", path, strerror(errno));
        else log_info("%s: emptied (an earlier start left it without a checkpoint)", path);
    }
    if (lead && opt->resume) { /* a run killed while writing a file left its temporary (only in a run's folder) */
        char left[512];
        Err tmp_err;
        int n = fs_remove_atomic_leftovers(opt->out_dir, left, sizeof left, &tmp_err);
        if (n < 0) log_warn("%s", tmp_err.msg);
        else if (n) log_warn("%s: removed %d temporary file%s a killed run left: %s", opt->out_dir, n, n > 1 ? "s" : "", left);
    }
    if (lead) {
        char order[512];
        log_info("%s on %s (%s, fold %d): %d train / %d test clips, classes: %s", cfg->method, cfg->dataset, cfg->root,
                 cfg->fold, train.count, test.count, class_order_text(train.num_classes, order, sizeof order));
        char groups[256] = "";
        for (int gi = 0; gi < jm.groups; gi++)
            snprintf(groups + strlen(groups), sizeof groups - strlen(groups), "%s%s %zu", gi ? ", " : "", jm.group_names[gi],
                     paramset_group_numel(jm.params, gi));
        log_info("trainable parameters: %zu (%s)", jm.params->numel, groups);
        log_info("%s; %d rank%s, global batch %d; frames %s", ops_describe(jm.ops), g->size, g->size > 1 ? "s" : "",
                 cfg->batch, jm.uint8_frames ? "as uint8, normalised on the device" : "normalised by the loader");
    }
    int steps_run = 0;
    double t_start = time_now();
    Tensor grads = tensor_make(jm.params->grads, jm.params->dtype, 1, (int64_t)jm.params->numel);
    for (; pos.epoch < cfg->epochs; pos.epoch++, pos.step = 0) {
        loader_start_epoch_at(tl, pos.epoch, pos.step);
        int steps = loader_steps_per_epoch(tl);
        if (cfg->max_steps_per_epoch > 0 && steps > cfg->max_steps_per_epoch) steps = cfg->max_steps_per_epoch;
        double t_epoch = time_now(), loss_window = 0;
        /* seconds in this logging window: waiting for data, forward+backward, gradient all-reduce (with the wait
         * for the slowest rank), the rest of the step (update) */
        double data_s = 0, compute_s = 0, allreduce_s = 0, step_s = 0;
        int window = 0;
        Batch b;
        while (pos.step < steps) {
            double t0 = time_now();
            watchdog_mark("epoch %d step %d: waiting for the training batch (the loader)", pos.epoch + 1, pos.step + 1);
            int rc = loader_next(tl, &b, err);
            if (rc < 0) goto done;
            if (rc > 0) break;
            double t1 = time_now();
            watchdog_mark("epoch %d step %d: forward and backward%s", pos.epoch + 1, pos.step + 1,
                          contrastive ? " (with the all-gathers of the contrastive loss)" : "");
            paramset_zero_grads(jm.params);
            JobInputs in = batch_inputs(&b, &train, ids);
            double loss = contrastive ? contrastive_step(&jm, &in, b.n, g, cfg->batch)
                                      : job_model_step(&jm, &in, b.labels, b.n, 1, 1.0f / (float)cfg->batch, NULL);
            double t2 = time_now();
            watchdog_mark("epoch %d step %d: the gradient all-reduce over the group's %d rank%s", pos.epoch + 1,
                          pos.step + 1, g->size, g->size > 1 ? "s" : "");
            group_allreduce(g, grads, 0);
            double t3 = time_now();
            watchdog_mark("epoch %d step %d: the loss reduction and the update", pos.epoch + 1, pos.step + 1);
            data_s += t1 - t0, compute_s += t2 - t1, allreduce_s += t3 - t2;
            if (opt->signal_after_steps > 0 && steps_run + 1 == opt->signal_after_steps) CHECK_SYS(raise(SIGUSR1));
            /* the loss and whether any rank got a stop signal (core/stop.h), in one collective: every rank of the
             * group takes the same decision after the same step */
            double sums[2] = {loss, stop_requested() != 0};
            group_sum_doubles(g, sums, 2);
            loss = sums[0] / cfg->batch;
            int signalled = sums[1] > 0;
            double lr_factor = schedule_factor(&sc, pos.epoch, (double)pos.step / steps), norm;
            OptStepResult r = isfinite(loss) ? optimizer_step(&optim, (float)lr_factor, &norm) : OPT_STEP_SKIPPED_NONFINITE;
            if (r == OPT_STEP_SKIPPED_NONFINITE) {
                if (!strcmp(cfg->nonfinite, "abort")) {
                    err_set(err, "non-finite loss or gradient at epoch %d step %d (train.nonfinite = abort)", pos.epoch + 1, pos.step);
                    goto done;
                }
                if (lead) log_warn("epoch %d step %d: non-finite loss or gradient, update skipped", pos.epoch + 1, pos.step);
            }
            step_s += time_now() - t0;
            pos.opt_steps = optim.step;
            pos.step++;
            steps_run++;
            loss_window += loss, window++;
            if (lead && (pos.step % cfg->log_every == 0 || pos.step == steps)) {
                double now = time_now(), done_frac = (pos.epoch + (double)pos.step / steps) / cfg->epochs;
                double rate = (double)pos.step * cfg->batch / (now - t_epoch);
                double eta = (now - t_start) / fmax(1e-9, done_frac - 0) * (1 - done_frac);
                char eta_s[32];
                time_format_hms(eta, eta_s, sizeof eta_s);
                log_info("epoch %d/%d step %d/%d loss %.4f lr %.3g grad-norm %.3g %.1f clips/s ETA %s", pos.epoch + 1,
                         cfg->epochs, pos.step, steps, loss_window / window, oc.lr[0] * lr_factor, norm, rate, eta_s);
                char line[512];
                snprintf(line, sizeof line,
                         "{\"type\":\"step\",\"epoch\":%d,\"epochs\":%d,\"step\":%d,\"steps\":%d,\"loss\":%.6g,\"lr\":%.6g,"
                         "\"grad_norm\":%.6g,\"clips_per_s\":%.4g,\"step_s\":%.6g,\"data_s\":%.6g,\"compute_s\":%.6g,"
                         "\"allreduce_s\":%.6g}",
                         pos.epoch + 1, cfg->epochs, pos.step, steps, loss_window / window, oc.lr[0] * lr_factor, norm, rate,
                         step_s / window, data_s / window, compute_s / window, allreduce_s / window);
                append_line(opt->out_dir, "metrics.jsonl", line);
                loss_window = 0, window = 0, data_s = compute_s = allreduce_s = step_s = 0;
            }
            int at_epoch_end = pos.step >= steps;
            int stop_now = opt->stop_after_steps > 0 && steps_run >= opt->stop_after_steps;
            if (!at_epoch_end &&
                (stop_now || signalled || (opt->checkpoint_every_steps > 0 && pos.step % opt->checkpoint_every_steps == 0))) {
                int saved = lead ? save_checkpoint(opt->out_dir, &jm, &optim, &pos, err) : 0;
                if (lead_write_agreed(g, saved, "the checkpoint", err) != 0) goto done;
            }
            if ((stop_now || signalled) && !at_epoch_end) {
                status = signalled ? DFER_EXIT_INTERRUPTED : 2;
                if (signalled && lead) log_stopped(opt->out_dir, &pos);
                goto done;
            }
        }
        /* evaluation on the test split */
        Confusion cm;
        double eval_loss;
        char phase[64];
        snprintf(phase, sizeof phase, "evaluation after epoch %d", pos.epoch + 1);
        if (evaluate(&jm, el, &test, g, pos.epoch, phase, &cm, &eval_loss, err) != 0) goto done;
        Scores s;
        scores_compute(&cm, &s);
        pos.last = s, pos.last_cm = cm, pos.has_last = 1;
        if (s.war > pos.best_war) {
            pos.best_war = s.war, pos.best_uar = s.uar, pos.best_epoch = pos.epoch;
            pos.best = s, pos.best_cm = cm, pos.has_best = 1;
            int saved = 0;
            if (lead) {
                path_in(path, sizeof path, opt->out_dir, "best_model.safetensors");
                saved = save_params(&jm, path, "", NULL, err);
            }
            if (lead_write_agreed(g, saved, "best_model.safetensors", err) != 0) goto done;
        }
        if (lead) {
            log_info("epoch %d/%d evaluation: UAR %.2f WAR %.2f loss %.4f (%lld clips; best WAR %.2f at epoch %d)",
                     pos.epoch + 1, cfg->epochs, s.uar, s.war, eval_loss / fmax(1, (double)s.total), (long long)s.total,
                     pos.best_war, pos.best_epoch + 1);
            cJSON *o = scores_json(&s, &cm, pos.epoch + 1);
            cJSON_AddStringToObject(o, "type", "eval");
            cJSON_AddNumberToObject(o, "loss", eval_loss / fmax(1, (double)s.total));
            char *line = cJSON_PrintUnformatted(o);
            append_line(opt->out_dir, "metrics.jsonl", line);
            free(line);
            cJSON_Delete(o);
        }
        Position next = pos;
        next.epoch++, next.step = 0;
        int saved = lead ? save_checkpoint(opt->out_dir, &jm, &optim, &next, err) : 0;
        if (lead_write_agreed(g, saved, "the checkpoint", err) != 0) goto done;
        int stop_now = opt->stop_after_steps > 0 && steps_run >= opt->stop_after_steps && next.epoch < cfg->epochs;
        watchdog_mark("after epoch %d: the group's check for a stop signal", pos.epoch + 1);
        int signalled = group_stop_requested(g) && next.epoch < cfg->epochs;
        if (stop_now || signalled) {
            status = signalled ? DFER_EXIT_INTERRUPTED : 2;
            if (signalled && lead) log_stopped(opt->out_dir, &next);
            goto done;
        }
    }
    int saved = 0;
    if (lead) {
        path_in(path, sizeof path, opt->out_dir, "model.safetensors");
        saved = save_params(&jm, path, "", NULL, err);
        /* a resumed run may have evaluated its best epoch before the restart: fall back to the last */
        if (!pos.has_best) pos.best = pos.last, pos.best_cm = pos.last_cm, pos.best_epoch = cfg->epochs - 1;
        if (saved == 0) saved = write_result(cfg, opt, &jm, &pos, time_now() - t_start, err);
    }
    if (lead_write_agreed(g, saved, "model.safetensors and result.json", err) != 0) goto done;
    if (lead) {
        log_info("done: best WAR %.2f UAR %.2f (epoch %d), last WAR %.2f UAR %.2f; results in %s", pos.best.war,
                 pos.best.uar, pos.best_epoch + 1, pos.last.war, pos.last.uar, opt->out_dir);
#ifdef DFER_WITH_CUDA
        DferGemmStats gs;
        if (dfer_cuda_gemm_stats(jm.ops, &gs) == 0)
            log_info("cuBLASLt plans: %d held, %lld built, %lld recycled%s; %lld split K, %lld BF16 problems asked "
                     "again without the fp32-reduction mask",
                     gs.held, gs.built, gs.recycled,
                     gs.recycled ? " (the cache thrashes: raise GEMM_CACHE_SIZE in kernels/gemm.cu)" : "", gs.split_k,
                     gs.mask_retries);
#endif
    }
    status = 0;
done:
    free(ids);
    loader_destroy(tl);
    loader_destroy(el);
    if (optim.ps) optimizer_free(&optim);
    job_model_free(&jm);
    dataset_free(&train);
    dataset_free(&test);
    return status;
}

/* train_job under the watchdog (core/watchdog.h): a rank that stops making progress says where it waits
 * and ends, instead of holding its allocation until the time limit. */
int train_run(const Config *cfg, const TrainOptions *opt, Group *g, Err *err) {
    if (config_validate(cfg, err) != 0) return -1;
    char what[4200];
    snprintf(what, sizeof what, "training %s into %s", cfg->method, opt->out_dir);
    char record[4200];
    path_in(record, sizeof record, opt->out_dir, RUN_HANGS_FILE);
    /* the message's defaults are this: train.hang_minutes, steps, resume from the checkpoint */
    WatchdogSpec spec = {.floor_seconds = cfg->hang_minutes * 60.0, .what = what, .record_path = record};
    CHECK(watchdog_start(&spec) == 0, "a watchdog already runs in this process");
    int rc = train_job(cfg, opt, g, err);
    watchdog_stop();
    return rc;
}

static int eval_job(const char *run_dir, const Config *run_cfg, const char *eval_dataset, const char *eval_root, Group *g,
                    Err *err) {
    char path[4096];
    Config cfg = *run_cfg;
    if (eval_dataset) snprintf(cfg.dataset, sizeof cfg.dataset, "%s", eval_dataset);
    if (eval_root) snprintf(cfg.root, sizeof cfg.root, "%s", eval_root);
    Dataset test;
    if (open_split(&cfg, SPLIT_TEST, &test, err) != 0) return -1;
    JobModel jm;
    if (job_model_load_run(run_dir, &cfg, test.num_classes, NULL, 0, &jm, path, sizeof path, err) != 0) {
        dataset_free(&test);
        return -1;
    }
    int rc = -1;
    Loader *el = NULL;
    char landmarks[CFG_STR + 64];
    LoaderConfig ec = run_loader_config(&cfg, &jm, g, 0, landmarks, sizeof landmarks);
    /* on CUDA, evaluation batches in micro-batches that fit train.gpu_mem */
    MemoryPlan plan;
    if (plan_apply_inference(&cfg, test.num_classes, NULL, (ec.global_batch + g->size - 1) / g->size, &jm, &plan, err) != 0)
        goto out;
    log_memory_plan(&plan, g, "evaluation batch");
    if (job_model_check_dataset(&jm, &test, err) != 0) goto out;
    if (loader_create(&test, &ec, &el, err) != 0) goto out;
    Confusion cm;
    double loss;
    if (evaluate(&jm, el, &test, g, 0, "evaluation", &cm, &loss, err) != 0) goto out;
    Scores s;
    scores_compute(&cm, &s);
    if (g->rank == 0) {
        char order[512];
        printf("%s on %s test split (%lld clips; classes: %s)\nUAR %.2f  WAR %.2f\n", path, cfg.dataset,
               (long long)s.total, class_order_text(test.num_classes, order, sizeof order), s.uar, s.war);
        for (int c = 0; c < test.num_classes; c++)
            if (s.support[c]) printf("  %-15s recall %6.2f  (%lld clips)\n", k_class_names[c], s.recall[c], (long long)s.support[c]);
    }
    rc = 0;
out:
    loader_destroy(el);
    job_model_free(&jm);
    dataset_free(&test);
    return rc;
}

/* eval_job under the watchdog, with the run's train.hang_minutes: a loader stuck on a file (a dead network
 * mount) or a frozen rank ends `dfer eval` with status 4 saying where it waited, instead of never. It
 * writes nothing into the run's folder. */
int eval_run(const char *run_dir, const Config *run_cfg, const char *eval_dataset, const char *eval_root, Group *g,
             Err *err) {
    char what[4200];
    snprintf(what, sizeof what, "evaluating %s", run_dir);
    WatchdogSpec spec = {.floor_seconds = run_cfg->hang_minutes * 60.0, .what = what,
                         .limit_setting = "train.hang_minutes (in the run's config.ini)",
                         .gap_name = "two evaluation batches",
                         .how_to_continue = "running dfer eval again starts the evaluation over"};
    CHECK(watchdog_start(&spec) == 0, "a watchdog already runs in this process");
    int rc = eval_job(run_dir, run_cfg, eval_dataset, eval_root, g, err);
    watchdog_stop();
    return rc;
}
