/* What training (trainer.c), evaluation (evaluate.c) and the checkpoint (checkpoint.c) share inside
 * src/train: the run folder's paths, the splits, the loaders and a batch's model inputs. Defined in
 * trainer.c (the run), trainer_shared.c (splits, loaders, the memory plan line) and trainer_result.c (result.json),
 * except evaluate (evaluate.c). */
#ifndef DFER_TRAIN_TRAINER_INTERNAL_H
#define DFER_TRAIN_TRAINER_INTERNAL_H

#include <stddef.h>

#include <cJSON.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "mpi/dist.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/input_feed.h"
#include "train/job_model.h"
#include "train/metrics.h"
#include "train/plan.h"
#include "train/trainer.h"

/* buf[n] = dir/name: a file of the run folder dir. */
void run_file_path(char *buf, size_t n, const char *dir, const char *name);

/* The split of cfg's dataset: a "list" dataset's list file (train_list, test_list), else the official split of
 * cfg->root and cfg->fold. */
int trainer_open_split(const Config *cfg, Split split, Dataset *d, Err *err);
/* The split a run is evaluated on: without eval_dataset its own test split (folds must be empty); with it, that
 * dataset's at eval_root (zero-shot transfer): the test splits of folds[n_folds] opened together, each clip's part
 * its fold's (scored apart: train/metrics.h), or with one fold or none one split (data.fold's where the target has
 * folds, else fold 1). */
int trainer_open_eval_split(const Config *cfg, const char *eval_dataset, const char *eval_root, const int *folds,
                            int n_folds, Dataset *test, Err *err);

/* The loader of a run: training (global batch train.batch, augmentation) or evaluation (train.eval_batch,
 * rounded down to a multiple of the ranks, at least one clip per rank), the method's normalisation, and
 * what the model's middle level needs; the tracks directory defaults to `dfer prep`'s output beside the
 * dataset (written into landmarks[n], which must outlive the loader). With data.uint8_frames the loader
 * writes uint8 pixels and the model normalises them on the device (the same mean/std). On CUDA the batch
 * buffers are page-locked: the input feed copies a batch to the device on the copy stream while the batch
 * before it computes (input_feed.h), or, with data.device_prefetch = off, the model's uploads from them are
 * asynchronous DMAs on the compute stream, which the step's download of its loss or logits waits for before
 * the next loader_next may overwrite the buffer. The loader must be destroyed before the model (its context
 * frees them). */
/* The classes a model evaluated on cfg's test split (test_classes of them) outputs: for a list whose data.classes is
 * 0, its training list's count when larger (a test list without labels of 7 or more, of an 11-class run). */
int trainer_list_classes(const Config *cfg, int test_classes, int *classes, Err *err);
LoaderConfig trainer_loader_config(const Config *cfg, const JobModel *jm, const Group *g, int train, char *landmarks,
                               size_t n);

/* The middle level's folders: the landmark tracks' into landmarks (n bytes; data.landmarks, else the dataset's
 * dfer_prep/landmarks); returns the parsing maps' (data.parsing) or NULL when the maps are drawn from the tracks. */
const char *trainer_mid_dirs(const Config *cfg, char *landmarks, size_t n);

/* Rank 0 alone writes the run's files. rc: its result (0 on the other ranks). A failure there (a full
 * disk) must end the job on every rank of the group, not leave the others waiting in the next
 * collective: every rank returns -1 then, the others with rank 0's reason (group_all_ok_why); or TRAIN_LOCK_LOST where
 * the job lock's write guard refused the write (another run took the job over). In trainer_shared.c. */
int lead_write_agreed(Group *g, int rc, const char *what, Err *err);

/* An evaluation's scores as JSON: epoch, UAR, WAR, per-class recall, the confusion matrix and, for several folds'
 * test splits, each fold's. In trainer_result.c. */
cJSON *trainer_scores_json(const Scores *s, const Confusion *cm, int epoch);
/* Rank 0 writes DIR/result.json of a finished run (atomically): the matrix job's identity (opt->job_json), the best
 * and last epochs' scores, the backbone, parameters, times (seconds: over every call of the run; this_call: this
 * call's), commit, backend, host and the inputs' digests. In trainer_result.c. */
int trainer_write_result(const Config *cfg, const TrainOptions *opt, const JobModel *jm, const Position *pos,
                         const cJSON *inputs, double seconds, double this_call, Err *err);

/* Rank 0 logs the memory plan of a pass ("step", "evaluation batch") when the plan chose a micro-batch. */
void trainer_log_memory_plan(const MemoryPlan *p, const Group *g, const char *pass);

/* One pass over the test split, from its feed (input_feed.h); phase names it in the watchdog's marks ("evaluation after
 * epoch 3"). cm and *loss_out are the group's sums; pred (NULL: not wanted) every clip's class probabilities, on every
 * rank (clip_predictions_free it). In evaluate.c. */
int trainer_evaluate(JobModel *jm, InputFeed *test, Group *g, int epoch, const char *phase, Confusion *cm,
                     ClipPredictions *pred, double *loss_out, Err *err);
/* The predictions as CSV, atomically: clip,label,predicted,<each class's probability>, a row per clip of d in
 * its split file's order, class names in the project's order; an unreadable clip's row has the clip and its
 * label only. */
int trainer_write_predictions(const ClipPredictions *p, const Dataset *d, const char *path, Err *err);

/* A resumed run goes on with what its checkpoint started: a configuration that changes what is trained
 * (DIR/config.ini against cfg) is refused unless --allow-config-change, and then the earlier one is kept
 * beside it as config.before-<stamp>.ini; paths, device, threads and batching may change. Rank 0. */
int trainer_check_resumed_config(const Config *cfg, const TrainOptions *opt, Err *err);

#endif
