/* A training job's state, which its setup and end (trainer.c) and its epoch loop (trainer_epochs.c) share, and what
 * both use of the run folder: the log's lines and the group's look at the job lock. Defined in trainer.c, except
 * trainer_run_epochs (trainer_epochs.c). */
#ifndef DFER_TRAIN_TRAINER_RUN_H
#define DFER_TRAIN_TRAINER_RUN_H

#include <cJSON.h>

#include "core/timer.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "mpi/dist.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/input_feed.h"
#include "train/job_model.h"
#include "train/optim.h"
#include "train/trainer.h"

/* What a training job holds from its setup to its end: its phases share it (trainer.c sets it up and close_run frees
 * it; trainer_epochs.c trains the epochs). */
typedef struct TrainRun {
    const Config *cfg;
    const TrainOptions *opt;
    Group *g;
    int lead;                     /* rank 0: it alone writes the run's files and logs the progress */
    int contrastive;              /* the zero-shot objective (train.objective = contrastive) */
    Dataset train, test;
    JobModel jm;
    OptimizerConfig oc;
    ScheduleConfig sc;
    Optimizer optim;
    Loader *tl, *el;              /* the training and the evaluation loader */
    InputSlots slots;             /* device memory for prefetched batches, shared by the two feeds */
    InputFeed tf, ef;             /* the loaders' batches for the model (input_feed.h) */
    char landmarks[CFG_STR + 64]; /* the loaders' tracks directory, which must outlive them */
    Position pos;
    int resumed, fell_back;       /* resume_or_start: from a checkpoint; from the previous one (the last damaged) */
    int steps_run;                /* steps run in this call: what stop_after_steps and signal_after_steps count */
    double t_start;               /* when this call's first epoch began: the ETA and result.json's seconds */
    double seconds_before;        /* training seconds of earlier calls, up to the checkpoint this one resumed */
    int first_epoch, first_step;  /* the position this call began at (a resumed run's): the ETA counts from it */
    cJSON *inputs;                /* rank 0: the files this call read, with their digests (provenance.h) */
} TrainRun;

/* Training seconds up to now over every call of the run. */
static inline double run_seconds(const TrainRun *run) { return run->seconds_before + (time_now() - run->t_start); }

/* Appends a line to the run folder's file (metrics.jsonl). A lost log line does not stop a run of days; the first
 * failure is said. Rank 0. */
void run_append_line(const char *dir, const char *file, const char *line);

/* Whether another run of the matrix has taken over the job's lock (train/job_lock.h), rank 0 reading it and the group
 * taking its word: every rank leaves the job at the same point. Outside a matrix there is no lock, and never a loss. */
int lock_lost_agreed(Group *g, const char *out_dir);

/* The epochs from the run's position to train.epochs, each trained, then evaluated and checkpointed. Returns 0 when
 * the last one ended, else the status of the phase that stopped them: 2 (--stop-after), DFER_EXIT_INTERRUPTED,
 * TRAIN_LOCK_LOST or -1. In trainer_epochs.c. */
int trainer_run_epochs(TrainRun *run, Err *err);

#endif
