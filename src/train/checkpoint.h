/* A training run's parameter files: the checkpoint a resume continues from (parameters, optimiser state,
 * position; atomic) and the trainable parameters alone (best_model.safetensors, model.safetensors). Rank 0
 * writes them; every rank reads the checkpoint. */
#ifndef DFER_TRAIN_CHECKPOINT_H
#define DFER_TRAIN_CHECKPOINT_H

#include "io/tensormap.h"
#include "mpi/dist.h"
#include "train/job_model.h"
#include "train/metrics.h"
#include "train/optim.h"

typedef struct Position {
    int epoch, step;          /* the next step to run */
    int opt_steps;            /* optimiser updates so far */
    double best_war, best_uar;
    int best_epoch;
    Scores best, last;
    int has_best, has_last;
    Confusion best_cm, last_cm;
    /* metrics.jsonl's length when the checkpoint was written; -1 unknown (an older checkpoint) */
    long long metrics_bytes;
    double window_loss;       /* the summed loss of the logging window's steps before a checkpoint inside it */
    int window_steps;         /* how many (0 at an epoch's end) */
    char inputs[2048];        /* the digests of the files the run reads (run_inputs_digests), "" unknown */
    double seconds;           /* training seconds up to this position, over every call of a resumed run (0 in
                               * checkpoints older than it) */
} Position;

/* Writes jm's trainable parameters to the safetensors file path (downloaded a piece at a time: no host copy of the
 * whole). */
int save_params(const JobModel *jm, const char *path, Err *err);
/* Writes dir/checkpoint.safetensors: parameters, optimiser state, confusion matrices and pos with the log's length. */
int save_checkpoint(const char *dir, const JobModel *jm, const Optimizer *opt, const Position *pos, Err *err);
/* save_checkpoint keeps the checkpoint before the newest one under this name (a hard link), for a resume that finds
 * the newest damaged; a resume that used it moves the damaged one aside under CHECKPOINT_DAMAGED. */
#define CHECKPOINT_PREVIOUS "checkpoint.previous.safetensors"
#define CHECKPOINT_DAMAGED "checkpoint.damaged.safetensors"
/* Reads dir/checkpoint.safetensors back into jm, opt and pos; when it is damaged (its digest, its structure, cut
 * short) or missing beside a previous one, the previous checkpoint, and fell_back says why the newest was not used
 * (else ""). Any other failure (a file that does not fit the model, one that cannot be mapped now) is returned as
 * it is. -1 with a message when neither is usable (the newest one's reason first). */
int load_checkpoint(const char *dir, JobModel *jm, Optimizer *opt, Position *pos, char *fell_back, size_t fell_back_n,
                    Err *err);
/* After a group resumed from the previous checkpoint (every rank has read it): the damaged newest one moved aside,
 * the previous one in its place. Rank 0. */
void checkpoint_promote_previous(const char *dir);
/* Whether dir holds a checkpoint a resume would go on from: the newest, or the one before it. */
int checkpoint_exists(const char *dir);
/* After every rank of g read dir's checkpoint itself (resumed: there was one to read, 2 when load_checkpoint fell back
 * to the previous one, fell_back its reason; loaded: load_checkpoint's result
 * here, err holding its message): 0 when all read one, and the same position. They must: a rank that failed alone
 * would leave the others waiting in the first step's collective until the hang watchdog, and a node whose view of a
 * network file system lags would resume from an older checkpoint, the ranks training apart silently. Otherwise -1
 * on every rank, naming the positions or the failing rank. A collective of g. */
int checkpoint_agreed(Group *g, const char *dir, int resumed, int loaded, const Position *p, const char *fell_back,
                      Err *err);

#endif
