#include "train/metrics.h"

#include <string.h>

#include "core/check.h"

void confusion_init(Confusion *cm, int classes) {
    CHECK(classes >= 1 && classes <= METRICS_MAX_CLASSES, "confusion matrix of %d classes", classes);
    memset(cm, 0, sizeof *cm);
    cm->classes = classes;
}

void confusion_add(Confusion *cm, int truth, int predicted) {
    CHECK(truth >= 0 && truth < cm->classes && predicted >= 0 && predicted < cm->classes,
          "label %d / prediction %d outside %d classes", truth, predicted, cm->classes);
    cm->counts[truth * cm->classes + predicted]++;
}

void confusion_add_logits(Confusion *cm, const void *logits, int is_f64, const int32_t *labels, int n) {
    int C = cm->classes;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < C; c++) {
            double v = is_f64 ? ((const double *)logits)[i * C + c] : ((const float *)logits)[i * C + c];
            double b = is_f64 ? ((const double *)logits)[i * C + best] : ((const float *)logits)[i * C + best];
            if (v > b) best = c; /* first maximum wins ties, as argmax */
        }
        confusion_add(cm, labels[i], best);
    }
}

void scores_compute(const Confusion *cm, Scores *s) {
    memset(s, 0, sizeof *s);
    int C = cm->classes;
    int64_t correct = 0;
    double recall_sum = 0;
    for (int t = 0; t < C; t++) {
        int64_t row = 0;
        for (int p = 0; p < C; p++) row += cm->counts[t * C + p];
        s->support[t] = row;
        s->total += row;
        correct += cm->counts[t * C + t];
        if (row > 0) {
            s->recall[t] = 100.0 * (double)cm->counts[t * C + t] / (double)row;
            recall_sum += s->recall[t];
            s->classes_present++;
        } else {
            s->recall[t] = -1;
        }
    }
    s->war = s->total ? 100.0 * (double)correct / (double)s->total : 0;
    s->uar = s->classes_present ? recall_sum / s->classes_present : 0;
}
