/* Resampling and CLIP preprocessing against Pillow 9.4: every line of
 * extra.txt written by tests/reference/pil_resample.py (run by the ctest
 * fixture in tests/decode.cmake into $DFER_DECODE_REF/pil) is one reference.
 * Resizes must be byte-identical; clip_preprocess within 1e-6 of the
 * torchvision-free Python transform. Properties that need no reference
 * (crop, flip, identity, nearest duplication) are checked directly. */
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/preprocess.h"
#include "data/resample.h"
#include "testlib.h"

static char g_ref_dir[4096];

static int parse_filter(const char *name, ResampleFilter *f) {
    if (!strcmp(name, "nearest")) *f = RESAMPLE_NEAREST;
    else if (!strcmp(name, "bilinear")) *f = RESAMPLE_BILINEAR;
    else if (!strcmp(name, "bicubic")) *f = RESAMPLE_BICUBIC;
    else return -1;
    return 0;
}

static int load_png(const char *name, ImageU8 *img) {
    char path[8192];
    Err err;
    snprintf(path, sizeof path, "%s/%s", g_ref_dir, name);
    int rc = image_decode_file(path, img, &err);
    EXPECT(rc == 0, "%s", err.msg);
    return rc;
}

/* Counts differing bytes; reports the first difference. */
static size_t count_diff(const ImageU8 *got, const ImageU8 *want, const char *what) {
    if (got->width != want->width || got->height != want->height) {
        test_fail(__FILE__, __LINE__, "%s: size %dx%d, Pillow %dx%d", what, got->width, got->height, want->width,
                  want->height);
        return 1;
    }
    size_t n = (size_t)got->width * got->height * 3, diff = 0;
    for (size_t i = 0; i < n; i++)
        if (got->rgb[i] != want->rgb[i] && diff++ == 0)
            printf("  %s: first difference at pixel (%zu, %zu) channel %zu: %d vs Pillow %d\n", what,
                   i / 3 % (size_t)got->width, i / 3 / (size_t)got->width, i % 3, got->rgb[i], want->rgb[i]);
    return diff;
}

static void test_against_pillow(void) {
    char path[8192], *text;
    size_t len;
    Err err;
    snprintf(path, sizeof path, "%s/extra.txt", g_ref_dir);
    if (fs_read_all(path, &text, &len, &err) != 0) {
        EXPECT(0, "%s", err.msg);
        return;
    }
    int resizes = 0, boxes = 0, clips = 0;
    double worst_clip = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char fname[256], fil[16], input[64];
        int id, ow, oh, n_px;
        double x0, y0, x1, y1;
        ResampleFilter f;
        ImageU8 in, want, got;
        if (sscanf(line, "resize %d %15s %d %d %255s", &id, fil, &ow, &oh, fname) == 5 && !parse_filter(fil, &f)) {
            snprintf(input, sizeof input, "in_%d.png", id);
            if (load_png(input, &in) || load_png(fname, &want)) break;
            image_resize(&in, ow, oh, f, &got);
            char what[128];
            snprintf(what, sizeof what, "%dx%d -> %dx%d %s", in.width, in.height, ow, oh, fil);
            size_t d = count_diff(&got, &want, what);
            EXPECT(d == 0, "%s: %zu bytes differ from Pillow", what, d);
            image_free(&got), image_free(&want), image_free(&in);
            resizes++;
        } else if (sscanf(line, "box %d %15s %lf %lf %lf %lf %d %d %255s", &id, fil, &x0, &y0, &x1, &y1, &ow, &oh,
                          fname) == 9 &&
                   !parse_filter(fil, &f)) {
            snprintf(input, sizeof input, "in_%d.png", id);
            if (load_png(input, &in) || load_png(fname, &want)) break;
            image_resize_box(&in, x0, y0, x1, y1, ow, oh, f, &got);
            char what[160];
            snprintf(what, sizeof what, "%dx%d box (%g,%g,%g,%g) -> %dx%d %s", in.width, in.height, x0, y0, x1, y1,
                     ow, oh, fil);
            size_t d = count_diff(&got, &want, what);
            EXPECT(d == 0, "%s: %zu bytes differ from Pillow", what, d);
            image_free(&got), image_free(&want), image_free(&in);
            boxes++;
        } else if (sscanf(line, "clip %d %d %255s", &id, &n_px, fname) == 3) {
            snprintf(input, sizeof input, "in_%d.png", id);
            if (load_png(input, &in)) break;
            char *ref;
            size_t ref_len, count = (size_t)3 * n_px * n_px;
            snprintf(path, sizeof path, "%s/%s", g_ref_dir, fname);
            if (fs_read_all(path, &ref, &ref_len, &err) != 0 || ref_len != count * sizeof(float)) {
                EXPECT(0, "%s: %zu bytes, want %zu", path, ref_len, count * sizeof(float));
                image_free(&in);
                break;
            }
            float *out = malloc(count * sizeof(float)), *want_f = (float *)ref;
            EXPECT(clip_preprocess(&in, n_px, out, &err) == 0, "%s", err.msg);
            double worst = 0;
            for (size_t i = 0; i < count; i++) {
                double d = fabs((double)out[i] - want_f[i]);
                if (d > worst) worst = d;
            }
            EXPECT(worst <= 1e-6, "clip_preprocess(%dx%d, %d): max |diff| %.3g vs Python", in.width, in.height, n_px,
                   worst);
            if (worst > worst_clip) worst_clip = worst;
            free(out), free(ref), image_free(&in);
            clips++;
        } else {
            EXPECT(0, "extra.txt: unreadable line '%s'", line);
        }
    }
    free(text);
    printf(
        "  Pillow references: %d resizes, %d box resizes byte-compared; %d clip_preprocess outputs, max |diff| %.3g\n",
        resizes, boxes, clips, worst_clip);
    EXPECT(resizes >= 30 && boxes >= 30 && clips >= 10, "too few references read (%d, %d, %d)", resizes, boxes, clips);
}

/* A small image whose every byte is distinct enough to catch misplaced pixels. */
static void pattern(ImageU8 *img, int w, int h) {
    image_alloc(img, w, h);
    for (int i = 0; i < w * h * 3; i++) img->rgb[i] = (uint8_t)(i * 37 + i / 7);
}

static void test_crop_flip_identity(void) {
    ImageU8 img, crop, same, twice;
    pattern(&img, 13, 9);
    image_crop(&img, 3, 2, 5, 4, &crop);
    EXPECT(crop.width == 5 && crop.height == 4, "crop size %dx%d", crop.width, crop.height);
    int bad = 0;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 5; x++)
            bad += memcmp(crop.rgb + (y * 5 + x) * 3, img.rgb + ((y + 2) * 13 + x + 3) * 3, 3) != 0;
    EXPECT(bad == 0, "%d cropped pixels differ from the source", bad);
    image_resize(&img, 13, 9, RESAMPLE_BICUBIC, &same); /* same size: Pillow copies */
    EXPECT(!memcmp(same.rgb, img.rgb, 13 * 9 * 3), "a same-size resize changed pixels");
    pattern(&twice, 13, 9);
    image_hflip(&twice);
    EXPECT(!memcmp(twice.rgb, img.rgb + 12 * 3, 3) && !memcmp(twice.rgb + 12 * 3, img.rgb, 3),
           "hflip did not swap the first row's ends");
    image_hflip(&twice);
    EXPECT(!memcmp(twice.rgb, img.rgb, 13 * 9 * 3), "hflip twice is not the identity");
    image_free(&img), image_free(&crop), image_free(&same), image_free(&twice);
}

static void test_nearest_doubling(void) {
    ImageU8 img, big;
    pattern(&img, 7, 5);
    image_resize(&img, 14, 10, RESAMPLE_NEAREST, &big);
    int bad = 0;
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 14; x++)
            bad += memcmp(big.rgb + (y * 14 + x) * 3, img.rgb + (y / 2 * 7 + x / 2) * 3, 3) != 0;
    EXPECT(bad == 0, "nearest 2x upscale: %d pixels are not their source pixel", bad);
    image_free(&img), image_free(&big);
}

/* Raw [0,1] CHW: mean 0, std 1 is DFER-CLIP's input. */
static void test_chw_float(void) {
    ImageU8 img;
    pattern(&img, 3, 2);
    float out[18];
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    image_to_chw_float(&img, zero, one, out);
    int bad = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 6; i++) bad += out[c * 6 + i] != (float)img.rgb[i * 3 + c] / 255.0f;
    EXPECT(bad == 0, "%d CHW values are not pixel/255 of their channel", bad);
    image_free(&img);
}

int main(void) {
    const char *ref = getenv("DFER_DECODE_REF");
    TEST_RUN(test_crop_flip_identity);
    TEST_RUN(test_nearest_doubling);
    TEST_RUN(test_chw_float);
    if (!ref) {
        EXPECT(0, "DFER_DECODE_REF is not set: run through ctest (the decode_reference_files fixture writes it)");
    } else {
        snprintf(g_ref_dir, sizeof g_ref_dir, "%s/pil", ref);
        TEST_RUN(test_against_pillow);
    }
    return test_summary();
}
