#include "data/augment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/resample.h"

int augment_preset_known(const char *name) {
    size_t n = strlen(name);
    for (const char *p = AUGMENT_PRESETS; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (n && len == n && !strncmp(p, name, n)) return 1;
        p += len + (bar != NULL);
    }
    return 0;
}

void augment_preset(const char *dataset, int size, int train, AugmentConfig *cfg) {
    CHECK(augment_preset_known(dataset) || !strcmp(dataset, "list"), "augment_preset: no preset '%s'", dataset);
    memset(cfg, 0, sizeof *cfg);
    cfg->size = size;
    cfg->train = train;
    if (!train) return;
    cfg->crop = 1;
    cfg->crop_min_area = 0.08f;
    cfg->flip = 1;
    if (!strcmp(dataset, "dfew")) cfg->brightness = 0.5f;
    if (!strcmp(dataset, "ferv39k")) cfg->rotation = 4.0f;
}

void augment_describe(const AugmentConfig *cfg, char *out, size_t n) {
    if (!n) return;
    out[0] = '\0';
    size_t len = 0; /* a test-time config has every part off (augment_preset): "none" below */
    /* each part after a ", " once something is written; snprintf truncates at n */
#define PART(...)                                                                                                    \
    do {                                                                                                             \
        if (len < n && len) len += (size_t)snprintf(out + len, n - len, ", ");                                      \
        if (len < n) len += (size_t)snprintf(out + len, n - len, __VA_ARGS__);                                      \
    } while (0)
    if (cfg->brightness > 0) PART("brightness x U[%g, %g]", 1 - cfg->brightness, 1 + cfg->brightness);
    if (cfg->rotation > 0) PART("rotation U[-%g, %g] degrees", cfg->rotation, cfg->rotation);
    if (cfg->crop) PART("random sized crop (area U[%g, 1]) to %d", cfg->crop_min_area, cfg->size);
    if (cfg->flip) PART("horizontal flip");
    if (!len) PART("none (a resize to %d)", cfg->size);
#undef PART
}

void augment_draw(const AugmentConfig *cfg, int w, int h, Rng *rng, AugmentDraw *d) {
    memset(d, 0, sizeof *d);
    d->brightness = 1.0f;
    d->crop_w = w, d->crop_h = h;
    if (!cfg->train) return;
    /* ColorJitter and RandomRotation come first in DFER-CLIP's pipelines */
    if (cfg->brightness > 0) d->brightness = (float)rng_uniform_range(rng, 1 - cfg->brightness, 1 + cfg->brightness);
    if (cfg->rotation > 0) d->angle = (float)rng_uniform_range(rng, -cfg->rotation, cfg->rotation);
    if (cfg->crop) {
        int found = 0;
        for (int attempt = 0; attempt < 10 && !found; attempt++) {
            double area = (double)w * h * rng_uniform_range(rng, cfg->crop_min_area, 1.0);
            double aspect = rng_uniform_range(rng, 3.0 / 4.0, 4.0 / 3.0);
            /* Python's round(): half to even, as nearbyint in the default rounding mode */
            int cw = (int)nearbyint(sqrt(area * aspect)), ch = (int)nearbyint(sqrt(area / aspect));
            if (rng_uniform(rng) < 0.5) {
                int t = cw;
                cw = ch, ch = t;
            }
            if (cw <= w && ch <= h && cw > 0 && ch > 0) {
                d->crop_x = (int)rng_int(rng, w - cw + 1);
                d->crop_y = (int)rng_int(rng, h - ch + 1);
                d->crop_w = cw, d->crop_h = ch;
                found = 1;
            }
        }
        if (!found) { /* GroupScale(size) then GroupRandomCrop(size) */
            d->fallback = 1;
            if (w <= h) d->scaled_w = cfg->size, d->scaled_h = (int)((double)cfg->size * h / w);
            else d->scaled_h = cfg->size, d->scaled_w = (int)((double)cfg->size * w / h);
            d->crop_x = (int)rng_int(rng, d->scaled_w - cfg->size + 1);
            d->crop_y = (int)rng_int(rng, d->scaled_h - cfg->size + 1);
            d->crop_w = d->crop_h = cfg->size;
        }
    }
    if (cfg->flip) d->flip = rng_uniform(rng) < 0.5;
}

/* Python's round(v, 15), which Pillow applies to the rotation matrix: a
 * correctly rounded decimal conversion, as glibc's printf and strtod are. */
static double round15(double v) {
    char text[64];
    snprintf(text, sizeof text, "%.15f", v);
    return strtod(text, NULL);
}

/* Pillow's FIX(): 16.16 fixed point, rounded half up (floor for negatives). */
static int fixed16(double v) {
    v = v * 65536.0 + 0.5;
    return v < 0 ? (int)floor(v) : (int)v;
}

/* PIL Image.rotate(angle, NEAREST) with no expand and black fill, exactly as
 * Pillow 9.4 computes it: the inverse matrix about the centre (w/2, h/2) with
 * entries rounded to 15 decimals, then ImagingTransformAffine, which samples
 * pixel centres in 16.16 fixed point when the corners fit (images under
 * ~23000 pixels a side) and in doubles otherwise. Output w x h. */
static void rotate_nearest(const ImageU8 *in, float angle, ImageU8 *out) {
    int w = in->width, h = in->height;
    image_alloc(out, w, h);
    memset(out->rgb, 0, (size_t)w * h * 3);
    double deg = fmod((double)angle, 360.0);
    if (deg < 0) deg += 360.0;
    if (deg == 0.0) {
        memcpy(out->rgb, in->rgb, (size_t)w * h * 3);
        return;
    }
    double r = -deg * M_PI / 180.0, cx = w / 2.0, cy = h / 2.0;
    double a[6] = {round15(cos(r)), round15(sin(r)), 0.0, round15(-sin(r)), round15(cos(r)), 0.0};
    a[2] = a[0] * -cx + a[1] * -cy + cx;
    a[5] = a[3] * -cx + a[4] * -cy + cy;
    int fits = 1; /* Pillow's check_fixed at the four corners */
    for (int corner = 0; corner < 4; corner++) {
        int x = corner & 1 ? w : 0, y = corner & 2 ? h : 0;
        if (fabs(x * a[0] + y * a[1] + a[2]) >= 32768.0 || fabs(x * a[3] + y * a[4] + a[5]) >= 32768.0) fits = 0;
    }
    if (fits) {
        int a0 = fixed16(a[0]), a1 = fixed16(a[1]), a3 = fixed16(a[3]), a4 = fixed16(a[4]);
        int row_x = fixed16(a[2] + a[1] * 0.5 + a[0] * 0.5), row_y = fixed16(a[5] + a[4] * 0.5 + a[3] * 0.5);
        for (int y = 0; y < h; y++, row_x += a1, row_y += a4) {
            int xx = row_x, yy = row_y;
            for (int x = 0; x < w; x++, xx += a0, yy += a3) {
                int sx = xx >> 16, sy = yy >> 16; /* arithmetic shift: floor, as Pillow */
                if (sx >= 0 && sx < w && sy >= 0 && sy < h)
                    memcpy(out->rgb + ((size_t)y * w + x) * 3, in->rgb + ((size_t)sy * w + sx) * 3, 3);
            }
        }
        return;
    }
    double row_x = a[2] + a[1] * 0.5 + a[0] * 0.5, row_y = a[5] + a[4] * 0.5 + a[3] * 0.5;
    for (int y = 0; y < h; y++, row_x += a[1], row_y += a[4]) {
        double xx = row_x, yy = row_y;
        for (int x = 0; x < w; x++, xx += a[0], yy += a[3]) {
            int sx = xx < 0 ? -1 : (int)xx, sy = yy < 0 ? -1 : (int)yy;
            if (sx >= 0 && sx < w && sy >= 0 && sy < h)
                memcpy(out->rgb + ((size_t)y * w + x) * 3, in->rgb + ((size_t)sy * w + sx) * 3, 3);
        }
    }
}

/* Rotation, crop (or test-time resize), flip: the geometry every aligned map shares. */
static void apply_geometry(const AugmentConfig *cfg, const AugmentDraw *d, const ImageU8 *src, ResampleFilter filter,
                           ImageU8 *out) {
    ImageU8 cur = {0}, rotated = {0};
    if (d->angle != 0.0f) {
        rotate_nearest(src, d->angle, &rotated);
        src = &rotated;
    }
    if (!cfg->train) {
        image_resize(src, cfg->size, cfg->size, filter, out);
    } else if (d->fallback) {
        ImageU8 scaled;
        image_resize(src, d->scaled_w, d->scaled_h, filter, &scaled);
        image_crop(&scaled, d->crop_x, d->crop_y, cfg->size, cfg->size, out);
        image_free(&scaled);
    } else {
        /* crop then resize, as PIL crop().resize() */
        image_crop(src, d->crop_x, d->crop_y, d->crop_w, d->crop_h, &cur);
        image_resize(&cur, cfg->size, cfg->size, filter, out);
        image_free(&cur);
    }
    if (d->flip) image_hflip(out);
    image_free(&rotated);
}

void augment_apply_labels(const AugmentConfig *cfg, const AugmentDraw *d, const ImageU8 *in, ImageU8 *out) {
    apply_geometry(cfg, d, in, RESAMPLE_NEAREST, out);
}

void augment_apply_points(const AugmentConfig *cfg, const AugmentDraw *d, int w, int h, const float *xy, int n,
                          float *out) {
    double th = (double)d->angle * M_PI / 180.0, c = cos(th), s = sin(th), cx = w / 2.0, cy = h / 2.0;
    for (int i = 0; i < n; i++) {
        double x = xy[2 * i], y = xy[2 * i + 1];
        if (d->angle != 0.0f) { /* counter-clockwise on screen (y down) about the centre, as rotate_nearest */
            double dx = x - cx, dy = y - cy;
            x = cx + c * dx + s * dy;
            y = cy - s * dx + c * dy;
        }
        if (!cfg->train) {
            x *= (double)cfg->size / w, y *= (double)cfg->size / h;
        } else if (d->fallback) {
            x = x * d->scaled_w / w - d->crop_x, y = y * d->scaled_h / h - d->crop_y;
        } else {
            x = (x - d->crop_x) * cfg->size / d->crop_w, y = (y - d->crop_y) * cfg->size / d->crop_h;
        }
        if (d->flip) x = cfg->size - x;
        out[2 * i] = (float)x, out[2 * i + 1] = (float)y;
    }
}

void augment_apply(const AugmentConfig *cfg, const AugmentDraw *d, const ImageU8 *in, ImageU8 *out) {
    ImageU8 tmp = {0};
    const ImageU8 *src = in;
    if (d->brightness != 1.0f) {
        /* PIL ImageEnhance.Brightness = Image.blend(black, im, factor): in float,
         * truncated toward zero (not rounded), clamped to 255 when factor > 1 */
        image_alloc(&tmp, in->width, in->height);
        size_t n = (size_t)in->width * in->height * 3;
        for (size_t i = 0; i < n; i++) {
            float v = d->brightness * (float)in->rgb[i];
            tmp.rgb[i] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
        }
        src = &tmp;
    }
    apply_geometry(cfg, d, src, RESAMPLE_BILINEAR, out);
    image_free(&tmp);
}
