/* Stop requests by signal, for runs on shared clusters: Slurm sends SIGUSR1
 * (sbatch --signal=USR1@SECONDS) before a job's time limit, SIGTERM when it
 * preempts or cancels it; a user presses Ctrl-C. The first such signal only
 * sets a flag: training finishes its step, the ranks of a group agree, write
 * a checkpoint and exit with DFER_EXIT_INTERRUPTED, so the run resumes where it
 * stopped. A second Ctrl-C ends the process at once; a second SIGTERM or SIGUSR1
 * changes nothing (one signal may arrive twice, from a launcher and from its group). */
#ifndef DFER_CORE_STOP_H
#define DFER_CORE_STOP_H

/* Exit status of a run that stopped on a signal after checkpointing (resume it). */
#define DFER_EXIT_INTERRUPTED 3

/* Installs the handlers for SIGUSR1, SIGTERM and SIGINT (idempotent). */
void stop_signals_install(void);
/* The signal number received, or 0. */
int stop_requested(void);

#endif
