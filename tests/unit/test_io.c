/* Checkpoint formats: safetensors round trips and every malformed-file case,
 * the name layer HF <-> OpenAI both ways, architecture inference for every
 * preset, and missing or mis-shaped tensors. Each error must name the file
 * (and the tensor where there is one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/clip_names.h"
#include "io/safetensors.h"
#include "model/clip_init.h"
#include "testlib.h"

static char *path_in_tmp(const char *name) {
    static char p[4][600];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", test_tmpdir(), name);
    return p[i];
}

static void test_roundtrip(void) {
    TensorMap m;
    tmap_init(&m, "test");
    Err err;
    float f32[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
    uint16_t f16[3] = {f32_to_f16(1.5f), f32_to_f16(-0.25f), f32_to_f16(65504.f)};
    uint16_t bf16[2] = {f32_to_bf16(3.14159f), f32_to_bf16(-1e30f)};
    float scalar = 4.6052f;
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s2[1] = {2}, s0[1] = {0};
    tmap_add(&m, "b.weight", DT_F32, 2, s23, f32, 0, &err);
    tmap_add(&m, "a.half", DT_F16, 1, s3, f16, 0, &err);
    tmap_add(&m, "c.bf16", DT_BF16, 1, s2, bf16, 0, &err);
    tmap_add(&m, "logit_scale", DT_F32, 0, NULL, &scalar, 0, &err);
    tmap_add(&m, "empty", DT_F32, 1, s0, NULL, 0, &err);
    const char *meta[] = {"format", "pt", "note", "round trip", NULL};
    char *p = path_in_tmp("rt.safetensors");
    EXPECT(safetensors_write(p, &m, meta, &err) == 0, "write: %s", err.msg);
    TensorMap r;
    EXPECT(safetensors_read(p, &r, &err) == 0, "read: %s", err.msg);
    EXPECT(r.count == 5, "%d tensors", r.count);
    for (int i = 0; i < m.count; i++) {
        const TensorEntry *a = &m.items[i], *b = tmap_find(&r, a->name);
        EXPECT(b && b->dtype == a->dtype && b->ndim == a->ndim && b->nbytes == a->nbytes &&
                   (!a->nbytes || !memcmp(a->data, b->data, a->nbytes)),
               "tensor %s survives the round trip", a->name);
    }
    EXPECT(safetensors_metadata(&r, "note") && !strcmp(safetensors_metadata(&r, "note"), "round trip"), "metadata");
    /* header length is a multiple of 8, so the data starts 8-aligned */
    char *raw;
    size_t len;
    fs_read_all(p, &raw, &len, &err);
    uint64_t n = 0;
    memcpy(&n, raw, 8);
    EXPECT(n % 8 == 0, "header length %llu padded to 8", (unsigned long long)n);
    free(raw);
    float back[6];
    EXPECT(tmap_read_f32(&r, "a.half", 1, s3, back, &err) == 0 && back[0] == 1.5f && back[1] == -0.25f &&
               back[2] == 65504.f, "F16 read as F32");
    EXPECT(tmap_read_f32(&r, "c.bf16", 1, s2, back, &err) == 0 && back[0] == bf16_to_f32(f32_to_bf16(3.14159f)),
           "BF16 read as F32");
    EXPECT(tmap_read_f32(&r, "b.weight", 1, s3, back, &err) != 0 && strstr(err.msg, "b.weight") &&
               strstr(err.msg, "[2, 3]") && strstr(err.msg, "rt.safetensors"),
           "wrong shape names file and tensor: %s", err.msg);
    tmap_free(&r);
    tmap_free(&m);
}

/* Writes a safetensors image with a hand-made header and data size. */
static char *craft(const char *name, const char *header, size_t data_bytes, int64_t header_len_override) {
    char *p = path_in_tmp(name);
    FILE *f = fopen(p, "wb");
    uint64_t n = header_len_override >= 0 ? (uint64_t)header_len_override : strlen(header);
    fwrite(&n, 8, 1, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
    return p;
}

static void expect_error(const char *path, const char *needle) {
    TensorMap m;
    Err err;
    int rc = safetensors_read(path, &m, &err);
    EXPECT(rc != 0, "%s should be rejected", path);
    if (rc == 0) {
        tmap_free(&m);
        return;
    }
    EXPECT(strstr(err.msg, path) != NULL, "message names the file: %s", err.msg);
    EXPECT(strstr(err.msg, needle) != NULL, "message mentions '%s': %s", needle, err.msg);
}

static void test_bad_files(void) {
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    char *p = craft("trunc.safetensors", ok, 8, -1);
    /* truncated file: cut the data */
    {
        char *raw;
        size_t len;
        Err err;
        fs_read_all(p, &raw, &len, &err);
        char *q = path_in_tmp("truncated.safetensors");
        fs_write_atomic(q, raw, len - 3, &err);
        free(raw);
        expect_error(q, "a");
        fs_write_atomic(q, "\x05\x00\x00", 3, &err);
        expect_error(q, "truncated");
    }
    expect_error(craft("beyond.safetensors", ok, 8, 100000), "past the end");
    expect_error(craft("notjson.safetensors", "{\"a\":", 0, -1), "not valid JSON");
    expect_error(craft("notobj.safetensors", "[1,2]", 0, -1), "not a JSON object");
    expect_error(craft("overlap.safetensors",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                       12, -1),
                 "overlaps");
    expect_error(craft("gap.safetensors",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                       12, -1),
                 "gap");
    expect_error(craft("dtype.safetensors", "{\"a\":{\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, -1),
                 "unknown dtype");
    expect_error(craft("size.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -1),
                 "need 12");
    expect_error(craft("extra.safetensors", ok, 12, -1), "cover 8");
    expect_error(craft("dup.safetensors",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                       8, -1),
                 "twice");
}

static void test_names_both_ways(void) {
    ClipConfig cfg;
    Err err;
    clip_config_preset("tiny", &cfg, &err);
    TensorMap hf;
    EXPECT(clip_init_random(&cfg, 5, &hf, &err) == 0, "%s", err.msg);
    clip_perturb_for_tests(&hf, 5, 0.1f);
    TensorMap oa, back;
    EXPECT(clip_names_hf_to_openai(&hf, &oa, &err) == 0, "%s", err.msg);
    EXPECT(tmap_find(&oa, "visual.transformer.resblocks.1.attn.in_proj_weight") && tmap_find(&oa, "visual.proj") &&
               tmap_find(&oa, "transformer.resblocks.0.mlp.c_fc.bias") && !tmap_find(&oa, "text_projection.weight"),
           "OpenAI names");
    const TensorEntry *proj = tmap_find(&oa, "visual.proj");
    EXPECT(proj && proj->shape[0] == cfg.vision_width && proj->shape[1] == cfg.embed_dim, "visual.proj is [W, E]");
    NamingScheme scheme;
    EXPECT(clip_names_to_hf(&oa, &back, &scheme, &err) == 0 && scheme == NAMES_OPENAI, "%s", err.msg);
    EXPECT(back.count == hf.count, "%d vs %d tensors", back.count, hf.count);
    for (int i = 0; i < hf.count; i++) {
        const TensorEntry *a = &hf.items[i], *b = tmap_find(&back, a->name);
        EXPECT(b && b->nbytes == a->nbytes && !memcmp(a->data, b->data, a->nbytes) && b->ndim == a->ndim,
               "%s identical after HF -> OpenAI -> HF", a->name);
    }
    /* prefixes are stripped */
    TensorMap pre, again;
    tmap_init(&pre, "prefixed");
    for (int i = 0; i < oa.count; i++) {
        char n[300];
        snprintf(n, sizeof n, "module.%s", oa.items[i].name);
        tmap_add(&pre, n, oa.items[i].dtype, oa.items[i].ndim, oa.items[i].shape, oa.items[i].data, 0, &err);
    }
    EXPECT(clip_names_to_hf(&pre, &again, NULL, &err) == 0 && again.count == hf.count, "module. prefix stripped");
    ClipConfig inferred;
    EXPECT(clip_infer_config(&again, &inferred, &err) == 0 && inferred.vision_width == 128 && inferred.patch_size == 8 &&
               inferred.image_size == 32 && inferred.text_layers == 2 && inferred.embed_dim == 128,
           "inferred tiny: %s", err.msg);
    tmap_free(&again), tmap_free(&pre), tmap_free(&back), tmap_free(&oa), tmap_free(&hf);
}

static void test_inference_all_presets(void) {
    const char *names[] = {"b32", "b16", "l14", "l14-336", "tiny", "small"};
    for (int i = 0; i < 6; i++) {
        ClipConfig cfg, got;
        Err err;
        clip_config_preset(names[i], &cfg, &err);
        TensorMap hf;
        EXPECT(clip_init_shapes(&cfg, &hf, &err) == 0, "%s", err.msg);
        EXPECT(clip_infer_config(&hf, &got, &err) == 0 && !memcmp(&got, &cfg, sizeof cfg), "%s inferred back: %s",
               names[i], err.msg);
        EXPECT(clip_check_shapes(&hf, &got, &err) == 0, "%s shapes: %s", names[i], err.msg);
        if (!strcmp(names[i], "b32")) EXPECT(tmap_numel(&hf) == 151277313, "B/32 has 151,277,313 parameters");
        if (!strcmp(names[i], "tiny")) {
            /* a shape contradicting the architecture, and a missing tensor */
            TensorEntry *e = NULL;
            for (int k = 0; k < hf.count; k++)
                if (!strcmp(hf.items[k].name, "vision_model.encoder.layers.1.mlp.fc1.weight")) e = &hf.items[k];
            e->shape[0] = 100;
            EXPECT(clip_check_shapes(&hf, &got, &err) != 0 && strstr(err.msg, "layers.1.mlp.fc1.weight") &&
                       strstr(err.msg, "[100, 128]") && strstr(err.msg, "[512, 128]"),
                   "wrong shape: %s", err.msg);
            free(e->name);
            e->name = xstrdup("renamed.tensor");
            EXPECT(clip_check_shapes(&hf, &got, &err) != 0 && strstr(err.msg, "missing"), "missing tensor: %s", err.msg);
        }
        tmap_free(&hf);
    }
}

int main(void) {
    TEST_RUN(test_roundtrip);
    TEST_RUN(test_bad_files);
    TEST_RUN(test_names_both_ways);
    TEST_RUN(test_inference_all_presets);
    return test_summary();
}
