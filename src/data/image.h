/* RGB8 images and their decoding with FFmpeg's libraries (libavformat,
 * libavcodec, libswscale): any format FFmpeg reads (JPEG, PNG, PPM, BMP, ...). */
#ifndef DFER_DATA_IMAGE_H
#define DFER_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/check.h"

typedef struct ImageU8 {
    int width, height;
    uint8_t *rgb; /* HWC, row stride 3 * width, malloc'ed */
} ImageU8;

int image_alloc(ImageU8 *img, int width, int height);
void image_free(ImageU8 *img);
int image_decode_file(const char *path, ImageU8 *out, Err *err);
int image_decode_memory(const uint8_t *data, size_t size, ImageU8 *out, Err *err);

/* Shared by image and video decoding: quiet FFmpeg's own logging once. */
void av_quiet_logs(void);

#endif
