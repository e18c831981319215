/* dfer describe: label-free descriptions of each clip's facial changes from
 * its landmark track (text/verbalize.h), written as the JSONL that the high
 * level and `dfer refine` read. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/fsutil.h"
#include "face/face_track.h"
#include "text/descriptions.h"
#include "text/verbalize.h"

static void usage(void) {
    printf("usage: dfer describe --landmarks DIR --out OUT.jsonl [--ids FILE]\n\n"
           "For each clip, reads DIR/<id>.txt (one line per frame: x0 y0 ... x67 y67 in pixels, iBUG order, as\n"
           "`dfer prep` and `dfer synth` write them) and describes its facial changes from the landmark\n"
           "trajectories: mouth corners, lip opening, mouth width, brows, eye opening, nose wrinkle, blinks,\n"
           "speech-like lip motion, head motion, with their timing and size, in 25-60 words. It never sees a\n"
           "label, so the text cannot leak one. Frames marked `mean` (no face found yet) are skipped; a clip\n"
           "without any other frame gets \"No face was found in the clip.\", as `dfer prep` writes it.\n\n"
           "  --landmarks DIR  the landmark files\n"
           "  --ids FILE       the clips, one id per line (default: every DIR/**/<id>.txt, sorted; FERV39k's ids\n"
           "                   are Scene/Emotion/id)\n"
           "  --out OUT.jsonl  {\"clip\": ID, \"text\": ...} lines, written atomically\n\n"
           "Exit status: 0 ok; 1 a missing or malformed landmark file or id list (named with its line);\n"
           "2 usage error.\n");
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct IdList {
    char **ids;
    int *lines; /* the id file's line of each id (0: from the directory) */
    int n, cap;
} IdList;

static void ids_add(IdList *l, const char *id, size_t len, int line) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->ids = xrealloc(l->ids, (size_t)l->cap * sizeof *l->ids);
        l->lines = xrealloc(l->lines, (size_t)l->cap * sizeof *l->lines);
    }
    l->ids[l->n] = xmalloc(len + 1);
    memcpy(l->ids[l->n], id, len);
    l->ids[l->n][len] = 0;
    l->lines[l->n++] = line;
}

static void ids_free(IdList *l) {
    for (int i = 0; i < l->n; i++) free(l->ids[i]);
    free(l->ids);
    free(l->lines);
}

/* The clip ids: from FILE (blank and '#' lines skipped) or the directory's tree, sorted. */
static int read_ids(const char *ids_path, const char *dir, IdList *l, Err *err) {
    memset(l, 0, sizeof *l);
    if (ids_path) {
        char *data;
        size_t len;
        if (fs_read_all(ids_path, &data, &len, err)) return -1;
        if (memchr(data, 0, len)) {
            free(data);
            return err_set(err, "%s: holds a NUL byte: not a text file of clip ids", ids_path);
        }
        int line = 0;
        for (char *save = NULL, *s = data; s; s = save) {
            save = strchr(s, '\n');
            if (save) *save++ = 0;
            line++;
            size_t m = strlen(s);
            while (m && (s[m - 1] == '\r' || s[m - 1] == ' ' || s[m - 1] == '\t')) s[--m] = 0;
            while (*s == ' ' || *s == '\t') s++;
            if (!*s || *s == '#') continue;
            size_t n = strlen(s);
            if (strstr(s, "..") || *s == '/' || strchr(s, ' ') || strchr(s, '\t') || !strncmp(s, "./", 2) ||
                strstr(s, "/./") || strstr(s, "//") || s[n - 1] == '/' || (n > 4 && !strcmp(s + n - 4, ".txt"))) {
                err_set(err,
                        "%s:%d: '%s' is not a clip id: give it as the dataset names it (00042, Action/Happy/0267), "
                        "without '.', '..' or '//' parts, a '.txt' or spaces",
                        ids_path, line, s);
                free(data); /* after the message: s points into it */
                return -1;
            }
            char track[4096];
            snprintf(track, sizeof track, "%s/%s.txt", dir, s);
            if (!fs_exists(track)) {
                err_set(err, "%s:%d: clip %s has no landmark track %s", ids_path, line, s, track);
                free(data);
                return -1;
            }
            ids_add(l, s, n, line);
        }
        free(data);
        if (l->n == 0) return err_set(err, "%s: no clip ids (only blank or '#' lines)", ids_path);
        /* a repeated id, named with both its lines: neighbours in a sorted copy */
        char **sorted = xmalloc((size_t)l->n * sizeof *sorted);
        for (int i = 0; i < l->n; i++) sorted[i] = l->ids[i];
        qsort(sorted, (size_t)l->n, sizeof *sorted, by_name);
        int rc = 0;
        for (int i = 1; i < l->n && rc == 0; i++)
            if (!strcmp(sorted[i - 1], sorted[i])) {
                int first = 0, second = 0;
                for (int j = 0; j < l->n; j++)
                    if (!strcmp(l->ids[j], sorted[i])) {
                        if (!first) first = l->lines[j];
                        else if (!second) second = l->lines[j];
                    }
                rc = err_set(err, "%s:%d: clip id '%s' again (first on line %d)", ids_path, second, sorted[i], first);
            }
        free(sorted);
        return rc;
    }
    if (face_track_list_ids(dir, &l->ids, &l->n, err) != 0) return -1;
    l->cap = l->n;
    l->lines = xcalloc((size_t)(l->n ? l->n : 1), sizeof *l->lines);
    if (l->n == 0) return err_set(err, "%s: no landmark files (*.txt) in it or its subfolders", dir);
    return 0;
}

int cmd_describe(int argc, char **argv) {
    static const struct option opts[] = {{"landmarks", required_argument, 0, 'l'}, {"ids", required_argument, 0, 'i'},
                                         {"out", required_argument, 0, 'o'},       {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL, *ids_path = NULL, *out = NULL;
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'l': dir = optarg; break;
        case 'i': ids_path = optarg; break;
        case 'o': out = optarg; break;
        case 'h': usage(); return 0;
        default: return cli_option_error("describe", o, argv, opts);
        }
    }
    if (optind < argc) return cli_usage_error("describe", "unexpected argument '%s'", argv[optind]);
    if (!dir) return cli_usage_error("describe", "--landmarks is required");
    if (!out) return cli_usage_error("describe", "--out is required");
    Err err;
    if (descriptions_jsonl_name_check(out, &err) != 0) return cli_usage_error("describe", "%s", err.msg);
    IdList ids;
    int faceless = 0, rc = read_ids(ids_path, dir, &ids, &err);
    if (rc == 0) rc = verbalize_tracks(dir, (const char *const *)ids.ids, ids.n, 1, &faceless, NULL, out, &err);
    if (rc == 0) fprintf(stderr, "describe: %d clips (%d without a face) -> %s\n", ids.n, faceless, out);
    ids_free(&ids);
    return rc ? cli_fail(&err) : 0;
}
