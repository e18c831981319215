#include "train/trainer.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/stop.h"
#include "core/timer.h"
#include "core/watchdog.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/loader_mid.h"
#include "io/json_file.h"
#include "text/tokenizer.h"
#include "train/checkpoint.h"
#include "train/input_feed.h"
#include "train/job_lock.h"
#include "train/job_model.h"
#include "train/metrics.h"
#include "train/optim.h"
#include "train/plan.h"
#include "train/provenance.h"
#include "train/run_hang.h"
#include "train/trainer_internal.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif

/* ---- the run folder's files and the log ------------------------------------------------- */

void run_file_path(char *buf, size_t n, const char *dir, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

/* A lost log line does not stop a run of days; the first failure is said. */
static void append_line(const char *dir, const char *file, const char *line) {
    static int warned;
    char path[4096];
    Err err;
    run_file_path(path, sizeof path, dir, file);
    /* refused by the job lock's write guard (core/fsutil.h) once another run took the job over: not a lost line to
     * warn of; the group leaves the job at its next look */
    if (fs_append_line(path, line, &err) != 0 && !job_lock_lost(dir, 0, NULL) && !warned++)
        log_warn("%s (training goes on; later log lines may be lost too)", err.msg);
}

/* A resumed run's log as it was at its checkpoint. The lines of steps a killed or failed run made after its
 * last checkpoint go (the resumed run makes those steps again and logs them anew), and so does half a line
 * a run killed while appending left. metrics_bytes: the log's length at the checkpoint, -1 when the
 * checkpoint does not say (only the torn line is cut then). Rank 0 alone: warnings, never an early exit. */
static void metrics_rewind(const char *path, long long metrics_bytes) {
    struct stat st;
    if (metrics_bytes >= 0 && stat(path, &st) == 0) {
        if (st.st_size < metrics_bytes)
            log_warn("%s: shorter than when the checkpoint was written (%lld < %lld bytes): lines were lost", path,
                     (long long)st.st_size, metrics_bytes);
        else if (st.st_size > metrics_bytes) {
            long long lines = 0; /* the lines cut, for the message */
            FILE *f = fopen(path, "rb");
            if (f && fseeko(f, (off_t)metrics_bytes, SEEK_SET) == 0)
                for (int c; (c = fgetc(f)) != EOF;) lines += c == '\n';
            if (f) fclose(f);
            if (truncate(path, (off_t)metrics_bytes) != 0)
                log_warn("%s: cannot cut it back to the checkpoint (%s): some steps will appear twice", path,
                         strerror(errno));
            else
                log_info("%s: back to the checkpoint: %lld line(s) and %lld bytes logged after it cut "
                         "(those steps run again)",
                         path, lines, (long long)st.st_size - metrics_bytes);
        }
    }
    size_t cut = 0;
    Err err;
    if (fs_trim_torn_tail(path, &cut, &err) != 0) log_warn("%s", err.msg);
    else if (cut) log_warn("%s: cut the last %zu bytes, a line the stopped run did not finish", path, cut);
}

/* Whether another run of the matrix has taken over the job's lock (train/job_lock.h): a run that was silent longer
 * than matrix.stale_lock_minutes (its node frozen, its file system stalled) and went on would write the same
 * checkpoint, metrics.jsonl and result.json as the run that took the job over. Before each of its writes into the
 * folder rank 0 reads the lock, and the group takes its word: every rank leaves the job at the same point. Outside a
 * matrix there is no lock, and never a loss. */
static int lock_lost_agreed(Group *g, const char *out_dir) {
    int lost = g->rank == 0 && job_lock_lost(out_dir, 1, NULL);
    group_bcast(g, &lost, sizeof lost);
    return lost;
}

/* ---- the run ----------------------------------------------------------------------------- */

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

/* The micro-batch and recompute of the job (plan_apply), and the plan in the log. */
static int choose_micro_batch(const Config *cfg, int classes, Group *g, JobModel *jm, Err *err) {
    MemoryPlan p;
    if (plan_apply(cfg, classes, NULL, g->size, jm, &p, err) != 0) {
        job_model_free(jm);
        return -1;
    }
    trainer_log_memory_plan(&p, g, "step");
    return 0;
}

int train_collectives(const Config *cfg, const Dist *d, CollBackend *backend, Err *err) {
    *backend = COLL_MPI;
    if (job_backend(cfg) != BACKEND_CUDA) return 0;
    if (dist_select_gpu(d, err) != 0) return -1;
    *backend = COLL_NCCL;
    return 0;
}

/* ---- train_job's phases ------------------------------------------------------------------ */

/* What a training job holds from its setup to its end: the phases below share it, and close_run frees it. */
typedef struct TrainRun {
    const Config *cfg;
    const TrainOptions *opt;
    Group *g;
    int lead;                     /* rank 0: it alone writes the run's files and logs the progress */
    int contrastive;              /* the zero-shot objective (train.objective = contrastive) */
    Dataset train, test;
    JobModel jm;
    OptimizerConfig oc;
    ScheduleConfig sc;
    Optimizer optim;
    Loader *tl, *el;              /* the training and the evaluation loader */
    InputSlots slots;             /* device memory for prefetched batches, shared by the two feeds */
    InputFeed tf, ef;             /* the loaders' batches for the model (input_feed.h) */
    char landmarks[CFG_STR + 64]; /* the loaders' tracks directory, which must outlive them */
    Position pos;
    int steps_run;                /* steps run in this call: what stop_after_steps and signal_after_steps count */
    double t_start;               /* when this call's first epoch began: the ETA and result.json's seconds */
    double seconds_before;        /* training seconds of earlier calls, up to the checkpoint this one resumed */
    int first_epoch, first_step;  /* the position this call began at (a resumed run's): the ETA counts from it */
    cJSON *inputs;                /* rank 0: the files this call read, with their digests (provenance.h) */
} TrainRun;

/* Training seconds up to now over every call of the run. */
static double run_seconds(const TrainRun *run) { return run->seconds_before + (time_now() - run->t_start); }

/* Before anything is loaded, on every rank: the folder exists, holds no run that a command without --resume would
 * overwrite, and receives config.ini once a resumed run's changed configuration is refused or allowed. */
static int prepare_out_dir(const Config *cfg, const TrainOptions *opt, Group *g, Err *err) {
    if (fs_mkdirs(opt->out_dir, err) != 0) return -1;
    int lead = g->rank == 0;
    char path[4096];
    /* a run of days is not overwritten by a command that forgot --resume */
    static const char *const run_files[] = {"checkpoint.safetensors", "result.json"};
    for (int i = 0; i < 2 && !opt->resume; i++) {
        run_file_path(path, sizeof path, opt->out_dir, run_files[i]);
        if (fs_exists(path))
            return err_set(err,
                           "%s already holds a run (%s): --resume continues it; to train from the start, delete it "
                           "or give another --out",
                           opt->out_dir, run_files[i]);
    }
    int refused = lead && trainer_check_resumed_config(cfg, opt, err) != 0;
    group_bcast(g, &refused, sizeof refused); /* every rank stops, or none */
    if (refused) {
        if (!lead) err_set(err, "the run's configuration changed since its checkpoint (rank 0 says how)");
        return -1;
    }
    if (lock_lost_agreed(g, opt->out_dir)) return TRAIN_LOCK_LOST;
    int written = 0;
    if (lead) {
        run_file_path(path, sizeof path, opt->out_dir, "config.ini");
        written = config_write_file(cfg, path, err);
    }
    return lead_write_agreed(g, written, "config.ini", err);
}

/* The training split and the test split (zero-shot transfer: eval_dataset's, with its classes, the test splits of
 * data.eval_folds where it names several; NULL: the training dataset's), and the classes the model outputs. On error
 * nothing is left open. */
static int open_splits(const Config *cfg, const char *eval_dataset, const char *eval_root, Dataset *train,
                       Dataset *test, int *classes, Err *err) {
    int contrastive = !strcmp(cfg->objective, "contrastive");
    if (trainer_open_split(cfg, SPLIT_TRAIN, train, err) != 0) return -1;
    if (trainer_open_eval_split(cfg, eval_dataset, eval_root, cfg->eval_folds, cfg->n_eval_folds, test, err) != 0) {
        dataset_free(train);
        return -1;
    }
    const ClipRecord *both;
    /* another dataset's clips are other files; a zero-shot A->A job (a fold's own test split) is checked as a
     * supervised run is */
    int own_data =
        !eval_dataset || (!strcmp(eval_dataset, cfg->dataset) && (!eval_root || !strcmp(eval_root, cfg->root)));
    int shared = own_data ? dataset_shared_clips(train, test, &both) : 0;
    if (shared) {
        err_set(err, "%s and %s share %d clip%s (%s, %s): a test clip trained on would be scored; fix the split files "
                     "(dfer data check lists them)", train->source, test->source, shared, shared > 1 ? "s" : "",
                both->id, both->path);
        dataset_free(train), dataset_free(test);
        return -1;
    }
    *classes = contrastive ? test->num_classes : train->num_classes;
    /* A list's class count follows its labels: a test label the training split's model cannot output is an error
     * (contrastive training learns no classes: its model takes the test split's). */
    for (int i = 0; i < test->count && !contrastive; i++)
        if (test->clips[i].label >= train->num_classes) {
            err_set(err, "%s: clip %s has label %d, but the training split %s has %d classes (labels 0..%d)",
                    test->source, test->clips[i].id, test->clips[i].label, train->source, train->num_classes,
                    train->num_classes - 1);
            dataset_free(train), dataset_free(test);
            return -1;
        }
    return 0;
}

int train_preflight(const Config *cfg, const char *eval_dataset, const char *eval_root, Err *err) {
    Dataset train, test;
    int classes;
    if (open_splits(cfg, eval_dataset, eval_root, &train, &test, &classes, err) != 0) return -1;
    JobModel jm;
    int rc = job_model_create_counting(cfg, classes, BACKEND_CPU, NULL, &jm, err);
    if (rc == 0) {
        char vocab[sizeof jm.vocab_path];
        /* the counting context plans without a vocabulary; a run cannot: the resolver says what to set */
        if (jm.prompts_at_context && clip_vocab_resolve(cfg->vocab, cfg->weights, "model.vocab", vocab, sizeof vocab,
                                                        err) != 0)
            rc = -1;
        else if (jm.high && !jm.descs) /* the counting context plans without them; a run cannot */
            rc = err_set(err, "the high level needs per-clip descriptions: %s does not exist (model.descriptions; "
                              "`dfer prep` writes them)", jm.desc_path);
        else if (job_model_check_dataset(&jm, &train, err) != 0 ||
                 (!jm.contrastive && job_model_check_dataset(&jm, &test, err) != 0))
            rc = -1;
        char landmarks[CFG_STR + 64];
        const char *parsing = trainer_mid_dirs(cfg, landmarks, sizeof landmarks);
        for (int split = 0; split < 2 && rc == 0 && jm.mid_streams; split++) {
            const Dataset *d = split ? &test : &train;
            char first[8300];
            int missing = mid_missing_inputs(jm.mid_streams, landmarks, parsing, d, first, sizeof first);
            if (missing)
                rc =
                    err_set(err, "%d of the %d clips of %s have no middle-level input (the first: %s); run `dfer prep`",
                            missing, d->count, d->source, first);
        }
        job_model_free(&jm);
    }
    dataset_free(&train), dataset_free(&test);
    return rc;
}

/* The data and the model: the training split, the split evaluated (another dataset's in zero-shot transfer), the
 * model and its micro-batch. Apart from the rest of the setup because a failure here frees what it opened itself
 * (no loader or optimiser exists yet for close_run to free). */
static int open_splits_and_model(TrainRun *run, Err *err) {
    const Config *cfg = run->cfg;
    const TrainOptions *opt = run->opt;
    Dataset *train = &run->train, *test = &run->test;
    watchdog_mark("reading the dataset's split files (%s)", cfg->root[0] ? cfg->root : cfg->train_list);
    int classes;
    if (open_splits(cfg, opt->eval_dataset, opt->eval_root, train, test, &classes, err) != 0) return -1;
    watchdog_mark("loading the model (%s)", cfg->weights);
    if (job_model_create(cfg, classes, &run->jm, err) != 0) {
        dataset_free(train), dataset_free(test);
        return -1;
    }
    if (choose_micro_batch(cfg, classes, run->g, &run->jm, err) != 0) { /* nothing fits train.gpu_mem */
        job_model_free(&run->jm);
        dataset_free(train), dataset_free(test);
        return -1;
    }
    return 0;
}

/* The rest of the setup, which close_run undoes: the optimiser and its schedule, the batch's id buffer, and the
 * training and evaluation loaders once the model is known to take the splits' clips. */
static int open_optimizer_and_loaders(TrainRun *run, Err *err) {
    const Config *cfg = run->cfg;
    job_model_optimizer_config(cfg, &run->jm, &run->oc);
    run->sc = (ScheduleConfig){.gamma = cfg->gamma, .warmup_epochs = cfg->warmup_epochs, .epochs = cfg->epochs};
    schedule_kind_from_name(cfg->schedule, &run->sc.kind);
    run->sc.n_milestones = cfg->n_milestones;
    memcpy(run->sc.milestones, cfg->milestones, sizeof cfg->milestones);
    if (run->sc.kind == SCHED_MULTISTEP && run->g->rank == 0) {
        int firing = 0;
        for (int i = 0; i < cfg->n_milestones; i++) firing += cfg->milestones[i] < cfg->epochs;
        if (firing < cfg->n_milestones)
            log_warn("optim.milestones: %d of %d lie at or after train.epochs = %d and never lower the learning rate%s",
                     cfg->n_milestones - firing, cfg->n_milestones, cfg->epochs,
                     firing ? "" : " (the schedule is constant)");
    }
    if (job_model_check_dataset(&run->jm, &run->train, err) != 0 ||
        (!run->contrastive && job_model_check_dataset(&run->jm, &run->test, err) != 0))
        return -1;
    if (optimizer_create(run->jm.params, &run->oc, &run->optim, err) != 0) return -1;
    LoaderConfig lc = trainer_loader_config(cfg, &run->jm, run->g, 1, run->landmarks, sizeof run->landmarks);
    if (loader_create(&run->train, &lc, &run->tl, err) != 0) return -1;
    LoaderConfig ec = trainer_loader_config(cfg, &run->jm, run->g, 0, run->landmarks, sizeof run->landmarks);
    if (loader_create(&run->test, &ec, &run->el, err) != 0) return -1;
    /* a rank's share of either pass's batch: what the memory plan counted (plan.h input_prefetch) */
    int share = plan_prefetch_clips(cfg, run->g->size);
    input_slots_init(&run->slots, &run->jm, share);
    input_feed_init(&run->tf, run->tl, &run->train, &run->jm, &run->slots);
    input_feed_init(&run->ef, run->el, &run->test, &run->jm, &run->slots);
    return 0;
}

/* Where the run starts: with --resume at its checkpoint (the log cut back to it, the temporary files of a killed
 * run removed), else at the beginning, with the log an earlier start that never checkpointed left emptied. */
static int resume_or_start(TrainRun *run, Err *err) {
    const TrainOptions *opt = run->opt;
    int lead = run->lead;
    char path[4096];
    run->pos = (Position){.best_war = -1, .best_epoch = -1, .metrics_bytes = -1};
    run_file_path(path, sizeof path, opt->out_dir, "checkpoint.safetensors");
    int resumed = opt->resume && fs_exists(path), loaded = 0;
    if (resumed) {
        watchdog_mark("reading the checkpoint in %s", opt->out_dir);
        loaded = load_checkpoint(opt->out_dir, &run->jm, &run->optim, &run->pos, err);
    }
    if (checkpoint_agreed(run->g, opt->out_dir, resumed, loaded, &run->pos, err) != 0) return -1;
    if (resumed && lead) log_info("resuming %s at epoch %d, step %d", opt->out_dir, run->pos.epoch + 1, run->pos.step);
    char hang[1024];
    if (lead && resumed && run_ended_on_hang(opt->out_dir, hang, sizeof hang))
        log_warn("%s: its last run ended on a hang, %s; resuming from its checkpoint", opt->out_dir, hang);
    if (lock_lost_agreed(run->g, opt->out_dir)) return TRAIN_LOCK_LOST; /* before the log is cut or emptied */
    run_file_path(path, sizeof path, opt->out_dir, "metrics.jsonl");
    if (lead && resumed) metrics_rewind(path, run->pos.metrics_bytes);
    else if (lead && fs_exists(path)) { /* from the start: an earlier start's lines (it never checkpointed) go */
        if (truncate(path, 0) != 0)
            log_warn("%s: cannot empty it (%s): its lines will mix with this run's", path, strerror(errno));
        else log_info("%s: emptied (an earlier start left it without a checkpoint)", path);
    }
    if (lead && opt->resume) { /* a run killed while writing a file left its temporary (only in a run's folder) */
        char left[512];
        Err tmp_err;
        int n = fs_remove_atomic_leftovers(opt->out_dir, left, sizeof left, &tmp_err);
        if (n < 0) log_warn("%s", tmp_err.msg);
        else if (n)
            log_warn("%s: removed %d temporary file%s a killed run left: %s", opt->out_dir, n, n > 1 ? "s" : "", left);
    }
    return 0;
}

/* A resumed run reads the files its checkpoint was trained with: weights, vocabulary, split files and descriptions
 * whose digests differ from the checkpoint's (the same path, another file) are refused unless
 * --allow-config-change, as a changed configuration is; the checkpoints written from here on carry this call's
 * digests. On every rank, rank 0 deciding. */
static int check_resumed_inputs(TrainRun *run, Err *err) {
    int refused = 0;
    if (run->lead) {
        char what[1024];
        if (run_inputs_changed(run->pos.inputs, run->inputs, what, sizeof what) > 0) {
            if (run->opt->allow_config_change)
                log_warn("resuming with other input files (--allow-config-change): %s", what);
            else
                refused = err_set(err, "%s: the checkpoint was trained with other input files at these paths: %s; "
                                       "resuming would train one run on two. Restore them, train into a new folder, "
                                       "or resume with --allow-config-change", run->opt->out_dir, what) != 0;
        }
        run_inputs_digests(run->inputs, run->pos.inputs, sizeof run->pos.inputs);
    }
    group_bcast(run->g, &refused, sizeof refused); /* every rank stops, or none */
    if (refused && !run->lead) err_set(err, "the run's input files changed since its checkpoint (rank 0 says which)");
    return refused ? -1 : 0;
}

/* What the log says of the run before its first step (rank 0): the data and its classes, the trainable parameters
 * per group, the device and the batch. */
static void log_run_start(const TrainRun *run) {
    const Config *cfg = run->cfg;
    const JobModel *jm = &run->jm;
    char order[512];
    if (!run->opt->eval_dataset) {
        if (!strcmp(cfg->dataset, "list")) /* no root and no folds: the two lists name the clips */
            log_info("%s on the lists %s (train) and %s (test): %d train / %d test clips, classes: %s", cfg->method,
                     cfg->train_list, cfg->test_list, run->train.count, run->test.count,
                     class_order_text(run->train.num_classes, order, sizeof order));
        else
            log_info("%s on %s (%s, fold %d): %d train / %d test clips, classes: %s", cfg->method, cfg->dataset,
                     cfg->root, cfg->fold, run->train.count, run->test.count,
                     class_order_text(run->train.num_classes, order, sizeof order));
    } else { /* zero-shot transfer: another dataset's test split(s), with its classes */
        char folds[128] = "";
        for (int p = 0, used = 0; p < run->test.parts; p++)
            used += snprintf(folds + used, sizeof folds - (size_t)used, "%s%d", p ? ", " : " of folds ",
                             run->test.part_fold[p]);
        log_info("%s trained on %s (%s, fold %d, %d clips), tested on %s (%s: %d clips of the test split%s%s), "
                 "classes: %s", cfg->method, cfg->dataset, cfg->root, cfg->fold, run->train.count,
                 run->opt->eval_dataset, run->opt->eval_root, run->test.count, run->test.parts ? "s" : "", folds,
                 class_order_text(jm->num_classes, order, sizeof order));
    }
    const TextCut *cut = &jm->text_cut;
    if (cut->cut)
        log_warn("%d of the %d %s are longer than the text encoder's context of %d tokens (the longest %d; the first: "
                 "clip %s): they are cut to %d, their end never reaching the model%s", cut->cut, cut->of, cut->what,
                 cut->context, cut->longest, cut->first, cut->context,
                 strcmp(cut->what, "descriptions") ? "" : " (shorten them, e.g. with dfer refine, or use Long-CLIP: "
                                                          "model.long_clip)");
    if (!strcmp(cfg->dataset, "list")) { /* DFER-CLIP's lists count from 0; one counting from 1 shifts every class */
        int zero = 0, top = 0;
        for (int i = 0; i < run->train.count; i++)
            zero |= run->train.clips[i].label == 0,
                top = run->train.clips[i].label > top ? run->train.clips[i].label : top;
        if (!zero && top == 7)
            log_warn("%s: no clip has label 0 and the largest is %d: labels count from 0 (0 = happiness .. 6 = fear, "
                     "MAFW's 7 = contempt .. 10 = disappointment); a list counted from 1 trains shifted classes",
                     cfg->train_list, top);
    }
    char augment[256];
    augment_describe(loader_augment_config(run->tl), augment, sizeof augment);
    log_info("training augmentation (%s): %s", strcmp(cfg->augment, "auto") ? cfg->augment : "the dataset's", augment);
    char groups[256] = "";
    for (int gi = 0; gi < jm->groups; gi++)
        snprintf(groups + strlen(groups), sizeof groups - strlen(groups), "%s%s %zu", gi ? ", " : "",
                 jm->group_names[gi], paramset_group_numel(jm->params, gi));
    log_info("trainable parameters: %zu (%s)", jm->params->numel, groups);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(run->inputs, "weights");
    const char *sha = json_get_string(w, "sha256", NULL);
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(w, "bytes");
    if (sha && cJSON_IsNumber(bytes))
        log_info("weights %s: %.0f MB, sha256 %.16s... (every input's digest goes into result.json)", cfg->weights,
                 bytes->valuedouble / 1e6, sha);
    log_info("%s; %d rank%s, global batch %d; frames %s%s", ops_describe(jm->ops), run->g->size,
             run->g->size > 1 ? "s" : "", cfg->batch,
             jm->uint8_frames ? "as uint8, normalised on the device" : "normalised by the loader",
             jm->prefetch_inputs ? ", the next batch copied to it during the step (copy stream)" : "");
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
    append_line(run->opt->out_dir, "metrics.jsonl", line);
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
            saved = save_params(&run->jm, path, "", NULL, err);
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
        append_line(opt->out_dir, "metrics.jsonl", line);
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
static int run_epochs(TrainRun *run, Err *err) {
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

/* The end of a run that trained every epoch: model.safetensors (the last parameters) and result.json (the best
 * epoch's scores, as the peers report them) from rank 0, agreed on by the group, then the summary in the log. */
static int finish_run(TrainRun *run, Err *err) {
    const Config *cfg = run->cfg;
    const TrainOptions *opt = run->opt;
    Position *pos = &run->pos;
    if (lock_lost_agreed(run->g, opt->out_dir)) return TRAIN_LOCK_LOST;
    int saved = 0;
    if (run->lead) {
        char path[4096];
        run_file_path(path, sizeof path, opt->out_dir, "model.safetensors");
        saved = save_params(&run->jm, path, "", NULL, err);
        /* a resumed run may have evaluated its best epoch before the restart: fall back to the last */
        if (!pos->has_best) pos->best = pos->last, pos->best_cm = pos->last_cm, pos->best_epoch = cfg->epochs - 1;
        if (saved == 0)
            saved = trainer_write_result(cfg, opt, &run->jm, pos, run->inputs, run_seconds(run),
                                         time_now() - run->t_start, err);
    }
    int agreed = lead_write_agreed(run->g, saved, "model.safetensors and result.json", err);
    if (agreed != 0) return agreed;
    if (run->lead) {
        log_info("done: best WAR %.2f UAR %.2f (epoch %d), last WAR %.2f UAR %.2f; results in %s", pos->best.war,
                 pos->best.uar, pos->best_epoch + 1, pos->last.war, pos->last.uar, opt->out_dir);
#ifdef DFER_WITH_CUDA
        DferGemmStats gs;
        if (dfer_cuda_gemm_stats(run->jm.ops, &gs) == 0)
            log_info("cuBLASLt plans: %d held, %lld built, %lld recycled%s; %lld split K, %lld BF16 problems asked "
                     "again without the fp32-reduction mask",
                     gs.held, gs.built, gs.recycled,
                     gs.recycled ? " (the cache thrashes: raise GEMM_CACHE_SIZE in kernels/gemm.cu)" : "", gs.split_k,
                     gs.mask_retries);
#endif
    }
    return 0;
}

/* Frees what open_optimizer_and_loaders and open_splits_and_model opened, the loaders before the model (whose
 * context owns their batch buffers). */
static void close_run(TrainRun *run) {
    input_feed_free(&run->tf);
    input_feed_free(&run->ef);
    input_slots_free(&run->slots);
    loader_destroy(run->tl);
    loader_destroy(run->el);
    if (run->optim.ps) optimizer_free(&run->optim);
    job_model_free(&run->jm);
    dataset_free(&run->train);
    dataset_free(&run->test);
    cJSON_Delete(run->inputs);
}

/* One training job on this rank, phase by phase (train_run runs it under the watchdog); returns what train_run
 * does. */
static int train_job(const Config *cfg, const TrainOptions *opt, Group *g, Err *err) {
    if (opt->resume && !opt->allow_config_change && train_run_finished(opt->out_dir)) {
        if (g->rank == 0)
            log_info("%s: finished already (result.json): nothing to resume (--allow-config-change trains on from its "
                     "last checkpoint, with more epochs say)", opt->out_dir);
        return 0;
    }
    int prepared = prepare_out_dir(cfg, opt, g, err); /* -1 or TRAIN_LOCK_LOST */
    if (prepared != 0) return prepared;
    TrainRun run = {.cfg = cfg, .opt = opt, .g = g, .lead = g->rank == 0,
                    .contrastive = !strcmp(cfg->objective, "contrastive")};
    if (open_splits_and_model(&run, err) != 0) return -1; /* it freed what it had opened */
    int status = open_optimizer_and_loaders(&run, err);
    if (status == 0) status = resume_or_start(&run, err); /* -1 or TRAIN_LOCK_LOST */
    if (status == 0) {
        status = -1;
        if (run.lead) {
            watchdog_mark("reading the inputs' digests (the weights: %s)", cfg->weights);
            run.inputs = run_inputs_json(cfg, &run.jm, &run.train, &run.test);
        }
        if (check_resumed_inputs(&run, err) == 0) {
            if (run.lead) log_run_start(&run);
            status = run_epochs(&run, err);
            if (status == 0) status = finish_run(&run, err);
        }
    }
    close_run(&run);
    return status;
}

/* train_job under the watchdog (core/watchdog.h): a rank that stops making progress says where it waits
 * and ends, instead of holding its allocation until the time limit. */
int train_run(const Config *given, const TrainOptions *opt, Group *g, Err *err) {
    if (config_validate(given, err) != 0) return -1;
    /* config.ini, the resume comparison and the provenance name the files absolutely: a run's relative
     * model.weights resolved from wherever `dfer predict` or `eval` was started */
    Config *cfg = xmalloc(sizeof *cfg);
    *cfg = *given;
    if (config_absolute_paths(cfg, err) != 0) {
        free(cfg);
        return -1;
    }
    char what[4200];
    snprintf(what, sizeof what, "training %s into %s", cfg->method, opt->out_dir);
    char record[4200];
    run_file_path(record, sizeof record, opt->out_dir, RUN_HANGS_FILE);
    /* the message's defaults are this: train.hang_minutes, steps, resume from the checkpoint */
    WatchdogSpec spec = {.floor_seconds = cfg->hang_minutes * 60.0, .what = what, .record_path = record};
    CHECK(watchdog_start(&spec) == 0, "a watchdog already runs in this process");
    int rc = train_job(cfg, opt, g, err);
    watchdog_stop();
    free(cfg);
    return rc;
}
