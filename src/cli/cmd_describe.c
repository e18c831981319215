/* dfer describe: label-free descriptions of each clip's facial changes from
 * its landmark track (text/verbalize.h), written as the JSONL that the high
 * level and `dfer refine` read. */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/fsutil.h"
#include "text/verbalize.h"

static void usage(void) {
    printf("usage: dfer describe --landmarks DIR --out OUT.jsonl [--ids FILE]\n\n"
           "For each clip, reads DIR/<id>.txt (one line per frame: x0 y0 ... x67 y67 in pixels, iBUG order, as\n"
           "`dfer prep` and `dfer synth` write them) and describes its facial changes from the landmark\n"
           "trajectories: mouth corners, lip opening, mouth width, brows, eye opening, nose wrinkle, blinks,\n"
           "speech-like lip motion, head motion, with their timing and size, in 25-60 words. It never sees a\n"
           "label, so the text cannot leak one. Frames marked `mean` (no face found yet) are skipped.\n\n"
           "  --landmarks DIR  the landmark files\n"
           "  --ids FILE       the clips, one id per line (default: every DIR/*.txt, sorted)\n"
           "  --out OUT.jsonl  {\"clip\": ID, \"text\": ...} lines, written atomically\n\n"
           "Exit status: 0 ok; 1 a missing or malformed landmark file or id list (named with its line);\n"
           "2 usage error.\n");
}

static int has_txt_suffix(const char *s) {
    size_t n = strlen(s);
    return n > 4 && !strcmp(s + n - 4, ".txt");
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The clip ids: from FILE (blank and '#' lines skipped) or the directory. */
static int read_ids(const char *ids_path, const char *dir, char ***ids, int *n, Err *err) {
    int cap = 64;
    *ids = xmalloc((size_t)cap * sizeof **ids);
    *n = 0;
    if (ids_path) {
        char *data;
        size_t len;
        if (fs_read_all(ids_path, &data, &len, err)) return -1;
        int line = 0;
        for (char *save = NULL, *l = data; l; l = save) {
            save = strchr(l, '\n');
            if (save) *save++ = 0;
            line++;
            size_t m = strlen(l);
            while (m && (l[m - 1] == '\r' || l[m - 1] == ' ' || l[m - 1] == '\t')) l[--m] = 0;
            while (*l == ' ' || *l == '\t') l++;
            if (!*l || *l == '#') continue;
            if (strstr(l, "..") || *l == '/' || strchr(l, ' ') || strchr(l, '\t')) {
                free(data);
                return err_set(err, "%s:%d: '%s' is not a clip id (no spaces, no '..', not absolute)", ids_path, line, l);
            }
            if (*n == cap) *ids = xrealloc(*ids, (size_t)(cap *= 2) * sizeof **ids);
            (*ids)[(*n)++] = xstrdup(l);
        }
        free(data);
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) return err_set(err, "%s: cannot open the landmark directory", dir);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || !has_txt_suffix(e->d_name)) continue;
        if (*n == cap) *ids = xrealloc(*ids, (size_t)(cap *= 2) * sizeof **ids);
        (*ids)[*n] = xstrdup(e->d_name);
        (*ids)[*n][strlen(e->d_name) - 4] = 0;
        (*n)++;
    }
    closedir(d);
    qsort(*ids, (size_t)*n, sizeof **ids, by_name);
    if (*n == 0) return err_set(err, "%s: no landmark files (*.txt)", dir);
    return 0;
}

int cmd_describe(int argc, char **argv) {
    static const struct option opts[] = {{"landmarks", required_argument, 0, 'l'}, {"ids", required_argument, 0, 'i'},
                                         {"out", required_argument, 0, 'o'},       {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL, *ids_path = NULL, *out = NULL;
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'l': dir = optarg; break;
        case 'i': ids_path = optarg; break;
        case 'o': out = optarg; break;
        case 'h': usage(); return 0;
        default: return cli_usage_error("describe", "unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("describe", "unexpected argument '%s'", argv[optind]);
    if (!dir) return cli_usage_error("describe", "--landmarks is required");
    if (!out) return cli_usage_error("describe", "--out is required");
    Err err;
    char **ids = NULL;
    int n = 0, rc = read_ids(ids_path, dir, &ids, &n, &err);
    if (rc == 0) rc = verbalize_tracks(dir, (const char *const *)ids, n, 0, out, &err);
    if (rc == 0) fprintf(stderr, "describe: %d clips -> %s\n", n, out);
    for (int i = 0; i < n; i++) free(ids[i]);
    free(ids);
    return rc ? cli_fail(&err) : 0;
}
