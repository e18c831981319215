/* Evaluation on a test split: after each training epoch (train_job, through evaluate, declared in
 * train/trainer_internal.h) and of a finished run (`dfer eval`: eval_run, declared in train/trainer.h). */
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/watchdog.h"
#include "io/csv.h"
#include "train/matrix.h"  /* dataset_has_folds */
#include "train/predict.h" /* predict_run_classes */
#include "train/trainer_internal.h"

int trainer_evaluate(JobModel *jm, InputFeed *test, Group *g, int epoch, const char *phase, Confusion *cm,
                     ClipPredictions *pred, double *loss_out, Err *err) {
    /* several folds' test splits (zero-shot transfer): each scored apart as well (train/metrics.h) */
    confusion_init_parts(cm, jm->num_classes, test->d->parts, test->d->part_fold);
    if (pred) clip_predictions_init(pred, test->d->count, jm->num_classes);
    input_feed_start_epoch(test, epoch, 0, 0);
    FeedBatch *b;
    int rc;
    double loss = 0;
    void *logits = NULL;
    int32_t *parts = NULL; /* [n] each clip's part, where the split has parts */
    int logits_cap = 0;
    int batch = 0;
    /* unreadable test clips: not in the batches (Batch.left_out), so neither scored nor in the loss */
    long left_out = 0;
    for (;;) {
        watchdog_mark("%s: waiting for batch %d (the loader)", phase, batch + 1);
        if ((rc = input_feed_next(test, &b, err)) != 0) break;
        left_out += b->left_out;
        if (b->n == 0) continue;
        watchdog_mark("%s: the forward pass of batch %d", phase, ++batch);
        if (b->n > logits_cap) { /* [n, classes] reals, doubles at most */
            logits = xrealloc(logits, (size_t)jm->num_classes * (size_t)b->n * sizeof(double)), logits_cap = b->n;
            parts = xrealloc(parts, (size_t)b->n * sizeof *parts);
        }
        loss += job_model_step(jm, &b->in, b->labels, b->n, 0, 1.0f, logits);
        for (int i = 0; i < b->n && cm->parts; i++) parts[i] = test->d->clips[b->indices[i]].part;
        confusion_add_logits(cm, logits, jm->f64, b->labels, cm->parts ? parts : NULL, b->n);
        if (pred) clip_predictions_add_logits(pred, logits, jm->f64, b->indices, b->n);
    }
    free(logits);
    free(parts);
    if (rc < 0) {
        if (pred) clip_predictions_free(pred);
        return -1;
    }
    watchdog_mark("%s: the reduction of the confusion matrix over the group", phase);
    group_allreduce_i64(g, cm->counts, cm->classes * cm->classes);
    if (cm->parts) /* the parts' matrices are contiguous: [parts][METRICS_MAX_CLASSES^2] */
        group_allreduce_i64(g, cm->part_counts[0], cm->parts * METRICS_MAX_CLASSES * METRICS_MAX_CLASSES);
    *loss_out = group_sum_double(g, loss);
    /* the clips left out, the loader's counts and the non-finite predictions over the group, in one reduction
     * (counts far below 2^53: exact as doubles): every rank takes the same decision */
    long bad, tried;
    loader_read_counts(test->loader, &bad, &tried);
    double counts[4] = {(double)left_out, (double)bad, (double)tried, (double)cm->nonfinite};
    group_sum_doubles(g, counts, 4);
    cm->nonfinite = (int64_t)counts[3];
    double unscored = counts[0];
    if (loader_check_bad_share(test->loader, counts[1], counts[2], err) != 0) {
        if (pred) clip_predictions_free(pred);
        return err_prefix(err, "%s: ", phase);
    }
    if (unscored > 0 && g->rank == 0)
        log_warn("%s: %.0f test clip%s could not be read: left out of the scores and the loss", phase, unscored,
                 unscored > 1 ? "s" : "");
    /* a model with NaN parameters (or one that overflowed) gives NaN logits: no prediction to score (each read as
     * class 0, they made a diverged epoch look like a real one, picked as the best) */
    if (cm->nonfinite > 0) {
        if (pred) clip_predictions_free(pred);
        return err_set(err, "%s: %lld of the test clips of %s got non-finite logits (NaN or infinite): the model has "
                            "diverged or its parameters hold NaN; there is nothing to score", phase,
                       (long long)cm->nonfinite, test->d->source);
    }
    long long scored = 0;
    for (int i = 0; i < cm->classes * cm->classes; i++) scored += cm->counts[i];
    if (scored == 0) {
        if (pred) clip_predictions_free(pred);
        return err_set(err, "%s: none of the %d test clips of %s could be read", phase, test->d->count,
                       test->d->source);
    }
    if (pred) {
        group_sum_doubles(g, pred->probs, pred->count * pred->classes);
        group_sum_doubles(g, pred->seen, pred->count);
        clip_predictions_finish(pred);
    }
    return 0;
}

int trainer_write_predictions(const ClipPredictions *p, const Dataset *d, const char *path, Err *err) {
    AtomicFile file;
    FILE *f = atomic_stream_open(&file, path, err);
    if (!f) return -1;
    fputs(d->parts ? "clip,fold,label,predicted" : "clip,label,predicted", f); /* fold: which test split (parts) */
    for (int c = 0; c < p->classes; c++) fprintf(f, ",%s", k_class_names[c]);
    fputc('\n', f);
    for (int i = 0; i < p->count; i++) {
        int top = clip_predictions_top(p, i);
        csv_print_field(f, d->clips[i].id);
        if (d->parts) fprintf(f, ",%d", d->part_fold[d->clips[i].part]);
        fprintf(f, ",%s,%s", k_class_names[d->clips[i].label], top >= 0 ? k_class_names[top] : "");
        for (int c = 0; c < p->classes; c++) /* an unreadable clip: no prediction, empty fields */
            top >= 0 ? fprintf(f, ",%.6f", p->probs[(size_t)i * p->classes + c]) : fputc(',', f);
        fputc('\n', f);
    }
    return atomic_stream_commit(&file, f, NULL, err);
}

/* dfer eval's work, which eval_run watches: a run's trainable parameters on the test split of its dataset (or of
 * eval_dataset at eval_root), the scores printed by rank 0. */
static int eval_job(const char *run_dir, const Config *run_cfg, const char *eval_dataset, const char *eval_root,
                    int best, const char *predictions_path, Group *g, Err *err) {
    char path[4096];
    Config cfg = *run_cfg;
    /* another dataset with folds: the test splits of data.eval_folds (a zero-shot run's; `dfer eval --folds`, which
     * cmd_eval allows only there), each scored apart; the run's own dataset: data.fold's split whatever eval_folds
     * says (its other folds' test clips are its training clips); a dataset without folds: its one split */
    int other = eval_dataset && strcmp(eval_dataset, run_cfg->dataset);
    int n_folds = other && dataset_has_folds(eval_dataset) ? cfg.n_eval_folds : 0;
    if (eval_dataset) snprintf(cfg.dataset, sizeof cfg.dataset, "%s", eval_dataset);
    if (eval_root) snprintf(cfg.root, sizeof cfg.root, "%s", eval_root);
    Dataset test;
    if (trainer_open_eval_split(&cfg, other ? eval_dataset : NULL, cfg.root, cfg.eval_folds, n_folds, &test, err) != 0)
        return -1;
    JobModel jm;
    int classes;
    if (trainer_list_classes(&cfg, test.num_classes, &classes, err) != 0) {
        dataset_free(&test);
        return -1;
    }
    test.num_classes = classes;
    /* DFER-CLIP learns a prompt context per class (prompt_learner.ctx [classes, contexts, width]): on another
     * dataset it scores the classes it learned (FineCLIPER's class texts are prompts, of any count). A run of
     * MAFW's 11 classes evaluates on a dataset of 7 (DFEW, FERV39k) through the contexts of the 7 they share, the
     * first 7 of the canonical order, its classifier over those 7 alone; one of 7 has no context for MAFW's other
     * 4. Without this the parameters' load failed on the tensor's shape, as if the run's file were another
     * configuration's. */
    int trained = classes;
    if (other && !strcmp(cfg.method, "dfer_clip")) {
        const char *names[DFER_MAX_CLASSES];
        if (predict_run_classes(run_dir, run_cfg, names, &trained, err) != 0) {
            dataset_free(&test);
            return -1;
        }
        if (trained < classes || (trained > classes && (trained != DFER_MAX_CLASSES || classes != 7))) {
            dataset_free(&test);
            return err_set(err, "%s was trained on %d classes (%s), but %s has %d: DFER-CLIP learns a prompt context "
                                "per class, so it scores only the classes it learned (a run of MAFW's 11 evaluates on "
                                "the 7 of dfew or ferv39k; a run of 7 has no context for MAFW's other 4)", run_dir,
                           trained, run_cfg->dataset, eval_dataset, classes);
        }
        char shared[512];
        if (trained > classes && g->rank == 0)
            printf("%s: DFER-CLIP trained on %d classes (%s), evaluated on %s's %d through the contexts of the "
                   "first %d (%s)\n", run_dir, trained, run_cfg->dataset, eval_dataset, classes, classes,
                   class_order_text(classes, shared, sizeof shared));
    }
    if (job_model_load_run(run_dir, &cfg, classes, trained, NULL, best, &jm, path, sizeof path, err) != 0) {
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
    if (plan_apply_inference(&cfg, test.num_classes, NULL, (ec.global_batch + g->size - 1) / g->size, &jm, &plan,
                             err) != 0)
        goto out;
    trainer_log_memory_plan(&plan, g, "evaluation batch");
    /* a contrastively trained model classifies with its class texts: the clips' captions are for training only */
    if (!jm.contrastive && job_model_check_dataset(&jm, &test, err) != 0) goto out;
    if (loader_create(&test, &ec, &el, err) != 0) goto out;
    Confusion cm;
    double loss;
    input_slots_init(&slots, &jm, (ec.global_batch + g->size - 1) / g->size);
    input_feed_init(&feed, el, &test, &jm, &slots);
    ClipPredictions pred;
    if (trainer_evaluate(&jm, &feed, g, 0, "evaluation", &cm, predictions_path ? &pred : NULL, &loss, err) != 0)
        goto out;
    if (predictions_path) {
        int written = g->rank == 0 ? trainer_write_predictions(&pred, &test, predictions_path, err) : 0;
        clip_predictions_free(&pred);
        if (lead_write_agreed(g, written, predictions_path, err) != 0) goto out;
    }
    Scores s;
    scores_compute(&cm, &s);
    if (g->rank == 0) {
        char order[512];
        if (!s.parts) {
            printf("%s on %s test split (%lld clips; classes: %s)\nUAR %.2f  WAR %.2f", path, cfg.dataset,
                   (long long)s.total, class_order_text(test.num_classes, order, sizeof order), s.uar, s.war);
            if (s.classes_scored < test.num_classes) /* a split without some classes: a UAR of fewer */
                printf("  (the UAR over the %d classes the split holds or the model predicted, of %d)",
                       s.classes_scored, test.num_classes);
            printf("\n");
        } else { /* several folds' test splits: each scored alone, the mean first */
            char over[96] = "the mean over the folds";
            if (s.parts_scored < s.parts) /* a fold none of whose clips could be read has no score */
                snprintf(over, sizeof over, "the mean over the %d of %d folds with a readable clip", s.parts_scored,
                         s.parts);
            printf("%s on %s test splits of %d folds (%lld clips; classes: %s)\nUAR %.2f  WAR %.2f  (%s)\n", path,
                   cfg.dataset, s.parts, (long long)s.total, class_order_text(test.num_classes, order, sizeof order),
                   s.uar, s.war, over);
            for (int p = 0; p < s.parts; p++)
                if (s.part_total[p])
                    printf("  fold %d: UAR %.2f  WAR %.2f  (%lld clips)\n", s.part_fold[p], s.part_uar[p],
                           s.part_war[p], (long long)s.part_total[p]);
                else
                    printf("  fold %d: " SCORES_UNSCORED_FOLD "\n", s.part_fold[p]);
            printf("recall over every fold's clips:\n");
        }
        for (int c = 0; c < test.num_classes; c++) {
            long long predicted = 0; /* a class the split lacks but the model predicted is one of the UAR's */
            for (int t = 0; t < cm.classes; t++) predicted += cm.counts[t * cm.classes + c];
            if (s.support[c])
                printf("  %-15s recall %6.2f  (%lld clips)\n", k_class_names[c], s.recall[c], (long long)s.support[c]);
            else if (predicted)
                printf("  %-15s recall   0.00  (no clip of it; predicted %lld time%s: a 0 in the UAR's mean, as "
                       "sklearn counts it)\n", k_class_names[c], predicted, predicted > 1 ? "s" : "");
        }
        printf("loss %.6f (the training loss's terms, mean over the clips)\n", loss / fmax(1, (double)s.total));
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
int eval_run(const char *run_dir, const Config *run_cfg, const char *eval_dataset, const char *eval_root, int best,
             const char *predictions_path, Group *g, Err *err) {
    char what[4200];
    snprintf(what, sizeof what, "evaluating %s", run_dir);
    WatchdogSpec spec = {.floor_seconds = run_cfg->hang_minutes * 60.0, .what = what,
                         .limit_setting = "train.hang_minutes (in the run's config.ini)",
                         .gap_name = "two evaluation batches",
                         .how_to_continue = "running dfer eval again starts the evaluation over"};
    CHECK(watchdog_start(&spec) == 0, "a watchdog already runs in this process");
    int rc = eval_job(run_dir, run_cfg, eval_dataset, eval_root, best, predictions_path, g, err);
    watchdog_stop();
    return rc;
}
