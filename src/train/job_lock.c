#include "train/job_lock.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
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
    double pid = json_get_number(o, "pid", NAN);
    if (!host || !isfinite(pid)) {
        cJSON_Delete(o);
        return -1;
    }
    snprintf(h->host, sizeof h->host, "%s", host);
    h->pid = (long)pid;
    h->pid_start = (long long)json_get_number(o, "pid_start", -1);
    snprintf(h->slurm_job, sizeof h->slurm_job, "%s", json_get_string(o, "slurm_job_id", ""));
    h->slurm_restart = (int)json_get_number(o, "slurm_restart_count", 0);
    h->since_unix = json_get_number(o, "since_unix", 0);
    cJSON_Delete(o);
    return 0;
}

static double newest_mtime(const char *dir, const char *lock_path) {
    static const char *const files[] = {"metrics.jsonl", "checkpoint.safetensors"};
    struct stat st;
    double newest = stat(lock_path, &st) == 0 ? (double)st.st_mtime : 0;
    for (int i = 0; i < 2; i++) {
        char path[8300];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (stat(path, &st) == 0 && (double)st.st_mtime > newest) newest = (double)st.st_mtime;
    }
    return newest;
}

/* Whether the lock at lock_path (read into *h, or unreadable: parsed = 0) still counts as held. */
static int lock_live(const char *dir, const char *lock_path, const JobLockHolder *h, int parsed, double stale_after_s) {
    if (parsed && !strcmp(h->host, dfer_host())) {
        long long start = process_start_ticks(h->pid);
        return start >= 0 && (h->pid_start < 0 || start == h->pid_start);
    }
    if (parsed && h->slurm_job[0]) {
        const char *job = getenv("SLURM_JOB_ID"), *restart = getenv("SLURM_RESTART_COUNT");
        if (job && !strcmp(job, h->slurm_job) && (restart ? atoi(restart) : 0) != h->slurm_restart) return 0;
    }
    return difftime(time(NULL), (time_t)newest_mtime(dir, lock_path)) < stale_after_s;
}

static int holder_is_self(const JobLockHolder *h) {
    return !strcmp(h->host, dfer_host()) && h->pid == (long)getpid();
}

int job_lock_claim(const char *dir, double stale_after_s, JobLockHolder *holder, int *took_over_stale, Err *err) {
    char lock[8300], tmp[8400];
    *took_over_stale = 0;
    if (fs_mkdirs(dir, err) != 0) return -1;
    snprintf(lock, sizeof lock, "%s/running.lock", dir);
    snprintf(tmp, sizeof tmp, "%s/.running.lock.%s.%ld", dir, dfer_host(), (long)getpid());
    JobLockHolder self;
    holder_self(&self);
    if (holder_write(tmp, &self, err) != 0) return -1;
    int rc;
    if (link(tmp, lock) == 0) {
        rc = 1;
    } else if (errno != EEXIST) {
        rc = err_set(err, "%s: cannot create the job's lock: %s", lock, strerror(errno));
    } else {
        int parsed = holder_read(lock, holder) == 0;
        if (lock_live(dir, lock, holder, parsed, stale_after_s)) {
            rc = 0;
        } else if (rename(tmp, lock) != 0) {
            rc = err_set(err, "%s: cannot take over the stale lock: %s", lock, strerror(errno));
        } else {
            /* another run may have renamed its own over it at the same moment: the lock read back decides */
            JobLockHolder now;
            rc = holder_read(lock, &now) == 0 && holder_is_self(&now);
            if (rc) *took_over_stale = 1;
            else *holder = now;
        }
    }
    unlink(tmp); /* gone already after a rename */
    return rc;
}

void job_lock_release(const char *dir) {
    char lock[8300];
    JobLockHolder h;
    snprintf(lock, sizeof lock, "%s/running.lock", dir);
    if (holder_read(lock, &h) == 0 && holder_is_self(&h)) unlink(lock);
}

int job_lock_read(const char *dir, double stale_after_s, JobLockHolder *holder, int *live) {
    char lock[8300];
    snprintf(lock, sizeof lock, "%s/running.lock", dir);
    if (!fs_exists(lock)) return 0;
    int parsed = holder_read(lock, holder) == 0;
    *live = lock_live(dir, lock, holder, parsed, stale_after_s);
    return 1;
}
