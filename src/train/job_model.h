/* One trainable model behind a uniform face for the trainer: built from a run
 * configuration (CLIP weights, tokenizer, class prompts, method options), with
 * its parameter set, learning-rate groups and step function. */
#ifndef DFER_TRAIN_JOB_MODEL_H
#define DFER_TRAIN_JOB_MODEL_H

#include "model/clip.h"
#include "model/params.h"
#include "ops/ops.h"
#include "train/config.h"
#include "train/optim.h"

typedef struct JobModel {
    char method[32];
    Ops *ops;
    ClipModel clip;
    void *impl;            /* FineCliper* or DferClip* */
    ParamSet *params;
    int groups;
    const char *group_names[4];
    int num_classes;
    int image_size;
    int raw_pixels;        /* DFER-CLIP trains on raw [0,1] frames */
    int f64;
} JobModel;

int job_model_create(const Config *cfg, int num_classes, JobModel *m, Err *err);
/* See finecliper_step: frames [B*T,3,R,R]; returns the summed loss of the batch. */
double job_model_step(JobModel *m, const void *frames, const int32_t *labels, int batch, int train, float grad_scale,
                      void *logits);
void job_model_free(JobModel *m);
/* The optimiser a run configures for this model: its kind, one learning rate per
 * group (optim.lr lists them in group order; a shorter list repeats its last),
 * weight decay, momentum, clipping; AdamW skips decay on norms and embeddings. */
/* 1 when frames get CLIP's mean/std normalisation: data.normalise, where "auto"
 * is the method's own (DFER-CLIP trains on raw [0,1] values). */
int job_model_normalise_clip(const JobModel *m, const Config *cfg);
void job_model_optimizer_config(const Config *cfg, const JobModel *m, OptimizerConfig *oc);

#endif
