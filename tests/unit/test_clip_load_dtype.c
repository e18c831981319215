/* Loading an F64 CLIP checkpoint (a safetensors file on disk, through clip_model_load) converts each tensor from
 * the file's dtype straight to the model's, rounded once: into an F64 model every bit survives (values such as
 * 1 + 2^-40, which F32 cannot hold, were rounded to F32 on the way), and into a BF16 model each value is F64
 * rounded to nearest even once (through F32 first, 1 + 2^-8 + 2^-40 became the tie 1 + 2^-8 and went to even, 1,
 * instead of up to 1 + 2^-7). Every tensor of the model is compared, the fused q/k/v rows and the 4-d patch
 * embedding included, against the file's bits (F64) or a reference rounding written here from the bits of a
 * double (BF16), not against the converter under test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "model/clip.h"
#include "model/clip_init.h"
#include "testlib.h"

/* 1 + 2^-8 is a BF16 tie (halfway between 1 and 1 + 2^-7); 2^-40 above it, F64 rounds up to 1 + 2^-7 and F32
 * rounding first lands on the tie, which goes to even (1) */
#define BF16_DOUBLE_ROUNDING_CASE (1.0 + 0x1p-8 + 0x1p-40)
#define NOT_AN_F32 (1.0 + 0x1p-40)

enum { WIDTH = 16, PATCH = 4 };

/* What the cases share: the CPU context, the F64 file and its map. */
static Ops *g_ops;
static char g_path[600];
static TensorMap g_f64;

/* The BF16 nearest to d, ties to even, from d's bits alone (normal values and zero: what this test's weights are). */
static uint16_t reference_bf16(double d) {
    uint64_t bits;
    memcpy(&bits, &d, 8);
    uint16_t sign = (uint16_t)((bits >> 48) & 0x8000);
    int exponent = (int)((bits >> 52) & 0x7ff);
    if (exponent == 0 && (bits & 0xfffffffffffffull) == 0) return sign;
    CHECK(exponent - 1023 > -126 && exponent - 1023 < 127, "test: %g is outside the normal BF16 range", d);
    uint64_t magnitude = bits & 0x7fffffffffffffffull;
    /* keep 7 of the 52 fraction bits: the 45 dropped ones round to nearest, ties to the even kept value */
    magnitude += (1ull << 44) - 1 + ((magnitude >> 45) & 1);
    uint64_t kept = magnitude >> 45; /* F64 exponent (11 bits) and 7 fraction bits; a carry moves the exponent */
    uint64_t rebiased = kept - ((uint64_t)(1023 - 127) << 7);
    return (uint16_t)(sign | rebiased);
}

/* A vision-only CLIP (16 x 16 images, 4 x 4 patches, width 16, one layer) with every tensor turned F64 and moved
 * off the F32 grid (x (1 + 2^-40)), a few elements set to the cases above; written to path and kept in f64. */
static void write_f64_clip(const char *path, TensorMap *f64) {
    ClipConfig cfg = {.image_size = 16, .patch_size = PATCH, .vision_width = WIDTH, .vision_layers = 1,
                      .vision_heads = 2, .embed_dim = 8, .has_vision = 1};
    TensorMap f32;
    Err err;
    CHECK(clip_init_random(&cfg, 5, &f32, &err) == 0, "%s", err.msg);
    clip_perturb_for_tests(&f32, 6, 0.1f); /* biases and norms off 0 and 1 */
    tmap_init(f64, "f64 clip");
    for (int i = 0; i < f32.count; i++) {
        const TensorEntry *e = &f32.items[i];
        CHECK(e->dtype == DT_F32, "test: %s is not F32", e->name);
        size_t n = e->nbytes / 4;
        double *wide = malloc(n * sizeof(double) + 1);
        for (size_t k = 0; k < n; k++) {
            float x;
            memcpy(&x, e->data + 4 * k, 4);
            wide[k] = (double)x * NOT_AN_F32;
        }
        const char *layer = "vision_model.encoder.layers.0.";
        int in_layer = !strncmp(e->name, layer, strlen(layer));
        const char *rest = in_layer ? e->name + strlen(layer) : "";
        if (in_layer && !strcmp(rest, "self_attn.q_proj.weight")) wide[0] = BF16_DOUBLE_ROUNDING_CASE;
        if (in_layer && !strcmp(rest, "self_attn.k_proj.weight")) wide[3] = -BF16_DOUBLE_ROUNDING_CASE;
        if (!strcmp(e->name, "vision_model.embeddings.patch_embedding.weight")) wide[5] = NOT_AN_F32;
        CHECK(tmap_add(f64, e->name, DT_F64, e->ndim, e->shape, wide, 1, &err) == 0, "%s", err.msg);
        free(wide);
    }
    tmap_free(&f32);
    CHECK(safetensors_write(path, f64, NULL, &err) == 0, "%s", err.msg);
}

/* Compares the model tensor t from element `at` on with the file's tensor `name` (an F64 entry). Returns the number
 * of elements that differ (the first few are reported). */
static int compare_tensor(Ops *ops, const TensorMap *f64, const char *name, Tensor t, int64_t at) {
    const TensorEntry *e = tmap_find(f64, name);
    EXPECT(e != NULL, "test: %s missing from the file's map", name);
    if (!e) return 1;
    size_t n = e->nbytes / 8, size = dtype_size(t.dtype);
    uint8_t *got = malloc(n * size + 1);
    ops_download(ops, got, (const char *)t.data + (size_t)at * size, n * size);
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        double want;
        memcpy(&want, e->data + 8 * k, 8);
        int same;
        if (t.dtype == DT_F64) {
            same = !memcmp(got + 8 * k, e->data + 8 * k, 8);
        } else {
            uint16_t h;
            memcpy(&h, got + 2 * k, 2);
            same = h == reference_bf16(want);
        }
        if (!same && bad++ < 3) {
            uint64_t bits = 0;
            memcpy(&bits, got + size * k, size);
            EXPECT(0, "%s %s[%zu]: file %.17g, model bits 0x%llx", dtype_name(t.dtype), name, k, want,
                   (unsigned long long)bits);
        }
    }
    free(got);
    return bad;
}

/* Every tensor of the model against the file. */
static void compare_model(Ops *ops, const ClipModel *m, const TensorMap *f64) {
    const char *v = "vision_model.encoder.layers.0.";
    const ClipLayer *L = &m->vis_layers[0];
    char name[160];
    int bad = 0;
    bad += compare_tensor(ops, f64, "vision_model.embeddings.patch_embedding.weight", m->patch_w, 0);
    bad += compare_tensor(ops, f64, "vision_model.embeddings.class_embedding", m->class_emb, 0);
    bad += compare_tensor(ops, f64, "vision_model.embeddings.position_embedding.weight", m->vis_pos, 0);
    bad += compare_tensor(ops, f64, "vision_model.pre_layrnorm.weight", m->ln_pre_g, 0);
    bad += compare_tensor(ops, f64, "vision_model.pre_layrnorm.bias", m->ln_pre_b, 0);
    bad += compare_tensor(ops, f64, "vision_model.post_layernorm.weight", m->ln_post_g, 0);
    bad += compare_tensor(ops, f64, "vision_model.post_layernorm.bias", m->ln_post_b, 0);
    bad += compare_tensor(ops, f64, "visual_projection.weight", m->vis_proj, 0);
    static const char *qkv[3] = {"q_proj", "k_proj", "v_proj"};
    for (int p = 0; p < 3; p++) { /* rows p*X.. of the fused [3X, X] weight and [3X] bias */
        snprintf(name, sizeof name, "%sself_attn.%s.weight", v, qkv[p]);
        bad += compare_tensor(ops, f64, name, L->qkv_w, p * WIDTH * WIDTH);
        snprintf(name, sizeof name, "%sself_attn.%s.bias", v, qkv[p]);
        bad += compare_tensor(ops, f64, name, L->qkv_b, p * WIDTH);
    }
    const struct {
        const char *suffix;
        Tensor t;
    } rest[] = {{"self_attn.out_proj.weight", L->out_w}, {"self_attn.out_proj.bias", L->out_b},
                {"layer_norm1.weight", L->ln1_g},        {"layer_norm1.bias", L->ln1_b},
                {"layer_norm2.weight", L->ln2_g},        {"layer_norm2.bias", L->ln2_b},
                {"mlp.fc1.weight", L->fc1_w},            {"mlp.fc1.bias", L->fc1_b},
                {"mlp.fc2.weight", L->fc2_w},            {"mlp.fc2.bias", L->fc2_b}};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
        snprintf(name, sizeof name, "%s%s", v, rest[i].suffix);
        bad += compare_tensor(ops, f64, name, rest[i].t, 0);
    }
    EXPECT(bad == 0, "%s model: %d values are not the file's rounded once", dtype_name(m->dtype), bad);
}

static void test_f64_file_into_f64_model_keeps_every_bit(void) {
    Ops *ops = g_ops;
    const TensorMap *f64 = &g_f64;
    ClipModel m;
    Err err;
    EXPECT(clip_model_load(ops, g_path, DT_F64, &m, &err) == 0, "%s", err.msg);
    double one_past;
    ops_download(ops, &one_past, (const double *)m.patch_w.data + 5, sizeof one_past);
    EXPECT(one_past == NOT_AN_F32, "patch embedding [5]: 1 + 2^-40 loads as %.17g", one_past);
    compare_model(ops, &m, f64);
    clip_model_free(&m);
}

static void test_f64_file_into_bf16_model_rounds_once(void) {
    Ops *ops = g_ops;
    const TensorMap *f64 = &g_f64;
    ClipModel m;
    Err err;
    EXPECT(clip_model_load(ops, g_path, DT_BF16, &m, &err) == 0, "%s", err.msg);
    uint16_t q0, k3;
    ops_download(ops, &q0, m.vis_layers[0].qkv_w.data, 2);
    ops_download(ops, &k3, (const uint16_t *)m.vis_layers[0].qkv_w.data + WIDTH * WIDTH + 3, 2);
    EXPECT(reference_bf16(BF16_DOUBLE_ROUNDING_CASE) == 0x3F81, "the reference rounds 1 + 2^-8 + 2^-40 up");
    EXPECT(q0 == 0x3F81, "q_proj [0]: 1 + 2^-8 + 2^-40 loads as BF16 0x%04x, not 0x3f81 (1 + 2^-7)", q0);
    EXPECT(k3 == 0xBF81, "k_proj [3]: -(1 + 2^-8 + 2^-40) loads as BF16 0x%04x, not 0xbf81", k3);
    compare_model(ops, &m, f64);
    clip_model_free(&m);
}

int main(void) {
    Err err;
    CHECK(ops_create(BACKEND_CPU, 2, &g_ops, &err) == 0, "%s", err.msg);
    snprintf(g_path, sizeof g_path, "%s/f64_clip.safetensors", test_tmpdir());
    write_f64_clip(g_path, &g_f64);
    TEST_RUN(test_f64_file_into_f64_model_keeps_every_bit);
    TEST_RUN(test_f64_file_into_bf16_model_rounds_once);
    tmap_free(&g_f64);
    ops_destroy(g_ops);
    return test_summary();
}
