/* One table of `dfer table` (train/table.c builds them) and its output in each format: Markdown, LaTeX, CSV
 * (numbers a column each) and HTML, each escaping names its own way. Internal to train/table*.c. */
#ifndef DFER_TRAIN_TABLE_FORMAT_H
#define DFER_TRAIN_TABLE_FORMAT_H

#include <stdio.h>

#include "train/table.h"

/* A cell of aggregated jobs: of the `expected` jobs the matrix has for it, n gave a value (mean, sample standard
 * deviation std), `failed` failed. */
typedef struct Cell {
    int n, expected, failed;
    double mean, std;
} Cell;

#define MAX_COLS 32
/* a table's rows: Table 8 of a full matrix is 16 methods x 16 backbones, each with a row of published numbers (at
 * 128 its last rows vanished without a word); past MAX_ROWS the caption says the table is cut */
#define MAX_ROWS 1024
/* bytes of a table cell, its text included: a zero-shot row's name is the method (Result.method, its variant and an
 * ablation: up to 279, ~60 in practice), ", trained on", the dataset (32), the captions (17), " @ " and the backbone
 * (64); at 128 the backbone was cut, and two rows of backbones that differ past the cut read the same */
#define CELL 320

typedef struct Table {
    /* the caption: what the rows are and where the published ones come from (an ablation table's ~800 bytes: at 768
     * FineCLIPER Table 6's was cut mid-word) */
    char title[256], caption[1536];
    char head[MAX_COLS][CELL];
    int cols, rows;
    char cell[MAX_ROWS][MAX_COLS][CELL];
    /* the numbers behind a cell of aggregated jobs (stat_set): the CSV gives its mean, standard deviation, jobs and
     * expected jobs columns of their own, where the other formats write them in one cell ("62.00 ± 2.83 (3)") */
    Cell stat[MAX_ROWS][MAX_COLS];
    unsigned char stat_set[MAX_ROWS][MAX_COLS];
    int paper_rows; /* rows of published numbers among them */
    int cut;        /* rows left out: more than MAX_ROWS */
} Table;

/* A cell of aggregated jobs at (row, col): its text ("62.00 ± 2.83 (3)", or the mean alone where the table says it
 * shows means: Table 2's per-class recall) and the numbers behind it, for the CSV's columns. */
void table_set_stat(Table *t, int row, int col, const Cell *c, int mean_only);
/* t in format f. */
void table_print(const Table *t, TableFormat f, FILE *out);

#endif
