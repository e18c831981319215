#include "face/face_track.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

static const char *k_status_names[3] = {"det", "prev", "mean"};

const char *face_status_name(FaceStatus s) { return (unsigned)s < 3 ? k_status_names[s] : "?"; }

void face_track_alloc(FaceTrack *t, int frames) {
    t->frames = frames;
    t->xy = xcalloc((size_t)(frames > 0 ? frames : 1) * FACE_POINTS * 2, sizeof(float));
    t->box = xcalloc((size_t)(frames > 0 ? frames : 1) * 4, sizeof(float));
    t->status = xcalloc((size_t)(frames > 0 ? frames : 1), 1);
}

void face_track_free(FaceTrack *t) {
    free(t->xy), free(t->box), free(t->status);
    memset(t, 0, sizeof *t);
}

void face_track_landmark_box(const float *xy, float box[4]) {
    box[0] = box[2] = xy[0];
    box[1] = box[3] = xy[1];
    for (int p = 1; p < FACE_POINTS; p++) {
        float x = xy[2 * p], y = xy[2 * p + 1];
        if (x < box[0]) box[0] = x;
        if (x > box[2]) box[2] = x;
        if (y < box[1]) box[1] = y;
        if (y > box[3]) box[3] = y;
    }
}

void face_track_count(const FaceTrack *t, int counts[3]) {
    counts[0] = counts[1] = counts[2] = 0;
    for (int f = 0; f < t->frames; f++) counts[t->status[f] < 3 ? t->status[f] : 0]++;
}

/* One frame line: 136 numbers, optionally 4 box numbers and a status word. */
static int parse_line(char *line, const char *label, int lineno, float *xy, float *box, uint8_t *status, Err *err) {
    char *save = NULL, *tok = strtok_r(line, " \t\r", &save);
    int n = 0;
    float vals[140];
    while (tok && n < 140) {
        char *end;
        errno = 0;
        float v = strtof(tok, &end);
        if (*end) break; /* the status word */
        if (errno || !isfinite(v))
            return err_set(err, "%s:%d: value %d '%s' is not a finite number", label, lineno, n + 1, tok);
        vals[n++] = v;
        tok = strtok_r(NULL, " \t\r", &save);
    }
    if (n != 2 * FACE_POINTS && n != 2 * FACE_POINTS + 4)
        return err_set(err, "%s:%d: %d numbers; a frame line has 136 (68 points) or 140 (with the face box)", label,
                       lineno, n);
    memcpy(xy, vals, sizeof(float) * 2 * FACE_POINTS);
    if (n == 2 * FACE_POINTS + 4) memcpy(box, vals + 2 * FACE_POINTS, 4 * sizeof(float));
    else face_track_landmark_box(xy, box);
    *status = FACE_DETECTED;
    if (tok) {
        int s = -1;
        for (int i = 0; i < 3; i++)
            if (!strcmp(tok, k_status_names[i])) s = i;
        if (s < 0 || n != 2 * FACE_POINTS + 4)
            return err_set(err, "%s:%d: '%s' is not a status (det, prev or mean after the 4 box numbers)", label,
                           lineno, tok);
        *status = (uint8_t)s;
        if (strtok_r(NULL, " \t\r", &save)) return err_set(err, "%s:%d: text after the status", label, lineno);
    }
    return 0;
}

int face_track_parse(const char *text, size_t len, const char *label, FaceTrack *t, Err *err) {
    memset(t, 0, sizeof *t);
    int cap = 64, frames = 0, lineno = 0;
    face_track_alloc(t, cap);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        if (memchr(p, 0, n)) {
            face_track_free(t);
            return err_set(err, "%s:%d: NUL byte in the line: not a landmark track", label, lineno);
        }
        char *line = xmalloc(n + 1);
        memcpy(line, p, n);
        line[n] = 0;
        p += n + (nl ? 1 : 0);
        const char *s = line + strspn(line, " \t\r");
        if (!*s || *s == '#') {
            free(line);
            continue;
        }
        if (frames == cap) {
            cap *= 2;
            t->xy = xrealloc(t->xy, (size_t)cap * FACE_POINTS * 2 * sizeof(float));
            t->box = xrealloc(t->box, (size_t)cap * 4 * sizeof(float));
            t->status = xrealloc(t->status, (size_t)cap);
        }
        int rc = parse_line(line, label, lineno, t->xy + (size_t)frames * FACE_POINTS * 2, t->box + (size_t)frames * 4,
                            t->status + frames, err);
        free(line);
        if (rc != 0) {
            face_track_free(t);
            return -1;
        }
        frames++;
    }
    t->frames = frames;
    if (frames == 0) {
        face_track_free(t);
        return err_set(err, "%s: no frame lines", label);
    }
    return 0;
}

int face_track_read(const char *path, FaceTrack *t, Err *err) {
    char *text;
    size_t len;
    if (fs_read_all(path, &text, &len, err) != 0) return -1;
    int rc = face_track_parse(text, len, path, t, err);
    free(text);
    return rc;
}

int face_track_write(const char *path, const FaceTrack *t, const char *comment, Err *err) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    if (fs_mkdirs(dirname(dir), err) != 0) return -1;
    /* 140 numbers and a status per frame. A number is any finite float (the parser takes them, and an imported
     * track may hold them): "%.2f " of -3.4e38 is 44 characters, so each gets 48 (the old 1700 bytes a frame
     * assumed ~10, and a frame of large values was written past the buffer's end) */
    size_t cap = (size_t)t->frames * (140 * 48 + 8) + (comment ? strlen(comment) : 0) + 16, n = 0;
    char *buf = xmalloc(cap);
    if (comment) n += (size_t)snprintf(buf + n, cap - n, "# %s\n", comment);
    for (int f = 0; f < t->frames; f++) {
        const float *xy = t->xy + (size_t)f * FACE_POINTS * 2, *box = t->box + (size_t)f * 4;
        for (int i = 0; i < 2 * FACE_POINTS; i++) n += (size_t)snprintf(buf + n, cap - n, "%.2f ", (double)xy[i]);
        n += (size_t)snprintf(buf + n, cap - n, "%.2f %.2f %.2f %.2f %s\n", (double)box[0], (double)box[1],
                              (double)box[2], (double)box[3], face_status_name((FaceStatus)t->status[f]));
    }
    int rc = fs_write_atomic(path, buf, n, err);
    free(buf);
    return rc;
}

typedef struct IdWalk {
    char **ids;
    int n, cap;
} IdWalk;

/* rel: the folder below the walk's root ("" for the root); depth bounds a symlink loop's recursion */
static int list_ids_in(const char *root, const char *rel, int depth, IdWalk *w, Err *err) {
    char dir[8192];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return err_set(err, "%s: cannot read the track folder: %s", dir, strerror(errno));
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue; /* hidden, and atomic writes' temporaries */
        char sub[8192], path[8192 + 256];
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(path, sizeof path, "%s/%s", root, sub);
        size_t len = strlen(e->d_name);
        if (fs_is_dir(path)) {
            if (depth >= 16) rc = err_set(err, "%s: folders nested more than 16 deep (a symbolic link loop?)", path);
            else rc = list_ids_in(root, sub, depth + 1, w, err);
        } else if (len > 4 && !strcmp(e->d_name + len - 4, ".txt")) {
            if (w->n == w->cap) w->ids = xrealloc(w->ids, (size_t)(w->cap = w->cap ? 2 * w->cap : 64) * sizeof *w->ids);
            size_t m = strlen(sub) - 4;
            w->ids[w->n] = xmalloc(m + 1);
            memcpy(w->ids[w->n], sub, m);
            w->ids[w->n++][m] = 0;
        }
    }
    closedir(d);
    return rc;
}

static int by_id_string(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int face_track_list_ids(const char *dir, char ***ids, int *n, Err *err) {
    IdWalk w = {0};
    int rc = fs_is_dir(dir) ? list_ids_in(dir, "", 0, &w, err) : err_set(err, "%s: no such track folder", dir);
    if (rc != 0) {
        for (int i = 0; i < w.n; i++) free(w.ids[i]);
        free(w.ids);
        return -1;
    }
    if (w.n) qsort(w.ids, (size_t)w.n, sizeof *w.ids, by_id_string);
    *ids = w.ids ? w.ids : xmalloc(sizeof *w.ids);
    *n = w.n;
    return 0;
}
