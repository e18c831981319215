/* op_normalize_images (uint8 pixels -> normalised frames on the device) against the
 * loader's float path, on the CPU backend, bit for bit:
 *  - frames: image_to_chw_u8 + op_normalize_images into F32 gives exactly the floats of
 *    image_to_chw_float (what the loader writes without LoaderConfig.uint8), with CLIP's
 *    mean/std (FineCLIPER) and with mean 0, std 1 (DFER-CLIP's raw [0,1] pixels);
 *  - into BF16: f32_to_bf16 of those floats (one rounding, to nearest even);
 *  - into F64: those floats widened (the loader's F64 path widens its F32 values);
 *  - FineCLIPER's maps: the bytes the loader writes with uint8 (lut->u) normalise to the
 *    floats it writes without (lut->f, face_map_lut_init);
 * and every byte value 0..255 occurs in every channel. Images of 16 x 16 and of 13 x 11
 * pixels (a plane that is not a multiple of 16, the CUDA kernel's scalar path). */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/preprocess.h"
#include "face/render.h"
#include "ops/ops.h"
#include "testlib.h"

static Ops *g_ops;
static const float k_zero[3] = {0, 0, 0}, k_one[3] = {1, 1, 1};

/* n random images of w x h; the first pixels of each channel walk through all 256 values. */
static ImageU8 *random_images(int n, int w, int h, uint64_t seed) {
    ImageU8 *img = xcalloc((size_t)n, sizeof *img);
    Rng r;
    rng_init(&r, seed, 0, 0, 0);
    size_t plane = (size_t)w * h;
    for (int k = 0; k < n; k++) {
        CHECK(image_alloc(&img[k], w, h) == 0, "image_alloc");
        for (size_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++) {
                size_t at = (size_t)k * plane + i; /* across the images: 256 values for small planes too */
                img[k].rgb[3 * i + c] = at < 256 ? (uint8_t)(at + 85 * c) : (uint8_t)rng_int(&r, 256);
            }
    }
    return img;
}

/* y: a tensor of the op's output dtype over the images, normalised by the op from their bytes. */
static void *op_output(const uint8_t *bytes, int n, int w, int h, DType dt, const float mean[3], const float std[3]) {
    int64_t count = (int64_t)n * 3 * w * h;
    Tensor x = tensor_make(ops_alloc(g_ops, (size_t)count), DT_U8, 4, (int64_t)n, (int64_t)3, (int64_t)h, (int64_t)w);
    x.name = "pixels";
    Tensor y = tensor_make(ops_alloc(g_ops, (size_t)count * dtype_size(dt)), dt, 4, (int64_t)n, (int64_t)3, (int64_t)h,
                           (int64_t)w);
    y.name = "frames";
    memset(y.data, 0xA5, (size_t)count * dtype_size(dt)); /* an element never written shows */
    ops_upload(g_ops, x.data, bytes, (size_t)count);
    op_normalize_images(g_ops, y, x, mean, std);
    void *out = xmalloc((size_t)count * dtype_size(dt));
    ops_download(g_ops, out, y.data, (size_t)count * dtype_size(dt));
    ops_free(g_ops, x.data);
    ops_free(g_ops, y.data);
    return out;
}

static void check_frames(int n, int w, int h, const float mean[3], const float std[3], const char *what) {
    ImageU8 *img = random_images(n, w, h, (uint64_t)(w * 1000 + h));
    size_t per = (size_t)3 * w * h, count = (size_t)n * per;
    float *ref = xmalloc(count * sizeof(float));
    uint8_t *bytes = xmalloc(count);
    for (int k = 0; k < n; k++) {
        image_to_chw_float(&img[k], mean, std, ref + (size_t)k * per); /* the loader's float path */
        image_to_chw_u8(&img[k], bytes + (size_t)k * per);           /* its uint8 path */
    }
    float *f32 = op_output(bytes, n, w, h, DT_F32, mean, std);
    size_t differ = 0, first = 0;
    for (size_t i = 0; i < count; i++)
        if (memcmp(&f32[i], &ref[i], sizeof(float)) != 0 && !differ++) first = i;
    EXPECT(differ == 0, "%s %dx%d: %zu of %zu F32 values differ from image_to_chw_float (first at %zu: %.9g vs %.9g)",
           what, w, h, differ, count, first, f32[first], ref[first]);

    uint16_t *bf16 = op_output(bytes, n, w, h, DT_BF16, mean, std);
    differ = 0;
    for (size_t i = 0; i < count; i++)
        if (bf16[i] != f32_to_bf16(ref[i]) && !differ++) first = i;
    EXPECT(differ == 0, "%s %dx%d: %zu of %zu BF16 values are not round(F32) (first at %zu: %04x vs %04x)", what, w, h,
           differ, count, first, bf16[first], f32_to_bf16(ref[first]));

    double *f64 = op_output(bytes, n, w, h, DT_F64, mean, std);
    differ = 0;
    for (size_t i = 0; i < count; i++)
        if (f64[i] != (double)ref[i] && !differ++) first = i;
    EXPECT(differ == 0, "%s %dx%d: %zu of %zu F64 values are not the F32 values widened (first at %zu)", what, w, h,
           differ, count, first);
    free(f32), free(bf16), free(f64), free(ref), free(bytes);
    for (int k = 0; k < n; k++) image_free(&img[k]);
    free(img);
}

static void test_frames_clip(void) {
    check_frames(3, 16, 16, k_clip_mean, k_clip_std, "CLIP mean/std");
    check_frames(2, 13, 11, k_clip_mean, k_clip_std, "CLIP mean/std");
}

static void test_frames_raw(void) {
    check_frames(3, 16, 16, k_zero, k_one, "raw [0,1]");
    check_frames(2, 13, 11, k_zero, k_one, "raw [0,1]");
}

/* The loader's maps: an index map coloured through the LUT as bytes (uint8) or as floats. */
static void test_maps(void) {
    const int S = 12;
    size_t n = (size_t)S * S;
    uint8_t idx[12 * 12];
    for (size_t i = 0; i < n; i++) idx[i] = (uint8_t)(i % FACE_CLASSES);
    for (int kind = 0; kind < 2; kind++) {
        for (int norm = 0; norm < 2; norm++) {
            const float *mean = norm ? k_clip_mean : k_zero, *std = norm ? k_clip_std : k_one;
            FaceMapLut lut;
            face_map_lut_init(&lut, kind ? FACE_MAP_DOTS : FACE_MAP_PARSING, mean, std);
            float *ref = xmalloc(3 * n * sizeof(float));
            face_map_to_chw(&lut, idx, n, ref);
            uint8_t bytes[3 * 12 * 12];
            for (int c = 0; c < 3; c++)
                for (size_t i = 0; i < n; i++) bytes[c * n + i] = lut.u[c][idx[i]];
            float *got = op_output(bytes, 1, S, S, DT_F32, mean, std);
            EXPECT(memcmp(got, ref, 3 * n * sizeof(float)) == 0, "%s maps (%s): the normalised bytes differ from the "
                   "loader's float maps", kind ? "landmark" : "parsing", norm ? "CLIP mean/std" : "raw");
            free(got), free(ref);
        }
    }
}

/* ops_alloc_host on the CPU: aligned, writable, freed by ops_free_host. */
static void test_host_memory(void) {
    uint8_t *p = ops_alloc_host(g_ops, 1000);
    EXPECT(p && ((uintptr_t)p & 63) == 0, "ops_alloc_host: %p is not 64-byte aligned", (void *)p);
    memset(p, 1, 1000);
    ops_free_host(g_ops, p);
    ops_free_host(g_ops, NULL);
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_frames_clip);
    TEST_RUN(test_frames_raw);
    TEST_RUN(test_maps);
    TEST_RUN(test_host_memory);
    ops_destroy(g_ops);
    return test_summary();
}
