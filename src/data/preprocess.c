#include "data/preprocess.h"

#include <math.h>

#include "data/resample.h"

const float k_clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
const float k_clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

void image_to_chw_float(const ImageU8 *img, const float mean[3], const float std[3], float *out) {
    size_t plane = (size_t)img->width * img->height;
    for (int c = 0; c < 3; c++) {
        float m = mean[c], s = std[c];
        for (size_t i = 0; i < plane; i++) out[c * plane + i] = ((float)img->rgb[3 * i + c] / 255.0f - m) / s;
    }
}

void image_to_chw_u8(const ImageU8 *img, uint8_t *out) {
    size_t plane = (size_t)img->width * img->height;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++) out[c * plane + i] = img->rgb[3 * i + c];
}

/* Python's round(): half to even. */
static int round_half_even(double v) {
    double r = nearbyint(v); /* the default rounding mode is to nearest, ties to even */
    return (int)r;
}

int clip_preprocess(const ImageU8 *img, int n, float *out_chw, Err *err) {
    if (img->width <= 0 || img->height <= 0 || !img->rgb) return err_set(err, "clip_preprocess: empty image");
    if (n <= 0) return err_set(err, "clip_preprocess: output size %d", n);
    int w = img->width, h = img->height, rw, rh;
    /* torchvision Resize(int): the short side becomes n, the long side int(n * long / short) */
    if (w <= h) rw = n, rh = (int)((double)n * h / w);
    else rh = n, rw = (int)((double)n * w / h);
    if (rw < n) rw = n;
    if (rh < n) rh = n;
    ImageU8 resized, cropped;
    image_resize(img, rw, rh, RESAMPLE_BICUBIC, &resized);
    int top = round_half_even((rh - n) / 2.0), left = round_half_even((rw - n) / 2.0);
    image_crop(&resized, left, top, n, n, &cropped);
    image_to_chw_float(&cropped, k_clip_mean, k_clip_std, out_chw);
    image_free(&resized);
    image_free(&cropped);
    return 0;
}
