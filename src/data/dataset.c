#include "data/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fsutil.h"

const char *const k_class_names[DFER_MAX_CLASSES] = {"happiness", "sadness",  "neutral",      "anger",
                                                     "surprise",  "disgust",  "fear",         "contempt",
                                                     "anxiety",   "helplessness", "disappointment"};

/* FERV39k's emotion folder names and MAFW's label names, to the project's order. */
static const struct {
    const char *name;
    int label;
} k_names[] = {{"Happy", 0},     {"Sad", 1},         {"Neutral", 2},      {"Angry", 3},      {"Surprise", 4},
               {"Disgust", 5},   {"Fear", 6},        {"happiness", 0},    {"sadness", 1},    {"neutral", 2},
               {"anger", 3},     {"surprise", 4},    {"disgust", 5},      {"fear", 6},       {"contempt", 7},
               {"anxiety", 8},   {"helplessness", 9}, {"disappointment", 10}};

static int label_of_name(const char *s) {
    for (size_t i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
        if (!strcmp(k_names[i].name, s)) return k_names[i].label;
    return -1;
}

const char *class_order_text(int n, char *buf, size_t len) {
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; i < n && off < len; i++) off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", k_class_names[i]);
    return buf;
}

void dataset_free(Dataset *d) {
    for (int i = 0; i < d->count; i++) {
        free(d->clips[i].id);
        free(d->clips[i].path);
        free(d->clips[i].caption);
    }
    free(d->clips);
    memset(d, 0, sizeof *d);
}

static void add_clip(Dataset *d, const char *id, const char *path, int label, int frames, const char *caption) {
    if (d->count == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 256;
        d->clips = xrealloc(d->clips, (size_t)d->cap * sizeof *d->clips);
    }
    d->clips[d->count++] = (ClipRecord){xstrdup(id), xstrdup(path), label, frames, caption ? xstrdup(caption) : NULL};
}

/* Splits the next line off (LF or CRLF); returns NULL at the end. */
static char *next_line(char **cursor, char *end) {
    if (*cursor >= end) return NULL;
    char *line = *cursor, *nl = memchr(line, '\n', (size_t)(end - line));
    char *stop = nl ? nl : end;
    *cursor = nl ? nl + 1 : end;
    if (stop > line && stop[-1] == '\r') stop--;
    *stop = 0;
    /* trailing blanks */
    while (stop > line && (stop[-1] == ' ' || stop[-1] == '\t')) *--stop = 0;
    return line;
}

static int parse_int(const char *s, long *out) {
    char *e;
    if (!*s) return -1;
    *out = strtol(s, &e, 10);
    return *e ? -1 : 0;
}

static int parse(const char *kind, char *text, size_t len, const char *label, const char *root, Dataset *d, Err *err) {
    char *cur = text, *end = text + len, *line;
    int lineno = 0, data_lines = 0;
    char path[8192];
    while ((line = next_line(&cur, end))) {
        lineno++;
        if (!line[0]) continue;
        if (!strcmp(kind, "dfew")) {
            if (lineno == 1 && !strncasecmp(line, "video_name", 10)) continue; /* header */
            char *comma = strchr(line, ',');
            long id, lab;
            if (!comma) return err_set(err, "%s:%d: expected 'video_name,label'", label, lineno);
            *comma = 0;
            if (parse_int(line, &id) || id < 0 || id > 99999 || parse_int(comma + 1, &lab))
                return err_set(err, "%s:%d: '%s,%s' is not 'number,number'", label, lineno, line, comma + 1);
            data_lines++;
            if (lab == 0) { /* not single-labelled: not part of the protocol */
                d->skipped++;
                continue;
            }
            if (lab < 1 || lab > 7) return err_set(err, "%s:%d: label %ld is outside DFEW's 1..7", label, lineno, lab);
            char ids[16];
            snprintf(ids, sizeof ids, "%05ld", id);
            snprintf(path, sizeof path, "%s/Clip/clip_224x224/%s", root, ids);
            add_clip(d, ids, path, (int)lab - 1, -1, NULL);
        } else if (!strcmp(kind, "ferv39k")) {
            char *space = strrchr(line, ' ');
            if (!space) return err_set(err, "%s:%d: expected '<Scene>/<Emotion>/<id> <Emotion>'", label, lineno);
            *space = 0;
            int lab = label_of_name(space + 1);
            if (lab < 0 || lab > 6) return err_set(err, "%s:%d: unknown FERV39k emotion '%s'", label, lineno, space + 1);
            data_lines++;
            snprintf(path, sizeof path, "%s/2_ClipsforFaceCrop/%s", root, line);
            add_clip(d, line, path, lab, -1, NULL);
        } else if (!strcmp(kind, "mafw")) {
            /* no_caption: "03747.mp4 anger"; with_caption: "03747.mp4\tanger\t<GBK>\t<English>" */
            char *sep = strpbrk(line, "\t ");
            if (!sep) return err_set(err, "%s:%d: expected '<clip>.mp4 <label>'", label, lineno);
            int tabbed = *sep == '\t';
            *sep = 0;
            char *lab_s = sep + 1, *caption = NULL;
            if (tabbed) {
                char *t2 = strchr(lab_s, '\t');
                if (t2) {
                    *t2 = 0;
                    char *t3 = strchr(t2 + 1, '\t'); /* the Chinese column is skipped, whatever its encoding */
                    caption = t3 ? t3 + 1 : NULL;
                }
            }
            int lab = label_of_name(lab_s);
            if (lab < 0) return err_set(err, "%s:%d: unknown MAFW label '%s' (compound labels are not single-label)", label, lineno, lab_s);
            data_lines++;
            char id[256];
            snprintf(id, sizeof id, "%s", line);
            char *dot = strrchr(id, '.');
            if (dot) *dot = 0;
            snprintf(path, sizeof path, "%s/data/faces/%s", root, id);
            if (!fs_is_dir(path)) snprintf(path, sizeof path, "%s/clips/%s", root, line);
            add_clip(d, id, path, lab, -1, caption);
        } else { /* list: path num_frames label */
            char p[4096];
            long frames, lab;
            char f_s[64], l_s[64], extra[8];
            int n = sscanf(line, "%4095s %63s %63s %7s", p, f_s, l_s, extra);
            if (n != 3) return err_set(err, "%s:%d: expected 'path num_frames label'", label, lineno);
            if (parse_int(f_s, &frames) || frames < 0)
                return err_set(err, "%s:%d: frame count '%s' is not a non-negative integer", label, lineno, f_s);
            if (parse_int(l_s, &lab) || lab < 0 || lab >= DFER_MAX_CLASSES)
                return err_set(err, "%s:%d: label '%s' is outside 0..%d", label, lineno, l_s, DFER_MAX_CLASSES - 1);
            data_lines++;
            if (p[0] == '/') snprintf(path, sizeof path, "%s", p);
            else snprintf(path, sizeof path, "%s/%s", root, p);
            const char *base = strrchr(p, '/');
            add_clip(d, base ? base + 1 : p, path, (int)lab, (int)frames, NULL);
            if (lab >= 7) d->num_classes = DFER_MAX_CLASSES;
        }
    }
    if (!data_lines) return err_set(err, "%s: the split file lists no clips", label);
    return 0;
}

int dataset_parse(const char *kind, const char *text, size_t len, const char *label, const char *root, Dataset *out,
                  Err *err) {
    memset(out, 0, sizeof *out);
    if (strcmp(kind, "dfew") && strcmp(kind, "ferv39k") && strcmp(kind, "mafw") && strcmp(kind, "list"))
        return err_set(err, "unknown dataset kind '%s' (dfew, ferv39k, mafw, list)", kind);
    snprintf(out->kind, sizeof out->kind, "%s", kind);
    out->num_classes = !strcmp(kind, "mafw") ? 11 : 7;
    snprintf(out->source, sizeof out->source, "%s", label);
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = 0;
    int rc = parse(kind, copy, len, label, root, out, err);
    free(copy);
    if (rc) dataset_free(out);
    return rc;
}

int dataset_open(const char *kind, const char *root, Split split, int fold, Dataset *out, Err *err) {
    char file[8192], dir[4096];
    const char *base = root;
    if (!strcmp(kind, "dfew")) {
        if (fold < 1 || fold > 5) return err_set(err, "DFEW has folds 1..5, not %d", fold);
        snprintf(file, sizeof file, "%s/EmoLabel_DataSplit/%s(single-labeled)/set_%d.csv", root,
                 split == SPLIT_TRAIN ? "train" : "test", fold);
    } else if (!strcmp(kind, "ferv39k")) {
        snprintf(file, sizeof file, "%s/4_setups/All_scenes/%s_All.csv", root, split == SPLIT_TRAIN ? "train" : "test");
    } else if (!strcmp(kind, "mafw")) {
        if (fold < 1 || fold > 5) return err_set(err, "MAFW has folds 1..5, not %d", fold);
        /* the with-caption files carry the English captions; the plain ones are read otherwise */
        snprintf(file, sizeof file, "%s/single/with_caption/set_%d/%s.txt", root, fold, split == SPLIT_TRAIN ? "train" : "test");
        if (!fs_exists(file))
            snprintf(file, sizeof file, "%s/single/no_caption/set_%d/%s.txt", root, fold, split == SPLIT_TRAIN ? "train" : "test");
    } else if (!strcmp(kind, "list")) {
        snprintf(file, sizeof file, "%s", root);
        snprintf(dir, sizeof dir, "%s", root);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
        base = dir;
    } else {
        return err_set(err, "unknown dataset kind '%s' (dfew, ferv39k, mafw, list)", kind);
    }
    char *text;
    size_t len;
    if (fs_read_all(file, &text, &len, err) != 0) return err_prefix(err, "%s split file: ", kind);
    int rc = dataset_parse(kind, text, len, file, base, out, err);
    free(text);
    return rc;
}
