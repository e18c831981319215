/* One trainable model behind a uniform face for the trainer: built from a run
 * configuration (CLIP weights, tokenizer, class prompts, method options), with
 * its parameter set, learning-rate groups and step function. */
#ifndef DFER_TRAIN_JOB_MODEL_H
#define DFER_TRAIN_JOB_MODEL_H

#include "data/dataset.h"
#include "model/clip.h"
#include "model/params.h"
#include "ops/ops.h"
#include "train/config.h"
#include "train/optim.h"

/* One step's inputs of B clips (host). */
typedef struct JobInputs {
    const void *frames;          /* [B*T,3,R,R]: uint8 pixels with JobModel.uint8_frames, else normalised reals */
    const void *parsing;         /* [B*T,3,R,R] parsing maps, when the variant has them */
    const void *landmarks;       /* [B*T,3,R,R] landmark maps, when the variant has them */
    const char *const *clip_ids; /* [B] dataset clip ids: descriptions are looked up by id */
    const char *const *captions; /* [B] the dataset's captions (MAFW) or NULL entries: contrastive training */
} JobInputs;

/* Texts longer than their encoder's context, which tokenizing cuts (their end never reaches the model): the high
 * level's descriptions (counted when they are tokenized) and the contrastive captions of the training split
 * (counted by job_model_check_dataset); the trainer says so. */
typedef struct TextCut {
    const char *what; /* "descriptions", "captions" (NULL: none cut) */
    int cut, of, context, longest; /* cut of `of` texts; the longest had `longest` tokens */
    char first[96];   /* the first clip whose text was cut */
} TextCut;

typedef struct JobModel {
    char method[32];
    Ops *ops;
    ClipModel clip;
    /* FineCLIPER's levels */
    int no_frames;         /* 1: a variant without the low level (model.variant mid, high, mid+high): the model reads
                            * no frames, and the loader (LoaderConfig.no_frames) and predict make none: NULL */
    int mid_streams;       /* FC_MID_* bits the loader must deliver */
    int high;
    ClipModel desc_clip;   /* Long-CLIP, or a stretched view of clip */
    struct Descriptions *descs;
    struct ClipTokenizer *tok;
    int32_t *desc_all;     /* [descriptions, L_d] every description's token ids, tokenized once */
    int32_t *desc_ids;     /* [batch cap, desc context] per-step scratch */
    int desc_cap;
    /* contrastive training (the zero-shot setting) */
    int contrastive;
    char captions[16];     /* auto | dataset | descriptions */
    int captions_used;     /* what the training split's clips are paired with: JOB_CAPTIONS_* bits (set by
                            * job_model_check_dataset; the zero-shot table tells the kinds apart) */
    char desc_path[600];   /* where descriptions come from (loaded when first needed) */
    char vocab_path[4096]; /* the BPE vocabulary the prompts were tokenized with (model.vocab, beside the
                            * weights, or DFER_VOCAB) */
    int prompts_at_context; /* planning without a vocabulary: every class prompt counted at the text tower's
                             * whole context (an upper bound on their tokenized length); 0 when tokenized */
    int32_t *cap_ids;      /* [batch cap, context] */
    int cap_cap;
    TextCut text_cut;
    void *impl;            /* FineCliper* or DferClip* */
    ParamSet *params;
    int groups;
    const char *group_names[4];
    int num_classes;
    int image_size;
    int raw_pixels;        /* DFER-CLIP trains on raw [0,1] frames */
    int uint8_frames;      /* 1: frames and maps arrive as uint8 pixels (data.uint8_frames), normalised on the
                            * device; 0: normalised reals (doubles with f64, else floats) */
    int prefetch_inputs;   /* 1: the trainer's input feed copies the next batch's pixels to the device while this
                            * one computes (data.device_prefetch with uint8 frames on CUDA; train/input_feed.h) */
    int f64;
    int frames;            /* per clip */
    int micro_batch;       /* clips per forward/backward pass (gradients accumulate); 0: the whole batch */
} JobModel;

/* Where and in what precision a configuration runs: train.device (auto = ops_default_backend())
 * and model.dtype (auto = BF16, the mixed-precision model, on CUDA; F32 on the CPU). */
enum { JOB_CAPTIONS_DATASET = 1, JOB_CAPTIONS_DESCRIPTIONS = 2 };
/* result.json's "captions": "dataset" (MAFW's own video captions), "descriptions" (the per-clip
 * fine-grained descriptions), "dataset+descriptions" (auto on a set with some captions), NULL for none. */
const char *job_captions_name(int captions_used);

Backend job_backend(const Config *cfg);
DType job_dtype(const Config *cfg);
/* data.uint8_frames on a backend: on, off, or auto = on for CUDA, off for the CPU. */
int job_uint8_frames(const Config *cfg, Backend backend);

int job_model_create(const Config *cfg, int num_classes, JobModel *m, Err *err);
/* The same with the frozen CLIP from a Hugging Face-named map in memory instead of model.weights
 * (`dfer bench`'s random CLIP of a preset). */
struct TensorMap;
int job_model_create_from_map(const Config *cfg, int num_classes, struct Descriptions *descs,
                              const struct TensorMap *hf, const ClipConfig *hf_cfg, JobModel *m, Err *err);
/* cfg's model built on a counting context (ops_create_counting(as)) for the memory planner:
 * nothing is allocated and every device allocation is counted, in the sizes and dtypes of
 * `as` (model.dtype auto = BF16 on CUDA). The frozen CLIP's shapes come from the preset
 * `arch` (clip_config_preset), or, when arch is NULL, from model.weights' header. */
int job_model_create_counting(const Config *cfg, int num_classes, Backend as, const char *arch, JobModel *m,
                              Err *err);
/* The middle level's map streams cfg asks for (FC_MID_PARSING | FC_MID_LANDMARKS; 0: none, or not FineCLIPER), from
 * the configuration alone (what the model's mid_streams will be). */
int job_model_mid_streams(const Config *cfg);
/* Allocates the activations and scratch for steps of `batch` clips (the first step would). */
void job_model_reserve(JobModel *m, int batch);
/* One clip's pixels as the loader delivers them: frames (and each map stream of the middle level),
 * [T,3,R,R] uint8 or reals. */
size_t job_model_clip_bytes(const JobModel *m);
enum { INPUT_STREAMS = 3 }; /* a batch's pixel streams: frames, parsing maps, landmark maps */
/* Whether the model takes pixel stream `stream` of a batch: 0 frames (all but FineCLIPER's variants without the
 * low level), 1 the middle level's parsing maps, 2 its landmark maps. */
int job_model_takes_stream(const JobModel *m, int stream);
/* Pixel streams a batch carries: frames, plus the middle level's parsing and landmark maps. */
int job_model_input_streams(const JobModel *m);
/* Device memory an input feed holds to prefetch batches of up to `clips` clips (two batches of every
 * stream; train/input_feed.h), 0 when the model does not prefetch. */
size_t job_model_prefetch_bytes(const JobModel *m, int clips);
/* The recompute level (Recompute, model/layers.h) of the ViT: FineCLIPER's streams, DFER-CLIP's image encoder. */
void job_model_set_recompute(JobModel *m, int recompute);
/* Forward-only activations (evaluation and prediction only: a training step is then refused), from the next
 * allocation on (job_model_reserve or a step). */
void job_model_set_forward_only(JobModel *m, int forward_only);
int job_model_forward_only(const JobModel *m); /* as the model was last set */
/* For good: forward-only activations and no gradient buffer (paramset_release_grads: half of the trainable
 * parameters' memory, 1.15 GiB for a fine-tuned L/14 DFER-CLIP). `dfer eval` and `dfer predict`
 * (plan_apply_inference); the model cannot be switched back to training. */
void job_model_evaluation_only(JobModel *m);
/* Whether train.recompute changes anything: 0 for forward-only activations and for DFER-CLIP with a frozen image
 * encoder (no backward crosses it). */
int job_model_has_recompute(const JobModel *m);
/* The same with the high level's descriptions given in memory (indexed, heap-allocated; the model takes
 * them over, also on failure) instead of read from model.descriptions' file: `dfer predict` describes
 * its windows itself. NULL: as job_model_create. */
int job_model_create_with(const Config *cfg, int num_classes, struct Descriptions *descs, JobModel *m, Err *err);

/* ---- trained runs (a `dfer train` or matrix job directory) ---- */
/* Reads RUN_DIR/config.ini over the defaults; errors name the path. */
int job_run_config(const char *run_dir, Config *cfg, Err *err);
/* The parameters file of a run: best_model.safetensors with best, else model.safetensors (the final
 * parameters) when it exists, else best_model.safetensors. Errors name the run directory. */
int job_run_params_path(const char *run_dir, int best, char *path, size_t n, Err *err);
/* A trained run's model: job_model_create_with(cfg, num_classes, descs) then the trainable parameters
 * of job_run_params_path (path_out, may be NULL, receives it). cfg is the run's configuration as
 * job_run_config read it, possibly overridden (eval on another dataset). run_classes: the classes the run
 * trained on, when more than num_classes (a DFER-CLIP run of MAFW's 11 evaluated on a dataset of 7): its
 * per-class tensors (prompt_learner.ctx) load their first num_classes rows; 0 or num_classes: the same. A
 * parameter missing or of another shape or dtype is an error naming the file and tensor. `dfer eval` and
 * `dfer predict`. */
int job_model_load_run(const char *run_dir, const Config *cfg, int num_classes, int run_classes,
                       struct Descriptions *descs, int best, JobModel *m, char *path_out, size_t path_n, Err *err);
/* Checks that the model can take every clip of a split (a description for each,
 * for the high level); errors name the clip. */
int job_model_check_dataset(JobModel *m, const Dataset *d, Err *err);
/* See finecliper_step; returns the summed loss of the batch. */
double job_model_step(JobModel *m, const JobInputs *in, const int32_t *labels, int batch, int train, float grad_scale,
                      void *logits);
/* Contrastive training (train.objective = contrastive): the forward of this
 * rank's B clips with their captions (see finecliper_contrastive_forward), then
 * the caller all-gathers the local features into the global ones, then the
 * loss and backward. */
void job_model_contrastive_forward(JobModel *m, const JobInputs *in, int batch, int global);
/* local [B,E] and gathered [G,E] features: video, then caption */
void job_model_contrastive_tensors(JobModel *m, Tensor *local_v, Tensor *local_t, Tensor *all_v, Tensor *all_t);
double job_model_contrastive_backward(JobModel *m, int offset, int train, float grad_scale, int world);
void job_model_free(JobModel *m);
/* The optimiser a run configures for this model: its kind, one learning rate per
 * group (optim.lr lists them in group order; a shorter list repeats its last),
 * weight decay, momentum, clipping; AdamW skips decay on norms and embeddings. */
/* 1 when frames get CLIP's mean/std normalisation: data.normalise, where "auto"
 * is the method's own (DFER-CLIP trains on raw [0,1] values). */
int job_model_normalise_clip(const JobModel *m, const Config *cfg);
void job_model_optimizer_config(const Config *cfg, const JobModel *m, OptimizerConfig *oc);

#endif
