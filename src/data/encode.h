/* Writing images and videos with FFmpeg's encoders: JPEG (mjpeg), PNG (RGB or
 * 8-bit index maps) and MP4 (H.264 through libx264, or MPEG-4 part 2 when
 * libx264 is missing). Files are written under a temporary name and renamed,
 * so a reader never sees half a file. */
#ifndef DFER_DATA_ENCODE_H
#define DFER_DATA_ENCODE_H

#include <stdint.h>

#include "core/check.h"

/* quality: 2 (best) .. 31 (worst), FFmpeg's qscale. */
int image_write_jpeg(const char *path, const uint8_t *rgb, int w, int h, int quality, Err *err);
/* channels 1 (gray / index map) or 3 (RGB). */
int image_write_png(const char *path, const uint8_t *pixels, int w, int h, int channels, Err *err);

typedef struct VideoWriter VideoWriter;
int video_writer_open(const char *path, int w, int h, int fps, VideoWriter **out, Err *err);
int video_writer_add_frame(VideoWriter *vw, const uint8_t *rgb, Err *err);
/* Flushes the encoder (every frame comes back when decoded) and renames into place. */
int video_writer_close(VideoWriter *vw, Err *err);

#endif
