/* The epoch loop of a training job (trainer.c sets the job up, finishes and frees it): each epoch's steps (forward,
 * backward, the gradients' all-reduce and the update; a contrastive step's all-gathers), the logging windows' lines,
 * the checkpoints within an epoch and at its end, the evaluation after it (a best WAR's parameters, predictions.csv)
 * and the group's agreement on stopping (a signal, --stop-after, a lock another run took over). */
#include <cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/stop.h"
#include "core/timer.h"
#include "core/watchdog.h"
#include "data/loader.h"
#include "train/checkpoint.h"
#include "train/input_feed.h"
#include "train/job_lock.h"
#include "train/job_model.h"
#include "train/metrics.h"
#include "train/optim.h"
#include "train/trainer_internal.h"
#include "train/trainer_run.h"

/* One contrastive step (the zero-shot setting): local features, all-gathered over the group,
 * the symmetric InfoNCE loss of the global batch and the backward of this rank's rows. Returns
 * this rank's share of the (identical) global loss, so that the group's sum is the loss. */
static double contrastive_step(JobModel *jm, const JobInputs *in, int n, Group *g, int global) {
    job_model_contrastive_forward(jm, in, n, global);
    Tensor lv, lt, av, at;
    job_model_contrastive_tensors(jm, &lv, &lt, &av, &at);
    group_allgather(g, av, lv);
    group_allgather(g, at, lt);
    return job_model_contrastive_backward(jm, g->rank * n, 1, 1.0f / (float)global, g->size) / g->size;
}

/* Whether any rank of the group has received a stop signal (core/stop.h): all
 * ranks of a group take the same decision at the same step. */
static int group_stop_requested(Group *g) {
    int64_t flag = stop_requested() != 0;
    group_allreduce_i64(g, &flag, 1);
    return flag > 0;
}

static void log_stopped(const char *out_dir, const Position *pos) {
    if (pos->step == 0 && pos->epoch > 0) /* at an epoch's end: the checkpoint is the next epoch's start */
        log_warn("stopped by signal %d after epoch %d: checkpoint written in %s; run again with --resume to continue",
                 stop_requested(), pos->epoch, out_dir);
    else
        log_warn("stopped by signal %d after epoch %d step %d: checkpoint written in %s; run again with --resume to "
                 "continue", stop_requested(), pos->epoch + 1, pos->step, out_dir);
}

/* The steps of a logging window: their summed loss, and their seconds waiting for data, in forward+backward, in the
 * gradient all-reduce (with the wait for the slowest rank) and in the whole step. */
typedef struct StepWindow {
    int steps;                 /* the window's steps, for the mean loss (a resumed window's earlier ones included) */
    int timed;                 /* the steps this call ran and timed, for the mean seconds */
    double loss, data_s, compute_s, allreduce_s, step_s;
} StepWindow;

/* v as a JSON number, or null where it is not finite (a skipped step's loss or gradient norm: "nan" is no JSON). */
static const char *json_number(char *buf, size_t n, double v) {
    if (isfinite(v)) snprintf(buf, n, "%.6g", v);
    else snprintf(buf, n, "null");
    return buf;
}

/* A logging window's line, in the log and in metrics.jsonl (rank 0): its means, the learning rate and gradient norm
 * of its last step (NaN where that step's update was skipped), the clips per second of the epoch's steps run in this
 * call (t_epoch: when the epoch began in this call, at step first_step) and the run's ETA from this call's pace. */
static void log_step_window(const TrainRun *run, int steps, const StepWindow *w, double t_epoch, int first_step,
                            double lr_factor, double norm) {
    const Config *cfg = run->cfg;
    const Position *pos = &run->pos;
    double now = time_now(), done_frac = (pos->epoch + (double)pos->step / steps) / cfg->epochs;
    double start_frac = (run->first_epoch + (double)run->first_step / steps) / cfg->epochs;
    double rate = (double)(pos->step - first_step) * cfg->batch / (now - t_epoch);
    double eta = (now - run->t_start) / fmax(1e-9, done_frac - start_frac) * (1 - done_frac);
    char eta_s[32];
    time_format_hms(eta, eta_s, sizeof eta_s);
    log_info("epoch %d/%d step %d/%d loss %.4f lr %.3g grad-norm %.3g %.1f clips/s ETA %s", pos->epoch + 1,
             cfg->epochs, pos->step, steps, w->loss / w->steps, run->oc.lr[0] * lr_factor, norm, rate, eta_s);
    char line[512], loss_s[32], norm_s[32];
    snprintf(line, sizeof line,
             "{\"type\":\"step\",\"epoch\":%d,\"epochs\":%d,\"step\":%d,\"steps\":%d,\"loss\":%s,\"lr\":%.6g,"
             "\"grad_norm\":%s,\"clips_per_s\":%.4g,\"step_s\":%.6g,\"data_s\":%.6g,\"compute_s\":%.6g,"
             "\"allreduce_s\":%.6g}",
             pos->epoch + 1, cfg->epochs, pos->step, steps, json_number(loss_s, sizeof loss_s, w->loss / w->steps),
             run->oc.lr[0] * lr_factor, json_number(norm_s, sizeof norm_s, norm), rate, w->step_s / w->timed,
             w->data_s / w->timed, w->compute_s / w->timed, w->allreduce_s / w->timed);
    /* rank 0 alone writes the line, and the append reads the lock first (the write guard): a line of a job another
     * run took over is not written; the group learns of the loss at the next step's collective and leaves then */
    run_append_line(run->opt->out_dir, "metrics.jsonl", line);
}

/* The training steps of the epoch at the run's position, from its step on: forward and backward, the gradients'
 * all-reduce and the update, with a checkpoint every checkpoint_every_steps and before a stop. Returns 0 when the
 * epoch's steps are done (its evaluation follows), 2 or DFER_EXIT_INTERRUPTED when it stopped after a checkpoint,
 * -1 on failure. grads: the parameters' gradients as one tensor. */
static int train_epoch(TrainRun *run, Tensor grads, Err *err) {
    const Config *cfg = run->cfg;
    const TrainOptions *opt = run->opt;
    Group *g = run->g;
    Position *pos = &run->pos;
    input_feed_start_epoch(&run->tf, pos->epoch, pos->step, cfg->max_steps_per_epoch);
    int steps = loader_steps_per_epoch(run->tl);
    if (cfg->max_steps_per_epoch > 0 && steps > cfg->max_steps_per_epoch) steps = cfg->max_steps_per_epoch;
    double t_epoch = time_now();
    const int first_step = pos->step; /* a resumed epoch begins at its checkpoint's step */
    /* a checkpoint inside a logging window keeps the loss of the window's steps before it, so that the window's line
     * after a resume is the uninterrupted run's (its timings are this call's steps only) */
    StepWindow w = {.loss = pos->window_loss, .steps = pos->window_steps};
    pos->window_loss = 0, pos->window_steps = 0;
    FeedBatch *b;
    while (pos->step < steps) {
        double t0 = time_now();
        watchdog_mark("epoch %d step %d: waiting for the training batch (the loader)", pos->epoch + 1, pos->step + 1);
        int rc = input_feed_next(&run->tf, &b, err);
        if (rc < 0) return -1;
        if (rc > 0) break;
        if (opt->fail_alone_after_steps > 0 && run->steps_run == opt->fail_alone_after_steps &&
            g->rank == opt->fail_alone_rank)
            return err_set(err, "epoch %d step %d: a failure on this rank alone (the test hook DFER_TEST_FAIL_ALONE)",
                           pos->epoch + 1, pos->step + 1);
        double t1 = time_now();
        watchdog_mark("epoch %d step %d: forward and backward%s", pos->epoch + 1, pos->step + 1,
                      run->contrastive ? " (with the all-gathers of the contrastive loss)" : "");
        paramset_zero_grads(run->jm.params);
        double loss = run->contrastive
                          ? contrastive_step(&run->jm, &b->in, b->n, g, cfg->batch)
                          : job_model_step(&run->jm, &b->in, b->labels, b->n, 1, 1.0f / (float)cfg->batch, NULL);
        double t2 = time_now();
        watchdog_mark("epoch %d step %d: the gradient all-reduce over the group's %d rank%s", pos->epoch + 1,
                      pos->step + 1, g->size, g->size > 1 ? "s" : "");
        group_allreduce(g, grads, 0);
        double t3 = time_now();
        watchdog_mark("epoch %d step %d: the loss reduction and the update", pos->epoch + 1, pos->step + 1);
        w.data_s += t1 - t0, w.compute_s += t2 - t1, w.allreduce_s += t3 - t2;
        if (opt->signal_after_steps > 0 && run->steps_run + 1 == opt->signal_after_steps) CHECK_SYS(raise(SIGUSR1));
        /* the loss, whether any rank got a stop signal (core/stop.h), the unreadable clips of the batches so far and
         * whether rank 0's heartbeat found the job's lock taken over (a flag read), in one collective: every rank of
         * the group takes the same decisions after the same step */
        long bad, tried;
        loader_read_counts(run->tl, &bad, &tried);
        double sums[5] = {loss, stop_requested() != 0, (double)bad, (double)tried,
                          run->lead && job_lock_lost(opt->out_dir, 0, NULL)};
        group_sum_doubles(g, sums, 5);
        if (sums[4] > 0) return TRAIN_LOCK_LOST;
        if (loader_check_bad_share(run->tl, sums[2], sums[3], err) != 0) return -1;
        loss = sums[0] / cfg->batch;
        int signalled = sums[1] > 0;
        double lr_factor = schedule_factor(&run->sc, pos->epoch, (double)pos->step / steps), norm = NAN;
        OptStepResult r =
            isfinite(loss) ? optimizer_step(&run->optim, (float)lr_factor, &norm) : OPT_STEP_SKIPPED_NONFINITE;
        if (r == OPT_STEP_SKIPPED_NONFINITE) {
            if (!strcmp(cfg->nonfinite, "abort")) {
                err_set(err, "non-finite loss or gradient at epoch %d step %d (train.nonfinite = abort)",
                        pos->epoch + 1, pos->step + 1);
                return -1;
            }
            if (run->lead)
                log_warn("epoch %d step %d: non-finite loss or gradient, update skipped", pos->epoch + 1,
                         pos->step + 1);
        }
        w.step_s += time_now() - t0;
        pos->opt_steps = run->optim.step;
        pos->step++;
        run->steps_run++;
        w.loss += loss, w.steps++, w.timed++;
        if (run->lead && (pos->step % cfg->log_every == 0 || pos->step == steps)) {
            log_step_window(run, steps, &w, t_epoch, first_step, lr_factor, norm);
            w = (StepWindow){0};
        }
        int at_epoch_end = pos->step >= steps;
        int stop_now = opt->stop_after_steps > 0 && run->steps_run >= opt->stop_after_steps;
        int checkpoint_due = opt->checkpoint_every_steps > 0 && pos->step % opt->checkpoint_every_steps == 0;
        if (!at_epoch_end && (stop_now || signalled || checkpoint_due)) {
            pos->window_loss = w.loss, pos->window_steps = w.steps;
            pos->seconds = run_seconds(run);
            if (lock_lost_agreed(g, opt->out_dir)) return TRAIN_LOCK_LOST;
            int saved = run->lead ? save_checkpoint(opt->out_dir, &run->jm, &run->optim, pos, err) : 0;
            int agreed = lead_write_agreed(g, saved, "the checkpoint", err);
            if (agreed != 0) return agreed;
            /* the window is the checkpoint's alone: a run going on past it (--checkpoint-every) would carry it into
             * the epoch-end checkpoint and the next epoch's first window, whose logged loss it would change */
            pos->window_loss = 0, pos->window_steps = 0;
        }
        if ((stop_now || signalled) && !at_epoch_end) {
            if (signalled && run->lead) log_stopped(opt->out_dir, pos);
            return signalled ? DFER_EXIT_INTERRUPTED : 2;
        }
    }
    return 0;
}

/* The end of an epoch: its evaluation on the test split (a best WAR writes best_model.safetensors), its line in the
 * log, the checkpoint of the next epoch's start and the group's check for a stop. Returns 0 to go on with the next
 * epoch, 2 or DFER_EXIT_INTERRUPTED when it stopped, -1 on failure. */
static int end_epoch(TrainRun *run, Err *err) {
    const Config *cfg = run->cfg;
    const TrainOptions *opt = run->opt;
    Group *g = run->g;
    Position *pos = &run->pos;
    int lead = run->lead;
    Confusion cm;
    double eval_loss;
    char phase[64];
    snprintf(phase, sizeof phase, "evaluation after epoch %d", pos->epoch + 1);
    ClipPredictions pred;
    if (trainer_evaluate(&run->jm, &run->ef, g, pos->epoch, phase, &cm, &pred, &eval_loss, err) != 0) return -1;
    if (lock_lost_agreed(g, opt->out_dir)) {
        clip_predictions_free(&pred);
        return TRAIN_LOCK_LOST;
    }
    /* every test clip's class probabilities from this evaluation (the last one's stay: model.safetensors') */
    int written = 0;
    if (lead) {
        char path[4096];
        run_file_path(path, sizeof path, opt->out_dir, "predictions.csv");
        written = trainer_write_predictions(&pred, &run->test, path, err);
    }
    clip_predictions_free(&pred);
    int agreed = lead_write_agreed(g, written, "predictions.csv", err);
    if (agreed != 0) return agreed;
    Scores s;
    scores_compute(&cm, &s);
    pos->last = s, pos->last_cm = cm, pos->has_last = 1;
    if (s.war > pos->best_war) {
        pos->best_war = s.war, pos->best_uar = s.uar, pos->best_epoch = pos->epoch;
        pos->best = s, pos->best_cm = cm, pos->has_best = 1;
        if (lock_lost_agreed(g, opt->out_dir)) return TRAIN_LOCK_LOST;
        int saved = 0;
        if (lead) {
            char path[4096];
            run_file_path(path, sizeof path, opt->out_dir, "best_model.safetensors");
            saved = save_params(&run->jm, path, err);
        }
        agreed = lead_write_agreed(g, saved, "best_model.safetensors", err);
        if (agreed != 0) return agreed;
    }
    if (lock_lost_agreed(g, opt->out_dir)) return TRAIN_LOCK_LOST; /* the evaluation's line and the checkpoint */
    if (lead) {
        char folds[512] = "";
        scores_folds_text(&s, folds, sizeof folds);
        log_info("epoch %d/%d evaluation: UAR %.2f WAR %.2f loss %.4f (%lld clips%s; best WAR %.2f at epoch %d)",
                 pos->epoch + 1, cfg->epochs, s.uar, s.war, eval_loss / fmax(1, (double)s.total), (long long)s.total,
                 folds, pos->best_war, pos->best_epoch + 1);
        cJSON *o = trainer_scores_json(&s, &cm, pos->epoch + 1);
        cJSON_AddStringToObject(o, "type", "eval");
        cJSON_AddNumberToObject(o, "loss", eval_loss / fmax(1, (double)s.total));
        char *line = cJSON_PrintUnformatted(o);
        run_append_line(opt->out_dir, "metrics.jsonl", line);
        free(line);
        cJSON_Delete(o);
    }
    Position next = *pos;
    next.epoch++, next.step = 0;
    next.seconds = run_seconds(run);
    int saved = lead ? save_checkpoint(opt->out_dir, &run->jm, &run->optim, &next, err) : 0;
    agreed = lead_write_agreed(g, saved, "the checkpoint", err);
    if (agreed != 0) return agreed;
    int stop_now = opt->stop_after_steps > 0 && run->steps_run >= opt->stop_after_steps && next.epoch < cfg->epochs;
    watchdog_mark("after epoch %d: the group's check for a stop signal", pos->epoch + 1);
    int signalled = group_stop_requested(g) && next.epoch < cfg->epochs;
    if (stop_now || signalled) {
        if (signalled && lead) log_stopped(opt->out_dir, &next);
        return signalled ? DFER_EXIT_INTERRUPTED : 2;
    }
    return 0;
}

/* The epochs from the run's position to train.epochs, each trained, then evaluated and checkpointed. Returns 0 when
 * the last one ended, else the status of the phase that stopped them (train_epoch, end_epoch). */
int trainer_run_epochs(TrainRun *run, Err *err) {
    run->t_start = time_now();
    run->seconds_before = run->pos.seconds;
    run->first_epoch = run->pos.epoch, run->first_step = run->pos.step;
    const ParamSet *ps = run->jm.params;
    Tensor grads = tensor_make(ps->grads, ps->dtype, 1, (int64_t)ps->numel);
    for (; run->pos.epoch < run->cfg->epochs; run->pos.epoch++, run->pos.step = 0) {
        int status = train_epoch(run, grads, err);
        if (status == 0) status = end_epoch(run, err);
        if (status != 0) return status;
    }
    return 0;
}
