/* The middle-level renderers (src/face/render.h): landmark dots exactly where
 * OpenCV's thickness-3 circle puts them (truncation, border clipping), the
 * FaceXFormer palette bytes, the iBUG mirror table, and the parsing map
 * rendered from landmarks against the synthetic benchmark's ground-truth
 * parsing maps (per-class IoU over whole clips, floors below the measured
 * values), with the subject's left on the image right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"
#include "data/synth.h"
#include "face/face_track.h"
#include "face/render.h"
#include "testlib.h"

static int yellow(const uint8_t *rgb, int w, int x, int y) {
    const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
    return p[0] == 255 && p[1] == 255 && p[2] == 0;
}

static int black(const uint8_t *rgb, int w, int x, int y) {
    const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
    return !p[0] && !p[1] && !p[2];
}

/* One point placed by hand (the other 67 far away, skipped): the pixels lit
 * are exactly the diamond |dx| + |dy| <= 2 around the truncated point, clipped. */
static void dots_case(float x, float y, int cx, int cy, int want_lit) {
    enum { W = 32, H = 24 };
    float xy[136];
    for (int i = 0; i < 136; i++) xy[i] = 1e7f;
    xy[2 * 40] = x, xy[2 * 40 + 1] = y;
    uint8_t rgb[W * H * 3];
    face_render_landmark_dots(xy, W, H, rgb);
    int lit = 0, wrong = 0;
    for (int j = 0; j < H; j++)
        for (int i = 0; i < W; i++) {
            int in = abs(i - cx) + abs(j - cy) <= 2;
            lit += yellow(rgb, W, i, j);
            if (in ? !yellow(rgb, W, i, j) : !black(rgb, W, i, j)) wrong++;
        }
    EXPECT(wrong == 0 && lit == want_lit, "point (%.2f, %.2f): %d pixels lit (want %d), %d wrong", x, y, lit, want_lit,
           wrong);
}

static void test_dots(void) {
    dots_case(10.7f, 12.2f, 10, 12, 13);  /* inside: the full 13-pixel diamond at the truncated point */
    dots_case(0.9f, 23.5f, 0, 23, 6);     /* bottom-left corner: the quarter that fits */
    dots_case(-0.5f, 5.5f, 0, 5, 9);      /* truncated toward zero (not floored to -1): half a diamond */
    dots_case(31.99f, 1.0f, 31, 1, 8);    /* right border, one row cut at the top */
    dots_case(-3.5f, 5.0f, -3, 5, 0);     /* off the canvas: nothing */
    /* all 68 points on one pixel: one diamond, nothing else */
    float xy[136];
    for (int i = 0; i < 68; i++) xy[2 * i] = 5.2f, xy[2 * i + 1] = 6.9f;
    uint8_t rgb[16 * 16 * 3];
    face_render_landmark_dots(xy, 16, 16, rgb);
    int lit = 0;
    for (int j = 0; j < 16; j++)
        for (int i = 0; i < 16; i++) lit += yellow(rgb, 16, i, j);
    EXPECT(lit == 13 && yellow(rgb, 16, 5, 6) && yellow(rgb, 16, 7, 6) && yellow(rgb, 16, 5, 4) &&
               !yellow(rgb, 16, 6, 8),
           "68 coincident points: one diamond (%d lit)", lit);
}

static void test_palette(void) {
    uint8_t labels[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 200}, rgb[36];
    face_palette_rgb(labels, 12, rgb);
    static const uint8_t want[36] = {0,   0,   0,   0,   153, 255, 102, 255, 153, 0,   204, 153,
                                     255, 255, 102, 255, 255, 204, 255, 153, 0,   255, 102, 255,
                                     102, 0,   51,  255, 204, 255, 255, 0,   102, 0,   0,   0};
    EXPECT(!memcmp(rgb, want, sizeof want), "FaceXFormer's palette (clip.md §9.3), index 200 black");
}

static void test_mirror_table(void) {
    int bad = 0;
    for (int i = 0; i < 68; i++) bad += k_face_mirror[k_face_mirror[i]] != i;
    EXPECT(bad == 0, "the mirror is an involution");
    EXPECT(k_face_mirror[36] == 45 && k_face_mirror[39] == 42 && k_face_mirror[17] == 26 && k_face_mirror[48] == 54 &&
               k_face_mirror[8] == 8 && k_face_mirror[33] == 33 && k_face_mirror[62] == 62 && k_face_mirror[67] == 65,
           "iBUG pairs");
    uint8_t l[6] = {2, 3, 4, 5, 1, 10};
    face_labels_mirror(l, 6);
    EXPECT(l[0] == 3 && l[1] == 2 && l[2] == 5 && l[3] == 4 && l[4] == 1 && l[5] == 10, "label swap 2<->3, 4<->5");
}

static const char *k_class_name[FACE_CLASSES] = {"background",  "skin",      "left brow", "right brow",
                                                 "left eye",    "right eye", "nose",      "upper lip",
                                                 "inner mouth", "lower lip", "hair"};

static char g_root[600];
static const int k_size = 64;

static void make_dataset(void) {
    SynthConfig c;
    synth_config_default(&c);
    c.clips = 12, c.size = k_size, c.min_frames = 8, c.max_frames = 16, c.threads = 2, c.seed = 5;
    snprintf(g_root, sizeof g_root, "%s/synth", test_tmpdir());
    Err err;
    EXPECT(synth_generate(&c, g_root, &err) == 0, "synth: %s", err.msg);
}

/* Centroid x of a class, -1 if absent. */
static double centroid_x(const uint8_t *lab, int w, int h, int cls) {
    double s = 0, n = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (lab[y * w + x] == cls) s += x + 0.5, n++;
    return n > 0 ? s / n : -1;
}

static void test_parsing_vs_ground_truth(void) {
    const int S = k_size;
    double inter[FACE_CLASSES] = {0}, uni[FACE_CLASSES] = {0};
    int frames = 0, out_of_range = 0, sides_wrong = 0, checked_sides = 0, mirror_diff = 0;
    uint8_t *lab = malloc((size_t)S * S), *mir = malloc((size_t)S * S);
    for (int clip = 1; clip <= 12; clip++) {
        char path[800];
        Err err;
        FaceTrack t;
        snprintf(path, sizeof path, "%s/synth/landmarks/%05d.txt", g_root, clip);
        if (face_track_read(path, &t, &err) != 0) {
            EXPECT(0, "%s", err.msg);
            continue;
        }
        for (int f = 0; f < t.frames; f++) {
            const float *xy = t.xy + (size_t)f * 136;
            ImageU8 gt;
            snprintf(path, sizeof path, "%s/synth/parsing/%05d/%05d.png", g_root, clip, f + 1);
            if (image_decode_file(path, &gt, &err) != 0) {
                EXPECT(0, "%s", err.msg);
                continue;
            }
            face_render_parsing(xy, S, S, lab);
            for (int i = 0; i < S * S; i++) {
                int a = lab[i], b = gt.rgb[3 * i];
                out_of_range += a >= FACE_CLASSES;
                if (a >= FACE_CLASSES || b >= FACE_CLASSES) continue;
                if (a == b) inter[a]++, uni[a]++;
                else uni[a]++, uni[b]++;
            }
            /* the subject's left brow and eye right of the nose, the right ones left of it (a class
             * may be absent: an eye closed in a blink renders no pixel) */
            double nose = centroid_x(lab, S, S, FACE_NOSE);
            for (int c = FACE_LEFT_BROW; c <= FACE_RIGHT_EYE; c++) {
                double cx = centroid_x(lab, S, S, c);
                int left = c == FACE_LEFT_BROW || c == FACE_LEFT_EYE;
                if (cx >= 0 && (left ? cx <= nose : cx >= nose)) sides_wrong++;
            }
            checked_sides += nose >= 0;
            /* mirrored points, re-indexed, render the mirrored map with left and right swapped */
            float m[136];
            for (int i = 0; i < 68; i++) m[2 * i] = (float)S - xy[2 * i], m[2 * i + 1] = xy[2 * i + 1];
            face_points_mirror_order(m);
            face_render_parsing(m, S, S, mir);
            face_labels_mirror(mir, S * S);
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) mirror_diff += mir[y * S + x] != lab[y * S + (S - 1 - x)];
            image_free(&gt);
            frames++;
        }
        face_track_free(&t);
    }
    free(lab), free(mir);
    printf("parsing rendered from ground-truth landmarks vs synth ground truth, %d frames of %d px:\n", frames, S);
    /* Measured (seed 5, 12 clips, 144 frames, 64 px): background 0.853, skin 0.939, brows 0.891 / 0.884,
     * eyes 0.996 / 0.996, nose 0.705, upper lip 0.995, inner mouth 0.997, lower lip 0.998, hair 0.521.
     * Eyes and lips are the same polygons as the generator's; nose (widened at the bridge), brows
     * (polygon vs stroke ends), skin (the forehead is extrapolated, the generator's is an arc of the
     * head) and hair (a band, the generator's an ellipse of three styles) are priors. Floors: ~0.1 below. */
    static const double floor_iou[FACE_CLASSES] = {0.75, 0.84, 0.78, 0.78, 0.90, 0.90, 0.60, 0.90, 0.90, 0.90, 0.40};
    for (int c = 0; c < FACE_CLASSES; c++) {
        double iou = uni[c] > 0 ? inter[c] / uni[c] : 1.0;
        printf("  %-12s IoU %.3f (floor %.2f)\n", k_class_name[c], iou, floor_iou[c]);
        EXPECT(iou >= floor_iou[c], "%s: IoU %.3f below %.2f", k_class_name[c], iou, floor_iou[c]);
    }
    EXPECT(frames > 90, "%d frames compared", frames);
    EXPECT(out_of_range == 0, "every pixel an index 0..10 (%d not)", out_of_range);
    EXPECT(sides_wrong == 0 && checked_sides == frames,
           "left classes on the image right (%d of %d frames checked; %d wrong)", checked_sides, frames, sides_wrong);
    EXPECT(mirror_diff <= frames * S * S / 200,
           "mirrored render = mirrored map with classes swapped (%d of %d pixels differ)", mirror_diff, frames * S * S);
    printf("mirrored points render the mirrored map: %d of %d pixels differ\n", mirror_diff, frames * S * S);
}

int main(void) {
    TEST_RUN(test_dots);
    TEST_RUN(test_palette);
    TEST_RUN(test_mirror_table);
    TEST_RUN(make_dataset);
    TEST_RUN(test_parsing_vs_ground_truth);
    return test_summary();
}
