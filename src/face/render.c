#include "face/render.h"

#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"

/* clip.md §9.3 item 2: FaceXFormer's colour for each LaPa index. */
const uint8_t k_face_palette[FACE_CLASSES][3] = {
    {0, 0, 0},     {0, 153, 255},   {102, 255, 153}, {0, 204, 153}, {255, 255, 102}, {255, 255, 204},
    {255, 153, 0}, {255, 102, 255}, {102, 0, 51},    {255, 204, 255}, {255, 0, 102},
};

const int k_face_mirror[68] = {
    16, 15, 14, 13, 12, 11, 10, 9,  8,  7,  6,  5,  4,  3,  2,  1,  0,  /* jaw */
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17,                             /* brows */
    27, 28, 29, 30, 35, 34, 33, 32, 31,                                 /* nose: bridge, nostril base */
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,                     /* eyes */
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,                     /* outer lips */
    64, 63, 62, 61, 60, 67, 66, 65,                                     /* inner lips */
};

void face_points_mirror_order(float *xy) {
    float tmp[2 * 68];
    memcpy(tmp, xy, sizeof tmp);
    for (int i = 0; i < 68; i++) xy[2 * i] = tmp[2 * k_face_mirror[i]], xy[2 * i + 1] = tmp[2 * k_face_mirror[i] + 1];
}

void face_labels_mirror(uint8_t *labels, int n) {
    static const uint8_t swap[FACE_CLASSES] = {0, 1, 3, 2, 5, 4, 6, 7, 8, 9, 10};
    for (int i = 0; i < n; i++)
        if (labels[i] < FACE_CLASSES) labels[i] = swap[labels[i]];
}

void face_palette_rgb(const uint8_t *labels, int n, uint8_t *rgb) {
    uint8_t lut[256][3] = {{0}}; /* every byte value, the ones above 10 black: no range test per pixel */
    memcpy(lut, k_face_palette, sizeof k_face_palette);
    for (int i = 0; i < n; i++) memcpy(rgb + 3 * (size_t)i, lut[labels[i]], 3);
}

const uint8_t k_face_dot_rgb[3] = {255, 255, 0};

void face_render_landmark_mask(const float *xy, int w, int h, uint8_t *mask) {
    memset(mask, 0, (size_t)w * h);
    for (int i = 0; i < 68; i++) {
        float fx = xy[2 * i], fy = xy[2 * i + 1];
        if (!(fabsf(fx) < 1e6f && fabsf(fy) < 1e6f)) continue; /* also NaN: the int conversion must be defined */
        int cx = (int)fx, cy = (int)fy;                         /* toward zero, as astype(int32) */
        for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2 + abs(dy); dx <= 2 - abs(dy); dx++) {
                int x = cx + dx, y = cy + dy;
                if (x >= 0 && x < w && y >= 0 && y < h) mask[(size_t)y * w + x] = 1;
            }
    }
}

void face_render_landmark_dots(const float *xy, int w, int h, uint8_t *rgb) {
    uint8_t *mask = xmalloc((size_t)w * h);
    face_render_landmark_mask(xy, w, h, mask);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        const uint8_t *c = mask[i] ? k_face_dot_rgb : k_face_palette[0];
        rgb[3 * i] = c[0], rgb[3 * i + 1] = c[1], rgb[3 * i + 2] = c[2];
    }
    free(mask);
}

/* ---- parsing ------------------------------------------------------------------- */

/* A face-aligned frame: origin c between the jaw's end points, u along the jaw
 * from point 0 to 16, v up (away from the chin), a = the half face width. */
typedef struct Frame {
    double cx, cy, ux, uy, vx, vy, a;
} Frame;

static double px(const float *xy, int i) { return xy[2 * i]; }
static double py(const float *xy, int i) { return xy[2 * i + 1]; }

static void face_frame(const float *xy, Frame *f) {
    double dx = px(xy, 16) - px(xy, 0), dy = py(xy, 16) - py(xy, 0), len = hypot(dx, dy);
    f->cx = (px(xy, 0) + px(xy, 16)) / 2, f->cy = (py(xy, 0) + py(xy, 16)) / 2;
    f->a = len / 2;
    if (len < 1e-6) dx = 1, dy = 0, len = 1; /* a degenerate jaw: upright */
    f->ux = dx / len, f->uy = dy / len;
    f->vx = f->uy, f->vy = -f->ux; /* (1, 0) -> (0, -1): up in image coordinates */
    /* points given mirrored (16 on the image left) turn u around: keep v away from the chin */
    if ((f->cx - px(xy, 8)) * f->vx + (f->cy - py(xy, 8)) * f->vy < 0) f->vx = -f->vx, f->vy = -f->vy;
}

/* The point at (s, t) in the face frame: s along u, t along v. */
static void at(const Frame *f, double s, double t, double *x, double *y) {
    *x = f->cx + s * f->ux + t * f->vx;
    *y = f->cy + s * f->uy + t * f->vy;
}

static double height(const Frame *f, const float *xy, int i) {
    return (px(xy, i) - f->cx) * f->vx + (py(xy, i) - f->cy) * f->vy;
}

/* Half-ellipse over the frame's chord, semi-axes sa (along u), sb (along v),
 * from (+sa, 0) to (-sa, 0), appended to the current path. */
static void arc_over(cairo_t *cr, const Frame *f, double sa, double sb, int first_point) {
    enum { STEPS = 24 };
    for (int k = first_point ? 0 : 1; k < STEPS; k++) {
        double th = M_PI * k / STEPS, x, y;
        at(f, sa * cos(th), sb * sin(th), &x, &y);
        cairo_line_to(cr, x, y);
    }
}

static void poly(cairo_t *cr, const float *xy, const int *idx, int n) {
    cairo_move_to(cr, px(xy, idx[0]), py(xy, idx[0]));
    for (int i = 1; i < n; i++) cairo_line_to(cr, px(xy, idx[i]), py(xy, idx[i]));
    cairo_close_path(cr);
}

/* A8 surface: the class index is the alpha byte (cls/255 converts back exactly). */
static void fill_class(cairo_t *cr, int cls) {
    cairo_set_source_rgba(cr, 0, 0, 0, cls / 255.0);
    cairo_fill(cr);
}

static void draw_face(cairo_t *cr, const float *xy) {
    Frame f;
    face_frame(xy, &f);
    double a = f.a, brow = -1e30;
    for (int i = 17; i <= 26; i++) brow = fmax(brow, height(&f, xy, i));
    double chin = -height(&f, xy, 8), forehead = fmax(brow, 0) + 0.35 * fmax(brow + chin, 0);
    if (forehead < 0.5 * a) forehead = 0.5 * a; /* implausible tracks still get a forehead */
    double x, y;
    /* hair: behind everything, a larger half-ellipse */
    at(&f, 1.15 * a, 0, &x, &y);
    cairo_move_to(cr, x, y);
    arc_over(cr, &f, 1.15 * a, forehead + 0.35 * a, 1);
    at(&f, -1.15 * a, 0, &x, &y);
    cairo_line_to(cr, x, y);
    cairo_close_path(cr);
    fill_class(cr, FACE_HAIR);
    /* skin: the jaw 0..16, then the forehead back from 16 to 0 */
    cairo_move_to(cr, px(xy, 0), py(xy, 0));
    for (int i = 1; i <= 16; i++) cairo_line_to(cr, px(xy, i), py(xy, i));
    arc_over(cr, &f, a, forehead, 0);
    cairo_close_path(cr);
    fill_class(cr, FACE_SKIN);
    /* brows: the subject's left (22-26) is class 2 */
    cairo_set_line_width(cr, 0.1 * a);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (int side = 0; side < 2; side++) {
        int b = side ? 22 : 17;
        cairo_move_to(cr, px(xy, b), py(xy, b));
        for (int i = 1; i < 5; i++) cairo_line_to(cr, px(xy, b + i), py(xy, b + i));
        cairo_set_source_rgba(cr, 0, 0, 0, (side ? FACE_LEFT_BROW : FACE_RIGHT_BROW) / 255.0);
        cairo_stroke(cr);
    }
    /* nose: 27 widened along u, the nostril base with its ends pushed out along u */
    double w27 = 0.05 * a, wing = 0.04 * a;
    double side_u = (px(xy, 35) - px(xy, 31)) * f.ux + (py(xy, 35) - py(xy, 31)) * f.uy >= 0 ? 1 : -1;
    cairo_move_to(cr, px(xy, 27) - side_u * w27 * f.ux, py(xy, 27) - side_u * w27 * f.uy);
    cairo_line_to(cr, px(xy, 31) - side_u * wing * f.ux, py(xy, 31) - side_u * wing * f.uy);
    for (int i = 32; i <= 34; i++) cairo_line_to(cr, px(xy, i), py(xy, i));
    cairo_line_to(cr, px(xy, 35) + side_u * wing * f.ux, py(xy, 35) + side_u * wing * f.uy);
    cairo_line_to(cr, px(xy, 27) + side_u * w27 * f.ux, py(xy, 27) + side_u * w27 * f.uy);
    cairo_close_path(cr);
    fill_class(cr, FACE_NOSE);
    /* eyes: 42-47 is the subject's left */
    static const int right_eye[6] = {36, 37, 38, 39, 40, 41}, left_eye[6] = {42, 43, 44, 45, 46, 47};
    poly(cr, xy, right_eye, 6);
    fill_class(cr, FACE_RIGHT_EYE);
    poly(cr, xy, left_eye, 6);
    fill_class(cr, FACE_LEFT_EYE);
    /* lips, then the inner mouth over their shared edges */
    static const int upper[12] = {48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60};
    static const int lower[12] = {54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64};
    static const int inner[8] = {60, 61, 62, 63, 64, 65, 66, 67};
    poly(cr, xy, upper, 12);
    fill_class(cr, FACE_UPPER_LIP);
    poly(cr, xy, lower, 12);
    fill_class(cr, FACE_LOWER_LIP);
    poly(cr, xy, inner, 8);
    fill_class(cr, FACE_INNER_MOUTH);
}

void face_render_parsing(const float *xy68, int w, int h, uint8_t *labels) {
    CHECK(w > 0 && h > 0, "parsing map of %d x %d", w, h);
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_A8, w, h); /* cleared: background 0 */
    CHECK(cairo_surface_status(surf) == CAIRO_STATUS_SUCCESS, "cairo surface %d x %d", w, h);
    cairo_t *cr = cairo_create(surf);
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE); /* index maps: no blended edges */
    cairo_set_operator(cr, CAIRO_OPERATOR_SOURCE);  /* later regions replace earlier ones */
    draw_face(cr, xy68);
    cairo_destroy(cr);
    cairo_surface_flush(surf);
    const uint8_t *data = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf);
    for (int y = 0; y < h; y++) memcpy(labels + (size_t)y * w, data + (size_t)y * stride, (size_t)w);
    cairo_surface_destroy(surf);
}

void face_map_lut_init(FaceMapLut *lut, FaceMapKind kind, const float mean[3], const float std[3]) {
    const uint8_t dots[2][3] = {{0, 0, 0}, {k_face_dot_rgb[0], k_face_dot_rgb[1], k_face_dot_rgb[2]}};
    const uint8_t(*colours)[3] = kind == FACE_MAP_PARSING ? k_face_palette : dots;
    int count = kind == FACE_MAP_PARSING ? FACE_CLASSES : 2;
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            uint8_t byte = v < count ? colours[v][c] : 0;
            lut->u[c][v] = byte;
            lut->f[c][v] = ((float)byte / 255.0f - mean[c]) / std[c];
        }
}

void face_map_to_chw(const FaceMapLut *lut, const uint8_t *idx, size_t n, float *chw) {
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++) chw[c * n + i] = lut->f[c][idx[i]];
}
