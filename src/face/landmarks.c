#include "face/landmarks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/video.h"

/* Frames decoded per call of clip_source_read_next: bounds the memory of a clip
 * to this many frames (32 x 6 MB at 1080p); the video is decoded once, in one
 * pass over the chunks. */
#define DECODE_CHUNK 32

void face_track_config_default(FaceTrackConfig *c) {
    c->upsample = 1;
    c->mean_box = 0.6f;
    c->hold_frames = FACE_HOLD_FRAMES;
}

float face_box_iou(const float *a, const float *b) {
    float ix = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), iy = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (ix <= 0 || iy <= 0) return 0;
    float inter = ix * iy;
    float ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return ua > 0 ? inter / ua : 0;
}

/* Whether one of boxes [n] is the followed face (overlaps its last box; last: in these boxes' pixels), or no face is
 * followed yet. */
static int sees_followed(const FaceFollow *f, const DlibBox *boxes, int n, const float *last) {
    if (!f->have) return 1;
    for (int i = 0; i < n; i++) {
        float b[4] = {boxes[i].x0, boxes[i].y0, boxes[i].x1, boxes[i].y1};
        if (face_box_iou(b, last) > 0) return 1;
    }
    return 0;
}

int face_detect_following(DlibDetector *det, const FaceFollow *f, const ImageU8 *im, int upsample, int from_up,
                          DlibBox *boxes, int *n, Err *err) {
    /* the followed face's last box in this image's pixels (FaceFollow keeps it in units of the frame's size) */
    const float *lb = f->last_box;
    float last[4] = {lb[0] * im->width, lb[1] * im->height, lb[2] * im->width, lb[3] * im->height};
    if (*n > 0 && sees_followed(f, boxes, *n, last)) return 0;
    DlibBox found[FACE_MAX_BOXES];
    for (int up = from_up; up <= upsample; up++) {
        int k = dlib_detect(det, im->rgb, im->width, im->height, 3 * im->width, up, found, FACE_MAX_BOXES, err);
        if (k < 0) return -1;
        if (k > FACE_MAX_BOXES) k = FACE_MAX_BOXES;
        if (k == 0) continue;
        int followed = sees_followed(f, found, k, last);
        if (*n == 0 || followed) memcpy(boxes, found, (size_t)k * sizeof *found), *n = k;
        if (followed) break;
    }
    return 0;
}

int face_pick_box(const DlibBox *boxes, int n, const float *prev) {
    int best = 0;
    float best_iou = 0;
    if (prev)
        for (int i = 0; i < n; i++) {
            float b[4] = {boxes[i].x0, boxes[i].y0, boxes[i].x1, boxes[i].y1};
            float iou = face_box_iou(b, prev);
            if (iou > best_iou) best_iou = iou, best = i;
        }
    if (best_iou > 0) return best;
    float best_area = -1;
    for (int i = 0; i < n; i++) {
        float area = (boxes[i].x1 - boxes[i].x0) * (boxes[i].y1 - boxes[i].y0);
        if (area > best_area) best_area = area, best = i;
    }
    return best;
}

int face_follow(FaceFollow *f, const DlibBox *boxes, int n, int width, int height, int hold) {
    /* last_box is in units of its frame's width and height: in a folder of mixed frame sizes the same face keeps
     * its place from frame to frame, not its pixels. It is compared here in this frame's pixels (IoU does not
     * change when both boxes are scaled by the same factors along x and y, so this is the IoU in frame units). */
    float sx = (float)width, sy = (float)height;
    float last[4] = {f->last_box[0] * sx, f->last_box[1] * sy, f->last_box[2] * sx, f->last_box[3] * sy};
    int k = n > 0 ? face_pick_box(boxes, n, f->have ? last : NULL) : -1;
    if (k >= 0 && f->have) {
        float b[4] = {boxes[k].x0, boxes[k].y0, boxes[k].x1, boxes[k].y1};
        /* face_pick_box fell back to the largest box: another person, unless the followed one is gone for good */
        if (face_box_iou(b, last) <= 0 && f->missed < hold) k = -1;
    }
    if (k < 0) {
        if (f->have) f->missed++;
        return -1;
    }
    f->last_box[0] = boxes[k].x0 / sx, f->last_box[1] = boxes[k].y0 / sy;
    f->last_box[2] = boxes[k].x1 / sx, f->last_box[3] = boxes[k].y1 / sy;
    f->have = 1, f->missed = 0;
    return k;
}

void face_mean_place(const float *unit, int w, int h, float frac, float *xy, float *box) {
    float side = frac * (float)(w < h ? w : h);
    box[0] = 0.5f * ((float)w - side);
    box[1] = 0.5f * ((float)h - side);
    box[2] = box[0] + side;
    box[3] = box[1] + side;
    for (int p = 0; p < FACE_POINTS; p++) {
        xy[2 * p] = box[0] + unit[2 * p] * side;
        xy[2 * p + 1] = box[1] + unit[2 * p + 1] * side;
    }
}

double face_nme(const float *pred, const float *gt) {
    double iod = hypot((double)gt[2 * 45] - gt[2 * 36], (double)gt[2 * 45 + 1] - gt[2 * 36 + 1]);
    if (iod < 1e-6) return -1;
    double sum = 0;
    for (int p = 0; p < FACE_POINTS; p++)
        sum += hypot((double)pred[2 * p] - gt[2 * p], (double)pred[2 * p + 1] - gt[2 * p + 1]);
    return sum / FACE_POINTS / iod;
}

/* What the tracker remembers between frames. */
typedef struct TrackState {
    FaceFollow follow;   /* the person being followed */
    int prev_w, prev_h;  /* the previous frame's size: its points are in its pixels */
} TrackState;

/* One frame: detection (with upsampled retries), the followed face's landmarks,
 * or the fallbacks. xy [68, 2], box [4]; prev_xy/prev_box: the previous frame's
 * output (NULL for frame 0). */
static int track_frame(DlibDetector *det, const DlibModel *model, const FaceTrackConfig *cfg, const ImageU8 *img,
                       TrackState *st, const float *prev_xy, const float *prev_box, float *xy, float *box,
                       uint8_t *status, Err *err) {
    DlibBox boxes[FACE_MAX_BOXES];
    int n = 0, stride = 3 * img->width;
    if (face_detect_following(det, &st->follow, img, cfg->upsample, 0, boxes, &n, err) != 0) return -1;
    int k = face_follow(&st->follow, boxes, n, img->width, img->height, cfg->hold_frames);
    if (k >= 0) {
        const DlibBox *b = &boxes[k];
        box[0] = b->x0, box[1] = b->y0, box[2] = b->x1, box[3] = b->y1;
        if (dlib_landmarks(det, img->rgb, img->width, img->height, stride, box, xy, err) != 0) return -1;
        *status = FACE_DETECTED;
    } else if (st->follow.have) { /* no face, or only others while the followed one is held */
        /* a track's points are in its own frame's pixels, and the loader scales frame f's points by frame 0's
         * size over frame f's: in a folder of mixed sizes the previous frame's points are carried into this
         * frame's pixels, or they would land scaled by the ratio of the two sizes (same sizes: copied exactly) */
        float sx = (float)img->width / (float)st->prev_w, sy = (float)img->height / (float)st->prev_h;
        for (int i = 0; i < 2 * FACE_POINTS; i += 2) xy[i] = prev_xy[i] * sx, xy[i + 1] = prev_xy[i + 1] * sy;
        box[0] = prev_box[0] * sx, box[1] = prev_box[1] * sy, box[2] = prev_box[2] * sx, box[3] = prev_box[3] * sy;
        *status = FACE_PREVIOUS;
    } else {
        face_mean_place(dlib_model_mean_shape(model), img->width, img->height, cfg->mean_box, xy, box);
        *status = FACE_MEAN;
    }
    st->prev_w = img->width, st->prev_h = img->height;
    return 0;
}

/* Room for at least `frames` frames in a track being filled (t->frames: the frames filled so far;
 * *cap: the room). */
static void track_reserve(FaceTrack *t, int *cap, int frames) {
    if (frames <= *cap) return;
    int room = *cap ? *cap : DECODE_CHUNK;
    while (room < frames) room *= 2;
    t->xy = xrealloc(t->xy, (size_t)room * FACE_POINTS * 2 * sizeof(float));
    t->box = xrealloc(t->box, (size_t)room * 4 * sizeof(float));
    t->status = xrealloc(t->status, (size_t)room);
    *cap = room;
}

int face_track_clip(DlibDetector *det, const DlibModel *model, const char *path, const FaceTrackConfig *cfg,
                    FaceTrack *out, Err *err) {
    memset(out, 0, sizeof *out);
    ClipSource *src;
    if (clip_source_open_uncounted(path, &src, err) != 0) return -1;
    int cap = 0, got = 0, rc = 0;
    TrackState st = {0};
    ImageU8 imgs[DECODE_CHUNK];
    do { /* chunks of frames in clip order until the clip ends (a video is counted by this pass) */
        if (clip_source_read_next(src, DECODE_CHUNK, imgs, &got, err) != 0) {
            rc = -1;
            break;
        }
        track_reserve(out, &cap, out->frames + got);
        for (int i = 0; i < got && rc == 0; i++) {
            int f = out->frames;
            float *xy = out->xy + (size_t)f * FACE_POINTS * 2, *box = out->box + (size_t)f * 4;
            rc = track_frame(det, model, cfg, &imgs[i], &st, f ? xy - FACE_POINTS * 2 : NULL, f ? box - 4 : NULL, xy,
                             box, &out->status[f], err);
            if (rc) err_prefix(err, "%s frame %d: ", path, f);
            else out->frames++;
        }
        for (int i = 0; i < got; i++) image_free(&imgs[i]);
    } while (rc == 0 && got == DECODE_CHUNK);
    clip_source_close(src);
    if (rc) face_track_free(out);
    return rc;
}
