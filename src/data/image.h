/* RGB8 images and their decoding with FFmpeg's libraries (libavformat,
 * libavcodec, libswscale): any format FFmpeg reads (JPEG, PNG, PPM, BMP, ...). */
#ifndef DFER_DATA_IMAGE_H
#define DFER_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/check.h"

typedef struct ImageU8 {
    int width, height;
    uint8_t *rgb; /* HWC, row stride 3 * width, malloc'ed by image_alloc with one byte of slack after
                   * the last pixel (the resampler loads pixels 4 bytes at a time) */
} ImageU8;

/* Allocates width x height (uninitialised; fatal when out of memory). */
int image_alloc(ImageU8 *img, int width, int height);
/* Frees the pixels and zeroes the struct; a zeroed or freed image may be freed again. */
void image_free(ImageU8 *img);
/* Rotates clockwise by deg (0, 90, 180, 270) into out (allocated). */
void image_rotate_cw(const ImageU8 *in, int deg, ImageU8 *out);
/* First frame of any FFmpeg-readable image (JPEG, PNG, PPM, BMP, ...) as RGB24 at
 * its native size; errors name the path. */
int image_decode_file(const char *path, ImageU8 *out, Err *err);
/* A file whose values are indices, not intensities (a parsing map: a class number per pixel), as R = G = B = the
 * index: a palette image's indices (not its colours), a grey image's values as they are; any other 8-bit image must
 * be grey in its three channels, and more than 8 bits per value is refused (errors name the path). */
int image_decode_file_indices(const char *path, ImageU8 *out, Err *err);
/* The same from bytes in memory (an AVIOContext; the format is probed from the
 * content): for fuzzing and in-memory use. */
int image_decode_memory(const uint8_t *data, size_t size, ImageU8 *out, Err *err);

/* Shared by image and video decoding: quiet FFmpeg's own logging once. */
void av_quiet_logs(void);

#endif
