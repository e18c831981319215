/* Pillow 9.4's resampling (libImaging/Resample.c and Geometry.c's affine
 * nearest scaling) rewritten for RGB8; clip.md §8 gives the recipe. The
 * weights of every output column/row are computed once per call as 22-bit
 * fixed-point integers; the passes then only multiply-add integers. */
#include "data/resample.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE4_1__
#include <smmintrin.h>
#endif

/* Pillow's PRECISION_BITS for 8-bit images: 32 - 8 - 2 = 22 fractional bits. */
#define PRECISION_BITS (32 - 8 - 2)

static double triangle_filter(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Keys' cubic convolution with a = -0.5 (Pillow's bicubic_filter). */
static double keys_cubic_filter(double x) {
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* The taps of one pass: output index i reads input [first[i], first[i] + count[i])
 * with the fixed-point weights weights[i * taps_max ...]. */
typedef struct Taps {
    int taps_max;
    int *first, *count;
    int32_t *weights;
} Taps;

static void taps_free(Taps *t) {
    free(t->first);
    free(t->count);
    free(t->weights);
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for the interval [in0, in1)
 * of an axis of in_size pixels mapped onto out_size pixels. */
static void taps_compute(int in_size, float in0, float in1, int out_size, ResampleFilter f, Taps *t) {
    double support_unit = f == RESAMPLE_BICUBIC ? 2.0 : 1.0;
    double (*filter)(double) = f == RESAMPLE_BICUBIC ? keys_cubic_filter : triangle_filter;
    double scale = (double)(in1 - in0) / out_size; /* the difference is taken in float, as in Pillow */
    double filterscale = scale < 1.0 ? 1.0 : scale; /* widen the kernel only when downscaling */
    double support = support_unit * filterscale;
    t->taps_max = (int)ceil(support) * 2 + 1;
    t->first = xmalloc((size_t)out_size * sizeof(int));
    t->count = xmalloc((size_t)out_size * sizeof(int));
    t->weights = xcalloc((size_t)out_size * (size_t)t->taps_max, sizeof(int32_t));
    double *w = xmalloc((size_t)t->taps_max * sizeof(double));
    double inv_filterscale = 1.0 / filterscale;
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale, total = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = filter((x + xmin - center + 0.5) * inv_filterscale);
            total += w[x];
        }
        int32_t *k = t->weights + (size_t)xx * t->taps_max;
        for (int x = 0; x < xmax; x++) {
            double v = total != 0.0 ? w[x] / total : w[x];
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        t->first[xx] = xmin;
        t->count[xx] = xmax;
    }
    free(w);
}

/* Per-thread scratch memory for the intermediate image and the vertical sums,
 * kept between calls: allocating ~200 KB afresh per frame costs more than the
 * resampling itself (glibc serves it with mmap, every page then faults in).
 * Freed by the key's destructor when the thread exits. */
typedef struct Scratch {
    uint8_t *bytes;
    size_t capacity;
} Scratch;

static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p) {
    Scratch *s = p;
    xfree_aligned(s->bytes);
    free(s);
}

static void scratch_key_create(void) {
    CHECK(pthread_key_create(&g_scratch_key, scratch_destroy) == 0, "pthread_key_create");
}

/* At least `size` bytes (+ 16 of slack for 4-byte loads at the end), 64-byte aligned. */
static uint8_t *scratch_get(size_t size) {
    pthread_once(&g_scratch_once, scratch_key_create);
    Scratch *s = pthread_getspecific(g_scratch_key);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        CHECK(pthread_setspecific(g_scratch_key, s) == 0, "pthread_setspecific");
    }
    if (s->capacity < size + 16) {
        xfree_aligned(s->bytes);
        s->capacity = (size + 16) * 5 / 4;
        s->bytes = xmalloc_aligned(s->capacity);
    }
    return s->bytes;
}

static inline uint8_t fixed_to_u8(int32_t v) {
    v >>= PRECISION_BITS; /* arithmetic shift, as Pillow's clip8 */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* rows [row0, row0 + rows) of src resampled horizontally into dst (out_w x rows). */
#ifdef __SSE4_1__
/* One pixel's three channels (and a fourth byte, read but unused) in four int32
 * lanes: per tap one 4-byte load, one widening, one multiply-add. The 4-byte
 * load may read one byte past the last pixel: image_alloc allocates that byte. */
static void pass_horizontal(const ImageU8 *src, int row0, int rows, const Taps *t, ImageU8 *dst) {
    int out_w = dst->width;
    const __m128i half = _mm_set1_epi32(1 << (PRECISION_BITS - 1));
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src->rgb + (size_t)(row0 + y) * src->width * 3;
        uint8_t *out = dst->rgb + (size_t)y * out_w * 3;
        for (int xx = 0; xx < out_w; xx++) {
            const uint8_t *p = in + (size_t)t->first[xx] * 3;
            const int32_t *k = t->weights + (size_t)xx * t->taps_max;
            int n = t->count[xx];
            __m128i sum = half;
            for (int x = 0; x < n; x++, p += 3) {
                int32_t px;
                memcpy(&px, p, 4);
                __m128i v = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(px));
                sum = _mm_add_epi32(sum, _mm_mullo_epi32(v, _mm_set1_epi32(k[x])));
            }
            sum = _mm_srai_epi32(sum, PRECISION_BITS);
            /* saturating packs clamp to [0, 255] exactly like fixed_to_u8 */
            int32_t packed = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(sum, sum), sum));
            memcpy(out + 3 * xx, &packed, 3);
        }
    }
}
#else
static void pass_horizontal(const ImageU8 *src, int row0, int rows, const Taps *t, ImageU8 *dst) {
    int out_w = dst->width;
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src->rgb + (size_t)(row0 + y) * src->width * 3;
        uint8_t *out = dst->rgb + (size_t)y * out_w * 3;
        for (int xx = 0; xx < out_w; xx++) {
            const uint8_t *p = in + (size_t)t->first[xx] * 3;
            const int32_t *k = t->weights + (size_t)xx * t->taps_max;
            int n = t->count[xx];
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < n; x++, p += 3) {
                s0 += p[0] * k[x];
                s1 += p[1] * k[x];
                s2 += p[2] * k[x];
            }
            out[3 * xx] = fixed_to_u8(s0);
            out[3 * xx + 1] = fixed_to_u8(s1);
            out[3 * xx + 2] = fixed_to_u8(s2);
        }
    }
}
#endif

/* Vertical pass, one whole output row at a time: the row of int32 sums
 * (3 * width) is updated by each contributing input row in turn, so every
 * access is sequential and the inner loop vectorises. Integer sums do not
 * depend on the order, so this equals Pillow's per-pixel loop. */
static void pass_vertical(const ImageU8 *src, const Taps *t, int32_t *sum, ImageU8 *dst) {
    size_t row_len = (size_t)src->width * 3;
    for (int yy = 0; yy < dst->height; yy++) {
        const int32_t *k = t->weights + (size_t)yy * t->taps_max;
        for (size_t i = 0; i < row_len; i++) sum[i] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < t->count[yy]; y++) {
            const uint8_t *in = src->rgb + (size_t)(t->first[yy] + y) * row_len;
            int32_t ky = k[y];
            for (size_t i = 0; i < row_len; i++) sum[i] += in[i] * ky;
        }
        uint8_t *out = dst->rgb + (size_t)yy * row_len;
        for (size_t i = 0; i < row_len; i++) out[i] = fixed_to_u8(sum[i]);
    }
}

/* Pillow's nearest resize: ImagingTransform(AFFINE, NEAREST) -> ImagingScaleAffine.
 * The source coordinate starts at box0 + step/2 and is stepped by repeated
 * addition (not recomputed per pixel): the rounding drift is part of the result. */
static void resize_nearest(const ImageU8 *src, float x0, float y0, float x1, float y1, ImageU8 *dst) {
    int out_w = dst->width, out_h = dst->height;
    double step_x = (double)(x1 - x0) / out_w, step_y = (double)(y1 - y0) / out_h;
    int *src_col = xmalloc((size_t)out_w * sizeof(int));
    double pos = x0 + step_x * 0.5;
    for (int x = 0; x < out_w; x++, pos += step_x) src_col[x] = pos < 0.0 ? -1 : (int)pos;
    pos = y0 + step_y * 0.5;
    for (int y = 0; y < out_h; y++, pos += step_y) {
        int sy = pos < 0.0 ? -1 : (int)pos;
        uint8_t *out = dst->rgb + (size_t)y * out_w * 3;
        if (sy < 0 || sy >= src->height) { /* outside the source: Pillow fills with 0 */
            memset(out, 0, (size_t)out_w * 3);
            continue;
        }
        const uint8_t *in = src->rgb + (size_t)sy * src->width * 3;
        for (int x = 0; x < out_w; x++) {
            int sx = src_col[x];
            if (sx < 0 || sx >= src->width) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = 0;
            else memcpy(out + 3 * x, in + 3 * sx, 3);
        }
    }
    free(src_col);
}

int image_resize_box(const ImageU8 *src, double box_x0, double box_y0, double box_x1, double box_y1, int out_w,
                     int out_h, ResampleFilter f, ImageU8 *dst) {
    CHECK(out_w > 0 && out_h > 0 && src->width > 0 && src->height > 0, "resize %dx%d -> %dx%d", src->width,
          src->height, out_w, out_h);
    /* Pillow parses the box as C floats; keep that precision for identical coefficients. */
    float x0 = (float)box_x0, y0 = (float)box_y0, x1 = (float)box_x1, y1 = (float)box_y1;
    CHECK(x0 >= 0 && y0 >= 0 && x1 <= src->width && y1 <= src->height && x1 > x0 && y1 > y0,
          "resize box (%g, %g, %g, %g) outside a %dx%d image", box_x0, box_y0, box_x1, box_y1, src->width,
          src->height);
    int need_h = out_w != src->width || x0 != 0 || x1 != src->width;
    int need_v = out_h != src->height || y0 != 0 || y1 != src->height;
    if (!need_h && !need_v) { /* Pillow copies */
        image_alloc(dst, src->width, src->height);
        memcpy(dst->rgb, src->rgb, (size_t)src->width * src->height * 3);
        return 0;
    }
    if (f == RESAMPLE_NEAREST) {
        image_alloc(dst, out_w, out_h);
        resize_nearest(src, x0, y0, x1, y1, dst);
        return 0;
    }
    Taps th = {0}, tv = {0};
    taps_compute(src->height, y0, y1, out_h, f, &tv);
    /* the input rows the vertical pass reads: only these get the horizontal pass */
    int row_first = tv.first[0], row_end = tv.first[out_h - 1] + tv.count[out_h - 1];
    int rows = need_h ? row_end - row_first : 0;
    /* scratch: the vertical pass's int32 sums (3 * out_w), then the intermediate image */
    size_t sum_bytes = ((size_t)out_w * 3 * sizeof(int32_t) + 63) / 64 * 64;
    uint8_t *scratch = scratch_get(sum_bytes + (size_t)out_w * rows * 3);
    ImageU8 tmp = {out_w, rows, scratch + sum_bytes};
    const ImageU8 *cur = src;
    if (need_h) {
        taps_compute(src->width, x0, x1, out_w, f, &th);
        for (int i = 0; i < out_h; i++) tv.first[i] -= row_first;
        if (!need_v) tmp.rgb = NULL, image_alloc(&tmp, out_w, rows); /* horizontal only: tmp is the result */
        pass_horizontal(src, row_first, rows, &th, &tmp);
        cur = &tmp;
    }
    if (need_v) {
        image_alloc(dst, cur->width, out_h);
        pass_vertical(cur, &tv, (int32_t *)scratch, dst);
    } else {
        *dst = tmp;
    }
    taps_free(&th);
    taps_free(&tv);
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
