#include <errno.h>
#include "core/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_rank = -1;
static int g_world = 1;
static char g_host[256];
static void (*g_abort_hook)(int code);

/* A message longer than Err holds keeps its beginning (what: the file, the option) and its end (why: strerror, the
 * expected value), the middle elided: cut at the end, a 4000-character path hid the reason. No UTF-8 character is
 * split. */
static void err_store(Err *e, const char *text, size_t len) {
    if (len < sizeof e->msg) {
        memcpy(e->msg, text, len);
        e->msg[len] = '\0';
        return;
    }
    static const char mark[] = " [...] ";
    size_t head = ERR_KEPT_HEAD, tail = sizeof e->msg - 1 - head - (sizeof mark - 1);
    while (head > 0 && ((unsigned char)text[head] & 0xC0) == 0x80) head--; /* text[head] starts a character */
    size_t from = len - tail;
    while (from < len && ((unsigned char)text[from] & 0xC0) == 0x80) from++;
    memcpy(e->msg, text, head);
    memcpy(e->msg + head, mark, sizeof mark - 1);
    memcpy(e->msg + head + sizeof mark - 1, text + from, len - from);
    e->msg[head + sizeof mark - 1 + (len - from)] = '\0';
}

/* fmt formatted into a buffer of its own length (NULL when out of memory); *len its length */
static char *format_whole(size_t *len, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text) vsnprintf(text, (size_t)n + 1, fmt, ap);
    *len = text ? (size_t)n : 0;
    return text;
}

int err_set(Err *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        size_t len;
        char *text = format_whole(&len, fmt, ap);
        va_end(ap);
        if (text) err_store(e, text, len);
        else snprintf(e->msg, sizeof e->msg, "(out of memory while formatting an error: %s)", fmt);
        free(text);
    }
    return -1;
}

int err_is_disk_full(const Err *e) {
    return e && (strstr(e->msg, strerror(ENOSPC)) || strstr(e->msg, strerror(EDQUOT)));
}

/* e's message with the formatted text before it (before = 1) or after it, stored as err_store keeps a long one */
static void err_join(Err *e, int before, const char *fmt, va_list ap) {
    size_t alen;
    char *added = format_whole(&alen, fmt, ap);
    size_t olen = strnlen(e->msg, sizeof e->msg);
    char *whole = added ? malloc(alen + olen + 1) : NULL;
    if (whole) {
        memcpy(whole + (before ? 0 : olen), added, alen);
        memcpy(whole + (before ? alen : 0), e->msg, olen);
        err_store(e, whole, alen + olen);
    } /* out of memory: the message stays as it was, without its context */
    free(whole);
    free(added);
}

int err_prefix(Err *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        err_join(e, 1, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int err_suffix(Err *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        err_join(e, 0, fmt, ap);
        va_end(ap);
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
