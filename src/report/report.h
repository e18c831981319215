/* The HTML report of a matrix's results directory: one self-contained page
 * (inline CSS and SVG; no scripts, fonts, images or styles from anywhere else,
 * so it opens offline and can be mailed or archived as one file) with
 *  - a summary: how many jobs finished, failed or are missing, one row each;
 *  - the paper's tables as `dfer table` builds them (src/train/table.h);
 *  - per dataset and setting, the spread of UAR and WAR over folds and seeds;
 *  - per job: learning curves (training and test loss, test UAR and WAR per
 *    epoch), the confusion matrix as a heat map, per-class recall, the error of
 *    a failed job, provenance (commit, command, host, time, seconds) and the
 *    config (config.ini) it ran with.
 * Every string from the results is escaped; the page is written atomically. */
#ifndef DFER_REPORT_REPORT_H
#define DFER_REPORT_REPORT_H

#include <stddef.h>

#include "core/check.h"

typedef struct ReportSummary {
    int jobs, done, failed, other, missing;
    size_t bytes;
    int unreadable; /* a result.json that cannot be read */
} ReportSummary;

/* Reads results_dir (see report/runs.h for the errors) and writes out_path.
 * command: the command line that made the report, shown on the page; paper: the tables carry the
 * published numbers under our rows (as dfer table --paper). */
int report_write(const char *results_dir, const char *out_path, const char *command, int paper, ReportSummary *summary,
                 Err *err);

#endif
