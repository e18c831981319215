/* Classification metrics of DFER: a fixed C x C confusion matrix (rows = true
 * class, columns = prediction), WAR (accuracy) and UAR (mean per-class recall
 * over the classes of the evaluated split and those predicted, a class predicted
 * but absent recalling 0: sklearn's confusion_matrix(normalize="true")
 * .diagonal().mean(), as the peers compute it), in percent. Counts are int64 so
 * they can be summed across ranks.
 *
 * An evaluation can cover several splits scored apart (zero-shot transfer to a
 * dataset with folds: each fold's test split, data.eval_folds): the matrix then
 * also keeps one per part, and UAR and WAR are the mean of the parts' (the
 * five-fold protocol's figure: each fold scored alone, then averaged), while
 * the recalls and the summed matrix cover every clip. */
#ifndef DFER_TRAIN_METRICS_H
#define DFER_TRAIN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_CLASSES 16
#define METRICS_MAX_PARTS 8

typedef struct Confusion {
    int classes;
    int64_t counts[METRICS_MAX_CLASSES * METRICS_MAX_CLASSES]; /* [classes, classes]: every clip evaluated */
    int parts;                                                 /* 0: one split; 2..METRICS_MAX_PARTS: scored apart */
    int part_fold[METRICS_MAX_PARTS];                          /* the fold each part is the test split of */
    int64_t part_counts[METRICS_MAX_PARTS][METRICS_MAX_CLASSES * METRICS_MAX_CLASSES]; /* [parts][classes, classes] */
    int64_t nonfinite; /* labelled rows with a NaN or infinite logit: no prediction, not in the counts (the argmax
                        * of such a row read as class 0) */
} Confusion;

typedef struct Scores {
    double war, uar;                          /* percent; with parts, the mean of the parts' */
    double recall[METRICS_MAX_CLASSES];       /* percent (every part's clips); 0 for a class with no clips that was
                                               * predicted (a 0 in the UAR), -1 for one neither (not in the UAR) */
    int64_t support[METRICS_MAX_CLASSES];
    int64_t total;
    int classes_present;                      /* classes with clips in the split */
    int classes_scored;                       /* the UAR's: with clips, or predicted */
    int parts;                                /* as Confusion.parts */
    int parts_scored;                         /* the parts with clips: those the UAR and WAR are the mean of */
    int part_fold[METRICS_MAX_PARTS];
    double part_war[METRICS_MAX_PARTS], part_uar[METRICS_MAX_PARTS];
    int64_t part_total[METRICS_MAX_PARTS];
} Scores;

void confusion_init(Confusion *cm, int classes);
/* A matrix for an evaluation of `parts` splits scored apart (folds[parts]: which fold each is); parts <= 1 is
 * one split, as confusion_init. */
void confusion_init_parts(Confusion *cm, int classes, int parts, const int *folds);
/* part: 0..parts-1 (0 where the matrix has no parts) */
void confusion_add(Confusion *cm, int truth, int predicted, int part);
/* Adds the argmax of each row of logits [n, classes] (float or double per is_f64); a row whose label is
 * negative is not counted, one with a non-finite logit counted in cm->nonfinite only. parts[n]: each row's part
 * (NULL: the matrix has none). */
void confusion_add_logits(Confusion *cm, const void *logits, int is_f64, const int32_t *labels, const int32_t *parts,
                          int n);
void scores_compute(const Confusion *cm, Scores *s);
/* What the log and dfer eval say of a fold none of whose clips could be read (it has no score) */
#define SCORES_UNSCORED_FOLD "no readable clip: not in the mean"
/* With parts: "; the mean of folds 1 (UAR u WAR w, n clips), 2 (...)" for a log line; else "". */
void scores_folds_text(const Scores *s, char *out, size_t n);

/* Each clip's class probabilities over an evaluation (softmax of its logits): rows [count, classes] in
 * the dataset's order. A clip can be evaluated more than once (the loader puts a readable clip where an
 * unreadable one was) or on several ranks: rows hold sums and seen[i] how many were added, until
 * clip_predictions_finish divides them; a clip never seen keeps seen 0 (unreadable). */
typedef struct ClipPredictions {
    int count, classes;
    double *probs; /* [count, classes] */
    double *seen;  /* [count]; double so that rows and counts reduce over ranks together */
} ClipPredictions;

void clip_predictions_init(ClipPredictions *p, int count, int classes);
/* Adds rows of logits [n, classes] (float or double per is_f64) for the clips at indices[n]. */
void clip_predictions_add_logits(ClipPredictions *p, const void *logits, int is_f64, const int32_t *indices, int n);
/* After the sums (and their reduction over ranks): the mean of each clip's rows. */
void clip_predictions_finish(ClipPredictions *p);
/* The class with the highest probability (the first on a tie, as the confusion matrix's argmax); -1 unseen. */
int clip_predictions_top(const ClipPredictions *p, int clip);
void clip_predictions_free(ClipPredictions *p);

#endif
