/* Clips for the data loader: a folder of frame images (ordered by file name,
 * bytewise) or a video file, both decoded with FFmpeg's libraries. The frame
 * count is always the real one (files in the folder, frames decoded from the
 * video), never an annotation's. */
#ifndef DFER_DATA_VIDEO_H
#define DFER_DATA_VIDEO_H

#include "data/image.h"

typedef struct ClipSource ClipSource;

/* Opens and counts; a video is decoded once here (frames kept only when
 * keep_video_frames != 0, else re-decoded on read). Errors name the path. */
int clip_source_open(const char *path, ClipSource **out, Err *err);
int clip_source_frame_count(const ClipSource *c);
/* Decodes the frames at indices (any order, repeats allowed) into out[i]. */
int clip_source_read_frames(ClipSource *c, const int *indices, int n, ImageU8 *out, Err *err);
void clip_source_close(ClipSource *c);
/* Whether a file name looks like a frame image (jpg, jpeg, png, bmp, ppm, webp). */
int is_frame_image_name(const char *name);

#endif
