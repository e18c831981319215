/* The paper's tables from a matrix's results: every <job>/result.json under a
 * results directory (and jobs.json, the expanded matrix, so that jobs that have
 * not finished show as missing rather than vanish).
 *
 *   Table 1  supervised UAR/WAR per dataset (rows: method, variant; one backbone)
 *   Table 2  per-class recall per dataset
 *   Table 3  zero-shot UAR/WAR (train on A, evaluate on B)
 *   Table 4  FineCLIPER's levels alone (low, mid, high, all), when a variant without the frames ran
 *   Table 8  backbone scaling (rows: method x backbone), when several backbones ran
 * Cells are mean ± standard deviation over folds and seeds with the number of
 * jobs behind them; missing jobs show as missing, never as zero. */
#ifndef DFER_TRAIN_TABLE_H
#define DFER_TRAIN_TABLE_H

#include <stdio.h>

#include <cJSON.h>

#include "core/check.h"

/* TABLE_HTML: per table a <div> with a heading, caption and <table>, text escaped as
 * core/xml.h does (valid UTF-8 and XML whatever the names hold; for dfer report). */
typedef enum { TABLE_MARKDOWN = 0, TABLE_LATEX = 1, TABLE_CSV = 2, TABLE_HTML = 3 } TableFormat;

typedef struct ResultSet ResultSet;

/* Whether v can be a UAR, WAR or a class's recall as result.json and metrics.jsonl hold them (train/metrics.h:
 * percent): finite and in [0, 100]. A hand-edited or damaged file can hold anything, and "%.2f" of a UAR of 1e300
 * printed 301 digits: such a value is no score. The tables leave its result out with a note naming the file and the
 * key (results_add); dfer report shows it as missing and names the file and key, or the metrics.jsonl line. */
int score_is_percent(double v);
/* What a note says of a score out of range, after the value: the tables' notes and dfer report's say the same. */
#define SCORE_RANGE_TEXT "not a percentage in [0, 100]"
/* result.json's recall of a class without test clips that was never predicted: no value, not damage
 * (train/metrics.h) */
#define RECALL_NO_CLIPS (-1.0)
/* The recall of class k as result.json's "recall"[k] gives it (v), read the way results since 2026-12-07 write it:
 * a class without test clips that the model predicted is a 0 in the UAR and has recall 0, where earlier results
 * wrote -1 (RECALL_NO_CLIPS) for it. best_confusion: the result's best.confusion [true][predicted] (NULL: v as it
 * is). Tables and report read old and new results alike. */
double result_recall_read(const cJSON *best_confusion, int k, double v);

int results_load(const char *dir, ResultSet **out, Err *err);
/* The same from JSON already parsed (dfer report reads each file once): an empty set, the jobs.json
 * array, and each result.json object (path names the file in errors and notes: a fold or seed that is no int). */
ResultSet *results_new(void);
void results_add_expected(ResultSet *rs, const cJSON *jobs, const char *path);
int results_add(ResultSet *rs, const cJSON *result, const char *path, Err *err);
/* A results folder `name` as results_load takes it: left out (a note) when jobs.json does not list it, its
 * result.json added, or a note where it could not be read (read_error) or is not a result (results_add's error). */
void results_add_folder(ResultSet *rs, const char *name, const cJSON *result, const char *path, const char *read_error);
/* Whether the tables count the result of job folder `folder` (not left out: listed by jobs.json where there is
 * one, readable, and not a repeat of a job counted already). */
int results_counted(const ResultSet *rs, const char *folder);
void results_free(ResultSet *rs);
/* Number of results read and of jobs listed in jobs.json. */
int results_count(const ResultSet *rs, int *finished, int *failed, int *expected);
/* Writes every table that has data, in one format; with paper, each of our rows in Tables 1, 2
 * and 8 is followed by the published numbers for the same method, variant, dataset and backbone
 * architecture where a paper has them (train/paper_results.h). Returns the published rows written. */
int tables_write(const ResultSet *rs, TableFormat format, int paper, FILE *out);
/* What the tables do not show but a reader should know, one sentence each into notes (at most max_notes;
 * returns how many): a backbone whose jobs read weights files of different SHA-256 digests (result.json's
 * inputs), results folders left out (not jobs of jobs.json, or a result.json that could not be read: results_load
 * skips them), and results from more than one commit. */
#define RESULTS_MAX_NOTES 16
int results_notes(const ResultSet *rs, char notes[][1024], int max_notes);
/* DIR/tables.md, tables.tex and tables.csv, each written atomically (DIR is created). */
int tables_write_files(const ResultSet *rs, const char *dir, int paper, Err *err);

#endif
