/* A matrix job's identity and configuration, which running the matrix (runner.c), its --status (runner_status.c) and
 * its --list (matrix_list, here) share: the job's identity as JSON (result.json, the results folder's job list), its
 * configuration built from the matrix (defaults, method file, [set], axes), whether it can run, and the results
 * folder. Apart from runner.c so that the configuration of a job is built in one place for all three. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/runner.h"
#include "train/runner_internal.h"
#include "train/trainer.h"

const char *job_ablation(const Matrix *m, const Job *j, char *out) {
    Config cfg;
    Err err;
    if (job_config(m, j, &cfg, &err) != 0) return NULL;
    config_ablation(&cfg, out, CONFIG_ABLATION_BYTES);
    return out;
}

cJSON *job_identity(const Job *j, const char *ablation) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job", j->id);
    cJSON_AddStringToObject(o, "method", j->method);
    cJSON_AddStringToObject(o, "variant", j->variant);
    if (j->arm[0]) cJSON_AddStringToObject(o, "arm", j->arm);
    /* the tables tell an ablation's jobs from the paper's model by it, listed jobs (jobs.json) as finished ones; ""
     * (the paper's model) is written too: files without the key are older ones, whose ablation the tables read from
     * the job's config.ini (table_results.c) */
    if (ablation) cJSON_AddStringToObject(o, "ablation", ablation);
    cJSON_AddStringToObject(o, "dataset", j->dataset);
    cJSON_AddStringToObject(o, "eval_dataset", j->eval_dataset);
    /* zero-shot: where the target was read, so that `dfer eval --run` of the job scores what the job did (absolute,
     * as config.ini's data.root: a matrix's relative path means nothing from another folder) */
    if (!strcmp(j->setting, "zeroshot")) {
        char *real = realpath(j->eval_root, NULL);
        cJSON_AddStringToObject(o, "eval_root", real ? real : j->eval_root);
        free(real);
    }
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

/* The job's configuration: defaults, the method's file, the matrix's [set] and its arm's [set@ARM], then the axes (and
 * a zero-shot setting's /CAPTIONS). */
int job_config(const Matrix *m, const Job *j, Config *cfg, Err *err) {
    config_defaults(cfg);
    if (config_load_file(cfg, j->config, err) != 0) return -1;
    /* a methods entry without a variant means the low level: a method file that asks for another would be
     * overruled without a word */
    if (!strcmp(j->method, "finecliper") && !strchr(j->method_entry, ':') && strcmp(cfg->variant, "low"))
        return err_set(err, "%s sets model.variant = %s, but the matrix entry '%s' means %s:low: name the variant in "
                            "matrix.methods (%s:%s=%s)",
                       j->config, cfg->variant, j->method_entry, j->method, j->method, cfg->variant, j->config);
    char origin[4200];
    /* [set], then the job's arm's [set@ARM] over it */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < m->n_sets; i++) {
            const char *arm = m->set_arms[i];
            if (pass ? !arm[0] || strcmp(arm, j->arm) : arm[0] != '\0') continue;
            snprintf(origin, sizeof origin, "%s:%d [set%s%s]", m->path, m->set_lines[i], arm[0] ? "@" : "", arm);
            if (config_set_from(cfg, m->sets[i], origin, err) != 0) return -1;
        }
    char kv[1024];
    snprintf(origin, sizeof origin, "%s's axes", m->path);
#define SET(...) (snprintf(kv, sizeof kv, __VA_ARGS__), config_set_from(cfg, kv, origin, err))
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

/* A job's configuration, or why it cannot run: it waits for a feature not built yet, or its
 * configuration is invalid (err says which, in both cases). */
JobState job_resolve(const Matrix *m, const Job *j, Config *cfg, Err *err) {
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
        config_error_origins(cfg, err);
        return JOB_INVALID;
    }
    return JOB_RUNNABLE;
}


void matrix_results_dir(const Matrix *m, const char *given, char *buf, size_t n) {
    if (given) snprintf(buf, n, "%s", given);
    else snprintf(buf, n, "results/%s", m->name);
}

int matrix_list(const char *matrix_path, int check_inputs, FILE *out, Err *err) {
    Matrix m;
    if (matrix_load(matrix_path, &m, err) != 0) return -1;
    Job *jobs;
    int n;
    if (matrix_expand(&m, &jobs, &n, err) != 0) return -1;
    int bad = 0, waiting = 0, missing = 0, over = 0;
    for (int i = 0; i < n; i++) {
        Config cfg;
        Err jerr;
        const Job *j = &jobs[i];
        JobState s = job_resolve(&m, j, &cfg, &jerr);
        int zeroshot = !strcmp(j->setting, "zeroshot");
        /* 0: would start; -1: an input stops it; 1: it does not fit train.gpu_mem */
        int start = s != JOB_RUNNABLE || !check_inputs
                        ? 0
                        : train_preflight(&cfg, zeroshot ? j->eval_dataset : NULL, zeroshot ? j->eval_root : NULL,
                                          m.ranks_per_job, &jerr);
        /* a backbone's weights that cannot be read: say which entry of the matrix names them */
        if (start < 0 && cfg.weights[0] && !strncmp(jerr.msg, cfg.weights, strlen(cfg.weights)))
            err_prefix(&jerr, "backbone %s (model.weights): ", j->backbone);
        if (s == JOB_RUNNABLE && start == 0) fprintf(out, "%-60s  ok\n", j->id);
        else
            fprintf(out, "%-60s  %s: %s\n", j->id,
                    s == JOB_WAITS     ? "waits"
                    : s == JOB_INVALID ? "ERROR"
                    : start > 0        ? "NOFIT"
                                       : "MISSING",
                    jerr.msg);
        waiting += s == JOB_WAITS, bad += s == JOB_INVALID, missing += start < 0, over += start > 0;
    }
    fprintf(out, "matrix %s: %d jobs, %d runnable, %d waiting for features not built yet, %d with errors", m.name, n,
            n - waiting - bad - missing - over, waiting, bad);
    if (check_inputs) fprintf(out, ", %d with missing or unreadable inputs, %d over train.gpu_mem", missing, over);
    fputc('\n', out);
    free(jobs);
    if (bad) return err_set(err, "%s: %d job%s cannot be configured (see above)", matrix_path, bad, bad > 1 ? "s" : "");
    if (missing + over)
        return err_set(err, "%s: %d %s would fail at %s start (see above)", matrix_path, missing + over,
                       missing + over > 1 ? "jobs" : "job", missing + over > 1 ? "their" : "its");
    return 0;
}

