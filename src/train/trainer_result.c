/* A run's result.json (rank 0, when training ends) and the scores of an evaluation as JSON (result.json's best and
 * last, metrics.jsonl's evaluation lines). */
#include <cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/version.h"
#include "io/json_file.h"
#include "train/checkpoint.h"
#include "train/trainer_internal.h"

cJSON *trainer_scores_json(const Scores *s, const Confusion *cm, int epoch) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epoch", epoch);
    cJSON_AddNumberToObject(o, "uar", s->uar);
    cJSON_AddNumberToObject(o, "war", s->war);
    /* the classes the UAR is the mean over (those of the test split and those predicted): a split that lacks some
     * (a one-clip list) gives a UAR of fewer classes, which the number alone does not say. With folds scored apart
     * it counts every fold's clips together, as recall does (the UAR is then the mean of the folds' own) */
    cJSON_AddNumberToObject(o, "classes_scored", s->classes_scored);
    cJSON *rec = cJSON_AddArrayToObject(o, "recall");
    for (int c = 0; c < cm->classes; c++) cJSON_AddItemToArray(rec, cJSON_CreateNumber(s->recall[c]));
    cJSON *conf = cJSON_AddArrayToObject(o, "confusion");
    for (int t = 0; t < cm->classes; t++) {
        cJSON *row = cJSON_CreateArray();
        for (int p = 0; p < cm->classes; p++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)cm->counts[t * cm->classes + p]));
        cJSON_AddItemToArray(conf, row);
    }
    /* several folds' test splits: each one's scores (uar and war above are their mean; recall and confusion cover
     * every clip) */
    if (s->parts) {
        cJSON_AddNumberToObject(o, "folds_scored", s->parts_scored); /* those with a readable clip: the mean's */
        cJSON *folds = cJSON_AddArrayToObject(o, "folds");
        for (int p = 0; p < s->parts; p++) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddNumberToObject(f, "fold", s->part_fold[p]);
            cJSON_AddNumberToObject(f, "clips", (double)s->part_total[p]);
            cJSON_AddNumberToObject(f, "uar", s->part_uar[p]);
            cJSON_AddNumberToObject(f, "war", s->part_war[p]);
            cJSON_AddItemToArray(folds, f);
        }
    }
    return o;
}

/* seconds: training time over every call of the run (the time a restart repeats, after the last checkpoint, counts
 * once per call that spent it); this_call: this call's */
int trainer_write_result(const Config *cfg, const TrainOptions *opt, const JobModel *jm, const Position *pos,
                         const cJSON *inputs, double seconds, double this_call, Err *err) {
    cJSON *o = opt->job_json ? cJSON_Parse(opt->job_json) : NULL;
    if (!o) o = cJSON_CreateObject();
    if (!cJSON_GetObjectItem(o, "method")) cJSON_AddStringToObject(o, "method", cfg->method);
    if (!cJSON_GetObjectItem(o, "variant") && !strcmp(cfg->method, "finecliper"))
        cJSON_AddStringToObject(o, "variant", cfg->variant);
    if (!cJSON_GetObjectItem(o, "dataset")) cJSON_AddStringToObject(o, "dataset", cfg->dataset);
    /* what was trained (a matrix job's identity has it from the same configuration) */
    char ablation[CONFIG_ABLATION_BYTES];
    config_ablation(cfg, ablation, sizeof ablation);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "ablation");
    cJSON_AddStringToObject(o, "ablation", ablation); /* "" too: a result without the key is an older one */
    cJSON_AddStringToObject(o, "status", "done");
    /* the peers select the epoch with the best WAR on the test split: report that, and the last */
    cJSON_AddNumberToObject(o, "uar", pos->best.uar);
    cJSON_AddNumberToObject(o, "war", pos->best.war);
    cJSON_AddStringToObject(o, "reported_epoch", "best (by WAR on the test split, as the peers select)");
    if (pos->best.parts) { /* zero-shot transfer to several folds: which, and how they are scored */
        cJSON_DeleteItemFromObjectCaseSensitive(o, "eval_folds"); /* the matrix's job identity has them too */
        cJSON *folds = cJSON_AddArrayToObject(o, "eval_folds");
        for (int p = 0; p < pos->best.parts; p++)
            cJSON_AddItemToArray(folds, cJSON_CreateNumber(pos->best.part_fold[p]));
        cJSON_AddStringToObject(o, "scored", "uar and war: the mean over eval_folds of each fold's test split scored "
                                             "alone (best.folds); recall and confusion: every clip of them");
    }
    cJSON *cls = cJSON_AddArrayToObject(o, "classes");
    for (int c = 0; c < jm->num_classes; c++) cJSON_AddItemToArray(cls, cJSON_CreateString(k_class_names[c]));
    cJSON *rec = cJSON_AddArrayToObject(o, "recall");
    for (int c = 0; c < jm->num_classes; c++) cJSON_AddItemToArray(rec, cJSON_CreateNumber(pos->best.recall[c]));
    /* epochs counted from 1, as the log and metrics.jsonl count them (results written before this key counted
     * best/last.epoch from 0: dfer report tells them apart by it) */
    cJSON_AddNumberToObject(o, "epoch_counted_from", 1);
    cJSON_AddItemToObject(o, "best", trainer_scores_json(&pos->best, &pos->best_cm, pos->best_epoch + 1));
    cJSON_AddItemToObject(o, "last", trainer_scores_json(&pos->last, &pos->last_cm, cfg->epochs));
    /* the backbone's architecture, for comparisons with published numbers (dfer table --paper) */
    char arch[128];
    cJSON_AddStringToObject(o, "clip_arch", clip_config_describe(&jm->clip.cfg, arch, sizeof arch));
    /* contrastive (zero-shot) training: what the clips were paired with (Table 3 tells the kinds apart) */
    const char *captions = jm->contrastive ? job_captions_name(jm->captions_used) : NULL;
    /* the matrix's job identity names the kind a setting asked for (zeroshot:A->B/CAPTIONS): what was used stands */
    cJSON_DeleteItemFromObjectCaseSensitive(o, "captions");
    if (captions) cJSON_AddStringToObject(o, "captions", captions);
    cJSON *params = cJSON_AddObjectToObject(o, "trainable_parameters");
    cJSON_AddNumberToObject(params, "total", (double)jm->params->numel);
    for (int gi = 0; gi < jm->groups; gi++)
        cJSON_AddNumberToObject(params, jm->group_names[gi], (double)paramset_group_numel(jm->params, gi));
    cJSON_AddNumberToObject(o, "seed", cfg->seed);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    cJSON_AddNumberToObject(o, "seconds_this_call", this_call);
    /* when the job finished, for provenance (a copied results folder keeps it, unlike file times) */
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(o, "finished", when);
    cJSON_AddNumberToObject(o, "finished_unix", (double)now);
    cJSON_AddStringToObject(o, "commit", dfer_git_commit);
    /* the backend and its kernels: the same commit on another CPU (another OpenBLAS kernel) or GPU differs in
     * the last digits, and over epochs in more */
    cJSON_AddStringToObject(o, "backend", ops_describe(jm->ops));
    if (opt->command) cJSON_AddStringToObject(o, "command", opt->command);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    cJSON_AddStringToObject(o, "host", host);
    if (inputs) cJSON_AddItemToObject(o, "inputs", cJSON_Duplicate(inputs, 1));
    char path[4096];
    run_file_path(path, sizeof path, opt->out_dir, "result.json");
    int rc = json_write_atomic(path, o, err);
    cJSON_Delete(o);
    return rc;
}
