/* `dfer predict --annotate`: the upright video with the smoothed face box and
 * the current window's top classes drawn with cairo, encoded with
 * data/encode.h. */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/encode.h"
#include "train/predict.h"

/* The window shown at time t: of those containing it, the one whose centre is nearest. As predict_run counts
 * frames, only a last window that reaches the video's end takes the frames to it: after a last window that ends
 * earlier (a stride longer than the window) the frames belong to no window and show no classes. */
static int window_at(const PredictResult *r, double t) {
    int best = -1;
    double best_d = INFINITY;
    for (int w = 0; w < r->n_windows; w++) {
        const PredictWindow *pw = &r->windows[w];
        int to_end = w == r->n_windows - 1 && pw->end_s >= r->v.duration - 1e-9;
        int inside = t >= pw->start_s - 1e-6 && (t < pw->end_s - 1e-6 || to_end);
        double d = fabs(t - 0.5 * (pw->start_s + pw->end_s));
        if (inside && d < best_d) best_d = d, best = w;
    }
    return best;
}

/* RGB24 rows <-> cairo's 32-bit xRGB (native endian) */
static void to_cairo(const ImageU8 *img, uint32_t *px, int stride_px, int W, int H) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int sx = x < img->width ? x : img->width - 1, sy = y < img->height ? y : img->height - 1;
            const uint8_t *p = img->rgb + 3 * ((size_t)sy * img->width + sx);
            px[(size_t)y * stride_px + x] = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        }
}

static void from_cairo(const uint32_t *px, int stride_px, int W, int H, uint8_t *rgb) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint32_t v = px[(size_t)y * stride_px + x];
            uint8_t *p = rgb + 3 * ((size_t)y * W + x);
            p[0] = (uint8_t)(v >> 16), p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)v;
        }
}

/* size: the font size predict_annotate set on cr */
static void draw_frame(cairo_t *cr, const PredictResult *r, int f, int W, int H, double size) {
    const FaceVideo *v = &r->v;
    double unit = fmax(1.0, fmin(W, H) / 160.0);
    if (v->has_smooth[f]) {
        const float *b = v->smooth + (size_t)f * 4;
        if (v->det[f]) cairo_set_source_rgb(cr, 0.1, 0.9, 0.2);
        else cairo_set_source_rgb(cr, 0.95, 0.8, 0.1); /* smoothed over neighbours, not detected here */
        cairo_set_line_width(cr, 1.5 * unit);
        cairo_rectangle(cr, b[0], b[1], b[2] - b[0], b[3] - b[1]);
        cairo_stroke(cr);
    }
    int w = window_at(r, v->t[f]);
    char lines[4][96];
    int n = 0;
    if (w >= 0) {
        const PredictWindow *pw = &r->windows[w];
        snprintf(lines[n++], sizeof lines[0], "%.1f-%.1f s", pw->start_s, pw->end_s);
        int top[3] = {-1, -1, -1};
        if (!pw->face) snprintf(lines[n++], sizeof lines[0], "no face");
        else predict_top3(r, pw->probs, top);
        for (int k = 0; pw->face && k < 3 && top[k] >= 0; k++)
            snprintf(lines[n++], sizeof lines[0], "%s %.0f%%", r->classes[top[k]], 100 * pw->probs[top[k]]);
    }
    double pad = 0.3 * size, width = 0;
    for (int i = 0; i < n; i++) {
        cairo_text_extents_t e;
        cairo_text_extents(cr, lines[i], &e);
        width = fmax(width, e.x_advance);
    }
    cairo_set_source_rgba(cr, 0, 0, 0, 0.55);
    cairo_rectangle(cr, 0, 0, width + 2 * pad, n * size * 1.2 + pad);
    cairo_fill(cr);
    for (int i = 0; i < n; i++) {
        if (i == 1 && w >= 0 && r->windows[w].face) cairo_set_source_rgb(cr, 1, 1, 0.3); /* the top class */
        else cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_move_to(cr, pad, (i + 1) * size * 1.2 - 0.2 * size);
        cairo_show_text(cr, lines[i]);
    }
}

int predict_annotate(const PredictResult *r, const char *out_path, Err *err) {
    const FaceVideo *v = &r->v;
    int W = v->width + (v->width & 1), H = v->height + (v->height & 1);
    /* the declared rate only guides the encoder: every frame is written at its own time */
    double fps = v->nominal_fps > 0 ? v->nominal_fps : v->fps > 0 ? v->fps : 25;
    VideoReader *rd;
    if (video_reader_open(r->video, v->nominal_fps, &rd, err) != 0) return -1;
    VideoWriter *vw; /* an atomic write: a temporary file beside out_path until it is whole */
    if (video_writer_open(out_path, W, H, fps, video_reader_true_colours(rd), &vw, err) != 0) {
        video_reader_close(rd);
        return err_prefix(err, "--annotate %s: ", out_path);
    }
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(surf);
    double font = fmax(8.0, fmin(W, H) / 16.0);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, font);
    int stride_px = cairo_image_surface_get_stride(surf) / 4, rc = 0;
    uint8_t *rgb = xmalloc((size_t)W * H * 3 + 1);
    for (int f = 0; f < v->frames && rc == 0; f++) {
        ImageU8 img;
        double t, d;
        int got = video_reader_next(rd, &img, &t, &d, err);
        if (got != 0) {
            rc = got < 0
                     ? -1
                     : err_set(err, "%s: only %d frames decoded for --annotate (%d before)", r->video, f, v->frames);
            break;
        }
        cairo_surface_flush(surf);
        to_cairo(&img, (uint32_t *)cairo_image_surface_get_data(surf), stride_px, W, H);
        image_free(&img);
        cairo_surface_mark_dirty(surf);
        draw_frame(cr, r, f, W, H, font);
        cairo_surface_flush(surf);
        from_cairo((const uint32_t *)cairo_image_surface_get_data(surf), stride_px, W, H, rgb);
        rc = video_writer_add_frame(vw, rgb, t, d, err);
    }
    free(rgb);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    video_reader_close(rd);
    if (video_writer_close(vw, rc == 0, err) != 0 && rc == 0) rc = -1;
    return rc;
}
