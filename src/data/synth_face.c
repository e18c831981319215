#include "data/synth_face.h"

#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"

/* ---- identity and script -------------------------------------------------------- */

static double U(Rng *r, double a, double b) { return rng_uniform_range(r, a, b); }

void synth_identity(Rng *r, FaceIdentity *id) {
    memset(id, 0, sizeof *id);
    id->face_w = U(r, 0.9, 1.1);
    id->face_h = U(r, 0.92, 1.1);
    id->eye_gap = U(r, 0.9, 1.1);
    id->eye_size = U(r, 0.85, 1.2);
    id->mouth_w = U(r, 0.85, 1.15);
    id->brow_y = U(r, -0.05, 0.05);
    id->nose_len = U(r, 0.9, 1.15);
    static const double tones[5][3] = {{0.96, 0.80, 0.69}, {0.87, 0.68, 0.55}, {0.74, 0.54, 0.40},
                                       {0.55, 0.38, 0.27}, {0.38, 0.26, 0.18}};
    int t = (int)rng_int(r, 5);
    for (int c = 0; c < 3; c++) id->skin[c] = tones[t][c] * U(r, 0.95, 1.05);
    static const double hairs[5][3] = {
        {0.1, 0.07, 0.05}, {0.35, 0.22, 0.1}, {0.7, 0.55, 0.3}, {0.5, 0.5, 0.5}, {0.15, 0.1, 0.1}};
    int h = (int)rng_int(r, 5);
    for (int c = 0; c < 3; c++) id->hair[c] = hairs[h][c];
    id->hair_style = (int)rng_int(r, 3);
    static const double irises[4][3] = {{0.25, 0.15, 0.08}, {0.2, 0.4, 0.6}, {0.3, 0.45, 0.25}, {0.1, 0.08, 0.06}};
    int i = (int)rng_int(r, 4);
    for (int c = 0; c < 3; c++) id->iris[c] = irises[i][c];
    for (int c = 0; c < 3; c++) id->lips[c] = id->skin[c] * (c == 0 ? 0.85 : 0.55);
    for (int c = 0; c < 3; c++) id->background[c] = U(r, 0.1, 0.9);
    id->light_x = U(r, -1, 1);
    id->clutter = (int)rng_int(r, 6);
    id->clutter_seed = rng_u64(r);
}

void synth_script(Rng *r, int label, int frames, int difficulty, ClipScript *s) {
    memset(s, 0, sizeof *s);
    s->label = label;
    s->frames = frames;
    double lo = difficulty == 0 ? 0.75 : difficulty == 1 ? 0.45 : 0.25;
    s->peak = label == 2 ? 0 : U(r, lo, 1.0); /* neutral has no expression of its own */
    s->onset = (int)(frames * U(r, 0.0, 0.35));
    int rise = 2 + (int)rng_int(r, frames / 4 + 1);
    s->apex_start = s->onset + rise;
    s->apex_end = s->apex_start + (int)(frames * U(r, 0.2, 0.5));
    s->residual = U(r, 0.3, 0.8);
    /* distractors carry no label */
    double talk = difficulty == 0 ? 0.2 : difficulty == 1 ? 0.4 : 0.6;
    if (rng_uniform(r) < talk) s->talk_freq = U(r, 0.3, 0.9), s->talk_amp = U(r, 0.03, 0.1);
    s->n_blinks = (int)rng_int(r, 3);
    for (int b = 0; b < s->n_blinks; b++) s->blink_frames[b] = (int)rng_int(r, frames);
    s->gaze_x = U(r, -0.3, 0.3);
    s->gaze_y = U(r, -0.2, 0.2);
    s->gaze_shift_frame = U(r, 0, frames);
    s->head_dx = U(r, -0.05, 0.05), s->head_dy = U(r, -0.04, 0.04);
    s->head_roll = U(r, -0.12, 0.12);
    s->head_speed = U(r, -0.004, 0.004);
    s->noise = difficulty == 0 ? 3 : difficulty == 1 ? 6 : 10;
    s->occlude = rng_uniform(r) < (difficulty == 2 ? 0.15 : 0.05);
}

double synth_intensity(const ClipScript *s, int t) {
    if (t < s->onset) return 0;
    if (t < s->apex_start) {
        double x = (double)(t - s->onset) / (s->apex_start - s->onset);
        return s->peak * x * x * (3 - 2 * x); /* smooth onset */
    }
    if (t <= s->apex_end) return s->peak;
    double x = fmin(1.0, (double)(t - s->apex_end) / 4.0);
    return s->peak * (1 - x * (1 - s->residual)); /* partial offset */
}

/* ---- geometry ------------------------------------------------------------------- */

/* Mean shape in face units: x right, y down, half face width = 1. */
static void mean_shape(const FaceIdentity *id, double p[2 * SYNTH_LANDMARKS]) {
#define P(i, X, Y) (p[2 * (i)] = (X), p[2 * (i) + 1] = (Y))
    for (int k = 0; k <= 16; k++) {
        double th = M_PI - k * M_PI / 16;
        P(k, cos(th), -0.2 + 1.35 * id->face_h * sin(th));
    }
    double by = -0.58 + id->brow_y;
    for (int k = 0; k < 5; k++) {
        double x = -0.78 + 0.15 * k, arch = 0.06 * sin(M_PI * k / 4);
        P(17 + k, x, by - arch);
        P(26 - k, -x, by - arch);
    }
    for (int k = 0; k < 4; k++) P(27 + k, 0, -0.35 + 0.17 * k * id->nose_len);
    double ny = 0.25 * id->nose_len + 0.05;
    P(31, -0.2, ny), P(32, -0.1, ny + 0.04), P(33, 0, ny + 0.06), P(34, 0.1, ny + 0.04), P(35, 0.2, ny);
    double ex = 0.42 * id->eye_gap, ey = -0.3, ew = 0.18 * id->eye_size, eh = 0.065 * id->eye_size;
    for (int side = 0; side < 2; side++) {
        double cx = side ? ex : -ex;
        int b = side ? 42 : 36;
        /* iBUG numbers both eyes clockwise in the image from their image-left corner: the right eye 36 outer,
         * 37-38 upper, 39 inner, 40-41 lower; the left eye 42 inner, 43-44 upper, 45 outer, 46-47 lower (the left
         * eye was mirrored, 42 its outer corner: scored against dlib, the inter-ocular distance 36-45 came out
         * 30% short and points 42-47 were compared with the wrong ones) */
        P(b + 0, cx - ew, ey);
        P(b + 1, cx - ew * 0.35, ey - eh);
        P(b + 2, cx + ew * 0.35, ey - eh);
        P(b + 3, cx + ew, ey);
        P(b + 4, cx + ew * 0.35, ey + eh * 0.8);
        P(b + 5, cx - ew * 0.35, ey + eh * 0.8);
    }
    double mw = 0.4 * id->mouth_w, my = 0.62;
    P(48, -mw, my), P(49, -mw * 0.6, my - 0.07), P(50, -mw * 0.25, my - 0.1), P(51, 0, my - 0.08),
        P(52, mw * 0.25, my - 0.1), P(53, mw * 0.6, my - 0.07), P(54, mw, my), P(55, mw * 0.6, my + 0.09),
        P(56, mw * 0.25, my + 0.12), P(57, 0, my + 0.13), P(58, -mw * 0.25, my + 0.12), P(59, -mw * 0.6, my + 0.09);
    P(60, -mw * 0.8, my), P(61, -mw * 0.3, my - 0.02), P(62, 0, my - 0.02), P(63, mw * 0.3, my - 0.02),
        P(64, mw * 0.8, my), P(65, mw * 0.3, my + 0.02), P(66, 0, my + 0.02), P(67, -mw * 0.3, my + 0.02);
#undef P
}

static void move(double *p, int i, double dx, double dy) {
    p[2 * i] += dx;
    p[2 * i + 1] += dy;
}

/* Action-unit-like deformations, amplitudes in face units. */
static void corners_up(double *p, double v) {
    move(p, 48, 0, -v), move(p, 54, 0, -v), move(p, 60, 0, -v * 0.8), move(p, 64, 0, -v * 0.8);
    move(p, 49, 0, -v * 0.4), move(p, 53, 0, -v * 0.4), move(p, 59, 0, -v * 0.5), move(p, 55, 0, -v * 0.5);
}
static void corners_out(double *p, double v) {
    move(p, 48, -v, 0), move(p, 54, v, 0), move(p, 60, -v, 0), move(p, 64, v, 0);
}
static void mouth_open(double *p, double v) {
    int lower[] = {55, 56, 57, 58, 59, 65, 66, 67};
    for (int i = 0; i < 8; i++) move(p, lower[i], 0, v);
    for (int i = 61; i <= 63; i++) move(p, i, 0, -v * 0.25);
    for (int k = 5; k <= 11; k++) move(p, k, 0, v * 0.5 * (1 - abs(k - 8) / 4.0));
}
static void lips_press(double *p, double v) {
    for (int i = 49; i <= 53; i++) move(p, i, 0, v * 0.5);
    for (int i = 55; i <= 59; i++) move(p, i, 0, -v * 0.5);
    move(p, 48, v * 0.4, 0), move(p, 54, -v * 0.4, 0), move(p, 60, v * 0.4, 0), move(p, 64, -v * 0.4, 0);
}
static void brows_up(double *p, double v) {
    for (int i = 17; i <= 26; i++) move(p, i, 0, -v);
}
static void brows_down_together(double *p, double v) {
    for (int k = 0; k < 5; k++) {
        double w = 0.4 + 0.15 * k; /* inner points move most */
        move(p, 17 + k, v * 0.4 * w, v * w);
        move(p, 26 - k, -v * 0.4 * w, v * w);
    }
}
static void inner_brow_up(double *p, double v) {
    move(p, 21, 0, -v), move(p, 22, 0, -v), move(p, 20, 0, -v * 0.6), move(p, 23, 0, -v * 0.6);
}
static void eyes_open(double *p, double v) { /* v > 0 wider, v < 0 narrower */
    int up[] = {37, 38, 43, 44}, lo[] = {40, 41, 46, 47};
    for (int i = 0; i < 4; i++) move(p, up[i], 0, -v), move(p, lo[i], 0, v * 0.5);
}
static void nose_wrinkle(double *p, double v) {
    for (int i = 31; i <= 35; i++) move(p, i, 0, -v * 0.5);
    for (int i = 49; i <= 53; i++) move(p, i, 0, -v);
}
static void smirk(double *p, double v) {
    move(p, 54, v * 0.5, -v), move(p, 64, v * 0.4, -v * 0.8), move(p, 53, 0, -v * 0.5);
}

static void apply_expression(int label, double e, double *p, double *gaze_y, double *head_down) {
    switch (label) {
    case 0: corners_up(p, 0.12 * e), corners_out(p, 0.08 * e), mouth_open(p, 0.05 * e), eyes_open(p, -0.03 * e); break;
    case 1: corners_up(p, -0.1 * e), inner_brow_up(p, 0.12 * e), eyes_open(p, -0.02 * e); break;
    case 2: break;
    case 3: brows_down_together(p, 0.12 * e), lips_press(p, 0.06 * e), eyes_open(p, -0.03 * e); break;
    case 4: brows_up(p, 0.15 * e), eyes_open(p, 0.06 * e), mouth_open(p, 0.22 * e); break;
    case 5:
        nose_wrinkle(p, 0.08 * e), brows_down_together(p, 0.06 * e), corners_up(p, -0.03 * e), eyes_open(p, -0.04 * e);
        break;
    case 6:
        brows_up(p, 0.1 * e), inner_brow_up(p, 0.06 * e), eyes_open(p, 0.07 * e), corners_out(p, 0.08 * e),
            mouth_open(p, 0.08 * e);
        break;
    case 7: smirk(p, 0.1 * e); break;
    case 8: lips_press(p, 0.05 * e), inner_brow_up(p, 0.06 * e), eyes_open(p, 0.03 * e); break;
    case 9: corners_up(p, -0.06 * e), inner_brow_up(p, 0.04 * e), *gaze_y += 0.5 * e, *head_down += 0.08 * e; break;
    case 10: corners_up(p, -0.08 * e), brows_down_together(p, 0.05 * e), eyes_open(p, -0.04 * e); break;
    }
}

typedef struct Pose {
    double cx, cy, scale, roll, gaze_x, gaze_y, blink;
} Pose;

static void pose_at(const FaceIdentity *id, const ClipScript *s, int t, int size, double *face, Pose *pose) {
    mean_shape(id, face);
    double e = 1.6 * synth_intensity(s, t), gaze_y = 0, head_down = 0; /* gain: visible at 112 px */
    apply_expression(s->label, e, face, &gaze_y, &head_down);
    if (s->talk_amp > 0) mouth_open(face, s->talk_amp * (0.5 + 0.5 * sin(2 * M_PI * s->talk_freq * t)));
    pose->blink = 0;
    for (int b = 0; b < s->n_blinks; b++) {
        int d = abs(t - s->blink_frames[b]);
        if (d <= 1) pose->blink = fmax(pose->blink, d == 0 ? 1.0 : 0.5);
    }
    pose->gaze_x = t >= s->gaze_shift_frame ? s->gaze_x : 0;
    pose->gaze_y = (t >= s->gaze_shift_frame ? s->gaze_y : 0) + gaze_y;
    double drift = s->head_speed * t;
    pose->cx = size * (0.5 + s->head_dx + drift);
    pose->cy = size * (0.52 + s->head_dy + head_down + 0.5 * drift);
    pose->scale = size * 0.36 * id->face_w; /* face crops, as in DFEW: the face fills most of the frame */
    pose->roll = s->head_roll + 3 * drift;
}

static void to_pixels(const Pose *pose, const double *face, double *xy) {
    double c = cos(pose->roll), sn = sin(pose->roll);
    for (int i = 0; i < SYNTH_LANDMARKS; i++) {
        double x = face[2 * i] * pose->scale, y = face[2 * i + 1] * pose->scale;
        xy[2 * i] = pose->cx + c * x - sn * y;
        xy[2 * i + 1] = pose->cy + sn * x + c * y;
    }
}

void synth_landmarks(const FaceIdentity *id, const ClipScript *s, int t, int size, double xy[2 * SYNTH_LANDMARKS]) {
    double face[2 * SYNTH_LANDMARKS];
    Pose pose;
    pose_at(id, s, t, size, face, &pose);
    if (pose.blink > 0) /* closing lids: upper lid points move toward the lower lid */
        for (int e = 0; e < 2; e++) {
            int b = e ? 42 : 36;
            for (int k = 1; k <= 2; k++) {
                double *up = &face[2 * (b + k)], *lo = &face[2 * (b + 5 - (k - 1))];
                up[1] += (lo[1] - up[1]) * 0.9 * pose.blink;
            }
        }
    to_pixels(&pose, face, xy);
}

/* ---- rendering ------------------------------------------------------------------ */

static void path_points(cairo_t *cr, const double *xy, const int *idx, int n) {
    cairo_move_to(cr, xy[2 * idx[0]], xy[2 * idx[0] + 1]);
    for (int i = 1; i < n; i++) cairo_line_to(cr, xy[2 * idx[i]], xy[2 * idx[i] + 1]);
    cairo_close_path(cr);
}

static void range_idx(int *idx, int a, int b) {
    for (int i = a; i <= b; i++) idx[i - a] = i;
}

typedef struct Paint {
    int parsing; /* 1: flat class indices, no antialiasing */
} Paint;

static void set(cairo_t *cr, const Paint *pt, int cls, double r, double g, double b) {
    if (pt->parsing) cairo_set_source_rgb(cr, cls / 255.0, cls / 255.0, cls / 255.0);
    else cairo_set_source_rgb(cr, r, g, b);
}

/* The face outline: the jaw and an arc over the forehead. */
static void face_path(cairo_t *cr, const double *xy, const Pose *pose) {
    cairo_move_to(cr, xy[0], xy[1]);
    for (int i = 1; i <= 16; i++) cairo_line_to(cr, xy[2 * i], xy[2 * i + 1]);
    double c = cos(pose->roll), s = sin(pose->roll);
    for (int k = 0; k <= 12; k++) {
        double th = -M_PI * k / 12.0, x = cos(th) * pose->scale, y = (-0.2 + 1.05 * sin(th)) * pose->scale;
        cairo_line_to(cr, pose->cx + c * x - s * y, pose->cy + s * x + c * y);
    }
    cairo_close_path(cr);
}

static void draw(cairo_t *cr, const Paint *pt, const FaceIdentity *id, const ClipScript *s, const Pose *pose,
                 const double *xy, int size) {
    int idx[20];
    set(cr, pt, 0, id->background[0], id->background[1], id->background[2]);
    cairo_paint(cr);
    if (!pt->parsing) { /* clutter: label-free shapes behind the head */
        Rng cr_rng;
        rng_init(&cr_rng, id->clutter_seed, 1, 0, 0);
        for (int k = 0; k < id->clutter; k++) {
            cairo_set_source_rgb(cr, rng_uniform(&cr_rng), rng_uniform(&cr_rng), rng_uniform(&cr_rng));
            double x = rng_uniform(&cr_rng) * size, y = rng_uniform(&cr_rng) * size,
                   w = (0.1 + 0.3 * rng_uniform(&cr_rng)) * size;
            if (k % 2) cairo_rectangle(cr, x - w / 2, y - w / 3, w, w * 0.6);
            else cairo_arc(cr, x, y, w / 3, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    }
    /* hair behind and above the face */
    double c = cos(pose->roll), sn = sin(pose->roll);
    cairo_save(cr);
    cairo_translate(cr, pose->cx + sn * 0.55 * pose->scale, pose->cy - c * 0.55 * pose->scale);
    cairo_rotate(cr, pose->roll);
    cairo_scale(cr, pose->scale * (1.15 + 0.1 * id->hair_style), pose->scale * (0.95 + 0.15 * id->hair_style));
    cairo_arc(cr, 0, 0, 1, 0, 2 * M_PI);
    cairo_restore(cr);
    set(cr, pt, 10, id->hair[0], id->hair[1], id->hair[2]);
    cairo_fill(cr);
    /* skin, lit from one side */
    face_path(cr, xy, pose);
    if (pt->parsing) {
        set(cr, pt, 1, 0, 0, 0);
        cairo_fill(cr);
    } else {
        cairo_pattern_t *g =
            cairo_pattern_create_radial(pose->cx + id->light_x * pose->scale * 0.6, pose->cy - pose->scale * 0.3,
                                        pose->scale * 0.2, pose->cx, pose->cy, pose->scale * 1.6);
        cairo_pattern_add_color_stop_rgb(g, 0, fmin(1, id->skin[0] * 1.12), fmin(1, id->skin[1] * 1.12),
                                         fmin(1, id->skin[2] * 1.12));
        cairo_pattern_add_color_stop_rgb(g, 1, id->skin[0] * 0.7, id->skin[1] * 0.7, id->skin[2] * 0.7);
        cairo_set_source(cr, g);
        cairo_fill(cr);
        cairo_pattern_destroy(g);
    }
    /* brows: thick strokes (2 = subject's left = image right) */
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_set_line_width(cr, pose->scale * 0.09);
    for (int side = 0; side < 2; side++) {
        range_idx(idx, side ? 22 : 17, side ? 26 : 21);
        cairo_move_to(cr, xy[2 * idx[0]], xy[2 * idx[0] + 1]);
        for (int i = 1; i < 5; i++) cairo_line_to(cr, xy[2 * idx[i]], xy[2 * idx[i] + 1]);
        set(cr, pt, side ? 2 : 3, id->hair[0] * 0.8, id->hair[1] * 0.8, id->hair[2] * 0.8);
        cairo_stroke(cr);
    }
    /* eyes: white, iris and pupil clipped to the lids */
    for (int side = 0; side < 2; side++) {
        range_idx(idx, side ? 42 : 36, side ? 47 : 41);
        path_points(cr, xy, idx, 6);
        set(cr, pt, side ? 4 : 5, 0.95, 0.95, 0.93);
        if (pt->parsing) {
            cairo_fill(cr);
            continue;
        }
        cairo_save(cr);
        cairo_clip_preserve(cr);
        cairo_fill(cr);
        double ex = 0, ey = 0;
        for (int i = 0; i < 6; i++) ex += xy[2 * idx[i]] / 6, ey += xy[2 * idx[i] + 1] / 6;
        double r = pose->scale * 0.075;
        ex += pose->gaze_x * r, ey += pose->gaze_y * r;
        cairo_set_source_rgb(cr, id->iris[0], id->iris[1], id->iris[2]);
        cairo_arc(cr, ex, ey, r, 0, 2 * M_PI);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.02, 0.02, 0.02);
        cairo_arc(cr, ex, ey, r * 0.45, 0, 2 * M_PI);
        cairo_fill(cr);
        cairo_restore(cr);
        path_points(cr, xy, idx, 6);
        cairo_set_line_width(cr, pose->scale * 0.02);
        cairo_set_source_rgb(cr, 0.15, 0.1, 0.08);
        cairo_stroke(cr);
    }
    /* nose */
    int nose[] = {27, 31, 32, 33, 34, 35};
    path_points(cr, xy, nose, 6);
    set(cr, pt, 6, id->skin[0] * 0.85, id->skin[1] * 0.8, id->skin[2] * 0.78);
    if (pt->parsing) cairo_fill(cr);
    else {
        cairo_set_line_width(cr, pose->scale * 0.025);
        cairo_stroke(cr);
    }
    /* lips: upper, lower, then the inner mouth on top */
    int upper[] = {48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60};
    int lower[] = {54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64};
    path_points(cr, xy, upper, 12);
    set(cr, pt, 7, id->lips[0], id->lips[1], id->lips[2]);
    cairo_fill(cr);
    path_points(cr, xy, lower, 12);
    set(cr, pt, 9, id->lips[0] * 1.05, id->lips[1], id->lips[2]);
    cairo_fill(cr);
    range_idx(idx, 60, 67);
    path_points(cr, xy, idx, 8);
    set(cr, pt, 8, 0.25, 0.05, 0.06);
    cairo_fill(cr);
    if (s->occlude && !pt->parsing) { /* a hand-like bar over one cheek: occluders are not in the parsing map */
        cairo_set_source_rgb(cr, id->skin[0] * 0.9, id->skin[1] * 0.85, id->skin[2] * 0.85);
        cairo_rectangle(cr, xy[2 * 3] - pose->scale * 0.1, xy[2 * 3 + 1] - pose->scale * 0.3, pose->scale * 0.55,
                        pose->scale * 0.6);
        cairo_fill(cr);
    }
}

void synth_render(const FaceIdentity *id, const ClipScript *s, int t, int size, const double xy[2 * SYNTH_LANDMARKS],
                  uint8_t *rgb, uint8_t *parsing, Rng *noise_rng) {
    double face[2 * SYNTH_LANDMARKS];
    Pose pose;
    pose_at(id, s, t, size, face, &pose);
    for (int pass = 0; pass < (parsing ? 2 : 1); pass++) {
        cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, size, size);
        cairo_t *cr = cairo_create(surf);
        Paint pt = {pass};
        if (pass) cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
        draw(cr, &pt, id, s, &pose, xy, size);
        cairo_destroy(cr);
        cairo_surface_flush(surf);
        const uint8_t *data = cairo_image_surface_get_data(surf);
        int stride = cairo_image_surface_get_stride(surf);
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                uint32_t px;
                memcpy(&px, data + (size_t)y * stride + 4 * x, 4); /* native-endian xRGB */
                uint8_t r = (uint8_t)(px >> 16), g = (uint8_t)(px >> 8), b = (uint8_t)px;
                if (pass) {
                    parsing[(size_t)y * size + x] = r;
                } else {
                    uint8_t *o = rgb + ((size_t)y * size + x) * 3;
                    double n = s->noise * rng_normal(noise_rng);
                    int v[3] = {(int)lround(r + n), (int)lround(g + n), (int)lround(b + n)};
                    for (int c = 0; c < 3; c++) o[c] = (uint8_t)(v[c] < 0 ? 0 : v[c] > 255 ? 255 : v[c]);
                }
            }
        cairo_surface_destroy(surf);
    }
}
