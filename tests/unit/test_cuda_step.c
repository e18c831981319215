/* Whole training steps on the GPU against the CPU backend: FineCLIPER (low level; all levels)
 * and DFER-CLIP on the tiny CLIP preset, with the same weights, parameters and batch. Each
 * model runs four ways: F32 and mixed precision (BF16 frozen weights and activations, F32
 * parameters, gradients and optimiser state), on each backend. Compared: the loss and logits
 * of one step, every trainable gradient, and the losses of 10 AdamW steps on the same batch.
 *
 * - F32 on the GPU against F32 on the CPU: tight bounds (below). Both compute in F32 (cuBLASLt
 *   without TF32), so they differ only in summation order, ~1e-6 per op; Adam amplifies that a
 *   little where a gradient component is near zero, hence 1e-3 for the curves.
 * - Mixed precision: the two backends round to BF16 at different places (the GPU keeps F32
 *   inside its fused kernels and GEMM epilogues and rounds an F32 trainable weight meeting a
 *   BF16 activation to BF16, as autocast does; the CPU rounds each op's output once), so they
 *   need not agree with each other better than each agrees with F32. The bound is therefore
 *   on the distance from the F32 model: the GPU's mixed precision may be at most twice as far
 *   from F32 as the CPU's (test_mixed_precision bounds that one), plus half a BF16 ulp
 *   (2^-9) of slack for quantities the CPU happens to round almost exactly. A kernel that is
 *   wrong, not just rounded elsewhere, lands orders of magnitude outside. This runs on the
 *   tiled attention path and the default composed adapters, whose roundings are the CPU's.
 * - The fused adapter kernels (DFER_ADAPTER=fused, kernels/adapter.cu) keep fc1's output, the sums
 *   and the hidden's gradient in fp32 where the composed ops round each: closer to F32 op by op
 *   (test_cuda_ops), but no longer rounding where the CPU does. FineCLIPER's middle-level projection
 *   gradient is ill-conditioned (a small sum of large terms): emulated, it is 7.5% from F32 with the
 *   fused adapters and 3.6% on the CPU, so the factor 2 does not hold for them, while every gradient
 *   keeps a cosine above 0.994 with F32. They run with the flash path below, under its bounds.
 * - The default attention path (gemm: cuBLASLt tensor-core GEMMs) also rounds the softmax
 *   probabilities P and the score gradients dS to BF16 for its GEMMs, as FlashAttention does
 *   (kernels/attention.cu). Its distances from F32 are printed beside the others; the bound
 *   asserted for it is that every gradient still points the F32 way (cosine above 0.99,
 *   a relative error of ~14%). Emulated, it moves FineCLIPER's middle-level gradients up to
 *   11% from F32 (the CPU's mixed precision: 3.6%; cosine 0.994). Its effect on training is
 *   bounded end to end by train_cuda (2e-2 of the CPU's losses).
 * - FineCLIPER (all levels) runs the gemm path once more with train.recompute = qkv-fc1 (every attention's qkv
 *   and MLP's fc1 output computed again in the backward, model/layers.h's Recompute), DFER-CLIP with blocks (its
 *   fine-tuned image encoder's blocks run again from their kept inputs, one shared set of activations): on the
 *   CPU that is bitwise the run without it (test_aim_recompute, test_dfer_clip_recompute); on the GPU the
 *   recomputed product lands in another buffer, whose alignment may give cuBLASLt another algorithm, so it is
 *   held to the gemm path's bounds, and its largest gradient distance from the run without recompute to the
 *   mixed precision's own largest distance from F32 (emulated: 0, bitwise).
 * - DFER-CLIP in its paper's ablations (two temporal blocks, one set of contexts shared by the classes: the
 *   contexts' gradient a scatter-add of every class's rows) runs F32 and the gemm path on each backend, under the
 *   same bounds.
 * Without a GPU (or a CUDA build) it prints SKIP and exits 77; the emulated backend
 * (test_cuda_step_emulated, kernels/emu) runs it on the CPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/clip_init.h"
#include "model/dfer_clip.h"
#include "model/finecliper.h"
#include "model_compare.h"
#include "testlib.h"
#include "train/optim.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif

#define F32_LOSS_REL_TOL 1e-4
#define F32_LOGITS_REL_TOL 1e-4
#define F32_GRAD_REL_L2_TOL 1e-3
#define F32_CURVE_REL_TOL 1e-3
#define BF16_FACTOR 2.0        /* GPU's distance from F32 <= factor x CPU's + slack */
#define BF16_SLACK 0.001953125 /* 2^-9: half a BF16 ulp, relative */
#define GEMM_PATH_COSINE_MIN 0.99
#define STEPS 10
#define MAX_PARAMS 128

static Ops *g_ops[2]; /* CPU, CUDA */

enum { C = 5, B = 3, T = 4 };

/* What one model did on one backend in one precision. */
typedef struct {
    double loss;
    float logits[B * C];
    int count;
    char *names[MAX_PARAMS];
    double *grads[MAX_PARAMS];
    size_t sizes[MAX_PARAMS];
    double curve[STEPS];
} Run;

static void run_keep_grads(Run *r, ParamSet *ps) {
    CHECK(ps->count <= MAX_PARAMS, "more than %d parameters", MAX_PARAMS);
    r->count = ps->count;
    for (int i = 0; i < ps->count; i++) {
        const ParamEntry *e = paramset_get(ps, i);
        r->sizes[i] = (size_t)tensor_numel(&e->value);
        r->grads[i] = xmalloc(r->sizes[i] * sizeof(double));
        r->names[i] = xstrdup(e->name); /* the model goes before the comparison */
        paramset_download_f64(ps, i, 1, r->grads[i]);
    }
}

static void run_free(Run *r) {
    for (int i = 0; i < r->count; i++) free(r->grads[i]), free(r->names[i]);
}

/* Relative L2 distance of gradient i of b from a's, and their cosine. */
static double grad_distance(const Run *a, const Run *b, int i, double *cosine) {
    double dd = 0, aa = 0, bb = 0, ab = 0;
    for (size_t k = 0; k < a->sizes[i]; k++) {
        double x = a->grads[i][k], y = b->grads[i][k];
        dd += (x - y) * (x - y), aa += x * x, bb += y * y, ab += x * y;
    }
    *cosine = ab / sqrt(aa * bb + 1e-300);
    return aa < 1e-24 ? sqrt(bb) : sqrt(dd / aa);
}

static double logits_distance(const Run *a, const Run *b) {
    double worst = 0, scale = 0;
    for (int i = 0; i < B * C; i++)
        scale = fmax(scale, fabs(a->logits[i])), worst = fmax(worst, fabs(a->logits[i] - b->logits[i]));
    return worst / scale;
}

static double curve_distance(const Run *a, const Run *b) {
    double worst = 0;
    for (int s = 0; s < STEPS; s++) worst = fmax(worst, fabs(b->curve[s] - a->curve[s]) / fabs(a->curve[s]));
    return worst;
}

/* F32 on the GPU against F32 on the CPU. */
static void check_f32(const char *what, const Run *cpu, const Run *gpu) {
    double loss_rel = fabs(gpu->loss - cpu->loss) / fabs(cpu->loss), logits = logits_distance(cpu, gpu);
    printf("%s, F32: loss %.6f (CPU) vs %.6f (GPU), relative %.2e; logits %.2e of their scale\n", what, cpu->loss,
           gpu->loss, loss_rel, logits);
    EXPECT(isfinite(gpu->loss) && loss_rel < F32_LOSS_REL_TOL, "%s, F32: loss differs by %.3g relative", what,
           loss_rel);
    EXPECT(logits < F32_LOGITS_REL_TOL, "%s, F32: logits differ by %.3g of their scale", what, logits);
    double worst = 0, worst_cos = 1;
    const char *worst_name = "";
    for (int i = 0; i < cpu->count; i++) {
        double cosine, d = grad_distance(cpu, gpu, i, &cosine);
        if (d > worst) worst = d, worst_name = cpu->names[i];
        worst_cos = fmin(worst_cos, cosine);
        EXPECT(d < F32_GRAD_REL_L2_TOL, "%s, F32: gradient of %s: relative L2 error %.3g, cosine %.7f", what,
               cpu->names[i], d, cosine);
    }
    printf("%s, F32: %d gradients, worst relative L2 error %.2e (%s), lowest cosine %.7f\n", what, cpu->count, worst,
           worst_name, worst_cos);
    double curve = curve_distance(cpu, gpu);
    printf("%s, F32: %d AdamW steps, loss %.4f -> %.4f (CPU), %.4f -> %.4f (GPU), worst step %.2e\n", what, STEPS,
           cpu->curve[0], cpu->curve[STEPS - 1], gpu->curve[0], gpu->curve[STEPS - 1], curve);
    EXPECT(curve < F32_CURVE_REL_TOL, "%s, F32: the loss curves part by %.3g relative", what, curve);
    EXPECT(gpu->curve[STEPS - 1] < gpu->curve[0], "%s, F32: the GPU's loss did not fall", what);
}

/* a <= BF16_FACTOR * b + BF16_SLACK, printed. */
static void expect_within(const char *what, const char *quantity, double gpu_dist, double cpu_dist) {
    EXPECT(gpu_dist <= BF16_FACTOR * cpu_dist + BF16_SLACK,
           "%s, mixed precision: %s is %.3g from F32 on the GPU, %.3g on the CPU (bound %.3g)", what, quantity,
           gpu_dist, cpu_dist, BF16_FACTOR * cpu_dist + BF16_SLACK);
}

/* Mixed precision on each backend, measured against F32 on the CPU. */
static void check_bf16(const char *what, const Run *f32, const Run *cpu, const Run *gpu) {
    double loss_cpu = fabs(cpu->loss - f32->loss) / fabs(f32->loss),
           loss_gpu = fabs(gpu->loss - f32->loss) / fabs(f32->loss);
    double logits_cpu = logits_distance(f32, cpu), logits_gpu = logits_distance(f32, gpu);
    printf("%s, mixed precision (tiled attention), distance from F32: loss %.2e (CPU) %.2e (GPU); logits %.2e (CPU) "
           "%.2e (GPU)\n",
           what, loss_cpu, loss_gpu, logits_cpu, logits_gpu);
    EXPECT(isfinite(gpu->loss), "%s, mixed precision: the GPU's loss is %g", what, gpu->loss);
    expect_within(what, "the loss", loss_gpu, loss_cpu);
    expect_within(what, "the logits", logits_gpu, logits_cpu);
    double worst_ratio = 0;
    const char *worst_name = "";
    double worst_cpu = 0, worst_gpu = 0;
    for (int i = 0; i < f32->count; i++) {
        double cos_cpu, cos_gpu, d_cpu = grad_distance(f32, cpu, i, &cos_cpu),
                                 d_gpu = grad_distance(f32, gpu, i, &cos_gpu);
        char q[160];
        snprintf(q, sizeof q, "the gradient of %s", f32->names[i]);
        expect_within(what, q, d_gpu, d_cpu);
        double ratio = d_gpu / (d_cpu + 1e-30);
        if (ratio > worst_ratio) worst_ratio = ratio, worst_name = f32->names[i], worst_cpu = d_cpu, worst_gpu = d_gpu;
    }
    printf("%s, mixed precision: %d gradients; largest GPU/CPU ratio of distances from F32 %.2f (%s: %.2e vs %.2e)\n",
           what, f32->count, worst_ratio, worst_name, worst_gpu, worst_cpu);
    double curve_cpu = curve_distance(f32, cpu), curve_gpu = curve_distance(f32, gpu);
    printf("%s, mixed precision: %d AdamW steps, loss %.4f -> %.4f (CPU), %.4f -> %.4f (GPU); from F32 %.2e (CPU) "
           "%.2e (GPU)\n",
           what, STEPS, cpu->curve[0], cpu->curve[STEPS - 1], gpu->curve[0], gpu->curve[STEPS - 1], curve_cpu,
           curve_gpu);
    expect_within(what, "the loss curve", curve_gpu, curve_cpu);
    EXPECT(gpu->curve[STEPS - 1] < gpu->curve[0], "%s, mixed precision: the GPU's loss did not fall", what);
}

/* An attention path that rounds P and dS to BF16 (gemm, flash) in mixed precision: distances printed,
 * direction asserted. */
static void check_bf16_rounding_path(const char *what, const char *path, const Run *f32, const Run *cpu,
                                     const Run *gpu) {
    double loss_gpu = fabs(gpu->loss - f32->loss) / fabs(f32->loss), worst = 0, worst_cpu = 0, lowest_cos = 1;
    const char *worst_name = "";
    for (int i = 0; i < f32->count; i++) {
        double cos_cpu, cos_gpu, d_cpu = grad_distance(f32, cpu, i, &cos_cpu),
                                 d_gpu = grad_distance(f32, gpu, i, &cos_gpu);
        if (d_gpu > worst) worst = d_gpu, worst_cpu = d_cpu, worst_name = f32->names[i];
        lowest_cos = fmin(lowest_cos, cos_gpu);
        EXPECT(cos_gpu > GEMM_PATH_COSINE_MIN,
               "%s, mixed precision, %s attention path: the gradient of %s has cosine %.5f with F32", what, path,
               f32->names[i], cos_gpu);
    }
    printf("%s, mixed precision, %s attention path: loss %.2e from F32; largest gradient distance %.2e (%s; CPU "
           "%.2e), lowest cosine %.5f; %d AdamW steps %.4f -> %.4f\n",
           what, path, loss_gpu, worst, worst_name, worst_cpu, lowest_cos, STEPS, gpu->curve[0], gpu->curve[STEPS - 1]);
    EXPECT(isfinite(gpu->loss) && gpu->curve[STEPS - 1] < gpu->curve[0],
           "%s, mixed precision, %s attention path: the loss did not fall", what, path);
}

static void adamw(Optimizer *opt, ParamSet *ps) {
    OptimizerConfig oc;
    optimizer_config_default(&oc, OPT_ADAMW);
    oc.groups = 3;
    for (int g = 0; g < 3; g++) oc.lr[g] = 1e-3f, oc.weight_decay[g] = 0.01f;
    Err err;
    EXPECT(optimizer_create(ps, &oc, opt, &err) == 0, "optimizer: %s", err.msg);
}

/* One step (loss, logits, gradients) and then STEPS AdamW steps of FineCLIPER. */
static void finecliper_run(Ops *ops, DType dtype, const TensorMap *hf, const ClipConfig *cc, int all_levels,
                           int recompute, Run *r) {
    ClipModel clip, desc;
    FineCliper m;
    int32_t pos[C * 77], neg[C * 77], desc_ids[B * 77], dids[B * 248];
    compare_prompts(pos, C, 0, 0), compare_prompts(neg, C, 2, 0), compare_prompts(desc_ids, B, 5, 0);
    memset(dids, 0, sizeof dids);
    for (int b = 0; b < B; b++) memcpy(dids + b * 248, desc_ids + b * 77, 12 * sizeof(int32_t));
    size_t vals = (size_t)B * T * 3 * cc->image_size * cc->image_size;
    float *frames = compare_random_floats(vals, 21, 1, 0), *parsing = compare_random_floats(vals, 22, 1, 0),
          *landmarks = compare_random_floats(vals, 23, 1, 0);
    int32_t labels[B] = {1, 4, 0};
    Err err;
    CHECK(clip_model_from_hf(ops, hf, cc, dtype, &clip, &err) == 0, "clip: %s", err.msg);
    FineCliperConfig fc;
    finecliper_config_default(&fc);
    fc.frames = T, fc.num_classes = C, fc.bottleneck_divisor = 4, fc.recompute = recompute;
    if (all_levels) {
        CHECK(clip_text_view_stretched(&clip, &desc, &err) == 0, "stretch: %s", err.msg);
        fc.mid_streams = FC_MID_PARSING | FC_MID_LANDMARKS, fc.high = 1, fc.description_length = 12;
    }
    CHECK(finecliper_create(ops, &clip, all_levels ? &desc : NULL, &fc, pos, neg, 5, &m, &err) == 0, "create: %s",
          err.msg);
    compare_perturb_params(&m.params);
    FineCliperInputs in = {.frames = frames, .parsing = all_levels ? parsing : NULL,
                           .landmarks = all_levels ? landmarks : NULL, .descriptions = all_levels ? dids : NULL};
    paramset_zero_grads(&m.params);
    r->loss = finecliper_step(&m, &in, labels, B, 1, 1.0f / B, r->logits);
    run_keep_grads(r, &m.params);
    Optimizer opt;
    adamw(&opt, &m.params);
    for (int s = 0; s < STEPS; s++) {
        paramset_zero_grads(&m.params);
        r->curve[s] = finecliper_step(&m, &in, labels, B, 1, 1.0f / B, NULL) / B;
        double norm;
        optimizer_step(&opt, 1.0f, &norm);
    }
    optimizer_free(&opt);
    finecliper_free(&m);
    if (all_levels) clip_model_free(&desc);
    clip_model_free(&clip);
    free(frames), free(parsing), free(landmarks);
}

/* ablation: two temporal blocks and shared contexts (the paper's Tab. 1 and 4) instead of DFER-CLIP's model */
static void dfer_clip_run(Ops *ops, DType dtype, const TensorMap *hf, const ClipConfig *cc, int recompute,
                          int ablation, Run *r) {
    ClipModel clip;
    DferClip m;
    int32_t ids[C * 77];
    compare_prompts(ids, C, 1, 3);
    size_t vals = (size_t)B * T * 3 * cc->image_size * cc->image_size;
    float *frames = compare_random_floats(vals, 24, 0.2f, 0.5f);
    int32_t labels[B] = {2, 3, 0};
    Err err;
    CHECK(clip_model_from_hf(ops, hf, cc, dtype, &clip, &err) == 0, "clip: %s", err.msg);
    DferClipConfig dc;
    dfer_clip_config_default(&dc);
    dc.frames = T, dc.num_classes = C, dc.contexts = 3, dc.logit_scale = 10.0f, dc.recompute = recompute;
    if (ablation) dc.temporal_layers = 2, dc.shared_contexts = 1;
    CHECK(dfer_clip_create(ops, &clip, &dc, ids, 6, &m, &err) == 0, "create: %s", err.msg);
    paramset_zero_grads(&m.params);
    r->loss = dfer_clip_step(&m, frames, labels, B, 1, 1.0f / B, r->logits);
    run_keep_grads(r, &m.params);
    Optimizer opt;
    adamw(&opt, &m.params);
    for (int s = 0; s < STEPS; s++) {
        paramset_zero_grads(&m.params);
        r->curve[s] = dfer_clip_step(&m, frames, labels, B, 1, 1.0f / B, NULL) / B;
        double norm;
        optimizer_step(&opt, 1.0f, &norm);
    }
    optimizer_free(&opt);
    dfer_clip_free(&m);
    clip_model_free(&clip);
    free(frames);
}

/* model: 0 FineCLIPER low, 1 FineCLIPER all levels, 2 DFER-CLIP, 3 DFER-CLIP's ablations. recompute: the ViT's
 * Recompute. */
static void one_run(int model, int backend, DType dt, const TensorMap *hf, const ClipConfig *cc, int recompute,
                    Run *r) {
    memset(r, 0, sizeof *r);
    if (model < 2)
        finecliper_run(g_ops[backend], dt, hf, cc, model, recompute, r);
    else
        dfer_clip_run(g_ops[backend], dt, hf, cc, recompute, model == 3, r);
}

static void model_case(int model, const TensorMap *hf, const ClipConfig *cc) {
    static const char *names[] = {"FineCLIPER low", "FineCLIPER low+mid+high", "DFER-CLIP",
                                  "DFER-CLIP, two temporal blocks, shared contexts"};
    enum { CPU_F32, CPU_BF16, GPU_F32, GPU_BF16_TILED, GPU_BF16_GEMM, GPU_BF16_FLASH, GPU_BF16_GEMM_RECOMPUTE, RUNS };
    Run runs[RUNS];
    memset(runs, 0, sizeof runs);
    one_run(model, 0, DT_F32, hf, cc, RECOMPUTE_NONE, &runs[CPU_F32]);
    one_run(model, 0, DT_BF16, hf, cc, RECOMPUTE_NONE, &runs[CPU_BF16]);
    one_run(model, 1, DT_F32, hf, cc, RECOMPUTE_NONE, &runs[GPU_F32]);
    if (model == 3) { /* the ablations add no kernel path: F32 and the default (gemm) path */
#ifdef DFER_WITH_CUDA
        dfer_cuda_set_attention(g_ops[1], "gemm", 0);
#endif
        one_run(model, 1, DT_BF16, hf, cc, RECOMPUTE_NONE, &runs[GPU_BF16_GEMM]);
        check_f32(names[model], &runs[CPU_F32], &runs[GPU_F32]);
        check_bf16_rounding_path(names[model], "gemm", &runs[CPU_F32], &runs[CPU_BF16], &runs[GPU_BF16_GEMM]);
        for (int k = 0; k < RUNS; k++) run_free(&runs[k]);
        return;
    }
#ifdef DFER_WITH_CUDA
    dfer_cuda_set_attention(g_ops[1], "tiled", 0); /* -1 (nothing to set) on the CPU of --self-test */
#endif
    one_run(model, 1, DT_BF16, hf, cc, RECOMPUTE_NONE, &runs[GPU_BF16_TILED]);
#ifdef DFER_WITH_CUDA
    dfer_cuda_set_attention(g_ops[1], "gemm", 0);
#endif
    one_run(model, 1, DT_BF16, hf, cc, RECOMPUTE_NONE, &runs[GPU_BF16_GEMM]);
    /* the recompute level run again on the gemm path: FineCLIPER's wide tensors, DFER-CLIP's whole blocks */
    int level = model == 1 ? RECOMPUTE_QKV_FC1 : model == 2 ? RECOMPUTE_BLOCKS : RECOMPUTE_NONE;
    if (level != RECOMPUTE_NONE) one_run(model, 1, DT_BF16, hf, cc, level, &runs[GPU_BF16_GEMM_RECOMPUTE]);
#ifdef DFER_WITH_CUDA
    dfer_cuda_set_attention(g_ops[1], "flash", 0); /* the tiny CLIP's heads are 64 wide: flash takes them */
    dfer_cuda_set_adapter(g_ops[1], "fused");        /* and the adapters the fused kernels (bottleneck 32) */
#endif
    one_run(model, 1, DT_BF16, hf, cc, RECOMPUTE_NONE, &runs[GPU_BF16_FLASH]);
#ifdef DFER_WITH_CUDA
    dfer_cuda_set_attention(g_ops[1], "gemm", 0);
    dfer_cuda_set_adapter(g_ops[1], "composed");
#endif
    check_f32(names[model], &runs[CPU_F32], &runs[GPU_F32]);
    check_bf16(names[model], &runs[CPU_F32], &runs[CPU_BF16], &runs[GPU_BF16_TILED]);
    check_bf16_rounding_path(names[model], "gemm", &runs[CPU_F32], &runs[CPU_BF16], &runs[GPU_BF16_GEMM]);
    check_bf16_rounding_path(names[model], "flash", &runs[CPU_F32], &runs[CPU_BF16], &runs[GPU_BF16_FLASH]);
    if (level != RECOMPUTE_NONE) {
        char path[64];
        snprintf(path, sizeof path, "gemm (%s)", recompute_phrase(level));
        check_bf16_rounding_path(names[model], path, &runs[CPU_F32], &runs[CPU_BF16], &runs[GPU_BF16_GEMM_RECOMPUTE]);
        /* recompute moves no gradient further than the mixed precision itself does (the gemm path's largest
         * distance from F32): another algorithm's summation order, not another computation */
        double largest = 0, precision = 0, cosine;
        for (int i = 0; i < runs[GPU_BF16_GEMM].count; i++) {
            largest = fmax(largest, grad_distance(&runs[GPU_BF16_GEMM], &runs[GPU_BF16_GEMM_RECOMPUTE], i, &cosine));
            precision = fmax(precision, grad_distance(&runs[CPU_F32], &runs[GPU_BF16_GEMM], i, &cosine));
        }
        EXPECT(largest <= precision, "%s, gemm path: %s moved a gradient %.3e from none, beyond the mixed "
               "precision's own largest distance from F32 (%.3e)", names[model], recompute_phrase(level), largest,
               precision);
        printf("%s, mixed precision, gemm path: %s against none: loss %.3e apart, largest gradient distance "
               "%.3e (the precision's own from F32: %.3e)\n", names[model], recompute_phrase(level),
               fabs(runs[GPU_BF16_GEMM_RECOMPUTE].loss - runs[GPU_BF16_GEMM].loss), largest, precision);
    }
    for (int k = 0; k < RUNS; k++) run_free(&runs[k]);
}

/* --self-test: a second CPU context stands in for the GPU (checks this test's own logic anywhere). */
int main(int argc, char **argv) {
    int self_test = argc > 1 && !strcmp(argv[1], "--self-test");
    Backend other = self_test ? BACKEND_CPU : BACKEND_CUDA;
    if (!self_test) {
#ifndef DFER_WITH_CUDA
        printf("SKIP: no GPU (this build has no CUDA)\n");
        return 77;
#else
        if (dfer_cuda_device_count() == 0) {
            printf("SKIP: no GPU (dfer_cuda_device_count() == 0)\n");
            return 77;
        }
#endif
    }
    Err err;
    CHECK(ops_create(BACKEND_CPU, 0, &g_ops[0], &err) == 0, "%s", err.msg);
    CHECK(ops_create(other, 0, &g_ops[1], &err) == 0, "%s", err.msg);
    printf("%s against %s\n", ops_describe(g_ops[1]), ops_describe(g_ops[0]));
    ClipConfig cc;
    CHECK(clip_config_preset("tiny", &cc, &err) == 0, "%s", err.msg);
    TensorMap hf;
    CHECK(clip_init_random(&cc, 3, &hf, &err) == 0, "%s", err.msg);
    clip_perturb_for_tests(&hf, 4, 0.1f);
    for (int model = 0; model < 4; model++) model_case(model, &hf, &cc);
    tmap_free(&hf);
    ops_destroy(g_ops[1]);
    ops_destroy(g_ops[0]);
    return test_summary();
}
