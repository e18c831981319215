#include "train/provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "io/checkpoint.h"
#include "io/digest.h"
#include "io/json_file.h"

/* The digests this process computed, by file identity: the jobs a matrix group runs one after another read the
 * same weights (gigabytes for L/14), hashed once while the file stays the same (device, inode, size, mtime). */
typedef struct DigestMemo {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char hex[65];
} DigestMemo;
static DigestMemo g_memo[8];
static int g_memo_next;

static int memo_same(const DigestMemo *m, const struct stat *st) {
    return m->hex[0] && m->dev == st->st_dev && m->ino == st->st_ino && m->size == st->st_size &&
           m->mtime.tv_sec == st->st_mtim.tv_sec && m->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static int sha256_memo(const char *file, char hex[65], long long *bytes, Err *err) {
    struct stat st;
    int have_stat = stat(file, &st) == 0;
    for (int i = 0; have_stat && i < 8; i++)
        if (memo_same(&g_memo[i], &st)) {
            memcpy(hex, g_memo[i].hex, 65);
            *bytes = (long long)st.st_size;
            return 0;
        }
    if (file_sha256(file, hex, bytes, err) != 0) return -1;
    if (have_stat && *bytes == (long long)st.st_size) { /* unchanged while it was read */
        DigestMemo *m = &g_memo[g_memo_next++ % 8];
        *m = (DigestMemo){.dev = st.st_dev, .ino = st.st_ino, .size = st.st_size, .mtime = st.st_mtim};
        memcpy(m->hex, hex, 65);
    }
    return 0;
}

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
    if (rc == 0) rc = sha256_memo(file, hex, &bytes, &err);
    if (rc != 0) {
        cJSON_AddStringToObject(o, "error", err.msg);
        return o;
    }
    cJSON_AddNumberToObject(o, "bytes", (double)bytes);
    cJSON_AddStringToObject(o, "sha256", hex);
    return o;
}

/* A split's file, or a split of several folds' files (zero-shot transfer): each its own entry, NAME_fold<N>. */
static void add_split(cJSON *o, const char *name, const Dataset *d) {
    if (!d->parts) {
        cJSON *e = file_entry(d->source, 0);
        cJSON_AddNumberToObject(e, "clips", d->count);
        cJSON_AddItemToObject(o, name, e);
        return;
    }
    for (int p = 0; p < d->parts; p++) {
        cJSON *e = file_entry(d->part_source[p], 0);
        int clips = 0;
        for (int i = 0; i < d->count; i++) clips += d->clips[i].part == p;
        cJSON_AddNumberToObject(e, "clips", clips);
        char key[64];
        snprintf(key, sizeof key, "%s_fold%d", name, d->part_fold[p]);
        cJSON_AddItemToObject(o, key, e);
    }
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

/* A run's model file (its result.json's inputs[name]) against the file at that path now: 1 when it is another file
 * (both digests in digests: "sha256 1a2b... in its result.json, 3c4d... now"), 0 when the same or not recorded, -1
 * when it cannot be read (err). */
static int model_file_differs(const cJSON *inputs, const char *name, const char *file, int checkpoint,
                              const char *run_dir, const char *kind, char *digests, size_t n, Err *err) {
    const char *was = json_get_string(cJSON_GetObjectItemCaseSensitive(inputs, name), "sha256", NULL);
    if (!was || !file[0]) return 0;
    cJSON *now = file_entry(file, checkpoint);
    const char *sha = json_get_string(now, "sha256", NULL);
    int rc = 0;
    if (!sha)
        rc = err_set(err, "%s: the run's %s %s cannot be read: %s", run_dir, kind, file,
                     json_get_string(now, "error", "?"));
    else if (strcmp(sha, was)) {
        snprintf(digests, n, "sha256 %.12s... in its result.json, %.12s... now", was, sha);
        rc = 1;
    }
    cJSON_Delete(now);
    return rc;
}

static cJSON *run_result_inputs(const char *run_dir, cJSON **result) {
    char path[4200];
    snprintf(path, sizeof path, "%s/result.json", run_dir);
    Err read_err;
    *result = NULL;
    if (!fs_exists(path) || json_read_file(path, result, &read_err) != 0) return NULL;
    return cJSON_GetObjectItemCaseSensitive(*result, "inputs");
}

int run_check_model_inputs(const char *run_dir, const Config *cfg, const JobModel *jm, Err *err) {
    cJSON *result;
    const cJSON *inputs = run_result_inputs(run_dir, &result);
    if (!inputs) { /* unfinished: nothing to compare */
        cJSON_Delete(result);
        return 0;
    }
    struct { const char *name, *what, *file; int checkpoint; } files[3] = {
        {"weights", "CLIP checkpoint", cfg->weights, 1},
        {"long_clip", "Long-CLIP checkpoint", jm && jm->high ? cfg->long_clip : "", 1},
        {"vocab", "vocabulary", jm ? jm->vocab_path : "", 0}};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        char digests[128];
        int differs = model_file_differs(inputs, files[i].name, files[i].file, files[i].checkpoint, run_dir,
                                         files[i].what, digests, sizeof digests, err);
        if (differs < 0) rc = -1;
        else if (differs && !strcmp(files[i].name, "vocab")) /* a .gz, its text, merges.txt: the same merges */
            log_warn("%s: the vocabulary %s is another file than the run's (%s): a copy in another form tokenises "
                     "alike, another vocabulary does not", run_dir, files[i].file, digests);
        else if (differs)
            rc = err_set(err, "%s: %s is not the %s the run trained with (%s): its parameters would be used with "
                              "another file; put the run's back at that path", run_dir, files[i].file, files[i].what,
                         digests);
    }
    cJSON_Delete(result);
    return rc;
}

int run_model_inputs_changed(const char *run_dir, const Config *cfg, char *what, size_t n) {
    if (n) what[0] = '\0';
    cJSON *result;
    const cJSON *inputs = run_result_inputs(run_dir, &result);
    int changed = 0;
    Err err;
    int high = !strcmp(cfg->method, "finecliper") && strstr(cfg->variant, "high");
    const char *files[2][2] = {{"weights", cfg->weights}, {"long_clip", high ? cfg->long_clip : ""}};
    for (int i = 0; i < 2 && inputs; i++) {
        char digests[128];
        if (model_file_differs(inputs, files[i][0], files[i][1], 1, run_dir, files[i][0], digests, sizeof digests,
                               &err) <= 0)
            continue;
        size_t len = strlen(what);
        snprintf(what + len, n - len, "%s%s (%s)", changed++ ? ", " : "", files[i][1], digests);
    }
    cJSON_Delete(result);
    return changed;
}

void run_inputs_digests(const cJSON *inputs, char *out, size_t n) {
    cJSON *o = cJSON_CreateObject();
    const cJSON *e;
    cJSON_ArrayForEach(e, inputs) {
        const char *sha = json_get_string(e, "sha256", NULL);
        if (sha && e->string) cJSON_AddStringToObject(o, e->string, sha);
    }
    char *text = cJSON_PrintUnformatted(o);
    snprintf(out, n, "%s", text && strlen(text) < n ? text : "");
    free(text);
    cJSON_Delete(o);
}

int run_inputs_changed(const char *digests, const cJSON *inputs, char *what, size_t n) {
    if (n) what[0] = '\0';
    cJSON *before = digests && digests[0] ? cJSON_Parse(digests) : NULL;
    int changed = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, before) {
        const char *was = cJSON_IsString(e) ? e->valuestring : NULL;
        const char *now = json_get_string(cJSON_GetObjectItemCaseSensitive(inputs, e->string), "sha256", NULL);
        if (!was || !now || !strcmp(was, now)) continue;
        size_t len = strlen(what);
        snprintf(what + len, n - len, "%s%s (sha256 %.8s... before, %.8s... now)", changed ? ", " : "", e->string, was,
                 now);
        changed++;
    }
    cJSON_Delete(before);
    return changed;
}
