/* Augmentation drawn once per clip and applied to every frame, and with the
 * same geometry to the aligned parsing maps and landmarks: DFER-CLIP's GroupRandomSizedCrop,
 * horizontal flip, brightness (DFEW) and small rotation (FERV39k) as its
 * per-dataset pipelines do (dfer.md §1.4); at test time a bilinear resize to
 * the output size. The draw is a plain struct so it can be re-applied. */
#ifndef DFER_DATA_AUGMENT_H
#define DFER_DATA_AUGMENT_H

#include <stddef.h>

#include "core/rng.h"
#include "data/image.h"

typedef struct AugmentConfig {
    int size;           /* output side (the model's resolution) */
    int train;          /* 0: test-time resize only */
    int crop, flip;     /* random sized crop, horizontal flip */
    float brightness;   /* factor ~ U[1-b, 1+b]; 0 = off */
    float rotation;     /* angle ~ U[-r, r] degrees; 0 = off */
    float crop_min_area; /* the random sized crop's area fraction ~ U[min, 1] (0.08 in DFER-CLIP) */
} AugmentConfig;

typedef struct AugmentDraw {
    int crop_x, crop_y, crop_w, crop_h; /* the region resized to size x size */
    int fallback;       /* no crop found: short side scaled to size, then a size x size window at (crop_x, crop_y) */
    int scaled_w, scaled_h;
    int flip;
    float brightness;   /* 1 = unchanged */
    float angle;        /* degrees, counter-clockwise; 0 = none */
} AugmentDraw;

/* The training presets a user can name (data.augment, `dfer data preview --augment`), '|'-separated. */
#define AUGMENT_PRESETS "dfew|ferv39k|mafw"
/* Whether name is one of AUGMENT_PRESETS. */
int augment_preset_known(const char *name);
/* The dataset's training preset: one of AUGMENT_PRESETS, or "list" (MAFW's crop and flip); any other name is a
 * programming error (fatal: the configuration and the CLI check names). */
void augment_preset(const char *dataset, int size, int train, AugmentConfig *cfg);
/* Draws for a clip whose frames are w x h. */
/* What cfg does to a training clip, in words
 * ("random sized crop (area U[0.08, 1]), flip, brightness x U[0.5, 1.5]"). */
void augment_describe(const AugmentConfig *cfg, char *out, size_t n);
void augment_draw(const AugmentConfig *cfg, int w, int h, Rng *rng, AugmentDraw *d);
/* Applies a draw to one frame: out is size x size. */
void augment_apply(const AugmentConfig *cfg, const AugmentDraw *d, const ImageU8 *in, ImageU8 *out);
/* The draw's geometry (rotation, crop or resize, flip; no brightness) on a label
 * map aligned with the frame (a face-parsing map: class indices in the pixel
 * values), sampled NEAREST so every output value is an input label. */
void augment_apply_labels(const AugmentConfig *cfg, const AugmentDraw *d, const ImageU8 *in, ImageU8 *out);
/* The same geometry on points of a w x h frame (68 landmarks): xy [n,2] in pixels
 * (edges at integers, the first pixel's centre at 0.5) -> out [n,2] in the size x
 * size output. Points may land outside it when the crop cuts them off. */
void augment_apply_points(const AugmentConfig *cfg, const AugmentDraw *d, int w, int h, const float *xy, int n,
                          float *out);

#endif
