#include "core/watchdog.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/check.h"
#include "core/timer.h"

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC: a changed wall clock moves no deadline */
    pthread_t thread;
    int running, stopping;
    double floor_s;
    double last;           /* monotonic seconds of the last mark (or the start) */
    double longest_gap;    /* between consecutive marks (the start counts as one) */
    char phase[384];       /* what the last mark said the work entered */
    char what[512];
    char record[4096];     /* the JSON Lines file a firing appends its record to ("": none) */
} g_dog = {.mu = PTHREAD_MUTEX_INITIALIZER};

static double now_monotonic(void) {
    struct timespec t;
    CHECK_SYS(clock_gettime(CLOCK_MONOTONIC, &t));
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static double limit_locked(void) { return fmax(g_dog.floor_s, WATCHDOG_GAP_FACTOR * g_dog.longest_gap); }

/* Whatever blocks after a firing (stderr or the record on the hung file system) ends a minute later,
 * with the hang's status all the same. */
static void on_alarm(int sig) {
    (void)sig;
    _exit(DFER_EXIT_HUNG);
}

static void write_all(int fd, const char *buf, size_t len) {
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += (size_t)w;
    }
}

/* One JSON line for the run's folder (watchdog_start's record_path): `dfer matrix --status` and the next
 * resume say the run ended on a hang, where and when. */
static void append_record(double idle, double limit) {
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "hang");
    cJSON_AddStringToObject(o, "time", stamp);
    cJSON_AddNumberToObject(o, "rank", dfer_rank() < 0 ? 0 : dfer_rank());
    cJSON_AddStringToObject(o, "host", dfer_host());
    cJSON_AddNumberToObject(o, "idle_s", round(idle * 10) / 10);
    cJSON_AddNumberToObject(o, "limit_s", round(limit * 10) / 10);
    cJSON_AddStringToObject(o, "phase", g_dog.phase);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) return;
    int fd = open(g_dog.record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        size_t len = strlen(line);
        line[len] = '\n'; /* over the terminator: one write(2) holds the whole line */
        write_all(fd, line, len + 1);
        close(fd);
    }
    free(line);
}

/* Writes the diagnosis and ends the process. The watched thread may hold stdio's locks (it may be the
 * one blocked, in a write to a file system that does not answer), so the message goes out with one
 * write(2) of a formatted buffer, then the record; and if either blocks (on the hung file system), the
 * alarm ends the process a minute later. */
static _Noreturn void fire_locked(double idle, double limit) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(60);
    char idle_s[32], limit_s[32], floor_s[32], who[320], msg[2048];
    if (dfer_world() > 1) snprintf(who, sizeof who, "rank %d on %s", dfer_rank(), dfer_host());
    else snprintf(who, sizeof who, "on %s", dfer_host());
    time_format_duration(idle, idle_s, sizeof idle_s);
    time_format_duration(limit, limit_s, sizeof limit_s);
    time_format_duration(g_dog.floor_s, floor_s, sizeof floor_s);
    int n = snprintf(msg, sizeof msg,
                     "dfer: error [%s]: no progress for %s in %s (%s). The limit is %s: train.hang_minutes "
                     "(%s), or %g times the longest gap between two steps of this run so far. A rank of the group has "
                     "probably died or been stopped, or a GPU, the network or a file system does not answer. This "
                     "process ends with status %d so that the allocation is not spent waiting; the same command "
                     "(dfer train with --resume, or dfer matrix) continues from the last checkpoint. If one step of this run "
                     "can really take this long (a large model on the CPU), raise train.hang_minutes.\n",
                     who, idle_s, g_dog.phase, g_dog.what, limit_s, floor_s,
                     WATCHDOG_GAP_FACTOR, DFER_EXIT_HUNG);
    write_all(STDERR_FILENO, msg, n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    if (g_dog.record[0]) append_record(idle, limit);
    _exit(DFER_EXIT_HUNG);
}

static void *watch(void *arg) {
    (void)arg;
    CHECK_ERRNUM(pthread_mutex_lock(&g_dog.mu));
    while (!g_dog.stopping) {
        double limit = limit_locked(), idle = now_monotonic() - g_dog.last;
        if (idle >= limit) fire_locked(idle, limit);
        /* sleep until the last mark's deadline; a mark meanwhile only moves it later */
        double deadline = g_dog.last + limit;
        struct timespec ts = {.tv_sec = (time_t)deadline, .tv_nsec = (long)((deadline - floor(deadline)) * 1e9)};
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        int rc = pthread_cond_timedwait(&g_dog.wake, &g_dog.mu, &ts);
        if (rc != 0 && rc != ETIMEDOUT) CHECK_ERRNUM(rc);
    }
    CHECK_ERRNUM(pthread_mutex_unlock(&g_dog.mu));
    return NULL;
}

int watchdog_start(double floor_seconds, const char *what, const char *record_path) {
    if (!(floor_seconds > 0)) return 0;
    CHECK_ERRNUM(pthread_mutex_lock(&g_dog.mu));
    if (g_dog.running) {
        CHECK_ERRNUM(pthread_mutex_unlock(&g_dog.mu));
        return -1;
    }
    pthread_condattr_t attr;
    CHECK_ERRNUM(pthread_condattr_init(&attr));
    CHECK_ERRNUM(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC));
    CHECK_ERRNUM(pthread_cond_init(&g_dog.wake, &attr));
    CHECK_ERRNUM(pthread_condattr_destroy(&attr));
    g_dog.floor_s = floor_seconds;
    g_dog.last = now_monotonic();
    g_dog.longest_gap = 0;
    g_dog.stopping = 0;
    snprintf(g_dog.phase, sizeof g_dog.phase, "the start");
    snprintf(g_dog.what, sizeof g_dog.what, "%s", what ? what : "dfer");
    snprintf(g_dog.record, sizeof g_dog.record, "%s", record_path ? record_path : "");
    CHECK_ERRNUM(pthread_create(&g_dog.thread, NULL, watch, NULL));
    g_dog.running = 1;
    CHECK_ERRNUM(pthread_mutex_unlock(&g_dog.mu));
    return 0;
}

void watchdog_mark(const char *fmt, ...) {
    if (!g_dog.running) return; /* only the watched thread starts, marks and stops: no race on the flag */
    char phase[sizeof g_dog.phase];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(phase, sizeof phase, fmt, ap);
    va_end(ap);
    double now = now_monotonic();
    CHECK_ERRNUM(pthread_mutex_lock(&g_dog.mu));
    if (now - g_dog.last > g_dog.longest_gap) g_dog.longest_gap = now - g_dog.last;
    g_dog.last = now;
    memcpy(g_dog.phase, phase, sizeof phase);
    CHECK_ERRNUM(pthread_mutex_unlock(&g_dog.mu));
}

double watchdog_limit_seconds(void) {
    if (!g_dog.running) return 0;
    CHECK_ERRNUM(pthread_mutex_lock(&g_dog.mu));
    double limit = limit_locked();
    CHECK_ERRNUM(pthread_mutex_unlock(&g_dog.mu));
    return limit;
}

void watchdog_stop(void) {
    if (!g_dog.running) return;
    CHECK_ERRNUM(pthread_mutex_lock(&g_dog.mu));
    g_dog.stopping = 1;
    CHECK_ERRNUM(pthread_cond_signal(&g_dog.wake));
    CHECK_ERRNUM(pthread_mutex_unlock(&g_dog.mu));
    CHECK_ERRNUM(pthread_join(g_dog.thread, NULL));
    CHECK_ERRNUM(pthread_cond_destroy(&g_dog.wake));
    g_dog.running = 0;
}
