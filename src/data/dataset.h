/* Dataset adapters: the official layouts and split files of DFEW (5 folds),
 * FERV39k (train/test) and MAFW (5 folds, single-label; CRLF lines; the
 * with-caption files' English captions, their GBK Chinese column skipped
 * byte-safely), and DFER-CLIP-style lists ("path num_frames label").
 * Labels are mapped through an explicit class-order table into the project's
 * order, DFER-CLIP's (dfer.md §5.4):
 *   0 happiness, 1 sadness, 2 neutral, 3 anger, 4 surprise, 5 disgust, 6 fear,
 *   7 contempt, 8 anxiety, 9 helplessness, 10 disappointment. */
#ifndef DFER_DATA_DATASET_H
#define DFER_DATA_DATASET_H

#include <stddef.h>

#include "core/check.h"
#include "data/classes.h" /* DFER_MAX_CLASSES, k_class_names, class tables */

typedef enum { SPLIT_TRAIN = 0, SPLIT_TEST = 1 } Split;

typedef struct ClipRecord {
    char *id;             /* the dataset's clip id ("00025", "Action/Happy/0267", "03747") */
    char *path;           /* frame folder or video file */
    int label;            /* in the project's class order */
    int annotated_frames; /* from a list file, or -1 */
    char *caption;        /* MAFW's English caption, or NULL */
    int part;             /* which of the splits opened together it comes from (dataset_open_folds), else 0 */
} ClipRecord;

#define DATASET_MAX_PARTS 8

typedef struct Dataset {
    char kind[16];        /* dfew | ferv39k | mafw | list */
    int num_classes;      /* 7 or 11 */
    ClipRecord *clips;
    int count, cap;
    int skipped;          /* lines without a single label (DFEW label 0), counted, not loaded */
    char source[4096];    /* the split file read (several: their paths, comma-separated) */
    int parts;            /* 0: one split file; 2..DATASET_MAX_PARTS: the folds' splits opened together */
    int part_fold[DATASET_MAX_PARTS];
    char *part_source[DATASET_MAX_PARTS]; /* each part's split file */
} Dataset;

/* Whether kind is one dataset_open reads: dfew, ferv39k, mafw or list. */
int dataset_kind_known(const char *kind);
/* Opens a split. fold: 1..5 for DFEW/MAFW, ignored for FERV39k; kind "list"
 * reads root as the list file itself (relative clip paths resolve against its folder). */
int dataset_open(const char *kind, const char *root, Split split, int fold, Dataset *out, Err *err);
/* The split of several folds as one dataset, in the order given, each clip's part its fold's index in folds
 * (zero-shot transfer evaluates every fold's test split of the target, each scored apart). A clip in two
 * folds' splits is listed once per fold. n_folds 1 is dataset_open (parts 0); the kind must have folds. */
int dataset_open_folds(const char *kind, const char *root, Split split, const int *folds, int n_folds, Dataset *out,
                       Err *err);
/* Parses split-file text (for tests and fuzzing): errors name label:line. */
int dataset_parse(const char *kind, const char *text, size_t len, const char *label, const char *root, Dataset *out,
                  Err *err);
void dataset_free(Dataset *d);
/* How many clips (by path) a and b both hold; *first: the one of them with the lowest id (NULL when none).
 * A fold's test clips in its training split would be scored after being trained on. */
int dataset_shared_clips(const Dataset *a, const Dataset *b, const ClipRecord **first);

#endif
