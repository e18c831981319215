#include "core/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"

static LogLevel g_level = LOG_INFO;

void log_set_level(LogLevel level) { g_level = level; }

LogLevel log_level_from_env(void) {
    const char *v = getenv("DFER_LOG");
    if (!v) return LOG_INFO;
    if (!strcmp(v, "debug")) return LOG_DEBUG;
    if (!strcmp(v, "warn")) return LOG_WARN;
    if (!strcmp(v, "error")) return LOG_ERROR;
    return LOG_INFO;
}

void log_msg(LogLevel level, int rank0_only, const char *fmt, ...) {
    if (level < g_level) return;
    if (rank0_only && dfer_rank() != 0) return;
    static const char *names[] = {"debug", "info", "warning", "error"};
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    FILE *out = level >= LOG_WARN ? stderr : stdout;
    if (dfer_world() > 1)
        fprintf(out, "[rank %d] %s%s%s\n", dfer_rank(), level == LOG_INFO ? "" : names[level],
                level == LOG_INFO ? "" : ": ", line);
    else
        fprintf(out, "%s%s%s\n", level == LOG_INFO ? "" : names[level], level == LOG_INFO ? "" : ": ", line);
    fflush(out);
}
