#include "train/runner.h"

#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/stop.h"
#include "io/json_file.h"
#include "train/job_lock.h"
#include "train/matrix.h"
#include "train/matrix_folder.h"
#include "train/provenance.h"
#include "train/runner_internal.h"
#include "train/table.h"
#include "train/trainer.h"

static void record_failure(const Job *j, const char *ablation, const char *dir, const char *message) {
    cJSON *o = job_identity(j, ablation);
    cJSON_AddStringToObject(o, "status", "failed");
    cJSON_AddStringToObject(o, "error", message);
    char path[8300];
    Err err;
    snprintf(path, sizeof path, "%s/result.json", dir);
    if (fs_mkdirs(dir, &err) != 0 || json_write_atomic(path, o, &err) != 0) log_error("%s", err.msg);
    cJSON_Delete(o);
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
    for (int i = 0; i < m->n_sets; i++) h = digest_text(digest_text(h, m->sets[i]), m->set_arms[i]);
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
        char ablation[CONFIG_ABLATION_BYTES];
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, job_identity(&jobs[i], job_ablation(&m, &jobs[i], ablation)));
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
        char ablation[CONFIG_ABLATION_BYTES] = ""; /* what the job changes of the paper's model, once configured */
        if (rc == 0) config_ablation(&cfg, ablation, sizeof ablation);
        const char *known_ablation = rc == 0 ? ablation : NULL; /* a job that cannot be configured: not known */
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
            cJSON *id = job_identity(j, known_ablation);
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
            record_failure(j, known_ablation, dir, jerr.msg);
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
