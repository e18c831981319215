/* dfer matrix --status: what the results directory says about each job of a matrix (done, failed, started with its
 * progress and lock, pending with why it cannot run), the counts and the work left, as text or JSON. Apart from
 * runner.c because it only reads what runs wrote: it starts no MPI and trains nothing. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsutil.h"
#include "core/timer.h"
#include "io/json_file.h"
#include "train/checkpoint.h"
#include "train/job_lock.h"
#include "train/matrix.h"
#include "train/run_hang.h"
#include "train/runner.h"
#include "train/runner_internal.h"

/* DIR/result.json parsed, or NULL when it is absent or unreadable (a job that has not finished). */
static cJSON *job_result(const char *dir) {
    char path[8300];
    Err err;
    cJSON *o = NULL;
    snprintf(path, sizeof path, "%s/result.json", dir);
    if (fs_exists(path)) json_read_file(path, &o, &err);
    return o;
}

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
    p->has_checkpoint = checkpoint_exists(dir);
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

static cJSON *status_job_json(const Matrix *m, const Job *j, const JobProgress *p) {
    char ablation[CONFIG_ABLATION_BYTES];
    cJSON *o = job_identity(j, job_ablation(m, j, ablation));
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
        cJSON_AddBoolToObject(o, "results_exist", fs_is_dir(results));
        cJSON_AddStringToObject(o, "clock", clock_of_fs ? "file system" : "this host");
        if (guard < 0) cJSON_AddNullToObject(o, "takeover_guard");
        else cJSON_AddStringToObject(o, "takeover_guard", guard == JOB_LOCK_GUARD_OFD ? "OFD lock" : "mkdir");
        if (guard_why[0]) cJSON_AddStringToObject(o, "takeover_guard_why", guard_why);
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, status_job_json(&m, &jobs[i], &p[i]));
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
        if (!fs_is_dir(results)) /* a matrix run with --results elsewhere looks like one that never ran */
            fprintf(out, "note: %s does not exist: no job of this matrix has run there (a run with --results "
                         "elsewhere needs the same --results here)\n", results);
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
