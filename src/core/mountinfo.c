#include "core/mountinfo.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"

/* The kernel writes a space, tab, newline or backslash in a path as a backslash and three octal digits (\040). */
static void unescape_octal(const char *in, char *out, size_t n) {
    size_t k = 0;
    for (size_t i = 0; in[i] && k + 1 < n; k++) {
        if (in[i] == '\\' && in[i + 1] >= '0' && in[i + 1] <= '3' && in[i + 2] >= '0' && in[i + 2] <= '7' &&
            in[i + 3] >= '0' && in[i + 3] <= '7') {
            out[k] = (char)((in[i + 1] - '0') * 64 + (in[i + 2] - '0') * 8 + (in[i + 3] - '0'));
            i += 4;
        } else {
            out[k] = in[i++];
        }
    }
    out[k] = '\0';
}

/* Whether mount point MP (unescaped) is PATH or a folder above it, by whole components. */
static int mount_point_holds(const char *mp, const char *path) {
    if (!strcmp(mp, "/")) return path[0] == '/';
    size_t len = strlen(mp);
    return !strncmp(mp, path, len) && (path[len] == '\0' || path[len] == '/');
}

enum { MOUNTINFO_MAX_FIELDS = 64 };

/* One line's fields (the line is cut in place at the spaces): *mp, *type, *source, *options point into it. 0, or -1
 * when the line lacks the " - " separator or a field around it. Line: "ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS
 * [OPTIONAL_FIELDS...] - FS_TYPE SOURCE SUPER_OPTIONS" (proc(5)); the optional fields ("shared:1", "master:2") may be
 * any in number. */
static int split_line(char *line, char **mp, char **type, char **source, char **options) {
    char *fields[MOUNTINFO_MAX_FIELDS];
    int count = 0, separator = -1;
    for (char *save = NULL, *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (count == MOUNTINFO_MAX_FIELDS) return -1;
        if (separator < 0 && !strcmp(tok, "-")) separator = count;
        fields[count++] = tok;
    }
    if (separator < 6 || count < separator + 4) return -1;
    *mp = fields[4], *type = fields[separator + 1], *source = fields[separator + 2], *options = fields[separator + 3];
    return 0;
}

int mountinfo_find(const char *text, const char *name, const char *path, MountInfo *m, Err *err) {
    size_t best_len = 0;
    int found = 0, line_no = 0;
    char *copy = xstrdup(text);
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++; /* strtok_r skips empty lines, which the kernel never writes */
        char *mp_raw, *type, *source, *options, mp[4096];
        if (split_line(line, &mp_raw, &type, &source, &options) != 0) {
            free(copy);
            return err_set(err, "%s: line %d is not a mount (ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS ... - TYPE "
                                "SOURCE OPTIONS)", name, line_no);
        }
        unescape_octal(mp_raw, mp, sizeof mp);
        size_t len = strlen(mp);
        /* >=: a later mount on the same point is on top of the earlier one, which it hides */
        if (!mount_point_holds(mp, path) || (found && len < best_len)) continue;
        found = 1, best_len = len;
        snprintf(m->mount_point, sizeof m->mount_point, "%s", mp);
        snprintf(m->fs_type, sizeof m->fs_type, "%s", type);
        unescape_octal(source, m->source, sizeof m->source);
        snprintf(m->super_options, sizeof m->super_options, "%s", options);
    }
    free(copy);
    return found;
}

/* Whether comma-separated OPTIONS hold WANTED as a whole option ("nolock", not "nolockd"). */
static int has_option(const char *options, const char *wanted) {
    size_t len = strlen(wanted);
    for (const char *p = options; p; p = strchr(p, ',')) {
        if (*p == ',') p++;
        if (!strncmp(p, wanted, len) && (p[len] == ',' || p[len] == '\0')) return 1;
    }
    return 0;
}

const char *mount_host_local_locks(const MountInfo *m) {
    static const char *const host_local[] = {"local_lock=all", "local_lock=posix", "nolock"};
    if (strcmp(m->fs_type, "nfs") != 0 && strcmp(m->fs_type, "nfs4") != 0) return NULL;
    for (size_t i = 0; i < sizeof host_local / sizeof host_local[0]; i++)
        if (has_option(m->super_options, host_local[i])) return host_local[i];
    return NULL;
}

/* realpath of PATH, or of the nearest folder above it that exists (a job folder not made yet). */
static int resolve_existing(const char *path, char *out, Err *err) {
    char probe[PATH_MAX];
    if (snprintf(probe, sizeof probe, "%s", path) >= (int)sizeof probe)
        return err_set(err, "%s: path too long to look up its mount", path);
    for (;;) {
        if (realpath(probe, out)) return 0;
        if ((errno != ENOENT && errno != ENOTDIR) || !strcmp(probe, ".") || !strcmp(probe, "/"))
            return err_set(err, "%s: cannot resolve the path to look up its mount: %s", probe, strerror(errno));
        char *slash = strrchr(probe, '/');
        if (!slash) snprintf(probe, sizeof probe, ".");
        else if (slash == probe) probe[1] = '\0'; /* "/x" -> "/" */
        else *slash = '\0';
    }
}

int mount_of_path(const char *path, MountInfo *m, Err *err) {
    const char *fixture = getenv("DFER_MOUNTINFO"); /* tests only, see mountinfo.h */
    const char *name = fixture && fixture[0] ? fixture : "/proc/self/mountinfo";
    char resolved[PATH_MAX], *text = NULL;
    if (resolve_existing(path, resolved, err) != 0) return -1;
    if (name != fixture && access(name, F_OK) != 0 && errno == ENOENT) return 0; /* no /proc here: nothing to say */
    if (fs_read_all(name, &text, NULL, err) != 0) return -1;
    int rc = mountinfo_find(text, name, resolved, m, err);
    free(text);
    return rc;
}
