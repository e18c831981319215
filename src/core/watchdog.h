/* Hang detection for runs of days on shared clusters.
 *
 * A job whose ranks stop making progress (a rank that died or was stopped, a GPU or a network that no
 * longer answers, a file system that blocks a read) otherwise waits in its next collective until the
 * allocation's time limit and says nothing: days of GPU time on a cluster. The watchdog is a thread
 * beside the work. The work marks each phase as it enters it (waiting for the loader, forward and
 * backward, the gradient all-reduce, a checkpoint...); when no mark comes within the limit, the
 * watchdog writes which phase it waits in (rank, host, what is trained) on stderr and ends the process
 * with DFER_EXIT_HUNG. mpirun then ends the other ranks, and each rank of a Slurm step has its own
 * watchdog; the run resumes from its last checkpoint when started again (jobs/slurm/matrix.sbatch
 * requeues a few times on this status).
 *
 * The limit is max(floor, 10 x the longest gap between marks seen since the start): the floor
 * (train.hang_minutes) covers the first steps, and a run whose steps are slow by nature (the CPU backend
 * on L/14 takes minutes per step) raises its own limit. Only one watchdog runs per process. */
#ifndef DFER_CORE_WATCHDOG_H
#define DFER_CORE_WATCHDOG_H

/* Exit status of a process that the watchdog ended (a hang; resume from the checkpoint). */
#define DFER_EXIT_HUNG 4

/* How many times the longest gap between marks the limit grows to. */
#define WATCHDOG_GAP_FACTOR 10.0

/* Starts watching: floor_seconds <= 0 leaves it off (every other call is then a no-op). `what` names
 * the work in the message (e.g. "training into results/m/job"). A firing also appends one JSON line to
 * record_path when it is not NULL: {"type":"hang","time","rank","host","idle_s","limit_s","phase"}
 * (best effort: nothing is flushed to disk, and the process ends regardless). Both are copied. Returns 0,
 * or -1 when a watchdog already runs (a programming error: one per process). */
int watchdog_start(double floor_seconds, const char *what, const char *record_path);

/* Progress: the work enters the phase the format describes ("the gradient all-reduce of epoch 3 step
 * 17"). Called from the thread being watched; costs a clock read and a short format. */
void watchdog_mark(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The limit in force now (seconds; 0 when off): what test_watchdog checks. */
double watchdog_limit_seconds(void);

/* Stops watching and joins the thread (idempotent). */
void watchdog_stop(void);

#endif
