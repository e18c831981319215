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
/* Adds the argmax of each row of logits [n, classes] (float or double per is_f64). */
void confusion_add_logits(Confusion *cm, const void *logits, int is_f64, const int32_t *labels, int n);
void scores_compute(const Confusion *cm, Scores *s);

#endif
