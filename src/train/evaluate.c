/* Evaluation on a test split: after each training epoch (train_job, through evaluate, declared in
 * train/trainer_internal.h) and of a finished run (`dfer eval`: eval_run, declared in train/trainer.h). */
#include "train/trainer.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/watchdog.h"
#include "train/trainer_internal.h"

int trainer_evaluate(JobModel *jm, InputFeed *test, Group *g, int epoch, const char *phase, Confusion *cm,
                     double *loss_out, Err *err) {
    confusion_init(cm, jm->num_classes);
    input_feed_start_epoch(test, epoch, 0, 0);
    FeedBatch *b;
    int rc;
    double loss = 0;
    void *logits = NULL;
    int logits_cap = 0;
    int batch = 0;
    for (;;) {
        watchdog_mark("%s: waiting for batch %d (the loader)", phase, batch + 1);
        if ((rc = input_feed_next(test, &b, err)) != 0) break;
        if (b->n == 0) continue;
        watchdog_mark("%s: the forward pass of batch %d", phase, ++batch);
        if (b->n > logits_cap) /* [n, classes] reals, doubles at most */
            logits = xrealloc(logits, (size_t)jm->num_classes * (size_t)b->n * sizeof(double)), logits_cap = b->n;
        loss += job_model_step(jm, &b->in, b->labels, b->n, 0, 1.0f, logits);
        confusion_add_logits(cm, logits, jm->f64, b->labels, b->n);
    }
    free(logits);
    if (rc < 0) return -1;
    watchdog_mark("%s: the reduction of the confusion matrix over the group", phase);
    group_allreduce_i64(g, cm->counts, cm->classes * cm->classes);
    *loss_out = group_sum_double(g, loss);
    return 0;
}

/* dfer eval's work, which eval_run watches: a run's trainable parameters on the test split of its dataset (or of
 * eval_dataset at eval_root), the scores printed by rank 0. */
static int eval_job(const char *run_dir, const Config *run_cfg, const char *eval_dataset, const char *eval_root, Group *g,
                    Err *err) {
    char path[4096];
    Config cfg = *run_cfg;
    if (eval_dataset) snprintf(cfg.dataset, sizeof cfg.dataset, "%s", eval_dataset);
    if (eval_root) snprintf(cfg.root, sizeof cfg.root, "%s", eval_root);
    Dataset test;
    if (trainer_open_split(&cfg, SPLIT_TEST, &test, err) != 0) return -1;
    JobModel jm;
    if (job_model_load_run(run_dir, &cfg, test.num_classes, NULL, 0, &jm, path, sizeof path, err) != 0) {
        dataset_free(&test);
        return -1;
    }
    int rc = -1;
    Loader *el = NULL;
    InputSlots slots = {0};
    InputFeed feed = {0};
    char landmarks[CFG_STR + 64];
    LoaderConfig ec = trainer_loader_config(&cfg, &jm, g, 0, landmarks, sizeof landmarks);
    /* on CUDA, evaluation batches in micro-batches that fit train.gpu_mem */
    MemoryPlan plan;
    if (plan_apply_inference(&cfg, test.num_classes, NULL, (ec.global_batch + g->size - 1) / g->size, &jm, &plan, err) != 0)
        goto out;
    trainer_log_memory_plan(&plan, g, "evaluation batch");
    if (job_model_check_dataset(&jm, &test, err) != 0) goto out;
    if (loader_create(&test, &ec, &el, err) != 0) goto out;
    Confusion cm;
    double loss;
    input_slots_init(&slots, &jm, (ec.global_batch + g->size - 1) / g->size);
    input_feed_init(&feed, el, &test, &jm, &slots);
    if (trainer_evaluate(&jm, &feed, g, 0, "evaluation", &cm, &loss, err) != 0) goto out;
    Scores s;
    scores_compute(&cm, &s);
    if (g->rank == 0) {
        char order[512];
        printf("%s on %s test split (%lld clips; classes: %s)\nUAR %.2f  WAR %.2f\n", path, cfg.dataset,
               (long long)s.total, class_order_text(test.num_classes, order, sizeof order), s.uar, s.war);
        for (int c = 0; c < test.num_classes; c++)
            if (s.support[c]) printf("  %-15s recall %6.2f  (%lld clips)\n", k_class_names[c], s.recall[c], (long long)s.support[c]);
    }
    rc = 0;
out:
    if (feed.jm) input_feed_free(&feed);
    input_slots_free(&slots);
    loader_destroy(el);
    job_model_free(&jm);
    dataset_free(&test);
    return rc;
}

/* eval_job under the watchdog, with the run's train.hang_minutes: a loader stuck on a file (a dead network
 * mount) or a frozen rank ends `dfer eval` with status 4 saying where it waited, instead of never. It
 * writes nothing into the run's folder. */
int eval_run(const char *run_dir, const Config *run_cfg, const char *eval_dataset, const char *eval_root, Group *g,
             Err *err) {
    char what[4200];
    snprintf(what, sizeof what, "evaluating %s", run_dir);
    WatchdogSpec spec = {.floor_seconds = run_cfg->hang_minutes * 60.0, .what = what,
                         .limit_setting = "train.hang_minutes (in the run's config.ini)",
                         .gap_name = "two evaluation batches",
                         .how_to_continue = "running dfer eval again starts the evaluation over"};
    CHECK(watchdog_start(&spec) == 0, "a watchdog already runs in this process");
    int rc = eval_job(run_dir, run_cfg, eval_dataset, eval_root, g, err);
    watchdog_stop();
    return rc;
}
