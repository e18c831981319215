/* Job locks (src/train/job_lock.c): the holder's heartbeat keeps its lock fresh while it is held
 * and stops at release; another host's lock counts as held until it misses heartbeats for the
 * stale time, and each verdict says why. The matrix-level cases (two runs sharing a matrix, a
 * dead process, a requeued Slurm job, a Slurm job that ended) are tests/matrix_lock.sh and
 * tests/slurm_matrix.sh. */
/* RTLD_NEXT: _GNU_SOURCE comes from the build (CMakeLists.txt) */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "testlib.h"
#include "train/job_lock.h"
#include "train/runner.h"

static void set_mtime_ago(const char *path, double seconds) {
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= (time_t)seconds;
    t[1] = t[0];
    EXPECT(utimensat(AT_FDCWD, path, t, 0) == 0, "utimensat %s", path);
}

/* Seconds since path was last modified, or -1e9 when it is missing. Precise clock and file times on
 * both sides: the kernel may stamp a file a tick ahead of glibc's coarse time(). */
static double age_of(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return -1e9;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)(now.tv_sec - st.st_mtim.tv_sec) + (now.tv_nsec - st.st_mtim.tv_nsec) * 1e-9;
}

/* dir = the test folder's job NAME, lock = its running.lock */
static void job_paths(const char *name, char dir[700], char lock[760]) {
    snprintf(dir, 700, "%s/%s", test_tmpdir(), name);
    snprintf(lock, 760, "%s/running.lock", dir);
}

static void sleep_s(double s) {
    struct timespec t = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    nanosleep(&t, NULL);
}

static void test_heartbeat(void) {
    char dir[700], lock[760];
    job_paths("job-a", dir, lock);
    job_lock_set_heartbeat(0.2);
    JobLockHolder h;
    int took = -1, live = -1;
    Err err;
    EXPECT(job_lock_claim(dir, 600, &h, &took, &err) == 1 && took == 0, "a free job is claimed");
    set_mtime_ago(lock, 3600);
    EXPECT(age_of(lock) >= 3599, "the lock made an hour old");
    sleep_s(0.7);
    double age = age_of(lock);
    EXPECT(age > -1 && age < 5, "the heartbeat touched the lock (its age %.0f s)", age);
    EXPECT(job_lock_read(dir, 600, 0, &h, &live) == 1 && live && strstr(h.state, "its process runs"),
           "held by us: %s", h.state);
    job_lock_release(dir);
    EXPECT(access(lock, F_OK) != 0, "released: the lock is gone");
    sleep_s(0.5);
    EXPECT(access(lock, F_OK) != 0, "the stopped heartbeat does not bring it back");
    /* claim, release and claim again: the heartbeat follows the lock held now */
    EXPECT(job_lock_claim(dir, 600, &h, &took, &err) == 1, "claimed again");
    set_mtime_ago(lock, 3600);
    sleep_s(0.7);
    age = age_of(lock);
    EXPECT(age > -1 && age < 5, "the second claim's heartbeat runs (age %.0f s)", age);
    job_lock_release(dir);
    job_lock_set_heartbeat(JOB_LOCK_HEARTBEAT_S);
}

static void write_lock(const char *dir, const char *json, double age_s) {
    char path[760];
    Err err;
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/running.lock", dir);
    EXPECT(fs_write_atomic(path, json, strlen(json), &err) == 0, "%s", err.msg);
    set_mtime_ago(path, age_s);
}

static void test_other_host(void) {
    char dir[700];
    snprintf(dir, sizeof dir, "%s/job-b", test_tmpdir());
    JobLockHolder h;
    int live = -1, took = -1;
    Err err;
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 90);
    EXPECT(job_lock_read(dir, 600, 0, &h, &live) == 1 && live && !strcmp(h.state, "last heartbeat or write for 1 min"),
           "another host's lock touched 90 s ago is held: live %d, %s", live, h.state);
    EXPECT(job_lock_claim(dir, 600, &h, &took, &err) == 0 && !strcmp(h.host, "node-elsewhere") && h.pid == 4242,
           "and not claimed");
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 20 * 60);
    EXPECT(job_lock_read(dir, 600, 0, &h, &live) == 1 && !live && strstr(h.state, "no heartbeat or write for 20 min"),
           "20 minutes without a heartbeat (stale after 10): live %d, %s", live, h.state);
    EXPECT(job_lock_claim(dir, 600, &h, &took, &err) == 1 && took == 1 && strstr(h.state, "no heartbeat"),
           "a stale lock is taken over, and the holder it replaced says why: %s", h.state);
    job_lock_release(dir);
    /* a Slurm job id that is not a number never reaches the shell: the time decides */
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242, \"slurm_job_id\": \"1; touch /tmp/x\"}", 30);
    EXPECT(job_lock_read(dir, 600, 0, &h, &live) == 1 && live && strstr(h.state, "last heartbeat"),
           "odd Slurm id: %s", h.state);
    /* a lock this code did not write is stale (and says so through the claim) */
    write_lock(dir, "not json", 0);
    EXPECT(job_lock_read(dir, 600, 0, &h, &live) == 1 && live,
           "an unreadable lock written just now counts by its time");
    write_lock(dir, "not json", 3600);
    EXPECT(job_lock_claim(dir, 600, &h, &took, &err) == 1 && took == 1, "an old unreadable lock is taken over");
    job_lock_release(dir);
    /* an empty one too (a node that crashed before its file system stored the lock's bytes): it was read as a lock
     * released meanwhile, and every run skipped the job for good ("another run took the stale lock over") */
    write_lock(dir, "", 0);
    EXPECT(job_lock_read(dir, 600, 0, &h, &live) == 1 && live, "an empty lock written just now counts by its time");
    EXPECT(job_lock_claim(dir, 600, &h, &took, &err) == 0, "and is respected");
    write_lock(dir, "", 3600);
    took = -1;
    EXPECT(job_lock_claim(dir, 600, &h, &took, &err) == 1 && took == 1, "an old empty lock is taken over: %s",
           h.state);
    job_lock_release(dir);
}

/* Two runs judge one stale lock stale at once: one takes it over, the other sees its lock and backs off (both
 * renamed their own over it and each read back itself before the guard: two runs trained one job). */
static void test_takeover_race(void) {
    char dir[700];
    snprintf(dir, sizeof dir, "%s/job-race", test_tmpdir());
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 20 * 60);
    int fds[2];
    EXPECT(pipe(fds) == 0, "pipe");
    pid_t child = fork();
    if (child == 0) { /* the slow one: judges the lock stale, then pauses before taking it over */
        JobLockHolder h;
        int took = 0;
        Err err;
        job_lock_set_takeover_pause(1.0);
        char rc = (char)job_lock_claim(dir, 600, &h, &took, &err);
        if (write(fds[1], &rc, 1) != 1) _exit(2);
        _exit(0);
    }
    sleep_s(0.3); /* the child is in its pause, past its verdict */
    JobLockHolder h;
    int took = 0;
    Err err;
    EXPECT(job_lock_claim(dir, 600, &h, &took, &err) == 1 && took == 1, "the first to take over holds the lock");
    char child_rc = 9;
    EXPECT(read(fds[0], &child_rc, 1) == 1, "the other claim's answer");
    int status;
    waitpid(child, &status, 0);
    EXPECT(child_rc == 0, "the other run backs off instead of taking the lock too (claim returned %d)", child_rc);
    int live = 0;
    EXPECT(job_lock_read(dir, 600, 0, &h, &live) == 1 && live && h.pid == (long)getpid(),
           "the lock names the first run");
    job_lock_release(dir);
    close(fds[0]), close(fds[1]);
}

/* A run killed inside the takeover guard (its node failed between judging a lock stale and renaming over it) leaves
 * no guard behind: the guard is an OFD lock the kernel drops with its holder, and the next claim takes the lock over
 * at once (a mkdir guard blocked every claim for 10 minutes). While the holder lives, the others back off. */
static void test_guard_holder_killed(void) {
    char dir[700], lock[760], guard_dir[800];
    job_paths("job-guard-killed", dir, lock);
    snprintf(guard_dir, sizeof guard_dir, "%s/.takeover", dir);
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 20 * 60);
    pid_t child = fork();
    EXPECT(child >= 0, "fork");
    if (child == 0) { /* inside the guard until killed */
        JobLockHolder h;
        int took = 0;
        Err err;
        job_lock_set_guard_pauses(0, 60);
        job_lock_claim(dir, 600, &h, &took, &err);
        _exit(0);
    }
    /* until the child is inside the guard: its OFD lock on .takeover.lock is seen (or, a mkdir guard, its folder) */
    char guard_file[800];
    snprintf(guard_file, sizeof guard_file, "%s/.takeover.lock", dir);
    int inside = 0;
    for (int polls = 0; polls < 1000 && !inside; polls++, sleep_s(0.01)) {
        int fd = open(guard_file, O_RDWR | O_CLOEXEC);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        inside = (fd >= 0 && fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) || access(guard_dir, F_OK) == 0;
        if (fd >= 0) close(fd);
    }
    EXPECT(inside, "the child entered the takeover guard");
    JobLockHolder h;
    int took = -1, status = 0;
    Err err;
    int rc = job_lock_claim(dir, 600, &h, &took, &err);
    EXPECT(rc == 0 && strstr(h.state, "another run is taking the stale lock over"),
           "while another run is inside the guard, a claim backs off (claim %d: %s)", rc, h.state);
    EXPECT(kill(child, SIGKILL) == 0 && waitpid(child, &status, 0) == child && WIFSIGNALED(status),
           "the guard's holder killed");
    rc = job_lock_claim(dir, 600, &h, &took, &err);
    EXPECT(rc == 1 && took == 1, "the next claim takes the stale lock over at once (claim %d: %s)", rc, h.state);
    EXPECT(access(guard_dir, F_OK) != 0, "no guard folder is left behind");
    job_lock_release(dir);
}

/* The names in DIR that start with PREFIX. */
static int count_entries(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += !strncmp(e->d_name, prefix, strlen(prefix));
    closedir(d);
    return n;
}

/* The mkdir guard (file systems without OFD locks): two runs find the same guard left 11 minutes ago by a run that
 * died inside it. This one removes it and enters a guard of its own; the other, which judged the OLD guard stale,
 * comes to remove it after that: a plain rmdir removed this run's fresh guard, the other entered too, and both renamed
 * their lock over the stale one and returned 1 (two runs trained one job). Exactly one may hold the lock. */
static void test_stale_mkdir_guard_race(void) {
    char dir[700], lock[760], guard_dir[800];
    job_paths("job-guard-race", dir, lock);
    snprintf(guard_dir, sizeof guard_dir, "%s/.takeover", dir);
    job_lock_set_takeover_guard(JOB_LOCK_GUARD_MKDIR);
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 20 * 60);
    EXPECT(mkdir(guard_dir, 0755) == 0, "mkdir %s", guard_dir);
    set_mtime_ago(guard_dir, 11 * 60);
    int fds[2];
    EXPECT(pipe(fds) == 0, "pipe");
    pid_t child = fork();
    EXPECT(child >= 0, "fork");
    if (child == 0) { /* judges the old guard stale now, removes "it" a second later */
        JobLockHolder h;
        int took = 0;
        Err err;
        job_lock_set_guard_pauses(1.0, 0);
        char rc = (char)job_lock_claim(dir, 600, &h, &took, &err);
        if (write(fds[1], &rc, 1) != 1) _exit(2);
        _exit(0);
    }
    /* this run removes the old guard after 0.3 s (the child has judged it by then) and stays inside for 2 s */
    job_lock_set_guard_pauses(0.3, 2.0);
    JobLockHolder h;
    int took = -1, status = 0;
    Err err;
    int rc = job_lock_claim(dir, 600, &h, &took, &err);
    job_lock_set_guard_pauses(0, 0);
    char child_rc = 9;
    EXPECT(read(fds[0], &child_rc, 1) == 1, "the other claim's answer");
    EXPECT(waitpid(child, &status, 0) == child, "waitpid");
    EXPECT((rc == 1) + (child_rc == 1) == 1, "exactly one of the two claims holds the lock (this run %d, the other %d)",
           rc, child_rc);
    int live = 0;
    EXPECT(rc == 1 && job_lock_read(dir, 600, 0, &h, &live) == 1 && live && h.pid == (long)getpid(),
           "the lock names the run whose claim returned 1");
    EXPECT(access(guard_dir, F_OK) != 0 && count_entries(dir, ".takeover") == 0,
           "no guard is left behind, nor a moved one (%d)", count_entries(dir, ".takeover"));
    job_lock_release(dir);
    job_lock_set_takeover_guard(JOB_LOCK_GUARD_AUTO);
    close(fds[0]), close(fds[1]);
}

/* A run of an older build (or one on a node whose NFS mount says nolock) guards its takeover with the mkdir guard
 * DIR/.takeover alone and never looks at the OFD lock. While such a guard is fresh, a claim here backs off as that
 * run's own kind would, instead of renaming over the lock beside it; one 11 minutes old is a dead run's, and the claim
 * takes the stale lock over. */
static void test_old_mkdir_guard_respected(void) {
    char dir[700], lock[760], guard_dir[800];
    job_paths("job-old-guard", dir, lock);
    snprintf(guard_dir, sizeof guard_dir, "%s/.takeover", dir);
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 20 * 60);
    EXPECT(mkdir(guard_dir, 0755) == 0, "mkdir %s (the old run inside its guard)", guard_dir);
    JobLockHolder h;
    int took = -1, live = 1;
    Err err;
    int rc = job_lock_claim(dir, 600, &h, &took, &err);
    EXPECT(rc == 0 && strstr(h.state, "another run is taking the stale lock over"),
           "a fresh mkdir guard: the claim backs off (claim %d: %s)", rc, h.state);
    EXPECT(job_lock_read(dir, 600, 0, &h, &live) == 1 && !strcmp(h.host, "node-elsewhere"),
           "the stale lock is left to the run inside the mkdir guard (names %s)", h.host);
    set_mtime_ago(guard_dir, 11 * 60);
    rc = job_lock_claim(dir, 600, &h, &took, &err);
    EXPECT(rc == 1 && took == 1, "a mkdir guard 11 min old: the stale lock is taken over (claim %d: %s)", rc, h.state);
    job_lock_release(dir);
    EXPECT(rmdir(guard_dir) == 0, "rmdir %s", guard_dir);
}

/* NFS: link() made the lock on the server, its answer was lost and the client's retry failed with EEXIST, on a lock
 * that is this claim's own temporary file. Here the temporary file is linked as the lock beforehand, as the lost
 * first try left it: the claim must hold the lock, not skip the job as held by a live process (itself). */
static void test_link_retried_on_nfs(void) {
    char dir[700], lock[760], tmp[1100];
    job_paths("job-nfs-retry", dir, lock);
    snprintf(tmp, sizeof tmp, "%s/.running.lock.%s.%ld", dir, dfer_host(), (long)getpid());
    Err err;
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    EXPECT(fs_write_atomic(tmp, "x", 1, &err) == 0, "%s", err.msg);
    EXPECT(link(tmp, lock) == 0, "link %s", lock);
    JobLockHolder h;
    int took = -1, live = -1;
    int rc = job_lock_claim(dir, 600, &h, &took, &err);
    EXPECT(rc == 1 && took == 0, "a lock that is the claim's own file is held (claim returned %d: %s)", rc, h.state);
    EXPECT(access(tmp, F_OK) != 0, "the temporary name is gone");
    EXPECT(job_lock_read(dir, 600, 0, &h, &live) == 1 && live && h.pid == (long)getpid(),
           "the lock names this process");
    job_lock_release(dir);
    EXPECT(access(lock, F_OK) != 0, "released: the lock is gone");
}

/* On NFS the server stamps the files (the heartbeat's utimensat to "now" is the server's now) and a node's clock may
 * be off the server's: a claim judges another host's silence by the file system's clock, not its own. */
static void test_clock_off_the_file_system(void) {
    char dir[700];
    snprintf(dir, sizeof dir, "%s/job-clock", test_tmpdir());
    JobLockHolder h;
    int took = -1;
    Err err;
    job_lock_set_clock_offset(15 * 60); /* this host's clock 15 minutes ahead */
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 60);
    int rc = job_lock_claim(dir, 600, &h, &took, &err);
    EXPECT(rc == 0 && h.pid == 4242,
           "a lock touched a minute ago is held, this host's clock 15 min ahead (claim %d: %s)", rc, h.state);
    job_lock_set_clock_offset(-15 * 60); /* 15 minutes behind */
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 20 * 60);
    rc = job_lock_claim(dir, 600, &h, &took, &err);
    EXPECT(rc == 1 && took == 1,
           "a lock silent for 20 min is taken over, this host's clock 15 min behind (claim %d: %s)", rc, h.state);
    job_lock_release(dir);
    job_lock_set_clock_offset(0);
}

/* dfer matrix --status on a login node whose clock is 20 min ahead of the file server's: a lock another host's run
 * touched 90 s ago (by the file system's clock, which stamps the files) is live, not "silent for 21 min". The
 * reader measures the file system's clock with a probe file, which it removes; one folder that takes no file gives
 * this host's clock. */
static void test_status_reads_the_fs_clock(void) {
    char dir[700], lock[760];
    job_paths("job-status-clock", dir, lock);
    JobLockHolder h;
    int live = -1;
    double ahead = 0;
    job_lock_set_clock_offset(20 * 60);
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 90);
    EXPECT(job_lock_fs_clock_ahead(dir, &ahead) == 1 && ahead > -20 * 60 - 5 && ahead < -20 * 60 + 5,
           "the file system's clock reads 20 min behind this host's (%.1f s)", ahead);
    EXPECT(count_entries(dir, ".clock-probe") == 0, "the probe file is removed");
    EXPECT(job_lock_read(dir, 600, ahead, &h, &live) == 1 && live &&
               !strcmp(h.state, "last heartbeat or write for 1 min"),
           "a lock touched 90 s ago by the file system's clock is live: live %d, %s", live, h.state);
    EXPECT(job_lock_read(dir, 600, 0, &h, &live) == 1 && !live, "by this host's clock it read as silent: %s", h.state);
    job_lock_set_clock_offset(-20 * 60); /* and a dead run's lock silent for 20 min is stale, the clock 20 min behind */
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 20 * 60);
    EXPECT(job_lock_fs_clock_ahead(dir, &ahead) == 1 && job_lock_read(dir, 600, ahead, &h, &live) == 1 && !live,
           "a lock silent for 20 min by the file system's clock is stale (%.0f s ahead): %s", ahead, h.state);
    char missing[760];
    snprintf(missing, sizeof missing, "%s/no-such-folder", test_tmpdir());
    ahead = 1;
    EXPECT(job_lock_fs_clock_ahead(missing, &ahead) == 0 && ahead == 0, "no folder to probe: this host's clock");
    job_lock_set_clock_offset(0);
}

/* The matrix for the --status tests: one job, finecliper-low__dfew__f1__tiny__s1, in RESULTS. */
static void status_matrix(const char *name, char ini[800], char results[800], char job_dir[900]) {
    char base[700];
    Err err;
    snprintf(base, sizeof base, "%s/%s", test_tmpdir(), name);
    snprintf(ini, 800, "%s/matrix.ini", base);
    snprintf(results, 800, "%s/results", base);
    snprintf(job_dir, 900, "%s/finecliper-low__dfew__f1__tiny__s1", results);
    char text[2048];
    int len = snprintf(text, sizeof text,
                       "[matrix]\nname = %s\nmethods = finecliper=%s/configs/synth/finecliper.ini\n"
                       "datasets = dfew=%s/data\nfolds = 1\nbackbones = tiny=%s/clip.safetensors\n",
                       name, test_source_dir(), base, base);
    EXPECT(fs_mkdirs(base, &err) == 0 && fs_write_atomic(ini, text, (size_t)len, &err) == 0, "%s", err.msg);
}

/* matrix_status's text (or JSON) into out. */
static void status_text(const char *ini, const char *results, int as_json, char *out, size_t n) {
    char *text = NULL;
    size_t len = 0;
    Err err = {{0}};
    FILE *f = open_memstream(&text, &len);
    EXPECT(f != NULL, "open_memstream");
    int rc = matrix_status(ini, results, as_json, f, &err);
    fclose(f);
    EXPECT(rc == 0, "matrix_status: %s", err.msg);
    snprintf(out, n, "%s", text ? text : "");
    free(text);
}

/* The same through dfer matrix --status: the job's lock shows "running on host node-elsewhere", by the file system's
 * clock, though this host's reads 20 min ahead; a results folder that takes no file (a read-only view: a read-only
 * bind mount where this test may make one) falls back to this host's clock and says so once. */
static void test_status_command_clock(void) {
    char ini[800], results[800], job_dir[900], out[8192];
    status_matrix("status-clock", ini, results, job_dir);
    write_lock(job_dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 90);
    set_mtime_ago(job_dir, 90);
    job_lock_set_clock_offset(20 * 60);
    status_text(ini, results, 0, out, sizeof out);
    EXPECT(strstr(out, "; running on host node-elsewhere, pid 4242") && strstr(out, "last written 90 s ago") &&
               !strstr(out, "note:"),
           "--status, this host's clock 20 min ahead: the lock is live, its folder written 90 s ago:\n%s", out);
    status_text(ini, results, 1, out, sizeof out);
    EXPECT(strstr(out, "\"live\":\ttrue") && strstr(out, "\"clock\":\t\"file system\""), "--status --json:\n%s", out);
    /* a read-only view of the results: in a child, a private mount namespace with the folder bound read-only */
    int fds[2];
    EXPECT(pipe(fds) == 0, "pipe");
    pid_t child = fork();
    EXPECT(child >= 0, "fork");
    if (child == 0) {
        close(fds[0]);
        int read_only = unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
                        mount(results, results, NULL, MS_BIND, NULL) == 0 &&
                        mount(NULL, results, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0;
        if (!read_only && geteuid() != 0) read_only = chmod(results, 0555) == 0; /* root writes there regardless */
        if (!read_only) _exit(77);
        status_text(ini, results, 0, out, sizeof out);
        size_t len = strlen(out);
        _exit(write(fds[1], out, len) == (ssize_t)len ? 0 : 2);
    }
    close(fds[1]);
    memset(out, 0, sizeof out);
    size_t got = 0;
    for (ssize_t r; got < sizeof out - 1 && (r = read(fds[0], out + got, sizeof out - 1 - got)) > 0;) got += (size_t)r;
    close(fds[0]);
    int status = 0;
    EXPECT(waitpid(child, &status, 0) == child && WIFEXITED(status), "the read-only child");
    EXPECT(chmod(results, 0755) == 0, "chmod %s", results);
    if (WEXITSTATUS(status) == 77) {
        printf("  (no read-only view of the results here: its fallback is not checked)\n");
    } else {
        const char *note = strstr(out, "note: ");
        EXPECT(WEXITSTATUS(status) == 0 && note && strstr(note, "takes no file") && !strstr(note + 1, "note: ") &&
                   strstr(out, "stale lock of host node-elsewhere"),
               "a read-only results folder: this host's clock, said once:\n%s", out);
    }
    job_lock_set_clock_offset(0);
}

/* Points the mount table reader at a fixture (DFER_MOUNTINFO) that puts this test's folder on an NFS mount whose
 * super options end with LOCAL_LOCK ("local_lock=all": mounted nolock; "local_lock=none": lockd). NFS cannot be
 * mounted here, and an OFD lock taken on a nolock mount succeeds as on a local disk. */
static void fake_nfs_mount(const char *local_lock) {
    char real[4096], fixture[4200], text[9000];
    Err err;
    EXPECT(realpath(test_tmpdir(), real) != NULL && !strchr(real, ' '), "realpath %s (no space)", test_tmpdir());
    snprintf(fixture, sizeof fixture, "%s/mountinfo.%s", real, local_lock);
    int len = snprintf(text, sizeof text,
                       "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
                       "41 22 0:46 / %s rw,relatime shared:21 - nfs fileserver:/export rw,vers=3,hard,proto=tcp,%s,"
                       "addr=10.0.0.2\n",
                       real, local_lock);
    EXPECT(fs_write_atomic(fixture, text, (size_t)len, &err) == 0, "%s", err.msg);
    EXPECT(setenv("DFER_MOUNTINFO", fixture, 1) == 0, "setenv");
}

/* Which guard a takeover in DIR enters, seen from outside while a child claim is paused inside it: 'm' the mkdir guard
 * (DIR/.takeover made), 'o' the OFD lock on DIR/.takeover.lock, '-' neither seen in 5 s. The child's claim must take
 * the stale lock over (its exit status). */
static char guard_seen_during_takeover(const char *dir) {
    char guard_dir[800], guard_file[800];
    snprintf(guard_dir, sizeof guard_dir, "%s/.takeover", dir);
    snprintf(guard_file, sizeof guard_file, "%s/.takeover.lock", dir);
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 20 * 60);
    pid_t child = fork();
    EXPECT(child >= 0, "fork");
    if (child == 0) {
        JobLockHolder h;
        int took = 0;
        Err err;
        job_lock_set_guard_pauses(0, 1.0);
        int rc = job_lock_claim(dir, 600, &h, &took, &err);
        _exit(rc == 1 && took ? 0 : 1);
    }
    char seen = '-';
    for (int polls = 0; polls < 500 && seen == '-'; polls++, sleep_s(0.01)) {
        int fd = open(guard_file, O_RDWR | O_CLOEXEC);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fd >= 0 && fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) seen = 'o';
        if (fd >= 0) close(fd);
        if (access(guard_dir, F_OK) == 0) seen = seen == 'o' ? 'b' : 'm';
    }
    int status = 0;
    EXPECT(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "the child took the stale lock over (status %d)", status);
    return seen;
}

/* An NFS mount made with -o nolock (local_lock=all) keeps POSIX and OFD locks on each host: two nodes would both hold
 * "the" OFD guard. A takeover there enters the mkdir guard, and --status says so and why; an NFS mount with its lock
 * manager (local_lock=none) keeps the OFD lock, which leaves nothing behind when its holder dies. */
static void test_nfs_local_locks_use_mkdir_guard(void) {
    char dir[700], lock[760], ini[800], results[800], job_dir[900], out[8192];
    fake_nfs_mount("local_lock=all");
    job_paths("job-nfs-nolock", dir, lock);
    char seen = guard_seen_during_takeover(dir);
    EXPECT(seen == 'm', "NFS with local_lock=all: the takeover is guarded by mkdir DIR/.takeover (seen '%c')", seen);
    Err err;
    status_matrix("status-nfs-nolock", ini, results, job_dir);
    EXPECT(fs_mkdirs(results, &err) == 0, "%s", err.msg);
    status_text(ini, results, 1, out, sizeof out);
    EXPECT(strstr(out, "\"takeover_guard\":\t\"mkdir\"") && strstr(out, "local_lock=all"), "--status --json:\n%s", out);
    status_text(ini, results, 0, out, sizeof out);
    EXPECT(strstr(out, "note: stale job locks are taken over under the mkdir guard") && strstr(out, "local_lock=all"),
           "--status says which guard and why:\n%s", out);
    fake_nfs_mount("local_lock=none");
    job_paths("job-nfs-lockd", dir, lock);
    seen = guard_seen_during_takeover(dir);
    EXPECT(seen == 'o', "NFS with its lock manager: the takeover is guarded by the OFD lock (seen '%c')", seen);
    status_text(ini, results, 1, out, sizeof out);
    EXPECT(strstr(out, "\"takeover_guard\":\t\"OFD lock\"") && !strstr(out, "takeover_guard_why"),
           "--status --json:\n%s", out);
    unsetenv("DFER_MOUNTINFO");
}

/* A file system that refuses OFD locks (Lustre mounted without -o flock; its mount options do not say so): this test
 * binary's fcntl answers ENOLCK to every OFD lock request while refuse_ofd_locks is set, and calls the C library's
 * otherwise (dfer's objects are linked into this binary, so their fcntl is this one). */
static int refuse_ofd_locks;
int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *); /* an int or a pointer: passed on as the register holds it */
    va_end(ap);
    if (refuse_ofd_locks && (cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW || cmd == F_OFD_GETLK)) {
        errno = ENOLCK;
        return -1;
    }
    static int (*libc_fcntl)(int, int, ...);
    if (!libc_fcntl) *(void **)&libc_fcntl = dlsym(RTLD_NEXT, "fcntl");
    return libc_fcntl(fd, cmd, arg);
}

/* There a takeover enters the mkdir guard, and --status says so and why; before, --status said "OFD lock" from the
 * mount's options while every takeover fell back to the mkdir guard. */
static void test_ofd_refused_uses_mkdir_guard(void) {
    char dir[700], lock[760], ini[800], results[800], job_dir[900], out[8192];
    Err err;
    refuse_ofd_locks = 1;
    job_paths("job-ofd-refused", dir, lock);
    char seen = guard_seen_during_takeover(dir);
    EXPECT(seen == 'm', "OFD locks refused: the takeover is guarded by mkdir DIR/.takeover (seen '%c')", seen);
    status_matrix("status-ofd-refused", ini, results, job_dir);
    EXPECT(fs_mkdirs(results, &err) == 0, "%s", err.msg);
    status_text(ini, results, 1, out, sizeof out);
    EXPECT(strstr(out, "\"takeover_guard\":\t\"mkdir\"") && strstr(out, "refuses OFD locks"), "--status --json:\n%s",
           out);
    refuse_ofd_locks = 0;
    status_text(ini, results, 1, out, sizeof out);
    EXPECT(strstr(out, "\"takeover_guard\":\t\"OFD lock\""), "OFD locks kept: --status --json:\n%s", out);
}

/* A live holder whose lock another run took over (it was silent past the stale time) learns it: from its heartbeat
 * (a flag read) and from a read of the lock (verify), with who took it; a lock gone is lost too; the heartbeat does
 * not touch the other run's lock, and release leaves it. A folder whose lock this process does not hold is never
 * lost. */
static void test_lost_lock(void) {
    char dir[700], lock[760];
    job_paths("job-lost", dir, lock);
    job_lock_set_heartbeat(0.2);
    JobLockHolder h;
    JobLockLoss loss;
    int took = -1;
    Err err;
    EXPECT(job_lock_claim(dir, 600, &h, &took, &err) == 1, "claimed");
    EXPECT(!job_lock_lost(dir, 0, NULL) && !job_lock_lost(dir, 1, NULL), "held: not lost");
    EXPECT(!job_lock_lost(test_tmpdir(), 1, NULL), "a folder whose lock is not held here is not lost");
    write_lock(dir, "{\"host\": \"node-elsewhere\", \"pid\": 4242}", 3600); /* the taker's, backdated: never touched */
    sleep_s(0.7);
    memset(&loss, 0, sizeof loss);
    EXPECT(job_lock_lost(dir, 0, &loss) == 1 && loss.taker_known && !strcmp(loss.taker.host, "node-elsewhere") &&
               loss.taker.pid == 4242 && loss.silent_s >= 0 && loss.silent_s < 60,
           "the heartbeat found the lock taken over: %s pid %ld, silent %.1f s", loss.taker.host, loss.taker.pid,
           loss.silent_s);
    EXPECT(age_of(lock) > 3000, "the heartbeat does not touch the other run's lock (its age %.0f s)", age_of(lock));
    job_lock_release(dir);
    EXPECT(access(lock, F_OK) == 0, "release leaves the other run's lock");
    /* checked before a write, before the heartbeat has looked: the lock gone (the taker ended the job) */
    job_lock_set_heartbeat(3600);
    unlink(lock);
    EXPECT(job_lock_claim(dir, 600, &h, &took, &err) == 1, "claimed again");
    EXPECT(!job_lock_lost(dir, 0, NULL), "a new claim starts unlost");
    unlink(lock);
    EXPECT(!job_lock_lost(dir, 0, NULL), "the heartbeat has not looked yet");
    memset(&loss, 0, sizeof loss);
    EXPECT(job_lock_lost(dir, 1, &loss) == 1 && !loss.taker_known, "read before a write: the lock is gone");
    EXPECT(job_lock_lost(dir, 0, NULL) == 1, "and the flag says so from then on");
    job_lock_release(dir);
    job_lock_set_heartbeat(JOB_LOCK_HEARTBEAT_S);
}

int main(void) {
    TEST_RUN(test_heartbeat);
    TEST_RUN(test_lost_lock);
    TEST_RUN(test_other_host);
    TEST_RUN(test_takeover_race);
    TEST_RUN(test_guard_holder_killed);
    TEST_RUN(test_stale_mkdir_guard_race);
    TEST_RUN(test_nfs_local_locks_use_mkdir_guard);
    TEST_RUN(test_ofd_refused_uses_mkdir_guard);
    TEST_RUN(test_old_mkdir_guard_respected);
    TEST_RUN(test_link_retried_on_nfs);
    TEST_RUN(test_clock_off_the_file_system);
    TEST_RUN(test_status_reads_the_fs_clock);
    TEST_RUN(test_status_command_clock);
    return test_summary();
}
