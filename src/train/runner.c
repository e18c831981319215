#include "train/runner.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/fsutil.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/stop.h"
#include "core/timer.h"
#include "io/json_file.h"
#include "train/job_lock.h"
#include "train/matrix.h"
#include "train/matrix_folder.h"
#include "train/provenance.h"
#include "train/table.h"
#include "train/run_hang.h"
#include "train/trainer.h"

static cJSON *job_identity(const Job *j) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job", j->id);
    cJSON_AddStringToObject(o, "method", j->method);
    cJSON_AddStringToObject(o, "variant", j->variant);
    cJSON_AddStringToObject(o, "dataset", j->dataset);
    cJSON_AddStringToObject(o, "eval_dataset", j->eval_dataset);
    cJSON_AddNumberToObject(o, "fold", j->fold);
    if (j->n_eval_folds) { /* zero-shot: the target's folds evaluated */
        cJSON *folds = cJSON_AddArrayToObject(o, "eval_folds");
        for (int i = 0; i < j->n_eval_folds; i++) cJSON_AddItemToArray(folds, cJSON_CreateNumber(j->eval_folds[i]));
    }
    cJSON_AddStringToObject(o, "backbone", j->backbone);
    cJSON_AddNumberToObject(o, "seed", j->seed);
    cJSON_AddStringToObject(o, "setting", j->setting);
    /* only where the setting names them: the entries of jobs without stay as they were; a failed job's result.json
     * (this identity) so counts in Table 3's row of its kind of captions */
    if (j->captions[0]) cJSON_AddStringToObject(o, "captions", j->captions);
    return o;
}

/* DIR/result.json parsed, or NULL when it is absent or unreadable (a job that has not finished). */
static cJSON *job_result(const char *dir) {
    char path[8300];
    Err err;
    cJSON *o = NULL;
    snprintf(path, sizeof path, "%s/result.json", dir);
    if (fs_exists(path)) json_read_file(path, &o, &err);
    return o;
}

static void record_failure(const Job *j, const char *dir, const char *message) {
    cJSON *o = job_identity(j);
    cJSON_AddStringToObject(o, "status", "failed");
    cJSON_AddStringToObject(o, "error", message);
    char path[8300];
    Err err;
    snprintf(path, sizeof path, "%s/result.json", dir);
    if (fs_mkdirs(dir, &err) != 0 || json_write_atomic(path, o, &err) != 0) log_error("%s", err.msg);
    cJSON_Delete(o);
}

/* The job's configuration: defaults, the method's file, the matrix's [set], then the axes (and a zero-shot
 * setting's /CAPTIONS). */
static int job_config(const Matrix *m, const Job *j, Config *cfg, Err *err) {
    config_defaults(cfg);
    if (config_load_file(cfg, j->config, err) != 0) return -1;
    /* a methods entry without a variant means the low level: a method file that asks for another would be
     * overruled without a word */
    if (!strcmp(j->method, "finecliper") && !strchr(j->method_entry, ':') && strcmp(cfg->variant, "low"))
        return err_set(err, "%s sets model.variant = %s, but the matrix entry '%s' means %s:low: name the variant in "
                            "matrix.methods (%s:%s=%s)",
                       j->config, cfg->variant, j->method_entry, j->method, j->method, cfg->variant, j->config);
    for (int i = 0; i < m->n_sets; i++)
        if (config_set(cfg, m->sets[i], err) != 0) return err_prefix(err, "%s [set]: ", m->path);
    char kv[1024];
#define SET(...) (snprintf(kv, sizeof kv, __VA_ARGS__), config_set(cfg, kv, err))
    if (SET("model.method=%s", j->method) || SET("model.weights=%s", j->weights) ||
        SET("data.dataset=%s", j->dataset) || SET("data.root=%s", j->root) || SET("train.seed=%d", j->seed) ||
        (j->fold && SET("data.fold=%d", j->fold)) || (j->variant[0] && SET("model.variant=%s", j->variant)))
        return -1;
    /* zero-shot: contrastive training on captions, classification of the other dataset with EmoCLIP's class
     * descriptions (dfer.md §3) */
    if (!strcmp(j->setting, "zeroshot") && (SET("train.objective=contrastive") || SET("model.class_prompts=emoclip")))
        return -1;
    /* zeroshot:A->B/CAPTIONS: what the clips are paired with, over the method file's and [set]'s data.captions */
    if (j->captions[0] && SET("data.captions=%s", j->captions)) return -1;
    char folds[64] = "";
    for (int i = 0, used = 0; i < j->n_eval_folds; i++)
        used += snprintf(folds + used, sizeof folds - (size_t)used, "%s%d", i ? "," : "", j->eval_folds[i]);
    if (j->n_eval_folds && SET("data.eval_folds=%s", folds)) return -1;
#undef SET
    return 0;
}

typedef enum { JOB_RUNNABLE, JOB_WAITS, JOB_INVALID } JobState;

/* A job's configuration, or why it cannot run: it waits for a feature not built yet, or its
 * configuration is invalid (err says which, in both cases). */
static JobState job_resolve(const Matrix *m, const Job *j, Config *cfg, Err *err) {
    if (!strcmp(j->setting, "zeroshot") && strcmp(j->method, "finecliper")) {
        err_set(err, "the zero-shot setting trains FineCLIPER contrastively; %s has no zero-shot mode", j->method);
        return JOB_INVALID;
    }
    if (job_config(m, j, cfg, err) != 0) return JOB_INVALID;
    const char *unbuilt = config_unbuilt(cfg);
    if (unbuilt) {
        err_set(err, "%s", unbuilt);
        return JOB_WAITS;
    }
    if (config_validate(cfg, err) != 0) return JOB_INVALID;
    if (cfg->batch % m->ranks_per_job) {
        err_set(err, "train.batch = %d does not split over the %d ranks of a job (matrix.ranks_per_job)", cfg->batch,
                m->ranks_per_job);
        return JOB_INVALID;
    }
    return JOB_RUNNABLE;
}

/* A finished job's result stands; where the matrix now asks for something else, the log says so. */
static void warn_if_config_changed(const Matrix *m, const Job *j, const char *dir, int group) {
    char path[8300], training[2048], operational[2048];
    Config now, then;
    Err err;
    snprintf(path, sizeof path, "%s/config.ini", dir);
    config_defaults(&then);
    if (!fs_exists(path) || config_load_file(&then, path, &err) != 0 || job_resolve(m, j, &now, &err) == JOB_INVALID)
        return;
    if (config_diff(&then, &now, training, sizeof training, operational, sizeof operational))
        log_warn(
            "[group %d] %s: finished with another configuration than the matrix gives now (%s); its result stands: "
            "delete %s to train it again",
            group, j->id, training, dir);
    /* the same settings but another file at the weights' path (a re-downloaded or re-exported CLIP): the result was
     * trained on the old one, and the tables would say nothing when every job of the backbone is alike */
    char files[1400];
    if (run_model_inputs_changed(dir, &now, files, sizeof files) > 0)
        log_warn("[group %d] %s: finished with other model files than the matrix's paths hold now: %s; its result "
                 "stands: delete %s to train it again", group, j->id, files, dir);
}

static void matrix_results_dir(const Matrix *m, const char *given, char *buf, size_t n) {
    if (given) snprintf(buf, n, "%s", given);
    else snprintf(buf, n, "results/%s", m->name);
}

int matrix_list(const char *matrix_path, int check_inputs, FILE *out, Err *err) {
    Matrix m;
    if (matrix_load(matrix_path, &m, err) != 0) return -1;
    Job *jobs;
    int n;
    if (matrix_expand(&m, &jobs, &n, err) != 0) return -1;
    int bad = 0, waiting = 0, missing = 0;
    for (int i = 0; i < n; i++) {
        Config cfg;
        Err jerr;
        const Job *j = &jobs[i];
        JobState s = job_resolve(&m, j, &cfg, &jerr);
        int zeroshot = !strcmp(j->setting, "zeroshot");
        int inputs_ok =
            s != JOB_RUNNABLE || !check_inputs ||
            train_preflight(&cfg, zeroshot ? j->eval_dataset : NULL, zeroshot ? j->eval_root : NULL, &jerr) == 0;
        if (s == JOB_RUNNABLE && inputs_ok) fprintf(out, "%-60s  ok\n", j->id);
        else
            fprintf(out, "%-60s  %s: %s\n", j->id,
                    s == JOB_WAITS     ? "waits"
                    : s == JOB_INVALID ? "ERROR"
                                       : "MISSING",
                    jerr.msg);
        waiting += s == JOB_WAITS, bad += s == JOB_INVALID, missing += !inputs_ok;
    }
    fprintf(out, "matrix %s: %d jobs, %d runnable, %d waiting for features not built yet, %d with errors", m.name, n,
            n - waiting - bad - missing, waiting, bad);
    if (check_inputs) fprintf(out, ", %d with missing or unreadable inputs", missing);
    fputc('\n', out);
    free(jobs);
    if (bad) return err_set(err, "%s: %d job%s cannot be configured (see above)", matrix_path, bad, bad > 1 ? "s" : "");
    if (missing)
        return err_set(err, "%s: %d %s would fail at %s start (see above)", matrix_path, missing,
                       missing > 1 ? "jobs" : "job", missing > 1 ? "their" : "its");
    return 0;
}

/* How long the ranks of a group may take to come out of a job one after another: rank 0 alone writes the run's
 * files, but the others wait for it in a collective, so they leave within moments of each other (at most half
 * of train.hang_minutes, under which the others' watchdogs fire). */
#define JOB_OUTCOME_TIMEOUT_S 120.0

/* After a job, every rank of its group: the failure of one rank alone (an error on its own node that no collective
 * shared) leaves the others waiting in one of the job's collectives, where the next job's first collective on this
 * rank would meet them (undefined) or the hang watchdog end them, this rank's message unseen. The ranks compare
 * outcomes on a communicator of their own; a rank the others do not join within JOB_OUTCOME_TIMEOUT_S ends the run
 * with its message (a restart resumes the job from its checkpoint). A failure on another rank than the group's
 * first is logged there too (rank 0 logs and records the others). Returns whether the job failed on any rank of the
 * group (the same answer on each): what the matrix counts, whichever rank failed. */
static int job_outcome_agreed(Group *g, const Job *j, const Config *cfg, int rc, const Err *jerr) {
    int failed = rc != 0 && rc != DFER_EXIT_INTERRUPTED && rc != TRAIN_LOCK_LOST, out[2];
    if (g->size < 2) return failed;
    /* under the hang limit: the waiting ranks' watchdogs would end the run first, this rank's message unseen */
    double timeout = JOB_OUTCOME_TIMEOUT_S;
    if (cfg->hang_minutes > 0 && timeout > 30 * cfg->hang_minutes) timeout = 30 * cfg->hang_minutes;
    if (getenv("DFER_TEST_FAIL_ALONE")) timeout = 5.0; /* the test need not wait */
    if (group_agree_outcome(g, failed, timeout, out) != 0) {
        if (failed)
            log_error("[group %d] %s failed on rank %d of the group alone: %s; the group's other ranks still wait in "
                      "the job after %.0f s: ending the run (a restart resumes the job from its last checkpoint)",
                      g->index, j->id, g->rank, jerr->msg, timeout);
        else
            log_error("[group %d] %s ended on rank %d of the group, but the group's other ranks have not in %.0f s: "
                      "ending the run (a restart resumes the job from its last checkpoint)", g->index, j->id, g->rank,
                      timeout);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (failed && g->rank != 0 && !out[1])
        log_error("[group %d] %s failed on rank %d of the group (not on its first): %s", g->index, j->id, g->rank,
                  jerr->msg);
    return out[0];
}

/* A digest (FNV-1a) of what the matrix makes each job of: its name, its ranks per job, the stale-lock limit, the
 * [set] lines and each job's id and inputs (method file, dataset roots, weights, zero-shot folds). Each text with its
 * NUL, so that fields do not run into each other. */
static uint64_t digest_text(uint64_t h, const char *s) { return fnv1a_bytes(h, s, strlen(s) + 1); }

static uint64_t matrix_digest(const Matrix *m, const Job *jobs, int n) {
    uint64_t h = FNV1A_BASIS;
    char number[64];
    snprintf(number, sizeof number, "%d %.17g %d %d", m->ranks_per_job, m->stale_lock_minutes, m->n_sets, n);
    h = digest_text(digest_text(h, m->name), number);
    for (int i = 0; i < m->n_sets; i++) h = digest_text(h, m->sets[i]);
    for (int i = 0; i < n; i++) {
        const Job *j = &jobs[i];
        h = digest_text(digest_text(digest_text(h, j->id), j->method_entry), j->config);
        h = digest_text(digest_text(digest_text(h, j->root), j->eval_root), j->weights);
        h = fnv1a_bytes(h, j->eval_folds, (size_t)j->n_eval_folds * sizeof *j->eval_folds);
    }
    return h;
}

/* Every rank reads the matrix file itself, on its own node: a rank that cannot read it returned alone and left the
 * others waiting in the first collective for ever, and a rank whose file differs (another copy at the same path on
 * another node) shared out its own jobs, so that the job counter handed out indices of two lists (a job none ran, the
 * run ending 0) or trained other settings. The ranks agree before any other collective: all read it, and the same. */
static int matrix_agreed_by_ranks(const RunnerOptions *opt, int loaded, const Matrix *m, const Job *jobs, int n,
                                  Err *err) {
    int unread = !loaded, ranks_unread = 0;
    CHECK_MPI(MPI_Allreduce(&unread, &ranks_unread, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
    if (ranks_unread) {
        if (loaded)
            err_set(err, "%s: %d rank%s of this run could not read the matrix (%s error says why)", opt->matrix_path,
                    ranks_unread, ranks_unread > 1 ? "s" : "", ranks_unread > 1 ? "their" : "its");
        return -1;
    }
    uint64_t mine = matrix_digest(m, jobs, n), first = mine;
    int first_n = n;
    CHECK_MPI(MPI_Bcast(&first, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD));
    CHECK_MPI(MPI_Bcast(&first_n, 1, MPI_INT, 0, MPI_COMM_WORLD));
    int differs = mine != first, ranks_differ = 0;
    CHECK_MPI(MPI_Allreduce(&differs, &ranks_differ, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
    if (!ranks_differ) return 0;
    if (differs)
        return err_set(err, "%s: this rank's matrix (%d jobs) is not rank 0's (%d jobs): its jobs, their inputs, "
                            "[set] or ranks_per_job differ; every rank must read the same matrix file (another copy "
                            "on this node?)", opt->matrix_path, n, first_n);
    return err_set(err, "%s: %d rank%s of this run read another matrix than rank 0's (their jobs, inputs, [set] or "
                        "ranks_per_job differ; their errors say which): every rank must read the same matrix file",
                   opt->matrix_path, ranks_differ, ranks_differ > 1 ? "s" : "");
}

/* A full disk (or quota), which jerr names, fails every job that follows, each after its first epoch: the run starts
 * none (rank 0 of a group says so). Returns 1 then, else 0. */
static int stop_on_full_disk(const Err *jerr, JobCounter *counter, int group, const char *results) {
    if (!err_is_disk_full(jerr)) return 0;
    job_counter_close(counter);
    log_error("[group %d] the disk holding %s is full: no further job of this run starts", group, results);
    return 1;
}

int matrix_run(const RunnerOptions *opt, const Dist *d, int *failed_jobs, Err *err) {
    Matrix m;
    Job *jobs = NULL;
    int n = 0;
    int loaded = matrix_load(opt->matrix_path, &m, err) == 0 && matrix_expand(&m, &jobs, &n, err) == 0;
    if (matrix_agreed_by_ranks(opt, loaded, &m, jobs, n, err) != 0) {
        free(jobs);
        return -1;
    }
    if (d->world % m.ranks_per_job) { /* the same on every rank: they read the same matrix */
        free(jobs);
        return err_set(err, "%s: matrix.ranks_per_job = %d does not divide the %d rank%s of this run (start a multiple "
                            "of it)", opt->matrix_path, m.ranks_per_job, d->world, d->world > 1 ? "s" : "");
    }
    char results[4096];
    matrix_results_dir(&m, opt->results_dir, results, sizeof results);
    /* train.device is not an axis: the first job's device (its method file and [set]) serves all */
    Config first;
    CollBackend coll = COLL_MPI;
    Group g;
    /* the GPU is chosen on each node (train.device = cuda, and a node without a usable one): a rank that returned
     * alone left the others in group_create's collective for ever; they agree first, as on the matrix */
    int unchosen = n > 0 && job_config(&m, &jobs[0], &first, err) == 0 && train_collectives(&first, d, &coll, err) != 0;
    int chosen = !unchosen, ranks_unchosen = 0;
    if (unchosen) err_prefix(err, "%s (the first job's train.device serves every job): ", jobs[0].config);
    CHECK_MPI(MPI_Allreduce(&unchosen, &ranks_unchosen, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
    if (ranks_unchosen && chosen)
        err_set(err, "%s: %d rank%s of this run could not set up the first job's device (%s error says why)",
                opt->matrix_path, ranks_unchosen, ranks_unchosen > 1 ? "s" : "", ranks_unchosen > 1 ? "their" : "its");
    if (ranks_unchosen || group_create(d, m.ranks_per_job, coll, &g, err) != 0) {
        free(jobs);
        return -1;
    }
    int written = 0;
    if (d->rank == 0) { /* refused where the folder holds another matrix's jobs (train/matrix_folder.h) */
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, job_identity(&jobs[i]));
        written = matrix_folder_take(&m, jobs, n, arr, results, err);
        cJSON_Delete(arr);
    }
    /* every rank stops if rank 0 cannot write (or take) the results folder, rather than wait in the next collective */
    int ok = written == 0, all_ok = 0;
    CHECK_MPI(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    if (!all_ok) {
        if (d->rank != 0) err_set(err, "rank 0 could not write the results folder %s (its error says why)", results);
        group_free(&g);
        free(jobs);
        return -1;
    }
    if (d->rank == 0) {
        log_info("matrix %s: %d jobs, %d group%s of %d rank%s, results in %s", m.name, n, g.count,
                 g.count > 1 ? "s" : "", g.size, g.size > 1 ? "s" : "", results);
    }
    JobCounter counter;
    job_counter_create(&counter);
    int failed = 0, interrupted = 0, elsewhere = 0, disk_full = 0, lost = 0, unclaimed = 0;
    for (;;) {
        int64_t next = 0;
        /* After a stop signal (core/stop.h) the group starts no further job. */
        if (g.rank == 0) {
            next = job_counter_next(&counter);
            if (next < n && stop_requested()) interrupted = 1, next = n;
        }
        group_bcast(&g, &next, sizeof next);
        if (next >= n) break;
        const Job *j = &jobs[next];
        char dir[8192];
        snprintf(dir, sizeof dir, "%s/%s", results, j->id);
        /* Group rank 0 looks at the folder and decides for the group: another run of this matrix may write
         * it meanwhile, and ranks looking each on their own could part ways. */
        enum { TAKE_RUN, TAKE_FINISHED, TAKE_ELSEWHERE, TAKE_LOCK_FAILED } take = TAKE_RUN;
        Err jerr;
        if (g.rank == 0) {
            JobLockHolder holder;
            int took_over_stale = 0, claim;
            if (train_run_finished(dir)) take = TAKE_FINISHED;
            else if ((claim = job_lock_claim(dir, m.stale_lock_minutes * 60, &holder, &took_over_stale, &jerr)) < 0)
                take = TAKE_LOCK_FAILED;
            else if (claim == 0) take = TAKE_ELSEWHERE;
            /* finished by the run we just missed */
            else if (train_run_finished(dir)) take = TAKE_FINISHED, job_lock_release(dir);
            if (take == TAKE_FINISHED) {
                log_info("[group %d] %s: already finished, skipped", g.index, j->id);
                warn_if_config_changed(&m, j, dir, g.index);
            }
            if (take == TAKE_ELSEWHERE)
                log_info("[group %d] %s: another run of this matrix holds it (host %s, pid %ld%s%s; %s), skipped",
                         g.index, j->id, holder.host, holder.pid, holder.slurm_job[0] ? ", Slurm job " : "",
                         holder.slurm_job, holder.state);
            if (took_over_stale)
                log_warn("[group %d] %s: took over the stale lock of host %s, pid %ld (%s)", g.index, j->id,
                         holder.host, holder.pid, holder.state[0] ? holder.state : "not a lock this code wrote");
        }
        group_bcast(&g, &take, sizeof take);
        if (take == TAKE_FINISHED) continue;
        if (take == TAKE_ELSEWHERE) {
            elsewhere++;
            continue;
        }
        if (take == TAKE_LOCK_FAILED) {
            /* this run does not hold the folder, and cannot tell who does: another live run may train there (its
             * lock judged stale by a look that failed halfway, a transient NFS error). A "failed" result.json would
             * stand in that run's folder as the job's outcome for the tables and --status, and make the next runs
             * skip or retry it; the failure is this run's, said in its log, its summary and its exit status */
            if (g.rank == 0) {
                log_error("[group %d] %s failed: cannot claim its lock: %s; nothing written into %s (another run may "
                          "hold it)", g.index, j->id, jerr.msg, dir);
                disk_full |= stop_on_full_disk(&jerr, &counter, g.index, results);
            }
            failed++, unclaimed++;
            continue;
        }
        if (g.rank == 0) log_info("[group %d] job %lld/%d: %s", g.index, (long long)next + 1, n, j->id);
        Config cfg;
        int rc = job_resolve(&m, j, &cfg, &jerr) == JOB_RUNNABLE ? 0 : -1;
        /* each rank reads the job's method file on its own node: where one rank cannot configure the job and the
         * others can, those went into the job's collectives and this one into the next job's, and the group hung */
        if (!group_all_ok_why(&g, rc == 0, &jerr)) { /* rank 0 records the lowest failing rank's reason */
            if (rc != 0 && g.rank != 0) /* rank 0 logs and records its own error below */
                log_error("[group %d] %s: cannot configure the job on rank %d of the group: %s", g.index, j->id,
                          g.rank, jerr.msg);
            if (rc == 0)
                err_prefix(&jerr, "the job cannot be configured on another rank of the group (a method file that "
                                  "differs on its node?): ");
            rc = -1;
        }
        int job_failed = rc != 0; /* a failure before training is every rank's: the configuration */
        if (rc == 0) {
            cJSON *id = job_identity(j);
            char *id_json = cJSON_PrintUnformatted(id);
            cJSON_Delete(id);
            int zeroshot = !strcmp(j->setting, "zeroshot");
            TrainOptions to = {.out_dir = dir, .resume = 1, .command = opt->command, .job_json = id_json,
                               .eval_dataset = zeroshot ? j->eval_dataset : NULL,
                               .eval_root = zeroshot ? j->eval_root : NULL,
                               .allow_config_change = opt->allow_config_change};
            /* tests: DFER_TEST_FAIL_ALONE=RANK:STEPS makes that group rank fail by itself after STEPS steps */
            const char *hook = getenv("DFER_TEST_FAIL_ALONE");
            if (hook && sscanf(hook, "%d:%d", &to.fail_alone_rank, &to.fail_alone_after_steps) != 2)
                to.fail_alone_after_steps = 0;
            rc = train_run(&cfg, &to, &g, &jerr);
            free(id_json);
            job_failed = job_outcome_agreed(&g, j, &cfg, rc, &jerr);
        }
        if (rc == TRAIN_LOCK_LOST) {
            /* the group left the job together (trainer.c lock_lost_agreed): the folder is the other run's, which
             * finishes the job; this run neither records a failure there nor removes that run's lock */
            if (g.rank == 0) {
                JobLockLoss loss = {0};
                job_lock_lost(dir, 0, &loss);
                char who[400];
                if (loss.taker_known)
                    snprintf(who, sizeof who, "another run (host %s, pid %ld%s%s)", loss.taker.host, loss.taker.pid,
                             loss.taker.slurm_job[0] ? ", Slurm job " : "", loss.taker.slurm_job);
                else
                    snprintf(who, sizeof who,
                             "another run (whose lock is gone since: it ended the job, or the lock was deleted)");
                log_warn("[group %d] %s: %s took over this job's lock (%s/running.lock) while this run was silent for "
                         "%.0f min (a frozen node or file system?): this run leaves the job to it and writes nothing "
                         "more there", g.index, j->id, who, dir, floor(loss.silent_s / 60));
                job_lock_release(dir); /* stops the heartbeat; the lock, another run's, stays */
            }
            lost++;
            continue;
        }
        if (g.rank == 0 && rc != 0 && rc != DFER_EXIT_INTERRUPTED) {
            log_error("[group %d] %s failed: %s", g.index, j->id, jerr.msg);
            record_failure(j, dir, jerr.msg);
            disk_full |= stop_on_full_disk(&jerr, &counter, g.index, results);
        }
        if (g.rank == 0) job_lock_release(dir);
        if (rc == DFER_EXIT_INTERRUPTED) {
            interrupted = 1;
            if (g.rank == 0)
                log_warn("[group %d] %s: interrupted by a signal, checkpointed; it resumes on the next run", g.index,
                         j->id);
            break;
        }
        failed += job_failed;
    }
    job_counter_free(&counter);
    CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
    int total_failed = 0;
    CHECK_MPI(MPI_Allreduce(&failed, &total_failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
    /* each rank of a group counted the outcome the group agreed on (a rank's own rc would miss a job that failed on
     * another rank alone, and the division would round it away): g.size counts per failed job */
    *failed_jobs = total_failed / g.size;
    int any_interrupted = 0, total_elsewhere = 0, total_lost = 0;
    CHECK_MPI(MPI_Allreduce(&interrupted, &any_interrupted, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    CHECK_MPI(MPI_Allreduce(&elsewhere, &total_elsewhere, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
    CHECK_MPI(MPI_Allreduce(&lost, &total_lost, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
    int total_unclaimed = 0;
    CHECK_MPI(MPI_Allreduce(&unclaimed, &total_unclaimed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
    int unclaimed_jobs = total_unclaimed / g.size, many = unclaimed_jobs > 1;
    if (unclaimed_jobs && d->rank == 0)
        log_error("matrix %s: %d job%s failed because this run could not claim %s lock (the errors above say why): "
                  "counted failed in its exit status, but nothing written into %s folder%s, which another run may "
                  "hold (no result.json: --status and the tables do not show %s failed); run the matrix again once the "
                  "cause is fixed", m.name, unclaimed_jobs, many ? "s" : "", many ? "their" : "its",
                  many ? "their" : "its", many ? "s" : "", many ? "them" : "it");
    int any_disk_full = 0;
    CHECK_MPI(MPI_Allreduce(&disk_full, &any_disk_full, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    if (any_disk_full && d->rank == 0)
        log_error(
            "matrix %s: stopped early, the disk holding %s is full. Free space and run the matrix again: finished "
            "jobs are skipped, the others resume from their last checkpoints",
            m.name, results);
    if (total_elsewhere && d->rank == 0)
        log_info("matrix %s: %d job%s held by another run of this matrix; its results join the tables of whichever run "
                 "ends last (dfer matrix --status shows them)",
                 m.name, total_elsewhere / g.size, total_elsewhere / g.size > 1 ? "s" : "");
    if (total_lost && d->rank == 0)
        log_warn("matrix %s: %d job%s left to another run of this matrix, which took over the lock while this run was "
                 "silent: counted neither finished nor failed by this run (nor in its exit status); the run that took "
                 "the lock finishes the job (dfer matrix --status shows it)", m.name, total_lost / g.size,
                 total_lost / g.size > 1 ? "s" : "");
    if (d->rank == 0) {
        ResultSet *rs;
        if (results_load(results, &rs, err) == 0) {
            /* straight to standard output: composed in memory first, a buffer that could not grow cut the tables
             * without a word; dfer's main checks that standard output took every byte (a full disk, a closed pipe) */
            tables_write(rs, TABLE_MARKDOWN, 0, stdout);
            char notes[RESULTS_MAX_NOTES][1024];
            int n_notes = results_notes(rs, notes, RESULTS_MAX_NOTES);
            for (int i = 0; i < n_notes; i++) log_warn("matrix %s: %s", m.name, notes[i]);
            Err werr;
            if (tables_write_files(rs, results, 0, &werr) != 0) log_error("%s", werr.msg);
            results_free(rs);
        } else {
            log_error("matrix %s: no tables: %s", m.name, err->msg);
        }
    }
    group_free(&g);
    free(jobs);
    if (any_interrupted && d->rank == 0)
        log_warn("matrix %s: interrupted by a signal; unfinished jobs are checkpointed and resume on the next run",
                 m.name);
    return any_interrupted ? DFER_EXIT_INTERRUPTED : 0;
}

/* ---- dfer matrix --status: what the results directory says about each job ---- */

typedef enum { JOB_DONE, JOB_FAILED, JOB_STARTED, JOB_PENDING } JobProgressKind;
static const char *const job_progress_names[] = {"done", "failed", "started", "pending"};

typedef struct JobProgress {
    JobProgressKind kind;
    double uar, war, seconds;       /* done: the reported result and the job's time */
    char detail[1100];              /* failed: its error; pending: why it cannot run ("" when it can) */
    int epoch, epochs, step, steps; /* started: the last logged step (step 0: none logged yet) */
    int evaluated, last_is_eval;    /* started: epochs evaluated so far, the last one's UAR and WAR; whether the last
                                     * line is that evaluation */
    double eval_uar, eval_war;
    double fraction;                /* started: share of the job's epochs done, 0..1 */
    double age_s;                   /* started: seconds since the job last wrote metrics.jsonl (or its folder) */
    int has_checkpoint;
    int locked, lock_live;          /* started: DIR/running.lock names a run (*holder), which counts as live */
    JobLockHolder holder;
    char hang[1024];                /* started: the hang its last run ended on (run_ended_on_hang), or "" */
} JobProgress;

static int progress_line(const cJSON *o, int line_no, void *ctx, Err *err) {
    (void)line_no, (void)err;
    JobProgress *p = ctx;
    const char *type = json_get_string(o, "type", "");
    if (!strcmp(type, "step")) {
        p->epoch = json_get_int(o, "epoch", 0), p->step = json_get_int(o, "step", 0);
        p->steps = json_get_int(o, "steps", 0); /* absent in older runs' metrics */
        if (p->epochs <= 0) p->epochs = json_get_int(o, "epochs", 0);
        p->last_is_eval = 0;
    } else if (!strcmp(type, "eval")) {
        p->evaluated = json_get_int(o, "epoch", 0);
        p->eval_uar = json_get_number(o, "uar", NAN), p->eval_war = json_get_number(o, "war", NAN);
        p->last_is_eval = 1;
    }
    return 0;
}

/* A started job's progress from DIR/metrics.jsonl: its last step line and its evaluations. The job may
 * be appending a line right now: a torn last line is skipped; what was read before a malformed line stands. */
static void job_progress_from_metrics(const char *dir, int epochs, double fs_ahead_s, JobProgress *p) {
    char path[8300];
    Err err;
    struct stat st;
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    p->has_checkpoint = fs_exists(path);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    p->epochs = epochs;
    int have_metrics = stat(path, &st) == 0;
    /* by the file system's clock, which stamped the file (this host's may be off the file server's) */
    p->age_s = have_metrics || stat(dir, &st) == 0
                   ? fmax(0, job_lock_clock_now(fs_ahead_s) - ((double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9))
                   : -1;
    if (have_metrics) json_lines_each(path, JSON_LINES_TOLERATE_TORN_TAIL, progress_line, p, &err);
    if (p->epochs > 0) {
        double epochs_done = p->last_is_eval || p->step == 0 ? p->evaluated
                             : p->steps > 0            ? p->epoch - 1 + (double)p->step / p->steps
                                                       : p->epoch - 1;
        p->fraction = fmin(1.0, fmax(0.0, epochs_done / p->epochs));
    }
}

/* A failed job is run again when its matrix is started again: metrics.jsonl newer than its result.json. */
static int job_rerun_after_failure(const char *dir) {
    char result[8300], metrics[8300];
    snprintf(result, sizeof result, "%s/result.json", dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", dir);
    return fs_newer(metrics, result);
}

/* fs_ahead_s: how far the results' file system's clock reads ahead of this host's (job_lock_fs_clock_ahead) */
static void job_progress(const Matrix *m, const Job *j, const char *dir, double fs_ahead_s, JobProgress *p) {
    memset(p, 0, sizeof *p);
    p->locked = job_lock_read(dir, m->stale_lock_minutes * 60, fs_ahead_s, &p->holder, &p->lock_live);
    /* the job's configuration only where it says something: a started job's epochs, why a pending one cannot run */
    Config cfg;
    Err err;
    cJSON *r = job_result(dir);
    const char *status = json_get_string(r, "status", NULL);
    if (status && !strcmp(status, "done")) {
        p->kind = JOB_DONE;
        p->uar = json_get_number(r, "uar", NAN), p->war = json_get_number(r, "war", NAN);
        p->seconds = json_get_number(r, "seconds", NAN);
    } else if (status && !strcmp(status, "failed") && !job_rerun_after_failure(dir)) {
        p->kind = JOB_FAILED;
        const char *e = json_get_string(r, "error", NULL);
        snprintf(p->detail, sizeof p->detail, "%s", e ? e : "(no error recorded)");
    } else if (fs_is_dir(dir)) {
        p->kind = JOB_STARTED;
        job_progress_from_metrics(dir, job_resolve(m, j, &cfg, &err) == JOB_INVALID ? 0 : cfg.epochs, fs_ahead_s, p);
        if (!run_ended_on_hang(dir, p->hang, sizeof p->hang)) p->hang[0] = 0;
    } else {
        p->kind = JOB_PENDING;
        JobState state = job_resolve(m, j, &cfg, &err);
        if (state != JOB_RUNNABLE)
            snprintf(p->detail, sizeof p->detail, "%s: %s", state == JOB_WAITS ? "waits" : "ERROR", err.msg);
    }
    cJSON_Delete(r);
}

/* Seconds a job still needs, from the finished jobs: those of the same method, variant, dataset, backbone and
 * setting where there are any, else all of them. NAN when no job has finished. */
static double job_seconds_left(const Job *jobs, const JobProgress *p, int n, int i) {
    double same = 0, all = 0;
    int n_same = 0, n_all = 0;
    for (int k = 0; k < n; k++) {
        if (p[k].kind != JOB_DONE || !isfinite(p[k].seconds)) continue;
        all += p[k].seconds, n_all++;
        if (!strcmp(jobs[k].method, jobs[i].method) && !strcmp(jobs[k].variant, jobs[i].variant) &&
            !strcmp(jobs[k].dataset, jobs[i].dataset) && !strcmp(jobs[k].backbone, jobs[i].backbone) &&
            !strcmp(jobs[k].setting, jobs[i].setting))
            same += p[k].seconds, n_same++;
    }
    if (!n_all) return NAN;
    double per_job = n_same ? same / n_same : all / n_all;
    return per_job * (p[i].kind == JOB_STARTED ? 1 - p[i].fraction : 1);
}

static void age_text(double s, char *buf, size_t n) {
    if (s < 0) snprintf(buf, n, "never");
    else if (s < 120) snprintf(buf, n, "%.0f s ago", s);
    else if (s < 7200) snprintf(buf, n, "%.0f min ago", s / 60);
    else snprintf(buf, n, "%.1f h ago", s / 3600);
}

static void status_print_job(FILE *out, int width, const Job *j, const JobProgress *p) {
    if (p->kind == JOB_PENDING && !p->detail[0]) {
        fprintf(out, "%-*s  %s\n", width, j->id, job_progress_names[p->kind]);
        return;
    }
    fprintf(out, "%-*s  %-7s  ", width, j->id, job_progress_names[p->kind]);
    char t[32], age[32];
    switch (p->kind) {
    case JOB_DONE:
        time_format_duration(p->seconds, t, sizeof t);
        fprintf(out, "UAR %.2f  WAR %.2f  (%s)\n", p->uar, p->war, t);
        break;
    case JOB_FAILED: fprintf(out, "%.200s%s\n", p->detail, strlen(p->detail) > 200 ? "..." : ""); break;
    case JOB_STARTED:
        age_text(p->age_s, age, sizeof age);
        if (p->step > 0 || p->evaluated > 0) {
            if (p->last_is_eval) fprintf(out, "epoch %d/%d evaluated", p->evaluated, p->epochs);
            else if (p->steps > 0) fprintf(out, "epoch %d/%d step %d/%d", p->epoch, p->epochs, p->step, p->steps);
            else fprintf(out, "epoch %d/%d", p->epoch, p->epochs);
            fprintf(out, " (%.0f%%)", 100 * p->fraction);
            if (p->evaluated > 0)
                fprintf(out, ", epoch %d's test UAR %.2f WAR %.2f", p->evaluated, p->eval_uar, p->eval_war);
        } else {
            fprintf(out, "no step logged yet");
        }
        fprintf(out, "; %s; last written %s", p->has_checkpoint ? "checkpointed" : "no checkpoint yet", age);
        if (p->locked)
            fprintf(out, "; %s host %s, pid %ld%s%s%s%s%s", p->lock_live ? "running on" : "stale lock of",
                    p->holder.host, p->holder.pid, p->holder.slurm_job[0] ? ", Slurm job " : "", p->holder.slurm_job,
                    p->lock_live ? "" : " (", p->lock_live ? "" : p->holder.state, p->lock_live ? "" : ")");
        if (p->hang[0]) fprintf(out, "; its last run ended on a hang: %s", p->hang);
        fputc('\n', out);
        break;
    case JOB_PENDING: fprintf(out, "%s\n", p->detail); break;
    }
}

static cJSON *status_job_json(const Job *j, const JobProgress *p) {
    cJSON *o = job_identity(j);
    cJSON_AddStringToObject(o, "state", job_progress_names[p->kind]);
    if (p->kind == JOB_DONE) {
        cJSON_AddNumberToObject(o, "uar", p->uar);
        cJSON_AddNumberToObject(o, "war", p->war);
        if (isfinite(p->seconds)) cJSON_AddNumberToObject(o, "seconds", p->seconds);
    } else if (p->kind == JOB_FAILED) {
        cJSON_AddStringToObject(o, "error", p->detail);
    } else if (p->kind == JOB_STARTED) {
        cJSON_AddNumberToObject(o, "epoch", p->last_is_eval ? p->evaluated : p->epoch);
        cJSON_AddNumberToObject(o, "epochs", p->epochs);
        cJSON_AddNumberToObject(o, "step", p->step);
        cJSON_AddNumberToObject(o, "steps", p->steps);
        cJSON_AddNumberToObject(o, "fraction", p->fraction);
        cJSON_AddNumberToObject(o, "epochs_evaluated", p->evaluated);
        if (p->evaluated > 0) {
            cJSON_AddNumberToObject(o, "last_eval_uar", p->eval_uar);
            cJSON_AddNumberToObject(o, "last_eval_war", p->eval_war);
        }
        cJSON_AddBoolToObject(o, "checkpoint", p->has_checkpoint);
        if (p->age_s >= 0) cJSON_AddNumberToObject(o, "last_written_s_ago", p->age_s);
        if (p->hang[0]) cJSON_AddStringToObject(o, "hang", p->hang);
        if (p->locked) {
            cJSON *h = cJSON_AddObjectToObject(o, "lock");
            cJSON_AddStringToObject(h, "host", p->holder.host);
            cJSON_AddNumberToObject(h, "pid", (double)p->holder.pid);
            cJSON_AddStringToObject(h, "slurm_job_id", p->holder.slurm_job);
            cJSON_AddBoolToObject(h, "live", p->lock_live);
            cJSON_AddStringToObject(h, "state", p->holder.state);
        }
    } else if (p->detail[0]) {
        cJSON_AddStringToObject(o, "cannot_run", p->detail);
    }
    return o;
}

int matrix_status(const char *matrix_path, const char *results_dir, int as_json, FILE *out, Err *err) {
    Matrix m;
    if (matrix_load(matrix_path, &m, err) != 0) return -1;
    Job *jobs;
    int n;
    if (matrix_expand(&m, &jobs, &n, err) != 0) return -1;
    char results[4096];
    matrix_results_dir(&m, results_dir, results, sizeof results);
    JobProgress *p = xcalloc((size_t)n + 1, sizeof *p);
    int counts[4] = {0}, width = 10;
    /* locks' silence and files' ages by the file system's clock (a probe file in the results folder): a login node's
     * clock off the file server's showed live runs as stale, or dead ones as live. No folder yet: no locks to judge */
    double fs_ahead_s = 0;
    int clock_of_fs = !fs_is_dir(results) || job_lock_fs_clock_ahead(results, &fs_ahead_s);
    /* which guard runs take stale locks over under here: the mkdir one where the results' NFS mount keeps its file
     * locks on each host (nolock), said once; a mount table that cannot be read is said, not fatal to a status */
    char guard_why[8600];
    Err guard_err = {{0}};
    int guard = job_lock_takeover_guard(results, guard_why, sizeof guard_why, &guard_err);
    if (guard < 0) snprintf(guard_why, sizeof guard_why, "%s", guard_err.msg);
    for (int i = 0; i < n; i++) {
        char dir[8192];
        snprintf(dir, sizeof dir, "%s/%s", results, jobs[i].id);
        job_progress(&m, &jobs[i], dir, fs_ahead_s, &p[i]);
        counts[p[i].kind]++;
        if ((int)strlen(jobs[i].id) > width) width = (int)strlen(jobs[i].id);
    }
    double left = 0; /* pending jobs that cannot run count none */
    for (int i = 0; i < n; i++)
        if (p[i].kind == JOB_STARTED || (p[i].kind == JOB_PENDING && !p[i].detail[0]))
            left += job_seconds_left(jobs, p, n, i);
    if (as_json) {
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "jobs");
        cJSON_AddStringToObject(o, "matrix", m.name);
        cJSON_AddStringToObject(o, "results", results);
        cJSON_AddStringToObject(o, "clock", clock_of_fs ? "file system" : "this host");
        if (guard < 0) cJSON_AddNullToObject(o, "takeover_guard");
        else cJSON_AddStringToObject(o, "takeover_guard", guard == JOB_LOCK_GUARD_OFD ? "OFD lock" : "mkdir");
        if (guard_why[0]) cJSON_AddStringToObject(o, "takeover_guard_why", guard_why);
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, status_job_json(&jobs[i], &p[i]));
        cJSON *c = cJSON_AddObjectToObject(o, "counts");
        for (int k = 0; k < 4; k++) cJSON_AddNumberToObject(c, job_progress_names[k], counts[k]);
        if (isfinite(left)) cJSON_AddNumberToObject(o, "seconds_left_one_group", left);
        else cJSON_AddNullToObject(o, "seconds_left_one_group");
        char *text = cJSON_Print(o);
        fprintf(out, "%s\n", text);
        free(text);
        cJSON_Delete(o);
    } else {
        fprintf(out, "matrix %s: %d jobs, results in %s\n", m.name, n, results);
        if (!clock_of_fs)
            fprintf(out, "note: %s takes no file (a read-only view?): the locks and ages below are judged by this "
                         "host's clock, which may be off the file server's\n", results);
        if (guard == JOB_LOCK_GUARD_MKDIR)
            fprintf(out, "note: stale job locks are taken over under the mkdir guard (JOB/.takeover): %s\n", guard_why);
        else if (guard < 0)
            fprintf(out, "note: %s\n", guard_why);
        for (int i = 0; i < n; i++) status_print_job(out, width, &jobs[i], &p[i]);
        fprintf(out, "%d done, %d failed, %d started, %d pending", counts[JOB_DONE], counts[JOB_FAILED],
                counts[JOB_STARTED], counts[JOB_PENDING]);
        if (counts[JOB_STARTED] + counts[JOB_PENDING] == 0) fprintf(out, "; nothing left to run\n");
        else if (!isfinite(left)) fprintf(out, "; no job has finished yet, so no estimate of the time left\n");
        else {
            char t[32];
            time_format_duration(left, t, sizeof t);
            fprintf(out, "; left: about %s of work for one group of ranks (the finished jobs' times), shared among the "
                         "groups that run the matrix\n", t);
        }
    }
    free(p);
    free(jobs);
    return 0;
}
