/* The jobs of a results directory as the report needs them: every job of
 * jobs.json (the expanded matrix) and every <job>/result.json, with the job's
 * learning curves from metrics.jsonl and its config.ini text.
 *
 * Order: the matrix's order (jobs.json), then jobs that are not listed there,
 * by directory name, so a report is the same whatever order readdir gives. */
#ifndef DFER_REPORT_RUNS_H
#define DFER_REPORT_RUNS_H

#include <cJSON.h>
#include <time.h>

#include "core/check.h"

typedef enum {
    RUN_DONE = 0,    /* result.json with status "done" */
    RUN_FAILED = 1,  /* result.json with status "failed" (and an error) */
    RUN_OTHER = 2,   /* result.json with another status: shown as it says */
    RUN_MISSING = 3, /* listed in jobs.json, no result.json yet */
    RUN_UNREADABLE = 4, /* a result.json that is not JSON or not an object (Run.error says why) */
} RunStatus;

/* Per-epoch curves (epoch numbers from 1). train_loss is the mean of the
 * training loss over the epoch's steps (the logged windows weighted by their
 * step counts); the test values come from the epoch's evaluation. NaN where
 * the log has nothing. */
typedef struct Curves {
    int n;
    double *epoch, *train_loss, *test_loss, *uar, *war;
} Curves;

typedef struct Run {
    char *id;         /* the job id: its directory name */
    cJSON *result;    /* result.json, or NULL when missing */
    const cJSON *job; /* its jobs.json entry, or NULL when not listed (owned by the RunSet) */
    char *config;     /* config.ini, or NULL */
    Curves curves;
    RunStatus status;
    time_t finished; /* when the job finished: result.json's finished_unix, else its file time (0: missing) */
    char *error;     /* RUN_UNREADABLE: why */
    char *curves_error; /* a malformed metrics.jsonl line: the message (the curves stop before it), else NULL */
    /* numbers of result.json and metrics.jsonl out of their range (run_value_ok), one line each naming the file and
     * key or the line ("…/result.json: \"uar\" is 1e+300, not a percentage in [0, 100]"), else NULL: the page shows
     * each as missing and says why */
    char *value_errors;
} Run;

typedef struct RunSet {
    Run *runs;
    int n;
    int done, failed, other, missing, unreadable, listed;
    cJSON *jobs; /* jobs.json, or NULL */
} RunSet;

/* What a number the page prints from result.json or metrics.jsonl can be, and so its range:
 *  RUN_PERCENT  a UAR or WAR (train/table.h's score_is_percent: the tables' rule)
 *  RUN_RECALL   a class's recall: a percentage, or -1 for a class without test clips (no value, not damage)
 *  RUN_AMOUNT   a count, seconds, an epoch: finite, 0 to 1e15 (svg.h's SVG_PLOTTABLE_MAX).
 * A hand-edited or damaged file can hold anything: "%.2f" of a UAR of 1e300 printed 301 digits into the page. */
typedef enum { RUN_PERCENT = 0, RUN_RECALL = 1, RUN_AMOUNT = 2 } RunValueKind;
/* Whether v is a value of kind (a recall of -1 is not: it is "no value"). */
int run_value_ok(double v, RunValueKind kind);
/* The number at o[key] when it is a value of kind, else NaN (absent, not a number, out of range): what the page
 * prints, a dash where NaN. runs_load has named every one out of range in Run.value_errors. */
double run_checked(const cJSON *o, const char *key, RunValueKind kind);
/* run_checked of the job's field as run_num looks it up (result.json, then its jobs.json entry). */
double run_checked_num(const Run *r, const char *key, RunValueKind kind);

/* Reads dir. Errors: dir missing or unreadable, no result.json at all, a metrics.jsonl line that is not
 * JSON (naming the file and line). A result.json that is not JSON makes its run RUN_UNREADABLE (one bad
 * file does not hide the others, as in dfer table); when no result.json can be read, its message is the error. */
int runs_load(const char *dir, RunSet *rs, Err *err);
void runs_free(RunSet *rs);

/* A string field of the job: result.json first, then its jobs.json entry; "" when absent. */
const char *run_str(const Run *r, const char *key);
/* A number field (same lookup); def when absent. */
double run_num(const Run *r, const char *key, double def);
/* "finecliper (low)", "dfer_clip": the method with its variant, as the tables name it. */
void run_method_label(const Run *r, char *buf, size_t n);

#endif
