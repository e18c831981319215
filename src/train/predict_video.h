/* A video for `dfer predict`: every frame decoded with its presentation time,
 * turned upright, with one followed face per frame (dlib) and a smoothed
 * square crop around it.
 *
 * Times: seconds from the first decoded frame's presentation time (the
 * best-effort timestamp; a frame without one continues the previous frame by
 * its duration), so variable-frame-rate videos keep their real timing. The
 * duration is the last frame's time plus its duration (the packet's, else the
 * previous interval, else 1/fps). A player's clock starts at the container's
 * start time instead: start_offset is the first frame's time on it (0 for
 * ordinary files; a video that starts after its audio, or after an MP4 edit
 * list's empty edit, has it later), so a player's time is t + start_offset.
 *
 * Rotation: the stream's display matrix (or, from older muxers, its "rotate"
 * tag; else the first frame's display-matrix side data) is rounded to a
 * multiple of 90 degrees and applied clockwise to every frame, as FFmpeg's
 * player does, so faces stand upright for the detector. Mirroring in the
 * matrix is ignored.
 *
 * Face: per frame, dlib's frontal detector at the native size (a copy scaled
 * down to DETECT_MAX_SIDE on its short side for larger frames), retried with
 * the frame doubled up to `upsample` times when nothing is found; among the
 * boxes, the one face_follow (face/landmarks.h) follows, as dfer prep does: the
 * largest first, then the best-overlapping one; a frame where only others are
 * found has none for up to FACE_HOLD_FRAMES frames, then the largest is taken. Its 68 landmarks are predicted on
 * the same image. A frame "has a face" only when it was detected in that frame.
 *
 * Smoothing and crop: the box's centre and size are averaged over the frames
 * with a detection within +-smooth_s/2 seconds (frames with none there have no
 * box). The crop is the square of side crop_scale x the smoothed size around
 * the smoothed centre, shrunk to the frame's short side when larger and moved
 * inside the frame (never padded: the datasets' face crops have no borders).
 * crop_scale 1.3 matches dlib's box (brows to chin, ~0.78 of the side of a
 * `dfer synth` frame) to the face crops DFEW, FERV39k and MAFW ship, which
 * keep the forehead and some background around the face. */
#ifndef DFER_TRAIN_PREDICT_VIDEO_H
#define DFER_TRAIN_PREDICT_VIDEO_H

#include <stdint.h>

#include "core/check.h"
#include "data/encode.h"
#include "data/image.h"
#include "face/dlib_shim.h"

#define DETECT_MAX_SIDE 720

/* ---- decoding: upright frames with their times ---- */
typedef struct VideoReader VideoReader;
/* A video file, or a folder of frame images (sorted by name, as the loader reads the datasets' face-crop
 * folders) at folder_fps frames per second (used only for a folder). Errors name the path: missing, a
 * folder without frame images or without a frame rate, no video stream, no decodable frame. */
int video_reader_open(const char *path, double folder_fps, VideoReader **out, Err *err);
/* The next frame, upright (img allocated; image_free it), its time (seconds from
 * the first frame) and duration. Returns 0, 1 at the end, or -1. */
int video_reader_next(VideoReader *r, ImageU8 *img, double *t, double *dur, Err *err);
void video_reader_close(VideoReader *r);
/* For a copy people watch: frames from here on are converted with the matrix their stream's tag names, their
 * true colours, not with BT.601's as the model sees them (av_frames.h). Returns the stream's colour tags, to give
 * the copy (video_writer_open); NULL for a frame folder (images are RGB already). */
const VideoColourTags *video_reader_true_colours(VideoReader *r);

/* ---- the face of every frame ---- */
typedef struct FaceVideoConfig {
    int upsample;     /* 0..3, default 1 */
    float crop_scale; /* default 1.3 */
    double smooth_s;  /* default 0.3 */
    int threads;      /* detector threads (each its own dlib detector); 0 (default): all cores, at most 16 */
    double folder_fps; /* the frame rate of a frame folder (a file has its own); default 25 */
} FaceVideoConfig;

typedef struct FaceVideo {
    int frames, width, height; /* upright size (of the first frame; others are resized to it) */
    int rotation;
    double duration, fps;      /* fps: frames / duration */
    double nominal_fps;
    int vfr;                   /* frame intervals differ by more than 10% */
    double declared_duration;  /* the video stream's duration as the container gives it (0: not given) */
    long long declared_frames; /* its frame count as the container gives it (0: not given) */
    int truncated;             /* decoding ended well before that: a truncated or damaged file */
    int frame_folder;          /* read from a folder of frame images at FaceVideoConfig.folder_fps */
    double start_offset;       /* the first frame's time on the player's clock (av_clock_start_offset; 0: a folder) */
    double container_start;    /* the container's start time, seconds on its own clock (NAN: a folder, not given) */
    double *t;                 /* [frames] */
    uint8_t *det;              /* [frames] 1: a face was detected in this frame */
    int face_frames;
    float *box;                /* [frames, 4] the detected box (x0 y0 x1 y1) */
    float *xy;                 /* [frames, 68, 2] its landmarks */
    uint8_t *has_smooth;       /* [frames] a detection within smooth_s / 2 */
    float *smooth;             /* [frames, 4] the smoothed box (x0 y0 x1 y1) */
    float *crop;               /* [frames, 3] x0 y0 side of the square crop */
} FaceVideo;

void face_video_config_default(FaceVideoConfig *c);
/* Decodes the whole video once, detecting and following the face. */
int face_video_scan(const char *path, const DlibModel *model, const FaceVideoConfig *cfg, FaceVideo *v, Err *err);
/* The face crops, decoding the video a second time front to back: face_cropper_advance decodes up to frame
 * `upto` and puts, for every frame f decoded with want[f] != 0 (and a smoothed box), its crop resized to
 * size x size (bilinear, as the loader's test-time resize) in out[f] (out: [v->frames], zeroed by the caller;
 * the caller frees crops it no longer needs, so a long video never holds all of them). */
typedef struct FaceCropper FaceCropper;
int face_cropper_open(const char *path, const FaceVideo *v, int size, FaceCropper **out, Err *err);
int face_cropper_advance(FaceCropper *c, const uint8_t *want, int upto, ImageU8 *out, Err *err);
void face_cropper_close(FaceCropper *c);
/* A frame's landmarks in its size x size crop (xy68 [68, 2]). */
void face_video_crop_points(const FaceVideo *v, int f, int size, float *xy68);
void face_video_free(FaceVideo *v);

#endif
