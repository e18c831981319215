/* What running a matrix (runner.c), its --status (runner_status.c) and its --list share inside src/train: a job's
 * identity, its configuration from the matrix, whether it can run, and the results folder. Defined in runner_job.c. */
#ifndef DFER_TRAIN_RUNNER_INTERNAL_H
#define DFER_TRAIN_RUNNER_INTERNAL_H

#include <stddef.h>

#include <cJSON.h>

#include "core/check.h"
#include "train/config.h"
#include "train/matrix.h"

typedef enum { JOB_RUNNABLE, JOB_WAITS, JOB_INVALID } JobState;

/* The job's identity as JSON (a new object, the caller's): id, method, variant, the methods entry's arm where it
 * names one, datasets, fold (and a zero-shot job's target folds), backbone, seed, setting, where the setting names
 * them the captions, and `ablation` (config_ablation of the job's configuration: "" the paper's model; NULL not
 * known, left out). What result.json and the results folder's job list record of a job. */
cJSON *job_identity(const Job *j, const char *ablation);

/* config_ablation of the job's configuration (job_config), for a job whose configuration is not at hand: out, or
 * NULL where it does not load (not known; the job fails at its start, saying why). out: CONFIG_ABLATION_BYTES. */
const char *job_ablation(const Matrix *m, const Job *j, char *out);

/* The job's configuration: defaults, the method's file, the matrix's [set] and its arm's [set@ARM], then the axes (and
 * a zero-shot setting's /CAPTIONS). */
int job_config(const Matrix *m, const Job *j, Config *cfg, Err *err);

/* A job's configuration, or why it cannot run: it waits for a feature not built yet, or its
 * configuration is invalid (err says which, in both cases). */
JobState job_resolve(const Matrix *m, const Job *j, Config *cfg, Err *err);

/* buf[n]: the matrix's results folder, given (--results) or results/<matrix name>. */
void matrix_results_dir(const Matrix *m, const char *given, char *buf, size_t n);

#endif
