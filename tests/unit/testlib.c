#include "testlib.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int test_failures = 0;
int test_checks = 0;
const char *test_current = "";
static char g_tmpdir[512];
static pid_t g_tmpdir_owner; /* a forked child (test_exit_status_of) that exits must not remove its parent's folder */

void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: [%s] ", file, line, test_current);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    test_failures++;
}

static void cleanup_tmp(void) {
    if (g_tmpdir[0] && getpid() == g_tmpdir_owner && !getenv("DFER_KEEP_TMP")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmpdir);
    }
}

const char *test_tmpdir(void) {
    if (!g_tmpdir[0]) {
        snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/dfer-test-XXXXXX");
        if (!mkdtemp(g_tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
        g_tmpdir_owner = getpid();
        atexit(cleanup_tmp);
    }
    return g_tmpdir;
}

int test_summary(void) {
    printf("%d checks: %d passed, %d failed\n", test_checks, test_checks - test_failures, test_failures);
    return test_failures ? 1 : 0;
}

void test_skip_all(const char *why) {
    printf("SKIP: %s\n", why);
    exit(77);
}

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

const char *test_shared_dir(void) { return env_or("DFER_SHARED_DIR", "../shared"); }
const char *test_source_dir(void) { return env_or("DFER_SOURCE_DIR", "."); }
const char *test_build_dir(void) { return env_or("DFER_BUILD_DIR", "build"); }

int test_exit_status_of(void (*body)(void), char *err, size_t size) {
    int fds[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        alarm(30); /* a body that fails to die must not hang the test */
        body();
        _exit(0);
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t got;
    while (used + 1 < size && (got = read(fds[0], err + used, size - 1 - used)) > 0) used += (size_t)got;
    err[used] = 0;
    close(fds[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
