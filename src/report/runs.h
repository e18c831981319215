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
} Run;

typedef struct RunSet {
    Run *runs;
    int n;
    int done, failed, other, missing, unreadable, listed;
    cJSON *jobs; /* jobs.json, or NULL */
} RunSet;

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
