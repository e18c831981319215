/* The FFmpeg decode loop shared by images and videos (cluster.md §4): find the
 * video stream, open its decoder, read packets, drain the decoder at the end
 * (without the flush the last frames are lost), and convert frames to RGB24 at
 * their native size with swscale, re-creating the converter when the size or
 * pixel format changes and treating full-range (yuvj) input as full range. */
#ifndef DFER_DATA_AV_FRAMES_H
#define DFER_DATA_AV_FRAMES_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

#include "data/image.h"

typedef struct RgbConvert {
    struct SwsContext *sws;
    int w, h, fmt, full_range;
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
int av_frame_to_rgb(RgbConvert *c, const AVFrame *frame, ImageU8 *out, const char *label, Err *err);
void rgb_convert_free(RgbConvert *c);

#endif
