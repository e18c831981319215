/* Run configuration: INI files (inih) with sections [model], [data], [train],
 * [optim], overridden by `--set section.key=value`. Every key is declared once
 * in a table (config.c) with its type, default and meaning; unknown keys and
 * bad values are errors naming the file and line. The table also generates
 * docs/config.md (`dfer config --markdown`), so documentation cannot drift. */
#ifndef DFER_TRAIN_CONFIG_H
#define DFER_TRAIN_CONFIG_H

#include <stdio.h>

#include "core/check.h"

#define CFG_STR 512
#define CFG_LIST 8
/* room for config.c's keys, and for where each value came from ("PATH:LINE", its head cut to "..." when longer) */
#define CFG_MAX_KEYS 96
#define CFG_ORIGIN 192

typedef struct Config {
    /* [model] */
    char method[32];          /* finecliper | dfer_clip */
    char variant[32];         /* low | low+mid | low+high | low+mid+high */
    char weights[CFG_STR];
    char vocab[CFG_STR];
    float temperature;
    float mlp_adapter_scale;
    int bottleneck_divisor;
    int mid_high_bottleneck_divisor; /* FineCLIPER's middle and high levels' adapters (0: bottleneck_divisor) */
    char negative[16];        /* no | less | none */
    char prompt[CFG_STR];     /* positive template, {class} replaced */
    char mid_streams[32];     /* parsing+landmarks | parsing | landmarks */
    char descriptions[CFG_STR];
    char long_clip[CFG_STR];
    char fusion_weights[16];  /* softmax | sum | uniform | fixed */
    float fusion_temperature; /* softmax weights: of confidence / this */
    float fusion_video_weight; /* fixed weights: the video feature's (the paper's Fig. 8) */
    char fusion_loss[16];     /* modalities | fused | both */
    char class_prompts[16];   /* pn | emoclip */
    int video_adapters, text_adapters;
    int contexts;             /* dfer_clip: learnable contexts M (0: none) */
    float logit_scale;        /* dfer_clip: logits = scale * cos */
    char class_text[32];      /* dfer_clip: descriptor | name | name_with_context | photo_of_name */
    char context_position[8]; /* dfer_clip: end | middle */
    int class_specific_contexts; /* dfer_clip: M contexts per class (1) or one set for all */
    int temporal_layers;      /* dfer_clip: the temporal transformer's depth (0: the mean of the frames' features) */
    int train_image_encoder;  /* dfer_clip */
    char dtype[8];            /* f32 | f64 */
    /* [data] */
    char dataset[32];         /* dfew | ferv39k | mafw | list */
    char root[CFG_STR];
    char train_list[CFG_STR], test_list[CFG_STR]; /* dataset = list */
    int fold;
    int eval_folds[CFG_LIST]; /* zero-shot transfer: the target's folds whose test splits are evaluated, each scored */
    int n_eval_folds;         /* apart (0: data.fold's) */
    int frames;
    char normalise[8];        /* auto | clip | raw */
    char uint8_frames[8];     /* auto | on | off: the loader hands over uint8 pixels, normalised on the device */
    char device_prefetch[8];  /* auto | off: the next batch's pixels go to the device while this one computes */
    char landmarks[CFG_STR]; /* middle level: face tracks directory */
    char parsing[CFG_STR];   /* middle level: external parsing maps directory */
    char captions[16];        /* auto | dataset | descriptions */
    int loader_threads;
    float max_bad_fraction;
    float crop_min_area;      /* random sized crop: area fraction ~ U[this, 1] */
    char augment[16];         /* auto | dfew | ferv39k | mafw: the training augmentation's preset */
    int classes;              /* dataset = list: 7 or 11 classes; 0: from the training labels */
    /* [train] */
    char objective[16];       /* supervised | contrastive */
    int epochs;
    int batch;                /* global batch (clips) */
    int eval_batch;
    int seed;
    char device[8];           /* auto | cpu | cuda */
    float gpu_mem;            /* GiB of device memory a rank may use (the planner's cap) */
    int micro_batch;          /* clips per forward/backward pass; 0: the planner's choice (CUDA) or all */
    char recompute[16];       /* auto | none | qkv | qkv-fc1 | blocks (Recompute's names) */
    int threads;
    char nonfinite[8];        /* skip | abort */
    float hang_minutes;       /* no progress for this long ends a rank (core/watchdog.h); 0: off */
    int log_every;
    int max_steps_per_epoch;  /* 0: all (tests and smoke runs use a few) */
    /* [optim] */
    char optimizer[8];        /* sgd | adamw */
    float lr[CFG_LIST];
    int n_lr;
    float weight_decay;
    float momentum;
    char schedule[16];        /* multistep | cosine | constant */
    int milestones[CFG_LIST];
    int n_milestones;
    float gamma;
    float warmup_epochs;
    float clip_norm;
    /* Where each key's value came from, by its place in config.c's key table: "PATH:LINE" of a file, "--set",
     * "PATH:LINE [set]" of a matrix, "PATH's axes" (a matrix's job); "" for the default. No part of the configuration
     * (config_write and config_diff leave it out): the errors of the checks name it, so a value refused after
     * parsing (train.epochs = -1) says which file or option to change, as a parse error does. */
    char origin[CFG_MAX_KEYS][CFG_ORIGIN];
} Config;

/* `dfer prep` caches beside a dataset: <data.root>/dfer_prep/{landmarks/, descriptions.jsonl}. */
#define DFER_PREP_DIR "dfer_prep"
/* The path of a configured folder or file, or when it is empty, of `name` in the dataset's prep
 * cache (<data.root>/dfer_prep/<name>; for data.dataset = list, dfer_prep beside data.train_list, where
 * `dfer prep --dataset list --root TRAIN_LIST` writes it). */
void config_prep_path(const Config *c, const char *configured, const char *name, char *out, size_t n);

void config_defaults(Config *c);
/* Reads an INI file over the current values (each key's origin: "PATH:LINE"). */
int config_load_file(Config *c, const char *path, Err *err);
/* Applies "section.key=value" (--set: its errors say so, and its origin is "--set"). */
int config_set(Config *c, const char *assignment, Err *err);
/* The same from elsewhere: origin names it in the key's origin and in the errors ("m.ini:7 [set]", "m.ini's axes"). */
int config_set_from(Config *c, const char *assignment, const char *origin, Err *err);
/* Applies one key as a file gives it (section, name, value; origin: where, or NULL): "unknown key section.name" or
 * the value's error. */
int config_set_key(Config *c, const char *section, const char *name, const char *value, const char *origin, Err *err);
/* A string key's fixed values as "a|b|c" (data.captions: "auto|dataset|descriptions"), or NULL for a key that
 * takes any text or is not known: other parsers that name a key's values (a matrix setting's /CAPTIONS) take the
 * list from here rather than repeat it. */
const char *config_key_choices(const char *section, const char *name);
/* Whether value is one of choices ("a|b|c"; NULL: none). */
int config_choice_is(const char *choices, const char *value);
/* Why a valid configuration cannot run yet (it needs a feature not built), or NULL. */
const char *config_unbuilt(const Config *c);
/* Appends to an error about c's values where the keys it names got them (" (train.epochs from c.ini:2)"; keys on
 * their defaults are not named); -1. */
int config_error_origins(const Config *c, Err *err);
/* Cross-key checks (method-specific ranges, required paths); includes config_unbuilt. Errors name where the values
 * they refuse came from (config_error_origins). */
int config_validate(const Config *c, Err *err);
/* The same without the paths a run needs (model.weights, the dataset) and without config_unbuilt (a plan
 * for a GPU needs none): what `dfer plan` checks before it counts a configuration that names no files. */
int config_validate_settings(const Config *c, Err *err);
/* What a valid configuration may not mean to do, as one sentence for a warning, or NULL: DFER-CLIP fine-tuning its
 * pretrained image encoder at a rate of 1e-3 or more (config.c's defaults are FineCLIPER's, so `model.method =
 * dfer_clip` alone trains it at 0.01, 1000 times DFER-CLIP's 1e-5), or a train.recompute level set for a frozen
 * image encoder, which has nothing to recompute. buf: room for the text. */
const char *config_caution(const Config *c, char *buf, size_t n);
/* FineCLIPER's settings that its paper ablates (Tables 5, 6, 7 and 9 and Fig. 8: model.mid_streams, negative,
 * text_adapters, video_adapters, mlp_adapter_scale, fusion_weights, fusion_video_weight), those on another value than
 * the paper's full model has (fusion_weights: softmax, our reading of its adaptive weights), as "key=value" items
 * joined by ", " in that order ("negative=less", "mid_streams=parsing, mlp_adapter_scale=0.3"); "" for the paper's
 * model. DFER-CLIP's (its Tables 1, 3 and 4): temporal_layers, contexts, class_text, context_position and
 * class_specific_contexts (the last two only with contexts). mid_streams counts only with the middle level,
 * video_adapters only with the low level, fusion_weights only with two modalities or more, fusion_video_weight only
 * with fixed weights (elsewhere none changes the model). A run's result.json and a matrix's jobs.json record it
 * ("ablation"), and the tables tell such runs apart from the paper's model by it. n: CONFIG_ABLATION_BYTES is room
 * for all of either method's items. */
#define CONFIG_ABLATION_BYTES 200
void config_ablation(const Config *c, char *out, size_t n);
/* A method's optimiser parameter groups (optim.lr takes one value or one per group), in order:
 * FineCLIPER video, text; DFER-CLIP image_encoder, temporal_net, prompt_learner. Returns the count. */
int config_param_groups(const char *method, const char *names[3]);
/* What differs between the configuration a run was started with (before) and now (after), as
 * "section.key: before -> after" items joined by "; ". Keys that change what is trained go to
 * training (the count is returned); keys that say where things are or how a run computes (paths,
 * device, threads, micro-batch, precision, logging) go to operational: a resumed run may change them. */
int config_diff(const Config *before, const Config *after, char *training, size_t training_n, char *operational,
                size_t operational_n);
/* Makes the file and folder keys (model.weights, model.vocab, model.descriptions, model.long_clip, data.root,
 * data.train_list, data.test_list, data.landmarks, data.parsing) absolute against the current folder, so a
 * run's config.ini names the same files whatever folder `dfer predict`, `eval` or `export` later runs in.
 * Errors name the key whose absolute path does not fit. */
int config_absolute_paths(Config *c, Err *err);
/* Writes the resolved configuration as INI (all keys). */
void config_write(const Config *c, FILE *out);
/* The same, with origins: each key a file or --set gave (whatever the value) followed by an inline comment saying
 * where its value came from ("epochs = 3  ; c.ini:7"), which reading the file back ignores (`dfer config
 * --origins`). */
void config_write_origins(const Config *c, int origins, FILE *out);
/* config_write into the file at path, atomically (a run's config.ini). */
int config_write_file(const Config *c, const char *path, Err *err);
/* The key reference as Markdown (docs/config.md). */
void config_write_markdown(FILE *out);

#endif
