/* Reading a matrix's results for the tables: every <job>/result.json of a results folder, and jobs.json (the
 * expanded matrix) so that jobs that have not finished show as missing rather than vanish. */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/json_file.h"
#include "train/config.h"
#include "train/table_results.h"

/* A whole number of int's range at key into *value (absent: fallback); -1 when it is there but not one: the cast
 * of 1e300 (or of 1e999, read as infinity) to int is undefined, and a fold of 1.5 is no fold. */
static int json_whole_int(const cJSON *o, const char *key, int fallback, int *value) {
    long long v;
    int rc = json_get_whole(o, key, INT_MIN, INT_MAX, fallback, &v);
    *value = (int)v;
    return rc;
}

/* Returns the key of a number that is not a whole int ("fold", "seed"), else NULL. */
static const char *fill_identity(Result *r, const cJSON *o) {
    const char *variant = json_get_string(o, "variant", ""), *arm = json_get_string(o, "arm", "");
    const char *ablation = json_get_string(o, "ablation", "");
    char base[104];
    snprintf(base, sizeof base, "%.63s%s%.31s%s", json_get_string(o, "method", ""), variant[0] ? " (" : "", variant,
             variant[0] ? ")" : "");
    snprintf(r->key, sizeof r->key, "%s%s%.*s%s", base, ablation[0] ? " [" : "", RESULT_METHOD_BYTES - 108, ablation,
             ablation[0] ? "]" : "");
    if (arm[0]) snprintf(r->method, sizeof r->method, "%s [%.63s]", base, arm);
    else snprintf(r->method, sizeof r->method, "%s", r->key);
    snprintf(r->backbone, sizeof r->backbone, "%s", json_get_string(o, "backbone", ""));
    snprintf(r->dataset, sizeof r->dataset, "%s", json_get_string(o, "dataset", ""));
    snprintf(r->eval_dataset, sizeof r->eval_dataset, "%s", json_get_string(o, "eval_dataset", ""));
    if (!r->eval_dataset[0]) snprintf(r->eval_dataset, sizeof r->eval_dataset, "%s", r->dataset);
    snprintf(r->setting, sizeof r->setting, "%s", json_get_string(o, "setting", ""));
    /* result.json: what the training paired the clips with; jobs.json: the kind a zero-shot setting names
     * (zeroshot:A->B/CAPTIONS), absent where it names none */
    snprintf(r->captions, sizeof r->captions, "%s", json_get_string(o, "captions", ""));
    if (json_whole_int(o, "fold", 0, &r->fold) != 0) return "fold";
    if (json_whole_int(o, "seed", 0, &r->seed) != 0) return "seed";
    const cJSON *folds = cJSON_GetObjectItemCaseSensitive(o, "eval_folds"), *f;
    size_t used = 0;
    r->eval_folds[0] = '\0';
    cJSON_ArrayForEach(f, folds) {
        int w = cJSON_IsNumber(f)
                    ? snprintf(r->eval_folds + used, sizeof r->eval_folds - used, "%s%d", used ? ", " : "", f->valueint)
                    : 0;
        if (w < 0 || used + (size_t)w >= sizeof r->eval_folds) break; /* at most 5 folds: never */
        used += (size_t)w;
    }
    return NULL;
}

int score_is_percent(double v) { return v >= 0 && v <= 100; /* NaN fails both; infinity the second */ }

double result_recall_read(const cJSON *best_confusion, int k, double v) {
    if (v != RECALL_NO_CLIPS || !cJSON_IsArray(best_confusion)) return v;
    const cJSON *row;
    cJSON_ArrayForEach(row, best_confusion) {
        const cJSON *count = cJSON_GetArrayItem(row, k);
        if (cJSON_IsNumber(count) && count->valuedouble > 0) return 0; /* predicted: one of the UAR's classes */
    }
    return v;
}

static int push(Result **arr, int *n, const Result *r) {
    *arr = xrealloc(*arr, (size_t)(*n + 1) * sizeof **arr);
    (*arr)[(*n)++] = *r;
    return 0;
}

ResultSet *results_new(void) { return xcalloc(1, sizeof(ResultSet)); }

void results_add_expected(ResultSet *rs, const cJSON *jobs, const char *path) {
    const cJSON *o;
    int index = 0;
    rs->job_list = 1;
    cJSON_ArrayForEach(o, jobs) {
        index++;
        Result r;
        memset(&r, 0, sizeof r);
        const char *bad = fill_identity(&r, o);
        const char *id = json_get_string(o, "job", "");
        if (bad) { /* a damaged entry: its job is neither expected nor listed, and a note says so */
            char note[sizeof *rs->unreadable];
            snprintf(note, sizeof note, "%s: job %d (%.200s): \"%s\" is %g, not a whole number in int's range", path,
                     index, id, bad, json_get_number(o, bad, NAN));
            LIST_ADD(rs->unreadable, rs->n_unreadable, note);
            continue;
        }
        snprintf(r.id, sizeof r.id, "%s", id); /* its result, once done, is the folder of that name */
        push(&rs->expected, &rs->n_expected, &r);
        if (!id[0]) continue;
        LIST_ADD(rs->job_ids, rs->n_job_ids, id);
    }
}

const char *results_expected_captions(const ResultSet *rs, const Result *e) {
    if (e->captions[0] || !e->id[0]) return e->captions;
    for (int k = 0; k < rs->n_done; k++)
        if (!strcmp(rs->done[k].id, e->id)) return rs->done[k].captions;
    return "";
}

/* Whether the results of folder `name` belong to the matrix: every folder without a jobs.json. */
static int job_listed(const ResultSet *rs, const char *name) {
    if (!rs->n_job_ids) return 1;
    for (int i = 0; i < rs->n_job_ids; i++)
        if (!strcmp(rs->job_ids[i], name)) return 1;
    return 0;
}

/* Whether two results are of one job: the same method and variant, datasets, setting, fold, seed, backbone, kind
 * of captions and zero-shot folds. */
static int same_job(const Result *a, const Result *b) {
    return !strcmp(a->method, b->method) && !strcmp(a->backbone, b->backbone) && !strcmp(a->dataset, b->dataset) &&
           !strcmp(a->eval_dataset, b->eval_dataset) && !strcmp(a->setting, b->setting) && a->fold == b->fold &&
           a->seed == b->seed && !strcmp(a->captions, b->captions) && !strcmp(a->eval_folds, b->eval_folds);
}

int results_add(ResultSet *rs, const cJSON *o, const char *path, Err *err) {
    Result r;
    memset(&r, 0, sizeof r);
    const char *bad = fill_identity(&r, o);
    if (bad)
        return err_set(err, "%s: \"%s\" is %g, not a whole number in int's range", path, bad,
                       json_get_number(o, bad, NAN));
    const char *status = json_get_string(o, "status", "");
    /* dfer writes "done" or "failed": another status (a hand-edited or foreign file) is no result, left out with a
     * note as dfer report leaves it out of its counts (it was counted as finished here) */
    if (strcmp(status, "done") && strcmp(status, "failed"))
        return err_set(err, "%s: \"status\" is \"%.40s\", not \"done\" or \"failed\"", path, status);
    r.failed = !strcmp(status, "failed");
    r.finished = !r.failed;
    r.uar = json_get_number(o, "uar", NAN);
    r.war = json_get_number(o, "war", NAN);
    snprintf(r.arch, sizeof r.arch, "%s", json_get_string(o, "clip_arch", ""));
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(o, "inputs");
    snprintf(r.weights_sha, sizeof r.weights_sha, "%s",
             json_get_string(cJSON_GetObjectItemCaseSensitive(inputs, "weights"), "sha256", ""));
    snprintf(r.commit, sizeof r.commit, "%s", json_get_string(o, "commit", ""));
    const char *slash = strrchr(path, '/'), *start = path;
    for (const char *p = path; slash && p < slash; p++)
        if (*p == '/') start = p + 1; /* the folder that holds result.json */
    snprintf(r.id, sizeof r.id, "%.*s", slash ? (int)(slash - start) : (int)strlen(path), start);
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(o, "classes");
    const cJSON *recall = cJSON_GetObjectItemCaseSensitive(o, "recall");
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, classes) {
        if (i < MAX_CLASSES && cJSON_IsString(it)) snprintf(r.classes[i++], sizeof r.classes[0], "%s", it->valuestring);
    }
    r.n_classes = i;
    for (int k = 0; k < MAX_CLASSES; k++) r.recall[k] = NAN; /* a class a result does not list has no value */
    i = 0;
    const cJSON *best_confusion = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "best"),
                                                                   "confusion");
    cJSON_ArrayForEach(it, recall) {
        if (i >= MAX_CLASSES) break;
        double v = cJSON_IsNumber(it) ? result_recall_read(best_confusion, i, it->valuedouble) : NAN;
        if (r.finished && cJSON_IsNumber(it) && v != RECALL_NO_CLIPS && !score_is_percent(v))
            return err_set(err, "%s: \"recall\"[%d] is %g, " SCORE_RANGE_TEXT " (nor -1: no test clip, never "
                           "predicted)", path, i, v);
        r.recall[i++] = v == RECALL_NO_CLIPS ? NAN : v;
    }
    if (r.finished && (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "uar")) ||
                       !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "war"))))
        return err_set(err, "%s: a finished result needs numeric uar and war", path);
    /* a damaged score leaves the whole result out (with a note), as a missing one does: its cell would average a
     * score that is none, and the job shows as missing rather than as a number no run can have */
    if (r.finished && !score_is_percent(r.uar))
        return err_set(err, "%s: \"uar\" is %g, " SCORE_RANGE_TEXT, path, r.uar);
    if (r.finished && !score_is_percent(r.war))
        return err_set(err, "%s: \"war\" is %g, " SCORE_RANGE_TEXT, path, r.war);
    /* the same job twice (a copied job folder, where no jobs.json says which folders count) would count twice in
     * its cells: the first folder (in name order) counts, the others are named in a note */
    for (int k = 0; k < rs->n_done; k++)
        if (same_job(&rs->done[k], &r)) {
            char text[sizeof *rs->repeated];
            snprintf(text, sizeof text, "%s (the job of %s)", r.id, rs->done[k].id);
            LIST_ADD(rs->repeated, rs->n_repeated, text);
            return 0;
        }
    /* a zero-shot job's score over several folds' test splits left out a fold none of whose clips could be read
     * (result.json's best.folds_scored, since 2026-12-07): counted, and said in a note */
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(o, "best");
    int folds = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(best, "folds"));
    double scored = json_get_number(best, "folds_scored", NAN);
    if (r.finished && folds > 1 && isfinite(scored) && scored < folds) {
        char text[sizeof *rs->partial];
        snprintf(text, sizeof text, "%.*s (%.0f of %d folds)", RESULT_ID_BYTES - 1, r.id, scored, folds);
        LIST_ADD(rs->partial, rs->n_partial, text);
    }
    return push(&rs->done, &rs->n_done, &r);
}

void results_add_folder(ResultSet *rs, const char *name, const cJSON *result, const char *path,
                        const char *read_error) {
    Err one;
    if (!job_listed(rs, name)) LIST_ADD(rs->left_out, rs->n_left_out, name);
    else if (read_error) LIST_ADD(rs->unreadable, rs->n_unreadable, read_error);
    else if (results_add(rs, result, path, &one) != 0) /* one bad file does not hide every table: a note says it */
        LIST_ADD(rs->unreadable, rs->n_unreadable, one.msg);
}

/* What job `name` of results folder dir changed of the paper's model, into o's "ablation" where o has none: files
 * written before 2026-12-08 record it only where there is one, and those before 2026-12-07 never, so that a folder of
 * older "negative = less" (or DFER-CLIP "contexts = 4") jobs read as the paper's model. The job's config.ini (what
 * it trained) says; one that cannot be read leaves o as it is, and a note names it. read: the folders whose
 * config.ini was read (name: its ablation, or null where it did not load), so that a job's jobs.json entry and its
 * result.json read it once. */
static void ablation_from_job_config(ResultSet *rs, cJSON *read, cJSON *o, const char *dir, const char *name) {
    const char *method = json_get_string(o, "method", "");
    if (!cJSON_IsObject(o) || cJSON_GetObjectItemCaseSensitive(o, "ablation") || !name[0] ||
        (strcmp(method, "finecliper") && strcmp(method, "dfer_clip")))
        return; /* config_ablation names these two methods' ablations */
    const cJSON *known = cJSON_GetObjectItemCaseSensitive(read, name);
    if (!known) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/config.ini", dir, name);
        if (!fs_exists(path)) return; /* a job not started: its result, once written, records it */
        Config cfg;
        Err err;
        config_defaults(&cfg);
        if (config_load_file(&cfg, path, &err) != 0) {
            LIST_ADD(rs->unknown_ablation, rs->n_unknown_ablation, name);
            known = cJSON_AddNullToObject(read, name);
        } else {
            char ablation[CONFIG_ABLATION_BYTES];
            config_ablation(&cfg, ablation, sizeof ablation);
            known = cJSON_AddStringToObject(read, name, ablation);
        }
    }
    if (cJSON_IsString(known)) cJSON_AddStringToObject(o, "ablation", known->valuestring);
}

int results_load(const char *dir, ResultSet **out, Err *err) {
    ResultSet *rs = results_new();
    cJSON *read = cJSON_CreateObject(); /* the config.ini files ablation_from_job_config read */
    char path[4096];
    snprintf(path, sizeof path, "%s/jobs.json", dir);
    if (fs_exists(path)) {
        cJSON *arr;
        if (json_read_file(path, &arr, err) != 0) goto fail;
        if (!cJSON_IsArray(arr)) {
            cJSON_Delete(arr);
            err_set(err, "%s: expected a JSON array of jobs", path);
            goto fail;
        }
        cJSON *job;
        cJSON_ArrayForEach(job, arr) ablation_from_job_config(rs, read, job, dir, json_get_string(job, "job", ""));
        results_add_expected(rs, arr, path);
        cJSON_Delete(arr);
    }
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort); /* sorted: the same tables whatever readdir's order */
    if (n < 0) {
        err_set(err, "%s: cannot read the results directory: %s", dir, strerror(errno));
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        snprintf(path, sizeof path, "%s/%s/result.json", dir, name);
        if (name[0] != '.' && fs_exists(path)) {
            cJSON *o = NULL;
            Err read_err;
            int unread = job_listed(rs, name) && json_read_file(path, &o, &read_err) != 0;
            if (!unread) ablation_from_job_config(rs, read, o, dir, name);
            results_add_folder(rs, name, o, path, unread ? read_err.msg : NULL);
            cJSON_Delete(o);
        }
        free(names[i]);
    }
    free(names);
    if (!rs->n_done && !rs->n_expected) {
        if (rs->n_unreadable) err_set(err, "%s", rs->unreadable[0]); /* nothing else to show: the reason is the error */
        else err_set(err, "%s: no result.json in any job directory and no jobs.json", dir);
        goto fail;
    }
    cJSON_Delete(read);
    *out = rs;
    return 0;
fail:
    cJSON_Delete(read);
    results_free(rs);
    return -1;
}

int results_counted(const ResultSet *rs, const char *folder) {
    for (int i = 0; i < rs->n_done; i++)
        if (!strcmp(rs->done[i].id, folder)) return 1;
    return 0;
}

void results_free(ResultSet *rs) {
    if (!rs) return;
    free(rs->done);
    free(rs->expected);
    free(rs->job_ids);
    free(rs->left_out);
    free(rs->partial);
    free(rs->repeated);
    free(rs->unreadable);
    free(rs->unknown_ablation);
    free(rs);
}

int results_count(const ResultSet *rs, int *finished, int *failed, int *expected) {
    *finished = *failed = 0;
    for (int i = 0; i < rs->n_done; i++) rs->done[i].failed ? (*failed)++ : (*finished)++;
    *expected = rs->n_expected;
    return rs->n_done;
}
