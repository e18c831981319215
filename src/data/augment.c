#include "data/augment.h"

#include <math.h>
#include <string.h>

#include "data/resample.h"

void augment_preset(const char *dataset, int size, int train, AugmentConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->size = size;
    cfg->train = train;
    if (!train) return;
    cfg->crop = 1;
    cfg->flip = 1;
    if (!strcmp(dataset, "dfew")) cfg->brightness = 0.5f;
    if (!strcmp(dataset, "ferv39k")) cfg->rotation = 4.0f;
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
            double area = (double)w * h * rng_uniform_range(rng, 0.08, 1.0);
            double aspect = rng_uniform_range(rng, 3.0 / 4.0, 4.0 / 3.0);
            int cw = (int)lround(sqrt(area * aspect)), ch = (int)lround(sqrt(area / aspect));
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

/* PIL rotate(angle) with NEAREST, no expand, black fill: inverse mapping about the centre. */
static void rotate_nearest(const ImageU8 *in, float angle, ImageU8 *out) {
    image_alloc(out, in->width, in->height);
    double a = angle * M_PI / 180.0, c = cos(a), s = sin(a);
    double cx = in->width / 2.0, cy = in->height / 2.0;
    for (int y = 0; y < in->height; y++)
        for (int x = 0; x < in->width; x++) {
            double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
            double sx = c * dx - s * dy + cx, sy = s * dx + c * dy + cy;
            int ix = (int)floor(sx), iy = (int)floor(sy);
            uint8_t *o = out->rgb + ((size_t)y * in->width + x) * 3;
            if (ix < 0 || iy < 0 || ix >= in->width || iy >= in->height) o[0] = o[1] = o[2] = 0;
            else memcpy(o, in->rgb + ((size_t)iy * in->width + ix) * 3, 3);
        }
}

void augment_apply(const AugmentConfig *cfg, const AugmentDraw *d, const ImageU8 *in, ImageU8 *out) {
    ImageU8 cur = {0}, tmp = {0};
    const ImageU8 *src = in;
    if (d->brightness != 1.0f) { /* PIL ImageEnhance.Brightness: a blend with black */
        image_alloc(&tmp, in->width, in->height);
        size_t n = (size_t)in->width * in->height * 3;
        for (size_t i = 0; i < n; i++) {
            float v = in->rgb[i] * d->brightness;
            tmp.rgb[i] = (uint8_t)(v >= 255.0f ? 255 : v + 0.5f);
        }
        src = &tmp;
    }
    if (d->angle != 0.0f) {
        rotate_nearest(src, d->angle, &cur);
        image_free(&tmp);
        tmp = cur;
        src = &tmp;
        memset(&cur, 0, sizeof cur);
    }
    if (!cfg->train) {
        image_resize(src, cfg->size, cfg->size, RESAMPLE_BILINEAR, out);
    } else if (d->fallback) {
        ImageU8 scaled;
        image_resize(src, d->scaled_w, d->scaled_h, RESAMPLE_BILINEAR, &scaled);
        image_crop(&scaled, d->crop_x, d->crop_y, cfg->size, cfg->size, out);
        image_free(&scaled);
    } else {
        /* crop then bilinear resize, as PIL crop().resize() */
        image_crop(src, d->crop_x, d->crop_y, d->crop_w, d->crop_h, &cur);
        image_resize(&cur, cfg->size, cfg->size, RESAMPLE_BILINEAR, out);
        image_free(&cur);
    }
    if (d->flip) image_hflip(out);
    image_free(&tmp);
}
