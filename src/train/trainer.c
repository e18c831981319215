#include "train/trainer.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
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
#include "train/optim.h"
#include "train/plan.h"
#include "train/provenance.h"
#include "train/run_hang.h"
#include "train/trainer_internal.h"
#include "train/trainer_run.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif

/* ---- the run folder's files and the log ------------------------------------------------- */

void run_file_path(char *buf, size_t n, const char *dir, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

/* A lost log line does not stop a run of days; the first failure is said. */
void run_append_line(const char *dir, const char *file, const char *line) {
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
int lock_lost_agreed(Group *g, const char *out_dir) {
    int lost = g->rank == 0 && job_lock_lost(out_dir, 1, NULL);
    group_bcast(g, &lost, sizeof lost);
    return lost;
}

/* ---- the run ----------------------------------------------------------------------------- */

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

/* ---- train_job's phases (its epochs: trainer_epochs.c) ----------------------------------- */

/* Before anything is loaded, on every rank: the folder exists, holds no run that a command without --resume would
 * overwrite, and a resumed run's changed configuration is refused or allowed (config.ini is written once the run
 * has passed every check before its first step: take_over_run_folder). */
static int prepare_out_dir(const Config *cfg, const TrainOptions *opt, Group *g, Err *err) {
    if (fs_mkdirs(opt->out_dir, err) != 0) return -1;
    int lead = g->rank == 0;
    char path[4096];
    /* a run of days is not overwritten by a command that forgot --resume */
    static const char *const run_files[] = {"checkpoint.safetensors", CHECKPOINT_PREVIOUS, "result.json"};
    for (int i = 0; i < 3 && !opt->resume; i++) {
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
    return 0;
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

/* The middle level's inputs of both splits (face tracks, or parsing maps where data.parsing_dir gives them),
 * checked before the first step: more than data.max_bad_fraction of a split's clips without them (no `dfer prep`, or
 * another folder) is an error, since the loader would only meet them mid-epoch, clip after clip; fewer (clips `dfer
 * prep` could not read, which it leaves without a track) are unreadable clips as any other, replaced in training and
 * left out of the evaluation (warn: said once, by training's rank 0; the planner's preflight says nothing). */
static int check_mid_inputs(const Config *cfg, int mid_streams, const Dataset *train, const Dataset *test, int warn,
                            Err *err) {
    char landmarks[CFG_STR + 64];
    const char *parsing = trainer_mid_dirs(cfg, landmarks, sizeof landmarks);
    for (int split = 0; split < 2 && mid_streams; split++) {
        const Dataset *d = split ? test : train;
        char first[8300];
        int missing = mid_missing_inputs(mid_streams, landmarks, parsing, d, first, sizeof first);
        if (missing > cfg->max_bad_fraction * d->count)
            return err_set(err, "%d of the %d clips of %s have no middle-level input (the first: %s), more than "
                                "data.max_bad_fraction = %g of them; run `dfer prep`", missing, d->count, d->source,
                           first, cfg->max_bad_fraction);
        if (missing && warn)
            log_warn("%d of the %d clips of %s have no middle-level input (the first: %s): read as unreadable clips "
                     "(within data.max_bad_fraction = %g)", missing, d->count, d->source, first, cfg->max_bad_fraction);
    }
    return 0;
}

/* What a preflight says of a high level whose descriptions file does not exist (path) */
#define NO_DESCRIPTIONS_FMT                                                                                            \
    "the high level needs per-clip descriptions: %s does not exist (model.descriptions; `dfer prep` writes them)"

int train_preflight(const Config *cfg, const char *eval_dataset, const char *eval_root, int ranks, Err *err) {
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
            rc = err_set(err, NO_DESCRIPTIONS_FMT, jm.desc_path);
        else if (job_model_check_dataset(&jm, &train, err) != 0 ||
                 (!jm.contrastive && job_model_check_dataset(&jm, &test, err) != 0))
            rc = -1;
        if (rc == 0 && check_mid_inputs(cfg, jm.mid_streams, &train, &test, 0, err) != 0) rc = -1;
        job_model_free(&jm);
    } else {
        /* the weights (or the model) could not be read: the inputs the configuration alone names are checked still,
         * so that one `matrix --check` names each missing input of a job, not the first only */
        Err more;
        char desc[CFG_STR + 64];
        config_prep_path(cfg, cfg->descriptions, "descriptions.jsonl", desc, sizeof desc);
        if (!strcmp(cfg->method, "finecliper") && strstr(cfg->variant, "high") && !fs_exists(desc))
            err_suffix(err, "; also: " NO_DESCRIPTIONS_FMT, desc);
        if (check_mid_inputs(cfg, job_model_mid_streams(cfg), &train, &test, 0, &more) != 0)
            err_suffix(err, "; also: %s", more.msg);
    }
    dataset_free(&train), dataset_free(&test);
    /* the memory a GPU run plans at its start (choose_micro_batch), refused there when nothing fits; a build without
     * CUDA runs every job on the CPU */
#ifdef DFER_WITH_CUDA
    int on_gpu = strcmp(cfg->device, "cpu") != 0;
#else
    int on_gpu = 0;
#endif
    MemoryPlan p;
    if (rc == 0 && on_gpu && plan_memory(cfg, classes, BACKEND_CUDA, NULL, ranks, &p, err) != 0)
        rc = -1;
    else if (rc == 0 && on_gpu && !p.fits)
        rc = 1, err_set(err, "%s it needs %.2f GiB a rank where train.gpu_mem = %g GiB, %s micro-batch %d (`dfer "
                             "plan` with this job's configuration shows where the memory goes)",
                        strcmp(cfg->device, "cuda") ? "on a GPU (train.device = auto)" : "on its GPU",
                        (double)p.total / (1u << 30), cfg->gpu_mem, p.micro_batch > 1 ? "at" : "even at",
                        p.micro_batch);
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
        (!run->contrastive && job_model_check_dataset(&run->jm, &run->test, err) != 0) ||
        check_mid_inputs(cfg, run->jm.mid_streams, &run->train, &run->test, run->lead, err) != 0)
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

/* Where the run starts: with --resume at its checkpoint, else at the beginning. Reads, writes nothing (a resume
 * refused after it leaves the folder as it was): take_over_run_folder does. */
static int resume_or_start(TrainRun *run, Err *err) {
    const TrainOptions *opt = run->opt;
    int lead = run->lead;
    char path[4096];
    run->pos = (Position){.best_war = -1, .best_epoch = -1, .metrics_bytes = -1};
    run_file_path(path, sizeof path, opt->out_dir, "checkpoint.safetensors");
    char previous[4096];
    run_file_path(previous, sizeof previous, opt->out_dir, CHECKPOINT_PREVIOUS);
    int resumed = opt->resume && checkpoint_exists(opt->out_dir), loaded = 0;
    char fell_back[2048] = "";
    if (resumed) {
        watchdog_mark("reading the checkpoint in %s", opt->out_dir);
        loaded = load_checkpoint(opt->out_dir, &run->jm, &run->optim, &run->pos, fell_back, sizeof fell_back, err);
    }
    if (loaded == 0 && resumed && run->pos.epoch > run->cfg->epochs) /* train.epochs lowered, or an edited position */
        loaded = -1, err_set(err, "%s: its checkpoint is in epoch %d, past train.epochs = %d: there is nothing left to "
                                  "train up to it (give train.epochs of at least %d, with --allow-config-change)",
                             opt->out_dir, run->pos.epoch + 1, run->cfg->epochs, run->pos.epoch);
    int resumed_how = resumed + (fell_back[0] != 0); /* 2: from the previous checkpoint */
    if (checkpoint_agreed(run->g, opt->out_dir, resumed_how, loaded, &run->pos, fell_back, err) != 0) return -1;
    if (fell_back[0] && lead)
        log_warn("%s cannot be resumed from (%s); resuming from the checkpoint before it, %s (epoch %d, step %d): the "
                 "steps since are trained again",
                 path, fell_back, previous, run->pos.epoch + 1, run->pos.step);
    if (resumed && lead) log_info("resuming %s at epoch %d, step %d", opt->out_dir, run->pos.epoch + 1, run->pos.step);
    else if (opt->resume && lead && !opt->job_json) /* a script that always resumes starts so; a mistyped --out too
                                                     * (a matrix's jobs always resume: nothing to say there) */
        log_warn("%s holds no checkpoint to resume: starting a new run there", opt->out_dir);
    char hang[1024];
    if (lead && resumed && run_ended_on_hang(opt->out_dir, hang, sizeof hang))
        log_warn("%s: its last run ended on a hang, %s; resuming from its checkpoint", opt->out_dir, hang);
    run->resumed = resumed, run->fell_back = fell_back[0] != 0;
    return 0;
}

/* The folder made this run's, once every check before the first step passed: a damaged checkpoint replaced by the
 * previous one it resumed from, the log cut back to the checkpoint (or an earlier start's lines, which never
 * checkpointed, emptied), the temporary files of a killed run removed, and config.ini written. */
static int take_over_run_folder(TrainRun *run, Err *err) {
    const TrainOptions *opt = run->opt;
    int lead = run->lead, resumed = run->resumed;
    char path[4096];
    if (lock_lost_agreed(run->g, opt->out_dir)) return TRAIN_LOCK_LOST; /* before the log is cut or emptied */
    /* every rank has read the previous checkpoint (the same position: agreed): it takes the damaged one's place */
    if (run->fell_back && lead) checkpoint_promote_previous(opt->out_dir);
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
    int written = 0;
    if (lead) {
        run_file_path(path, sizeof path, opt->out_dir, "config.ini");
        written = config_write_file(run->cfg, path, err);
    }
    return lead_write_agreed(run->g, written, "config.ini", err);
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
        log_info("weights %s: %.1f MiB, sha256 %.16s... (every input's digest goes into result.json)", cfg->weights,
                 bytes->valuedouble / (1 << 20), sha);
    log_info("%s; %d rank%s, global batch %d; frames %s%s", ops_describe(jm->ops), run->g->size,
             run->g->size > 1 ? "s" : "", cfg->batch,
             jm->uint8_frames ? "as uint8, normalised on the device" : "normalised by the loader",
             jm->prefetch_inputs ? ", the next batch copied to it during the step (copy stream)" : "");
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
        saved = save_params(&run->jm, path, err);
        /* a resumed run may have evaluated its best epoch before the restart: fall back to the last */
        if (!pos->has_best) pos->best = pos->last, pos->best_cm = pos->last_cm, pos->best_epoch = cfg->epochs - 1;
        if (saved == 0)
            saved = trainer_write_result(cfg, opt, &run->jm, pos, run->inputs, run_seconds(run),
                                         time_now() - run->t_start, err);
    }
    int agreed = lead_write_agreed(run->g, saved, "model.safetensors and result.json", err);
    if (agreed != 0) return agreed;
    if (run->lead) {
        /* the run is done: the checkpoint before its last one was only for a resume */
        char previous[4096];
        run_file_path(previous, sizeof previous, opt->out_dir, CHECKPOINT_PREVIOUS);
        if (unlink(previous) != 0 && errno != ENOENT)
            log_warn("%s: cannot remove it (%s); the finished run does not need it", previous, strerror(errno));
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
        if (check_resumed_inputs(&run, err) == 0 && (status = take_over_run_folder(&run, err)) == 0) {
            if (run.lead) log_run_start(&run);
            status = trainer_run_epochs(&run, err);
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
    /* said here, with the key and where it was set (the loader said it of "the global batch" further on) */
    if (given->batch % g->size) {
        err_set(err, "train.batch = %d does not split over the %d ranks of this run: give a multiple of %d",
                given->batch, g->size, g->size);
        return config_error_origins(given, err);
    }
    char caution[600];
    if (config_caution(given, caution, sizeof caution)) log0_warn("%s", caution);
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
