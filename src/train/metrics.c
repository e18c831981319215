#include "train/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"

void confusion_init(Confusion *cm, int classes) {
    CHECK(classes >= 1 && classes <= METRICS_MAX_CLASSES, "confusion matrix of %d classes", classes);
    memset(cm, 0, sizeof *cm);
    cm->classes = classes;
}

void confusion_init_parts(Confusion *cm, int classes, int parts, const int *folds) {
    CHECK(parts >= 0 && parts <= METRICS_MAX_PARTS, "an evaluation of %d parts (at most %d)", parts, METRICS_MAX_PARTS);
    confusion_init(cm, classes);
    if (parts <= 1) return;
    cm->parts = parts;
    memcpy(cm->part_fold, folds, (size_t)parts * sizeof *folds);
}

void confusion_add(Confusion *cm, int truth, int predicted, int part) {
    CHECK(truth >= 0 && truth < cm->classes && predicted >= 0 && predicted < cm->classes,
          "label %d / prediction %d outside %d classes", truth, predicted, cm->classes);
    CHECK(part >= 0 && part < (cm->parts ? cm->parts : 1), "part %d of an evaluation of %d", part, cm->parts);
    cm->counts[truth * cm->classes + predicted]++;
    if (cm->parts) cm->part_counts[part][truth * cm->classes + predicted]++;
}

void confusion_add_logits(Confusion *cm, const void *logits, int is_f64, const int32_t *labels, const int32_t *parts,
                          int n) {
    int C = cm->classes;
    for (int i = 0; i < n; i++) {
        int best = 0, finite = 1;
        for (int c = 0; c < C; c++) {
            double v = is_f64 ? ((const double *)logits)[i * C + c] : ((const float *)logits)[i * C + c];
            double b = is_f64 ? ((const double *)logits)[i * C + best] : ((const float *)logits)[i * C + best];
            finite &= isfinite(v) != 0;
            if (v > b) best = c; /* first maximum wins ties, as argmax */
        }
        if (labels[i] < 0) continue;
        if (!finite) cm->nonfinite++;
        else confusion_add(cm, labels[i], best, parts ? parts[i] : 0);
    }
}

/* The scores of one matrix of counts [C, C]. */
static void scores_of_counts(const int64_t *counts, int C, Scores *s) {
    memset(s, 0, sizeof *s);
    int64_t correct = 0;
    double recall_sum = 0;
    for (int t = 0; t < C; t++) {
        int64_t row = 0;
        for (int p = 0; p < C; p++) row += counts[t * C + p];
        s->support[t] = row;
        s->total += row;
        correct += counts[t * C + t];
        int64_t col = 0;
        for (int q = 0; q < C; q++) col += counts[q * C + t];
        /* the UAR's classes: those of the split and those predicted (a class predicted but absent recalls 0), as
         * sklearn's confusion_matrix(normalize="true").diagonal().mean() the peers use takes the labels of both; the
         * recall of such a class is that 0 (it was -1, as a class in no part of the UAR, and the recalls' mean was
         * not the UAR) */
        if (row > 0) {
            s->recall[t] = 100.0 * (double)counts[t * C + t] / (double)row;
            recall_sum += s->recall[t];
            s->classes_present++;
        } else {
            s->recall[t] = col > 0 ? 0 : -1;
        }
        s->classes_scored += row > 0 || col > 0;
    }
    s->war = s->total ? 100.0 * (double)correct / (double)s->total : 0;
    s->uar = s->classes_scored ? recall_sum / s->classes_scored : 0;
}

void scores_compute(const Confusion *cm, Scores *s) {
    scores_of_counts(cm->counts, cm->classes, s);
    if (cm->parts < 2) return;
    /* each part scored alone; UAR and WAR the mean over the parts with clips (a part none of whose clips could be
     * read has no score: the evaluation already warned of the unreadable clips) */
    s->parts = cm->parts;
    double uar = 0, war = 0;
    int scored = 0;
    for (int p = 0; p < cm->parts; p++) {
        Scores part;
        scores_of_counts(cm->part_counts[p], cm->classes, &part);
        s->part_fold[p] = cm->part_fold[p];
        s->part_total[p] = part.total;
        s->part_uar[p] = part.total ? part.uar : NAN;
        s->part_war[p] = part.total ? part.war : NAN;
        if (part.total) uar += part.uar, war += part.war, scored++;
    }
    s->parts_scored = scored;
    s->uar = scored ? uar / scored : 0;
    s->war = scored ? war / scored : 0;
}

void scores_folds_text(const Scores *s, char *out, size_t n) {
    if (n) out[0] = '\0';
    for (int p = 0, used = 0; p < s->parts && n; p++) {
        int w = s->part_total[p]
                    ? snprintf(out + used, n - (size_t)used, "%s %d (UAR %.2f WAR %.2f, %lld clips)",
                               p ? "," : "; the mean of folds", s->part_fold[p], s->part_uar[p], s->part_war[p],
                               (long long)s->part_total[p])
                    : snprintf(out + used, n - (size_t)used, "%s %d (" SCORES_UNSCORED_FOLD ")",
                               p ? "," : "; the mean of folds", s->part_fold[p]);
        if (w < 0 || (size_t)(used + w) >= n) break;
        used += w;
    }
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
