#include "data/encode.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "data/av_frames.h"
#include "data/image.h"

/* Encodes one picture with a still-image encoder into a file (temp + rename). */
static int encode_still(const char *path, enum AVCodecID id, enum AVPixelFormat enc_fmt, enum AVPixelFormat in_fmt,
                        const uint8_t *pixels, int w, int h, int quality, Err *err) {
    av_quiet_logs();
    const AVCodec *codec = avcodec_find_encoder(id);
    if (!codec) return err_set(err, "%s: this FFmpeg has no %s encoder", path, avcodec_get_name(id));
    AVCodecContext *ctx = avcodec_alloc_context3(codec);
    ctx->width = w, ctx->height = h, ctx->pix_fmt = enc_fmt, ctx->time_base = (AVRational){1, 25};
    if (id == AV_CODEC_ID_MJPEG) {
        ctx->flags |= AV_CODEC_FLAG_QSCALE;
        ctx->global_quality = FF_QP2LAMBDA * quality;
        ctx->color_range = AVCOL_RANGE_JPEG;
    }
    int rc = avcodec_open2(ctx, codec, NULL);
    if (rc < 0) {
        avcodec_free_context(&ctx);
        return av_fail(err, path, "cannot open the encoder", rc);
    }
    AVFrame *f = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    if (!f || !pkt) {
        av_frame_free(&f), av_packet_free(&pkt), avcodec_free_context(&ctx);
        return err_set(err, "%s: out of memory for the encoder's frame", path);
    }
    f->width = w, f->height = h, f->format = enc_fmt;
    rc = av_frame_get_buffer(f, 0);
    struct SwsContext *sws =
        rc < 0 ? NULL : sws_getContext(w, h, in_fmt, w, h, enc_fmt, SWS_BILINEAR, NULL, NULL, NULL);
    if (rc < 0 || !sws) {
        rc = av_fail(err, path, "cannot set up the picture's conversion", rc < 0 ? rc : AVERROR(ENOMEM));
    } else {
        /* swscale's SIMD reads a little past the end of each row: give it a padded copy */
        int row = w * (in_fmt == AV_PIX_FMT_GRAY8 ? 1 : 3), padded_row = (row + 63) / 64 * 64;
        uint8_t *padded = xcalloc((size_t)padded_row * (size_t)(h + 1), 1);
        for (int y = 0; y < h; y++) memcpy(padded + (size_t)y * padded_row, pixels + (size_t)y * row, (size_t)row);
        const uint8_t *src[4] = {padded, NULL, NULL, NULL};
        int src_stride[4] = {padded_row, 0, 0, 0};
        if (id == AV_CODEC_ID_MJPEG) {
            const int *coef = sws_getCoefficients(SWS_CS_DEFAULT);
            sws_setColorspaceDetails(sws, coef, 1, coef, 1, 0, 1 << 16, 1 << 16);
        }
        sws_scale(sws, src, src_stride, 0, h, f->data, f->linesize);
        sws_freeContext(sws);
        free(padded);
        rc = avcodec_send_frame(ctx, f);
        if (rc >= 0) rc = avcodec_send_frame(ctx, NULL); /* the end: the encoder gives out what it holds */
        if (rc < 0) rc = av_fail(err, path, "encoding failed", rc);
    }
    /* an atomic file: a reader never sees half a picture, and Ctrl-C removes the temporary file (a PATH.tmp.PID
     * of its own stayed behind); a synthetic frame or a contact sheet is made again at no cost, so unflushed */
    AtomicFile out;
    if (rc >= 0 && atomic_open(&out, path, err) == 0) {
        out.no_flush = 1;
        int got; /* packets until the end (AVERROR_EOF); another error leaves no file */
        while (rc >= 0 && (got = avcodec_receive_packet(ctx, pkt)) != AVERROR_EOF) {
            if (got < 0) {
                atomic_abort(&out);
                rc = av_fail(err, path, "encoding failed", got);
            } else {
                rc = atomic_write(&out, pkt->data, (size_t)pkt->size, err); /* it aborts the file on failure */
                av_packet_unref(pkt);
            }
        }
        if (rc >= 0) rc = atomic_commit(&out, err);
    } else if (rc >= 0) {
        rc = -1; /* atomic_open said why */
    }
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&ctx);
    return rc < 0 ? -1 : 0;
}

int image_write_jpeg(const char *path, const uint8_t *rgb, int w, int h, int quality, Err *err) {
    return encode_still(path, AV_CODEC_ID_MJPEG, AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_RGB24, rgb, w, h, quality, err);
}

int image_write_png(const char *path, const uint8_t *pixels, int w, int h, int channels, Err *err) {
    enum AVPixelFormat f = channels == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
    return encode_still(path, AV_CODEC_ID_PNG, f, f, pixels, w, h, 0, err);
}

struct VideoWriter {
    char path[4096];
    AtomicFile file; /* the temporary file FFmpeg writes (by its path), renamed into place by the close */
    AVFormatContext *fmt;
    AVCodecContext *ctx;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    /* every frame sent so far: its pts and duration in ticks (pts increasing), so each packet gets its
     * frame's duration whatever order or delay the encoder gives them back in */
    int64_t *pts, *dur;
    int n_frames, cap_frames;
};

/* the duration of the frame with this pts (ticks), or 0 if there is none */
static int64_t frame_duration(const VideoWriter *vw, int64_t pts) {
    int lo = 0, hi = vw->n_frames - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (vw->pts[mid] == pts) return vw->dur[mid];
        if (vw->pts[mid] < pts) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

static int drain_packets(VideoWriter *vw, Err *err) {
    for (;;) {
        int rc = avcodec_receive_packet(vw->ctx, vw->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return 0;
        if (rc < 0) return av_fail(err, vw->path, "encoding failed", rc);
        if (vw->pkt->duration <= 0) vw->pkt->duration = frame_duration(vw, vw->pkt->pts);
        av_packet_rescale_ts(vw->pkt, vw->ctx->time_base, vw->st->time_base);
        vw->pkt->stream_index = vw->st->index;
        rc = av_interleaved_write_frame(vw->fmt, vw->pkt);
        if (rc < 0) return av_fail(err, vw->path, "write failed", rc);
    }
}

/* the highest rate declared to the encoder */
#define VIDEO_WRITER_MAX_FPS 1000

int video_writer_open(const char *path, int w, int h, double fps, const VideoColourTags *source, VideoWriter **out,
                      Err *err) {
    av_quiet_logs();
    if (!(fps > 0 && isfinite(fps))) return err_set(err, "%s: frame rate %g is not a positive number", path, fps);
    /* the declared rate only guides the encoder (every frame is written at its own time): a faster video is
     * declared at the highest rate the encoder takes (it was refused, after dfer predict's scan and model run) */
    if (fps > VIDEO_WRITER_MAX_FPS) fps = VIDEO_WRITER_MAX_FPS;
    VideoWriter *vw = xcalloc(1, sizeof *vw);
    snprintf(vw->path, sizeof vw->path, "%s", path);
    /* an atomic write's temporary file (beside path, through a symbolic link, removed on a signal or an error)
     * that FFmpeg opens again by name and writes; the muxer is named, the name has no extension */
    if (atomic_open(&vw->file, path, err) != 0) {
        free(vw);
        return -1;
    }
    int rc = avformat_alloc_output_context2(&vw->fmt, NULL, "mp4", vw->file.tmp_path);
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    if (rc < 0 || !codec) {
        atomic_abort(&vw->file);
        if (vw->fmt) avformat_free_context(vw->fmt);
        free(vw);
        return err_set(err, "%s: no MP4 muxer or video encoder in this FFmpeg", path);
    }
    vw->st = avformat_new_stream(vw->fmt, NULL);
    vw->ctx = avcodec_alloc_context3(codec);
    vw->ctx->width = w, vw->ctx->height = h, vw->ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    vw->ctx->color_range = AVCOL_RANGE_MPEG; /* swscale's RGB -> YUV420P below: limited range */
    if (source) {
        vw->ctx->colorspace = (enum AVColorSpace)source->matrix;
        vw->ctx->color_primaries = (enum AVColorPrimaries)source->primaries;
        vw->ctx->color_trc = (enum AVColorTransferCharacteristic)source->transfer;
    } else {
        vw->ctx->colorspace = AVCOL_SPC_SMPTE170M;
    }
    vw->ctx->time_base = (AVRational){1, VIDEO_WRITER_TICKS};
    vw->ctx->framerate = av_d2q(fps, 1001 * 1000); /* 29.97 -> 30000/1001 */
    vw->ctx->gop_size = 12;
    vw->ctx->max_b_frames = 0; /* with B-frames the MP4 edit list makes readers drop the first frame */
    vw->ctx->thread_count = 1;
    if (vw->fmt->oformat->flags & AVFMT_GLOBALHEADER) vw->ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *opts = NULL;
    if (!strcmp(codec->name, "libx264"))
        av_dict_set(&opts, "preset", "veryfast", 0), av_dict_set(&opts, "crf", "18", 0);
    rc = avcodec_open2(vw->ctx, codec, &opts);
    av_dict_free(&opts);
    if (rc >= 0) rc = avcodec_parameters_from_context(vw->st->codecpar, vw->ctx);
    vw->st->time_base = vw->ctx->time_base;
    if (rc >= 0) rc = avio_open(&vw->fmt->pb, vw->file.tmp_path, AVIO_FLAG_WRITE);
    /* No edit list: with one, readers trim the last frame of short clips (the stream's duration
     * is taken from the last timestamp), and a decoded clip must have every frame written. */
    AVDictionary *mux = NULL;
    av_dict_set(&mux, "use_editlist", "0", 0);
    if (rc >= 0) rc = avformat_write_header(vw->fmt, &mux);
    av_dict_free(&mux);
    if (rc < 0) {
        av_fail(err, path, "cannot start the video", rc);
        if (vw->fmt->pb) avio_closep(&vw->fmt->pb);
        atomic_abort(&vw->file);
        avcodec_free_context(&vw->ctx);
        avformat_free_context(vw->fmt);
        free(vw);
        return -1;
    }
    vw->frame = av_frame_alloc();
    vw->frame->width = w, vw->frame->height = h, vw->frame->format = AV_PIX_FMT_YUV420P;
    av_frame_get_buffer(vw->frame, 0);
    vw->pkt = av_packet_alloc();
    vw->sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (vw->sws) /* RGB (full range) to YUV (limited) with the matrix the stream is tagged with */
        sws_setColorspaceDetails(vw->sws, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                 av_matrix_coefficients(vw->ctx->colorspace), 0, 0, 1 << 16, 1 << 16);
    *out = vw;
    return 0;
}

int video_writer_add_frame(VideoWriter *vw, const uint8_t *rgb, double t_s, double dur_s, Err *err) {
    if (!isfinite(t_s) || !(dur_s > 0) || !isfinite(dur_s) || t_s > 1e7)
        return err_set(err, "%s: frame %d: time %g s, duration %g s", vw->path, vw->n_frames, t_s, dur_s);
    int64_t pts = llround(t_s * VIDEO_WRITER_TICKS), dur = llround(dur_s * VIDEO_WRITER_TICKS);
    if (vw->n_frames > 0 && pts <= vw->pts[vw->n_frames - 1]) pts = vw->pts[vw->n_frames - 1] + 1;
    if (dur < 1) dur = 1;
    if (vw->n_frames == vw->cap_frames) {
        vw->cap_frames = vw->cap_frames ? 2 * vw->cap_frames : 256;
        vw->pts = xrealloc(vw->pts, (size_t)vw->cap_frames * sizeof *vw->pts);
        vw->dur = xrealloc(vw->dur, (size_t)vw->cap_frames * sizeof *vw->dur);
    }
    vw->pts[vw->n_frames] = pts, vw->dur[vw->n_frames] = dur, vw->n_frames++;
    av_frame_make_writable(vw->frame);
    int w = vw->ctx->width, h = vw->ctx->height, row = 3 * w, padded_row = (row + 63) / 64 * 64;
    uint8_t *padded = xcalloc((size_t)padded_row * (size_t)(h + 1), 1); /* swscale reads past row ends */
    for (int y = 0; y < h; y++) memcpy(padded + (size_t)y * padded_row, rgb + (size_t)y * row, (size_t)row);
    const uint8_t *src[4] = {padded, NULL, NULL, NULL};
    int stride[4] = {padded_row, 0, 0, 0};
    sws_scale(vw->sws, src, stride, 0, h, vw->frame->data, vw->frame->linesize);
    free(padded);
    vw->frame->pts = pts;
    int rc = avcodec_send_frame(vw->ctx, vw->frame);
    if (rc < 0) return av_fail(err, vw->path, "encoding failed", rc);
    return drain_packets(vw, err);
}

int video_writer_close(VideoWriter *vw, int keep, Err *err) {
    Err discard;
    if (!keep) err = &discard; /* the caller failed: finish the encoder's work, keep nothing */
    int rc = avcodec_send_frame(vw->ctx, NULL);
    if (rc >= 0) rc = drain_packets(vw, err);
    else rc = av_fail(err, vw->path, "flush failed", rc);
    int trailer = rc == 0 ? av_write_trailer(vw->fmt) : 0;
    if (trailer < 0) rc = av_fail(err, vw->path, "cannot finish the file (its index)", trailer);
    int closed = avio_closep(&vw->fmt->pb);
    if (closed < 0 && rc == 0) rc = av_fail(err, vw->path, "cannot finish writing the file", closed);
    if (rc == 0 && keep) rc = atomic_commit(&vw->file, err); /* flushed, renamed into place */
    else atomic_abort(&vw->file);
    sws_freeContext(vw->sws);
    free(vw->pts);
    free(vw->dur);
    av_packet_free(&vw->pkt);
    av_frame_free(&vw->frame);
    avcodec_free_context(&vw->ctx);
    avformat_free_context(vw->fmt);
    free(vw);
    return rc;
}
