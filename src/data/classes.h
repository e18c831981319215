/* Class-order tables. Every label that enters dfer is mapped into one
 * canonical order, DFER-CLIP's (dfer.md §5.4):
 *   0 happiness, 1 sadness, 2 neutral, 3 anger, 4 surprise, 5 disgust, 6 fear,
 *   7 contempt, 8 anxiety, 9 helplessness, 10 disappointment
 * (7-class datasets use 0..6). Each dataset has an explicit table from its
 * native label names and numbers to that order, so no file's order is ever
 * assumed: DFEW's split CSVs (1..7), FERV39k's emotion names (label_index.txt
 * numbers 0..6), MAFW's names (native numbers 0..10), DFER-CLIP's lists
 * (already in the canonical order). */
#ifndef DFER_DATA_CLASSES_H
#define DFER_DATA_CLASSES_H

#include <stddef.h>

#define DFER_MAX_CLASSES 11

/* Canonical class names, index = label. */
extern const char *const k_class_names[DFER_MAX_CLASSES];

typedef struct ClassEntry {
    const char *native_name; /* as the dataset's files spell it ("Happy", "anger") */
    int native_number;       /* the dataset's own number for it */
    int label;               /* canonical index */
} ClassEntry;

typedef struct ClassTable {
    const char *dataset;     /* dfew | ferv39k | mafw | list */
    const char *source;      /* where the native order comes from, for messages */
    int num_classes;         /* 7 or 11 */
    const ClassEntry *entries;
    int count;
} ClassTable;

/* The table of a dataset kind, or NULL for an unknown kind. */
const ClassTable *class_table(const char *dataset);
/* Canonical label of a native name (exact spelling first, then ignoring
 * case), or -1. */
int class_from_native_name(const ClassTable *t, const char *name);
/* Canonical label of a native number, or -1. */
int class_from_native_number(const ClassTable *t, long number);
/* Canonical label of a canonical name ("anger" -> 3), or -1. */
int class_index(const char *canonical_name);

/* One line naming the order every output uses:
 * "DFER-CLIP order: 0 happiness, 1 sadness, ..." for the first n classes. */
const char *class_order_describe(int n, char *buf, size_t len);
/* "happiness, sadness, ..." for the first n classes. */
const char *class_order_text(int n, char *buf, size_t len);

#endif
