/* A results folder belongs to one matrix. RESULTS/jobs.json is the matrix's job list, the one the tables and
 * dfer report count (a job folder it does not list is left out); RESULTS/matrix.json records which matrix file wrote
 * it (its real path).
 *
 * Two matrix files that share a folder (the same [matrix] name, so the same default results/NAME, or one --results)
 * would each replace the other's jobs.json at their start, silently, so that the tables of whichever started last
 * counted its jobs alone, and skip each other's jobs of the same id as finished. So, at a run's start, with
 * matrix.json present:
 *   - the same matrix file, edited since: the folder follows it (the jobs it dropped are left out of the tables, as
 *     they were), the log naming the jobs it gained and dropped;
 *   - another file with the same jobs (a copy, one on each node): shared, as runs of one matrix are; where the same
 *     job's settings differ, the runner says so of a finished job and the trainer refuses to resume a started one
 *     (unless --allow-config-change);
 *   - another file with other jobs: refused, naming both files and the jobs that differ, before anything is written.
 * A folder from before matrix.json (jobs.json alone) is taken, with a warning where its job list differs.
 *
 * matrix.json is settled before jobs.json is written, and where there is none it is made exclusively (a whole file
 * hard-linked into place, core/fsutil.h): of two runs of different matrix files starting at the same instant on a new
 * folder, which both found no record and both took the folder (the last rename winning), one alone makes it; the
 * other reads the record that won and is judged by it as above. The record lists its jobs' ids (job_ids), so that a
 * run finding it before the winner's jobs.json still sees which jobs it holds. What remains: on a file system
 * without hard links the record is renamed into place, with a warning, and two such runs can still both pass; the
 * matrix file's owner, edited, rewrites its record and jobs.json by rename, the last writer winning over a run of
 * another file that starts at that instant. */
#ifndef DFER_TRAIN_MATRIX_FOLDER_H
#define DFER_TRAIN_MATRIX_FOLDER_H

#include <cJSON.h>

#include "core/check.h"
#include "train/matrix.h"

/* Takes RESULTS (made if absent) for matrix m of n jobs, whose identities (jobs.json's entries, one per job in
 * order) are `identities`: settles matrix.json and checks it as above, then writes jobs.json (temporary file and
 * rename).
 * -1 (err) when RESULTS holds another matrix's jobs or cannot be written. */
int matrix_folder_take(const Matrix *m, const Job *jobs, int n, const cJSON *identities, const char *results,
                       Err *err);

#endif
