#include "data/av_frames.h"

#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int av_fail(Err *err, const char *label, const char *what, int code) {
    char msg[128];
    av_strerror(code, msg, sizeof msg);
    return err_set(err, "%s: %s: %s", label, what, msg);
}

int av_decoder_open(AvDecoder *d, AVFormatContext *fmt, int probe_streams, const char *label, Err *err) {
    memset(d, 0, sizeof *d);
    d->fmt = fmt;
    int rc = probe_streams ? avformat_find_stream_info(fmt, NULL) : 0;
    if (rc < 0) return av_fail(err, label, "cannot read stream information", rc);
    const AVCodec *codec = NULL;
    d->stream = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (d->stream < 0 || !codec) return err_set(err, "%s: no decodable image or video stream", label);
    d->ctx = avcodec_alloc_context3(codec);
    if (!d->ctx) return err_set(err, "%s: out of memory", label);
    rc = avcodec_parameters_to_context(d->ctx, fmt->streams[d->stream]->codecpar);
    /* Frame threads would add latency and threads of their own; loader workers decode clips in parallel. */
    d->ctx->thread_count = 1;
    if (rc >= 0) rc = avcodec_open2(d->ctx, codec, NULL);
    if (rc < 0) {
        avcodec_free_context(&d->ctx);
        return av_fail(err, label, "cannot open the decoder", rc);
    }
    d->pkt = av_packet_alloc();
    return 0;
}

int av_video_open(const char *path, AVFormatContext **fmt, AvDecoder *dec, Err *err) {
    av_quiet_logs();
    *fmt = NULL;
    int rc = avformat_open_input(fmt, path, NULL, NULL);
    if (rc < 0) {
        char msg[128];
        av_strerror(rc, msg, sizeof msg);
        return err_set(err, "%s: cannot open video: %s", path, msg);
    }
    if (av_decoder_open(dec, *fmt, 1, path, err) != 0) {
        avformat_close_input(fmt);
        return -1;
    }
    return 0;
}

int av_decoder_next(AvDecoder *d, AVFrame *frame, Err *err) {
    (void)err;
    for (;;) {
        int rc = avcodec_receive_frame(d->ctx, frame);
        if (rc == 0) return 0;
        if (rc == AVERROR_EOF || d->done) return 1;
        if (rc != AVERROR(EAGAIN)) return 1; /* a decoding error: what was decodable has been returned */
        if (d->flushed) return 1;
        rc = av_read_frame(d->fmt, d->pkt);
        if (rc < 0) { /* end of input (or a truncated file): drain the decoder */
            avcodec_send_packet(d->ctx, NULL);
            d->flushed = 1;
            continue;
        }
        if (d->pkt->stream_index == d->stream) {
            int s = avcodec_send_packet(d->ctx, d->pkt);
            if (s < 0 && s != AVERROR(EAGAIN)) {
                /* a corrupt packet: keep going, the frame count will tell */
            }
        }
        av_packet_unref(d->pkt);
    }
}

void rgb_convert_free(RgbConvert *c) {
    if (c->sws) sws_freeContext(c->sws);
    memset(c, 0, sizeof *c);
}

void av_decoder_close(AvDecoder *d) {
    av_packet_free(&d->pkt);
    avcodec_free_context(&d->ctx);
    rgb_convert_free(&d->convert);
    memset(d, 0, sizeof *d);
}

/* yuvj* are the deprecated full-range aliases of yuv*: convert them with full range set. */
static int plain_format(int f, int *full) {
    switch (f) {
    case AV_PIX_FMT_YUVJ420P: *full = 1; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: *full = 1; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: *full = 1; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: *full = 1; return AV_PIX_FMT_YUV440P;
    default: return f;
    }
}

int av_frame_to_rgb(RgbConvert *c, const AVFrame *frame, ImageU8 *out, const char *label, Err *err) {
    int w = frame->width, h = frame->height;
    if (w <= 0 || h <= 0 || w > 16384 || h > 16384) return err_set(err, "%s: frame of size %dx%d", label, w, h);
    int full = frame->color_range == AVCOL_RANGE_JPEG;
    int fmt = plain_format(frame->format, &full);
    if (!c->sws || c->w != w || c->h != h || c->fmt != frame->format || c->full_range != full) {
        rgb_convert_free(c);
        c->sws = sws_getContext(w, h, (enum AVPixelFormat)fmt, w, h, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
        if (!c->sws) return err_set(err, "%s: cannot convert pixel format %s to RGB", label,
                                    av_get_pix_fmt_name((enum AVPixelFormat)frame->format));
        const int *coef = sws_getCoefficients(SWS_CS_DEFAULT);
        sws_setColorspaceDetails(c->sws, coef, full, coef, 1, 0, 1 << 16, 1 << 16);
        c->w = w, c->h = h, c->fmt = frame->format, c->full_range = full;
    }
    image_alloc(out, w, h);
    uint8_t *dst[4] = {out->rgb, NULL, NULL, NULL};
    int dst_stride[4] = {3 * w, 0, 0, 0};
    sws_scale(c->sws, (const uint8_t *const *)frame->data, frame->linesize, 0, h, dst, dst_stride);
    return 0;
}

static int64_t frame_duration(const AVFrame *f) {
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
    return f->duration;
#else
    return f->pkt_duration;
#endif
}

void av_clock_init(AvClock *c, const AVFormatContext *fmt, const AVStream *st) {
    memset(c, 0, sizeof *c);
    c->tb = av_q2d(st->time_base);
    AVRational rate = av_guess_frame_rate((AVFormatContext *)fmt, (AVStream *)st, NULL);
    c->nominal_fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0;
}

double av_clock_tick(AvClock *c, const AVFrame *frame, double *dur) {
    int64_t pts = frame->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE) pts = frame->pts;
    int64_t d = frame_duration(frame);
    double time;
    if (pts == AV_NOPTS_VALUE) {
        time = c->count ? c->last_t + c->last_dur : 0.0;
    } else {
        double abs_t = (double)pts * c->tb;
        if (!c->count) c->t0 = abs_t;
        time = abs_t - c->t0;
        if (c->count && time < c->last_t) time = c->last_t; /* never backwards */
    }
    if (c->count && time > c->last_t) c->interval = time - c->last_t;
    double frame_dur = d > 0 ? (double)d * c->tb
                       : c->interval > 0 ? c->interval
                       : c->nominal_fps > 0 ? 1.0 / c->nominal_fps : 0.04;
    c->last_t = time;
    c->last_dur = frame_dur;
    c->count++;
    if (dur) *dur = frame_dur;
    return time;
}

double av_clock_length(const AvClock *c) { return c->count ? c->last_t + c->last_dur : 0.0; }

void av_stream_declared(const AVFormatContext *fmt, const AVStream *st, double *seconds, int64_t *frames) {
    *seconds = st->duration != AV_NOPTS_VALUE && st->duration > 0 ? (double)st->duration * av_q2d(st->time_base)
               : fmt->nb_streams == 1 && fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0
                   ? (double)fmt->duration / AV_TIME_BASE
                   : 0.0;
    *frames = st->nb_frames > 0 ? st->nb_frames : 0;
}

int av_length_truncated(double declared_s, int64_t declared_frames, double decoded_s, int64_t decoded_frames) {
    double fps = decoded_s > 0 ? (double)decoded_frames / decoded_s : 0.0;
    double slack = fmax(0.25, 3.0 * (fps > 0 ? 1.0 / fps : 0.04));
    return (declared_s > 0 && decoded_s < declared_s - slack) || (declared_frames > 3 && decoded_frames < declared_frames - 3);
}

void av_declared_text(char *buf, size_t size, double declared_s, int64_t declared_frames) {
    if (!size) return;
    buf[0] = 0;
    if (declared_s > 0) snprintf(buf, size, "%.2f s", declared_s);
    size_t len = strlen(buf);
    if (declared_frames > 0 && len < size)
        snprintf(buf + len, size - len, "%s%lld frames", len ? ", " : "", (long long)declared_frames);
}

/* A display matrix's clockwise rotation, rounded to a multiple of 90 (FFmpeg's player does the same). */
static int matrix_rotation(const int32_t *m) {
    double theta = -av_display_rotation_get(m);
    if (isnan(theta)) return 0;
    int deg = (int)lround(theta / 90.0) * 90;
    return ((deg % 360) + 360) % 360;
}

int av_stream_rotation(const AVStream *st, int *known) {
    const uint8_t *sd = NULL;
#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(60, 29, 100)
    const AVPacketSideData *p = av_packet_side_data_get(st->codecpar->coded_side_data, st->codecpar->nb_coded_side_data,
                                                        AV_PKT_DATA_DISPLAYMATRIX);
    if (p && p->size >= 9 * sizeof(int32_t)) sd = p->data;
#else
    size_t size = 0;
    sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (size < 9 * sizeof(int32_t)) sd = NULL;
#endif
    *known = 1;
    if (sd) return matrix_rotation((const int32_t *)sd);
    const AVDictionaryEntry *tag = av_dict_get(st->metadata, "rotate", NULL, 0);
    if (tag) {
        int deg = (int)lround(atof(tag->value) / 90.0) * 90;
        return ((deg % 360) + 360) % 360;
    }
    *known = 0; /* the first frame may still carry a matrix */
    return 0;
}

int av_frame_rotation(const AVFrame *frame) {
    const AVFrameSideData *sd = av_frame_get_side_data(frame, AV_FRAME_DATA_DISPLAYMATRIX);
    return sd && sd->size >= 9 * sizeof(int32_t) ? matrix_rotation((const int32_t *)sd->data) : 0;
}
