/* Logging. Lines carry the rank when the world has more than one process.
 * log0_* print on rank 0 only (progress lines, tables). Output is line-based;
 * progress() rewrites one line in place only when stderr is a terminal. */
#ifndef DFER_CORE_LOG_H
#define DFER_CORE_LOG_H

#include <stdio.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } LogLevel;

void log_set_level(LogLevel level);
LogLevel log_level_from_env(void); /* DFER_LOG=debug|info|warn|error */
void log_msg(LogLevel level, int rank0_only, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, 0, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, 0, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, 0, __VA_ARGS__)
#define log0_info(...) log_msg(LOG_INFO, 1, __VA_ARGS__)
#define log0_warn(...) log_msg(LOG_WARN, 1, __VA_ARGS__)

#endif
