/* What table.c and table_results.c share: a result as the tables read it, and the set of a results
 * folder's results (private to those two files; table.h is the interface). */
#ifndef DFER_TRAIN_TABLE_RESULTS_H
#define DFER_TRAIN_TABLE_RESULTS_H

#include <stdio.h>
#include <stdlib.h>

#include "core/check.h"
#include "train/table.h"

#define MAX_CLASSES 16
/* A job folder's name, whole (NAME_MAX + 1): a name cut shorter matched neither jobs.json's id nor the folder */
#define RESULT_ID_BYTES 256

/* A result's model: "finecliper (low+mid)", then in brackets what differs from the paper's model (config_ablation; its
 * seven items take at most ~165 bytes, 172 are kept), or the methods entry's arm (64) */
#define RESULT_METHOD_BYTES 280

typedef struct Result {
    char method[RESULT_METHOD_BYTES]; /* its row in the tables: "finecliper (low)", "finecliper (low) [negative=less]",
                                       * or with the matrix's arm in the brackets: "finecliper (low) [less]" */
    char key[RESULT_METHOD_BYTES];    /* the model as the paper's tables name it, whatever the arm: the method with
                                       * variant and, in brackets, the ablation ("finecliper (low) [negative=less]";
                                       * the published rows' key, paper_results.h) */
    char backbone[64], dataset[32], eval_dataset[32], setting[16];
    char arch[128];   /* the backbone's architecture (result.json's clip_arch; "" in older results) */
    char captions[24]; /* zero-shot: what training paired the clips with (result.json's captions; "" unknown) */
    char eval_folds[32]; /* zero-shot to a dataset with folds: the folds whose test splits were scored ("1, 2"); "" */
    int fold, seed, finished, failed;
    double uar, war, recall[MAX_CLASSES];
    int n_classes;
    char classes[MAX_CLASSES][32];
    char weights_sha[65]; /* result.json's inputs.weights.sha256 ("" in older results) */
    char commit[24];
    char id[RESULT_ID_BYTES]; /* the job's folder (its result.json's path without the file), for notes */
} Result;

struct ResultSet {
    Result *done;     /* result.json files */
    int n_done;
    int job_list;     /* the folder holds jobs.json (the matrix's list of jobs), even an empty one */
    Result *expected; /* jobs.json entries (fields as in Result, no scores) */
    int n_expected;
    char (*job_ids)[RESULT_ID_BYTES]; /* jobs.json's "job" names: with them, only those folders' results count */
    int n_job_ids;
    char (*left_out)[RESULT_ID_BYTES]; /* result folders that are no job of jobs.json (an earlier matrix's, a copy) */
    int n_left_out;
    /* results of a job already counted (a copied job folder): "folder (the job of first)" */
    char (*repeated)[2 * RESULT_ID_BYTES + 16];
    int n_repeated;
    char (*unreadable)[512]; /* result.json files that could not be read: their messages */
    int n_unreadable;
    /* counted results whose UAR and WAR are the mean of fewer of the folds they evaluated than there were (a fold
     * with no readable clip has no score): "folder (2 of 3 folds)" */
    char (*partial)[RESULT_ID_BYTES + 32];
    int n_partial;
    /* older FineCLIPER and DFER-CLIP jobs (no "ablation" recorded) whose config.ini could not be read: tabled as the
     * paper's model */
    char (*unknown_ablation)[RESULT_ID_BYTES];
    int n_unknown_ablation;
};

/* A listed job's kind of captions (rs->expected[i]): the one its setting names (jobs.json), else the one its finished
 * job recorded, else "" (not known yet: Table 3 counts it in every kind's row). Without the second, a matrix with
 * zeroshot:mafw->dfew and zeroshot:mafw->dfew/descriptions counted both jobs in each of the two rows ("(1/2)") after
 * both had run. */
const char *results_expected_captions(const ResultSet *rs, const Result *e);

/* Appends text to a list of fixed-size strings. */
#define LIST_ADD(list, count, text)                                                                                  \
    do {                                                                                                             \
        (list) = xrealloc((list), (size_t)((count) + 1) * sizeof *(list));                                          \
        snprintf((list)[(count)++], sizeof *(list), "%.*s", (int)sizeof *(list) - 1, (text)); /* cut to fit */      \
    } while (0)

#endif
