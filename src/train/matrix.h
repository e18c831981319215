/* The experiment matrix: a matrix file lists axes (method/variant, dataset
 * with its root, fold, backbone with its weights, seed, setting) and shared
 * settings; it expands into jobs with stable ids, each with its own output
 * directory under results/<matrix>/<job id>/.
 *
 *   [matrix]
 *   name = demo
 *   ranks_per_job = 1
 *   stale_lock_minutes = 10           ; see train/job_lock.h (runs of one matrix share its jobs)
 *   methods = finecliper=configs/synth/finecliper.ini, dfer_clip=configs/synth/dfer_clip.ini
 *   datasets = dfew=/data/synth-dfew, mafw=/data/synth-mafw
 *   folds = 1, 2, 3, 4, 5             ; used where the dataset has folds
 *   backbones = tiny=/data/clip-tiny.safetensors
 *   seeds = 1
 *   settings = supervised, zeroshot:mafw->dfew
 *   [set]
 *   train.epochs = 3                  ; applied to every job, after the method's file
 *
 * A method entry is NAME[:variant][@ARM]=CONFIG (variant = FineCLIPER's level set).
 * An arm (letters, digits, . _ -) lets one matrix train a method and variant
 * more than once, each arm from its own file: the paper's ablations beside its
 * model (finecliper:low@less=ablation_less.ini, finecliper:low=finecliper.ini).
 * Its jobs' ids hold it (finecliper-low--less__dfew__f1__b16__s1), their
 * identities name it ("arm"), and the tables give it a row of its own. A
 * section [set@ARM] holds keys for that arm's jobs alone, applied after [set]:
 * the arm can be the model's own file with a key changed
 *   methods = finecliper:low=f.ini, finecliper:low@less=f.ini
 *   [set@less]
 *   model.negative = less
 * A zero-shot setting trains on the first dataset (fold 1 where it has folds)
 * and evaluates on the second: where that has folds, on the test split of
 * each of the matrix's folds, each scored alone and UAR/WAR averaged (the
 * five-fold protocol; EmoCLIP tests DFEW so); such jobs do not repeat over folds.
 * A->A where A has folds cannot be so (fold 1's training split holds the other
 * folds' test clips): a job per fold of matrix.folds, trained on its training
 * split and tested on its own test split (ids ...__zs-mafw-mafw__f2__...).
 *
 * A zero-shot setting may name what its training pairs the clips with:
 * zeroshot:A->B/CAPTIONS, CAPTIONS one of data.captions's values but auto
 * (dataset: the dataset's own captions, MAFW's; descriptions: the per-clip
 * descriptions of model.descriptions). Its jobs get data.captions = CAPTIONS
 * after the method's file and [set], and ids with it in the setting's part
 * (finecliper-low__zs-mafw-dfew-descriptions__b16__s1, ...__zs-mafw-mafw-
 * descriptions__f2__...); so one matrix makes both of FineCLIPER Table 3's
 * MAFW rows (zeroshot:mafw->dfew, zeroshot:mafw->dfew/descriptions). Without
 * /CAPTIONS the method file's data.captions holds and the id is as above.
 * supervised/CAPTIONS is refused (supervised training learns from labels). */
#ifndef DFER_TRAIN_MATRIX_H
#define DFER_TRAIN_MATRIX_H

#include "core/check.h"

#define MATRIX_MAX_AXIS 16
#define MATRIX_MAX_SETS 64
/* one [set] entry: a key and a value of up to CFG_STR (config.h) bytes; matrix.c checks the room */
#define MATRIX_SET_BYTES 640

typedef struct MatrixEntry {
    char name[64];    /* method (with :variant), dataset, backbone or setting name */
    char value[512];  /* config file, dataset root, weights file */
} MatrixEntry;

typedef struct Matrix {
    char name[64];
    char path[512];
    int ranks_per_job;
    double stale_lock_minutes; /* another host's job lock without a heartbeat (or write) for this long is stale
                                * (train/job_lock.h; heartbeats come every minute) */
    MatrixEntry methods[MATRIX_MAX_AXIS], datasets[MATRIX_MAX_AXIS], backbones[MATRIX_MAX_AXIS];
    int n_methods, n_datasets, n_backbones;
    int folds[8], n_folds;
    int seeds[MATRIX_MAX_AXIS], n_seeds;
    char settings[MATRIX_MAX_AXIS][64];
    int n_settings;
    char sets[MATRIX_MAX_SETS][MATRIX_SET_BYTES]; /* "section.key=value" */
    char set_arms[MATRIX_MAX_SETS][64];           /* "" from [set]; from [set@ARM], the arm whose jobs it is for */
    int set_lines[MATRIX_MAX_SETS];               /* the line of each in the matrix file */
    int n_sets;
} Matrix;

typedef struct Job {
    char id[256];          /* stable: method__dataset__f1__backbone__s1 or ...__zs-mafw-dfew... */
    char method[64];       /* finecliper | dfer_clip (without variant) */
    char variant[32];      /* low, low+mid, ... ("" for dfer_clip) */
    char arm[64];          /* the methods entry's @ARM ("less"), "" without one */
    char method_entry[96]; /* the matrix's methods entry it comes from ("finecliper:low+mid", "finecliper:low@less") */
    char config[512];      /* the method's base config file */
    char dataset[32], root[512];           /* training dataset */
    char eval_dataset[32], eval_root[512]; /* = training dataset unless zero-shot */
    int fold;              /* 0 where the dataset has no folds; zero-shot: 1, or A->A's own fold */
    int eval_folds[8];     /* zero-shot to a dataset with folds: the matrix's folds, whose test splits are each */
    int n_eval_folds;      /* evaluated (data.eval_folds); 0: one split */
    char backbone[64], weights[512];
    int seed;
    char setting[64];      /* supervised | zeroshot */
    char captions[16];     /* zero-shot: the setting's /CAPTIONS (dataset | descriptions, as Config.captions), or
                            * "" where it names none (the method file's data.captions holds) */
} Job;

int matrix_load(const char *path, Matrix *m, Err *err);
/* Expands the axes in a fixed order; *jobs is malloc'ed. */
int matrix_expand(const Matrix *m, Job **jobs, int *n_jobs, Err *err);
/* Whether a dataset name has five folds (dfew, mafw) or one split (ferv39k). */
int dataset_has_folds(const char *dataset);

#endif
