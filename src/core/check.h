/* Error handling for dfer: one macro family for fatal failures of system, MPI,
 * CUDA, cuBLAS, NCCL and FFmpeg calls, and a small recoverable-error type for
 * bad input (files, configs, command lines).
 *
 * Two kinds of failure:
 *  - Bad input (a truncated checkpoint, a malformed split file, an unknown key):
 *    functions return -1 and fill an Err with a message that names the file,
 *    line or tensor. Callers pass it up; the CLI prints it once and exits 1.
 *    Parsers never exit or abort, so fuzz targets can call them.
 *  - Broken environment or programming errors (malloc failing, a CUDA launch
 *    error, a shape mismatch between ops): CHECK_* macros print the failing
 *    statement with file, line, function, MPI rank and host, then exit. */
#ifndef DFER_CORE_CHECK_H
#define DFER_CORE_CHECK_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
#define DFER_NORETURN [[noreturn]]
#else
#define DFER_NORETURN _Noreturn
#endif

/* Recoverable error: a message for the user. */
typedef struct Err {
    char msg[1024];
} Err;
/* A longer message keeps its first ERR_KEPT_HEAD bytes and its end, " [...] " between them. */
enum { ERR_KEPT_HEAD = 320 };

/* Formats the message into e (if non-NULL) and returns -1, so that
 * `return err_set(e, "...")` reads naturally. */
int err_set(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends context ("while loading X: ") to an existing message; returns -1. */
int err_prefix(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends to e's message (where it came from, what else is wrong) and returns -1, as err_prefix prepends. */
int err_suffix(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether the message says a write found the disk full or the quota spent (the texts of ENOSPC and EDQUOT, which
 * every file error here names with strerror): the next write to that disk will fail too. */
int err_is_disk_full(const Err *e);

/* Process identity used in every fatal message and log line. Set by
 * dfer_identity_set (mpi/ after MPI_Init); rank -1 means "not under MPI". */
void dfer_identity_set(int rank, int world);
int dfer_rank(void);
int dfer_world(void);
const char *dfer_host(void);

/* Prints "dfer: fatal [rank R on HOST] file:line in func: `stmt` failed: detail"
 * and terminates the process (MPI_Abort when MPI is initialised, else exit(2)). */
DFER_NORETURN void dfer_fatal(const char *file, int line, const char *func, const char *stmt,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Optional hook run by dfer_fatal before exiting (mpi/ installs MPI_Abort). */
void dfer_set_abort_hook(void (*hook)(int code));

#define DFER_FATAL(stmt, ...) dfer_fatal(__FILE__, __LINE__, __func__, stmt, __VA_ARGS__)

/* libc calls that return -1 (or a negative value) and set errno. */
#define CHECK_SYS(expr)                                                        \
    do {                                                                       \
        if ((expr) < 0) DFER_FATAL(#expr, "%s", strerror(errno));              \
    } while (0)

/* Calls that return 0 or an error number (pthread_*). */
#define CHECK_ERRNUM(expr)                                                     \
    do {                                                                       \
        int errnum_ = (expr);                                                  \
        if (errnum_ != 0) DFER_FATAL(#expr, "%s", strerror(errnum_));          \
    } while (0)

/* Calls that return a pointer, NULL on failure with errno set (fopen, malloc). */
#define CHECK_PTR(expr)                                                        \
    do {                                                                       \
        if ((expr) == NULL) DFER_FATAL(#expr, "%s", strerror(errno));          \
    } while (0)

/* An internal invariant (shape agreement between ops, etc.). */
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) DFER_FATAL(#cond, __VA_ARGS__);                           \
    } while (0)

/* Allocation helpers that never return NULL (fatal on failure). */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* 64-byte aligned allocation for tensors; free with xfree_aligned. */
void *xmalloc_aligned(size_t n);
void xfree_aligned(void *p);

#endif
