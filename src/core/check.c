#include <errno.h>
#include "core/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int g_rank = -1;
static int g_world = 1;
static char g_host[256];
static void (*g_abort_hook)(int code);

int err_set(Err *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int err_is_disk_full(const Err *e) {
    return e && (strstr(e->msg, strerror(ENOSPC)) || strstr(e->msg, strerror(EDQUOT)));
}

int err_prefix(Err *e, const char *fmt, ...) {
    if (e) {
        char prefix[512], old[sizeof e->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, e->msg, sizeof old);
        size_t plen = strnlen(prefix, sizeof prefix);
        if (plen >= sizeof e->msg) plen = sizeof e->msg - 1;
        memcpy(e->msg, prefix, plen);
        size_t rest = sizeof e->msg - 1 - plen;
        size_t olen = strnlen(old, sizeof old);
        if (olen > rest) olen = rest;
        memcpy(e->msg + plen, old, olen);
        e->msg[plen + olen] = '\0';
    }
    return -1;
}

void dfer_identity_set(int rank, int world) {
    g_rank = rank;
    g_world = world;
}

int dfer_rank(void) { return g_rank < 0 ? 0 : g_rank; }
int dfer_world(void) { return g_world; }

const char *dfer_host(void) {
    if (!g_host[0]) {
        if (gethostname(g_host, sizeof g_host - 1) != 0) snprintf(g_host, sizeof g_host, "unknown-host");
    }
    return g_host;
}

void dfer_set_abort_hook(void (*hook)(int code)) { g_abort_hook = hook; }

DFER_NORETURN void dfer_fatal(const char *file, int line, const char *func, const char *stmt, const char *fmt, ...) {
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "dfer: fatal [rank %d on %s] %s:%d in %s: `%s` failed: %s\n", dfer_rank(), dfer_host(),
            file, line, func, stmt, detail);
    fflush(stderr);
    if (g_abort_hook) g_abort_hook(2);
    exit(2);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) DFER_FATAL("malloc", "out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) DFER_FATAL("calloc", "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) DFER_FATAL("realloc", "out of memory reallocating to %zu bytes", n);
    return q;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void *xmalloc_aligned(size_t n) {
    void *p = NULL;
    int rc = posix_memalign(&p, 64, n ? (n + 63) / 64 * 64 : 64);
    if (rc != 0) DFER_FATAL("posix_memalign", "out of memory allocating %zu bytes (%s)", n, strerror(rc));
    return p;
}

void xfree_aligned(void *p) { free(p); }
