/* The memory planner: how much device memory a rank needs for a configuration,
 * and the micro-batch that keeps it under a cap (train.gpu_mem, default 24 GiB)
 * while the global batch stays what the config says (gradients accumulate over
 * the micro-batches of a rank's share).
 *
 * It does not estimate: it builds the real model on a counting ops context
 * (ops_create_counting), which runs the model's own allocation code and adds up
 * every device allocation in the target backend's sizes and dtypes (BF16
 * weights and activations, F32 parameters, gradients and optimiser state on
 * CUDA). So the plan and the run cannot drift apart. What it cannot count is
 * the CUDA runtime's own memory (context, cuBLASLt workspace, NCCL buffers):
 * PLAN_CUDA_RESERVE_BYTES stands for it.
 *
 * Recompute (train.recompute: FineCLIPER's ViT streams, DFER-CLIP's image encoder;
 * model/layers.h's Recompute): `qkv` computes the attentions' qkv again in backward, `qkv-fc1`
 * also the MLP's fc1 output, `blocks` keeps only each block's input and runs the
 * block again (one more ViT forward per step). With `auto` the planner takes the
 * first level, in that order, whose micro-batch is at least
 * PLAN_MIN_EFFICIENT_MICRO_BATCH (or the whole share); when none is, the level with
 * the largest micro-batch that fits. When micro-batch 1 does not fit at any level,
 * the plan says so. */
#ifndef DFER_TRAIN_PLAN_H
#define DFER_TRAIN_PLAN_H

#include <stdio.h>

#include "ops/ops.h"
#include "train/config.h"

/* CUDA context, cuBLASLt workspace (32 MiB), the attention path's workspace (at most 256 MiB,
 * CUDA_ATTN_WORKSPACE_CAP), NCCL's buffers, the backend's conversion scratch and the allocator's
 * rounding: an allowance. Measured on an H200 (`dfer bench`, FineCLIPER B/16, micro-batch 16,
 * 2026-12-04): context 1.08 GiB before the model, and the device's peak 0.46 GiB above what the
 * planner counted, 1.54 GiB in all (results/bench/gpu_vs_pytorch.json's run); 2 GiB leaves a margin.
 * GPUs with fewer multiprocessors have smaller contexts. */
#define PLAN_CUDA_RESERVE_BYTES ((size_t)2 << 30)
/* Below this many clips per pass (times T frames times S tokens rows), GEMMs lose efficiency
 * faster than recompute costs (qkv: +6 W^2 multiply-adds a token, about a fifth of the ViT's training
 * products; blocks: +1 ViT forward, about a third of the step). */
#define PLAN_MIN_EFFICIENT_MICRO_BATCH 4

typedef struct MemoryPlan {
    Backend backend;
    DType dtype;                 /* of frozen weights and activations */
    int global_batch, ranks, local_batch;
    int micro_batch, accumulation; /* accumulation = ceil(local_batch / micro_batch) passes, the last one
                                    * shorter where micro_batch does not divide local_batch */
    int recompute;               /* Recompute (model/layers.h) */
    int recompute_deeper;        /* levels beyond `recompute` a hand-set train.recompute could still take (0: the
                                  * planner tried them all (auto), or the model has none) */
    int has_recompute;           /* train.recompute changes the model (job_model_has_recompute) */
    int forward_only;            /* a plan of evaluation passes (plan_apply_inference): activations of a forward,
                                  * no optimiser state */
    size_t cap;                  /* bytes */
    size_t weights;              /* frozen CLIP (and description tower) */
    size_t trainable;            /* parameters and their gradients (forward only: the parameters) */
    size_t optimizer;            /* optimiser state */
    char optimizer_kind[16];     /* optim.optimizer planned for (sgd, adamw) */
    size_t activations;          /* activations and backward scratch of one micro-batch */
    size_t activations_per_clip; /* activations / micro_batch */
    size_t input_prefetch;       /* two batches of pixels on the device (data.device_prefetch; train/input_feed.h) */
    size_t reserve;              /* PLAN_CUDA_RESERVE_BYTES on CUDA, 0 on the CPU */
    size_t total;
    size_t trainable_count;      /* parameters */
    int fits;                    /* total <= cap */
    int prompts_at_context;      /* no vocabulary: the class prompts counted at this whole context (an upper
                                  * bound on their tokenized length; JobModel.prompts_at_context); 0: tokenized */
    /* model FLOPs of a rank's step (its share in micro_batch passes; forward only: of its evaluation batch),
     * counted as `dfer bench` counts them (bench_flops_passes): the forward, the input and the trainable
     * weight gradients, and what the step runs again (recompute, adapters' fc1, CUDA's q k^T) apart */
    double flops_forward, flops_backward_input, flops_backward_weight, flops_again;
} MemoryPlan;

/* Plans cfg on `ranks` ranks per job for backend `as`; the CLIP shapes from the
 * preset `arch` (b16, l14, ...) or, when NULL, from model.weights' header. The
 * micro-batch gives the fewest passes that fit: the largest number of clips up to
 * the rank's share that fits, evened out over the ceil(share / micro-batch) passes
 * that needs (ceil(share / passes) clips a pass, the last one shorter where that
 * does not divide the share; contrastive training: the whole share or nothing), or
 * cfg->micro_batch when it is set (at most the share).
 * Fails only when the model cannot be built (missing files, bad config). */
int plan_memory(const Config *cfg, int num_classes, Backend as, const char *arch, int ranks, MemoryPlan *p,
                Err *err);
/* The check of the planner: builds cfg's real model on the CPU backend (weights from
 * model.weights), its optimiser and the activations of micro_batch clips, and returns
 * the bytes it allocated. Equal to plan_memory's total for BACKEND_CPU when the
 * counting is right. forward_only: the model set up for evaluation only (no optimiser, no
 * gradients; plan_memory_inference's total). */
int plan_measure_cpu(const Config *cfg, int num_classes, int micro_batch, int recompute, int forward_only,
                     size_t *bytes, Err *err);
/* The micro-batch and recompute of a job model, as training runs it: train.micro_batch and
 * train.recompute when set; on CUDA otherwise the plan's choice under train.gpu_mem (fails,
 * naming the cap, when nothing fits); on the CPU the whole share without recompute. `arch`
 * as in plan_memory; plan_out (may be NULL) receives the plan, or a zeroed one when none was
 * made. */
struct JobModel;
int plan_apply(const Config *cfg, int num_classes, const char *arch, int ranks, struct JobModel *jm,
               MemoryPlan *plan_out, Err *err);
/* The same for evaluation and prediction passes of `batch_per_rank` clips (`dfer eval`, `dfer
 * predict`): the model is set up for evaluation only (job_model_evaluation_only: forward-only activations,
 * nothing kept for a backward, which it then refuses, and no gradient buffer) and planned as such, a pass
 * of that many clips on one rank without optimiser state, so a pass stays under train.gpu_mem on CUDA
 * whatever the evaluation batch; train.micro_batch, a training setting, does not limit the passes there.
 * On the CPU only the set-up (train.micro_batch, when set, stays the passes' size). `arch` as in
 * plan_memory. */
int plan_apply_inference(const Config *cfg, int num_classes, const char *arch, int batch_per_rank,
                         struct JobModel *jm, MemoryPlan *plan_out, Err *err);
/* The plan of those evaluation passes, without a model at hand (`dfer plan --eval`): on CUDA what
 * plan_apply_inference gives a model of cfg; on the CPU the count of a model that runs such passes (as
 * plan_memory's there, the micro-batch searched under train.gpu_mem unless train.micro_batch is set, where `dfer
 * eval` on the CPU plans nothing and takes the whole batch). */
int plan_memory_inference(const Config *cfg, int num_classes, Backend as, const char *arch, int batch_per_rank,
                          MemoryPlan *p, Err *err);
/* Clips of a rank's share of an evaluation batch: train.eval_batch rounded down to a multiple of the ranks, at
 * least one a rank (the loader's evaluation batches). */
int plan_eval_clips_per_rank(const Config *cfg, int ranks);
/* Clips of a rank's share of a training or an evaluation batch, whichever is larger (train.batch, and
 * train.eval_batch rounded down to a multiple of the ranks, at least one a rank): what the input feed's
 * prefetch slots hold (input_prefetch). */
int plan_prefetch_clips(const Config *cfg, int ranks);
/* A human-readable account of the plan (GiB per part, the choice and why). */
void plan_print(const MemoryPlan *p, FILE *out);

#endif
