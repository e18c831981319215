/* Training and evaluation of one job: a model (FineCLIPER or DFER-CLIP) on one
 * dataset split, data-parallel over a group of ranks.
 *
 * Per step every rank of the group runs forward and backward on its slot of
 * the global batch, gradients (each scaled by 1/global batch) are summed over
 * the group, and every rank applies the same update, so the parameters stay
 * identical everywhere. After each epoch the test split is evaluated (sharded;
 * confusion matrices summed). The run directory receives config.ini,
 * metrics.jsonl (a line per logged step and per evaluation), predictions.csv (every test clip's class
 * probabilities from the last evaluation), checkpoint.safetensors
 * (parameters, optimiser state, position; atomic), model.safetensors (the final
 * trainable parameters), result.json, and hangs.jsonl when a rank ended on a hang. With resume, a run continues from
 * its checkpoint and ends with the parameters an uninterrupted run would have. */
#ifndef DFER_TRAIN_TRAINER_H
#define DFER_TRAIN_TRAINER_H

#include "mpi/dist.h"
#include "train/config.h"

typedef struct TrainOptions {
    const char *out_dir;
    int resume;
    int stop_after_steps;       /* > 0: stop (after checkpointing) once this many steps ran in this call: tests */
    int checkpoint_every_steps; /* 0: at the end of every epoch only */
    int signal_after_steps;     /* > 0: raise SIGUSR1 once this many steps ran in this call: tests of preemption */
    int fail_alone_after_steps; /* > 0: group rank fail_alone_rank fails by itself once this many steps ran in this */
    int fail_alone_rank;        /* call, the others left in the step's collectives: tests of the matrix's recovery */
    const char *command;        /* recorded in result.json */
    /* extra identity fields (method, dataset, fold, ...) merged into result.json, or NULL */
    const char *job_json;
    const char *eval_dataset, *eval_root; /* zero-shot transfer: evaluate on this dataset's test split (NULL: the
                                           * training dataset's) */
    int allow_config_change;    /* resume although the configuration changes what is trained */
} TrainOptions;

/* train_run's status when another run of the matrix took over the job's lock (train/job_lock.h: this run was silent
 * longer than matrix.stale_lock_minutes): the group left the job at the same point, writing nothing more into its
 * folder, which is the other run's now. */
enum { TRAIN_LOCK_LOST = 4 };

/* Trains (or resumes) a job. Returns 0 when finished, 2 when stopped early by
 * stop_after_steps, DFER_EXIT_INTERRUPTED (core/stop.h) when stopped by a signal
 * after checkpointing, TRAIN_LOCK_LOST, -1 with a message on failure. All ranks of g must call it. */
int train_run(const Config *cfg, const TrainOptions *opt, Group *g, Err *err);
/* Whether out_dir holds a finished run: its result.json says "status": "done" (a failed job's says "failed"). */
int train_run_finished(const char *out_dir);
/* What a job reads, checked before it runs (`dfer matrix --check`), without loading weights or decoding a
 * clip: the split files (and eval_dataset's test split, zero-shot), the weights' header and architecture,
 * the vocabulary and the prompts it tokenizes, the descriptions of every clip (high level; captions,
 * zero-shot) and the middle level's landmark tracks or parsing maps of every clip; -1 (err) when one stops it.
 * Then, for a job that may run on a GPU (train.device cuda or auto, in a build with CUDA), whether its `ranks`
 * ranks fit train.gpu_mem (the planner, as its start plans): 1 (err says what it needs against the cap) when even
 * one clip a pass does not, or train.micro_batch's passes do not. 0: it would start. */
int train_preflight(const Config *cfg, const char *eval_dataset, const char *eval_root, int ranks, Err *err);
/* The collectives of a run on cfg's device: on CUDA this process's GPU is selected (one per
 * local rank) and the group uses NCCL; on the CPU, MPI. */
int train_collectives(const Config *cfg, const Dist *d, CollBackend *backend, Err *err);

/* Evaluates the trainable parameters of a run directory on the test split
 * (eval_root overrides the dataset root: zero-shot transfer). run_cfg: the run's
 * configuration as job_run_config read it; best: its best_model.safetensors
 * (job_run_params_path). Prints UAR/WAR; with predictions_path
 * (NULL: none) rank 0 writes every clip's class probabilities there as CSV. */
int eval_run(const char *run_dir, const Config *run_cfg, const char *eval_dataset, const char *eval_root, int best,
             const char *predictions_path, Group *g, Err *err);

#endif
