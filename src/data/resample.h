/* Resampling of RGB8 images exactly as Pillow 9.4 does it (clip.md §8):
 * separable filters with the support widened when downscaling (antialiasing),
 * weights normalised then fixed-point (22 bits), horizontal pass first over only
 * the rows the vertical pass needs, each pass rounding to uint8. CLIP's
 * preprocessing uses BICUBIC, DFER-CLIP's loader BILINEAR. */
#ifndef DFER_DATA_RESAMPLE_H
#define DFER_DATA_RESAMPLE_H

#include "data/image.h"

typedef enum { RESAMPLE_BILINEAR = 0, RESAMPLE_BICUBIC = 1 } ResampleFilter;

/* dst is allocated. */
int image_resize(const ImageU8 *src, int out_w, int out_h, ResampleFilter f, ImageU8 *dst);
/* Pillow's resize(size, box=(x0, y0, x1, y1)): the box region (source pixel
 * coordinates) resampled to out_w x out_h. */
int image_resize_box(const ImageU8 *src, double x0, double y0, double x1, double y1, int out_w, int out_h,
                     ResampleFilter f, ImageU8 *dst);
int image_crop(const ImageU8 *src, int x, int y, int w, int h, ImageU8 *dst);
void image_hflip(ImageU8 *img);

#endif
