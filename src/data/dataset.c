#include "data/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fsutil.h"

void dataset_free(Dataset *d) {
    for (int i = 0; i < d->count; i++) {
        free(d->clips[i].id);
        free(d->clips[i].path);
        free(d->clips[i].caption);
    }
    free(d->clips);
    for (int p = 0; p < d->parts; p++) free(d->part_source[p]);
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
    errno = 0;
    *out = strtol(s, &e, 10);
    return *e || errno ? -1 : 0;
}

/* Splits a line in place into at most max fields separated by runs of blanks
 * (spaces and tabs); returns the number of fields, max + 1 when there are more. */
static int split_blanks(char *line, char **fields, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) return n;
        if (n == max) return max + 1;
        fields[n++] = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (*p) *p++ = 0;
    }
}

/* Splits a line in place at every tab (empty fields kept); same return rule. */
static int split_tabs(char *line, char **fields, int max) {
    int n = 0;
    for (char *p = line;;) {
        if (n == max) return max + 1;
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) return n;
        *tab = 0;
        p = tab + 1;
    }
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
    return s;
}

/* Longest frame count accepted from a list (DFEW's longest clip has 847). */
#define MAX_LIST_FRAMES 10000000L

static int by_clip_id(const void *a, const void *b) {
    return strcmp((*(const ClipRecord *const *)a)->id, (*(const ClipRecord *const *)b)->id);
}

/* A clip id names the clip's landmark track, parsing maps and description and its row of the predictions:
 * two clips of one split with one id would share them (a list's ids are the paths' last names, so FERV39k's
 * per-folder numbers collide there), and a repeated test clip would be scored twice. */
static int check_unique_ids(const Dataset *d, const char *kind, const char *label, Err *err) {
    const ClipRecord **sorted = xmalloc((size_t)d->count * sizeof *sorted);
    for (int i = 0; i < d->count; i++) sorted[i] = &d->clips[i];
    qsort(sorted, (size_t)d->count, sizeof *sorted, by_clip_id);
    int rc = 0;
    for (int i = 1; i < d->count && rc == 0; i++)
        if (!strcmp(sorted[i - 1]->id, sorted[i]->id))
            rc = err_set(err, "%s: clip id '%s' is given twice (%s and %s)%s", label, sorted[i]->id,
                         sorted[i - 1]->path, sorted[i]->path,
                         !strcmp(kind, "list")
                             ? ": a list's clip ids are the last names of its paths, which must differ "
                               "(rename the folders or videos, or use the dataset's own layout)"
                             : "");
    free(sorted);
    return rc;
}

static int parse(const char *kind, char *text, size_t len, const char *label, const char *root, Dataset *d, Err *err) {
    char *cur = text, *end = text + len, *line;
    int lineno = 0, data_lines = 0;
    int mafw_faces = -1; /* MAFW: whether root/data/faces exists (-1: not looked yet) */
    char path[8192];
    const ClassTable *table = class_table(kind);
    /* a UTF-8 byte-order mark, as spreadsheet programs write CSVs */
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) cur += 3;
    while ((line = next_line(&cur, end))) {
        lineno++;
        if (!line[0]) continue;
        char *f[6];
        if (!strcmp(kind, "dfew")) {
            if (!data_lines && !d->skipped && !strncasecmp(trim(line), "video_name", 10)) continue; /* header */
            char *comma = strchr(line, ',');
            if (!comma || strchr(comma + 1, ','))
                return err_set(err, "%s:%d: expected 2 columns 'video_name,label', got '%.80s'", label, lineno, line);
            *comma = 0;
            char *id_s = trim(line), *lab_s = trim(comma + 1);
            long id, lab;
            if (parse_int(id_s, &id) || parse_int(lab_s, &lab))
                return err_set(err, "%s:%d: '%.40s,%.40s' is not 'number,number'", label, lineno, id_s, lab_s);
            if (id < 0 || id > 99999)
                return err_set(err, "%s:%d: clip %ld is outside DFEW's 0..99999 (its folders are named with 5 digits)",
                               label, lineno, id);
            data_lines++;
            if (lab == 0) { /* not single-labelled: not part of the protocol */
                d->skipped++;
                continue;
            }
            int canonical = class_from_native_number(table, lab);
            if (canonical < 0) return err_set(err, "%s:%d: label %ld is outside DFEW's 1..7", label, lineno, lab);
            char ids[16];
            snprintf(ids, sizeof ids, "%05ld", id);
            snprintf(path, sizeof path, "%s/Clip/clip_224x224/%s", root, ids);
            add_clip(d, ids, path, canonical, -1, NULL);
        } else if (!strcmp(kind, "ferv39k")) {
            int n = split_blanks(line, f, 2);
            if (n != 2)
                return err_set(err, "%s:%d: expected 2 columns '<Scene>/<Emotion>/<id> <Emotion>', got %s", label,
                               lineno, n > 2 ? "more" : "1");
            int canonical = class_from_native_name(table, f[1]);
            if (canonical < 0) return err_set(err, "%s:%d: unknown FERV39k emotion '%.40s'", label, lineno, f[1]);
            /* the clip's folder is <Scene>/<Emotion>/<id>: a label column naming another emotion is a damaged or
             * edited split file, and which of the two is right cannot be told */
            char folder[256] = "";
            const char *last = strrchr(f[0], '/');
            if (last && last > f[0]) {
                const char *first = last - 1;
                while (first > f[0] && first[-1] != '/') first--;
                snprintf(folder, sizeof folder, "%.*s", (int)(last - first), first);
            }
            int folder_class = folder[0] ? class_from_native_name(table, folder) : -1;
            if (folder_class >= 0 && folder_class != canonical)
                return err_set(err, "%s:%d: clip %.200s is in the %s folder but labelled %.40s", label, lineno, f[0],
                               folder, f[1]);
            data_lines++;
            snprintf(path, sizeof path, "%s/2_ClipsforFaceCrop/%s", root, f[0]);
            add_clip(d, f[0], path, canonical, -1, NULL);
        } else if (!strcmp(kind, "mafw")) {
            /* no_caption: "03747.mp4 anger"; with_caption: "03747.mp4\tanger\t<GBK>\t<English>": the
             * Chinese column is skipped whatever its bytes (GBK never encodes a tab, CR or LF) */
            const char *caption = NULL;
            int n;
            if (strchr(line, '\t')) {
                /* three: an empty English caption, whose tab next_line took for trailing blanks (the clip then has
                 * no caption: data.captions = auto takes its description, = dataset refuses it by name) */
                n = split_tabs(line, f, 4);
                if (n < 2 || n > 4)
                    return err_set(err,
                                   "%s:%d: expected 4 tab-separated columns (clip, label, Chinese caption, English "
                                   "caption), got more",
                                   label, lineno);
                f[0] = trim(f[0]), f[1] = trim(f[1]);
                if (n == 4) caption = trim(f[3]);
            } else if ((n = split_blanks(line, f, 2)) != 2) {
                return err_set(err, "%s:%d: expected 2 columns '<clip>.mp4 <label>', got %s", label, lineno,
                               n > 2 ? "more" : "1");
            }
            int canonical = class_from_native_name(table, f[1]);
            if (canonical < 0)
                return err_set(err, "%s:%d: unknown MAFW label '%.40s'%s", label, lineno, f[1],
                               strchr(f[1], '_') ? " (a compound label: use the single-label split files)" : "");
            data_lines++;
            char id[256];
            snprintf(id, sizeof id, "%s", f[0]);
            char *dot = strrchr(id, '.');
            if (dot) *dot = 0;
            /* the official face crops where the dataset has them, for every clip: a clip whose folder is missing
             * is unreadable there (counted, named), not read from the uncropped video without a word */
            if (mafw_faces < 0) {
                snprintf(path, sizeof path, "%s/data/faces", root);
                mafw_faces = fs_is_dir(path);
            }
            if (mafw_faces) snprintf(path, sizeof path, "%s/data/faces/%s", root, id);
            else snprintf(path, sizeof path, "%s/clips/%s", root, f[0]);
            add_clip(d, id, path, canonical, -1, caption);
        } else { /* list: path num_frames label */
            long frames, lab;
            int n = split_blanks(line, f, 3);
            if (n != 3)
                return err_set(err, "%s:%d: expected 3 columns 'path num_frames label', got %d", label, lineno, n);
            if (parse_int(f[1], &frames) || frames < 0 || frames > MAX_LIST_FRAMES)
                return err_set(err, "%s:%d: frame count '%.40s' is not an integer in 0..%ld", label, lineno, f[1],
                               MAX_LIST_FRAMES);
            if (parse_int(f[2], &lab) || lab < 0 || lab >= DFER_MAX_CLASSES)
                return err_set(err, "%s:%d: label '%.40s' is outside 0..%d", label, lineno, f[2], DFER_MAX_CLASSES - 1);
            data_lines++;
            if (f[0][0] == '/') snprintf(path, sizeof path, "%s", f[0]);
            else snprintf(path, sizeof path, "%s/%s", root, f[0]);
            /* the clip id is the last name of the path ("…/0001/" as "0001") */
            char name[4096];
            snprintf(name, sizeof name, "%s", f[0]);
            for (size_t k = strlen(name); k > 1 && name[k - 1] == '/';) name[--k] = '\0';
            const char *base = strrchr(name, '/');
            add_clip(d, base && base[1] ? base + 1 : name, path, (int)lab, (int)frames, NULL);
            if (lab >= 7) d->num_classes = DFER_MAX_CLASSES;
        }
    }
    if (!data_lines) return err_set(err, "%s: the split file lists no clips", label);
    /* DFEW's single-label split files hold 1..7; 0 marks a clip without a single label. A file with nothing but
     * 0 (or 0 and no 7) is most likely label - 1, as DFER-CLIP's and MAE-DFER's lists are: read as DFEW's, its
     * happiness clips were dropped and every other class shifted by one without a word */
    if (!strcmp(kind, "dfew") && d->skipped) {
        int fear = 0; /* native label 7 */
        for (int i = 0; i < d->count; i++) fear += d->clips[i].label == class_from_native_number(table, 7);
        if (!d->count || !fear)
            return err_set(err, "%s: %d of its %d clips are labelled 0 and %s: the labels look 0-based (label - 1, "
                                "as DFER-CLIP's and MAE-DFER's lists). DFEW's split files hold 1..7 (0: not single-"
                                "labelled); convert the file, or give it as data.dataset = list",
                           label, d->skipped, data_lines, d->count ? "none 7" : "none is left");
    }
    return check_unique_ids(d, kind, label, err);
}

static int by_path(const void *a, const void *b) {
    return strcmp((*(const ClipRecord *const *)a)->path, (*(const ClipRecord *const *)b)->path);
}

int dataset_shared_clips(const Dataset *a, const Dataset *b, const ClipRecord **first) {
    *first = NULL;
    const ClipRecord **sa = xmalloc((size_t)(a->count + 1) * sizeof *sa),
                     **sb = xmalloc((size_t)(b->count + 1) * sizeof *sb);
    for (int i = 0; i < a->count; i++) sa[i] = &a->clips[i];
    for (int i = 0; i < b->count; i++) sb[i] = &b->clips[i];
    qsort(sa, (size_t)a->count, sizeof *sa, by_path);
    qsort(sb, (size_t)b->count, sizeof *sb, by_path);
    int shared = 0;
    for (int i = 0, j = 0; i < a->count && j < b->count;) {
        int c = strcmp(sa[i]->path, sb[j]->path);
        if (c == 0) {
            if (!*first || strcmp(sa[i]->id, (*first)->id) < 0) *first = sa[i];
            shared++, i++, j++;
        } else if (c < 0) i++;
        else j++;
    }
    free(sa), free(sb);
    return shared;
}

int dataset_kind_known(const char *kind) {
    return !strcmp(kind, "dfew") || !strcmp(kind, "ferv39k") || !strcmp(kind, "mafw") || !strcmp(kind, "list");
}

int dataset_parse(const char *kind, const char *text, size_t len, const char *label, const char *root, Dataset *out,
                  Err *err) {
    memset(out, 0, sizeof *out);
    if (!dataset_kind_known(kind))
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
        snprintf(file, sizeof file, "%s/single/with_caption/set_%d/%s.txt", root, fold,
                 split == SPLIT_TRAIN ? "train" : "test");
        if (!fs_exists(file))
            snprintf(file, sizeof file, "%s/single/no_caption/set_%d/%s.txt", root, fold,
                     split == SPLIT_TRAIN ? "train" : "test");
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

int dataset_open_folds(const char *kind, const char *root, Split split, const int *folds, int n_folds, Dataset *out,
                       Err *err) {
    memset(out, 0, sizeof *out);
    if (n_folds < 1 || n_folds > DATASET_MAX_PARTS)
        return err_set(err, "%d folds to open together (1..%d)", n_folds, DATASET_MAX_PARTS);
    if (n_folds == 1) return dataset_open(kind, root, split, folds[0], out, err);
    if (strcmp(kind, "dfew") && strcmp(kind, "mafw"))
        return err_set(err, "%s has no folds: its %s split is one file", kind,
                       split == SPLIT_TRAIN ? "training" : "test");
    for (int p = 0; p < n_folds; p++) {
        for (int q = 0; q < p; q++)
            if (folds[q] == folds[p]) {
                dataset_free(out);
                return err_set(err, "fold %d is named twice", folds[p]);
            }
        Dataset one;
        if (dataset_open(kind, root, split, folds[p], &one, err) != 0) {
            dataset_free(out);
            return -1;
        }
        if (p == 0) snprintf(out->kind, sizeof out->kind, "%s", one.kind), out->num_classes = one.num_classes;
        /* the clips move: their strings now belong to out */
        if (out->count + one.count > out->cap) {
            out->cap = out->count + one.count;
            out->clips = xrealloc(out->clips, (size_t)out->cap * sizeof *out->clips);
        }
        for (int i = 0; i < one.count; i++) {
            out->clips[out->count] = one.clips[i];
            out->clips[out->count++].part = p;
        }
        out->skipped += one.skipped;
        out->part_fold[p] = folds[p];
        out->part_source[p] = xstrdup(one.source);
        out->parts = p + 1;
        size_t used = strlen(out->source);
        snprintf(out->source + used, sizeof out->source - used, "%s%s", p ? ", " : "", one.source);
        free(one.clips);
    }
    return 0;
}
