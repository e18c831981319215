#include "data/resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

static double bilinear(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double bicubic(double x) {
    const double a = -0.5; /* Keys' cubic with a = -0.5, as Pillow */
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

typedef struct Coeffs {
    int ksize;
    int *bounds;  /* [out][2]: first input index, count */
    int32_t *k;   /* [out][ksize] fixed-point weights */
} Coeffs;

static void coeffs_free(Coeffs *c) {
    free(c->bounds);
    free(c->k);
}

static void precompute(int in_size, double in0, double in1, int out_size, ResampleFilter f, Coeffs *c) {
    double support_base = f == RESAMPLE_BICUBIC ? 2.0 : 1.0;
    double (*filter)(double) = f == RESAMPLE_BICUBIC ? bicubic : bilinear;
    double scale = (in1 - in0) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = support_base * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = xmalloc((size_t)out_size * 2 * sizeof(int));
    c->k = xcalloc((size_t)out_size * (size_t)c->ksize, sizeof(int32_t));
    double *w = xmalloc((size_t)c->ksize * sizeof(double));
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale, ss = 1.0 / filterscale, ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = filter((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            c->k[xx * c->ksize + x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    free(w);
}

static inline uint8_t clip8(int32_t v) {
    v >>= PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* rows [row0, row0 + rows) of src, horizontally to out_w */
static void pass_horizontal(const ImageU8 *src, int row0, int rows, const Coeffs *c, int out_w, ImageU8 *dst) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src->rgb + (size_t)(row0 + y) * src->width * 3;
        uint8_t *out = dst->rgb + (size_t)y * out_w * 3;
        for (int xx = 0; xx < out_w; xx++) {
            int xmin = c->bounds[2 * xx], xmax = c->bounds[2 * xx + 1];
            const int32_t *k = c->k + xx * c->ksize;
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < xmax; x++) {
                const uint8_t *p = in + (size_t)(x + xmin) * 3;
                s0 += p[0] * k[x];
                s1 += p[1] * k[x];
                s2 += p[2] * k[x];
            }
            out[3 * xx] = clip8(s0), out[3 * xx + 1] = clip8(s1), out[3 * xx + 2] = clip8(s2);
        }
    }
}

static void pass_vertical(const ImageU8 *src, const Coeffs *c, int out_h, ImageU8 *dst) {
    int w = src->width;
    for (int yy = 0; yy < out_h; yy++) {
        int ymin = c->bounds[2 * yy], ymax = c->bounds[2 * yy + 1];
        const int32_t *k = c->k + yy * c->ksize;
        uint8_t *out = dst->rgb + (size_t)yy * w * 3;
        for (int x = 0; x < 3 * w; x++) {
            int32_t s = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < ymax; y++) s += src->rgb[(size_t)(y + ymin) * w * 3 + x] * k[y];
            out[x] = clip8(s);
        }
    }
}

int image_resize_box(const ImageU8 *src, double x0, double y0, double x1, double y1, int out_w, int out_h,
                     ResampleFilter f, ImageU8 *dst) {
    CHECK(out_w > 0 && out_h > 0 && src->width > 0 && src->height > 0, "resize %dx%d -> %dx%d", src->width,
          src->height, out_w, out_h);
    int need_h = out_w != src->width || x0 != 0 || x1 != src->width;
    int need_v = out_h != src->height || y0 != 0 || y1 != src->height;
    if (!need_h && !need_v) {
        image_alloc(dst, src->width, src->height);
        memcpy(dst->rgb, src->rgb, (size_t)src->width * src->height * 3);
        return 0;
    }
    Coeffs ch = {0}, cv = {0};
    precompute(src->height, y0, y1, out_h, f, &cv);
    int ybox_first = cv.bounds[0], ybox_last = cv.bounds[2 * out_h - 2] + cv.bounds[2 * out_h - 1];
    ImageU8 tmp = {0};
    const ImageU8 *cur = src;
    if (need_h) {
        precompute(src->width, x0, x1, out_w, f, &ch);
        for (int i = 0; i < out_h; i++) cv.bounds[2 * i] -= ybox_first;
        image_alloc(&tmp, out_w, ybox_last - ybox_first);
        pass_horizontal(src, ybox_first, ybox_last - ybox_first, &ch, out_w, &tmp);
        cur = &tmp;
    }
    if (need_v) {
        image_alloc(dst, cur->width, out_h);
        pass_vertical(cur, &cv, out_h, dst);
        image_free(&tmp);
    } else {
        *dst = tmp; /* horizontal only: tmp holds all rows */
    }
    coeffs_free(&ch);
    coeffs_free(&cv);
    return 0;
}

int image_resize(const ImageU8 *src, int out_w, int out_h, ResampleFilter f, ImageU8 *dst) {
    return image_resize_box(src, 0, 0, src->width, src->height, out_w, out_h, f, dst);
}

int image_crop(const ImageU8 *src, int x, int y, int w, int h, ImageU8 *dst) {
    CHECK(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= src->width && y + h <= src->height,
          "crop %d,%d %dx%d outside a %dx%d image", x, y, w, h, src->width, src->height);
    image_alloc(dst, w, h);
    for (int r = 0; r < h; r++)
        memcpy(dst->rgb + (size_t)r * w * 3, src->rgb + ((size_t)(y + r) * src->width + x) * 3, (size_t)w * 3);
    return 0;
}

void image_hflip(ImageU8 *img) {
    for (int y = 0; y < img->height; y++) {
        uint8_t *row = img->rgb + (size_t)y * img->width * 3;
        for (int a = 0, b = img->width - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[3 * a + c];
                row[3 * a + c] = row[3 * b + c];
                row[3 * b + c] = t;
            }
    }
}
