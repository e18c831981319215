/* Hang detection for runs of days on shared clusters.
 *
 * A job whose ranks stop making progress (a rank that died or was stopped, a GPU or a network that no
 * longer answers, a file system that blocks a read) otherwise waits in its next collective until the
 * allocation's time limit and says nothing: days of GPU time on a cluster. The watchdog is a thread
 * beside the work. The work marks each phase as it enters it (waiting for the loader, forward and
 * backward, the gradient all-reduce, a checkpoint...); when no mark comes within the limit, the
 * watchdog writes which phase it waits in (rank, host, what is trained) on stderr and ends the process
 * with DFER_EXIT_HUNG. mpirun then ends the other ranks, and each rank of a Slurm step has its own
 * watchdog; the run resumes from its last checkpoint when started again (jobs/slurm/dfer.sbatch
 * requeues a few times on this status). A firing also appends its record to the file $DFER_HANG_MARKER
 * names, where set: the batch scripts requeue on it, since srun's status is not 4 when it had to kill a
 * rank that never ended (a stopped or unkillable one).
 *
 * The limit is max(floor, 10 x the longest gap between two marks of one slot seen since the start): the
 * floor (train.hang_minutes) covers the first steps, and a run whose steps are slow by nature (the CPU
 * backend on L/14 takes minutes per step) raises its own limit. Only one watchdog runs per process. */
#ifndef DFER_CORE_WATCHDOG_H
#define DFER_CORE_WATCHDOG_H

/* Exit status of a process that the watchdog ended (a hang; resume from the checkpoint). */
#define DFER_EXIT_HUNG 4

/* How many times the longest gap between marks the limit grows to. */
#define WATCHDOG_GAP_FACTOR 10.0

/* A process stopped with SIGSTOP (Ctrl-Z; Slurm suspending a job) has not hung: time in which the
 * watching thread, which wakes at least once a second, did not run for longer than its tick and this
 * slack (seconds) is left out of the waits and the gaps. */
#define WATCHDOG_PAUSE_SLACK 1.0

/* What is watched, and what the message tells the user. */
typedef struct WatchdogSpec {
    double floor_seconds;        /* <= 0: off (every other call is then a no-op) */
    const char *what;            /* the work, in the message: "training finecliper into results/m/job" */
    const char *record_path;     /* a firing appends one JSON line here (NULL: none):
                                  * {"type":"hang","time","rank","host","idle_s","limit_s","phase"[,"item"]}
                                  * (best effort: nothing is flushed to disk, and the process ends regardless) */
    const char *limit_setting;   /* how the user raises the floor: "train.hang_minutes" (NULL: that) */
    const char *gap_name;        /* what the longest gap is between: "two steps of this run" (NULL: that) */
    const char *how_to_continue; /* after "status 4 so that ...; ": "the same command (...) continues from the last
                                  * checkpoint" (NULL: that, for dfer train and dfer matrix) */
} WatchdogSpec;

/* Starts watching; every string is copied. Returns 0, or -1 when a watchdog already runs (a programming
 * error: one per process). */
int watchdog_start(const WatchdogSpec *spec);

/* Progress: the work enters the phase the format describes ("the gradient all-reduce of epoch 3 step
 * 17"). Called from the thread that started the watchdog (slot 0); costs a clock read and a short format. */
void watchdog_mark(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Several threads watched at once (dfer prep's workers, each on its own clip): slot 1..WATCHDOG_SLOTS-1
 * belongs to one thread, which marks it as it enters each unit of its work; item (or NULL) is the unit's
 * key for machines (a clip id), recorded as "item" when the watchdog fires on this slot. A slot is
 * watched from its first mark until watchdog_rest_slot; the watchdog fires on the slot that has waited
 * longest, so one stuck worker is found while the others go on marking theirs. Slot 0 is
 * watchdog_mark's. */
#define WATCHDOG_SLOTS 257
void watchdog_mark_slot(int slot, const char *item, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The slot's thread has no more work (or waits, by design, for something the watchdog must not time). */
void watchdog_rest_slot(int slot);

/* The limit in force now (seconds; 0 when off): what test_watchdog checks. */
double watchdog_limit_seconds(void);

/* Stops watching and joins the thread (idempotent). */
void watchdog_stop(void);

#endif
