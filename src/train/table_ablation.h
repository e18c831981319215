/* The papers' ablation tables that `dfer table` prints (FineCLIPER's Tables 4-7 and 9 and Fig. 8, DFER-CLIP's
 * Tables 1, 3 and 4): which models (Result.key) make each table's rows, and the lists of names the tables are built
 * of. Internal to train/table*.c. */
#ifndef DFER_TRAIN_TABLE_ABLATION_H
#define DFER_TRAIN_TABLE_ABLATION_H

#include <stdio.h>
#include <string.h>

#include "train/table_results.h"

/* distinct values of a field (methods, backbones, datasets): a matrix's axes have at most 16 */
#define MAX_NAMES 128
/* a row's key: a method (Result.method), or a zero-shot "method | dataset | captions" (+ 32 + 24 + 6) */
#define LABEL (RESULT_METHOD_BYTES + 64)

typedef struct Names {
    char v[MAX_NAMES][LABEL];
    int n;
} Names;

static inline void names_add(Names *ns, const char *s) {
    if (!s[0]) return;
    for (int i = 0; i < ns->n; i++)
        if (!strcmp(ns->v[i], s)) return;
    if (ns->n < MAX_NAMES) snprintf(ns->v[ns->n++], sizeof ns->v[0], "%s", s);
}

/* An ablation table, of models (Result.key) in the paper's order. A table is printed where the results hold one of
 * its ablation's models (trigger); of its other rows (the paper's model, Table 1's) those the results hold stand
 * beside them. A sweep's rows (FineCLIPER's Table 9, Fig. 8) are the model at every value of one key the results
 * hold, in order, the paper's model at its own place among them. */
typedef struct AblationRow {
    const char *key;
    int trigger;
} AblationRow;

typedef struct AblationSweep {
    const char *of;       /* the model swept ("finecliper (low)") */
    const char *setting;  /* what its rows change, up to the value ("mlp_adapter_scale=") */
    double model_at;      /* where the model itself stands among the values (0.5; INFINITY: after them) */
} AblationSweep;

typedef struct AblationTable {
    const char *title, *caption;
    AblationRow rows[6]; /* up to the first without a key */
    AblationSweep sweep; /* rows from a sweep instead (sweep.of set) */
} AblationTable;

/* the tables, in the order they are printed */
extern const AblationTable k_ablation_tables[];
extern const int k_ablation_table_count;

/* The rows of table a among keys (the models the results hold), in the table's order; none where no row of an
 * ablation (a trigger) is among them. */
Names ablation_rows(const AblationTable *a, const Names *keys);
/* Whether key is one of a's ablations (a trigger row, or a sweep's row other than the model's). */
int ablation_triggers(const AblationTable *a, const char *key);

#endif
