/* Running a matrix: the world splits into groups of ranks_per_job; each group
 * takes the next job from a shared counter (MPI one-sided fetch-and-add), so
 * long and short jobs balance; a job's ranks train it data-parallel. Finished
 * jobs (result.json with status done) are skipped when the matrix is started
 * again and unfinished ones resume from their checkpoint. A failing job is
 * recorded (status failed, with its error) and the others go on. Rank 0 then
 * prints the tables. */
#ifndef DFER_TRAIN_RUNNER_H
#define DFER_TRAIN_RUNNER_H

#include <stdio.h>

#include "mpi/dist.h"

typedef struct RunnerOptions {
    const char *matrix_path;
    const char *results_dir;   /* default results/<matrix name> */
    const char *command;
    int allow_config_change;   /* passed to every job's train_run */
} RunnerOptions;

/* Expands a matrix and prints each job id with "ok", "waits: <feature not built yet>" or
 * "ERROR: <why its configuration is invalid>" (no training, no MPI); with check_inputs also
 * "MISSING: <what>" for a job whose inputs would stop it at its start and "NOFIT: <what it needs>" for one
 * whose ranks would not fit train.gpu_mem on a GPU (train_preflight). -1 when any job has an error or,
 * checking inputs, would fail at its start. */
int matrix_list(const char *matrix_path, int check_inputs, FILE *out, Err *err);
/* What the results directory (default results/<matrix name>) says about each job: done (UAR, WAR, time),
 * failed (its error), started (epoch and step of its last logged step, its last evaluation, whether it has a
 * checkpoint, how long ago it last wrote) or pending (with why it cannot run, where it cannot); then the counts
 * and the work left, estimated from the finished jobs' times. Text, or JSON with as_json. Reads only, but for a probe
 * file made and removed at once in the results folder: the locks' and files' ages are judged by the file system's
 * clock (this host's, and the output says so, where the folder takes no file). */
int matrix_status(const char *matrix_path, const char *results_dir, int as_json, FILE *out, Err *err);
/* Returns 0 when every job finished (done or failed-and-recorded), DFER_EXIT_INTERRUPTED when a stop
 * signal ended it early (unfinished jobs are checkpointed), -1 on an error that stops the matrix. */
int matrix_run(const RunnerOptions *opt, const Dist *d, int *failed_jobs, Err *err);

#endif
