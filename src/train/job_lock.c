#include "train/job_lock.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/mountinfo.h"
#include "core/timer.h"
#include "io/json_file.h"

/* The start time of process PID in clock ticks after boot (field 22 of /proc/PID/stat), or -1
 * when there is no such process or it has ended: a zombie (state Z or X) is a killed rank whose
 * parent has not reaped it, which in a container without an init may be never. The command name
 * (field 2) may hold spaces and parentheses: the fields after it start after its last ')'. */
static long long process_start_ticks(long pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p++;
    if (p[0] == ' ' && (p[1] == 'Z' || p[1] == 'X')) return -1;
    for (int field = 3; field < 22 && p; field++) p = strchr(p + 1, ' ');
    return p ? strtoll(p + 1, NULL, 10) : -1;
}

static void holder_self(JobLockHolder *h) {
    memset(h, 0, sizeof *h);
    snprintf(h->host, sizeof h->host, "%s", dfer_host());
    h->pid = (long)getpid();
    h->pid_start = process_start_ticks(h->pid);
    const char *job = getenv("SLURM_JOB_ID"), *restart = getenv("SLURM_RESTART_COUNT");
    snprintf(h->slurm_job, sizeof h->slurm_job, "%s", job ? job : "");
    h->slurm_restart = restart ? atoi(restart) : 0;
    h->since_unix = (double)time(NULL);
}

static int holder_write(const char *path, const JobLockHolder *h, Err *err) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "host", h->host);
    cJSON_AddNumberToObject(o, "pid", (double)h->pid);
    cJSON_AddNumberToObject(o, "pid_start", (double)h->pid_start);
    cJSON_AddStringToObject(o, "slurm_job_id", h->slurm_job);
    cJSON_AddNumberToObject(o, "slurm_restart_count", h->slurm_restart);
    cJSON_AddNumberToObject(o, "since_unix", h->since_unix);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = (f && fclose(f) == 0) && ok;
    free(text);
    if (!ok) return err_set(err, "%s: cannot write the job's lock: %s", path, strerror(errno));
    return 0;
}

/* 0 and *h filled, or -1 when the lock is absent or not a lock this code wrote. */
static int holder_read(const char *path, JobLockHolder *h) {
    Err err;
    cJSON *o = NULL;
    memset(h, 0, sizeof *h);
    if (json_read_file(path, &o, &err) != 0) return -1;
    const char *host = json_get_string(o, "host", NULL);
    long long pid;
    if (!host || json_get_whole(o, "pid", 1, INT_MAX, -1, &pid) != 0 || pid < 0) { /* absent, damaged */
        cJSON_Delete(o);
        return -1;
    }
    snprintf(h->host, sizeof h->host, "%s", host);
    h->pid = (long)pid;
    json_get_whole(o, "pid_start", 0, 9e18, -1, &h->pid_start); /* a damaged one reads as unknown (-1) */
    snprintf(h->slurm_job, sizeof h->slurm_job, "%s", json_get_string(o, "slurm_job_id", ""));
    h->slurm_restart = json_get_int(o, "slurm_restart_count", 0);
    h->since_unix = json_get_number(o, "since_unix", 0);
    cJSON_Delete(o);
    return 0;
}

static double newest_mtime(const char *dir, const char *lock_path) {
    static const char *const files[] = {"metrics.jsonl", "checkpoint.safetensors"};
    struct stat st;
    double newest = stat(lock_path, &st) == 0 ? (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9 : 0;
    for (int i = 0; i < 2; i++) {
        char path[8300];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        double t = stat(path, &st) == 0 ? (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9 : 0;
        if (t > newest) newest = t;
    }
    return newest;
}

/* What Slurm says of job ID: 1 it is still there (pending, running, suspended, requeued...), 0 it has
 * ended or Slurm no longer knows it, -1 no answer (no squeue on this machine, the controller does not
 * answer). *state: Slurm's word for it. */
static int slurm_job_alive(const char *id, char *state, size_t n) {
    snprintf(state, n, "?");
    /* the id comes from a file and goes to a shell: digits only (an array task has its own job id) */
    if (!id[0] || strlen(id) > 32 || strspn(id, "0123456789") != strlen(id)) return -1;
    char cmd[128], out[512];
    snprintf(cmd, sizeof cmd, "timeout 20 squeue --noheader --jobs=%s --format=%%T 2>&1", id);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    int code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 0) {
        char word[64] = "";
        sscanf(out, "%63s", word);
        if (!word[0]) return snprintf(state, n, "ended"), 0; /* squeue lists only jobs not yet ended */
        snprintf(state, n, "%s", word);
        static const char *const ended[] = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL",
                                            "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY"};
        for (size_t i = 0; i < sizeof ended / sizeof ended[0]; i++)
            if (!strcmp(word, ended[i])) return 0;
        return 1;
    }
    if (strstr(out, "Invalid job id")) return snprintf(state, n, "no longer known to Slurm"), 0;
    return -1;
}

static double g_clock_offset_s; /* tests only: how far this host's clock reads ahead of the file system's */
void job_lock_set_clock_offset(double seconds) { g_clock_offset_s = seconds; }

/* clock_gettime, not time(): glibc's time() reads a coarse clock that can trail the file times the kernel stamps
 * by a tick, and a lock touched exactly 20 minutes ago must read 20, not 19 */
static double host_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + now.tv_nsec * 1e-9 + g_clock_offset_s;
}

/* Seconds the clock of the file system holding PROBE, a file this process has just written there, reads ahead of
 * this host's clock, which read `host` just before (0: no probe). On NFS the server stamps the files, the lock's
 * heartbeat too (a utimensat to "now" is the server's now), and this host's clock may be minutes off the server's:
 * measured against it, a live run's lock touched a minute ago read as stale and was taken over. Within 2 s the two
 * are one clock (the kernel stamps files from a coarser one), and this host's, the finer, is kept. */
static double fs_ahead_of_host(const char *probe, double host) {
    struct stat st;
    if (!probe || stat(probe, &st) != 0) return 0;
    double fs = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9;
    return fabs(host - fs) < 2 ? 0 : fs - host;
}

/* The time now as the file system holding PROBE keeps it (NULL: this host's clock). */
static double fs_now(const char *probe) {
    double host = host_now();
    return host + fs_ahead_of_host(probe, host);
}

int job_lock_fs_clock_ahead(const char *folder, double *ahead_s) {
    char probe[8400];
    *ahead_s = 0;
    snprintf(probe, sizeof probe, "%s/.clock-probe.%s.XXXXXX", folder, dfer_host());
    double host = host_now();
    int fd = mkstemp(probe);
    if (fd < 0) return 0; /* a read-only view of the results, or no such folder: this host's clock */
    CHECK_SYS(close(fd));
    *ahead_s = fs_ahead_of_host(probe, host);
    /* a probe left behind (the folder turned read-only since) is an empty file that nothing reads */
    (void)unlink(probe);
    return 1;
}

double job_lock_clock_now(double fs_ahead_s) { return host_now() + fs_ahead_s; }

/* Whether the lock at lock_path (read into *h, or unreadable: parsed = 0) still counts as held at `now` (fs_now);
 * h->state says why. */
static int lock_live(const char *dir, const char *lock_path, JobLockHolder *h, int parsed, double stale_after_s,
                     double now) {
    if (parsed && !strcmp(h->host, dfer_host())) {
        long long start = process_start_ticks(h->pid);
        int live = start >= 0 && (h->pid_start < 0 || start == h->pid_start);
        snprintf(h->state, sizeof h->state, "%s", live ? "its process runs" : "its process is gone");
        return live;
    }
    if (parsed && h->slurm_job[0]) {
        const char *job = getenv("SLURM_JOB_ID"), *restart = getenv("SLURM_RESTART_COUNT");
        int ours = job && !strcmp(job, h->slurm_job);
        if (ours && (restart ? atoi(restart) : 0) != h->slurm_restart) {
            snprintf(h->state, sizeof h->state, "an earlier incarnation of this requeued Slurm job");
            return 0;
        }
        char state[64];
        int alive = ours ? -1 : slurm_job_alive(h->slurm_job, state, sizeof state);
        if (alive >= 0) {
            /* "Slurm job 12 is RUNNING", "... has ended", "... has ended (CANCELLED)" */
            if (alive) snprintf(h->state, sizeof h->state, "Slurm job %.32s is %.40s", h->slurm_job, state);
            else if (!strcmp(state, "ended"))
                snprintf(h->state, sizeof h->state, "Slurm job %.32s has ended", h->slurm_job);
            else snprintf(h->state, sizeof h->state, "Slurm job %.32s has ended (%.40s)", h->slurm_job, state);
            return alive;
        }
    }
    double silent = now - newest_mtime(dir, lock_path);
    int live = silent < stale_after_s;
    snprintf(h->state, sizeof h->state, "%s for %.0f min%s", live ? "last heartbeat or write" : "no heartbeat or write",
             floor(silent / 60), live ? "" : " (its node failed, or it was killed)");
    return live;
}

/* ---- the heartbeat: one lock per process, touched while it is held ----------------------------- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int running, stop;
    char path[8300];
    double last_ours;  /* time_now() of the last look that found the lock this process's (under mu) */
    JobLockLoss loss;  /* set once, with lost, under mu */
} g_heartbeat = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
/* Apart from the mutex: every training step reads it, and must not wait for a heartbeat that is reading the lock on
 * a stalled file system. Set (release) after g_heartbeat.loss is filled. */
static atomic_int g_lock_lost;
static double g_heartbeat_s = JOB_LOCK_HEARTBEAT_S;

void job_lock_set_heartbeat(double seconds) { g_heartbeat_s = seconds; }

static int holder_is_self(const JobLockHolder *h);

/* With g_heartbeat.mu held: 1 the held lock is still this process's; 0 it is lost (recorded): another run's lock has
 * replaced it, or it is gone; -1 it cannot be read for another reason (an I/O error), which decides nothing (the next
 * look does) and is not touched. */
static int lock_still_ours_locked(void) {
    if (atomic_load(&g_lock_lost)) return 0;
    double t = time_now();
    JobLockHolder h;
    struct stat st;
    int parsed = holder_read(g_heartbeat.path, &h) == 0;
    if (parsed && holder_is_self(&h)) {
        g_heartbeat.last_ours = t;
        return 1;
    }
    int gone = !parsed && stat(g_heartbeat.path, &st) != 0 && errno == ENOENT;
    if (!parsed && !gone) return -1;
    g_heartbeat.loss = (JobLockLoss){.taker_known = parsed, .silent_s = t - g_heartbeat.last_ours};
    if (parsed) g_heartbeat.loss.taker = h;
    atomic_store(&g_lock_lost, 1);
    return 0;
}

static void *heartbeat_main(void *arg) {
    (void)arg;
    CHECK_ERRNUM(pthread_mutex_lock(&g_heartbeat.mu));
    while (!g_heartbeat.stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long long period_ns = (long long)(g_heartbeat_s * 1e9);
        until.tv_sec += (time_t)(period_ns / 1000000000), until.tv_nsec += (long)(period_ns % 1000000000);
        if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
        /* 0: a spurious wake-up or the stop signal; anything else (the time, an error) ends the wait */
        while (!g_heartbeat.stop && pthread_cond_timedwait(&g_heartbeat.cv, &g_heartbeat.mu, &until) == 0) {}
        if (g_heartbeat.stop) break;
        /* touch it only while it is still ours; a lock lost to another run stays lost (the trainer leaves the job) */
        if (lock_still_ours_locked() == 1) utimensat(AT_FDCWD, g_heartbeat.path, NULL, 0);
    }
    CHECK_ERRNUM(pthread_mutex_unlock(&g_heartbeat.mu));
    return NULL;
}

/* The write guard (core/fsutil.h) while a lock is held: a file of the locked folder (DIR/NAME) goes into place only
 * while the lock is still this process's, read now. The trainer looks before each write too (job_lock_lost), but a
 * process frozen between that look and the rename of a checkpoint it wrote meanwhile would, when it wakes, put its
 * stale checkpoint over the one of the run that took the job over; this look comes after the write's flush, just
 * before the rename. Any thread may write. */
static int job_folder_write_guard(const char *path, Err *err) {
    CHECK_ERRNUM(pthread_mutex_lock(&g_heartbeat.mu));
    const char *slash = strrchr(g_heartbeat.path, '/');
    size_t dir_len = slash ? (size_t)(slash - g_heartbeat.path) + 1 : 0; /* "DIR/" */
    int in_folder = g_heartbeat.running && dir_len > 0 && !strncmp(path, g_heartbeat.path, dir_len) &&
                    !strchr(path + dir_len, '/');
    int lost = in_folder && lock_still_ours_locked() == 0;
    JobLockLoss loss = g_heartbeat.loss;
    CHECK_ERRNUM(pthread_mutex_unlock(&g_heartbeat.mu));
    if (!lost) return 0;
    if (!loss.taker_known)
        return err_set(err, "%s: not written: this job's lock (%s) is gone since this run's last look", path,
                       g_heartbeat.path);
    return err_set(err, "%s: not written: another run (host %s, pid %ld) took over this job's lock while this run was "
                   "silent", path, loss.taker.host, loss.taker.pid);
}

static void heartbeat_stop(void) {
    fs_set_write_guard(NULL);
    CHECK_ERRNUM(pthread_mutex_lock(&g_heartbeat.mu));
    int running = g_heartbeat.running;
    g_heartbeat.stop = 1;
    CHECK_ERRNUM(pthread_cond_signal(&g_heartbeat.cv));
    CHECK_ERRNUM(pthread_mutex_unlock(&g_heartbeat.mu));
    if (running) CHECK_ERRNUM(pthread_join(g_heartbeat.thread, NULL));
    CHECK_ERRNUM(pthread_mutex_lock(&g_heartbeat.mu));
    g_heartbeat.running = 0;
    CHECK_ERRNUM(pthread_mutex_unlock(&g_heartbeat.mu));
}

static void heartbeat_start(const char *lock_path) {
    heartbeat_stop();
    snprintf(g_heartbeat.path, sizeof g_heartbeat.path, "%s", lock_path);
    g_heartbeat.stop = 0;
    g_heartbeat.last_ours = time_now();
    atomic_store(&g_lock_lost, 0);
    CHECK_ERRNUM(pthread_create(&g_heartbeat.thread, NULL, heartbeat_main, NULL));
    CHECK_ERRNUM(pthread_mutex_lock(&g_heartbeat.mu));
    g_heartbeat.running = 1;
    CHECK_ERRNUM(pthread_mutex_unlock(&g_heartbeat.mu));
    fs_set_write_guard(job_folder_write_guard);
}

static int holder_is_self(const JobLockHolder *h) {
    return !strcmp(h->host, dfer_host()) && h->pid == (long)getpid();
}

static double g_takeover_pause_s; /* tests only: between judging a lock stale and taking it over */
void job_lock_set_takeover_pause(double seconds) { g_takeover_pause_s = seconds; }

/* The lock file's bytes ("" when absent or unreadable): what a takeover compares to tell the stale lock it judged
 * from one another run has put there since. */
/* The lock's first n - 1 bytes into out; 0 where there is no lock (out ""), 1 where there is one (out may be "": an
 * empty file, left by a node that crashed before the file system stored its bytes). */
static int lock_bytes(const char *lock, char *out, size_t n) {
    out[0] = '\0';
    FILE *f = fopen(lock, "rb");
    if (!f) return errno != ENOENT;
    size_t got = fread(out, 1, n - 1, f);
    out[got] = '\0';
    fclose(f);
    return 1;
}

/* ---- the takeover guard: one run at a time replaces a folder's stale lock ------------------------- */

static int g_guard_force_mkdir;         /* tests only: the mkdir fallback even where OFD locks work */
static double g_guard_removal_pause_s;  /* tests only: between judging an old mkdir guard stale and removing it */
static double g_inside_guard_pause_s;   /* tests only: inside the guard, between checking the lock and renaming */
void job_lock_set_takeover_guard(int kind) { g_guard_force_mkdir = kind == JOB_LOCK_GUARD_MKDIR; }
void job_lock_set_guard_pauses(double before_guard_removal_s, double inside_guard_s) {
    g_guard_removal_pause_s = before_guard_removal_s;
    g_inside_guard_pause_s = inside_guard_s;
}

enum { GUARD_STALE_S = 600 }; /* a mkdir guard this old was left by a run that died inside it */

typedef struct TakeoverGuard {
    int fd;            /* >= 0: DIR/.takeover.lock, holding the OFD lock; -1: the mkdir guard */
    char path[8400];   /* DIR/.takeover (the mkdir guard) */
    dev_t dev;         /* the mkdir guard this run made: released only while .takeover is still that one */
    ino_t ino;
} TakeoverGuard;

static int same_directory(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* fcntl's errors for a file system that keeps no OFD locks, rather than for a lock another process holds */
static int ofd_locks_unsupported(int e) { return e == ENOLCK || e == ENOSYS || e == EOPNOTSUPP || e == EINVAL; }

int job_lock_takeover_guard(const char *folder, char *why, size_t n, Err *err) {
    snprintf(why, n, "%s", "");
#ifndef F_OFD_SETLK
    (void)folder, (void)err;
    snprintf(why, n, "this system has no OFD locks");
    return JOB_LOCK_GUARD_MKDIR;
#else
    if (g_guard_force_mkdir) return snprintf(why, n, "the mkdir guard forced (a test)"), JOB_LOCK_GUARD_MKDIR;
    MountInfo mount;
    int found = mount_of_path(folder, &mount, err);
    if (found < 0) return err_prefix(err, "%s: cannot tell whether its file locks reach other hosts: ", folder);
    const char *option = found ? mount_host_local_locks(&mount) : NULL;
    if (option) {
        snprintf(why, n, "%s is on the %s mount %s (%s) with %s: its file locks are this host's alone", folder,
                 mount.fs_type, mount.mount_point, mount.source, option);
        return JOB_LOCK_GUARD_MKDIR;
    }
    /* the mount's options do not tell of a file system that refuses OFD locks (Lustre without -o flock): ask it, with
     * a look that changes nothing (F_OFD_GETLK), on the guard's file or else the folder, so that --status, which may
     * see a read-only view, says the guard a takeover will use (guard_enter_ofd falls back on the same errors) */
    char path[8400];
    snprintf(path, sizeof path, "%s/.takeover.lock", folder);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return JOB_LOCK_GUARD_OFD; /* nothing to ask yet (a folder not made): the claim asks again */
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int refused = fcntl(fd, F_OFD_GETLK, &fl) != 0 && ofd_locks_unsupported(errno), e = errno;
    CHECK_SYS(close(fd));
    if (!refused) return JOB_LOCK_GUARD_OFD;
    snprintf(why, n, "the file system of %s refuses OFD locks (%s)", folder, strerror(e));
    return JOB_LOCK_GUARD_MKDIR;
#endif
}

/* A mkdir guard DIR/.takeover made less than GUARD_STALE_S ago by the file system's clock `now`: a run is inside it,
 * one of a build from before the OFD guard or one whose host mounts the results with nolock (mount_host_local_locks).
 * Such a run never looks at the OFD lock, so the OFD lock's holder backs off from its guard, as a mkdir guard's user
 * would. An older one is a dead run's, which the mkdir guard's users move away (guard_remove_stale); the OFD holder
 * leaves it there. Only a back-off, not a guard of both kinds: a mkdir guard made just after this look is not seen.
 * Then both runs may rename their lock over the stale one (an old build reads nothing back); the one whose lock was
 * replaced learns it at its next look (job_lock_lost) where its build has that look. Making
 * the mkdir guard too under the OFD lock would close that, but a run killed inside would then block every takeover of
 * the folder for GUARD_STALE_S again, which the OFD guard is there to avoid. */
static int fresh_mkdir_guard(const char *dir, double now) {
    char path[8400];
    struct stat st;
    snprintf(path, sizeof path, "%s/.takeover", dir);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) && now - (double)st.st_mtime <= GUARD_STALE_S;
}

/* An exclusive open-file-description lock on DIR/.takeover.lock (made once, never deleted): the kernel, or NFS's
 * lock manager, drops it when its holder dies, so a run killed inside the guard leaves none behind. 1 held (g->fd),
 * 0 another run holds it (or is inside a fresh mkdir guard: fresh_mkdir_guard), 2 the mkdir guard instead: this file
 * system keeps no such locks (Lustre without -o flock), or keeps them on this host alone (NFS mounted nolock or
 * local_lock=all|posix: a run on another node would take "the same" lock at once), -1 error. */
static int guard_enter_ofd(const char *dir, double now, TakeoverGuard *g, Err *err) {
    g->fd = -1;
    char why[8600];
    int kind = job_lock_takeover_guard(dir, why, sizeof why, err);
    if (kind < 0) return -1;
    if (kind == JOB_LOCK_GUARD_MKDIR) {
        static int said; /* once a process: every takeover in the results folder has the same reason */
        if (!said && !g_guard_force_mkdir) log_info("job locks: stale locks taken over under the mkdir guard: %s", why);
        said = 1;
        return 2;
    }
#ifdef F_OFD_SETLK
    char path[8400];
    snprintf(path, sizeof path, "%s/.takeover.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return err_set(err, "%s: cannot open the takeover guard: %s", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
        if (fresh_mkdir_guard(dir, now)) {
            CHECK_SYS(close(fd)); /* drops the OFD lock */
            return 0;
        }
        g->fd = fd;
        return 1;
    }
    int lock_errno = errno;
    CHECK_SYS(close(fd));
    if (lock_errno == EAGAIN || lock_errno == EACCES) return 0;
    if (ofd_locks_unsupported(lock_errno)) return 2;
    return err_set(err, "%s: cannot lock the takeover guard: %s", path, strerror(lock_errno));
#else
    (void)now;
    return 2;
#endif
}

/* Moves the old mkdir guard `judged` (left by a run that died inside it) out of the way. Never rmdir in place: two
 * runs that both judged it old would each remove "it", the second one the guard the first has made since, and both
 * be inside. Renamed to this run's own name, it is checked to be the very directory judged old; one that is not
 * (another run's fresh guard) is put back where it can be. 1 removed, 0 not (another run is taking over), -1. */
static int guard_remove_stale(const TakeoverGuard *g, const struct stat *judged, Err *err) {
    char moved[8600];
    struct stat st;
    snprintf(moved, sizeof moved, "%s.stale.%s.%ld", g->path, dfer_host(), (long)getpid());
    if (g_guard_removal_pause_s > 0) time_sleep(g_guard_removal_pause_s);
    if (rename(g->path, moved) != 0) {
        if (errno == ENOENT) return 1; /* another run removed it first: try mkdir again */
        return err_set(err, "%s: cannot move the stale takeover guard away: %s", g->path, strerror(errno));
    }
    if (stat(moved, &st) == 0 && same_directory(&st, judged)) {
        if (rmdir(moved) != 0)
            return err_set(err, "%s: cannot remove the stale takeover guard: %s", moved, strerror(errno));
        return 1;
    }
    /* another run's guard: put back unless a third run has made one since (rename would replace that empty one) */
    if (stat(g->path, &st) != 0 && errno == ENOENT && rename(moved, g->path) == 0) return 0;
    /* not put back: its holder finds .takeover not its own at release and leaves it. Should this rmdir fail, a stray
     * .takeover.stale.* folder stays, which nothing reads */
    (void)rmdir(moved);
    return 0;
}

/* Enters DIR's takeover guard: 1 entered (*g), 0 another run is inside (holder->state says so), -1 error. `now`: the
 * file system's clock, to judge a mkdir guard's age. */
static int guard_enter(const char *dir, double now, TakeoverGuard *g, JobLockHolder *holder, Err *err) {
    snprintf(g->path, sizeof g->path, "%s/.takeover", dir);
    int rc = guard_enter_ofd(dir, now, g, err);
    for (int tries = 0; rc == 2; tries++) {
        struct stat st;
        if (mkdir(g->path, 0755) == 0) {
            if (stat(g->path, &st) != 0)
                return err_set(err, "%s: cannot stat the takeover guard: %s", g->path, strerror(errno));
            g->dev = st.st_dev, g->ino = st.st_ino;
            rc = 1;
        } else if (errno != EEXIST) {
            return err_set(err, "%s: cannot create the takeover guard: %s", g->path, strerror(errno));
        } else if (tries == 0 && stat(g->path, &st) == 0 && now - (double)st.st_mtime > GUARD_STALE_S) {
            rc = guard_remove_stale(g, &st, err);
            if (rc == 1) rc = 2; /* removed: mkdir again, once */
        } else {
            rc = 0;
        }
    }
    if (rc == 0) snprintf(holder->state, sizeof holder->state, "another run is taking the stale lock over");
    return rc;
}

static void guard_leave(const TakeoverGuard *g) {
    if (g->fd >= 0) {
        CHECK_SYS(close(g->fd)); /* drops the OFD lock */
        return;
    }
    /* only the guard this run made: one that another run's stale removal moved away is not ours to remove */
    struct stat st;
    /* a guard that cannot be removed is judged stale, and moved away, GUARD_STALE_S later */
    if (stat(g->path, &st) == 0 && st.st_dev == g->dev && st.st_ino == g->ino) (void)rmdir(g->path);
}

/* Replaces the stale lock at `lock` whose bytes were `judged` with tmp, under DIR's takeover guard: of several runs
 * that judged the same lock stale, the first in replaces it, the others find other bytes and back off. Judging (a
 * squeue call of up to 20 s) happens before, outside the guard, so the guard is held for a read and a rename only.
 * `now`: the file system's clock. Returns 1 taken over, 0 another run took it (or the lock went: *holder updated),
 * -1. */
static int take_over(const char *dir, const char *lock, const char *tmp, const char *judged, double now,
                     JobLockHolder *holder, Err *err) {
    char bytes_now[4096];
    TakeoverGuard guard;
    int rc = guard_enter(dir, now, &guard, holder, err);
    if (rc != 1) return rc;
    /* replaced by another run since, or released (gone); an empty lock judged stale is taken over like any other
     * (it was read as released, and the job skipped by every run for good) */
    if (!lock_bytes(lock, bytes_now, sizeof bytes_now) || strcmp(bytes_now, judged) != 0) {
        if (holder_read(lock, holder) != 0) memset(holder, 0, sizeof *holder);
        snprintf(holder->state, sizeof holder->state, "another run took the stale lock over");
        rc = 0;
    } else {
        if (g_inside_guard_pause_s > 0) time_sleep(g_inside_guard_pause_s);
        if (rename(tmp, lock) != 0) {
            rc = err_set(err, "%s: cannot take over the stale lock: %s", lock, strerror(errno));
        } else {
            /* read back under the guard: should another run have been inside too (a mkdir guard removed while its
             * holder was frozen past GUARD_STALE_S), the lock names whichever renamed last, and only that one holds */
            JobLockHolder now_held;
            rc = holder_read(lock, &now_held) == 0 && holder_is_self(&now_held);
            if (!rc) {
                *holder = now_held;
                snprintf(holder->state, sizeof holder->state, "another run took the stale lock over");
            }
        }
    }
    guard_leave(&guard);
    return rc;
}

int job_lock_claim(const char *dir, double stale_after_s, JobLockHolder *holder, int *took_over_stale, Err *err) {
    char lock[8300], tmp[8400], judged[4096];
    *took_over_stale = 0;
    if (fs_mkdirs(dir, err) != 0) return -1;
    snprintf(lock, sizeof lock, "%s/running.lock", dir);
    snprintf(tmp, sizeof tmp, "%s/.running.lock.%s.%ld", dir, dfer_host(), (long)getpid());
    JobLockHolder self;
    holder_self(&self);
    if (holder_write(tmp, &self, err) != 0) return -1;
    int rc, linked = link(tmp, lock) == 0, link_errno = errno;
    struct stat st_tmp, st_lock;
    if (linked) {
        rc = 1;
    } else if (link_errno == EEXIST && stat(tmp, &st_tmp) == 0 && stat(lock, &st_lock) == 0 &&
               st_tmp.st_dev == st_lock.st_dev && st_tmp.st_ino == st_lock.st_ino) {
        /* NFS: the server made the link but its answer was lost, and the client's retry found the name taken (by
         * this very file). Judged below, the lock would name this live process and the job be skipped, its lock
         * left in place for the rest of the run. The lock is the temporary file itself: it is ours. */
        rc = 1;
    } else if (link_errno != EEXIST) {
        rc = err_set(err, "%s: cannot create the job's lock: %s", lock, strerror(link_errno));
    } else {
        lock_bytes(lock, judged, sizeof judged);
        int parsed = holder_read(lock, holder) == 0;
        double now = fs_now(tmp); /* tmp was written just now, on the lock's file system */
        if (lock_live(dir, lock, holder, parsed, stale_after_s, now)) {
            rc = 0;
        } else {
            if (g_takeover_pause_s > 0) time_sleep(g_takeover_pause_s);
            JobLockHolder stale = *holder;
            rc = take_over(dir, lock, tmp, judged, now, holder, err);
            if (rc == 1) *took_over_stale = 1, *holder = stale;
        }
    }
    unlink(tmp); /* gone already after a rename */
    if (rc == 1) heartbeat_start(lock);
    return rc;
}

int job_lock_lost(const char *dir, int verify, JobLockLoss *loss) {
    char lock[8300] = "";
    if (dir) snprintf(lock, sizeof lock, "%s/running.lock", dir);
    /* g_heartbeat.path is written by this (the main) thread alone, while no heartbeat runs */
    if (!g_heartbeat.running || (dir && strcmp(g_heartbeat.path, lock) != 0)) return 0;
    if (!verify && !atomic_load(&g_lock_lost)) return 0;
    CHECK_ERRNUM(pthread_mutex_lock(&g_heartbeat.mu));
    int lost = lock_still_ours_locked() == 0;
    if (lost && loss) *loss = g_heartbeat.loss;
    CHECK_ERRNUM(pthread_mutex_unlock(&g_heartbeat.mu));
    return lost;
}

void job_lock_release(const char *dir) {
    char lock[8300];
    JobLockHolder h;
    snprintf(lock, sizeof lock, "%s/running.lock", dir);
    /* the heartbeat stops whoever holds the lock now: one lost to another run is not touched again either */
    if (g_heartbeat.running && !strcmp(g_heartbeat.path, lock)) heartbeat_stop();
    if (holder_read(lock, &h) == 0 && holder_is_self(&h)) unlink(lock);
}

int job_lock_read(const char *dir, double stale_after_s, double fs_ahead_s, JobLockHolder *holder, int *live) {
    char lock[8300];
    snprintf(lock, sizeof lock, "%s/running.lock", dir);
    if (!fs_exists(lock)) return 0;
    int parsed = holder_read(lock, holder) == 0;
    *live = lock_live(dir, lock, holder, parsed, stale_after_s, job_lock_clock_now(fs_ahead_s));
    return 1;
}
