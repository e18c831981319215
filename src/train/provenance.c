#include "train/provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/digest.h"

/* One file's entry: its absolute path, the file read (a checkpoint directory's, ckpt_resolve), its size
 * and digest. */
static cJSON *file_entry(const char *path, int checkpoint) {
    cJSON *o = cJSON_CreateObject();
    char *absolute = realpath(path, NULL); /* the configured path is relative to where the run started */
    cJSON_AddStringToObject(o, "path", absolute ? absolute : path);
    free(absolute);
    char file[4096], hex[65];
    long long bytes;
    Err err;
    int rc = checkpoint ? ckpt_resolve(path, file, sizeof file, &err) : (snprintf(file, sizeof file, "%s", path), 0);
    if (rc == 0 && checkpoint && strcmp(file, path)) cJSON_AddStringToObject(o, "file", file);
    if (rc == 0) rc = file_sha256(file, hex, &bytes, &err);
    if (rc != 0) {
        cJSON_AddStringToObject(o, "error", err.msg);
        return o;
    }
    cJSON_AddNumberToObject(o, "bytes", (double)bytes);
    cJSON_AddStringToObject(o, "sha256", hex);
    return o;
}

static void add_split(cJSON *o, const char *name, const Dataset *d) {
    cJSON *e = file_entry(d->source, 0);
    cJSON_AddNumberToObject(e, "clips", d->count);
    cJSON_AddItemToObject(o, name, e);
}

cJSON *run_inputs_json(const Config *cfg, const JobModel *jm, const Dataset *train, const Dataset *test) {
    cJSON *o = cJSON_CreateObject();
    if (cfg->weights[0]) cJSON_AddItemToObject(o, "weights", file_entry(cfg->weights, 1));
    if (jm->high && cfg->long_clip[0]) cJSON_AddItemToObject(o, "long_clip", file_entry(cfg->long_clip, 1));
    if (jm->vocab_path[0]) cJSON_AddItemToObject(o, "vocab", file_entry(jm->vocab_path, 0));
    add_split(o, "train_split", train);
    add_split(o, "test_split", test);
    if (jm->descs && jm->desc_path[0]) cJSON_AddItemToObject(o, "descriptions", file_entry(jm->desc_path, 0));
    return o;
}
