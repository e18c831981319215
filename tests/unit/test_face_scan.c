/* dfer predict's face scan (face_video_scan) on a frame folder: a small followed face, which dlib finds only with
 * the frame doubled, stays followed when a larger bystander appears beside it and is found at the native size. The
 * scan took the native boxes as they were (no doubled retry: a face had been found), held the followed face for
 * FACE_HOLD_FRAMES frames, then switched to the bystander for good; dfer prep had the same fault (face_prep.sh).
 * The faces are the synthetic benchmark's (a clip's frame rendered at 160 px, scaled), with dlib's 68-point model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/rng.h"
#include "data/encode.h"
#include "data/resample.h"
#include "data/synth_face.h"
#include "train/predict_video.h"
#include "testlib.h"

enum { CANVAS_W = 480, CANVAS_H = 360, SMALL = 80, LARGE = 220, FRAMES = 8 };

/* Copies face (side x side) onto canvas at (x, y). */
static void paste(ImageU8 *canvas, const ImageU8 *face, int x, int y) {
    for (int r = 0; r < face->height; r++)
        memcpy(canvas->rgb + 3 * ((size_t)(y + r) * canvas->width + x), face->rgb + 3 * (size_t)r * face->width,
               3 * (size_t)face->width);
}

/* Writes the folder: frame 0 the small face alone, frames 1.. the small face and the large one. 0, or -1. */
static int write_frames(const char *dir, uint64_t seed) {
    Rng rng, noise;
    rng_init(&rng, seed, 1, 2, 3);
    rng_init(&noise, seed, 4, 5, 6);
    FaceIdentity id;
    ClipScript script;
    synth_identity(&rng, &id);
    id.clutter = 0, id.occluder = 0;
    synth_script(&rng, 0, 1, 0, &script);
    script.occlude = 0;
    double xy[2 * SYNTH_LANDMARKS];
    ImageU8 face, small, large, canvas;
    image_alloc(&face, 160, 160);
    synth_landmarks(&id, &script, 0, 160, xy);
    synth_render(&id, &script, 0, 160, xy, face.rgb, NULL, &noise);
    image_resize(&face, SMALL, SMALL, RESAMPLE_BILINEAR, &small);
    image_resize(&face, LARGE, LARGE, RESAMPLE_BILINEAR, &large);
    image_alloc(&canvas, CANVAS_W, CANVAS_H);
    int rc = 0;
    for (int f = 0; f < FRAMES && rc == 0; f++) {
        memset(canvas.rgb, 128, (size_t)CANVAS_W * CANVAS_H * 3);
        paste(&canvas, &small, 20, 20);
        if (f > 0) paste(&canvas, &large, 250, 100);
        char path[4300];
        Err err;
        snprintf(path, sizeof path, "%s/f%d.png", dir, f);
        rc = image_write_png(path, canvas.rgb, CANVAS_W, CANVAS_H, 3, &err);
        EXPECT(rc == 0, "%s", err.msg);
    }
    image_free(&face), image_free(&small), image_free(&large), image_free(&canvas);
    return rc;
}

static void test_small_face_beside_bystander(void) {
    Err err;
    DlibModel *m = dlib_model_load("/usr/share/dlib/shape_predictor_68_face_landmarks.dat", &err);
    EXPECT(m != NULL, "the 68-point model (libdlib-data): %s", err.msg);
    if (!m) return;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/frames", test_tmpdir());
    Err mk;
    EXPECT(fs_mkdirs(dir, &mk) == 0, "%s", mk.msg);
    if (write_frames(dir, 11) != 0) {
        dlib_model_free(m);
        return;
    }
    FaceVideoConfig cfg;
    face_video_config_default(&cfg); /* upsample 1: the small face is found doubled */
    cfg.threads = 2;
    FaceVideo v;
    memset(&v, 0, sizeof v);
    int rc = face_video_scan(dir, m, &cfg, &v, &err);
    EXPECT(rc == 0 && v.frames == FRAMES, "scan: %s (%d frames)", rc ? err.msg : "", v.frames);
    char picks[3 * FRAMES + 1] = "";
    int small_followed = 0;
    for (int f = 0; rc == 0 && f < v.frames; f++) {
        const float *b = v.box + (size_t)f * 4;
        int is_small = v.det[f] && b[2] - b[0] < 150;
        small_followed += is_small;
        strcat(picks, !v.det[f] ? "- " : is_small ? "S " : "L ");
    }
    printf("  followed: %s(S: the small face, L: the bystander, -: none)\n", picks);
    EXPECT(rc == 0 && v.det[0] && small_followed == FRAMES, "the small face followed in %d of %d frames: %s",
           small_followed, FRAMES, picks);
    face_video_free(&v);
    dlib_model_free(m);
}

int main(void) {
    TEST_RUN(test_small_face_beside_bystander);
    return test_summary();
}
