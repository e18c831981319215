/* FineCLIPER with model.video_adapters = false (a frozen ViT with only the temporal embedding): its blocks are
 * plain frozen CLIP blocks, the temporal branch (which adds nothing without adapters) neither runs nor holds
 * memory.
 *  - the loss and every trainable gradient equal, bitwise (F64, CPU), those of the same model with video adapters
 *    that are silent (zero fc2, AIM's initialisation): that model runs the temporal branch, which adds exactly zero
 *    to the stream and to the gradient; at every recompute level (none, qkv, qkv-fc1, blocks);
 *  - the activation arena of the model without adapters is smaller than with them by exactly the temporal branch's
 *    tensors (its input in the temporal layout, the attention's statistics, qkv and saved state, its output) and
 *    the spatial adapter's input, per block (with block recompute: once, and the block input's copy, which is the
 *    kept input itself; at qkv and qkv-fc1 without the qkv neither keeps), computed here from the shapes;
 *  - `dfer plan`'s activations on ViT-B/16 at 16 frames (CUDA sizes) drop by at least the temporal branch's
 *    tensors of every block. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/finecliper.h"
#include "testlib.h"
#include "tiny_clip.h"
#include "train/config.h"
#include "train/plan.h"

static Ops *g_ops;

enum { FRAMES = 3, CLASSES = 3, BATCH = 2 };

static void tiny_model(ClipModel *clip, int video_adapters, int recompute, FineCliper *m) {
    FineCliperConfig cfg;
    finecliper_config_default(&cfg);
    cfg.frames = FRAMES, cfg.num_classes = CLASSES, cfg.temperature = 0.5f;
    cfg.video_adapters = video_adapters;
    cfg.recompute = recompute;
    tiny_finecliper(g_ops, clip, &cfg, m);
}

/* The values of every tensor of `from` into the tensor of the same name in `to`. */
static void copy_values_by_name(const FineCliper *from, FineCliper *to) {
    for (int i = 0; i < from->params.count; i++) {
        const ParamEntry *e = paramset_get(&from->params, i);
        int j = paramset_find(&to->params, e->name);
        EXPECT(j >= 0, "%s is not a parameter of the model with video adapters", e->name);
        if (j < 0) continue;
        double *v = malloc((size_t)tensor_numel(&e->value) * sizeof(double));
        paramset_download_f64(&from->params, i, 0, v);
        paramset_upload_f64(&to->params, j, v);
        free(v);
    }
}

static void check_equal_to_silent_adapters(int recompute) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 1);
    FineCliper plain, silent;
    tiny_model(&clip, 0, recompute, &plain);
    tiny_model(&clip, 1, 0, &silent);
    /* random temporal embedding and text adapters (zero ones would leave most gradients zero), the same in both */
    params_randomise(&plain.params, 0.3);
    copy_values_by_name(&plain, &silent);
    int fc2 = paramset_find(&silent.params, "visual.blocks.1.temporal_adapter.fc2.weight");
    double w[8 * 2];
    paramset_download_f64(&silent.params, fc2, 0, w);
    EXPECT(w[0] == 0 && w[15] == 0, "the video adapters start silent (fc2 %g, %g)", w[0], w[15]);

    int64_t n = (int64_t)BATCH * FRAMES * 3 * 8 * 8; /* [B*T,3,8,8] */
    Tensor frames = tiny_random(1, n, 0, 0, 1.0, 0);
    int32_t labels[BATCH] = {2, 0};
    FineCliperInputs in = {.frames = frames.data};
    paramset_zero_grads(&plain.params);
    paramset_zero_grads(&silent.params);
    double loss_plain = finecliper_step(&plain, &in, labels, BATCH, 1, 1.0f, NULL);
    double loss_silent = finecliper_step(&silent, &in, labels, BATCH, 1, 1.0f, NULL);
    EXPECT(isfinite(loss_plain) && loss_plain > 0, "loss %g", loss_plain);
    EXPECT(loss_plain == loss_silent, "recompute %s: loss without video adapters %.17g, with silent ones %.17g",
           recompute_name(recompute), loss_plain, loss_silent);
    int compared = 0;
    double largest = 0;
    for (int i = 0; i < plain.params.count; i++) {
        const ParamEntry *e = paramset_get(&plain.params, i);
        int j = paramset_find(&silent.params, e->name);
        if (j < 0) continue;
        int64_t k = tensor_numel(&e->value);
        double *a = malloc((size_t)k * sizeof(double)), *b = malloc((size_t)k * sizeof(double));
        paramset_download_f64(&plain.params, i, 1, a);
        paramset_download_f64(&silent.params, j, 1, b);
        int64_t differ = 0;
        for (int64_t q = 0; q < k; q++) {
            differ += a[q] != b[q];
            largest = fmax(largest, fabs(a[q]));
        }
        EXPECT(differ == 0, "recompute %s: %lld of %lld gradient entries of %s differ from the silent adapters'",
               recompute_name(recompute), (long long)differ, (long long)k, e->name);
        compared++;
        free(a), free(b);
    }
    EXPECT(compared == plain.params.count && largest > 0, "compared %d of %d tensors, largest gradient %g", compared,
           plain.params.count, largest);
    printf("  recompute %s: loss %.12g and %d gradient tensors bitwise those of silent video adapters\n",
           recompute_name(recompute), loss_plain, compared);
    finecliper_free(&plain);
    finecliper_free(&silent);
    tiny_clip_free(&clip);
    free(frames.data);
}

static void test_equal_to_silent_adapters(void) {
    for (int level = 0; level < RECOMPUTE_LEVELS; level++) check_equal_to_silent_adapters(level);
}

/* The temporal branch's activations of one block on B clips of T frames (aim_vision.c): its input in the temporal
 * layout xt [B*S,T,W], the attention's layer-norm statistics [B*S*T] (wide dtype), qkv [B*S,T,3W] (unless the
 * recompute level computes it again) and saved state, and its output at_out [B*S,T,W]; each 64-byte aligned in
 * the arena. */
static size_t temporal_branch_bytes(const ClipConfig *c, Backend backend, DType act, int64_t B, int64_t T,
                                    int keep_qkv) {
    size_t es = dtype_size(act), wide = dtype_size(act == DT_BF16 ? DT_F32 : act);
    size_t rows = (size_t)(B * clip_vision_tokens(c) * T), W = (size_t)c->vision_width;
    size_t saved = ops_attention_saved_bytes_for(backend, B * clip_vision_tokens(c), T, c->vision_heads);
    return 2 * tiny_arena_bytes(rows * W * es) + 2 * tiny_arena_bytes(rows * wide) +
           (keep_qkv ? tiny_arena_bytes(rows * 3 * W * es) : 0) + tiny_arena_bytes(saved);
}

/* One [B*T,S,W] tensor of the residual stream (the spatial adapter's input as_out, the block input's copy). */
static size_t stream_bytes(const ClipConfig *c, DType act, int64_t B, int64_t T) {
    return tiny_arena_bytes((size_t)(B * T * clip_vision_tokens(c) * c->vision_width) * dtype_size(act));
}

static void test_activation_arena_drop(void) {
    ClipModel clip;
    tiny_clip_build(g_ops, &clip, 1);
    const ClipConfig *c = &clip.cfg;
    for (int recompute = 0; recompute < RECOMPUTE_LEVELS; recompute++) {
        FineCliper with, without;
        tiny_model(&clip, 1, recompute, &with);
        tiny_model(&clip, 0, recompute, &without);
        finecliper_reserve(&with, BATCH);
        finecliper_reserve(&without, BATCH);
        int blocks = recompute == RECOMPUTE_BLOCKS; /* the one shared set keeps qkv */
        size_t temporal = temporal_branch_bytes(c, BACKEND_CPU, clip.dtype, BATCH, FRAMES,
                                                blocks || recompute == RECOMPUTE_NONE);
        size_t as_out = stream_bytes(c, clip.dtype, BATCH, FRAMES);
        /* without block recompute every block holds its own set; with it one set serves them all, and the block
         * input's copy x_a is the kept input */
        size_t want = blocks ? temporal + as_out + stream_bytes(c, clip.dtype, BATCH, FRAMES)
                                : (size_t)c->vision_layers * (temporal + as_out);
        size_t drop = with.acts.capacity - without.acts.capacity;
        EXPECT(with.acts.capacity > without.acts.capacity && drop == want,
               "recompute %s: activations %zu bytes with video adapters, %zu without: %zd less, the temporal branch "
               "and the spatial adapter's input are %zu", recompute_name(recompute), with.acts.capacity,
               without.acts.capacity, (ssize_t)with.acts.capacity - (ssize_t)without.acts.capacity, want);
        printf("  recompute %s: activation arena %zu -> %zu bytes without video adapters (%zu less)\n",
               recompute_name(recompute), with.acts.capacity, without.acts.capacity, drop);
        finecliper_free(&with);
        finecliper_free(&without);
    }
    tiny_clip_free(&clip);
}

static void plan_b16(int video_adapters, MemoryPlan *p) {
    Config c;
    config_defaults(&c);
    snprintf(c.vocab, sizeof c.vocab, "%s/clip/bpe_simple_vocab_16e6.txt.gz", test_shared_dir());
    c.frames = 16, c.batch = 4, c.eval_batch = 4, c.micro_batch = 4, c.gpu_mem = 400;
    c.video_adapters = video_adapters;
    snprintf(c.recompute, sizeof c.recompute, "none");
    Err err;
    EXPECT(plan_memory(&c, 7, BACKEND_CUDA, "b16", 1, p, &err) == 0, "plan: %s", err.msg);
}

static void test_plan_drop(void) {
    MemoryPlan with, without;
    plan_b16(1, &with);
    plan_b16(0, &without);
    ClipConfig c;
    Err err;
    EXPECT(clip_config_preset("b16", &c, &err) == 0, "%s", err.msg);
    EXPECT(with.micro_batch == 4 && without.micro_batch == 4, "micro-batches %d and %d", with.micro_batch,
           without.micro_batch);
    size_t least = (size_t)c.vision_layers * temporal_branch_bytes(&c, BACKEND_CUDA, with.dtype, 4, 16, 1);
    EXPECT(with.activations > without.activations && with.activations - without.activations >= least,
           "dfer plan, B/16, 16 frames, 4 clips: activations %zu bytes with video adapters, %zu without; the temporal "
           "branches of %d blocks are %zu", with.activations, without.activations, c.vision_layers, least);
    printf("  dfer plan, B/16, 16 frames, 4 clips (%s): activations %.3f -> %.3f GiB without video adapters "
           "(temporal branches %.3f GiB)\n", dtype_name(with.dtype), with.activations / 1073741824.0,
           without.activations / 1073741824.0, least / 1073741824.0);
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_equal_to_silent_adapters);
    TEST_RUN(test_activation_arena_drop);
    TEST_RUN(test_plan_drop);
    ops_destroy(g_ops);
    return test_summary();
}
