#include "train/predict_video.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/av_frames.h"
#include "data/video.h"
#include "data/resample.h"
#include "ops/ops.h"
#include "face/face_track.h"
#include "face/landmarks.h"

/* the face scan's decoded frames in memory at once, beyond one per detector thread */
#define SCAN_CHUNK_BYTES ((size_t)256 << 20)

/* ---- decoding ---------------------------------------------------------------------------- */

struct VideoReader {
    char *path;
    AVFormatContext *fmt;
    AvDecoder dec;
    AVFrame *frame;
    AvClock clock;
    double declared_s;       /* the video stream's own duration in the container (0: not given) */
    int64_t declared_frames; /* its frame count in the container (0: not given) */
    int rotation, rotation_known, width, height;
    /* a folder of frame images (the datasets' face-crop folders), in the loader's order, at folder_fps */
    char **files;
    int n_files, next_file;
    double folder_fps;
    VideoColourTags colour; /* a video file's stream's */
};

int video_reader_open(const char *path, double folder_fps, VideoReader **out, Err *err) {
    *out = NULL;
    if (!fs_exists(path)) return err_set(err, "%s: no such video file or frame folder", path);
    VideoReader *r = xcalloc(1, sizeof *r);
    r->path = xstrdup(path);
    if (fs_is_dir(path)) {
        if (!(folder_fps > 0)) {
            video_reader_close(r);
            return err_set(err, "%s: a frame folder needs its frame rate (--fps)", path);
        }
        r->folder_fps = r->clock.nominal_fps = folder_fps;
        r->rotation_known = 1;
        if (frame_folder_list(path, &r->files, &r->n_files, err) != 0 || !r->n_files) {
            if (!r->n_files) err_set(err, "%s: no frame images (jpg, png, bmp, ppm, webp) in the folder", path);
            video_reader_close(r);
            return -1;
        }
        *out = r;
        return 0;
    }
    if (av_video_open(path, &r->fmt, &r->dec, err) != 0) { /* it closes what it opened */
        video_reader_close(r);
        return -1;
    }
    AVStream *st = r->fmt->streams[r->dec.stream];
    av_clock_init(&r->clock, r->fmt, st);
    r->rotation = av_stream_rotation(st, &r->rotation_known);
    av_stream_declared(r->fmt, st, &r->declared_s, &r->declared_frames);
    r->colour = (VideoColourTags){st->codecpar->color_space, st->codecpar->color_primaries, st->codecpar->color_trc};
    r->frame = av_frame_alloc();
    *out = r;
    return 0;
}

/* The first frame sets the reader's size; a later frame of another size (a size change mid-stream, an odd image
 * in a folder) is resized to it. */
static void keep_first_size(VideoReader *r, int first, ImageU8 *img) {
    if (first) r->width = img->width, r->height = img->height;
    if (img->width == r->width && img->height == r->height) return;
    ImageU8 fixed;
    image_resize(img, r->width, r->height, RESAMPLE_BILINEAR, &fixed);
    image_free(img);
    *img = fixed;
}

/* The next image of a frame folder, at its index / folder_fps. */
static int folder_next(VideoReader *r, ImageU8 *img, double *t, double *dur, Err *err) {
    if (r->next_file == r->n_files) return 1;
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", r->path, r->files[r->next_file]);
    if (image_decode_file(path, img, err) != 0) return -1;
    keep_first_size(r, r->next_file == 0, img);
    *t = r->next_file++ / r->folder_fps;
    *dur = 1.0 / r->folder_fps;
    return 0;
}

int video_reader_next(VideoReader *r, ImageU8 *img, double *t, double *dur, Err *err) {
    memset(img, 0, sizeof *img);
    if (r->files) return folder_next(r, img, t, dur, err);
    int rc = av_decoder_next(&r->dec, r->frame, err);
    if (rc != 0) return rc;
    int first = r->clock.count == 0;
    if (first && !r->rotation_known) {
        r->rotation = av_frame_rotation(r->frame);
        r->rotation_known = 1;
    }
    double frame_dur, time = av_clock_tick(&r->clock, r->frame, &frame_dur);
    ImageU8 rgb;
    rc = av_frame_to_rgb(&r->dec.convert, r->frame, &rgb, r->path, err);
    av_frame_unref(r->frame);
    if (rc) return -1;
    if (r->rotation) {
        image_rotate_cw(&rgb, r->rotation, img);
        image_free(&rgb);
    } else {
        *img = rgb;
    }
    keep_first_size(r, first, img);
    *t = time;
    *dur = frame_dur;
    return 0;
}

void video_reader_close(VideoReader *r) {
    if (!r) return;
    if (r->frame) av_frame_free(&r->frame);
    if (r->dec.ctx) av_decoder_close(&r->dec);
    if (r->fmt) avformat_close_input(&r->fmt);
    for (int i = 0; i < r->n_files; i++) free(r->files[i]);
    free(r->files);
    free(r->path);
    free(r);
}

const VideoColourTags *video_reader_true_colours(VideoReader *r) {
    if (r->files) return NULL;
    r->dec.convert.tagged_matrix = 1;
    return &r->colour;
}

/* ---- the face of every frame ------------------------------------------------------------- */

void face_video_config_default(FaceVideoConfig *c) {
    c->upsample = 1;
    c->crop_scale = 1.3f;
    c->smooth_s = 0.3;
    c->threads = 0;
    c->folder_fps = 25;
}

typedef struct Pending {
    ImageU8 img;
    ImageU8 small; /* the detection image when the frame is scaled down, else empty */
    DlibBox boxes[FACE_MAX_BOXES];
    int n, pick;   /* boxes found; the one followed, or -1 */
    int up;        /* the size they were found at (0 native, k doubled k times; upsample: none found) */
    float scale;   /* detection image = frame * scale */
    int rc;
    Err err;
} Pending;

static void grow(FaceVideo *v, int need, int *cap) {
    if (need <= *cap) return;
    while (*cap < need) *cap = *cap ? 2 * *cap : 256;
    v->t = xrealloc(v->t, (size_t)*cap * sizeof *v->t);
    v->det = xrealloc(v->det, (size_t)*cap);
    v->box = xrealloc(v->box, (size_t)*cap * 4 * sizeof(float));
    v->xy = xrealloc(v->xy, (size_t)*cap * 2 * FACE_POINTS * sizeof(float));
}

/* The detection image of a frame: itself, or a copy scaled down to DETECT_MAX_SIDE. */
static const ImageU8 *detect_image(const ImageU8 *img, ImageU8 *small, float *scale) {
    int s = img->width < img->height ? img->width : img->height;
    *scale = 1.0f;
    if (s <= DETECT_MAX_SIDE) return img;
    *scale = (float)DETECT_MAX_SIDE / (float)s;
    int w = (int)lroundf(img->width * *scale), h = (int)lroundf(img->height * *scale);
    image_resize(img, w > 0 ? w : 1, h > 0 ? h : 1, RESAMPLE_BILINEAR, small);
    *scale = (float)small->width / (float)img->width;
    return small;
}

/* Detects the faces of a chunk of frames (in parallel), then follows one (in order). The
 * detection images (p[i].small) are kept for the landmarks; the caller frees them. */
static int process_chunk(DlibDetector **dets, int threads, const FaceVideoConfig *cfg, Pending *p, int n,
                         FaceVideo *v, int first, FaceFollow *follow, Err *err) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        DlibDetector *det = dets[omp_get_thread_num()];
        const ImageU8 *im = detect_image(&p[i].img, &p[i].small, &p[i].scale);
        p[i].n = 0, p[i].rc = 0;
        for (p[i].up = 0; p[i].up <= cfg->upsample && p[i].rc == 0; p[i].up++) {
            int k = dlib_detect(det, im->rgb, im->width, im->height, 3 * im->width, p[i].up, p[i].boxes,
                                FACE_MAX_BOXES, &p[i].err);
            if (k < 0) p[i].rc = -1;
            else p[i].n = k > FACE_MAX_BOXES ? FACE_MAX_BOXES : k;
            if (p[i].n) break;
        }
    }
    /* the pick depends on the previous frame's: in order, by dfer prep's rule (face_follow: a frame where only
     * others are found holds the followed person for FACE_HOLD_FRAMES frames), on the boxes in frame pixels */
    for (int i = 0; i < n; i++) {
        if (p[i].rc) return err_set(err, "%s", p[i].err.msg);
        /* only others found: larger sizes are tried here, in order, as dfer prep does (face_detect_following) */
        const ImageU8 *im = p[i].small.rgb ? &p[i].small : &p[i].img;
        if (face_detect_following(dets[0], follow, im, cfg->upsample, p[i].up + 1, p[i].boxes, &p[i].n, err) != 0)
            return -1;
        DlibBox in_frame[FACE_MAX_BOXES];
        float s = p[i].scale;
        for (int k = 0; k < p[i].n; k++)
            in_frame[k] = (DlibBox){p[i].boxes[k].x0 / s, p[i].boxes[k].y0 / s, p[i].boxes[k].x1 / s,
                                    p[i].boxes[k].y1 / s, p[i].boxes[k].score};
        p[i].pick = face_follow(follow, in_frame, p[i].n, p[i].img.width, p[i].img.height, FACE_HOLD_FRAMES);
    }
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        int f = first + i;
        float *box = v->box + (size_t)f * 4, *xy = v->xy + (size_t)f * 2 * FACE_POINTS;
        v->det[f] = p[i].pick >= 0;
        if (p[i].pick < 0) {
            memset(box, 0, 4 * sizeof(float));
            for (int k = 0; k < 2 * FACE_POINTS; k++) xy[k] = NAN;
            continue;
        }
        DlibDetector *det = dets[omp_get_thread_num()];
        const ImageU8 *im = p[i].small.rgb ? &p[i].small : &p[i].img;
        const DlibBox *b = &p[i].boxes[p[i].pick];
        float bb[4] = {b->x0, b->y0, b->x1, b->y1}, s = p[i].scale;
        if (dlib_landmarks(det, im->rgb, im->width, im->height, 3 * im->width, bb, xy, &p[i].err) != 0) p[i].rc = -1;
        for (int k = 0; k < 2 * FACE_POINTS; k++) xy[k] /= s;
        for (int k = 0; k < 4; k++) box[k] = bb[k] / s;
    }
    for (int i = 0; i < n; i++)
        if (p[i].rc) return err_set(err, "%s", p[i].err.msg);
    return 0;
}

/* Centre and size averaged over the detections within +-smooth_s/2, then the square crop. */
static void smooth_boxes(FaceVideo *v, const FaceVideoConfig *cfg) {
    v->has_smooth = xcalloc((size_t)v->frames, 1);
    v->smooth = xcalloc((size_t)v->frames * 4, sizeof(float));
    v->crop = xcalloc((size_t)v->frames * 3, sizeof(float));
    double half = cfg->smooth_s / 2 + 1e-9;
    int lo = 0;
    for (int f = 0; f < v->frames; f++) {
        while (lo < v->frames && v->t[lo] < v->t[f] - half) lo++;
        double cx = 0, cy = 0, size = 0;
        int n = 0;
        for (int j = lo; j < v->frames && v->t[j] <= v->t[f] + half; j++) {
            if (!v->det[j]) continue;
            const float *b = v->box + (size_t)j * 4;
            cx += 0.5 * (b[0] + b[2]), cy += 0.5 * (b[1] + b[3]);
            size += fmax(b[2] - b[0], b[3] - b[1]);
            n++;
        }
        if (!n) continue;
        cx /= n, cy /= n, size /= n;
        v->has_smooth[f] = 1;
        float *s = v->smooth + (size_t)f * 4;
        s[0] = (float)(cx - size / 2), s[1] = (float)(cy - size / 2), s[2] = (float)(cx + size / 2),
        s[3] = (float)(cy + size / 2);
        double side = fmin(cfg->crop_scale * size, (double)(v->width < v->height ? v->width : v->height));
        double x0 = fmin(fmax(cx - side / 2, 0.0), v->width - side),
               y0 = fmin(fmax(cy - side / 2, 0.0), v->height - side);
        float *c = v->crop + (size_t)f * 3;
        c[0] = (float)x0, c[1] = (float)y0, c[2] = (float)side;
    }
}

int face_video_scan(const char *path, const DlibModel *model, const FaceVideoConfig *cfg, FaceVideo *v, Err *err) {
    memset(v, 0, sizeof *v);
    VideoReader *r;
    if (video_reader_open(path, cfg->folder_fps, &r, err) != 0) return -1;
    int threads = cfg->threads > 0 ? cfg->threads : ops_default_cpu_threads();
    if (threads > 16) threads = 16;
    int chunk = 4 * threads, cap = 0, rc = 0;
    if (chunk < 8) chunk = 8;
    DlibDetector **dets = xcalloc((size_t)threads, sizeof *dets);
    for (int i = 0; i < threads && rc == 0; i++)
        if (!(dets[i] = dlib_detector_create(model, err))) rc = -1;
    Pending *p = xcalloc((size_t)chunk, sizeof *p);
    FaceFollow follow = {0};
    int end = 0;
    double last_dur = 0;
    while (rc == 0 && !end) {
        /* a chunk's frames are held decoded at full size: past one per thread, at most SCAN_CHUNK_BYTES of them
         * (4 per thread of a 4K video were 1.6 GB with 16 threads, 2.5 GB at the peak; 8K four times that) */
        int n = 0;
        size_t bytes = 0;
        while (n < chunk && (n < threads || bytes < SCAN_CHUNK_BYTES)) {
            double t;
            int got = video_reader_next(r, &p[n].img, &t, &last_dur, err);
            if (got < 0) rc = -1;
            if (got != 0) {
                end = 1;
                break;
            }
            grow(v, v->frames + n + 1, &cap);
            v->t[v->frames + n] = t;
            bytes += (size_t)3 * p[n].img.width * p[n].img.height;
            n++;
        }
        if (rc == 0 && n) rc = process_chunk(dets, threads, cfg, p, n, v, v->frames, &follow, err);
        for (int i = 0; i < n; i++) image_free(&p[i].img), image_free(&p[i].small);
        v->frames += n;
    }
    if (rc == 0 && !v->frames) rc = err_set(err, "%s: no frame could be decoded", path);
    if (rc == 0) {
        v->width = r->width, v->height = r->height;
        v->rotation = r->rotation;
        v->nominal_fps = r->clock.nominal_fps;
        v->frame_folder = r->files != NULL;
        v->start_offset = v->frame_folder ? 0.0 : av_clock_start_offset(&r->clock);
        v->container_start = v->frame_folder ? NAN : r->clock.container_start;
        v->duration = v->t[v->frames - 1] + last_dur;
        v->fps = v->duration > 0 ? v->frames / v->duration : 0;
        double lo = INFINITY, hi = 0;
        for (int f = 1; f < v->frames; f++) {
            double d = v->t[f] - v->t[f - 1];
            lo = fmin(lo, d), hi = fmax(hi, d);
        }
        v->vfr = v->frames > 2 && hi > 1.1 * lo;
        v->declared_duration = r->declared_s;
        v->declared_frames = r->declared_frames;
        v->truncated = av_length_truncated(r->declared_s, r->declared_frames, v->duration, v->frames);
        for (int f = 0; f < v->frames; f++) v->face_frames += v->det[f];
        smooth_boxes(v, cfg);
    }
    for (int i = 0; i < threads; i++) dlib_detector_free(dets[i]);
    free(dets);
    free(p);
    video_reader_close(r);
    if (rc) face_video_free(v);
    return rc;
}

struct FaceCropper {
    const char *path;
    const FaceVideo *v;
    VideoReader *reader;
    int size, next; /* next: the index of the next frame to decode */
};

int face_cropper_open(const char *path, const FaceVideo *v, int size, FaceCropper **out, Err *err) {
    FaceCropper *c = xcalloc(1, sizeof *c);
    c->path = path, c->v = v, c->size = size;
    if (video_reader_open(path, v->nominal_fps, &c->reader, err) != 0) {
        free(c);
        /* a pipe or a file replaced since the scan cannot be read a second time */
        return err_prefix(err, "reading the video a second time (for the face crops): ");
    }
    *out = c;
    return 0;
}

int face_cropper_advance(FaceCropper *c, const uint8_t *want, int upto, ImageU8 *out, Err *err) {
    const FaceVideo *v = c->v;
    if (upto >= v->frames) upto = v->frames - 1;
    while (c->next <= upto) {
        ImageU8 img;
        double t, d;
        int got = video_reader_next(c->reader, &img, &t, &d, err);
        if (got != 0)
            return got < 0 ? -1 : err_set(err, "%s: only %d frames decoded the second time (%d the first)", c->path,
                                          c->next, v->frames);
        int f = c->next++;
        if (want[f] && v->has_smooth[f]) {
            const float *b = v->crop + (size_t)f * 3;
            image_resize_box(&img, b[0], b[1], b[0] + b[2], b[1] + b[2], c->size, c->size, RESAMPLE_BILINEAR, &out[f]);
        }
        image_free(&img);
    }
    return 0;
}

void face_cropper_close(FaceCropper *c) {
    if (!c) return;
    video_reader_close(c->reader);
    free(c);
}

void face_video_crop_points(const FaceVideo *v, int f, int size, float *xy68) {
    const float *c = v->crop + (size_t)f * 3, *xy = v->xy + (size_t)f * 2 * FACE_POINTS;
    float k = (float)size / c[2];
    for (int i = 0; i < FACE_POINTS; i++) {
        xy68[2 * i] = (xy[2 * i] - c[0]) * k;
        xy68[2 * i + 1] = (xy[2 * i + 1] - c[1]) * k;
    }
}

void face_video_free(FaceVideo *v) {
    free(v->t), free(v->det), free(v->box), free(v->xy);
    free(v->has_smooth), free(v->smooth), free(v->crop);
    memset(v, 0, sizeof *v);
}
