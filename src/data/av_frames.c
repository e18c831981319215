#include "data/av_frames.h"

#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int av_fail(Err *err, const char *label, const char *what, int code) {
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
    d->convert.jfif = codec->id == AV_CODEC_ID_MJPEG;
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
    /* an audio file's cover art is a video stream of one picture: it is not the file's video (predict read an
     * mp3 as a 0-second clip of its cover, "truncated" against the audio's length) */
    if ((*fmt)->streams[dec->stream]->disposition & AV_DISPOSITION_ATTACHED_PIC) {
        av_decoder_close(dec);
        avformat_close_input(fmt);
        return err_set(err, "%s: no video stream (only a picture attached to the audio: cover art)", path);
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
    int jfif = c->jfif, tagged = c->tagged_matrix; /* settings, not the converter */
    memset(c, 0, sizeof *c);
    c->jfif = jfif, c->tagged_matrix = tagged;
}

const int *av_matrix_coefficients(int colorspace) {
    /* swscale's table is indexed by AVColorSpace's numbers (FFmpeg's scale filter passes a frame's colorspace as is;
     * unknown ones give the default), except 0, which a YUV stream does not carry (RGB) and where it holds BT.709's */
    return sws_getCoefficients(colorspace == AVCOL_SPC_RGB ? SWS_CS_DEFAULT : colorspace);
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

/* ---- JPEG's YCbCr as libjpeg converts it ---------------------------------------------------------------- */

/* libjpeg's jdsample.c h2v1/h2v2 "fancy" upsampling of one output row of chroma: each output sample 3/4 of its
 * nearer and 1/4 of its farther input sample (both directions for h2v2: `near` the chroma row the output row lies
 * in, `far` the one above or below it, the edge row repeated), with libjpeg's alternating rounding. cw: the chroma
 * row's width; out: 2 * cw samples. */
static void fancy_row(const uint8_t *near, const uint8_t *far, int cw, int h2v2, int *out) {
    if (!h2v2) { /* h2v1: (3 * this + neighbour + 1 or 2) >> 2 */
        if (cw == 1) {
            out[0] = out[1] = near[0];
            return;
        }
        out[0] = near[0];
        out[1] = (near[0] * 3 + near[1] + 2) >> 2;
        for (int x = 1; x < cw - 1; x++) {
            out[2 * x] = (near[x] * 3 + near[x - 1] + 1) >> 2;
            out[2 * x + 1] = (near[x] * 3 + near[x + 1] + 2) >> 2;
        }
        out[2 * cw - 2] = (near[cw - 1] * 3 + near[cw - 2] + 1) >> 2;
        out[2 * cw - 1] = near[cw - 1];
        return;
    }
    /* h2v2: column sums 3 * near + far, then (3 * this + neighbour + 8 or 7) >> 4 */
    int this_sum = near[0] * 3 + far[0];
    if (cw == 1) {
        out[0] = (this_sum * 4 + 8) >> 4, out[1] = (this_sum * 4 + 7) >> 4;
        return;
    }
    int next_sum = near[1] * 3 + far[1], last_sum = this_sum;
    out[0] = (this_sum * 4 + 8) >> 4;
    out[1] = (this_sum * 3 + next_sum + 7) >> 4;
    for (int x = 1; x < cw; x++) {
        last_sum = this_sum, this_sum = next_sum;
        next_sum = x + 1 < cw ? near[x + 1] * 3 + far[x + 1] : 0;
        out[2 * x] = (this_sum * 3 + last_sum + 8) >> 4;
        out[2 * x + 1] = x + 1 < cw ? (this_sum * 3 + next_sum + 7) >> 4 : (this_sum * 4 + 7) >> 4;
    }
}

/* libjpeg's jdcolor.c YCbCr -> RGB: 16-bit fixed-point tables, rounded, clamped. */
typedef struct JfifTables {
    int cr_r[256], cb_b[256];
    int32_t cr_g[256], cb_g[256];
} JfifTables;

static JfifTables g_jfif;
static pthread_once_t g_jfif_once = PTHREAD_ONCE_INIT;

static void jfif_tables_init(void) {
#define JFIF_FIX(v) ((int32_t)((v) * 65536.0 + 0.5))
    for (int i = 0; i < 256; i++) {
        int32_t x = i - 128;
        g_jfif.cr_r[i] = (int)((JFIF_FIX(1.40200) * x + 32768) >> 16); /* arithmetic shifts: floor, as libjpeg's */
        g_jfif.cb_b[i] = (int)((JFIF_FIX(1.77200) * x + 32768) >> 16);
        g_jfif.cr_g[i] = -JFIF_FIX(0.71414) * x;
        g_jfif.cb_g[i] = -JFIF_FIX(0.34414) * x + 32768;
    }
#undef JFIF_FIX
}

static uint8_t clamp255(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* A JPEG decoder's frame (full-range planar YCbCr 4:2:0, 4:2:2, 4:4:4, or grey) to RGB as libjpeg converts it; 0, or
 * -1 for a layout it does not take (swscale converts those). */
static int jfif_to_rgb(const AVFrame *f, ImageU8 *out) {
    int fmt = f->format, h2 = 0, v2 = 0, grey = 0;
    int full = fmt == AV_PIX_FMT_YUVJ420P || fmt == AV_PIX_FMT_YUVJ422P || fmt == AV_PIX_FMT_YUVJ444P ||
               f->color_range == AVCOL_RANGE_JPEG;
    if (fmt == AV_PIX_FMT_YUVJ420P || fmt == AV_PIX_FMT_YUV420P) h2 = v2 = 1;
    else if (fmt == AV_PIX_FMT_YUVJ422P || fmt == AV_PIX_FMT_YUV422P) h2 = 1;
    else if (fmt == AV_PIX_FMT_GRAY8) grey = 1;
    else if (fmt != AV_PIX_FMT_YUVJ444P && fmt != AV_PIX_FMT_YUV444P) return -1;
    if (!full && !grey) return -1;
    pthread_once(&g_jfif_once, jfif_tables_init);
    const JfifTables *t = &g_jfif;
    int w = f->width, h = f->height, cw = h2 ? (w + 1) / 2 : w, ch = v2 ? (h + 1) / 2 : h;
    image_alloc(out, w, h);
    /* cb, cr: a row of chroma at full width [w]; up: a row upsampled [2 * cw >= w] */
    int *cb = xmalloc(2 * (size_t)(w + 1) * sizeof(int)), *cr = cb + w + 1;
    int *up = xmalloc(2 * (size_t)(cw + 1) * sizeof(int));
    for (int y = 0; y < h; y++) {
        const uint8_t *Y = f->data[0] + (size_t)y * f->linesize[0];
        uint8_t *o = out->rgb + (size_t)y * w * 3;
        if (grey) {
            for (int x = 0; x < w; x++) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = Y[x];
            continue;
        }
        /* this output row's chroma: the row it lies in, and (h2v2) the one above it for an even row, below it for an
         * odd one, the edge rows repeated */
        int cy = v2 ? y / 2 : y, far_y = cy;
        if (v2) far_y = (y & 1) ? (cy + 1 < ch ? cy + 1 : cy) : (cy > 0 ? cy - 1 : 0);
        const uint8_t *planes[2] = {f->data[1], f->data[2]};
        int *rows[2] = {cb, cr};
        for (int k = 0; k < 2; k++) {
            const uint8_t *near = planes[k] + (size_t)cy * f->linesize[k + 1];
            const uint8_t *far = planes[k] + (size_t)far_y * f->linesize[k + 1];
            if (h2) {
                fancy_row(near, far, cw, v2, up);
                for (int x = 0; x < w; x++) rows[k][x] = up[x];
            } else {
                for (int x = 0; x < w; x++) rows[k][x] = near[x];
            }
        }
        for (int x = 0; x < w; x++) {
            int yy = Y[x], b = cb[x], r = cr[x];
            o[3 * x] = clamp255(yy + t->cr_r[r]);
            o[3 * x + 1] = clamp255(yy + (int)((t->cb_g[b] + t->cr_g[r]) >> 16));
            o[3 * x + 2] = clamp255(yy + t->cb_b[b]);
        }
    }
    free(cb), free(up);
    return 0;
}

int av_frame_size_check(const AVFrame *frame, const char *label, Err *err) {
    int w = frame->width, h = frame->height;
    if (w <= 0 || h <= 0 || w > 16384 || h > 16384) return err_set(err, "%s: frame of size %dx%d", label, w, h);
    return 0;
}

int av_frame_to_rgb(RgbConvert *c, const AVFrame *frame, ImageU8 *out, const char *label, Err *err) {
    int w = frame->width, h = frame->height;
    if (av_frame_size_check(frame, label, err) != 0) return -1;
    if (c->jfif && jfif_to_rgb(frame, out) == 0) return 0;
    int full = frame->color_range == AVCOL_RANGE_JPEG;
    int fmt = plain_format(frame->format, &full);
    int matrix = c->tagged_matrix ? frame->colorspace : AVCOL_SPC_UNSPECIFIED;
    if (!c->sws || c->w != w || c->h != h || c->fmt != frame->format || c->full_range != full || c->matrix != matrix) {
        rgb_convert_free(c);
        c->sws = sws_getContext(w, h, (enum AVPixelFormat)fmt, w, h, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
        if (!c->sws) return err_set(err, "%s: cannot convert pixel format %s to RGB", label,
                                    av_get_pix_fmt_name((enum AVPixelFormat)frame->format));
        /* What the model sees: BT.601's matrix whatever the stream's tag says (a BT.709 HD video is ~5 levels off
         * the true colours on average), as the peers' numbers were made from frames converted so (OpenCV, PyAV,
         * the ffmpeg CLI's JPEG frames read by Pillow; test_decode). tagged_matrix: the tag's, for a copy to watch */
        sws_setColorspaceDetails(c->sws, av_matrix_coefficients(matrix), full, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                 0, 1 << 16, 1 << 16);
        c->w = w, c->h = h, c->fmt = frame->format, c->full_range = full, c->matrix = matrix;
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
    /* a player shows 0 at the container's start: MPEG-TS clocks start at ~1.4 s, and an MP4's video may start
     * after its audio (an edit list, -itsoffset) */
    c->container_start = fmt->start_time != AV_NOPTS_VALUE ? (double)fmt->start_time / AV_TIME_BASE
                         : st->start_time != AV_NOPTS_VALUE ? (double)st->start_time * c->tb
                                                             : NAN;
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
        if (!c->t0_known) { /* frames before without a timestamp: this one still follows them */
            c->t0 = abs_t - (c->count ? c->last_t + c->last_dur : 0.0);
            c->t0_known = 1;
        }
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

double av_clock_start_offset(const AvClock *c) {
    return c->t0_known && isfinite(c->container_start) ? c->t0 - c->container_start : 0.0;
}

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
    return (declared_s > 0 && decoded_s < declared_s - slack) ||
           (declared_frames > 3 && decoded_frames < declared_frames - 3);
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
