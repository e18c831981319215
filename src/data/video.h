/* Clips for the data loader: a folder of frame images (ordered by file name,
 * bytewise) or a video file, both decoded with FFmpeg's libraries. The frame
 * count is always the real one (files in the folder, frames decoded from the
 * video), never an annotation's. A video's frames come upright: its display
 * matrix's rotation (a phone's sideways storage) is applied, as FFmpeg's player
 * and `dfer predict` do. */
#ifndef DFER_DATA_VIDEO_H
#define DFER_DATA_VIDEO_H

#include <stdint.h>

#include "data/image.h"

typedef struct ClipSource ClipSource;

/* Opens and counts the frames for real: a folder's frame image files, or the
 * frames a video actually decodes to (a truncated video counts what decodes).
 * Errors name the path: missing path, empty folder, undecodable video. */
int clip_source_open(const char *path, ClipSource **out, Err *err);
/* The same, with a video's frame count known from an earlier open of the same file (> 0; 0:
 * unknown): no counting pass, so a training sample decodes the video once, up to its last sampled
 * frame, instead of once whole and again. Folders are listed as ever. */
int clip_source_open_known(const char *path, int known_frames, ClipSource **out, Err *err);
/* Opens for one pass in frame order with clip_source_read_next, without counting a video's frames
 * first (a folder is listed, so its count is known at once): a whole-clip consumer (dfer prep's
 * face tracking) decodes a video once instead of twice. The count is known once the pass has
 * reached the end; clip_source_read_frames is for counted sources. */
int clip_source_open_uncounted(const char *path, ClipSource **out, Err *err);
/* The number of frames: real for a counted source (clip_source_open); for an uncounted video, 0
 * until clip_source_read_next has reached its end. */
int clip_source_frame_count(const ClipSource *c);

/* A video's decoded length against the one its container declares (data/av_frames.h). */
typedef struct VideoLength {
    double declared_s, decoded_s; /* seconds; declared 0: not given */
    int64_t declared_frames;      /* 0: not given */
    int decoded_frames;
    int truncated; /* decoding ended well before the declared end (av_length_truncated) */
} VideoLength;
/* The length of a video counted by clip_source_open; NULL for a folder or a count that was known. */
const VideoLength *clip_source_video_length(const ClipSource *c);
/* Decodes the frames at indices (any order, repeats allowed, e.g. edge padding)
 * into out[i] (allocated; image_free each). Videos decode forward once, keeping
 * the frames asked for; folders open only the files asked for. An index outside
 * [0, count) is an error naming the clip. On error nothing is left allocated. */
int clip_source_read_frames(ClipSource *c, const int *indices, int n, ImageU8 *out, Err *err);
/* The next frames in clip order, up to max, into out[0 .. *got) (allocated; image_free each);
 * *got < max only at the end of the clip (0: nothing left). A video that ends before its counted
 * length is an error naming it. On error nothing is left allocated. */
int clip_source_read_next(ClipSource *c, int max, ImageU8 *out, int *got, Err *err);
void clip_source_close(ClipSource *c);
/* Upright size (a stream's display-matrix rotation applied, as the frames are read), frame rate (the stream's, or
 * FFmpeg's guess; 0 when unknown) and the decoded frame count of a video file (decodes the whole file once). */
int video_probe(const char *path, int *width, int *height, double *fps, int *frames, Err *err);
/* The frame image files of a folder (is_frame_image_name), sorted bytewise: the
 * clip's frame order. names: malloc'ed strings (free each, then the array). */
int frame_folder_list(const char *dir, char ***names, int *count, Err *err);
/* Whether a file name looks like a frame image (jpg, jpeg, png, bmp, ppm, webp). */
int is_frame_image_name(const char *name);

#endif
