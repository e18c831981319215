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

/* Frames carry their own presentation times, so a variable-frame-rate video keeps its timing: the
 * stream's time base is 1/VIDEO_WRITER_TICKS s (exact for 8, 10, 12.5, 15, 24, 25, 29.97, 30, 50, 60
 * fps, and within MPEG-4 part 2's limit of 65535). fps (> 0) is the nominal rate, for the encoder's rate
 * control and the stream's declared rate; a faster one (a 2500 fps high-speed camera's) is declared at
 * 1000 fps, the frames keeping their own times. */
#define VIDEO_WRITER_TICKS 30000
typedef struct VideoWriter VideoWriter;
/* A video stream's colour description (H.264 VUI), as FFmpeg's AVColorSpace, AVColorPrimaries and
 * AVColorTransferCharacteristic values (2: unspecified). */
typedef struct VideoColourTags {
    int matrix, primaries, transfer;
} VideoColourTags;
/* The frames are true RGB. source NULL (images: synthetic, a frame folder): they are converted to YUV with BT.601's
 * matrix and the stream says so (a player would guess BT.709 for an HD size). source given (frames decoded with the
 * matrix its tag names, RgbConvert.tagged_matrix): converted with that matrix, and the stream carries the source's
 * tags, so a player shows the copy as it shows the source (an untagged source stays untagged, for the player to
 * guess alike). The range is limited (TV) either way. */
int video_writer_open(const char *path, int w, int h, double fps, const VideoColourTags *source, VideoWriter **out,
                      Err *err);
/* rgb: [h, w, 3]. t_s: the frame's time in seconds from the first frame, increasing (a time that rounds to
 * or before the previous frame's tick is moved one tick after it); dur_s: how long it shows (> 0; it sets
 * the last frame's length and so the file's duration). */
int video_writer_add_frame(VideoWriter *vw, const uint8_t *rgb, double t_s, double dur_s, Err *err);
/* Flushes the encoder (every frame comes back when decoded) and renames the file into place; keep = 0 (the
 * caller failed) removes it instead. Frees vw either way. */
int video_writer_close(VideoWriter *vw, int keep, Err *err);

#endif
