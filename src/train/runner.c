#include "train/runner.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/stop.h"
#include "io/json_file.h"
#include "train/matrix.h"
#include "train/table.h"
#include "train/trainer.h"

static cJSON *job_identity(const Job *j) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job", j->id);
    cJSON_AddStringToObject(o, "method", j->method);
    cJSON_AddStringToObject(o, "variant", j->variant);
    cJSON_AddStringToObject(o, "dataset", j->dataset);
    cJSON_AddStringToObject(o, "eval_dataset", j->eval_dataset);
    cJSON_AddNumberToObject(o, "fold", j->fold);
    cJSON_AddStringToObject(o, "backbone", j->backbone);
    cJSON_AddNumberToObject(o, "seed", j->seed);
    cJSON_AddStringToObject(o, "setting", j->setting);
    return o;
}

static int job_finished(const char *dir) {
    char path[8300], *text;
    size_t len;
    Err err;
    snprintf(path, sizeof path, "%s/result.json", dir);
    if (!fs_exists(path) || fs_read_all(path, &text, &len, &err) != 0) return 0;
    cJSON *o = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *s = o ? cJSON_GetObjectItem(o, "status") : NULL;
    int done = cJSON_IsString(s) && !strcmp(s->valuestring, "done");
    cJSON_Delete(o);
    return done;
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

/* The job's configuration: defaults, the method's file, the matrix's [set], then the axes. */
static int job_config(const Matrix *m, const Job *j, Config *cfg, Err *err) {
    config_defaults(cfg);
    if (config_load_file(cfg, j->config, err) != 0) return -1;
    for (int i = 0; i < m->n_sets; i++)
        if (config_set(cfg, m->sets[i], err) != 0) return err_prefix(err, "%s [set]: ", m->path);
    char kv[1024];
#define SET(...) (snprintf(kv, sizeof kv, __VA_ARGS__), config_set(cfg, kv, err))
    if (SET("model.method=%s", j->method) || SET("model.weights=%s", j->weights) || SET("data.dataset=%s", j->dataset) ||
        SET("data.root=%s", j->root) || SET("train.seed=%d", j->seed) || (j->fold && SET("data.fold=%d", j->fold)) ||
        (j->variant[0] && SET("model.variant=%s", j->variant)))
        return -1;
    /* zero-shot: contrastive training on captions, classification of the other dataset with EmoCLIP's class
     * descriptions (dfer.md §3) */
    if (!strcmp(j->setting, "zeroshot") && (SET("train.objective=contrastive") || SET("model.class_prompts=emoclip")))
        return -1;
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
    return config_validate(cfg, err) == 0 ? JOB_RUNNABLE : JOB_INVALID;
}

int matrix_list(const char *matrix_path, FILE *out, Err *err) {
    Matrix m;
    if (matrix_load(matrix_path, &m, err) != 0) return -1;
    Job *jobs;
    int n;
    if (matrix_expand(&m, &jobs, &n, err) != 0) return -1;
    int bad = 0, waiting = 0;
    for (int i = 0; i < n; i++) {
        Config cfg;
        Err jerr;
        JobState s = job_resolve(&m, &jobs[i], &cfg, &jerr);
        if (s == JOB_RUNNABLE) fprintf(out, "%-60s  ok\n", jobs[i].id);
        else fprintf(out, "%-60s  %s: %s\n", jobs[i].id, s == JOB_WAITS ? "waits" : "ERROR", jerr.msg);
        waiting += s == JOB_WAITS, bad += s == JOB_INVALID;
    }
    fprintf(out, "matrix %s: %d jobs, %d runnable, %d waiting for features not built yet, %d with errors\n", m.name, n,
            n - waiting - bad, waiting, bad);
    free(jobs);
    if (bad) return err_set(err, "%s: %d job%s cannot be configured (see above)", matrix_path, bad, bad > 1 ? "s" : "");
    return 0;
}

int matrix_run(const RunnerOptions *opt, const Dist *d, int *failed_jobs, Err *err) {
    Matrix m;
    if (matrix_load(opt->matrix_path, &m, err) != 0) return -1;
    Job *jobs;
    int n;
    if (matrix_expand(&m, &jobs, &n, err) != 0) return -1;
    char results[4096];
    if (opt->results_dir) snprintf(results, sizeof results, "%s", opt->results_dir);
    else snprintf(results, sizeof results, "results/%s", m.name);
    /* train.device is not an axis: the first job's device (its method file and [set]) serves all */
    Config first;
    CollBackend coll = COLL_MPI;
    Group g;
    if ((n > 0 && job_config(&m, &jobs[0], &first, err) == 0 && train_collectives(&first, d, &coll, err) != 0) ||
        group_create(d, m.ranks_per_job, coll, &g, err) != 0) {
        free(jobs);
        return -1;
    }
    if (d->rank == 0) {
        if (fs_mkdirs(results, err) != 0) {
            free(jobs);
            return -1;
        }
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, job_identity(&jobs[i]));
        char path[4200];
        snprintf(path, sizeof path, "%s/jobs.json", results);
        int rc = json_write_atomic(path, arr, err);
        cJSON_Delete(arr);
        if (rc) return -1;
        log_info("matrix %s: %d jobs, %d group%s of %d rank%s, results in %s", m.name, n, g.count, g.count > 1 ? "s" : "",
                 g.size, g.size > 1 ? "s" : "", results);
    }
    JobCounter counter;
    job_counter_create(&counter);
    int failed = 0, ran = 0, interrupted = 0;
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
        if (job_finished(dir)) {
            if (g.rank == 0) log_info("[group %d] %s: already finished, skipped", g.index, j->id);
            continue;
        }
        if (g.rank == 0) log_info("[group %d] job %lld/%d: %s", g.index, (long long)next + 1, n, j->id);
        Config cfg;
        Err jerr;
        int rc = job_resolve(&m, j, &cfg, &jerr) == JOB_RUNNABLE ? 0 : -1;
        if (rc == 0) {
            cJSON *id = job_identity(j);
            char *id_json = cJSON_PrintUnformatted(id);
            cJSON_Delete(id);
            int zeroshot = !strcmp(j->setting, "zeroshot");
            TrainOptions to = {.out_dir = dir, .resume = 1, .command = opt->command, .job_json = id_json,
                               .eval_dataset = zeroshot ? j->eval_dataset : NULL,
                               .eval_root = zeroshot ? j->eval_root : NULL};
            rc = train_run(&cfg, &to, &g, &jerr);
            free(id_json);
        }
        ran++;
        if (rc == DFER_EXIT_INTERRUPTED) {
            interrupted = 1;
            if (g.rank == 0) log_warn("[group %d] %s: interrupted by a signal, checkpointed; it resumes on the next run", g.index, j->id);
            break;
        }
        if (rc != 0) {
            failed++;
            if (g.rank == 0) {
                log_error("[group %d] %s failed: %s", g.index, j->id, jerr.msg);
                record_failure(j, dir, jerr.msg);
            }
        }
    }
    job_counter_free(&counter);
    CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
    int total_failed = 0;
    CHECK_MPI(MPI_Allreduce(&failed, &total_failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
    *failed_jobs = total_failed / g.size;
    int any_interrupted = 0;
    CHECK_MPI(MPI_Allreduce(&interrupted, &any_interrupted, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    if (d->rank == 0) {
        ResultSet *rs;
        if (results_load(results, &rs, err) == 0) {
            char path[4200];
            static const char *names[3] = {"tables.md", "tables.tex", "tables.csv"};
            for (int f = 0; f < 3; f++) {
                char *buf = NULL;
                size_t len = 0;
                FILE *mem = open_memstream(&buf, &len);
                tables_write(rs, (TableFormat)f, mem);
                fclose(mem);
                snprintf(path, sizeof path, "%s/%s", results, names[f]);
                Err werr;
                if (fs_write_atomic(path, buf, len, &werr) != 0) log_error("%s", werr.msg);
                if (f == 0) printf("%s", buf);
                free(buf);
            }
            results_free(rs);
        }
    }
    group_free(&g);
    free(jobs);
    if (any_interrupted && d->rank == 0)
        log_warn("matrix %s: interrupted by a signal; unfinished jobs are checkpointed and resume on the next run", m.name);
    return any_interrupted ? DFER_EXIT_INTERRUPTED : 0;
}
