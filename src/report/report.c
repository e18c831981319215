#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "core/version.h"
#include "io/json_file.h"
#include "report/runs.h"
#include "report/svg.h"
#include "core/xml.h"
#include "train/table.h"

/* Local fonts only and no external resources of any kind: the page has to
 * render the same on a machine without a network. */
static const char k_css[] =
    "body{font-family:'DejaVu Sans','Liberation Sans',Arial,sans-serif;margin:24px auto;max-width:1500px;"
    "padding:0 16px;color:#222;background:#fff;font-size:14px}\n"
    "h1{font-size:22px}h2{font-size:19px;border-bottom:2px solid #0072b2;padding-bottom:4px;margin-top:36px}\n"
    "h3{font-size:16px;margin:18px 0 6px}\n"
    "table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
    "th{background:#f0f4f8}td:first-child,th:first-child{text-align:left}\n"
    ".caption{color:#555;font-size:13px;margin:2px 0}\n"
    ".note{background:#fff4d6;border-left:4px solid #d9a400;padding:6px 10px;margin:6px 0;font-size:13px}\n"
    ".plots{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}\n"
    ".plots svg{border:1px solid #ddd}\n"
    "section.job{border:1px solid #ddd;border-radius:6px;padding:4px 14px 10px;margin:16px 0}\n"
    ".badge{font-size:12px;padding:1px 7px;border-radius:9px;color:#fff;vertical-align:middle}\n"
    ".done{background:#009e73}.failed,.unreadable{background:#d55e00}.other{background:#e69f00}"
    ".missing{background:#888}\n"
    "pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:8px;overflow-x:auto;font-size:12px}\n"
    "pre.error{background:#fff1ec;border-color:#d55e00;white-space:pre-wrap}\n"
    "table.prov td,table.jobs td,table.jobs th{text-align:left}table.prov td:first-child{color:#555}\n"
    "table.jobs td.num,table.folds td.num{text-align:right}\n"
    "code{font-size:12px}.muted{color:#666}\n";

static const char *status_name(RunStatus s) {
    return s == RUN_DONE         ? "done"
           : s == RUN_FAILED     ? "failed"
           : s == RUN_OTHER      ? "other"
           : s == RUN_UNREADABLE ? "unreadable"
                                 : "missing";
}

static void format_time(time_t t, char *buf, size_t n) {
    struct tm tm;
    if (t <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm)) snprintf(buf, n, "unknown");
}

/* A number cell: "47.89", or "—" when absent. v comes through run_checked: in its range, or NaN. */
static void num_cell(FILE *out, double v, int decimals) {
    if (isfinite(v)) fprintf(out, "<td class=\"num\">%.*f</td>", decimals, v);
    else fputs("<td class=\"num\">—</td>", out);
}

/* A whole number (fold, seed, epoch) as text, "?" past what can be one: "%.0f" of a fold of 1e300 in a damaged
 * result.json printed 301 digits (and a label's buffer cut them). */
#define WHOLE_TEXT 24
static const char *whole_text(double v, char buf[WHOLE_TEXT]) {
    if (svg_plottable(v)) snprintf(buf, WHOLE_TEXT, "%.0f", v);
    else snprintf(buf, WHOLE_TEXT, "?");
    return buf;
}

/* A job's fold as text: a dataset without folds (FERV39k: one training and one test split) has fold 0 in its job id
 * and result.json, shown as "—", not as a fold 0 the dataset does not have; so is a result that records no fold (a
 * `dfer train` run's result.json, which the matrix's job identity does not fill in). */
static const char *fold_text(const Run *r, char buf[WHOLE_TEXT]) {
    double fold = run_num(r, "fold", 0);
    if (fold == 0) return snprintf(buf, WHOLE_TEXT, "—"), buf;
    return whole_text(fold, buf);
}

/* The epoch a result reports, counted from 1 as metrics.jsonl and the log do: result.json says so
 * ("epoch_counted_from": 1); one written before that key counted best/last.epoch from 0. */
static double reported_epoch(const Run *r) {
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(r->result, "best");
    int from_one = json_get_number(r->result, "epoch_counted_from", 0) == 1;
    return run_checked(best, "epoch", RUN_AMOUNT) + (from_one ? 0 : 1); /* NaN where absent or out of range */
}

/* ---- a list of distinct strings, in order of first appearance ------------------------------------ */

typedef struct StrList {
    char **v;
    int n;
} StrList;

static int strlist_index(StrList *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return i;
    l->v = xrealloc(l->v, sizeof *l->v * (size_t)(l->n + 1));
    l->v[l->n] = xstrdup(s);
    return l->n++;
}

static void strlist_free(StrList *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL, l->n = 0;
}

/* ---- page parts ---------------------------------------------------------------------------------- */

static void page_header(FILE *out, const char *dir, const char *command) {
    char now[64];
    format_time(time(NULL), now, sizeof now);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>dfer report: ", out);
    xml_escape(out, dir);
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>dfer report: ", k_css);
    xml_escape(out, dir);
    fprintf(out, "</h1>\n<p class=\"muted\">Generated %s on ", now);
    xml_escape(out, dfer_host());
    fprintf(out, " by dfer (commit <code>%s</code>)", dfer_git_commit);
    if (command) {
        fputs(" with <code>", out);
        xml_escape(out, command);
        fputs("</code>", out);
    }
    fputs(". Everything on this page is inline: it needs no network.</p>\n", out);
}

static void summary_section(FILE *out, const RunSet *rs, const ResultSet *counted) {
    fprintf(out, "<h2 id=\"summary\">Summary</h2>\n<p class=\"counts\">%d jobs: %d done, %d failed", rs->n, rs->done,
            rs->failed);
    int left_out = 0;
    for (int i = 0; i < rs->n; i++)
        left_out += (rs->runs[i].status == RUN_DONE || rs->runs[i].status == RUN_FAILED) &&
                    !results_counted(counted, rs->runs[i].id);
    if (left_out) fprintf(out, " (%d of them left out of the tables and plots: see the notes)", left_out);
    if (rs->other) fprintf(out, ", %d in another state", rs->other);
    if (rs->unreadable) fprintf(out, ", %d with a result.json that cannot be read", rs->unreadable);
    fprintf(out, ", %d missing%s.</p>\n", rs->missing, rs->missing ? " (in jobs.json, no result.json yet)" : "");
    fputs("<table class=\"jobs\">\n<thead><tr><th>job</th><th>method</th><th>dataset</th><th>evaluated on</th>"
          "<th>fold</th><th>backbone</th><th>seed</th><th>setting</th><th>status</th><th>UAR</th><th>WAR</th>"
          "<th>epoch</th><th>seconds</th></tr></thead>\n<tbody>\n",
          out);
    for (int i = 0; i < rs->n; i++) {
        const Run *r = &rs->runs[i];
        char method[160];
        run_method_label(r, method, sizeof method);
        fputs("<tr><td>", out);
        if (r->status != RUN_MISSING) {
            fputs("<a href=\"#job-", out);
            xml_escape(out, r->id);
            fputs("\">", out);
        }
        xml_escape(out, r->id);
        fputs(r->status != RUN_MISSING ? "</a></td><td>" : "</td><td>", out);
        xml_escape(out, method);
        const char *fields[] = {"dataset", "eval_dataset"};
        for (int f = 0; f < 2; f++) {
            fputs("</td><td>", out);
            xml_escape(out, run_str(r, fields[f]));
        }
        char whole[WHOLE_TEXT];
        fprintf(out, "</td><td class=\"num\">%s</td><td>", fold_text(r, whole));
        xml_escape(out, run_str(r, "backbone"));
        fprintf(out, "</td><td class=\"num\">%s</td><td>", whole_text(run_num(r, "seed", 0), whole));
        xml_escape(out, run_str(r, "setting"));
        fprintf(out, "</td><td><span class=\"badge %s\">%s</span></td>", status_name(r->status),
                status_name(r->status));
        int done = r->status == RUN_DONE;
        num_cell(out, done ? run_checked_num(r, "uar", RUN_PERCENT) : NAN, 2);
        num_cell(out, done ? run_checked_num(r, "war", RUN_PERCENT) : NAN, 2);
        num_cell(out, done ? reported_epoch(r) : NAN, 0);
        num_cell(out, r->result ? run_checked_num(r, "seconds", RUN_AMOUNT) : NAN, 1);
        fputs("</tr>\n", out);
    }
    fputs("</tbody>\n</table>\n", out);
}

/* The results as the tables take them, from what runs_load has read (each file is read once): jobs.json's only,
 * a bad file or a repeated job a note. The spread plots count the same. */
static ResultSet *table_results(const RunSet *rs, const char *dir) {
    ResultSet *set = results_new();
    if (rs->jobs) {
        char jobs_path[4096];
        snprintf(jobs_path, sizeof jobs_path, "%s/jobs.json", dir);
        results_add_expected(set, rs->jobs, jobs_path);
    }
    for (int i = 0; i < rs->n; i++) {
        const Run *r = &rs->runs[i];
        if (!r->result && r->status != RUN_UNREADABLE) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/result.json", dir, r->id);
        results_add_folder(set, r->id, r->result, path, r->error);
    }
    return set;
}

static void tables_section(FILE *out, const ResultSet *set, int paper) {
    fputs("<h2 id=\"tables\">Tables</h2>\n<p class=\"caption\">As <code>dfer table</code> prints them.</p>\n", out);
    char notes[RESULTS_MAX_NOTES][1024];
    int n_notes = results_notes(set, notes, RESULTS_MAX_NOTES);
    for (int i = 0; i < n_notes; i++) {
        fputs("<p class=\"note\">Note: ", out);
        xml_escape(out, notes[i]);
        fputs("</p>\n", out);
    }
    tables_write(set, TABLE_HTML, paper, out); /* escaped with core/xml.h: valid UTF-8 and XML */
}

/* src, cut to at most max bytes at a character boundary (a UTF-8 character split by the cut showed as U+FFFD), into
 * buf (at least max + 1 bytes). */
static void utf8_cut(char *buf, size_t max, const char *src) {
    size_t len = utf8_prefix(src, max);
    memcpy(buf, src, len);
    buf[len] = '\0';
}

/* What a spread plot groups by: setting, training and evaluation dataset, backbone. */
static void spread_key(const Run *r, char *buf, size_t n) {
    snprintf(buf, n, "%s\n%s\n%s\n%s", run_str(r, "setting"), run_str(r, "dataset"), run_str(r, "eval_dataset"),
             run_str(r, "backbone"));
}

/* One method's points in a spread plot: UAR and WAR of each job, and "fold F, seed S". */
typedef struct MethodPoints {
    double *uar, *war;
    char **labels;
    int n;
} MethodPoints;

static void spread_plot(FILE *out, const RunSet *rs, const ResultSet *counted, const char *key) {
    StrList methods = {0};
    MethodPoints *pts = NULL;
    const Run *proto = NULL;
    for (int i = 0; i < rs->n; i++) {
        const Run *r = &rs->runs[i];
        char k[512], method[160], label[96], fold[WHOLE_TEXT], seed[WHOLE_TEXT];
        spread_key(r, k, sizeof k);
        if (r->status != RUN_DONE || strcmp(k, key) || !results_counted(counted, r->id)) continue;
        if (!proto) proto = r;
        run_method_label(r, method, sizeof method);
        int before = methods.n, m = strlist_index(&methods, method);
        if (methods.n > before) { /* a method not seen yet in this plot */
            pts = xrealloc(pts, sizeof *pts * (size_t)methods.n);
            pts[m] = (MethodPoints){0};
        }
        MethodPoints *mp = &pts[m];
        mp->uar = xrealloc(mp->uar, sizeof(double) * (size_t)(mp->n + 1));
        mp->war = xrealloc(mp->war, sizeof(double) * (size_t)(mp->n + 1));
        mp->labels = xrealloc(mp->labels, sizeof(char *) * (size_t)(mp->n + 1));
        if (run_num(r, "fold", 0) == 0) /* FERV39k: the seed alone */
            snprintf(label, sizeof label, "seed %s", whole_text(run_num(r, "seed", 0), seed));
        else
            snprintf(label, sizeof label, "fold %s, seed %s", fold_text(r, fold),
                     whole_text(run_num(r, "seed", 0), seed));
        mp->uar[mp->n] = run_checked_num(r, "uar", RUN_PERCENT);
        mp->war[mp->n] = run_checked_num(r, "war", RUN_PERCENT);
        mp->labels[mp->n++] = xstrdup(label);
    }
    if (!proto) return;
    const double **values = xcalloc((size_t)methods.n * 2, sizeof *values);
    const char *const **labels = xcalloc((size_t)methods.n * 2, sizeof *labels);
    int *counts = xcalloc((size_t)methods.n * 2, sizeof *counts);
    for (int m = 0; m < methods.n; m++) {
        values[2 * m] = pts[m].uar, values[2 * m + 1] = pts[m].war;
        labels[2 * m] = labels[2 * m + 1] = (const char *const *)pts[m].labels;
        counts[2 * m] = counts[2 * m + 1] = pts[m].n;
    }
    char title[256], ds[41], eds[41], setting[21], backbone[41];
    utf8_cut(ds, 40, run_str(proto, "dataset"));
    utf8_cut(eds, 40, run_str(proto, "eval_dataset"));
    utf8_cut(setting, 20, run_str(proto, "setting"));
    utf8_cut(backbone, 40, run_str(proto, "backbone"));
    if (eds[0] && strcmp(run_str(proto, "dataset"), run_str(proto, "eval_dataset")))
        snprintf(title, sizeof title, "%s to %s, %s, %s", ds, eds, setting, backbone);
    else
        snprintf(title, sizeof title, "%s, %s, %s", ds, setting, backbone);
    static const char *series[2] = {"UAR", "WAR"};
    SvgStripPlot p = {.title = title, .y_label = "%", .groups = (const char *const *)methods.v, .n_groups = methods.n,
                      .series = series, .n_series = 2, .values = values, .counts = counts, .point_labels = labels,
                      .y_min = NAN, .y_max = NAN};
    svg_strip_plot(out, &p);
    for (int m = 0; m < methods.n; m++) {
        for (int i = 0; i < pts[m].n; i++) free(pts[m].labels[i]);
        free(pts[m].labels);
        free(pts[m].uar);
        free(pts[m].war);
    }
    free(pts);
    free(values);
    free(labels);
    free(counts);
    strlist_free(&methods);
}

/* Per (setting, training dataset, evaluation dataset, backbone): one strip plot
 * with a group per method, UAR and WAR of each fold and seed as points. */
static void spread_section(FILE *out, const RunSet *rs, const ResultSet *counted) {
    fputs("<h2 id=\"spread\">Spread over folds and seeds</h2>\n<p class=\"caption\">Each point is one finished job; "
          "boxes span the quartiles with the median, whiskers the range.</p>\n<div class=\"plots\">\n",
          out);
    StrList keys = {0};
    for (int i = 0; i < rs->n; i++) {
        char key[512];
        spread_key(&rs->runs[i], key, sizeof key);
        if (rs->runs[i].status == RUN_DONE && results_counted(counted, rs->runs[i].id)) strlist_index(&keys, key);
    }
    for (int k = 0; k < keys.n; k++) spread_plot(out, rs, counted, keys.v[k]);
    if (!keys.n) fputs("<p class=\"muted\">No finished job.</p>\n", out);
    fputs("</div>\n", out);
    strlist_free(&keys);
}

static void curve_charts(FILE *out, const Run *r) {
    const Curves *c = &r->curves;
    double mark = r->status == RUN_DONE ? reported_epoch(r) : NAN;
    SvgSeries loss[2] = {{"training loss", c->epoch, c->train_loss, c->n}, {"test loss", c->epoch, c->test_loss, c->n}};
    SvgLineChart lc = {.title = "Loss per epoch", .x_label = "epoch", .y_label = "loss", .series = loss, .n_series = 2,
                       .y_min = NAN, .y_max = NAN, .x_integer = 1, .mark_x = mark, .mark_label = "reported"};
    svg_line_chart(out, &lc);
    SvgSeries acc[2] = {{"UAR", c->epoch, c->uar, c->n}, {"WAR", c->epoch, c->war, c->n}};
    SvgLineChart ac = {.title = "Test UAR and WAR per epoch", .x_label = "epoch", .y_label = "%", .series = acc,
                       .n_series = 2, .y_min = 0, .y_max = 100, .x_integer = 1, .mark_x = mark,
                       .mark_label = "reported"};
    svg_line_chart(out, &ac);
}

/* The confusion matrix and per-class recall of the reported epoch ("best"). */
static void class_charts(FILE *out, const Run *r) {
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(r->result, "best");
    const cJSON *conf = cJSON_GetObjectItemCaseSensitive(best, "confusion");
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(r->result, "classes");
    const cJSON *recall = cJSON_GetObjectItemCaseSensitive(r->result, "recall");
    int n = cJSON_GetArraySize(conf), nc = cJSON_GetArraySize(classes);
    if (n < nc) n = nc;
    if (n <= 0 || n > 64) return;
    char **labels = xcalloc((size_t)n, sizeof *labels);
    double *counts = xcalloc((size_t)n * (size_t)n, sizeof *counts), *rec = xcalloc((size_t)n, sizeof *rec);
    for (int i = 0; i < n; i++) {
        const cJSON *name = cJSON_GetArrayItem(classes, i);
        char fallback[32];
        snprintf(fallback, sizeof fallback, "class %d", i);
        labels[i] = xstrdup(cJSON_IsString(name) ? name->valuestring : fallback);
        const cJSON *row = cJSON_GetArrayItem(conf, i), *rv = cJSON_GetArrayItem(recall, i);
        for (int j = 0; j < n; j++) {
            const cJSON *v = cJSON_GetArrayItem(row, j);
            counts[i * n + j] = cJSON_IsNumber(v) ? v->valuedouble : 0;
        }
        /* recall is -1 for a class without test clips the model never predicted: no bar rather than a zero (and none
         * for a damaged value); one it predicted is a 0 in the UAR, and a 0 bar (results before 2026-12-07 wrote -1
         * for it too: result_recall_read) */
        double v = cJSON_IsNumber(rv) ? result_recall_read(conf, i, rv->valuedouble) : NAN;
        rec[i] = run_value_ok(v, RUN_RECALL) ? v : NAN;
    }
    char title[96], epoch[WHOLE_TEXT];
    snprintf(title, sizeof title, "Confusion matrix, epoch %s", whole_text(reported_epoch(r), epoch));
    if (cJSON_IsArray(conf)) {
        SvgHeatmap h = {.title = title, .labels = (const char *const *)labels, .counts = counts, .n = n};
        svg_heatmap(out, &h);
    }
    if (cJSON_IsArray(recall)) {
        char ref[64];
        double uar = run_checked_num(r, "uar", RUN_PERCENT);
        /* several folds scored apart: the UAR is their mean, the bars every fold's clips together */
        int folds = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->result, "eval_folds"));
        snprintf(ref, sizeof ref, folds > 1 ? "UAR %.1f (mean over folds)" : "UAR %.1f", uar);
        SvgBarChart b = {.title = "Recall per class", .y_label = "recall (%)", .labels = (const char *const *)labels,
                         .values = rec, .n = n, .y_max = 100, .ref_value = uar, .ref_label = ref};
        svg_bar_chart(out, &b);
    }
    for (int i = 0; i < n; i++) free(labels[i]);
    free(labels);
    free(counts);
    free(rec);
}

/* A zero-shot run scored on several folds: each fold's clips, UAR and WAR at the reported (best) epoch. */
static void fold_table(FILE *out, const Run *r) {
    const cJSON *folds = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->result, "best"), "folds");
    if (cJSON_GetArraySize(folds) < 2) return;
    fputs("<table class=\"folds\">\n"
          "<thead><tr><th>fold</th><th>clips</th><th>UAR</th><th>WAR</th></tr></thead>\n<tbody>\n",
          out);
    const cJSON *f;
    cJSON_ArrayForEach(f, folds) {
        char fold[WHOLE_TEXT];
        fprintf(out, "<tr><td>%s</td>", whole_text(json_get_number(f, "fold", NAN), fold));
        num_cell(out, run_checked(f, "clips", RUN_AMOUNT), 0);
        num_cell(out, run_checked(f, "uar", RUN_PERCENT), 2);
        num_cell(out, run_checked(f, "war", RUN_PERCENT), 2);
        fputs("</tr>\n", out);
    }
    fputs("</tbody>\n</table>\n", out);
}

static void prov_row(FILE *out, const char *key, const char *value, int code) {
    if (!value || !value[0]) return;
    fprintf(out, "<tr><td>%s</td><td>%s", key, code ? "<code>" : "");
    xml_escape(out, value);
    fprintf(out, "%s</td></tr>\n", code ? "</code>" : "");
}

/* One input file's row: its path, clips (a split) and the start of its digest; nothing where e has no path. */
static void prov_input(FILE *out, const cJSON *e, const char *label) {
    const char *path = json_get_string(e, "path", NULL), *sha = json_get_string(e, "sha256", NULL);
    if (!path) return;
    double clips = run_checked(e, "clips", RUN_AMOUNT);
    char text[4400], count[48] = "";
    if (isfinite(clips)) snprintf(count, sizeof count, ", %.0f clips", clips);
    if (sha) snprintf(text, sizeof text, "%s%s (sha256 %.16s)", path, count, sha);
    else snprintf(text, sizeof text, "%s%s (%s)", path, count, json_get_string(e, "error", "no digest"));
    prov_row(out, label, text, 1);
}

static void provenance(FILE *out, const Run *r) {
    char buf[128];
    fputs("<table class=\"prov\">\n", out);
    prov_row(out, "commit", run_str(r, "commit"), 1);
    prov_row(out, "command", run_str(r, "command"), 1);
    prov_row(out, "host", run_str(r, "host"), 0);
    format_time(r->finished, buf, sizeof buf);
    prov_row(out, "result written", buf, 0);
    double sec = run_checked_num(r, "seconds", RUN_AMOUNT);
    if (isfinite(sec)) {
        snprintf(buf, sizeof buf, "%.1f s (%.2f h)", sec, sec / 3600);
        prov_row(out, "training time", buf, 0);
    }
    const cJSON *tp = cJSON_GetObjectItemCaseSensitive(r->result, "trainable_parameters");
    double total = run_checked(tp, "total", RUN_AMOUNT);
    if (isfinite(total)) {
        snprintf(buf, sizeof buf, "%.0f", total);
        prov_row(out, "trainable parameters", buf, 0);
    }
    prov_row(out, "reported epoch", run_str(r, "reported_epoch"), 0);
    /* what it read, each file with the start of its digest: two runs of one table can be told to share them */
    static const char *const inputs[][2] = {{"weights", "weights"},         {"long_clip", "Long-CLIP"},
                                            {"vocab", "vocabulary"},        {"train_split", "training split"},
                                            {"test_split", "test split"},   {"descriptions", "descriptions"}};
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->result, "inputs");
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        prov_input(out, cJSON_GetObjectItemCaseSensitive(in, inputs[i][0]), inputs[i][1]);
        for (int fold = 1; fold <= 5; fold++) { /* a zero-shot run's test splits: test_split_fold1, ... */
            char key[48], label[48];
            snprintf(key, sizeof key, "%s_fold%d", inputs[i][0], fold);
            snprintf(label, sizeof label, "%s, fold %d", inputs[i][1], fold);
            prov_input(out, cJSON_GetObjectItemCaseSensitive(in, key), label);
        }
    }
    fputs("</table>\n", out);
}

static void job_section(FILE *out, const Run *r) {
    char method[160];
    run_method_label(r, method, sizeof method);
    fputs("<section class=\"job\" id=\"job-", out);
    xml_escape(out, r->id);
    fputs("\">\n<h3>", out);
    xml_escape(out, r->id);
    fprintf(out, " <span class=\"badge %s\">", status_name(r->status));
    xml_escape(out, r->status == RUN_OTHER ? run_str(r, "status") : status_name(r->status));
    fputs("</span></h3>\n<p>", out);
    xml_escape(out, method);
    fputs(" on ", out);
    xml_escape(out, run_str(r, "dataset"));
    const char *eds = run_str(r, "eval_dataset");
    const cJSON *eval_folds = cJSON_GetObjectItemCaseSensitive(r->result ? r->result : r->job, "eval_folds");
    if (eds[0] && strcmp(eds, run_str(r, "dataset"))) {
        fputs(", evaluated on ", out);
        xml_escape(out, eds);
        if (cJSON_GetArraySize(eval_folds) > 1) { /* zero-shot: each fold's test split, scored alone */
            fputs(" (the test splits of folds", out);
            const cJSON *f;
            int k = 0;
            char fold[WHOLE_TEXT];
            cJSON_ArrayForEach(f, eval_folds) fprintf(out, "%s %s", k++ ? "," : "",
                                                      whole_text(cJSON_IsNumber(f) ? f->valuedouble : 0, fold));
            fputs(", each scored alone; UAR and WAR their mean)", out);
        }
    }
    char whole[WHOLE_TEXT];
    if (run_num(r, "fold", 0) != 0) /* FERV39k has no folds: no "fold 0" */
        fprintf(out, ", %s %s", eval_folds ? "trained on fold" : "fold", whole_text(run_num(r, "fold", 0), whole));
    fputs(", backbone ", out);
    xml_escape(out, run_str(r, "backbone"));
    fprintf(out, ", seed %s, ", whole_text(run_num(r, "seed", 0), whole));
    xml_escape(out, run_str(r, "setting"));
    if (r->status == RUN_DONE) {
        char uar[32] = "—", war[32] = "—"; /* a score out of range is missing (Run.value_errors says why) */
        double uar_value = run_checked_num(r, "uar", RUN_PERCENT), war_value = run_checked_num(r, "war", RUN_PERCENT);
        if (isfinite(uar_value)) snprintf(uar, sizeof uar, "%.2f", uar_value);
        if (isfinite(war_value)) snprintf(war, sizeof war, "%.2f", war_value);
        fprintf(out, ": <b>UAR %s, WAR %s</b>", uar, war);
        double epoch = reported_epoch(r); /* NaN in results written before result.json kept the best epoch */
        if (isfinite(epoch)) fprintf(out, " at epoch %s", whole_text(epoch, whole));
    }
    fputs("</p>\n", out);
    if (r->status == RUN_UNREADABLE) {
        fputs("<pre class=\"error\">", out);
        xml_escape(out, r->error);
        fputs("</pre>\n", out);
    }
    if (r->status == RUN_DONE) fold_table(out, r);
    if (r->status == RUN_FAILED) {
        fputs("<pre class=\"error\">", out);
        xml_escape(out, run_str(r, "error")[0] ? run_str(r, "error") : "(no error message in result.json)");
        fputs("</pre>\n", out);
    }
    if (r->value_errors) {
        fputs("<pre class=\"error values\">", out);
        xml_escape(out, r->value_errors);
        fputs("</pre>\n", out);
    }
    if (r->curves_error) {
        fputs("<pre class=\"error\">", out);
        xml_escape(out, r->curves_error);
        fputs(" (the curves stop before it)</pre>\n", out);
    }
    fputs("<div class=\"plots\">\n", out);
    if (r->curves.n) curve_charts(out, r);
    else fputs("<p class=\"muted\">No metrics.jsonl: nothing was trained.</p>\n", out);
    if (r->status == RUN_DONE) class_charts(out, r);
    fputs("</div>\n", out);
    provenance(out, r);
    if (r->config) {
        fputs("<details><summary>config.ini</summary>\n<pre class=\"config\">", out);
        xml_escape(out, r->config);
        fputs("</pre></details>\n", out);
    }
    fputs("</section>\n", out);
}

static void missing_section(FILE *out, const RunSet *rs) {
    if (!rs->missing) return;
    fprintf(out,
            "<h2 id=\"missing\">Missing jobs</h2>\n<p>%d job%s of the matrix ha%s no result.json yet:</p>\n"
            "<ul class=\"missing-jobs\">\n",
            rs->missing, rs->missing > 1 ? "s" : "", rs->missing > 1 ? "ve" : "s");
    for (int i = 0; i < rs->n; i++) {
        const Run *r = &rs->runs[i];
        if (r->status != RUN_MISSING) continue;
        int evaluated = 0;
        for (int e = 0; e < r->curves.n; e++) evaluated += isfinite(r->curves.war[e]);
        fputs("<li><code>", out);
        xml_escape(out, r->id);
        if (evaluated)
            fprintf(out, "</code>: unfinished, %d epoch%s evaluated</li>\n", evaluated, evaluated > 1 ? "s" : "");
        else fputs("</code>: not started</li>\n", out);
    }
    fputs("</ul>\n", out);
}

int report_write(const char *results_dir, const char *out_path, const char *command, int paper, ReportSummary *summary,
                 Err *err) {
    RunSet rs;
    if (runs_load(results_dir, &rs, err) != 0) return -1;
    /* The page goes straight into the atomic write's temporary file (atomic_stream_open), renamed into place only
     * when every write reached it: composed in memory first, a buffer that could not grow cut the page silently. */
    AtomicFile page;
    FILE *out = atomic_stream_open(&page, out_path, err);
    if (!out) {
        runs_free(&rs);
        return -1;
    }
    page_header(out, results_dir, command);
    ResultSet *counted = table_results(&rs, results_dir);
    summary_section(out, &rs, counted);
    tables_section(out, counted, paper);
    spread_section(out, &rs, counted);
    fputs("<h2 id=\"jobs\">Jobs</h2>\n", out);
    for (int i = 0; i < rs.n; i++)
        if (rs.runs[i].status != RUN_MISSING) job_section(out, &rs.runs[i]);
    missing_section(out, &rs);
    fputs("</body>\n</html>\n", out);
    results_free(counted);
    size_t bytes = 0;
    int rc = atomic_stream_commit(&page, out, &bytes, err);
    if (rc == 0 && summary)
        *summary = (ReportSummary){rs.n, rs.done, rs.failed, rs.other, rs.missing, bytes, rs.unreadable};
    runs_free(&rs);
    return rc;
}
