/* A job folder claimed by one run of its matrix: DIR/running.lock names the run (host, pid and
 * the process's start time, Slurm job and restart count) that trains the job now. Several runs
 * of the same matrix on the same results folder (two sbatch submissions, a second mpirun on
 * another node) then share the jobs instead of training one twice: each skips a job another
 * live run holds.
 *
 * While a run holds a lock, a thread of its process touches it every JOB_LOCK_HEARTBEAT_S, whatever
 * the training does (a long evaluation writes nothing else for minutes).
 *
 * A lock is stale, and the next run takes it over, when
 *   - it names this host and its process is gone (or the pid now belongs to a newer process);
 *   - it names this Slurm job with another restart count (a requeued job's earlier incarnation);
 *   - it names another Slurm job that Slurm says has ended (squeue; a job that Slurm says is still
 *     there, pending, running or suspended, holds its locks however long it is silent);
 *   - otherwise, it names another host and neither it nor the job's metrics.jsonl or checkpoint was
 *     written for stale_after_s (missed heartbeats: the holder's node failed, or it was killed), by the
 *     file system's clock (the NFS server stamps the files; this host's clock may be off the server's).
 * A holder that was silent that long while alive (its node frozen, its file system stalled) finds, when it wakes,
 * its lock naming the run that took the job over (or gone): its heartbeat stops touching it and records the loss,
 * which the trainer reads before each write into the folder (job_lock_lost) and leaves the job to that run.
 * Creation is atomic (link of a complete temporary file). A takeover renames over the stale lock
 * under a guard after checking the lock still holds the bytes it judged stale, and reads it back: of
 * several runs taking over one stale lock, one goes on, the others see its lock. The guard is an
 * exclusive OFD lock (fcntl) on DIR/.takeover.lock, which the kernel or NFS's lock manager drops when
 * its holder dies; where the file system keeps no such locks, or keeps them on each host alone (NFS
 * mounted nolock or local_lock=all|posix: /proc/self/mountinfo), a directory DIR/.takeover made with
 * mkdir, which one left by a run that died inside it (10 minutes old) is moved away and checked to be
 * the very one judged old before it is removed (a plain rmdir could remove another run's fresh one).
 * The OFD lock's holder backs off from a DIR/.takeover younger than that too: a run that knows only the
 * mkdir guard (an older build, a node mounting the results nolock) is inside it. */
#ifndef DFER_TRAIN_JOB_LOCK_H
#define DFER_TRAIN_JOB_LOCK_H

#include "core/check.h"

typedef struct JobLockHolder {
    char host[256];
    long pid;
    long long pid_start;  /* the process's start time in clock ticks after boot (/proc/PID/stat) */
    char slurm_job[64];   /* "" outside Slurm */
    int slurm_restart;
    double since_unix;
    char state[128];      /* why the lock counts as held or stale, for the logs and --status ("process gone",
                           * "Slurm job 123 has ended", "no heartbeat for 14 min") */
} JobLockHolder;

enum { JOB_LOCK_HEARTBEAT_S = 60 };
/* Tests only: the heartbeat's period in seconds (default JOB_LOCK_HEARTBEAT_S). */
void job_lock_set_heartbeat(double seconds);
/* Tests only: a pause between judging a lock stale and taking it over (default 0), to race two claims. */
void job_lock_set_takeover_pause(double seconds);
/* Tests only: this host's clock reads SECONDS ahead of the file system's (default 0), as a node's clock off the
 * NFS server's: a claim judges another host's silence by the file system's clock. */
void job_lock_set_clock_offset(double seconds);
/* Tests only: the takeover guard (see take_over in job_lock.c): JOB_LOCK_GUARD_AUTO, an OFD lock on DIR/.takeover.lock
 * where the file system keeps them for all its hosts, else the mkdir guard DIR/.takeover; JOB_LOCK_GUARD_MKDIR, the
 * fallback forced. */
enum { JOB_LOCK_GUARD_AUTO, JOB_LOCK_GUARD_MKDIR, JOB_LOCK_GUARD_OFD };
void job_lock_set_takeover_guard(int kind);
/* The guard a takeover of a stale lock in FOLDER (a results or job folder, made or not) enters first, for --status and
 * the log: JOB_LOCK_GUARD_OFD, or JOB_LOCK_GUARD_MKDIR where OFD locks would not exclude other hosts (*why, n bytes,
 * says so: an NFS mount with nolock or local_lock=all|posix, which keeps POSIX locks on the host that takes them), or
 * -1 (err: the mount table unreadable). A file system that refuses OFD locks outright is found at the lock itself, and
 * the takeover falls back to the mkdir guard then. */
int job_lock_takeover_guard(const char *folder, char *why, size_t n, Err *err);
/* Tests only: pauses (default 0) between judging an old mkdir guard stale and removing it, and inside the guard between
 * checking the stale lock and renaming over it, to race two claims through the guard. */
void job_lock_set_guard_pauses(double before_guard_removal_s, double inside_guard_s);

/* 1: this process now holds DIR's lock (*took_over_stale: whether it replaced a stale one, whose
 * holder *holder then names); 0: a live run holds it (*holder says which); -1: the lock could not
 * be written (err). Creates DIR. */
int job_lock_claim(const char *dir, double stale_after_s, JobLockHolder *holder, int *took_over_stale, Err *err);
/* What a run that lost its lock knows of it (job_lock_lost). */
typedef struct JobLockLoss {
    int taker_known;     /* 1: the lock names the run that took it over (taker); 0: the lock is gone (that run ended
                          * the job, or someone deleted the lock) */
    JobLockHolder taker;
    double silent_s;     /* seconds between this process's last look at its lock that found it its own and the look
                          * that did not: how long it was silent, at least */
} JobLockLoss;

/* 1 when this process claimed DIR's lock and has lost it since: another run took it over as stale (or it is gone).
 * verify = 0: what the heartbeat found, an atomic flag read (cheap enough for every training step); verify = 1: the
 * lock is read now as well (before a write into DIR: the heartbeat may not have looked since this process woke). *loss
 * (may be NULL) then says who took it. 0 while the lock is this process's, and for a DIR whose lock it does not hold
 * (a run outside a matrix has none). DIR NULL: the lock this process holds, whichever folder's. While a lock is held,
 * every atomic write and line append into its folder looks too, just before the file goes into place (core/fsutil.h's
 * write guard), and is refused once the lock is lost. */
int job_lock_lost(const char *dir, int verify, JobLockLoss *loss);
/* Removes DIR's lock if this process holds it, and stops its heartbeat (also of a lock lost to another run). */
void job_lock_release(const char *dir);
/* For a reader that claims nothing (dfer matrix --status, maybe on a login node whose clock is off the file server's):
 * the seconds the clock of the file system holding FOLDER reads ahead of this host's, *ahead_s, from a probe file
 * written there (mkstemp), its time read and the file removed. 1 measured; 0 FOLDER takes no file (a read-only view,
 * or no such folder): *ahead_s = 0, this host's clock, which the caller should say it used. */
int job_lock_fs_clock_ahead(const char *folder, double *ahead_s);
/* The file system's time now: this host's clock plus fs_ahead_s (job_lock_fs_clock_ahead). */
double job_lock_clock_now(double fs_ahead_s);
/* 1 when DIR has a lock (*holder, *live: whether it counts as held now), 0 when it has none. Another host's silence is
 * judged by the file system's clock: this host's plus fs_ahead_s (job_lock_fs_clock_ahead; 0: this host's). */
int job_lock_read(const char *dir, double stale_after_s, double fs_ahead_s, JobLockHolder *holder, int *live);

#endif
