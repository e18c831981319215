#include "train/plan.h"

#include <stdio.h>
#include <string.h>

#include "model/layers.h"
#include "train/bench.h"
#include "train/job_model.h"
#include "train/optim.h"

static double gib(size_t bytes) { return (double)bytes / (double)(1u << 30); }

/* p with the activations of a micro-batch of mb clips (the model's reserve, counted above base) into *out. */
static void plan_activations(JobModel *m, size_t base, size_t fixed, int mb, const MemoryPlan *p, MemoryPlan *out) {
    job_model_reserve(m, mb); /* frees the previous micro-batch's activations first */
    size_t acts = ops_memory_in_use(m->ops) - base;
    *out = *p;
    out->micro_batch = mb;
    out->activations_per_clip = acts / (size_t)mb;
    out->activations = acts;
    out->total = fixed + acts;
    out->fits = out->total <= out->cap;
}

/* forward_only: the plan of evaluation passes (job_model_evaluation_only): no optimiser state, no gradients, no
 * recompute level. */
static int plan_with(const Config *cfg, int num_classes, Backend as, const char *arch, int ranks, int recompute,
                     int forward_only, MemoryPlan *p, Err *err) {
    memset(p, 0, sizeof *p);
    if (ranks < 1 || cfg->batch % ranks)
        return err_set(err, "plan: the global batch %d does not split over %d ranks", cfg->batch, ranks);
    JobModel m;
    if (job_model_create_counting(cfg, num_classes, as, arch, &m, err) != 0) return err_prefix(err, "plan: ");
    p->backend = as;
    p->dtype = m.clip.dtype;
    p->global_batch = cfg->batch;
    p->ranks = ranks;
    p->local_batch = cfg->batch / ranks;
    p->cap = (size_t)((double)cfg->gpu_mem * (double)(1u << 30));
    p->reserve = as == BACKEND_CUDA ? PLAN_CUDA_RESERVE_BYTES : 0;
    p->trainable_count = m.params->numel;
    p->prompts_at_context = m.prompts_at_context;
    p->forward_only = forward_only;
    if (forward_only) job_model_evaluation_only(&m);
    p->has_recompute = job_model_has_recompute(&m);
    p->recompute = p->has_recompute ? recompute : RECOMPUTE_NONE;
    job_model_set_recompute(&m, p->recompute);

    /* the model as built: frozen weights (and the fixed buffers of the model), then the parameters and, unless
     * forward only, their gradients */
    size_t built = ops_memory_in_use(m.ops);
    p->trainable = paramset_device_bytes(m.params);
    p->weights = built - p->trainable;
    OptimizerConfig oc;
    job_model_optimizer_config(cfg, &m, &oc);
    Optimizer opt = {0};
    if (!forward_only && optimizer_create(m.params, &oc, &opt, err) != 0) {
        job_model_free(&m);
        return err_prefix(err, "plan: ");
    }
    p->optimizer = ops_memory_in_use(m.ops) - built;
    snprintf(p->optimizer_kind, sizeof p->optimizer_kind, "%s", forward_only ? "none" : cfg->optimizer);
    p->input_prefetch = job_model_prefetch_bytes(&m, plan_prefetch_clips(cfg, ranks));
    size_t fixed = p->weights + p->trainable + p->optimizer + p->input_prefetch + p->reserve;

    /* the fewest passes that fit: the largest micro-batch whose activations fit, any size up to the share (then
     * evened out over as many passes); the share goes through in ceil(share / micro-batch) passes, the last one
     * shorter where the micro-batch does not divide the share (job_model_step; the gradients add up to the
     * whole share's either way). train.micro_batch, when set, is
     * the only candidate (more than the share: the share in one pass); a contrastive step needs the whole
     * share at once. The activations grow with the micro-batch, so the search halves the range. */
    int contrastive = !strcmp(cfg->objective, "contrastive");
    size_t base = ops_memory_in_use(m.ops);
    int lo = 1, hi = p->local_batch;
    if (cfg->micro_batch > 0) lo = hi = cfg->micro_batch < p->local_batch ? cfg->micro_batch : p->local_batch;
    if (contrastive && !forward_only) lo = hi; /* an evaluation pass scores the class texts: any micro-batch */
    MemoryPlan best = {0};
    while (lo <= hi) {
        int mb = hi == p->local_batch && !best.micro_batch ? hi : lo + (hi - lo + 1) / 2; /* the whole share first */
        MemoryPlan c;
        plan_activations(&m, base, fixed, mb, p, &c);
        /* a fitting plan beats any that does not; else the smaller micro-batch (the least over the cap) */
        if (!best.micro_batch || (c.fits && (!best.fits || mb > best.micro_batch)) ||
            (!c.fits && !best.fits && mb < best.micro_batch))
            best = c;
        if (c.fits) lo = mb + 1;
        else hi = mb - 1;
    }
    /* the planner's own choice: the same number of passes with as few clips each as that allows (32 clips
     * under a cap of 26 a pass: 2 passes of 16, not 26 + 6; less memory, the same work) */
    if (cfg->micro_batch <= 0 && best.fits && best.micro_batch < p->local_batch) {
        int passes = (p->local_batch + best.micro_batch - 1) / best.micro_batch;
        int even = (p->local_batch + passes - 1) / passes;
        if (even < best.micro_batch) plan_activations(&m, base, fixed, even, p, &best);
    }
    *p = best;
    p->accumulation = (p->local_batch + p->micro_batch - 1) / p->micro_batch;
    /* the step's compute at that choice (the class prompts' lengths are known once activations were reserved) */
    BenchShape shape = bench_shape(&m, p->local_batch);
    BenchFlops flops;
    bench_flops_passes(&shape, p->local_batch, p->micro_batch, &flops);
    p->flops_forward = flops.forward;
    if (!forward_only) {
        p->flops_backward_input = flops.backward_input, p->flops_backward_weight = flops.backward_weight;
        p->flops_again = flops.recompute;
    }
    if (!forward_only) optimizer_free(&opt);
    job_model_free(&m);
    return 0;
}

int plan_eval_clips_per_rank(const Config *cfg, int ranks) {
    int eval = cfg->eval_batch - cfg->eval_batch % ranks;
    return eval < ranks ? 1 : eval / ranks;
}

int plan_prefetch_clips(const Config *cfg, int ranks) {
    int train = (cfg->batch + ranks - 1) / ranks, test = plan_eval_clips_per_rank(cfg, ranks);
    return train > test ? train : test;
}

static int plan_memory_as(const Config *cfg, int num_classes, Backend as, const char *arch, int ranks,
                          int forward_only, MemoryPlan *p, Err *err) {
    int set = recompute_parse(cfg->recompute); /* auto: -1 */
    if (set >= 0 || as != BACKEND_CUDA || forward_only) {
        if (plan_with(cfg, num_classes, as, arch, ranks, set > 0 ? set : RECOMPUTE_NONE, forward_only, p, err) != 0)
            return -1;
        if (p->has_recompute) p->recompute_deeper = RECOMPUTE_LEVELS - 1 - p->recompute;
        return 0;
    }
    /* auto on CUDA: the least recompute that leaves an efficient micro-batch (the levels in the order of their
     * cost); when none does, the level with the largest micro-batch that fits (the cheaper one on a tie), and
     * when nothing fits, the one least over the cap */
    if (plan_with(cfg, num_classes, as, arch, ranks, RECOMPUTE_NONE, 0, p, err) != 0) return -1;
    int enough = p->local_batch < PLAN_MIN_EFFICIENT_MICRO_BATCH ? p->local_batch : PLAN_MIN_EFFICIENT_MICRO_BATCH;
    for (int level = RECOMPUTE_NONE + 1; p->has_recompute && level < RECOMPUTE_LEVELS; level++) {
        if (p->fits && p->micro_batch >= enough) return 0;
        MemoryPlan with;
        if (plan_with(cfg, num_classes, as, arch, ranks, level, 0, &with, err) != 0) return -1;
        if ((with.fits && (!p->fits || with.micro_batch > p->micro_batch)) ||
            (!p->fits && !with.fits && with.total < p->total))
            *p = with;
    }
    return 0;
}

int plan_memory(const Config *cfg, int num_classes, Backend as, const char *arch, int ranks, MemoryPlan *p,
                Err *err) {
    return plan_memory_as(cfg, num_classes, as, arch, ranks, 0, p, err);
}

int plan_measure_cpu(const Config *cfg, int num_classes, int micro_batch, int recompute, int forward_only,
                     size_t *bytes, Err *err) {
    Config cpu = *cfg;
    snprintf(cpu.device, sizeof cpu.device, "cpu");
    JobModel m;
    if (job_model_create(&cpu, num_classes, &m, err) != 0) return -1;
    OptimizerConfig oc;
    job_model_optimizer_config(&cpu, &m, &oc);
    Optimizer opt = {0};
    if (forward_only) job_model_evaluation_only(&m);
    else if (optimizer_create(m.params, &oc, &opt, err) != 0) {
        job_model_free(&m);
        return -1;
    }
    job_model_set_recompute(&m, recompute);
    job_model_reserve(&m, micro_batch);
    *bytes = ops_memory_in_use(m.ops);
    if (!forward_only) optimizer_free(&opt);
    job_model_free(&m);
    return 0;
}

static int plan_apply_as(const Config *cfg, int num_classes, const char *arch, int ranks, int forward_only,
                         JobModel *jm, MemoryPlan *plan_out, Err *err) {
    MemoryPlan none;
    MemoryPlan *p = plan_out ? plan_out : &none;
    memset(p, 0, sizeof *p);
    jm->micro_batch = cfg->micro_batch; /* a train.recompute level that is set: the model was built with it */
    if (forward_only) job_model_evaluation_only(jm);
    int level_set = !forward_only && strcmp(cfg->recompute, "auto"); /* (moot for a forward) */
    if ((cfg->micro_batch > 0 && level_set) || ops_backend(jm->ops) != BACKEND_CUDA) return 0;
    if (plan_memory_as(cfg, num_classes, BACKEND_CUDA, arch, ranks, forward_only, p, err) != 0) return -1;
    if (!p->fits && cfg->micro_batch > 0)
        return err_set(err, "the model does not fit train.gpu_mem = %.3g GiB at train.micro_batch = %d (%.3f GiB; "
                            "`dfer plan` shows where the memory goes)",
                       cfg->gpu_mem, p->micro_batch, gib(p->total));
    if (!p->fits)
        return err_set(err, "the model does not fit train.gpu_mem = %.3g GiB even one clip at a time (%.3f GiB; "
                            "`dfer plan` shows where the memory goes)",
                       cfg->gpu_mem, gib(p->total));
    jm->micro_batch = p->micro_batch;
    job_model_set_recompute(jm, p->recompute);
    return 0;
}

int plan_apply(const Config *cfg, int num_classes, const char *arch, int ranks, JobModel *jm, MemoryPlan *plan_out,
               Err *err) {
    return plan_apply_as(cfg, num_classes, arch, ranks, 0, jm, plan_out, err);
}

/* The configuration of evaluation passes of batch_per_rank clips on one rank: that batch, whose prefetch slots hold
 * it; train.micro_batch is the clips whose training activations fit, and a forward keeps a fraction of them, so on
 * CUDA the plan sizes the passes for train.gpu_mem (on the CPU, which plans nothing, it stays the limit). */
static Config inference_pass(const Config *cfg, int batch_per_rank, Backend as) {
    Config pass = *cfg;
    pass.batch = pass.eval_batch = batch_per_rank > 0 ? batch_per_rank : 1;
    if (as == BACKEND_CUDA) pass.micro_batch = 0;
    return pass;
}

int plan_memory_inference(const Config *cfg, int num_classes, Backend as, const char *arch, int batch_per_rank,
                          MemoryPlan *p, Err *err) {
    Config pass = inference_pass(cfg, batch_per_rank, as);
    return plan_memory_as(&pass, num_classes, as, arch, 1, 1, p, err);
}

int plan_apply_inference(const Config *cfg, int num_classes, const char *arch, int batch_per_rank, JobModel *jm,
                         MemoryPlan *plan_out, Err *err) {
    Config pass = inference_pass(cfg, batch_per_rank, ops_backend(jm->ops));
    return plan_apply_as(&pass, num_classes, arch, 1, 1, jm, plan_out, err);
}

void plan_print(const MemoryPlan *p, FILE *out) {
    fprintf(out, "memory plan (%s, %s weights and activations)\n", p->backend == BACKEND_CUDA ? "CUDA" : "CPU",
            dtype_name(p->dtype));
    fprintf(out, "  frozen weights        %8.3f GiB\n", gib(p->weights));
    fprintf(out, "  %-22s%8.3f GiB  (%zu parameters)\n", p->forward_only ? "trainable, no grads" : "trainable + grads",
            gib(p->trainable), p->trainable_count);
    fprintf(out, "  optimiser state       %8.3f GiB  (%s)\n", gib(p->optimizer), p->optimizer_kind);
    fprintf(out, "  activations           %8.3f GiB  (micro-batch %d, %s", gib(p->activations), p->micro_batch,
            p->forward_only ? "forward only" : recompute_phrase(p->recompute));
    fprintf(out, ", %.3f GiB per clip", gib(p->activations_per_clip));
    fprintf(out, ")\n");
    if (p->input_prefetch)
        fprintf(out, "  input prefetch        %8.3f GiB  (two batches of pixels, data.device_prefetch)\n",
                gib(p->input_prefetch));
    if (p->reserve)
        fprintf(out, "  CUDA runtime reserve  %8.3f GiB  (context, cuBLASLt workspace, NCCL)\n", gib(p->reserve));
    fprintf(out, "  total                 %8.3f GiB  of a %.3f GiB cap: %s\n", gib(p->total), gib(p->cap),
            p->fits ? "fits" : "does NOT fit");
    int last = p->local_batch - (p->accumulation - 1) * p->micro_batch;
    if (p->forward_only)
        fprintf(out, "  evaluation batch: %d clip%s a rank in %d pass%s of %d%s\n", p->local_batch,
                p->local_batch > 1 ? "s" : "", p->accumulation, p->accumulation > 1 ? "es" : "", p->micro_batch,
                last == p->micro_batch ? "" : " (the last shorter)");
    else if (last == p->micro_batch)
        fprintf(out, "  batch: global %d = %d rank%s x %d micro-batch%s of %d clip%s (gradient accumulation %d)\n",
                p->global_batch, p->ranks, p->ranks > 1 ? "s" : "", p->accumulation, p->accumulation > 1 ? "es" : "",
                p->micro_batch, p->micro_batch > 1 ? "s" : "", p->accumulation);
    else
        fprintf(out, "  batch: global %d = %d rank%s x (%d micro-batch%s of %d clips + 1 of %d) (gradient "
                     "accumulation %d)\n",
                p->global_batch, p->ranks, p->ranks > 1 ? "s" : "", p->accumulation - 1,
                p->accumulation > 2 ? "es" : "", p->micro_batch, last, p->accumulation);
    double step = p->flops_forward + p->flops_backward_input + p->flops_backward_weight;
    if (p->forward_only)
        fprintf(out, "  compute: %.4g TFLOP for a rank's %d clips (forward; matrix products, as `dfer bench` counts "
                     "them)\n", p->flops_forward / 1e12, p->local_batch);
    else
        fprintf(out, "  compute: %.4g TFLOP a step a rank (forward %.4g, input gradients %.4g, trainable weight "
                     "gradients %.4g; run again, not counted: %.4g; matrix products, as `dfer bench` counts them)\n",
                step / 1e12, p->flops_forward / 1e12, p->flops_backward_input / 1e12,
                p->flops_backward_weight / 1e12, p->flops_again / 1e12);
    if (p->prompts_at_context)
        fprintf(out, "  prompts: no vocabulary (model.vocab, DFER_VOCAB): each class prompt counted at the whole "
                     "%d-token context (an upper bound)\n", p->prompts_at_context);
    /* the levels beyond the plan's that a train.recompute set by hand could still take ("" when none) */
    char deeper[96] = "";
    for (int level = p->recompute + 1, n = 0; level <= p->recompute + p->recompute_deeper; level++, n++)
        snprintf(deeper + strlen(deeper), sizeof deeper - strlen(deeper), "%s%s", n ? ", " : "",
                 recompute_name(level));
    char more[160] = "";
    if (p->micro_batch > 1 && deeper[0])
        snprintf(more, sizeof more, ", and so does more train.recompute (%s)", deeper);
    else if (deeper[0])
        snprintf(more, sizeof more, "; more train.recompute (%s) may", deeper);
    if (!p->fits && p->micro_batch > 1) /* the micro-batch was set (train.micro_batch, or contrastive's whole share) */
        fprintf(out, "  over the cap by %.3f GiB at micro-batch %d: fewer clips per pass need less (train.micro_batch "
                     "= 0 lets the planner choose; contrastive training, which takes a rank's clips at once, needs "
                     "more ranks for fewer clips each)%s; a smaller backbone, fewer frames or a larger train.gpu_mem "
                     "do too\n", gib(p->total - p->cap), p->micro_batch, more);
    else if (!p->fits)
        fprintf(out, "  over the cap by %.3f GiB even at micro-batch %d: more ranks do not help (the weights are "
                     "per rank)%s; a smaller backbone, fewer frames or a larger train.gpu_mem do\n",
                gib(p->total - p->cap), p->micro_batch, more);
}
