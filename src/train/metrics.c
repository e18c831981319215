#include "train/metrics.h"

#include <math.h>
#include <stdlib.h>
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
        if (labels[i] >= 0) confusion_add(cm, labels[i], best);
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

void clip_predictions_init(ClipPredictions *p, int count, int classes) {
    p->count = count, p->classes = classes;
    p->probs = xcalloc((size_t)count * (size_t)classes, sizeof(double));
    p->seen = xcalloc((size_t)count, sizeof(double));
}

void clip_predictions_add_logits(ClipPredictions *p, const void *logits, int is_f64, const int32_t *indices, int n) {
    int C = p->classes;
    for (int i = 0; i < n; i++) {
        if (indices[i] < 0 || indices[i] >= p->count) continue;
        double row[METRICS_MAX_CLASSES], top = -INFINITY, sum = 0;
        for (int c = 0; c < C; c++) {
            row[c] = is_f64 ? ((const double *)logits)[(size_t)i * C + c] : ((const float *)logits)[(size_t)i * C + c];
            top = fmax(top, row[c]);
        }
        for (int c = 0; c < C; c++) sum += row[c] = exp(row[c] - top); /* shifted: no overflow */
        double *dst = p->probs + (size_t)indices[i] * C;
        for (int c = 0; c < C; c++) dst[c] += row[c] / sum;
        p->seen[indices[i]] += 1;
    }
}

void clip_predictions_finish(ClipPredictions *p) {
    for (int i = 0; i < p->count; i++)
        if (p->seen[i] > 1)
            for (int c = 0; c < p->classes; c++) p->probs[(size_t)i * p->classes + c] /= p->seen[i];
}

int clip_predictions_top(const ClipPredictions *p, int clip) {
    if (!(p->seen[clip] > 0)) return -1;
    const double *row = p->probs + (size_t)clip * p->classes;
    int best = 0;
    for (int c = 1; c < p->classes; c++)
        if (row[c] > row[best]) best = c;
    return best;
}

void clip_predictions_free(ClipPredictions *p) {
    free(p->probs), free(p->seen);
    memset(p, 0, sizeof *p);
}
