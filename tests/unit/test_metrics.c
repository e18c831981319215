/* WAR/UAR from the confusion matrix, against values worked out by hand. */
#include <math.h>

#include "testlib.h"
#include "train/metrics.h"

static void test_hand_example(void) {
    Confusion cm;
    confusion_init(&cm, 3);
    /* class 0: 4 samples, 3 right; class 1: 2 samples, 1 right; class 2: none */
    int truth[6] = {0, 0, 0, 0, 1, 1}, pred[6] = {0, 0, 0, 1, 1, 2};
    for (int i = 0; i < 6; i++) confusion_add(&cm, truth[i], pred[i], 0);
    Scores s;
    scores_compute(&cm, &s);
    EXPECT_NEAR(s.war, 100.0 * 4 / 6, 1e-9);
    /* class 2 has no clip but is predicted once: it counts in the UAR with recall 0, as sklearn's
     * confusion_matrix(normalize="true").diagonal().mean() (the peers') has it */
    EXPECT_NEAR(s.uar, (75.0 + 50.0 + 0.0) / 3, 1e-9);
    EXPECT(s.classes_present == 2 && s.classes_scored == 3 && s.recall[2] == 0 && s.support[0] == 4,
           "a class absent and predicted: its recall is the 0 the UAR counts");
    double recall_sum = 0;
    int scored = 0;
    for (int c = 0; c < 3; c++)
        if (s.recall[c] >= 0) recall_sum += s.recall[c], scored++;
    EXPECT_NEAR(recall_sum / scored, s.uar, 1e-12); /* result.json's recalls give back its UAR */
    /* a class neither in the split nor predicted is not in the UAR */
    Confusion two;
    confusion_init(&two, 3);
    for (int i = 0; i < 5; i++) confusion_add(&two, truth[i], pred[i], 0);
    scores_compute(&two, &s);
    EXPECT_NEAR(s.uar, (75.0 + 100.0) / 2, 1e-9);
    EXPECT(s.recall[2] == -1 && s.classes_scored == 2, "a class neither in the split nor predicted: recall -1");
}

static void test_logits_argmax(void) {
    Confusion cm;
    confusion_init(&cm, 3);
    float logits[2 * 3] = {0.1f, 0.9f, 0.2f, 1.0f, 1.0f, 0.5f};
    int32_t labels[2] = {1, 1};
    confusion_add_logits(&cm, logits, 0, labels, NULL, 2);
    EXPECT(cm.counts[1 * 3 + 1] == 1 && cm.counts[1 * 3 + 0] == 1, "argmax with ties to the first maximum");
    /* a row with a NaN or infinite logit has no prediction: counted apart (its argmax read as class 0), an
     * unlabelled one not at all */
    double bad[3 * 3] = {NAN, NAN, NAN, 0.2, INFINITY, 0.1, 0.3, NAN, 0.1};
    int32_t bad_labels[3] = {2, 0, -1};
    confusion_add_logits(&cm, bad, 1, bad_labels, NULL, 3);
    int64_t counted = 0;
    for (int i = 0; i < 9; i++) counted += cm.counts[i];
    EXPECT(cm.nonfinite == 2 && counted == 2, "two labelled non-finite rows set apart (%lld), none counted (%lld)",
           (long long)cm.nonfinite, (long long)counted);
}

/* Two folds' test splits scored apart: UAR and WAR are the mean of each fold's, which differs from the scores of
 * their union; the recalls and the summed matrix cover both. */
static void test_parts_mean(void) {
    Confusion cm;
    int folds[2] = {2, 5};
    confusion_init_parts(&cm, 3, 2, folds);
    /* fold 2: 4 clips of class 0, all right (WAR 100, UAR 100 over the one class present);
     * fold 5: class 0 once (wrong, as 1), class 1 once (right): WAR 50, UAR 50 */
    float logits[6 * 3] = {1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0};
    int32_t labels[6] = {0, 0, 0, 0, 0, 1}, parts[6] = {0, 0, 0, 0, 1, 1};
    confusion_add_logits(&cm, logits, 0, labels, parts, 6);
    Scores s;
    scores_compute(&cm, &s);
    EXPECT(s.parts == 2 && s.part_fold[0] == 2 && s.part_fold[1] == 5, "the parts and their folds");
    EXPECT(s.part_total[0] == 4 && s.part_total[1] == 2 && s.total == 6, "clips per part and in all");
    EXPECT_NEAR(s.part_war[0], 100.0, 1e-12);
    EXPECT_NEAR(s.part_uar[1], 50.0, 1e-12);
    EXPECT_NEAR(s.war, 75.0, 1e-12); /* the union's WAR would be 5/6 */
    EXPECT_NEAR(s.uar, 75.0, 1e-12); /* the union's UAR would be (80 + 100) / 2 = 90 */
    EXPECT_NEAR(s.recall[0], 80.0, 1e-12);
    EXPECT(cm.counts[0 * 3 + 1] == 1 && cm.part_counts[1][0 * 3 + 1] == 1 && cm.part_counts[0][0 * 3 + 1] == 0,
           "the summed matrix and each part's");
    /* a part with no clip is not scored, and not averaged in */
    Confusion empty;
    confusion_init_parts(&empty, 3, 2, folds);
    confusion_add(&empty, 1, 1, 1);
    scores_compute(&empty, &s);
    EXPECT(isnan(s.part_war[0]) && s.war == 100.0 && s.parts_scored == 1,
           "an empty part is left out of the mean, and counted out");
}

int main(void) {
    TEST_RUN(test_parts_mean);
    TEST_RUN(test_hand_example);
    TEST_RUN(test_logits_argmax);
    return test_summary();
}
