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

/* One watched thread's progress. */
typedef struct Slot {
    int active;      /* marked, and not resting since */
    double last;     /* monotonic seconds of its last mark */
    char phase[384]; /* what its last mark said the work entered */
    char item[256];  /* its unit's key for machines ("": none) */
} Slot;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC: a changed wall clock moves no deadline */
    pthread_t thread;
    int running, stopping;
    double floor_s;
    double longest_gap;    /* between consecutive marks of one slot (slot 0's start counts as one) */
    double heartbeat;      /* monotonic seconds when the watching thread last woke, or a mark came */
    char what[512];
    char record[4096];     /* the JSON Lines file a firing appends its record to ("": none) */
    char marker[4096];     /* $DFER_HANG_MARKER: the same record for a batch script ("": none) */
    char limit_setting[128], gap_name[128], how_to_continue[512];
    Slot slot[WATCHDOG_SLOTS];
} g_dog = {.mu = PTHREAD_MUTEX_INITIALIZER};

static double now_monotonic(void) {
    struct timespec t;
    CHECK_SYS(clock_gettime(CLOCK_MONOTONIC, &t));
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static double limit_locked(void) { return fmax(g_dog.floor_s, WATCHDOG_GAP_FACTOR * g_dog.longest_gap); }

/* The watching thread wakes at least this often (seconds), so that it can tell a stopped process. */
static double tick_locked(void) { return fmin(fmax(limit_locked() / 10, 0.05), 1.0); }

/* A process that did not run at all (SIGSTOP: Ctrl-Z, or Slurm suspending the job for gang scheduling
 * or preemption, until SIGCONT) has not hung: its ranks were all stopped, or the others have long ended.
 * When neither the watching thread woke nor a mark came for much longer than a tick, the process was
 * stopped (or starved of CPU, which is no hang either): that time is left out of every slot's wait and
 * of the gaps. Called first by whichever thread runs first after the stop; returns the seconds left out
 * (0: none). */
static double leave_out_pause_locked(double now) {
    double since = now - g_dog.heartbeat, tick = tick_locked(), pause = 0;
    g_dog.heartbeat = now;
    if (since <= tick + WATCHDOG_PAUSE_SLACK) return 0;
    pause = since - tick;
    for (int i = 0; i < WATCHDOG_SLOTS; i++)
        if (g_dog.slot[i].active) g_dog.slot[i].last = fmin(now, g_dog.slot[i].last + pause);
    return pause;
}

static void write_all(int fd, const char *buf, size_t len);

/* Says that a pause was left out (outside the lock: stderr may block). */
static void report_pause(double pause) {
    if (pause <= 0) return;
    char took[32], msg[512];
    time_format_duration(pause, took, sizeof took);
    int n = snprintf(msg, sizeof msg,
                     "dfer: warning [rank %d on %s]: this process did not run for %s (stopped: Ctrl-Z, or a "
                     "suspended Slurm job); the hang watchdog leaves that time out\n",
                     dfer_rank() < 0 ? 0 : dfer_rank(), dfer_host(), took);
    write_all(STDERR_FILENO, msg, n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

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
 * resume say the run ended on a hang, where and when; and the same line for the batch script
 * ($DFER_HANG_MARKER). */
static void append_record(const Slot *late, double idle, double limit) {
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
    cJSON_AddStringToObject(o, "phase", late->phase);
    if (late->item[0]) cJSON_AddStringToObject(o, "item", late->item);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) return;
    size_t len = strlen(line);
    line[len] = '\n'; /* over the terminator: one write(2) holds the whole line */
    const char *paths[2] = {g_dog.record, g_dog.marker};
    for (int i = 0; i < 2; i++) {
        int fd = paths[i][0] ? open(paths[i], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
        if (fd < 0) continue;
        write_all(fd, line, len + 1);
        close(fd);
    }
    free(line);
}

/* Writes the diagnosis and ends the process. The watched thread may hold stdio's locks (it may be the
 * one blocked, in a write to a file system that does not answer), so the message goes out with one
 * write(2) of a formatted buffer, then the record; and if either blocks (on the hung file system), the
 * alarm ends the process a minute later. */
static _Noreturn void fire_locked(const Slot *late, double idle, double limit) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(60);
    char idle_s[32], limit_s[32], floor_s[32], who[320], msg[3072];
    if (dfer_world() > 1) snprintf(who, sizeof who, "rank %d on %s", dfer_rank(), dfer_host());
    else snprintf(who, sizeof who, "on %s", dfer_host());
    time_format_duration(idle, idle_s, sizeof idle_s);
    time_format_duration(limit, limit_s, sizeof limit_s);
    time_format_duration(g_dog.floor_s, floor_s, sizeof floor_s);
    int n = snprintf(msg, sizeof msg,
                     "dfer: error [%s]: no progress for %s in %s (%s). The limit is %s: %s "
                     "(%s), or %g times the longest gap between %s so far. A rank has "
                     "probably died or been stopped, a GPU, the network or a file system does not answer, or a "
                     "library call does not return. This "
                     "process ends with status %d so that the allocation is not spent waiting; %s. If this can "
                     "really take this long, raise %s.\n",
                     who, idle_s, late->phase, g_dog.what, limit_s, g_dog.limit_setting, floor_s,
                     WATCHDOG_GAP_FACTOR, g_dog.gap_name, DFER_EXIT_HUNG, g_dog.how_to_continue, g_dog.limit_setting);
    write_all(STDERR_FILENO, msg, n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    append_record(late, idle, limit);
    _exit(DFER_EXIT_HUNG);
}

/* The watched slot that has waited longest (NULL when none is watched). */
static const Slot *oldest_locked(void) {
    const Slot *oldest = NULL;
    for (int i = 0; i < WATCHDOG_SLOTS; i++)
        if (g_dog.slot[i].active && (!oldest || g_dog.slot[i].last < oldest->last)) oldest = &g_dog.slot[i];
    return oldest;
}

static void *watch(void *arg) {
    (void)arg;
    CHECK_ERRNUM(pthread_mutex_lock(&g_dog.mu));
    while (!g_dog.stopping) {
        double now = now_monotonic(), pause = leave_out_pause_locked(now);
        if (pause > 0) {
            CHECK_ERRNUM(pthread_mutex_unlock(&g_dog.mu));
            report_pause(pause);
            CHECK_ERRNUM(pthread_mutex_lock(&g_dog.mu));
            continue;
        }
        double limit = limit_locked();
        const Slot *oldest = oldest_locked();
        if (oldest && now - oldest->last >= limit) fire_locked(oldest, now - oldest->last, limit);
        /* sleep until the oldest mark's deadline (a mark, a rest or a newly watched slot meanwhile only moves it
         * later), or a tick, whichever comes first */
        double deadline = fmin((oldest ? oldest->last : now) + limit, now + tick_locked());
        struct timespec ts = {.tv_sec = (time_t)deadline, .tv_nsec = (long)((deadline - floor(deadline)) * 1e9)};
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        int rc = pthread_cond_timedwait(&g_dog.wake, &g_dog.mu, &ts);
        if (rc != 0 && rc != ETIMEDOUT) CHECK_ERRNUM(rc);
    }
    CHECK_ERRNUM(pthread_mutex_unlock(&g_dog.mu));
    return NULL;
}

int watchdog_start(const WatchdogSpec *spec) {
    if (!(spec->floor_seconds > 0)) return 0;
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
    g_dog.floor_s = spec->floor_seconds;
    g_dog.longest_gap = 0;
    g_dog.stopping = 0;
    memset(g_dog.slot, 0, sizeof g_dog.slot);
    g_dog.slot[0] = (Slot){.active = 1, .last = now_monotonic()};
    g_dog.heartbeat = g_dog.slot[0].last;
    snprintf(g_dog.slot[0].phase, sizeof g_dog.slot[0].phase, "the start");
    snprintf(g_dog.what, sizeof g_dog.what, "%s", spec->what ? spec->what : "dfer");
    snprintf(g_dog.record, sizeof g_dog.record, "%s", spec->record_path ? spec->record_path : "");
    const char *marker = getenv("DFER_HANG_MARKER");
    snprintf(g_dog.marker, sizeof g_dog.marker, "%s", marker ? marker : "");
    snprintf(g_dog.limit_setting, sizeof g_dog.limit_setting, "%s",
             spec->limit_setting ? spec->limit_setting : "train.hang_minutes");
    snprintf(g_dog.gap_name, sizeof g_dog.gap_name, "%s", spec->gap_name ? spec->gap_name : "two steps of this run");
    snprintf(g_dog.how_to_continue, sizeof g_dog.how_to_continue, "%s",
             spec->how_to_continue ? spec->how_to_continue
                                   : "the same command (dfer train with --resume, or dfer matrix) continues from the "
                                     "last checkpoint");
    CHECK_ERRNUM(pthread_create(&g_dog.thread, NULL, watch, NULL));
    g_dog.running = 1;
    CHECK_ERRNUM(pthread_mutex_unlock(&g_dog.mu));
    return 0;
}

/* Only marks made between watchdog_start and watchdog_stop by threads those two calls bracket (the
 * starting thread, and workers it joins before stopping) reach here: no race on the flag. */
static void mark(int slot, const char *item, const char *fmt, va_list ap) {
    if (!g_dog.running) return;
    CHECK(slot >= 0 && slot < WATCHDOG_SLOTS, "watchdog slot %d outside 0..%d", slot, WATCHDOG_SLOTS - 1);
    char phase[sizeof g_dog.slot[0].phase];
    vsnprintf(phase, sizeof phase, fmt, ap);
    double now = now_monotonic();
    CHECK_ERRNUM(pthread_mutex_lock(&g_dog.mu));
    double pause = leave_out_pause_locked(now);
    Slot *s = &g_dog.slot[slot];
    if (s->active && now - s->last > g_dog.longest_gap) g_dog.longest_gap = now - s->last;
    s->active = 1, s->last = now;
    memcpy(s->phase, phase, sizeof phase);
    snprintf(s->item, sizeof s->item, "%s", item ? item : "");
    CHECK_ERRNUM(pthread_mutex_unlock(&g_dog.mu));
    report_pause(pause);
}

void watchdog_mark(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mark(0, NULL, fmt, ap);
    va_end(ap);
}

void watchdog_mark_slot(int slot, const char *item, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mark(slot, item, fmt, ap);
    va_end(ap);
}

void watchdog_rest_slot(int slot) {
    if (!g_dog.running) return;
    CHECK(slot >= 0 && slot < WATCHDOG_SLOTS, "watchdog slot %d outside 0..%d", slot, WATCHDOG_SLOTS - 1);
    CHECK_ERRNUM(pthread_mutex_lock(&g_dog.mu));
    g_dog.slot[slot].active = 0;
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
