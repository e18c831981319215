/* Optimisers over a model's flat trainable parameters (model/params.h), with
 * per-group learning rates and weight decay, gradient clipping by global norm
 * and a non-finite-gradient guard, plus learning-rate schedules.
 * Semantics follow PyTorch's SGD (coupled decay) and AdamW (decoupled decay). */
#ifndef DFER_TRAIN_OPTIM_H
#define DFER_TRAIN_OPTIM_H

#include "model/params.h"

#define OPT_MAX_GROUPS 8

typedef enum { OPT_SGD = 0, OPT_ADAMW = 1 } OptKind;

typedef struct OptimizerConfig {
    OptKind kind;
    int groups;                          /* learning-rate groups used by the model */
    float lr[OPT_MAX_GROUPS];            /* base learning rate per group */
    float weight_decay[OPT_MAX_GROUPS];  /* per group */
    float momentum;                      /* SGD (0.9) */
    float beta1, beta2, eps;             /* AdamW (0.9, 0.999, 1e-8) */
    int no_decay_norms_and_embeddings;   /* AdamW as AIM trains: no decay on layer norms, biases, embeddings */
    float clip_norm;                     /* 0: no clipping */
} OptimizerConfig;

typedef struct Optimizer {
    OptimizerConfig cfg;
    ParamSet *ps;
    void *state1, *state2;   /* SGD momentum / AdamW m; AdamW v (device, numel each) */
    int step;                /* updates applied so far */
    unsigned char *no_decay; /* per parameter entry */
} Optimizer;

void optimizer_config_default(OptimizerConfig *cfg, OptKind kind);
int optimizer_create(ParamSet *ps, const OptimizerConfig *cfg, Optimizer *opt, Err *err);
void optimizer_free(Optimizer *opt);

typedef enum { OPT_STEP_APPLIED = 0, OPT_STEP_SKIPPED_NONFINITE = 1 } OptStepResult;
/* Global gradient norm (reported before clipping), clipping, then the update
 * with lr = cfg.lr[group] * lr_factor. Gradients that are not finite leave the
 * parameters untouched and return OPT_STEP_SKIPPED_NONFINITE. */
OptStepResult optimizer_step(Optimizer *opt, float lr_factor, double *grad_norm);

/* State tensors for checkpoints: [numel] views of state1/state2 (data NULL when unused). */
Tensor optimizer_state(const Optimizer *opt, int which);

/* ---- schedules ---------------------------------------------------------------- */
typedef enum { SCHED_CONSTANT = 0, SCHED_MULTISTEP = 1, SCHED_COSINE = 2 } ScheduleKind;

typedef struct ScheduleConfig {
    ScheduleKind kind;
    int milestones[8];   /* MULTISTEP: epochs at which lr *= gamma (stepped after each epoch) */
    int n_milestones;
    float gamma;
    /* linear warm-up from 0 (every kind); COSINE then decays towards min_factor, which it would reach at the end of
     * the last epoch: the trainer's last step is taken one step short of it (step / steps_per_epoch < 1), as
     * PyTorch's CosineAnnealingLR stepped per iteration leaves its last step short of eta_min */
    float warmup_epochs;
    float min_factor;
    int epochs;
} ScheduleConfig;

/* The factor multiplying the base learning rates at `epoch` (0-based) and the
 * given fraction through it (step / steps_per_epoch). */
double schedule_factor(const ScheduleConfig *s, int epoch, double fraction_of_epoch);
/* Parses "multistep", "cosine", "constant". */
int schedule_kind_from_name(const char *name, ScheduleKind *out);

#endif
