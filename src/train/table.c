#include "train/table.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "core/xml.h"
#include "io/csv.h"
#include "io/json_file.h"
#include "train/paper_results.h"
#include "train/table_ablation.h"
#include "train/table_format.h"
#include "train/table_results.h"

/* ---- aggregation ---------------------------------------------------------------- */


typedef struct Filter {
    const char *method, *backbone, *dataset, *eval_dataset, *setting;
    const char *captions; /* NULL: any; a job whose kind is not known yet (listed, not run) matches every kind */
    const char *key;      /* NULL: any; else Result.key (the ablation tables: a model whatever its arm) */
} Filter;

/* r matched as a result of the kind of captions `captions` */
static int matches_kind(const Result *r, const Filter *f, const char *captions) {
    return (!f->method || !strcmp(r->method, f->method)) && (!f->key || !strcmp(r->key, f->key)) &&
           (!f->backbone || !strcmp(r->backbone, f->backbone)) &&
           (!f->dataset || !strcmp(r->dataset, f->dataset)) &&
           (!f->eval_dataset || !strcmp(r->eval_dataset, f->eval_dataset)) &&
           (!f->setting || !strcmp(r->setting, f->setting)) &&
           (!f->captions || !captions[0] || !strcmp(captions, f->captions));
}

static int matches(const Result *r, const Filter *f) { return matches_kind(r, f, r->captions); }

/* A result's recall of the class named cls (its own class list: results of one dataset may list
 * different classes, e.g. one whose test split lacks a class), NaN where it has none. */
static double result_recall(const Result *r, const char *cls) {
    for (int k = 0; k < r->n_classes; k++)
        if (!strcmp(r->classes[k], cls)) return r->recall[k];
    return NAN;
}

/* what: 0 UAR, 1 WAR, 2 the recall of class cls */
static Cell aggregate(const ResultSet *rs, const Filter *f, int what, const char *cls) {
    Cell c = {0};
    double s = 0, ss = 0;
    for (int i = 0; i < rs->n_done; i++) {
        const Result *r = &rs->done[i];
        if (!matches(r, f)) continue;
        if (r->failed) {
            c.failed++;
            continue;
        }
        double v = what == 0 ? r->uar : what == 1 ? r->war : cls ? result_recall(r, cls) : NAN;
        if (!isfinite(v) || v < 0) continue;
        c.n++;
        s += v;
        ss += v * v;
    }
    /* a job's kind is looked up (a scan of the finished results) only where the cell asks for one: Table 3's */
    for (int i = 0; i < rs->n_expected; i++)
        c.expected +=
            matches_kind(&rs->expected[i], f, f->captions ? results_expected_captions(rs, &rs->expected[i]) : "");
    if (c.n) {
        c.mean = s / c.n;
        c.std = c.n > 1 ? sqrt(fmax(0, (ss - s * s / c.n) / (c.n - 1))) : 0;
    }
    return c;
}

/* Whether a finished zero-shot job of r's method and training dataset recorded its kind of captions. */
static int zero_shot_kind_known(const ResultSet *rs, const Result *r) {
    for (int k = 0; k < rs->n_done; k++) {
        const Result *o = &rs->done[k];
        if (!strcmp(o->setting, "zeroshot") && o->captions[0] && !strcmp(o->method, r->method) &&
            !strcmp(o->dataset, r->dataset))
            return 1;
    }
    return 0;
}

/* ---- the tables ------------------------------------------------------------------------- */

/* Distinct values of one field over expected and finished jobs (expected first: matrix order). */
static Names distinct(const ResultSet *rs, size_t field_offset, const char *setting) {
    Names ns = {.n = 0};
    for (int pass = 0; pass < 2; pass++) {
        const Result *arr = pass ? rs->done : rs->expected;
        int n = pass ? rs->n_done : rs->n_expected;
        for (int i = 0; i < n; i++)
            if (!setting || !strcmp(arr[i].setting, setting)) names_add(&ns, (const char *)&arr[i] + field_offset);
    }
    return ns;
}

static const char *canonical_datasets[] = {"dfew", "ferv39k", "mafw"};
static const char *dataset_title(const char *d) {
    return !strcmp(d, "dfew") ? "DFEW" : !strcmp(d, "ferv39k") ? "FERV39k" : !strcmp(d, "mafw") ? "MAFW" : d;
}

static Names datasets_in(const Names *found) {
    Names out = {.n = 0};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < found->n; i++)
            if (!strcmp(found->v[i], canonical_datasets[k])) names_add(&out, canonical_datasets[k]);
    return out;
}

/* The backbone most jobs of a setting use: Tables 1 and 2 are stated for the supervised jobs' one, Table 3
 * for the zero-shot jobs'. Jobs are counted once: the matrix's list (jobs.json) where there is one, else
 * the results found. */
static const char *reference_backbone(const ResultSet *rs, const Names *backbones, const char *setting) {
    const Result *jobs = rs->n_expected ? rs->expected : rs->done;
    int n_jobs = rs->n_expected ? rs->n_expected : rs->n_done;
    int best = -1, best_n = -1;
    for (int b = 0; b < backbones->n; b++) {
        int n = 0;
        for (int i = 0; i < n_jobs; i++)
            n += !strcmp(jobs[i].setting, setting) && !strcmp(jobs[i].backbone, backbones->v[b]);
        if (n > best_n) best = b, best_n = n;
    }
    return best >= 0 ? backbones->v[best] : "";
}

/* The architecture of a backbone as its finished jobs recorded it, or "" when none did. */
static const char *backbone_arch(const ResultSet *rs, const char *backbone) {
    for (int i = 0; i < rs->n_done; i++)
        if (!strcmp(rs->done[i].backbone, backbone) && rs->done[i].arch[0]) return rs->done[i].arch;
    return "";
}

/* The label of a row of published numbers under our row for method on backbone. */
static void paper_row_label(char *buf, size_t n, const char *method, const char *arch) {
    snprintf(buf, n, "%.200s, paper (%.*s)", method, (int)strcspn(arch, ","), arch);
}

/* Splits a zero-shot row's key "method | training dataset | captions" (the parts after method may be absent). */
static void zero_shot_label_split(const char *key, char method[RESULT_METHOD_BYTES], char trained_on[32],
                                  char captions[24]) {
    char buf[LABEL];
    snprintf(buf, sizeof buf, "%s", key);
    char *bar = strstr(buf, " | ");
    trained_on[0] = captions[0] = '\0';
    if (bar) {
        *bar = '\0';
        char *rest = bar + 3, *bar2 = strstr(rest, " | ");
        if (bar2) {
            *bar2 = '\0';
            snprintf(captions, 24, "%s", bar2 + 3);
        }
        snprintf(trained_on, 32, "%s", rest);
    }
    snprintf(method, RESULT_METHOD_BYTES, "%.*s", RESULT_METHOD_BYTES - 1, buf);
}

/* How a zero-shot row names what its training paired the clips with (result.json's "captions"). */
static const char *captions_title(const char *captions) {
    return !strcmp(captions, "dataset")                ? " (video captions)"
           : !strcmp(captions, "descriptions")         ? " (descriptions)"
           : !strcmp(captions, "dataset+descriptions") ? " (capt.+descr.)"
                                                        : "";
}

/* The model of the jobs in the row of label `method` (Result.key: the published rows' key), or the label where no job
 * has it. */
static const char *label_key(const ResultSet *rs, const char *method) {
    for (int pass = 0; pass < 2; pass++) {
        const Result *arr = pass ? rs->done : rs->expected;
        int n = pass ? rs->n_done : rs->n_expected;
        for (int i = 0; i < n; i++)
            if (!strcmp(arr[i].method, method)) return arr[i].key;
    }
    return method;
}

/* rows: Result.method labels, or with by_key Result.key models (a row gathers a model's jobs whatever their arm) */
static void uar_war_table(const ResultSet *rs, Table *t, const Names *rows, const Names *backbones_per_row,
                          const Names *datasets, const char *setting, int zero_shot, int paper, int by_key) {
    t->cols = 1 + 2 * datasets->n;
    snprintf(t->head[0], sizeof t->head[0], "%s", zero_shot ? "method (trained on)" : "method");
    for (int d = 0; d < datasets->n; d++) {
        snprintf(t->head[1 + 2 * d], sizeof t->head[0], "%s UAR", dataset_title(datasets->v[d]));
        snprintf(t->head[2 + 2 * d], sizeof t->head[0], "%s WAR", dataset_title(datasets->v[d]));
    }
    t->rows = 0;
    for (int r = 0; r < rows->n; r++)
        for (int b = 0; b < backbones_per_row->n; b++) {
            if (t->rows >= MAX_ROWS) {
                t->cut = 1;
                break;
            }
            char *row0 = t->cell[t->rows][0];
            /* zero-shot rows are "method | training dataset | captions" */
            char method[RESULT_METHOD_BYTES], trained_on[32] = "", captions[24] = "";
            zero_shot_label_split(rows->v[r], method, trained_on, captions);
            if (zero_shot)
                snprintf(row0, CELL, "%s, trained on %s%s%s%s", method, dataset_title(trained_on),
                         captions_title(captions), backbones_per_row->n > 1 ? " @ " : "",
                         backbones_per_row->n > 1 ? backbones_per_row->v[b] : "");
            else
                snprintf(row0, CELL, "%s%s%s", method, backbones_per_row->n > 1 ? " @ " : "",
                         backbones_per_row->n > 1 ? backbones_per_row->v[b] : "");
            for (int d = 0; d < datasets->n; d++)
                for (int m = 0; m < 2; m++) {
                    Filter f = {by_key ? NULL : method,
                                backbones_per_row->v[b],
                                zero_shot ? trained_on : datasets->v[d],
                                datasets->v[d],
                                setting,
                                zero_shot ? captions : NULL,
                                by_key ? method : NULL};
                    Cell c = aggregate(rs, &f, m, NULL);
                    table_set_stat(t, t->rows, 1 + 2 * d + m, &c, 0);
                }
            t->rows++;
            int ours = 0; /* a row the matrix has (a combination of the grid that never ran shows only dashes) */
            for (int k = 1; k < t->cols; k++) ours += strcmp(t->cell[t->rows - 1][k], "—") != 0;
            if (!paper || !ours) continue;
            if (t->rows >= MAX_ROWS) {
                t->cut = 1;
                continue;
            }
            /* the published numbers for the same method, variant and architecture (zero-shot: the same training
             * dataset and kind of captions), where there are any */
            const char *arch = backbone_arch(rs, backbones_per_row->v[b]);
            const char *key = by_key ? method : label_key(rs, method);
            int published = 0;
            const char *label = NULL;
            for (int d = 0; d < datasets->n; d++) {
                double uar = 0, war = 0;
                int have = 0;
                if (zero_shot) {
                    const PaperZeroShot *z = paper_zero_shot(key, arch, trained_on, captions, datasets->v[d]);
                    if (z) have = 1, uar = z->uar, war = z->war, label = z->label;
                } else {
                    const PaperResult *p = paper_result(key, arch, datasets->v[d]);
                    if (p) have = 1, uar = p->uar, war = p->war;
                }
                published += have;
                snprintf(t->cell[t->rows][1 + 2 * d], CELL, have ? "%.2f" : "—", uar);
                snprintf(t->cell[t->rows][2 + 2 * d], CELL, have ? "%.2f" : "—", war);
            }
            if (!published) continue;
            paper_row_label(t->cell[t->rows][0], CELL, label ? label : key, arch);
            t->paper_rows++;
            t->rows++;
        }
}

/* A table cut at MAX_ROWS says so: a reader must not take its last row for the last. */
static void caption_cut(Table *t) {
    size_t len = strlen(t->caption);
    if (t->cut)
        snprintf(t->caption + len, sizeof t->caption - len, " Cut at %d rows: the rows after them are not shown.",
                 MAX_ROWS);
}

static void caption_paper_rows(Table *t, int zero_shot) {
    caption_cut(t);
    if (!t->paper_rows) return;
    size_t len = strlen(t->caption);
    if (zero_shot) {
        snprintf(t->caption + len, sizeof t->caption - len,
                 " Rows marked paper: FineCLIPER Table 3's FineCLIPER† (ViT-B/16) trained on the same dataset with "
                 "the same kind of captions, under each FineCLIPER variant of ours (docs/method.md), not runs of "
                 "this build.");
        return;
    }
    snprintf(
        t->caption + len, sizeof t->caption - len,
        " Rows marked paper: the published numbers for the same method, variant and backbone architecture "
        "(FineCLIPER Tables 1 and 2, ViT-B/16, Table 4's middle and high level alone, Tables 5, 6, 7 and 9's "
        "ablations, ViT-B/16, and Table 8, the full model on ViT-B/32 and L/14; DFER-CLIP Table 5 and Tables 1, 3 "
        "and 4's ablations, ViT-B/32), not runs of this build.");
}

/* The backbone of an ablation table: Table 1's (ref) where one of its ablations (a trigger row) has a supervised job
 * there, else the first of backbones on which one has (DFER-CLIP's ablations on B/32 beside FineCLIPER on B/16). */
static const char *ablation_backbone(const ResultSet *rs, const AblationTable *a, const Names *backbones,
                                     const char *ref) {
    for (int b = -1; b < backbones->n; b++) {
        const char *backbone = b < 0 ? ref : backbones->v[b];
        for (int pass = 0; pass < 2; pass++) {
            const Result *arr = pass ? rs->done : rs->expected;
            int n = pass ? rs->n_done : rs->n_expected;
            for (int i = 0; i < n; i++)
                if (!strcmp(arr[i].setting, "supervised") && !strcmp(arr[i].backbone, backbone) &&
                    ablation_triggers(a, arr[i].key))
                    return backbone;
        }
    }
    return ref;
}

int tables_write(const ResultSet *rs, TableFormat format, int paper, FILE *out) {
    int paper_rows = 0; /* published rows written, over the tables */
    Names methods = distinct(rs, offsetof(Result, method), "supervised");
    Names backbones = distinct(rs, offsetof(Result, backbone), NULL);
    Names ds_found = distinct(rs, offsetof(Result, dataset), "supervised");
    Names datasets = datasets_in(&ds_found);
    const char *ref = reference_backbone(rs, &backbones, "supervised");
    Names ref_only = {.n = 1};
    snprintf(ref_only.v[0], sizeof ref_only.v[0], "%s", ref);
    Table *t = xcalloc(1, sizeof *t);
    if (methods.n && datasets.n) {
        snprintf(t->title, sizeof t->title, "Table 1: supervised results (backbone %s)", ref);
        /* without the matrix's job list a job that never wrote its result.json is not known: a cell of 4 folds of 5
         * read "(4)" under a caption that said missing jobs show as missing */
        snprintf(t->caption, sizeof t->caption,
                 "UAR and WAR in %%, mean ± standard deviation over folds and seeds (jobs behind each cell); "
                 "reported epoch as each result.json states. %s",
                 rs->job_list ? "Missing jobs are shown as missing."
                                : "No jobs.json (the matrix's list of jobs) in the results folder: a job that wrote no "
                                  "result.json is not known, and each cell counts the results there are.");
        uar_war_table(rs, t, &methods, &ref_only, &datasets, "supervised", 0, paper, 0);
        caption_paper_rows(t, 0);
        paper_rows += t->paper_rows;
        table_print(t, format, out);
        /* Table 2: per-class recall, one table per dataset */
        for (int d = 0; d < datasets.n; d++) {
            /* the columns: the classes of the finished supervised job of this table (dataset, evaluated on it,
             * the reference backbone) that lists the most (the first of them: the same whatever order the
             * results come in when one job's classes include the others'); each job's recalls are matched to
             * them by name */
            const Result *proto = NULL;
            for (int i = 0; i < rs->n_done; i++) {
                const Result *r = &rs->done[i];
                if (!r->failed && r->n_classes && !strcmp(r->setting, "supervised") &&
                    !strcmp(r->dataset, datasets.v[d]) && !strcmp(r->eval_dataset, datasets.v[d]) &&
                    !strcmp(r->backbone, ref) && (!proto || r->n_classes > proto->n_classes))
                    proto = r;
            }
            if (!proto) continue;
            memset(t, 0, sizeof *t);
            snprintf(t->title, sizeof t->title, "Table 2: per-class recall on %s (backbone %s)",
                     dataset_title(datasets.v[d]), ref);
            snprintf(t->caption, sizeof t->caption,
                     "Recall per class in %%, the mean over the jobs behind the UAR and WAR cells (as in Table 1) "
                     "whose test split holds the class or whose model predicted it (a 0, as in its UAR; one neither "
                     "has no recall of it); classes: ");
            for (int k = 0; k < proto->n_classes; k++) {
                size_t len = strlen(t->caption);
                snprintf(t->caption + len, sizeof t->caption - len, "%s%s", k ? ", " : "", proto->classes[k]);
            }
            t->cols = 1 + proto->n_classes + 2;
            if (t->cols > MAX_COLS) t->cols = MAX_COLS;
            snprintf(t->head[0], CELL, "method");
            for (int k = 0; k < proto->n_classes && 1 + k < MAX_COLS - 2; k++)
                snprintf(t->head[1 + k], CELL, "%s", proto->classes[k]);
            snprintf(t->head[t->cols - 2], CELL, "UAR");
            snprintf(t->head[t->cols - 1], CELL, "WAR");
            /* published per-class numbers only where the classes are the papers' (DFEW's 7, in its order) */
            static const char *const paper_classes[7] = {"happiness", "sadness", "neutral", "anger",
                                                         "surprise", "disgust", "fear"};
            int papers_classes = proto->n_classes == 7 && t->cols == 10;
            for (int k = 0; papers_classes && k < 7; k++) papers_classes = !strcmp(proto->classes[k], paper_classes[k]);
            const char *arch = backbone_arch(rs, ref);
            t->rows = 0;
            for (int r = 0; r < methods.n; r++) {
                if (t->rows >= MAX_ROWS) {
                    t->cut = 1;
                    break;
                }
                char *row[MAX_COLS];
                for (int k = 0; k < t->cols; k++) row[k] = t->cell[t->rows][k];
                snprintf(row[0], CELL, "%s", methods.v[r]);
                Filter f = {methods.v[r], ref, datasets.v[d], datasets.v[d], "supervised"};
                for (int k = 0; k < t->cols - 3; k++) {
                    Cell c = aggregate(rs, &f, 2, proto->classes[k]);
                    table_set_stat(t, t->rows, 1 + k, &c, 1);
                }
                for (int m = 0; m < 2; m++) { /* as Table 1's cells: jobs short of the matrix's show */
                    Cell c = aggregate(rs, &f, m, NULL);
                    table_set_stat(t, t->rows, t->cols - 2 + m, &c, 0);
                }
                t->rows++;
                /* as in Table 1: no published row under a row of dashes (a method of another backbone) */
                int ours = 0;
                for (int k = 1; k < t->cols; k++) ours += strcmp(t->cell[t->rows - 1][k], "—") != 0;
                const char *key = label_key(rs, methods.v[r]);
                const PaperResult *p = paper && papers_classes && ours ? paper_result(key, arch, datasets.v[d]) : NULL;
                if (!p || p->n_recall != 7) continue;
                if (t->rows >= MAX_ROWS) {
                    t->cut = 1;
                    continue;
                }
                paper_row_label(t->cell[t->rows][0], CELL, key, arch);
                for (int k = 0; k < 7; k++) snprintf(t->cell[t->rows][1 + k], CELL, "%.2f", p->recall[k]);
                snprintf(t->cell[t->rows][8], CELL, "%.2f", p->uar);
                snprintf(t->cell[t->rows][9], CELL, "%.2f", p->war);
                t->paper_rows++;
                t->rows++;
            }
            caption_paper_rows(t, 0);
            paper_rows += t->paper_rows;
            table_print(t, format, out);
        }
    }
    /* Table 3: zero-shot */
    /* rows: method, training dataset and the captions its finished jobs recorded, in the matrix's order (a
     * listed job's kind of captions is known once one of its kind ran: until then a row of its own) */
    Names zs_methods = {.n = 0};
    for (int pass = 0; pass < 2; pass++) {
        const Result *arr = pass ? rs->done : rs->expected;
        int n = pass ? rs->n_done : rs->n_expected;
        for (int i = 0; i < n; i++) {
            if (strcmp(arr[i].setting, "zeroshot")) continue;
            char label[LABEL];
            /* a listed job of a known kind (its setting's /CAPTIONS, or its result's): the row of that kind */
            const char *known = pass ? "" : results_expected_captions(rs, &arr[i]);
            if (known[0]) {
                snprintf(label, sizeof label, "%s | %s | %s", arr[i].method, arr[i].dataset, known);
                names_add(&zs_methods, label);
                continue;
            }
            int found = 0;
            for (int k = 0; k < rs->n_done; k++) {
                const Result *r = &rs->done[k];
                if (strcmp(r->setting, "zeroshot") || strcmp(r->method, arr[i].method) ||
                    strcmp(r->dataset, arr[i].dataset))
                    continue;
                if (pass && r != &arr[i]) continue;
                found = 1;
                /* a result without its kind of captions (a failed job's) counts in the rows of its method and
                 * dataset that have one (matches): a row of its own only where there is none */
                if (!r->captions[0] && zero_shot_kind_known(rs, r)) continue;
                snprintf(label, sizeof label, "%s | %s | %s", r->method, r->dataset, r->captions);
                names_add(&zs_methods, label);
            }
            if (!found) {
                snprintf(label, sizeof label, "%s | %s | ", arr[i].method, arr[i].dataset);
                names_add(&zs_methods, label);
            }
        }
    }
    if (zs_methods.n) {
        Names evals_found = distinct(rs, offsetof(Result, eval_dataset), "zeroshot");
        Names evals = datasets_in(&evals_found);
        memset(t, 0, sizeof *t);
        /* every backbone with zero-shot jobs: a row each (a second backbone's results were in no table) */
        Names zs_backbones = distinct(rs, offsetof(Result, backbone), "zeroshot");
        if (zs_backbones.n == 1)
            snprintf(t->title, sizeof t->title, "Table 3: zero-shot results (backbone %.63s)", zs_backbones.v[0]);
        else
            snprintf(t->title, sizeof t->title, "Table 3: zero-shot results");
        /* which test splits of the target were scored: the jobs' eval_folds (results before them: fold 1's); a
         * dataset tested on itself (A->A: a job per fold, on its own fold's test split) is said apart */
        Names folds = {.n = 0};
        int to_another = 0, to_itself = 0;
        for (int pass = 0; pass < 2; pass++) {
            const Result *arr = pass ? rs->done : rs->expected;
            int n = pass ? rs->n_done : rs->n_expected;
            for (int i = 0; i < n; i++) {
                if (strcmp(arr[i].setting, "zeroshot")) continue;
                int itself = !strcmp(arr[i].dataset, arr[i].eval_dataset);
                to_itself |= itself, to_another |= !itself;
                if (itself || !strcmp(arr[i].eval_dataset, "ferv39k")) continue;
                /* results from before eval_folds was recorded were scored on fold 1 */
                names_add(&folds, arr[i].eval_folds[0] ? arr[i].eval_folds : "1");
            }
        }
        char tested[256];
        if (folds.n == 0) snprintf(tested, sizeof tested, "evaluated on fold 1's test split of another");
        else if (folds.n > 1)
            snprintf(tested, sizeof tested,
                     "evaluated on another's test splits of the folds each result.json's eval_folds names");
        else if (!strchr(folds.v[0], ','))
            snprintf(tested, sizeof tested, "evaluated on fold %.31s's test split of another", folds.v[0]);
        else
            snprintf(
                tested, sizeof tested,
                "evaluated on another's test splits of folds %.31s, each scored alone and UAR and WAR averaged over "
                "them as the five-fold protocol does",
                folds.v[0]);
        /* A->A cells: each fold's training split, that fold's test split, averaged over folds as Tables 1-2 */
        const char *itself = "trained on each fold's training split and evaluated on that fold's test split "
                             "(FERV39k: its own splits)";
        if (!to_itself)
            snprintf(t->caption, sizeof t->caption,
                     "Trained on one dataset (fold 1's training split where it has folds), %s (FERV39k: its test "
                     "split); UAR and WAR in %%, mean over seeds.", tested);
        else if (!to_another)
            snprintf(t->caption, sizeof t->caption,
                     "Tested on the training dataset: %s; UAR and WAR in %%, mean over folds and seeds.", itself);
        else
            snprintf(t->caption, sizeof t->caption,
                     "Trained on one dataset (fold 1's training split where it has folds), %s (FERV39k: its test "
                     "split); a dataset's cell of its own: %s. UAR and WAR in %%, mean over seeds (a dataset's own: "
                     "over folds and seeds).", tested, itself);
        uar_war_table(rs, t, &zs_methods, &zs_backbones, &evals, "zeroshot", 1, paper, 0);
        caption_paper_rows(t, 1);
        paper_rows += t->paper_rows;
        table_print(t, format, out);
    }
    /* Tables 4, 5, 6, 7 and 9 and Fig. 8: FineCLIPER's ablations; DFER-CLIP's Tables 1, 3 and 4 (its paper's ran on
     * ViT-B/32): each where the results hold one of a table's rows other than the paper's model, on Table 1's
     * backbone where one of those ran there, else on the first backbone one ran on (ablation_backbone); rows by model
     * (Result.key: the jobs of several arms of one model together) */
    if (datasets.n) {
        Names keys = distinct(rs, offsetof(Result, key), "supervised");
        for (int k = 0; k < k_ablation_table_count; k++) {
            Names rows = ablation_rows(&k_ablation_tables[k], &keys);
            if (!rows.n) continue;
            Names on = {.n = 1};
            snprintf(on.v[0], sizeof on.v[0], "%s", ablation_backbone(rs, &k_ablation_tables[k], &backbones, ref));
            memset(t, 0, sizeof *t);
            snprintf(t->title, sizeof t->title, "%s (backbone %.63s)", k_ablation_tables[k].title, on.v[0]);
            snprintf(t->caption, sizeof t->caption, "%s; UAR and WAR in %%, as in Table 1 (a row gathers the jobs of "
                     "its model whatever their arm).", k_ablation_tables[k].caption);
            uar_war_table(rs, t, &rows, &on, &datasets, "supervised", 0, paper, 1);
            caption_paper_rows(t, 0);
            paper_rows += t->paper_rows;
            table_print(t, format, out);
        }
    }
    /* Table 8: backbone scaling, over the backbones of supervised jobs (a zero-shot job's backbone made a row of
     * dashes) */
    Names supervised_backbones = distinct(rs, offsetof(Result, backbone), "supervised");
    if (supervised_backbones.n > 1 && methods.n && datasets.n) {
        memset(t, 0, sizeof *t);
        snprintf(t->title, sizeof t->title, "Table 8: backbone scaling");
        snprintf(t->caption, sizeof t->caption, "Supervised UAR and WAR in %% per backbone.");
        uar_war_table(rs, t, &methods, &supervised_backbones, &datasets, "supervised", 0, paper, 0);
        caption_paper_rows(t, 0);
        paper_rows += t->paper_rows;
        table_print(t, format, out);
    }
    free(t);
    return paper_rows;
}

/* The distinct values of a field over the finished results that have one, with their counts and the first
 * job of each. */
typedef struct Tally {
    int n;
    char value[8][65];
    int count[8];
    char first[8][RESULT_ID_BYTES];
    int more; /* values beyond the 8 kept */
} Tally;

static void tally_add(Tally *t, const char *value, const char *id) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->value[i], value)) {
            t->count[i]++;
            return;
        }
    if (t->n == 8) {
        t->more++;
        return;
    }
    snprintf(t->value[t->n], sizeof t->value[0], "%s", value);
    snprintf(t->first[t->n], sizeof t->first[0], "%s", id);
    t->count[t->n++] = 1;
}

static void tally_text(const Tally *t, int digits, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < t->n && len < n; i++)
        len +=
            (size_t)snprintf(buf + len, n - len, "%s%.*s in %d job%s (%s%s)", i ? "; " : "", digits, t->value[i],
                             t->count[i], t->count[i] > 1 ? "s" : "", t->count[i] > 1 ? "the first " : "", t->first[i]);
    if (t->more && len < n) snprintf(buf + len, n - len, "; %d more", t->more);
}

/* count strings of a fixed-size list (each `stride` bytes from first) as "a, b, c", cut to fit out[n]. */
static void join_list(char *out, size_t n, const char *first, size_t stride, int count) {
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < count && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", first + (size_t)i * stride);
}

int results_notes(const ResultSet *rs, char notes[][1024], int max_notes) {
    int n = 0;
    Names backbones = distinct(rs, offsetof(Result, backbone), NULL);
    for (int b = 0; b < backbones.n && n < max_notes; b++) {
        Tally t = {0};
        for (int i = 0; i < rs->n_done; i++) {
            const Result *r = &rs->done[i];
            if (r->finished && r->weights_sha[0] && !strcmp(r->backbone, backbones.v[b]))
                tally_add(&t, r->weights_sha, r->id);
        }
        if (t.n + t.more < 2) continue;
        char text[900];
        tally_text(&t, 12, text, sizeof text);
        snprintf(notes[n++], sizeof notes[0], "backbone '%s' was read from %d different weights files (sha256 %s): its "
                 "rows mix them", backbones.v[b], t.n + t.more, text);
    }
    if (!rs->job_list && rs->n_done && n < max_notes)
        snprintf(notes[n++], sizeof notes[0], "no jobs.json (the matrix's list of jobs, which dfer matrix writes): a "
                 "job that wrote no result.json cannot be shown as missing, and each cell counts the results there "
                 "are");
    char names[800];
    if (rs->n_left_out && n < max_notes) {
        join_list(names, sizeof names, rs->left_out[0], sizeof rs->left_out[0], rs->n_left_out);
        snprintf(notes[n++], sizeof notes[0], "%d result folder%s that jobs.json does not list (an earlier matrix's, a "
                 "copy) left out of the tables: %s", rs->n_left_out, rs->n_left_out > 1 ? "s" : "", names);
    }
    /* a plain `dfer train` run's result.json has no matrix setting or backbone: it fits no table */
    int unset = 0;
    char first[RESULT_ID_BYTES] = "";
    for (int i = 0; i < rs->n_done; i++)
        if (!rs->done[i].setting[0] && !unset++) snprintf(first, sizeof first, "%s", rs->done[i].id);
    if (unset && n < max_notes)
        snprintf(notes[n++], sizeof notes[0], "%d result%s without a matrix setting (a run of dfer train, not of dfer "
                 "matrix) in no table: %s%s", unset, unset > 1 ? "s" : "", first, unset > 1 ? " and others" : "");
    if (rs->n_partial && n < max_notes) {
        join_list(names, sizeof names, rs->partial[0], sizeof rs->partial[0], rs->n_partial);
        snprintf(notes[n++], sizeof notes[0], "%d result%s scored on fewer of the folds evaluated than there were (a "
                 "fold without a readable clip has no score; UAR and WAR the mean of the others): %s", rs->n_partial,
                 rs->n_partial > 1 ? "s" : "", names);
    }
    if (rs->n_repeated && n < max_notes) {
        join_list(names, sizeof names, rs->repeated[0], sizeof rs->repeated[0], rs->n_repeated);
        snprintf(notes[n++], sizeof notes[0], "%d result%s of a job already counted (a copied job folder) left out of "
                 "the tables: %s", rs->n_repeated, rs->n_repeated > 1 ? "s" : "", names);
    }
    if (rs->n_unknown_ablation && n < max_notes) {
        join_list(names, sizeof names, rs->unknown_ablation[0], sizeof rs->unknown_ablation[0],
                  rs->n_unknown_ablation);
        snprintf(notes[n++], sizeof notes[0], "%d job%s recording no ablation (written by an older dfer) "
                 "whose config.ini could not be read, tabled as the paper's model: %s", rs->n_unknown_ablation,
                 rs->n_unknown_ablation > 1 ? "s" : "", names);
    }
    for (int i = 0; i < rs->n_unreadable && n < max_notes; i++)
        snprintf(notes[n++], sizeof notes[0], "left out of the tables: %s", rs->unreadable[i]);
    Tally c = {0};
    for (int i = 0; i < rs->n_done; i++)
        if (rs->done[i].finished && rs->done[i].commit[0]) tally_add(&c, rs->done[i].commit, rs->done[i].id);
    if (c.n + c.more > 1 && n < max_notes) {
        char text[900];
        tally_text(&c, 12, text, sizeof text);
        snprintf(notes[n++], sizeof notes[0], "the results come from %d commits of dfer: %s", c.n + c.more, text);
    }
    for (int i = 0; i < n; i++) text_make_printable(notes[i]); /* they name folders and backbones: to a terminal */
    return n;
}

int tables_write_files(const ResultSet *rs, const char *dir, int paper, Err *err) {
    static const char *const names[3] = {"tables.md", "tables.tex", "tables.csv"};
    if (fs_mkdirs(dir, err) != 0) return -1;
    for (int f = 0; f < 3; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        AtomicFile file;
        FILE *out = atomic_stream_open(&file, path, err);
        if (!out) return -1;
        tables_write(rs, (TableFormat)f, paper, out);
        if (atomic_stream_commit(&file, out, NULL, err) != 0) return -1;
    }
    return 0;
}
