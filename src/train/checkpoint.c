#include "train/checkpoint.h"

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/watchdog.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "train/trainer_internal.h"

/* The best and last evaluations' confusion matrices [C,C] (I64) travel in the checkpoint, so a resumed run
 * reports what an uninterrupted one would. */
static const char *const k_confusion_names[2] = {"metrics.best_confusion", "metrics.last_confusion"};

/* What a file of the run will hold: host tensors (the map's data), and device tensors (parameters, optimiser state)
 * that the writer downloads a piece at a time (safetensors_write_from), so that saving never holds a host copy of
 * the whole trainable state (for a fine-tuned L/14 DFER-CLIP with AdamW, `dfer plan`'s 1.150 GiB of parameters and
 * 2.300 of optimiser state). */
typedef struct SaveMap {
    TensorMap map;
    Ops *ops;
    const void **device; /* [cap]: the device data of map.items[i], NULL for a host tensor */
    int cap;
} SaveMap;

static void save_map_init(SaveMap *s, Ops *ops, const char *path) {
    memset(s, 0, sizeof *s);
    tmap_init(&s->map, path);
    s->ops = ops;
}

static void save_map_free(SaveMap *s) {
    tmap_free(&s->map);
    free(s->device);
}

/* A device tensor under `name`: its shape now, its values when written. */
static int save_map_add_device(SaveMap *s, const char *name, Tensor t, Err *err) {
    if (tmap_add(&s->map, name, t.dtype, t.ndim, t.shape, NULL, 0, err) != 0) return -1;
    if (s->map.count > s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        while (cap < s->map.count) cap *= 2;
        s->device = xrealloc(s->device, (size_t)cap * sizeof *s->device);
        memset(s->device + s->cap, 0, (size_t)(cap - s->cap) * sizeof *s->device);
        s->cap = cap;
    }
    s->device[s->map.count - 1] = t.data;
    return 0;
}

static int download_piece(void *ctx, int index, size_t offset, void *dst, size_t n, Err *err) {
    const SaveMap *s = ctx;
    if (index >= s->cap || !s->device[index])
        return err_set(err, "tensor %s has neither host nor device values", s->map.items[index].name);
    ops_download(s->ops, dst, (const char *)s->device[index] + offset, n);
    return 0;
}

static int save_map_write(SaveMap *s, const char *path, const char *const *metadata, Err *err) {
    return safetensors_write_from(path, &s->map, metadata, download_piece, s, err);
}

/* jm's trainable parameters, named prefix + name. */
static int add_params(SaveMap *s, const JobModel *jm, const char *prefix, Err *err) {
    char name[512];
    for (int i = 0; i < jm->params->count; i++) {
        const ParamEntry *e = paramset_get(jm->params, i);
        snprintf(name, sizeof name, "%s%s", prefix, e->name);
        if (save_map_add_device(s, name, e->value, err) != 0) return -1;
    }
    return 0;
}

int save_params(const JobModel *jm, const char *path, Err *err) {
    watchdog_mark("writing %s", path);
    SaveMap s;
    save_map_init(&s, jm->ops, path);
    int rc = add_params(&s, jm, "", err);
    if (rc == 0) rc = save_map_write(&s, path, (const char *[]){"format", "dfer", "method", jm->method, NULL}, err);
    save_map_free(&s);
    return rc;
}

/* An evaluation of several folds' test splits (train/metrics.h): NAME.folds [parts] and NAME.parts
 * [parts, classes, classes] beside the summed matrix NAME. */
static int add_confusion_parts(TensorMap *m, const char *name, const Confusion *cm, Err *err) {
    int P = cm->parts, C = cm->classes;
    int64_t folds[METRICS_MAX_PARTS], *counts = xmalloc((size_t)P * C * C * sizeof *counts);
    for (int p = 0; p < P; p++) {
        folds[p] = cm->part_fold[p];
        memcpy(counts + (size_t)p * C * C, cm->part_counts[p], (size_t)C * C * sizeof *counts);
    }
    char key[128];
    int64_t fold_shape[1] = {P}, shape[3] = {P, C, C};
    snprintf(key, sizeof key, "%s.folds", name);
    int rc = tmap_add(m, key, DT_I64, 1, fold_shape, folds, 1, err);
    snprintf(key, sizeof key, "%s.parts", name);
    if (rc == 0) rc = tmap_add(m, key, DT_I64, 3, shape, counts, 1, err);
    free(counts);
    return rc;
}

/* Reads NAME.folds and NAME.parts back into cm, where the checkpoint has them. */
static int read_confusion_parts(const TensorMap *m, const char *path, const char *name, Confusion *cm, Err *err) {
    char key[128], parts_key[128];
    snprintf(key, sizeof key, "%s.folds", name);
    snprintf(parts_key, sizeof parts_key, "%s.parts", name);
    const TensorEntry *f = tmap_find(m, key), *t = tmap_find(m, parts_key);
    if (!f && !t) return 0;
    int C = cm->classes;
    int64_t P = f && f->ndim == 1 ? f->shape[0] : 0;
    if (!f || !t || f->dtype != DT_I64 || t->dtype != DT_I64 || P < 2 || P > METRICS_MAX_PARTS || t->ndim != 3 ||
        t->shape[0] != P || t->shape[1] != C || t->shape[2] != C)
        return err_set(err, "%s: %s and %s are not the folds [P] and confusion matrices [P, %d, %d] (I64, P 2..%d) of "
                            "an evaluation of several folds", path, key, parts_key, C, C, METRICS_MAX_PARTS);
    const int64_t *folds = (const int64_t *)f->data, *counts = (const int64_t *)t->data;
    cm->parts = (int)P;
    for (int p = 0; p < P; p++) {
        cm->part_fold[p] = (int)folds[p];
        memcpy(cm->part_counts[p], counts + (size_t)p * C * C, (size_t)C * C * sizeof *counts);
    }
    return 0;
}

/* The checkpoint before the one being written stays as CHECKPOINT_PREVIOUS, a hard link to the file (no copy, no
 * space beyond the one the new file's atomic rename frees), so that a resume finding the newest one damaged goes on
 * from it (load_checkpoint). Made once the write guard allows writes into the folder (a run that lost it replaces
 * nothing), in one rename. The file is read back first (safetensors_verify: from the disk where the system lets
 * its cached pages go, its digest checked; one pass over a file the size of the trainable state, once a checkpoint,
 * in 8 MiB pieces: no second copy of the state beside the host copy the write is about to make into the file):
 * one that went bad since it was written, or that the disk cannot deliver, is not kept, the previous one stays, so
 * that a resume still has a whole checkpoint to go back to. A file system without hard links keeps none, said once
 * a folder. */
static void keep_previous_checkpoint(const char *dir, const char *path) {
    static char warned_dir[4096];
    char previous[4096];
    run_file_path(previous, sizeof previous, dir, CHECKPOINT_PREVIOUS);
    if (!fs_exists(path)) return;
    int damaged = 0;
    Err read_err;
    if (safetensors_verify(path, &damaged, &read_err) != 0 && damaged) {
        log_warn("%s; it does not become %s, which stays as it was", read_err.msg, previous);
        return;
    } /* (one that could not be judged now, for memory or open files, is kept all the same) */
    Err link_err;
    if (fs_link_atomic(path, previous, &link_err) == 0 || !strcmp(warned_dir, dir)) return;
    snprintf(warned_dir, sizeof warned_dir, "%s", dir);
    log_warn("%s; a checkpoint damaged on disk will have no earlier one to resume from", link_err.msg);
}

int save_checkpoint(const char *dir, const JobModel *jm, const Optimizer *opt, const Position *pos, Err *err) {
    char path[4096];
    run_file_path(path, sizeof path, dir, "checkpoint.safetensors");
    watchdog_mark("writing %s", path);
    SaveMap s;
    save_map_init(&s, jm->ops, path);
    TensorMap *m = &s.map;
    int rc = add_params(&s, jm, "param.", err);
    for (int which = 0; which < 2 && rc == 0; which++) {
        Tensor all = optimizer_state(opt, which);
        if (!all.data) continue;
        char name[64];
        snprintf(name, sizeof name, "optimizer.state%d", which + 1);
        rc = save_map_add_device(&s, name, all, err);
    }
    const Confusion *cms[2] = {pos->has_best ? &pos->best_cm : NULL, pos->has_last ? &pos->last_cm : NULL};
    for (int k = 0; k < 2 && rc == 0; k++) {
        if (!cms[k]) continue;
        int64_t shape[2] = {cms[k]->classes, cms[k]->classes};
        rc = tmap_add(m, k_confusion_names[k], DT_I64, 2, shape, cms[k]->counts, 1, err);
        if (rc == 0 && cms[k]->parts) rc = add_confusion_parts(m, k_confusion_names[k], cms[k], err);
    }
    /* the log's length now: a resume from here drops the lines of steps made after it (they are made again) */
    char metrics[4096];
    struct stat st;
    run_file_path(metrics, sizeof metrics, dir, "metrics.jsonl");
    long long metrics_bytes = stat(metrics, &st) == 0 ? (long long)st.st_size : 0;
    /* a window holding a skipped step (train.nonfinite = skip) sums to NaN or Inf, and "%g" prints them as nan/inf,
     * which is no JSON: the checkpoint's position could not be read back and the run could not resume; null is
     * read back as NaN, so the resumed window logs the null the uninterrupted run logs */
    char window_loss[32];
    if (isfinite(pos->window_loss)) snprintf(window_loss, sizeof window_loss, "%.17g", pos->window_loss);
    else snprintf(window_loss, sizeof window_loss, "null");
    char meta_json[4096]; /* the position with its inputs (up to 2047 bytes) */
    snprintf(meta_json, sizeof meta_json,
             "{\"epoch\":%d,\"step\":%d,\"optimizer_steps\":%d,\"best_war\":%.17g,\"best_uar\":%.17g,\"best_epoch\":%d,"
             "\"metrics_bytes\":%lld,\"window_loss\":%s,\"window_steps\":%d,\"seconds\":%.3f%s%s}",
             pos->epoch, pos->step, pos->opt_steps, pos->best_war, pos->best_uar, pos->best_epoch, metrics_bytes,
             window_loss, pos->window_steps, pos->seconds, pos->inputs[0] ? ",\"inputs\":" : "", pos->inputs);
    if (rc == 0) keep_previous_checkpoint(dir, path);
    if (rc == 0)
        rc = save_map_write(&s, path, (const char *[]){"format", "dfer-checkpoint", "position", meta_json, NULL}, err);
    save_map_free(&s);
    return rc;
}

/* A whole number of a checkpoint's training position: its key, range, and value when absent (NAN: required). */
typedef struct WholeField {
    const char *key;
    double lowest, highest, absent;
} WholeField;

/* 2^53: every whole number up to it is a double exactly, and fits a long long. */
#define DOUBLE_EXACT_INTEGERS 9007199254740992.0

/* Reads f's number from the position o of the checkpoint at path into out, refusing anything but a whole number in
 * f's range (a null, a string, a fraction, a value a cast would overflow). */
static int position_whole(const cJSON *o, const char *path, const WholeField *f, double *out, Err *err) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, f->key);
    if (!item && !isnan(f->absent)) {
        *out = f->absent;
        return 0;
    }
    if (!cJSON_IsNumber(item))
        return err_set(err, "%s: the training position in the metadata has no number \"%s\"", path, f->key);
    double v = item->valuedouble;
    if (!(v >= f->lowest && v <= f->highest && v == floor(v)))
        return err_set(err, "%s: the training position's \"%s\" in the metadata is %.17g, not a whole number in "
                            "%.0f..%.0f (a damaged or edited checkpoint)",
                       path, f->key, v, f->lowest, f->highest);
    *out = v;
    return 0;
}

/* -2: the file is damaged (read, but not whole: its digest, its structure); -1: any other failure. */
static int load_checkpoint_file(const char *path, JobModel *jm, Optimizer *opt, Position *pos, Err *err) {
    TensorMap m;
    int damaged;
    if (safetensors_read_or_damaged(path, &m, &damaged, err) != 0) return damaged ? -2 : -1;
    int rc = 0;
    char name[512];
    for (int i = 0; i < jm->params->count && rc == 0; i++) {
        const ParamEntry *e = paramset_get(jm->params, i);
        snprintf(name, sizeof name, "param.%s", e->name);
        const TensorEntry *t = tmap_find_as(&m, name, &e->value, "another architecture or dtype?", err);
        if (!t) rc = -1;
        else ops_upload(jm->ops, e->value.data, t->data, t->nbytes);
    }
    /* only AdamW keeps second moments: resumed as SGD (--allow-config-change), Adam's first moments would have
     * been read as the momentum buffer */
    if (rc == 0 && !optimizer_state(opt, 1).data && tmap_find(&m, "optimizer.state2"))
        rc = err_set(err,
                     "%s: written by AdamW (it holds optimizer.state2, the second moments), but optim.optimizer is "
                     "now sgd: Adam's moments cannot stand for SGD's momentum; resume with adamw or train anew",
                     path);
    for (int which = 0; which < 2 && rc == 0; which++) {
        Tensor all = optimizer_state(opt, which);
        if (!all.data) continue;
        snprintf(name, sizeof name, "optimizer.state%d", which + 1);
        const TensorEntry *t = tmap_find_as(&m, name, &all, "another architecture or optimiser?", err);
        if (!t) rc = -1;
        else ops_upload(jm->ops, all.data, t->data, t->nbytes);
    }
    const char *meta = safetensors_metadata(&m, "position");
    cJSON *o = meta ? cJSON_Parse(meta) : NULL;
    if (rc == 0 && !o)
        rc = meta ? err_set(err, "%s: the training position in the metadata is not a JSON object (a damaged or "
                                 "hand-edited checkpoint): %.60s", path, meta)
                  : err_set(err, "%s: no training position in the metadata", path);
    /* counters, not measures: a hand-edited or damaged checkpoint's negative, fractional or huge value is refused
     * here (a double cast to int or long long out of range is undefined; a wrong metrics_bytes cuts metrics.jsonl at
     * the wrong length on resume) rather than resumed at. best_epoch is -1 before the first evaluation; metrics_bytes
     * -1 when the log's length is unknown. */
    static const WholeField wholes[] = {
        {"epoch", 0, INT_MAX, NAN},
        {"step", 0, INT_MAX, NAN},
        {"optimizer_steps", 0, INT_MAX, NAN},
        {"best_epoch", -1, INT_MAX, NAN},
        {"metrics_bytes", -1, DOUBLE_EXACT_INTEGERS, -1}, /* absent from checkpoints before it was kept */
        {"window_steps", 0, INT_MAX, 0},                  /* absent from older ones: the window restarts */
    };
    double whole[6];
    for (int k = 0; k < 6 && rc == 0; k++) rc = position_whole(o, path, &wholes[k], &whole[k], err);
    double best_war = NAN, best_uar = NAN;
    if (rc == 0 && !isfinite(best_war = json_get_number(o, "best_war", NAN)))
        rc = err_set(err, "%s: the training position in the metadata has no number \"best_war\"", path);
    if (rc == 0 && !isfinite(best_uar = json_get_number(o, "best_uar", NAN)))
        rc = err_set(err, "%s: the training position in the metadata has no number \"best_uar\"", path);
    if (rc == 0 && whole[3] > whole[0]) /* the best epoch is one evaluated: not after the epoch the position is in */
        rc = err_set(err, "%s: the training position's best_epoch %.0f is after its epoch %.0f (counted from 0): a "
                          "damaged or hand-edited position", path, whole[3], whole[0]);
    if (rc == 0) {
        pos->epoch = (int)whole[0], pos->step = (int)whole[1], pos->opt_steps = (int)whole[2];
        pos->best_war = best_war, pos->best_uar = best_uar, pos->best_epoch = (int)whole[3];
        opt->step = pos->opt_steps;
        pos->metrics_bytes = (long long)whole[4];
        pos->window_steps = (int)whole[5];
        /* absent from older checkpoints: the window restarts, the inputs go unchecked */
        double wl = json_get_number(o, "window_loss", 0);
        pos->window_loss = isfinite(wl) ? wl : 0;
        if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "window_loss"))) pos->window_loss = NAN; /* see save */
        double secs = json_get_number(o, "seconds", 0);
        pos->seconds = isfinite(secs) && secs > 0 ? secs : 0;
        const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(o, "inputs");
        char *text = cJSON_IsObject(inputs) ? cJSON_PrintUnformatted(inputs) : NULL;
        snprintf(pos->inputs, sizeof pos->inputs, "%s", text && strlen(text) < sizeof pos->inputs ? text : "");
        free(text);
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
        if ((rc = read_confusion_parts(&m, path, k_confusion_names[k], cm, err)) != 0) break;
        scores_compute(cm, k ? &pos->last : &pos->best);
        if (k) pos->has_last = 1;
        else pos->has_best = 1;
    }
    cJSON_Delete(o);
    tmap_free(&m);
    return rc;
}

int load_checkpoint(const char *dir, JobModel *jm, Optimizer *opt, Position *pos, char *fell_back, size_t fell_back_n,
                    Err *err) {
    char path[4096], previous[4096];
    run_file_path(path, sizeof path, dir, "checkpoint.safetensors");
    run_file_path(previous, sizeof previous, dir, CHECKPOINT_PREVIOUS);
    fell_back[0] = 0;
    Position start = *pos;
    int missing = !fs_exists(path), rc = missing ? -2 : load_checkpoint_file(path, jm, opt, pos, err);
    /* only a damaged or missing file: one that does not fit the model, the optimiser or the classes would not fit
     * as the previous either, and a file the system could not open or map now (no memory, too many files) is no
     * reason to go back */
    if (rc != -2) return rc;
    if (!fs_exists(previous)) return missing ? err_set(err, "%s: no checkpoint to resume from", path) : -1;
    char why[1024];
    snprintf(why, sizeof why, "%s", missing ? "it is missing" : err->msg);
    *pos = start; /* nothing was read from the damaged file: the safetensors read comes first */
    if (load_checkpoint_file(previous, jm, opt, pos, err) != 0) {
        char previous_why[1024];
        snprintf(previous_why, sizeof previous_why, "%s", err->msg);
        return err_set(err, "%s cannot be resumed from (%s), nor the checkpoint before it: %s", path, why,
                       previous_why);
    }
    snprintf(fell_back, fell_back_n, "%s", why);
    return 0;
}

int checkpoint_exists(const char *dir) {
    char path[4096], previous[4096];
    run_file_path(path, sizeof path, dir, "checkpoint.safetensors");
    run_file_path(previous, sizeof previous, dir, CHECKPOINT_PREVIOUS);
    return fs_exists(path) || fs_exists(previous);
}

void checkpoint_promote_previous(const char *dir) {
    char path[4096], previous[4096], damaged[4096];
    run_file_path(path, sizeof path, dir, "checkpoint.safetensors");
    run_file_path(previous, sizeof previous, dir, CHECKPOINT_PREVIOUS);
    run_file_path(damaged, sizeof damaged, dir, CHECKPOINT_DAMAGED);
    int aside = fs_exists(path) && rename(path, damaged) == 0;
    /* the next checkpoint links the current one as the previous: the damaged one must not be it */
    if (rename(previous, path) != 0)
        log_warn("%s: cannot rename it to %s (%s): the next checkpoint may keep the damaged one as its previous",
                 previous, path, strerror(errno));
    if (aside) log_warn("%s: the damaged checkpoint, moved aside for a look (delete it when done)", damaged);
}

/* Where a rank starts, for the message of checkpoint_agreed: {resumed, epoch, step, optimiser steps, log bytes}. */
static void start_text(const int64_t v[5], char *buf, size_t size) {
    if (!v[0]) snprintf(buf, size, "finds none and starts from the beginning");
    else snprintf(buf, size, "%sresumes at epoch %lld, step %lld (%lld optimiser steps)",
                  v[0] == 2 ? "cannot read the newest checkpoint and, from the one before it, " : "",
                  (long long)v[1] + 1, (long long)v[2], (long long)v[3]);
}

int checkpoint_agreed(Group *g, const char *dir, int resumed, int loaded, const Position *p, const char *fell_back,
                      Err *err) {
    int64_t mine[5] = {resumed, p->epoch, p->step, p->opt_steps, p->metrics_bytes}, lead[5];
    memcpy(lead, mine, sizeof lead);
    watchdog_mark("the group's agreement on where the run starts");
    group_bcast(g, lead, sizeof lead);
    int same = !memcmp(mine, lead, sizeof lead);
    if (loaded == 0 && !same) {
        char here[256], there[256];
        start_text(mine, here, sizeof here);
        start_text(lead, there, sizeof there);
        err_set(err, "%s: the ranks of the group do not see the same checkpoint.safetensors: rank %d %s, rank 0 %s (a "
                     "network file system that has not caught up on one node?)%s%s",
                dir, g->rank, here, there, fell_back[0] ? "; what this rank found: " : "", fell_back);
    }
    /* a rank that read it and agrees learns why another could not, to record it (rank 0: result.json) */
    if (group_all_ok_why(g, loaded == 0 && same, err)) return 0;
    if (loaded == 0 && same) return err_prefix(err, "the group cannot resume from %s/checkpoint.safetensors: ", dir);
    return -1;
}
