/* Results folders for the table tests (table_fixture.c). */
#ifndef DFER_TESTS_TABLE_FIXTURE_H
#define DFER_TESTS_TABLE_FIXTURE_H

#include <stddef.h>

#include "train/table.h"

/* DIR/job/result.json holding json */
void put(const char *dir, const char *job, const char *json);
/* DIR = <tmp>/name with jobs.json holding jobs (the expanded matrix). */
void results_dir(char *dir, size_t n, const char *name, const char *jobs);
/* A job's fields as result.json has them (status done unless uar < 0: failed; war = uar + 10). */
void put_job(const char *dir, const char *name, const char *method, const char *variant, const char *dataset,
             const char *eval_dataset, const char *backbone, const char *setting, int fold, double uar,
             const char *classes_recall);
/* The tables of rs in format, composed in memory (what tables_write prints to a file or standard output). */
char *tables_text(const ResultSet *rs, TableFormat format, int paper);

#endif
