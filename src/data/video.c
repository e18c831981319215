#include "data/video.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fsutil.h"
#include "data/av_frames.h"

struct ClipSource {
    char *path;
    int is_folder;
    char **files; /* folder: sorted frame file names */
    int count;
    /* video: the decoder of the last read, kept open at frame `next`, so a read that starts at or
     * after it (sequential chunks: dfer prep's face tracking) continues instead of decoding again
     * from the first frame */
    AVFormatContext *fmt;
    AvDecoder dec;
    AVFrame *frame;
    int next;
    /* video: the clockwise turn that stands its frames upright (av_stream_rotation; phone videos in a list),
     * applied to every frame read, so face tracks, training and `dfer predict` see the same pixels */
    int rotation, rotation_known;
    VideoLength length; /* video: what decodes against what the container declares (zeros: not scanned) */
};

static void stream_close(ClipSource *c) {
    if (!c->fmt) return;
    av_frame_free(&c->frame);
    av_decoder_close(&c->dec);
    avformat_close_input(&c->fmt);
    c->fmt = NULL;
    c->next = 0;
}

/* Opens the video's decoder at its first frame. */
static int stream_open(ClipSource *c, Err *err) {
    if (av_video_open(c->path, &c->fmt, &c->dec, err) != 0) {
        c->fmt = NULL;
        return -1;
    }
    c->frame = av_frame_alloc();
    c->next = 0;
    c->rotation = av_stream_rotation(c->fmt->streams[c->dec.stream], &c->rotation_known);
    return 0;
}

/* The decoded frame as upright RGB into out (allocated). */
static int frame_upright(ClipSource *c, ImageU8 *out, Err *err) {
    if (!c->rotation_known) { /* the stream said nothing: the first frame's side data decides for all */
        c->rotation = av_frame_rotation(c->frame);
        c->rotation_known = 1;
    }
    if (av_frame_to_rgb(&c->dec.convert, c->frame, out, c->path, err) != 0) return -1;
    if (c->rotation) {
        ImageU8 turned;
        image_rotate_cw(out, c->rotation, &turned);
        image_free(out);
        *out = turned;
    }
    return 0;
}

int is_frame_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.') return 0;
    static const char *ext[] = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcasecmp(dot, ext[i])) return 1;
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Decodes the whole video once: the real frame count and length against the stream's declared
 * ones (length may be NULL), and the stream's size and frame rate (any of the outputs may be NULL). */
static int scan_video(const char *path, int *count, VideoLength *length, int *width, int *height, double *fps,
                      Err *err) {
    AVFormatContext *fmt;
    AvDecoder dec;
    if (av_video_open(path, &fmt, &dec, err) != 0) return -1;
    AVStream *st = fmt->streams[dec.stream];
    int known, turn = av_stream_rotation(st, &known), sideways = turn == 90 || turn == 270; /* the upright size */
    if (width) *width = sideways ? st->codecpar->height : st->codecpar->width;
    if (height) *height = sideways ? st->codecpar->width : st->codecpar->height;
    AvClock clock;
    av_clock_init(&clock, fmt, st);
    if (fps) *fps = clock.nominal_fps;
    AVFrame *frame = av_frame_alloc();
    int n = 0, rc;
    while ((rc = av_decoder_next(&dec, frame, err)) == 0) {
        av_clock_tick(&clock, frame, NULL);
        n++;
        av_frame_unref(frame);
    }
    if (length) {
        memset(length, 0, sizeof *length);
        av_stream_declared(fmt, st, &length->declared_s, &length->declared_frames);
        length->decoded_s = av_clock_length(&clock);
        length->decoded_frames = n;
        length->truncated = av_length_truncated(length->declared_s, length->declared_frames, length->decoded_s, n);
    }
    av_frame_free(&frame);
    av_decoder_close(&dec);
    avformat_close_input(&fmt);
    if (rc < 0) return -1;
    *count = n;
    return 0;
}

int video_probe(const char *path, int *width, int *height, double *fps, int *frames, Err *err) {
    if (fs_is_dir(path)) return err_set(err, "%s: a folder, not a video file", path);
    if (!fs_exists(path)) return err_set(err, "%s: no such video file", path);
    int n;
    if (scan_video(path, &n, NULL, width, height, fps, err) != 0) return -1;
    if (!n) return err_set(err, "%s: no frame could be decoded", path);
    if (frames) *frames = n;
    return 0;
}

/* count_video: decode a video whole to count its frames when known_frames is not given (0: leave
 * the count unknown, for clip_source_read_next's single pass). */
static int source_open(const char *path, int known_frames, int count_video, ClipSource **out, Err *err) {
    ClipSource *c = xcalloc(1, sizeof *c);
    c->path = xstrdup(path);
    if (fs_is_dir(path)) {
        c->is_folder = 1;
        if (frame_folder_list(path, &c->files, &c->count, err) != 0) {
            clip_source_close(c);
            return -1;
        }
        if (!c->count) {
            clip_source_close(c);
            return err_set(err, "%s: no frame images in the folder", path);
        }
    } else if (known_frames > 0 && fs_exists(path)) {
        c->count = known_frames; /* counted by an earlier open: a read past what decodes now says so */
    } else if (!count_video && fs_exists(path)) {
        c->count = 0; /* counted by the pass that reads it (clip_source_read_next) */
    } else if (fs_exists(path)) {
        if (scan_video(path, &c->count, &c->length, NULL, NULL, NULL, err) != 0) {
            clip_source_close(c);
            return -1;
        }
        if (!c->count) {
            clip_source_close(c);
            return err_set(err, "%s: no frame could be decoded", path);
        }
    } else {
        clip_source_close(c);
        return err_set(err, "%s: no such clip (neither a frame folder nor a video file)", path);
    }
    *out = c;
    return 0;
}

int clip_source_open(const char *path, ClipSource **out, Err *err) { return source_open(path, 0, 1, out, err); }

int clip_source_open_known(const char *path, int known_frames, ClipSource **out, Err *err) {
    return source_open(path, known_frames, 1, out, err);
}

int clip_source_open_uncounted(const char *path, ClipSource **out, Err *err) {
    return source_open(path, 0, 0, out, err);
}

int frame_folder_list(const char *dir, char ***names, int *count, Err *err) {
    *names = NULL, *count = 0;
    DIR *d = opendir(dir);
    if (!d) return err_set(err, "%s: cannot open the frame folder", dir);
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_frame_image_name(e->d_name)) continue;
        /* a folder named like a frame ("00012.jpg/") is no frame: counted, it would shift the test-time segment
         * centres and fail every sample that picks it. d_type says it cheaply; stat where it cannot (a link, or a
         * file system that does not fill it in) */
        if (e->d_type == DT_DIR) continue;
        if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
            char full[8192];
            snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
            if (fs_is_dir(full)) continue;
        }
        if (*count == cap) *names = xrealloc(*names, (size_t)(cap = cap ? 2 * cap : 64) * sizeof(char *));
        (*names)[(*count)++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (*count) qsort(*names, (size_t)*count, sizeof(char *), by_name); /* bytewise: readdir order is arbitrary */
    return 0;
}

int clip_source_frame_count(const ClipSource *c) { return c->count; }

const VideoLength *clip_source_video_length(const ClipSource *c) {
    return !c->is_folder && c->length.decoded_frames > 0 ? &c->length : NULL;
}

int clip_source_read_frames(ClipSource *c, const int *indices, int n, ImageU8 *out, Err *err) {
    CHECK(c->count > 0, "%s: clip_source_read_frames on a source whose frames are not counted", c->path);
    for (int i = 0; i < n; i++) {
        if (indices[i] < 0 || indices[i] >= c->count)
            return err_set(err, "%s: frame %d requested, the clip has %d", c->path, indices[i], c->count);
        out[i].rgb = NULL;
    }
    if (c->is_folder) {
        for (int i = 0; i < n; i++) {
            int dup = -1; /* edge padding repeats frames: decode each file once */
            for (int j = 0; j < i && dup < 0; j++)
                if (indices[j] == indices[i]) dup = j;
            if (dup >= 0) {
                image_alloc(&out[i], out[dup].width, out[dup].height);
                memcpy(out[i].rgb, out[dup].rgb, (size_t)out[dup].width * out[dup].height * 3);
                continue;
            }
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", c->path, c->files[indices[i]]);
            if (image_decode_file(p, &out[i], err) != 0) {
                for (int j = 0; j < i; j++) image_free(&out[j]);
                return -1;
            }
        }
        return 0;
    }
    /* video: one forward pass, keeping the frames that are asked for; it continues the previous
     * read's pass when every index is at or after where that one stopped */
    if (n <= 0) return 0;
    int min_index = indices[0], max_index = 0;
    for (int i = 0; i < n; i++) {
        max_index = indices[i] > max_index ? indices[i] : max_index;
        min_index = indices[i] < min_index ? indices[i] : min_index;
    }
    if (c->fmt && min_index < c->next) stream_close(c);
    if (!c->fmt && stream_open(c, err) != 0) return -1;
    int rc = 0;
    for (; c->next <= max_index; c->next++) {
        int k = c->next;
        int got = av_decoder_next(&c->dec, c->frame, err);
        if (got != 0) {
            rc = got < 0 ? -1
                         : err_set(err, "%s: only %d frames could be decoded now (%d counted)", c->path, k, c->count);
            break;
        }
        int first = -1;
        for (int i = 0; i < n && rc == 0; i++) {
            if (indices[i] != k) continue;
            if (first < 0) {
                rc = frame_upright(c, &out[i], err);
                first = i;
            } else {
                image_alloc(&out[i], out[first].width, out[first].height);
                memcpy(out[i].rgb, out[first].rgb, (size_t)out[first].width * out[first].height * 3);
            }
        }
        av_frame_unref(c->frame);
        if (rc) break;
    }
    if (rc) {
        stream_close(c);
        for (int i = 0; i < n; i++) image_free(&out[i]);
    }
    return rc;
}

int clip_source_read_next(ClipSource *c, int max, ImageU8 *out, int *got, Err *err) {
    *got = 0;
    int n = 0, rc = 0;
    if (c->is_folder) { /* `next` is the folder's next file */
        for (; n < max && c->next < c->count; n++, c->next++) {
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", c->path, c->files[c->next]);
            if ((rc = image_decode_file(p, &out[n], err)) != 0) break; /* out[n]: nothing allocated */
        }
    } else {
        /* the stream stays open at the end, so calls after it get nothing */
        if (!c->fmt && stream_open(c, err) != 0) return -1;
        while (n < max) {
            int r = av_decoder_next(&c->dec, c->frame, err);
            if (r < 0) {
                rc = -1;
                break;
            }
            if (r == 1) {
                if (c->count > 0 && c->next < c->count)
                    rc = err_set(err, "%s: only %d frames could be decoded now (%d counted)", c->path, c->next,
                                 c->count);
                else if (c->next == 0)
                    rc = err_set(err, "%s: no frame could be decoded", c->path);
                else
                    c->count = c->next;
                break;
            }
            rc = frame_upright(c, &out[n], err);
            av_frame_unref(c->frame);
            if (rc) break;
            n++, c->next++;
        }
    }
    if (rc) {
        for (int i = 0; i < n; i++) image_free(&out[i]);
        if (!c->is_folder) stream_close(c);
        return -1;
    }
    *got = n;
    return 0;
}

void clip_source_close(ClipSource *c) {
    if (!c) return;
    stream_close(c);
    for (int i = 0; c->files && i < c->count; i++) free(c->files[i]);
    free(c->files);
    free(c->path);
    free(c);
}
