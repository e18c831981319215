/* LD_PRELOAD shim for tests: the process stops itself (SIGSTOP) once, inside fsync(2) of the first file whose path
 * holds the text of DFER_TEST_STOP_IN_FSYNC, before the flush, as a node frozen in the middle of a write would.
 * Lets a test freeze a run at an exact point of an atomic write: the temporary file whole, its rename not yet made.
 * Every other fsync, and every fsync without the variable, goes straight to libc's. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stopped_once;

int fsync(int fd) {
    static int (*libc_fsync)(int);
    if (!libc_fsync) libc_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (!libc_fsync) return -1; /* no libc fsync to forward to: nothing this shim can do */
    const char *want = getenv("DFER_TEST_STOP_IN_FSYNC");
    if (want && *want && !g_stopped_once) {
        char link[64], path[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        if (n > 0) {
            path[n] = '\0';
            if (strstr(path, want)) {
                g_stopped_once = 1;
                raise(SIGSTOP);
            }
        }
    }
    return libc_fsync(fd);
}
