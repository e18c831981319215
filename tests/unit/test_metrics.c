/* WAR/UAR from the confusion matrix, against values worked out by hand. */
#include "testlib.h"
#include "train/metrics.h"

static void test_hand_example(void) {
    Confusion cm;
    confusion_init(&cm, 3);
    /* class 0: 4 samples, 3 right; class 1: 2 samples, 1 right; class 2: none */
    int truth[6] = {0, 0, 0, 0, 1, 1}, pred[6] = {0, 0, 0, 1, 1, 2};
    for (int i = 0; i < 6; i++) confusion_add(&cm, truth[i], pred[i]);
    Scores s;
    scores_compute(&cm, &s);
    EXPECT_NEAR(s.war, 100.0 * 4 / 6, 1e-9);
    EXPECT_NEAR(s.uar, (75.0 + 50.0) / 2, 1e-9);
    EXPECT(s.classes_present == 2 && s.recall[2] == -1 && s.support[0] == 4, "absent class excluded from UAR");
}

static void test_logits_argmax(void) {
    Confusion cm;
    confusion_init(&cm, 3);
    float logits[2 * 3] = {0.1f, 0.9f, 0.2f, 1.0f, 1.0f, 0.5f};
    int32_t labels[2] = {1, 1};
    confusion_add_logits(&cm, logits, 0, labels, 2);
    EXPECT(cm.counts[1 * 3 + 1] == 1 && cm.counts[1 * 3 + 0] == 1, "argmax with ties to the first maximum");
}

int main(void) {
    TEST_RUN(test_hand_example);
    TEST_RUN(test_logits_argmax);
    return test_summary();
}
