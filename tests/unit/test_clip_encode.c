/* clip_encode_images and clip_encode_texts (the `dfer embed` path) on the real CPU backend, whose
 * transfers are checked against the allocations they land in: an upload past the end of a buffer
 * is a heap overflow that the plain build does not notice (the bytes after a large block are
 * usually free), so the context's table is wrapped to record every allocation's exact size and to
 * count uploads, downloads and copies that leave them. */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/clip.h"
#include "model/clip_init.h"
#include "ops/ops_impl.h"
#include "testlib.h"

enum { MAX_LIVE = 256 };
static struct {
    const char *base;
    size_t bytes;
} g_live[MAX_LIVE];
static int g_live_count, g_out_of_bounds;
static OpsVtable g_checked;           /* the CPU table with the wrappers below */
static const OpsVtable *g_cpu;        /* the real one */

static void *checked_alloc(Ops *ops, size_t bytes) {
    void *p = g_cpu->alloc(ops, bytes);
    CHECK(g_live_count < MAX_LIVE, "test: more than %d live allocations", MAX_LIVE);
    g_live[g_live_count].base = p;
    g_live[g_live_count++].bytes = bytes;
    return p;
}

static void checked_free(Ops *ops, void *p) {
    for (int i = 0; i < g_live_count; i++)
        if (g_live[i].base == p) {
            g_live[i] = g_live[--g_live_count];
            break;
        }
    g_cpu->free(ops, p);
}

/* 1 when [p, p + bytes) lies inside one live allocation */
static int inside(const void *p, size_t bytes) {
    const char *c = p;
    for (int i = 0; i < g_live_count; i++)
        if (c >= g_live[i].base && c + bytes <= g_live[i].base + g_live[i].bytes) return 1;
    return 0;
}

static void checked_upload(Ops *ops, void *dst, const void *src, size_t bytes) {
    if (!inside(dst, bytes)) {
        g_out_of_bounds++;
        return; /* not written: the test goes on without corrupting the heap */
    }
    g_cpu->upload(ops, dst, src, bytes);
}

static void checked_download(Ops *ops, void *dst, const void *src, size_t bytes) {
    if (!inside(src, bytes)) {
        g_out_of_bounds++;
        memset(dst, 0, bytes);
        return;
    }
    g_cpu->download(ops, dst, src, bytes);
}

static void checked_copy(Ops *ops, void *dst, const void *src, size_t bytes) {
    if (!inside(dst, bytes) || !inside(src, bytes)) {
        g_out_of_bounds++;
        return;
    }
    g_cpu->copy(ops, dst, src, bytes);
}

static Ops *checked_cpu_ops(void) {
    Ops *ops;
    Err err;
    CHECK(ops_create(BACKEND_CPU, 2, &ops, &err) == 0, "%s", err.msg);
    g_cpu = ops->vt;
    g_checked = *g_cpu;
    g_checked.alloc = checked_alloc;
    g_checked.free = checked_free;
    g_checked.upload = checked_upload;
    g_checked.download = checked_download;
    g_checked.copy = checked_copy;
    ops->vt = &g_checked;
    return ops;
}

/* A small vision-only CLIP (4 x 4 patches + the class token, width 16): cheap for a batch of 100 */
static void small_vision_clip(Ops *ops, ClipModel *m) {
    ClipConfig cfg = {.image_size = 16, .patch_size = 4, .vision_width = 16, .vision_layers = 1,
                      .vision_heads = 2, .embed_dim = 8, .has_vision = 1};
    TensorMap hf;
    Err err;
    CHECK(clip_init_random(&cfg, 3, &hf, &err) == 0, "%s", err.msg);
    CHECK(clip_model_from_hf(ops, &hf, &cfg, DT_F32, m, &err) == 0, "%s", err.msg);
    tmap_free(&hf);
}

/* More images than the 64 spare floats after the embeddings: the class-token indices must have their own room,
 * and every image's embedding is the one it gets alone. */
static void test_encode_images_batch_stays_in_bounds(void) {
    Ops *ops = checked_cpu_ops();
    ClipModel m;
    small_vision_clip(ops, &m);
    enum { B = 100 };
    int64_t R = m.cfg.image_size, E = m.cfg.embed_dim, per = 3 * R * R;
    float *images = malloc((size_t)B * per * sizeof(float)), *out = malloc((size_t)B * E * sizeof(float));
    float one[8];
    Rng r;
    rng_init(&r, 11, 0, 0, 0);
    for (int64_t i = 0; i < B * per; i++) images[i] = (float)rng_normal(&r);
    g_out_of_bounds = 0;
    clip_encode_images(&m, images, B, out);
    EXPECT(g_out_of_bounds == 0, "%d transfers of clip_encode_images(%d images) left their allocation",
           g_out_of_bounds, B);
    for (int b = 0; b < B; b += 33) {
        clip_encode_images(&m, images + (size_t)b * per, 1, one);
        for (int64_t e = 0; e < E; e++) EXPECT_NEAR(out[(size_t)b * E + e], one[e], 1e-4);
    }
    EXPECT(g_out_of_bounds == 0, "single images: %d transfers left their allocation", g_out_of_bounds);
    free(images), free(out);
    clip_model_free(&m);
    ops_destroy(ops);
}

/* The text path's buffers (ids, EOT rows, pooled rows, embeddings) for as many prompts, of different lengths */
static void test_encode_texts_batch_stays_in_bounds(void) {
    Ops *ops = checked_cpu_ops();
    ClipConfig cfg = {.context_length = 12, .vocab_size = 49408, .text_width = 16, .text_layers = 1,
                      .text_heads = 2, .embed_dim = 8, .has_text = 1};
    TensorMap hf;
    Err err;
    ClipModel m;
    CHECK(clip_init_random(&cfg, 4, &hf, &err) == 0, "%s", err.msg);
    CHECK(clip_model_from_hf(ops, &hf, &cfg, DT_F32, &m, &err) == 0, "%s", err.msg);
    tmap_free(&hf);
    enum { B = 100, CTX = 12, E = 8 };
    int32_t *ids = calloc((size_t)B * CTX, sizeof(int32_t));
    for (int b = 0; b < B; b++) { /* start, b % 9 + 1 tokens, the end token (the row's largest id), zeros */
        int n = b % 9 + 1;
        ids[b * CTX] = 49406;
        for (int k = 1; k <= n; k++) ids[b * CTX + k] = 1000 + 37 * b + k;
        ids[b * CTX + n + 1] = 49407;
    }
    float *out = malloc((size_t)B * E * sizeof(float)), one[E];
    g_out_of_bounds = 0;
    clip_encode_texts(&m, ids, B, out);
    EXPECT(g_out_of_bounds == 0, "%d transfers of clip_encode_texts(%d prompts) left their allocation",
           g_out_of_bounds, B);
    for (int b = 0; b < B; b += 33) {
        clip_encode_texts(&m, ids + (size_t)b * CTX, 1, one);
        for (int e = 0; e < E; e++) EXPECT_NEAR(out[(size_t)b * E + e], one[e], 1e-4);
    }
    free(ids), free(out);
    clip_model_free(&m);
    ops_destroy(ops);
}

int main(void) {
    TEST_RUN(test_encode_images_batch_stays_in_bounds);
    TEST_RUN(test_encode_texts_batch_stays_in_bounds);
    return test_summary();
}
