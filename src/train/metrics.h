/* Classification metrics of DFER: a fixed C x C confusion matrix (rows = true
 * class, columns = prediction), WAR (accuracy) and UAR (mean per-class recall
 * over the classes present in the evaluated split), in percent. Counts are
 * int64 so they can be summed across ranks. */
#ifndef DFER_TRAIN_METRICS_H
#define DFER_TRAIN_METRICS_H

#include <stdint.h>

#define METRICS_MAX_CLASSES 16

typedef struct Confusion {
    int classes;
    int64_t counts[METRICS_MAX_CLASSES * METRICS_MAX_CLASSES];
} Confusion;

typedef struct Scores {
    double war, uar;                          /* percent */
    double recall[METRICS_MAX_CLASSES];       /* percent; -1 where the class has no samples */
    int64_t support[METRICS_MAX_CLASSES];
    int64_t total;
    int classes_present;
} Scores;

void confusion_init(Confusion *cm, int classes);
void confusion_add(Confusion *cm, int truth, int predicted);
/* Adds the argmax of each row of logits [n, classes] (float or double per is_f64); a row whose label is
 * negative is not counted. */
void confusion_add_logits(Confusion *cm, const void *logits, int is_f64, const int32_t *labels, int n);
void scores_compute(const Confusion *cm, Scores *s);

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
