/* LD_PRELOAD shim for tests: counts a process's folder listings. Each opendir(3) or scandir(3) of a path that holds
 * the text of DFER_TEST_COUNT_LISTINGS appends the path, one line, to the file DFER_TEST_COUNT_LISTINGS_LOG (one
 * write(2) per line on an O_APPEND file: the lines of threads and processes do not interleave). Lets a test see how
 * often a command lists a folder, which on a network file system costs a round trip per listing. Every other call,
 * and every call without the variables, goes straight to libc's. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void note_listing(const char *path) {
    const char *want = getenv("DFER_TEST_COUNT_LISTINGS"), *log = getenv("DFER_TEST_COUNT_LISTINGS_LOG");
    if (!want || !*want || !log || !*log || !path || !strstr(path, want)) return;
    char line[8192];
    int n = snprintf(line, sizeof line, "%s\n", path);
    if (n <= 0 || (size_t)n >= sizeof line) return; /* a path too long to note whole: the count would be wrong */
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) abort(); /* a listing the test cannot count must not pass for none */
    if (write(fd, line, (size_t)n) != n) abort();
    close(fd);
}

DIR *opendir(const char *path) {
    static DIR *(*libc_opendir)(const char *);
    if (!libc_opendir) libc_opendir = (DIR * (*)(const char *)) dlsym(RTLD_NEXT, "opendir");
    if (!libc_opendir) return NULL; /* no libc opendir to forward to: nothing this shim can do */
    note_listing(path);
    return libc_opendir(path);
}

typedef int (*ScandirFilter)(const struct dirent *);
typedef int (*ScandirCompare)(const struct dirent **, const struct dirent **);

int scandir(const char *path, struct dirent ***names, ScandirFilter filter, ScandirCompare compare) {
    static int (*libc_scandir)(const char *, struct dirent ***, ScandirFilter, ScandirCompare);
    if (!libc_scandir)
        libc_scandir = (int (*)(const char *, struct dirent ***, ScandirFilter, ScandirCompare))dlsym(RTLD_NEXT,
                                                                                                     "scandir");
    if (!libc_scandir) return -1;
    note_listing(path);
    return libc_scandir(path, names, filter, compare);
}
