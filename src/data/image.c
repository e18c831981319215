#include "data/image.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/av_frames.h"

static pthread_once_t g_log_once = PTHREAD_ONCE_INIT;
/* Quiet, not just AV_LOG_ERROR: the MJPEG decoder logs expected failures (an empty or
 * non-JPEG file) at AV_LOG_FATAL; every failure reaches the caller as an Err naming the file. */
static void set_quiet(void) { av_log_set_level(AV_LOG_QUIET); }
void av_quiet_logs(void) { pthread_once(&g_log_once, set_quiet); }

int image_alloc(ImageU8 *img, int width, int height) {
    img->width = width;
    img->height = height;
    /* 64 bytes of slack: swscale's vector paths write whole SIMD blocks, so the last row of an
     * RGB24 conversion can run past width * 3 (seen with yuv420p widths of 16k + 8, e.g. 600);
     * earlier rows' overrun is overwritten by the next row. */
    img->rgb = xmalloc((size_t)width * (size_t)height * 3 + 64);
    return 0;
}

void image_rotate_cw(const ImageU8 *in, int deg, ImageU8 *out) {
    int w = in->width, h = in->height;
    int ow = deg == 90 || deg == 270 ? h : w, oh = deg == 90 || deg == 270 ? w : h;
    image_alloc(out, ow, oh);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (deg) {
            case 90: sx = y, sy = h - 1 - x; break;
            case 180: sx = w - 1 - x, sy = h - 1 - y; break;
            case 270: sx = w - 1 - y, sy = x; break;
            default: sx = x, sy = y; break;
            }
            memcpy(out->rgb + 3 * ((size_t)y * ow + x), in->rgb + 3 * ((size_t)sy * w + sx), 3);
        }
}

void image_free(ImageU8 *img) {
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

/* The decoded frame's values as indices (a parsing map: one class number per pixel), into out with R = G = B = the
 * index. A palette image's indices are read as they are, not its palette's colours (PIL saves label maps in "P"
 * mode, each class a colour); a grey image's values are copied (no range conversion); any other image must be grey
 * in its three channels. More than 8 bits per value is refused (RGB8 would scale 0..10 down to 0). */
static int frame_to_indices(RgbConvert *convert, const AVFrame *frame, ImageU8 *out, const char *label, Err *err) {
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(frame->format);
    int bits = desc ? desc->comp[0].depth : 0, w = frame->width, h = frame->height;
    if (bits != 8)
        return err_set(err, "%s: a %d-bit image; index maps are 8-bit grey or palette PNGs", label, bits);
    if (frame->format == AV_PIX_FMT_PAL8 || frame->format == AV_PIX_FMT_GRAY8) {
        if (av_frame_size_check(frame, label, err) != 0) return -1;
        image_alloc(out, w, h);
        for (int y = 0; y < h; y++) {
            const uint8_t *row = frame->data[0] + (size_t)y * frame->linesize[0];
            for (int x = 0; x < w; x++) memset(out->rgb + 3 * ((size_t)y * w + x), row[x], 3);
        }
        return 0;
    }
    if (av_frame_to_rgb(convert, frame, out, label, err) != 0) return -1;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        const uint8_t *px = out->rgb + 3 * i;
        if (px[0] != px[1] || px[0] != px[2]) {
            int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w), r = px[0], g = px[1], b = px[2];
            image_free(out); /* px pointed into out: its values were read above, before the free */
            const char *format = av_get_pix_fmt_name((enum AVPixelFormat)frame->format);
            return err_set(err, "%s: a colour image (%s; pixel %d,%d is %d,%d,%d); index maps are 8-bit grey or "
                                "palette PNGs", label, format, x, y, r, g, b);
        }
    }
    return 0;
}

/* Decodes the first frame of an opened input: as RGB8 pixels, or as indices (frame_to_indices). */
static int decode_first(AVFormatContext *fmt, const char *label, ImageU8 *out, int as_indices, Err *err) {
    AvDecoder dec;
    /* A single image: the demuxer's header names the codec, and the decoder reads the size and pixel format
     * from the bitstream, so stream probing (which decodes the image once more) is skipped. */
    if (av_decoder_open(&dec, fmt, 0, label, err) != 0) return -1;
    /* A damaged image is an error, not a made-up picture: FFmpeg's JPEG decoder otherwise "emulates" the missing
     * end of a truncated file and returns it whole (Pillow refuses it). Read at decoding time, so set after the
     * open; images only: a video's corrupt packet drops a frame, which its frame count tells. */
    dec.ctx->err_recognition |= AV_EF_EXPLODE;
    AVFrame *frame = av_frame_alloc();
    int rc = av_decoder_next(&dec, frame, err);
    if (rc == 0) rc = as_indices ? frame_to_indices(&dec.convert, frame, out, label, err)
                                 : av_frame_to_rgb(&dec.convert, frame, out, label, err);
    else if (rc == 1) rc = err_set(err, "%s: no image could be decoded (a damaged or truncated file?)", label);
    av_frame_free(&frame);
    av_decoder_close(&dec);
    return rc;
}

/* Whether a JPEG has its end-of-image marker (FF D9) after its first scan's header: FFmpeg's decoder, even with
 * AV_EF_EXPLODE, returns a file cut inside its last rows whole, those rows made up (Pillow refuses it: "image file
 * is truncated"). The segments before the scan are skipped by their lengths, so an FF D9 in an EXIF thumbnail or an
 * ICC profile does not count; in the coded data an FF byte is escaped, so FF D9 there is the end; anything after it
 * (padding, a motion photo's video) is allowed. A layout this walk does not know is left to the decoder (1). */
static int jpeg_is_whole(const uint8_t *d, size_t n) {
    if (n < 4 || d[0] != 0xff || d[1] != 0xd8) return 1;
    size_t i = 2;
    while (i + 4 <= n) {
        if (d[i] != 0xff) return 1;
        uint8_t marker = d[i + 1];
        if (marker == 0xff) { /* fill byte */
            i++;
            continue;
        }
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { /* no length */
            i += 2;
            continue;
        }
        if (marker == 0xd9) return 1;
        size_t len = (size_t)d[i + 2] << 8 | d[i + 3];
        i += 2 + len;
        if (marker == 0xda) { /* the coded data: to its end (progressive: the later scans and tables too) */
            for (; i + 1 < n; i++)
                if (d[i] == 0xff && d[i + 1] == 0xd9) return 1;
            return 0;
        }
    }
    return 0; /* cut before its first scan */
}

typedef struct MemReader {
    const uint8_t *data;
    size_t size, pos;
} MemReader;

static int mem_read(void *opaque, uint8_t *buf, int n) {
    MemReader *m = opaque;
    size_t left = m->size - m->pos;
    if (!left) return AVERROR_EOF;
    if ((size_t)n > left) n = (int)left;
    memcpy(buf, m->data + m->pos, (size_t)n);
    m->pos += (size_t)n;
    return n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence) {
    MemReader *m = opaque;
    if (whence == AVSEEK_SIZE) return (int64_t)m->size;
    int64_t base = whence == SEEK_CUR ? (int64_t)m->pos : whence == SEEK_END ? (int64_t)m->size : 0;
    int64_t to = base + offset;
    if (to < 0 || to > (int64_t)m->size) return -1;
    m->pos = (size_t)to;
    return to;
}

/* In-memory input must never make a demuxer open further files or URLs (a
 * playlist or concat script among fuzzed bytes would otherwise read the disk). */
static int refuse_nested_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                              AVDictionary **options) {
    (void)s, (void)pb, (void)url, (void)flags, (void)options;
    return AVERROR(EPERM);
}

/* An image's bytes decoded (label names it in errors): as RGB8 pixels, or as indices (frame_to_indices). A file is
 * read whole first and decoded from memory, so that the truncated-JPEG check walks the same bytes, read once. */
static int decode_bytes(const uint8_t *data, size_t size, const char *label, int as_indices, ImageU8 *out, Err *err) {
    av_quiet_logs();
    MemReader mr = {data, size, 0};
    const int bufsize = 1 << 16;
    uint8_t *iobuf = av_malloc(bufsize);
    AVIOContext *io = avio_alloc_context(iobuf, bufsize, 0, &mr, mem_read, NULL, mem_seek);
    AVFormatContext *fmt = avformat_alloc_context();
    fmt->pb = io;
    fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    fmt->io_open = refuse_nested_open;
    int rc = avformat_open_input(&fmt, NULL, NULL, NULL);
    if (rc < 0) {
        /* avformat_open_input has freed fmt (and set it to NULL); the custom IO context stays ours */
        av_freep(&io->buffer);
        avio_context_free(&io);
        return err_set(err, "%s: not a readable image", label);
    }
    int jpeg = fmt->nb_streams > 0 && fmt->streams[0]->codecpar->codec_id == AV_CODEC_ID_MJPEG;
    rc = decode_first(fmt, label, out, as_indices, err);
    avformat_close_input(&fmt);
    av_freep(&io->buffer);
    avio_context_free(&io);
    if (rc != 0 || !jpeg || jpeg_is_whole(data, size)) return rc;
    image_free(out); /* decoded, but its end is missing */
    return err_set(err, "%s: a truncated JPEG (no end-of-image marker): a damaged file", label);
}

int image_decode_memory(const uint8_t *data, size_t size, ImageU8 *out, Err *err) {
    return decode_bytes(data, size, "(memory image)", 0, out, err);
}

static int decode_file(const char *path, ImageU8 *out, int as_indices, Err *err) {
    char *bytes = NULL;
    size_t n = 0;
    if (fs_read_all(path, &bytes, &n, err) != 0) return -1; /* its message names the file */
    int rc = decode_bytes((const uint8_t *)bytes, n, path, as_indices, out, err);
    free(bytes);
    return rc;
}

int image_decode_file(const char *path, ImageU8 *out, Err *err) { return decode_file(path, out, 0, err); }

int image_decode_file_indices(const char *path, ImageU8 *out, Err *err) { return decode_file(path, out, 1, err); }
