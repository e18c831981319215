/* The FFmpeg decode loop shared by images and videos (cluster.md §4): find the
 * video stream, open its decoder, read packets, drain the decoder at the end
 * (without the flush the last frames are lost), and convert frames to RGB24 at
 * their native size with swscale, re-creating the converter when the size or
 * pixel format changes and treating full-range (yuvj) input as full range. A
 * JPEG's YCbCr is converted as libjpeg(-turbo) does it for Pillow, which the
 * peers read their frames with: "fancy" (triangle) chroma upsampling and
 * libjpeg's fixed-point YCbCr->RGB tables (swscale's bilinear chroma differed
 * from Pillow's by 7.7 levels on average on a detailed 4:2:0 face crop; now the
 * IDCT's rounding is all that differs, at most 3). */
#ifndef DFER_DATA_AV_FRAMES_H
#define DFER_DATA_AV_FRAMES_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

#include "data/image.h"

/* An FFmpeg error code as "label: what: FFmpeg's message" in err; returns -1. */
int av_fail(Err *err, const char *label, const char *what, int code);

typedef struct RgbConvert {
    struct SwsContext *sws;
    int w, h, fmt, full_range, matrix;
    int jfif; /* a JPEG decoder's frames: converted as libjpeg does (av_frame_to_rgb), not by swscale */
    /* 1: the matrix each frame's tag names (the true colours, for a copy people watch: predict --annotate);
     * 0 (default): BT.601's whatever the tag, what the model sees (as in the peers' pipelines) */
    int tagged_matrix;
} RgbConvert;

typedef struct AvDecoder {
    AVFormatContext *fmt;
    AVCodecContext *ctx;
    AVPacket *pkt;
    int stream;
    int flushed, done;
    RgbConvert convert;
} AvDecoder;

/* fmt stays owned by the caller. */
/* probe_streams: run avformat_find_stream_info (videos); single images skip it. */
int av_decoder_open(AvDecoder *d, AVFormatContext *fmt, int probe_streams, const char *label, Err *err);
/* Opens a video file's container and its first video stream's decoder (with stream probing);
 * errors name the path. Close with av_decoder_close and avformat_close_input. */
int av_video_open(const char *path, AVFormatContext **fmt, AvDecoder *dec, Err *err);
/* 0: a frame; 1: end of stream; -1: error (a corrupt packet at the end counts as the end). */
int av_decoder_next(AvDecoder *d, AVFrame *frame, Err *err);
void av_decoder_close(AvDecoder *d);
/* 0 when a decoded frame's size is one dfer handles (1..16384 on each side), else -1 naming label. */
int av_frame_size_check(const AVFrame *frame, const char *label, Err *err);
int av_frame_to_rgb(RgbConvert *c, const AVFrame *frame, ImageU8 *out, const char *label, Err *err);
void rgb_convert_free(RgbConvert *c);
/* swscale's coefficients of the YUV matrix a stream's tag names (an AVColorSpace value); BT.601's for an
 * unspecified, reserved or unknown one, as swscale's default. */
const int *av_matrix_coefficients(int colorspace);

/* A video stream's frame times from their timestamps: seconds from the first frame, never going
 * backwards; a frame without a timestamp follows the previous one by its duration. Each frame's
 * duration is its own, else the last interval between timestamps, else 1 / the nominal rate.
 * The first frame is 0 on this clock, while a player's clock starts at the container's start time:
 * av_clock_start_offset says where the first frame lies on the player's clock. */
typedef struct AvClock {
    double tb, nominal_fps; /* the stream's time base in seconds; its nominal frame rate (0: unknown) */
    double container_start; /* the container's start time in seconds, else the stream's (NAN: neither given) */
    int64_t count;          /* frames ticked */
    int t0_known;           /* t0 is set: a frame with a timestamp has been ticked */
    double t0;              /* the container-clock time (seconds) that is 0 on this clock */
    double last_t, last_dur, interval;
} AvClock;
void av_clock_init(AvClock *c, const AVFormatContext *fmt, const AVStream *st);
/* The time of a decoded frame (call once per frame, in decoding order); *dur: its duration. */
double av_clock_tick(AvClock *c, const AVFrame *frame, double *dur);
/* What has been ticked so far lasts: the last frame's time plus its duration (0 before any). */
double av_clock_length(const AvClock *c);
/* The first ticked frame's time on the player's clock: its time on the container's clock minus the container's
 * start time (AVFormatContext.start_time, the earliest of its streams; else the video stream's own). 0 for an
 * ordinary file; 0.5 for an MP4 whose video starts half a second after its audio; ~0 for an MPEG-TS, whose
 * container clock starts at ~1.4 s. 0 when no frame had a timestamp or the container gives no start time. */
double av_clock_start_offset(const AvClock *c);

/* Rotation: the clockwise turn (0, 90, 180, 270) that stands a stream's frames upright, as FFmpeg's player
 * applies it: the stream's display matrix (or, from older muxers, its "rotate" tag) rounded to a multiple of
 * 90 degrees; mirroring is ignored. *known = 0 when the stream says nothing: the first decoded frame may
 * still carry a matrix (av_frame_rotation). */
int av_stream_rotation(const AVStream *st, int *known);
/* A decoded frame's display-matrix side data as a clockwise turn (0 without one). */
int av_frame_rotation(const AVFrame *frame);

/* The length a video stream declares in its container: its own duration, not the file's
 * (fmt->duration also covers a longer audio track) unless the stream is the file's only one (WebM
 * and Matroska give no per-stream duration), and its frame count; 0 where not given. */
void av_stream_declared(const AVFormatContext *fmt, const AVStream *st, double *seconds, int64_t *frames);
/* Whether decoding ended well before the declared end: a truncated or damaged file (a copy cut
 * short, a download that stopped). Three frames or a quarter second of slack: containers round.
 * A declared value of 0 (not given) is not compared. */
int av_length_truncated(double declared_s, int64_t declared_frames, double decoded_s, int64_t decoded_frames);
/* "2.00 s, 50 frames", "50 frames", "2.00 s" or "": the declared length in words, into buf. */
void av_declared_text(char *buf, size_t size, double declared_s, int64_t declared_frames);

#endif
