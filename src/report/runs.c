#include "report/runs.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "io/json_file.h"
#include "report/svg.h"
#include "train/table.h"

/* ---- numbers in their range -------------------------------------------------------------------- */

int run_value_ok(double v, RunValueKind kind) {
    if (kind == RUN_PERCENT || kind == RUN_RECALL) return score_is_percent(v); /* the tables' rule */
    return v >= 0 && v <= SVG_PLOTTABLE_MAX; /* NaN fails both */
}

double run_checked(const cJSON *o, const char *key, RunValueKind kind) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && run_value_ok(v->valuedouble, kind) ? v->valuedouble : NAN;
}

double run_checked_num(const Run *r, const char *key, RunValueKind kind) {
    double v = run_num(r, key, NAN);
    return run_value_ok(v, kind) ? v : NAN;
}

/* The numbers of one run out of their range, as lines of text; past MAX_VALUE_ERRORS only counted. */
#define MAX_VALUE_ERRORS 16
typedef struct ValueCheck {
    StrBuf text;
    int n;
} ValueCheck;

/* Notes the number v (a missing or non-number v is no damage: the page shows a dash) at key of path (or path:line
 * where line > 0) when it is out of kind's range. */
static void check_value(ValueCheck *vc, const cJSON *v, const char *path, int line, const char *key,
                        RunValueKind kind) {
    if (!cJSON_IsNumber(v) || run_value_ok(v->valuedouble, kind)) return;
    if (kind == RUN_RECALL && v->valuedouble == RECALL_NO_CLIPS) return;
    if (vc->n++ >= MAX_VALUE_ERRORS) return;
    char where[4200], text[4700];
    if (line > 0) snprintf(where, sizeof where, "%s:%d", path, line);
    else snprintf(where, sizeof where, "%s", path);
    snprintf(text, sizeof text, "%s: %s is %g, %s: shown as missing\n", where, key, v->valuedouble,
             kind == RUN_PERCENT  ? SCORE_RANGE_TEXT
             : kind == RUN_RECALL ? SCORE_RANGE_TEXT " (nor -1: no test clip, never predicted)"
                                  : "not a number from 0 to 1e15");
    strbuf_add(&vc->text, text, strlen(text));
}

/* Every number of result.json that the page prints, checked (report.c reads each with run_checked). */
static void check_result_values(ValueCheck *vc, const cJSON *o, const char *path) {
    char key[320];
    check_value(vc, cJSON_GetObjectItemCaseSensitive(o, "uar"), path, 0, "\"uar\"", RUN_PERCENT);
    check_value(vc, cJSON_GetObjectItemCaseSensitive(o, "war"), path, 0, "\"war\"", RUN_PERCENT);
    check_value(vc, cJSON_GetObjectItemCaseSensitive(o, "seconds"), path, 0, "\"seconds\"", RUN_AMOUNT);
    const cJSON *item;
    int i = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(o, "recall")) {
        snprintf(key, sizeof key, "\"recall\"[%d]", i++);
        check_value(vc, item, path, 0, key, RUN_RECALL);
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "trainable_parameters");
    check_value(vc, cJSON_GetObjectItemCaseSensitive(params, "total"), path, 0, "\"trainable_parameters\".\"total\"",
                RUN_AMOUNT);
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(o, "best");
    check_value(vc, cJSON_GetObjectItemCaseSensitive(best, "epoch"), path, 0, "\"best\".\"epoch\"", RUN_AMOUNT);
    static const char *const fold_keys[3] = {"uar", "war", "clips"};
    i = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(best, "folds")) {
        for (int k = 0; k < 3; k++) {
            snprintf(key, sizeof key, "\"best\".\"folds\"[%d].\"%s\"", i, fold_keys[k]);
            check_value(vc, cJSON_GetObjectItemCaseSensitive(item, fold_keys[k]), path, 0, key,
                        k < 2 ? RUN_PERCENT : RUN_AMOUNT);
        }
        i++;
    }
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(o, "inputs")) {
        snprintf(key, sizeof key, "\"inputs\".\"%.200s\".\"clips\"", item->string ? item->string : "");
        check_value(vc, cJSON_GetObjectItemCaseSensitive(item, "clips"), path, 0, key, RUN_AMOUNT);
    }
}

/* ---- learning curves from metrics.jsonl ------------------------------------------------------- */

typedef struct StepLine {
    int epoch, step, order;
    double loss;
} StepLine;

/* Sorts by (epoch, step), and for the same step by line order: a job resumed
 * from a checkpoint logs some steps again, and its last line is the one that
 * counts. */
static int cmp_step(const void *a, const void *b) {
    const StepLine *x = a, *y = b;
    if (x->epoch != y->epoch) return x->epoch < y->epoch ? -1 : 1;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static void curves_free(Curves *c) {
    free(c->epoch);
    free(c->train_loss);
    free(c->test_loss);
    free(c->uar);
    free(c->war);
    memset(c, 0, sizeof *c);
}

static void curves_grow(Curves *c, int epochs) {
    if (epochs <= c->n) return;
    double **arrays[5] = {&c->epoch, &c->train_loss, &c->test_loss, &c->uar, &c->war};
    for (int a = 0; a < 5; a++) {
        *arrays[a] = xrealloc(*arrays[a], sizeof(double) * (size_t)epochs);
        for (int i = c->n; i < epochs; i++) (*arrays[a])[i] = a == 0 ? i + 1 : NAN;
    }
    c->n = epochs;
}

/* An absent metrics.jsonl is no error (a job that failed before its first
 * step); a line that is not JSON is, naming the file and the line. */
typedef struct CurveLines {
    StepLine *steps;
    int n_steps, cap;
    Curves *c;
    const char *path; /* metrics.jsonl, for errors */
    ValueCheck *values;
} CurveLines;

static int curve_line(const cJSON *o, int line_no, void *ctx, Err *err) {
    CurveLines *cl = ctx;
    const char *type = json_get_string(o, "type", "");
    /* range checks before the casts: (int)1e300, or 1e999 read as infinity, is undefined behaviour */
    double epoch_number = json_get_number(o, "epoch", 0);
    if (!(epoch_number >= 1 && epoch_number <= 100000)) return 0; /* no epoch of a curve (NaN too) */
    int epoch = (int)epoch_number;
    if (!strcmp(type, "step")) {
        double step = json_get_number(o, "step", 0);
        if (!(step >= 0 && step <= INT_MAX)) /* the curves stop before the line, as at a line that is not JSON */
            return err_set(err, "%s:%d: \"step\" is %g, not a step number", cl->path, line_no, step);
        if (cl->n_steps == cl->cap)
            cl->steps = xrealloc(cl->steps, sizeof *cl->steps * (size_t)(cl->cap = cl->cap ? 2 * cl->cap : 256));
        cl->steps[cl->n_steps] = (StepLine){epoch, (int)step, cl->n_steps, json_get_number(o, "loss", NAN)};
        cl->n_steps++;
    } else if (!strcmp(type, "eval")) { /* the last evaluation of an epoch wins */
        curves_grow(cl->c, epoch);
        cl->c->test_loss[epoch - 1] = json_get_number(o, "loss", NAN);
        /* a score out of range is a gap in its curve, named (as result.json's are) */
        check_value(cl->values, cJSON_GetObjectItemCaseSensitive(o, "uar"), cl->path, line_no, "\"uar\"", RUN_PERCENT);
        check_value(cl->values, cJSON_GetObjectItemCaseSensitive(o, "war"), cl->path, line_no, "\"war\"", RUN_PERCENT);
        cl->c->uar[epoch - 1] = run_checked(o, "uar", RUN_PERCENT);
        cl->c->war[epoch - 1] = run_checked(o, "war", RUN_PERCENT);
    }
    return 0;
}

/* A job still running may be appending its last line: that one is skipped, a malformed line before it is an error. */
static int load_curves(const char *path, Curves *c, ValueCheck *values, Err *err) {
    if (!fs_exists(path)) return 0;
    CurveLines cl = {.c = c, .path = path, .values = values};
    int rc = json_lines_each(path, JSON_LINES_TOLERATE_TORN_TAIL, curve_line, &cl, err);
    StepLine *steps = cl.steps;
    int n_steps = cl.n_steps;
    /* the steps before a malformed line still make their epochs' losses (the curves stop before it, not at 0) */
    if (n_steps) {
        qsort(steps, (size_t)n_steps, sizeof *steps, cmp_step);
        curves_grow(c, steps[n_steps - 1].epoch);
        /* each logged loss is the mean over the steps since the previous log line of its epoch */
        double sum = 0, weight = 0;
        int prev_step = 0;
        for (int i = 0; i < n_steps; i++) {
            if (i + 1 < n_steps && steps[i + 1].epoch == steps[i].epoch && steps[i + 1].step == steps[i].step) continue;
            int w = steps[i].step - prev_step;
            if (w > 0 && isfinite(steps[i].loss)) sum += w * steps[i].loss, weight += w;
            prev_step = steps[i].step;
            if (i + 1 == n_steps || steps[i + 1].epoch != steps[i].epoch) {
                c->train_loss[steps[i].epoch - 1] = weight > 0 ? sum / weight : NAN;
                sum = weight = 0, prev_step = 0;
            }
        }
    }
    free(steps);
    return rc;
}

/* ---- the run set ------------------------------------------------------------------------------- */

static Run *add_run(RunSet *rs, const char *id, const cJSON *job) {
    rs->runs = xrealloc(rs->runs, sizeof *rs->runs * (size_t)(rs->n + 1));
    Run *r = &rs->runs[rs->n++];
    memset(r, 0, sizeof *r);
    r->id = xstrdup(id);
    r->job = job;
    r->status = RUN_MISSING;
    return r;
}

static int find_run(const RunSet *rs, const char *id) {
    for (int i = 0; i < rs->n; i++)
        if (!strcmp(rs->runs[i].id, id)) return i;
    return -1;
}

static int load_rest(const char *dir, Run *r, ValueCheck *values, Err *err);

static int load_run(const char *dir, Run *r, Err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/result.json", dir, r->id);
    struct stat st;
    ValueCheck values = {0};
    if (stat(path, &st) == 0) {
        Err bad;
        if (json_read_file(path, &r->result, &bad) != 0 || !cJSON_IsObject(r->result)) {
            if (r->result) err_set(&bad, "%s: expected a JSON object", path);
            cJSON_Delete(r->result);
            r->result = NULL;
            r->status = RUN_UNREADABLE;
            r->error = xstrdup(bad.msg);
            r->finished = st.st_mtime;
            return load_rest(dir, r, &values, err);
        }
        /* when the job finished: result.json's own record, else (older results) the file's time */
        const cJSON *fin = cJSON_GetObjectItemCaseSensitive(r->result, "finished_unix");
        /* a time past year 9999 (1e300, or 1e999 read as infinity: its cast to time_t is undefined) is no record:
         * the file's time, as for older results */
        int fin_is_time = cJSON_IsNumber(fin) && fin->valuedouble > 0 && fin->valuedouble < 253402300800.0;
        r->finished = fin_is_time ? (time_t)fin->valuedouble : st.st_mtime;
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(r->result, "status");
        const char *status = cJSON_IsString(s) ? s->valuestring : "done"; /* older results had no status */
        r->status = !strcmp(status, "done") ? RUN_DONE : !strcmp(status, "failed") ? RUN_FAILED : RUN_OTHER;
        check_result_values(&values, r->result, path);
    }
    return load_rest(dir, r, &values, err);
}

/* A run's config.ini and learning curves; values: the numbers out of range found so far (kept in the run). */
static int load_rest(const char *dir, Run *r, ValueCheck *values, Err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/config.ini", dir, r->id);
    if (fs_exists(path)) {
        size_t len;
        if (fs_read_all(path, &r->config, &len, err) != 0) {
            free(values->text.p);
            return -1;
        }
    }
    snprintf(path, sizeof path, "%s/%s/metrics.jsonl", dir, r->id);
    /* a damaged metrics.jsonl costs that job its curves past the bad line, not the whole page */
    Err bad;
    if (load_curves(path, &r->curves, values, &bad) != 0) r->curves_error = xstrdup(bad.msg);
    if (values->n > MAX_VALUE_ERRORS) {
        char more[64];
        snprintf(more, sizeof more, "and %d more\n", values->n - MAX_VALUE_ERRORS);
        strbuf_add(&values->text, more, strlen(more));
    }
    r->value_errors = values->text.p; /* NULL when none */
    return 0;
}

static int not_hidden(const struct dirent *e) { return e->d_name[0] != '.'; }

int runs_load(const char *dir, RunSet *rs, Err *err) {
    memset(rs, 0, sizeof *rs);
    if (!fs_exists(dir)) return err_set(err, "%s: no such results directory", dir);
    if (!fs_is_dir(dir)) return err_set(err, "%s: not a directory (give the results directory of a matrix)", dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/jobs.json", dir);
    if (fs_exists(path)) {
        if (json_read_file(path, &rs->jobs, err) != 0) goto fail;
        if (!cJSON_IsArray(rs->jobs)) {
            err_set(err, "%s: expected a JSON array of jobs", path);
            goto fail;
        }
        const cJSON *job;
        cJSON_ArrayForEach(job, rs->jobs) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(job, "job");
            if (!cJSON_IsString(id) || !id->valuestring[0] || strchr(id->valuestring, '/')) {
                err_set(err, "%s: every job needs a \"job\" id that names its directory", path);
                goto fail;
            }
            if (find_run(rs, id->valuestring) < 0) add_run(rs, id->valuestring, job);
        }
        rs->listed = rs->n;
    }
    struct dirent **names = NULL;
    int n = scandir(dir, &names, not_hidden, alphasort); /* sorted: the same report whatever readdir's order */
    if (n < 0) {
        err_set(err, "%s: cannot read the directory: %s", dir, strerror(errno));
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s/result.json", dir, names[i]->d_name);
        if (fs_exists(path) && find_run(rs, names[i]->d_name) < 0) add_run(rs, names[i]->d_name, NULL);
        free(names[i]);
    }
    free(names);
    for (int i = 0; i < rs->n; i++) {
        Run *r = &rs->runs[i];
        if (load_run(dir, r, err) != 0) goto fail;
        if (r->status == RUN_DONE) rs->done++;
        else if (r->status == RUN_FAILED) rs->failed++;
        else if (r->status == RUN_OTHER) rs->other++;
        else if (r->status == RUN_UNREADABLE) rs->unreadable++;
        else rs->missing++;
    }
    if (rs->done + rs->failed + rs->other == 0) {
        if (rs->unreadable) { /* nothing else to show: the reason is the error (as dfer table) */
            for (int i = 0; i < rs->n; i++)
                if (rs->runs[i].error) {
                    err_set(err, "%s", rs->runs[i].error);
                    break;
                }
        } else if (rs->listed)
            err_set(err, "%s: no <job>/result.json found (jobs.json lists %d jobs; none has finished or failed yet)",
                    dir, rs->listed);
        else
            err_set(err, "%s: no <job>/result.json found (is this the results directory of a matrix?)", dir);
        goto fail;
    }
    return 0;
fail:
    runs_free(rs);
    return -1;
}

void runs_free(RunSet *rs) {
    for (int i = 0; i < rs->n; i++) {
        Run *r = &rs->runs[i];
        free(r->id);
        cJSON_Delete(r->result);
        free(r->config);
        free(r->error);
        free(r->curves_error);
        free(r->value_errors);
        curves_free(&r->curves);
    }
    free(rs->runs);
    cJSON_Delete(rs->jobs);
    memset(rs, 0, sizeof *rs);
}

const char *run_str(const Run *r, const char *key) {
    const cJSON *v = r->result ? cJSON_GetObjectItemCaseSensitive(r->result, key) : NULL;
    if (!cJSON_IsString(v) && r->job) v = cJSON_GetObjectItemCaseSensitive(r->job, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

double run_num(const Run *r, const char *key, double def) {
    const cJSON *v = r->result ? cJSON_GetObjectItemCaseSensitive(r->result, key) : NULL;
    if (!cJSON_IsNumber(v) && r->job) v = cJSON_GetObjectItemCaseSensitive(r->job, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

void run_method_label(const Run *r, char *buf, size_t n) {
    const char *variant = run_str(r, "variant");
    if (variant[0]) snprintf(buf, n, "%s (%s)", run_str(r, "method"), variant);
    else snprintf(buf, n, "%s", run_str(r, "method"));
}
