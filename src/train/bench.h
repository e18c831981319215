/* `dfer bench`: the training step and the forward pass of a model built as
 * `dfer train --set` builds it (job_model.h), on a random CLIP of a named
 * architecture and a synthetic batch, timed phase by phase; the model FLOPs of a
 * step counted analytically; optionally the same model in PyTorch
 * (tests/reference/bench_torch.py) timed in the same invocation.
 *
 * Model FLOPs (bench_flops) count the matrix products a step needs, 2 FLOPs per
 * multiply-add, not 6N:
 *   forward   every linear layer of every tower that runs in the step (frozen or
 *             not; FineCLIPER's class prompts go through the text tower every
 *             step) and the attention products q k^T and p v (causal text
 *             attention counted in full, as it is computed);
 *   backward  one input-gradient product per linear layer the gradient has to
 *             cross on its way to a trainable tensor (frozen ones included),
 *             four attention products (dq, dk, dv, dp) where it crosses an
 *             attention, and one weight-gradient product per trainable linear
 *             (adapters, projections, DFER-CLIP's fine-tuned encoder and
 *             temporal net). Layers below every trainable tensor get no
 *             backward: the frozen patch embedding of FineCLIPER, the first
 *             text block under the first text adapter.
 * Not counted: layer norms, softmax, activations, elementwise ops, and the
 * [B,C] head products (under 0.01% here). */
#ifndef DFER_TRAIN_BENCH_H
#define DFER_TRAIN_BENCH_H

#include <cJSON.h>
#include <stdio.h>

#include "model/clip_config.h"
#include "mpi/dist.h"
#include "ops/ops.h"

#define BENCH_MAX_SETS 32

typedef struct BenchOptions {
    const char *device;    /* cpu | cuda | auto */
    const char *arch;      /* a clip_config_preset name (b16, "B/16" and "ViT-B/16" are accepted too) */
    const char *method;    /* finecliper | dfer_clip */
    const char *variant;   /* FineCLIPER: low | low+mid | low+high | low+mid+high | mid | high | mid+high */
    int frames, batch;     /* batch: global (split over the ranks) */
    int eval_batch;        /* 0: the training batch */
    int steps, warmup;
    int eval;              /* also time evaluation at eval_batch (when it differs from the batch) */
    int threads;           /* CPU threads per rank (0: all cores) */
    int classes;
    int desc_tokens;       /* high level: tokens of each synthetic description (SOT and EOT included) */
    int seed;
    const char *precision; /* NULL: the configuration's default; else model.precision */
    const char *vocab;     /* NULL: $DFER_VOCAB, then the source tree's ../shared/clip */
    const char *sets[BENCH_MAX_SETS]; /* extra section.key=value */
    int n_sets;
    double peak_tflops;    /* > 0: overrides the device table */
    double peak_gbps;      /* > 0: overrides the device table's memory bandwidth (GB/s) */
    int profile_steps;     /* > 0: that many more training steps with every op timed (op_profile) */
    double gpu_mem;        /* > 0: train.gpu_mem, the planner's cap in GiB (CUDA) */
    int peer_compile;      /* the PyTorch peer runs its model through torch.compile (--peer torch-compile) */
} BenchOptions;

void bench_options_default(BenchOptions *o);

/* The option of bench that sets the configuration key of a --set assignment ("data.frames=16" -> "--frames"),
 * NULL when bench leaves that key to --set; *key (may be NULL) receives the key's name. bench_run refuses a
 * --set of such a key: bench keeps using its option's value (the batch's buffers, the FLOP count). */
const char *bench_owned_key(const char *assignment, const char **key);

/* The quantities the FLOP count depends on. */
typedef struct BenchShape {
    ClipConfig clip;       /* the backbone */
    int finecliper;        /* 1: FineCLIPER, 0: DFER-CLIP */
    int batch, frames, classes;
    /* FineCLIPER */
    int low;               /* the video stream (0: a variant without the low level) */
    int video_adapters, text_adapters, use_negative, bottleneck_divisor;
    int mid_high_divisor; /* the middle level's and the description tower's adapters */
    int mid_streams;       /* 0, 1 or 2 map streams through the middle-level encoder */
    int high;
    int recompute;         /* the ViT's Recompute (layers.h): the products it runs again count as recompute */
    int attention_recomputes; /* the backend computes q k^T again in the attention backward (CUDA): recompute too */
    int len_pos, len_neg;  /* class-prompt tokens run (longest first EOT + 1) */
    int desc_len, desc_width, desc_layers, desc_embed; /* high level's description tower */
    /* DFER-CLIP */
    int train_image_encoder, len_text;
    int temporal_layers, contexts; /* the temporal blocks (0: the mean of the frames); no contexts: no text backward */
} BenchShape;

typedef struct BenchFlops {
    double forward, backward_input, backward_weight;
    /* products the step runs again that the model does not count (MFU leaves them out): each trainable
     * adapter's fc1 in the backward (layers.h: adapters keep nothing), and what train.recompute runs again
     * (qkv: the attentions' qkv products; qkv-fc1: also fc1's; blocks: every ViT block's forward but the
     * last's), and on CUDA each attention backward's q k^T */
    double recompute;
    /* copied from BenchShape by bench_flops and bench_flops_passes, read by the counting (attention backward's q k^T
     * again in recompute): how the counts were made, not a count */
    int attention_recomputes;
} BenchFlops;

/* The shapes of a job model's FLOP count for steps of `batch` clips: the backbone, frames, classes, the method's
 * options, its recompute level and the class prompts' token lengths as the model holds them once its activations
 * are reserved (job_model_reserve: the first step, or the planner's count). */
struct JobModel;
BenchShape bench_shape(const struct JobModel *m, int batch);

/* FLOPs of one training step of `batch` clips (forward = the evaluation forward). */
void bench_flops(const BenchShape *s, BenchFlops *f);

/* The same for a step of `batch` clips in passes of micro_batch (0: one pass): every pass runs the whole model,
 * class-prompt text towers included, so accumulation repeats their cost. */
void bench_flops_passes(const BenchShape *s, int batch, int micro_batch, BenchFlops *f);

/* Dense bf16 tensor-core peak (TFLOP/s) for a device name ("NVIDIA H100 80GB HBM3 ..."), 0 when unknown;
 * *source (may be NULL) names the table row. */
double bench_peak_tflops(const char *device_name, const char **source);
/* The device memory's bandwidth in GB/s from the vendor data sheets (the profile's bound for ops that move
 * bytes, not products), 0 when the table does not know the device; *source: the table's row. */
double bench_peak_gbps(const char *device_name, const char **source);

/* A device's peaks as the profile's bounds take them: dense bf16 TFLOP/s and memory GB/s (0 where unknown). */
typedef struct DevicePeaks {
    double tflops, gbps;
} DevicePeaks;

/* --peak-tflops / --peak-gbps where given, else the device table's row for the device; *tf_source and
 * *bw_source (either may be NULL) name where each came from (NULL: unknown, the peak 0). */
DevicePeaks bench_device_peaks(const BenchOptions *o, const char *device_name, const char **tf_source,
                               const char **bw_source);

/* The least time an entry's work can take on the device, in ms per step: its matrix FLOPs at the tensor
 * cores' peak or its operands' bytes (each once) at the memory's, whichever is longer; -1 without both peaks. */
double bench_bound_ms(const OpsProfileEntry *e, double per_step, const DevicePeaks *pk);

/* ---- memory (bench_memory.c) ---- */
/* "model name" of /proc/cpuinfo ("CPU" when unknown). */
void bench_cpu_name(char *buf, size_t n);
/* Resets the process's resident high-water mark to the current RSS (Linux >= 4.0); 0 when it could. */
int bench_rss_peak_reset(void);
/* The process's peak resident set since it started (ru_maxrss), in bytes. */
double bench_process_peak_bytes(void);
/* The rank's peak memory over the training steps, the ranks' mean; *method says how it was measured. Read
 * after the training steps, before any forward-only pass; hwm_reset: bench_rss_peak_reset succeeded after the
 * model was built (CPU). */
double bench_peak_memory(Backend backend, int hwm_reset, Group *g, const char **method);
/* The same over the forward-only passes (-1 where it cannot be told from the training's): CUDA, the highest
 * sample after those passes (cuda_high) minus the baseline; CPU, the resident high-water mark since a reset
 * taken after the training steps (eval_hwm_reset). */
double bench_eval_peak_memory(Backend backend, int eval_hwm_reset, size_t cuda_high, Group *g, const char **method);

/* Fails with a message naming the missing GPU when device is "cuda" and this build or machine has none. Call it
 * before selecting a GPU (train_collectives) and bench_run. */
int bench_check_device(const char *device, Err *err);

/* Runs the benchmark on every rank of g (data-parallel, the global batch split over the ranks) and returns
 * its figures as a JSON object (rank 0's view; every rank returns one). NULL with a message on failure. */
cJSON *bench_run(const BenchOptions *o, Group *g, Err *err);
/* A JSON number, or null where it does not exist (ok = 0): the figures a backend cannot give. */
cJSON *bench_number_or_null(double v, int ok);
/* --arch as the presets name it: "ViT-B/16" -> "b16", "ViT-L/14@336px" -> "l14-336px" (lower case, no "vit-" or "/",
 * "@" as "-"). */
void bench_normalise_arch(const char *in, char *out, size_t n);

/* Runs tests/reference/bench_torch.py with python on the same device, model, frames and batch as the
 * figures `ours` of bench_run; returns its JSON object, or NULL with a message. */
cJSON *bench_run_peer(const BenchOptions *o, const cJSON *ours, const char *python, Err *err);

/* Adds peer and ratio fields to ours (peer may be NULL: nothing added). -1 (err) where the peer built another model
 * (other trainable parameter counts: its figures are no comparison) or its JSON lacks a figure; nothing added then. */
int bench_add_peer(cJSON *ours, const cJSON *peer, const char *peer_name, Err *err);
/* "--peer torch" or "--peer torch-compile", as the option named the peer (for messages) */
const char *bench_peer_name(const BenchOptions *o);

/* The record of results/bench/gpu_vs_pytorch.json: the issue's keys and a few more. */
cJSON *bench_results_record(const cJSON *ours, const char *command);

/* Human-readable summary. */
void bench_print(const cJSON *r, FILE *out);

/* `git rev-parse --short HEAD` of the source tree (dfer_git_commit when git cannot say); *dirty set when the
 * work tree has uncommitted changes (-1 unknown). */
void bench_source_commit(char *buf, size_t n, int *dirty);

#endif
