/* Resampling of RGB8 images exactly as Pillow 9.4 does it (clip.md §8):
 * separable filters with the support widened when downscaling (antialiasing),
 * weights normalised then fixed-point (22 bits), horizontal pass first over only
 * the rows the vertical pass needs, each pass rounding to uint8. CLIP's
 * preprocessing uses BICUBIC, DFER-CLIP's loader BILINEAR. NEAREST follows
 * Pillow's affine nearest-neighbour scaling (the source position of each output
 * pixel centre, stepped in double precision as Pillow steps it). */
#ifndef DFER_DATA_RESAMPLE_H
#define DFER_DATA_RESAMPLE_H

#include "data/image.h"

typedef enum { RESAMPLE_NEAREST, RESAMPLE_BILINEAR, RESAMPLE_BICUBIC } ResampleFilter;

/* Resizes src to out_w x out_h; dst is allocated (image_free it). Sizes must be
 * positive (a caller bug otherwise, checked fatally). */
int image_resize(const ImageU8 *src, int out_w, int out_h, ResampleFilter f, ImageU8 *dst);
/* Pillow's resize(size, box=(x0, y0, x1, y1)): the box region (source pixel
 * coordinates, single precision as in Pillow) resampled to out_w x out_h
 * without copying the region first, so crop-then-resize costs one resize. */
int image_resize_box(const ImageU8 *src, double x0, double y0, double x1, double y1, int out_w, int out_h,
                     ResampleFilter f, ImageU8 *dst);
/* Copies the w x h region at (x, y), which must lie inside src, into dst (allocated). */
int image_crop(const ImageU8 *src, int x, int y, int w, int h, ImageU8 *dst);
/* Mirrors img left-right in place. */
void image_hflip(ImageU8 *img);

#endif
