/* Face tracks and the tracker's pieces, mostly without dlib: face_track write/parse
 * round trip (statuses, boxes, comments, 136-number lines), parse errors that
 * name the file and line (number count, status word, non-numeric and
 * non-finite values, no frames), the choice of the followed face, the mean
 * shape's placement and the normalised mean error; and one dlib call: a face box
 * dlib_landmarks cannot round is refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "face/landmarks.h"
#include "testlib.h"

/* A frame line with count numbers v, v+1, ... and a tail. */
static void numbers_line(char *buf, size_t cap, int count, float v, const char *tail) {
    size_t n = 0;
    for (int i = 0; i < count; i++) n += (size_t)snprintf(buf + n, cap - n, "%g ", (double)(v + i));
    snprintf(buf + n, cap - n, "%s\n", tail);
}

static void frame_line(char *buf, size_t cap, float v, const char *tail) { numbers_line(buf, cap, 136, v, tail); }

static void test_round_trip(void) {
    FaceTrack t;
    face_track_alloc(&t, 3);
    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < 136; i++) t.xy[f * 136 + i] = 10.25f * f + 0.5f * i;
        for (int i = 0; i < 4; i++) t.box[f * 4 + i] = 3.75f + f + 20 * i;
        t.status[f] = (uint8_t)f; /* det, prev, mean */
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/a/b/clip.txt", test_tmpdir()); /* parents are created */
    Err err;
    EXPECT(face_track_write(path, &t, "made by test_face", &err) == 0, "write: %s", err.msg);
    FaceTrack r;
    EXPECT(face_track_read(path, &r, &err) == 0, "read: %s", err.msg);
    EXPECT(r.frames == 3, "3 frames back, got %d", r.frames);
    int same = 1;
    for (int i = 0; i < 3 * 136 && r.frames == 3; i++) same &= fabsf(r.xy[i] - t.xy[i]) < 0.006f;
    for (int i = 0; i < 3 * 4 && r.frames == 3; i++) same &= fabsf(r.box[i] - t.box[i]) < 0.006f;
    EXPECT(same, "points and boxes survive to 2 decimals");
    for (int f = 0; f < 3 && r.frames == 3; f++) EXPECT(r.status[f] == f, "frame %d status %d", f, r.status[f]);
    int counts[3];
    face_track_count(&r, counts);
    EXPECT(counts[0] == 1 && counts[1] == 1 && counts[2] == 1, "one frame per status");
    face_track_free(&r);
    face_track_free(&t);

    /* 136 numbers only: detected, with the landmarks' bounding box */
    char line[4096], text[8192];
    frame_line(line, sizeof line, 1, "");
    snprintf(text, sizeof text, "# comment\n\n%s", line);
    EXPECT(face_track_parse(text, strlen(text), "mem", &r, &err) == 0, "136 numbers: %s", err.msg);
    if (r.frames == 1) {
        EXPECT(r.status[0] == FACE_DETECTED, "a bare line is det");
        EXPECT(r.box[0] == 1 && r.box[1] == 2 && r.box[2] == 135 && r.box[3] == 136, "box from the points: %g %g %g %g",
               (double)r.box[0], (double)r.box[1], (double)r.box[2], (double)r.box[3]);
    }
    face_track_free(&r);
}

/* Points and boxes anywhere in float's range (the parser accepts every finite value): written whole and read back
 * (1700 bytes a frame were reserved for ~10-character numbers: these overran the buffer) */
static void test_write_large_values(void) {
    FaceTrack t;
    face_track_alloc(&t, 2);
    for (int i = 0; i < 2 * 136; i++) t.xy[i] = i % 2 ? -3.0e38f : 3.0e38f;
    for (int i = 0; i < 2 * 4; i++) t.box[i] = -3.0e38f;
    t.status[1] = FACE_PREVIOUS;
    char path[4096];
    snprintf(path, sizeof path, "%s/large.txt", test_tmpdir());
    Err err;
    EXPECT(face_track_write(path, &t, "large values", &err) == 0, "write: %s", err.msg);
    FaceTrack r = {0};
    EXPECT(face_track_read(path, &r, &err) == 0, "read: %s", err.msg);
    EXPECT(r.frames == 2, "2 frames back, got %d", r.frames);
    int same = r.frames == 2;
    for (int i = 0; same && i < 2 * 136; i++) same &= r.xy[i] == t.xy[i];
    for (int i = 0; same && i < 2 * 4; i++) same &= r.box[i] == t.box[i];
    EXPECT(same && r.status[1] == FACE_PREVIOUS, "large values survive the round trip");
    face_track_free(&r);
    face_track_free(&t);
}

/* Parsing `text` fails with a message containing want. */
static void expect_error(const char *text, const char *want) {
    FaceTrack t;
    Err err = {{0}};
    int rc = face_track_parse(text, strlen(text), "clip.txt", &t, &err);
    EXPECT(rc != 0, "accepted a bad track (%s)", want);
    EXPECT(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
}

static void test_parse_errors(void) {
    char good[4096], bad[4096], text[16384];
    frame_line(good, sizeof good, 0, "1 2 3 4 det");
    /* line 3: 135 numbers */
    numbers_line(bad, sizeof bad, 135, 0, "");
    snprintf(text, sizeof text, "# x\n%s%s", good, bad);
    expect_error(text, "clip.txt:3: 135 numbers");
    /* a status word that is none of det/prev/mean */
    frame_line(bad, sizeof bad, 0, "1 2 3 4 found");
    snprintf(text, sizeof text, "%s%s", good, bad);
    expect_error(text, "clip.txt:2: 'found' is not a status");
    /* a NUL byte in a line (the rest of the line was dropped and the track read as shorter) */
    {
        snprintf(text, sizeof text, "%s%s", good, good);
        size_t len = strlen(text);
        text[strlen(good) + 3] = 0;
        FaceTrack t;
        Err err = {{0}};
        EXPECT(face_track_parse(text, len, "clip.txt", &t, &err) != 0 && strstr(err.msg, "clip.txt:2: NUL byte"),
               "a NUL byte: %s", err.msg);
    }
    /* a status without the box */
    frame_line(bad, sizeof bad, 0, "det");
    expect_error(bad, "clip.txt:1: 'det' is not a status");
    /* a non-numeric value in the middle: the line is cut there */
    frame_line(bad, sizeof bad, 0, "");
    memcpy(strstr(bad, " 7 ") + 1, "x", 1);
    snprintf(text, sizeof text, "%s%s%s", good, good, bad);
    expect_error(text, "clip.txt:3: 7 numbers");
    /* a non-finite value */
    frame_line(bad, sizeof bad, 0, "");
    memcpy(strstr(bad, " 7 ") + 1, "nan", 3);
    expect_error(bad, "clip.txt:1: value 8 'nan");
    /* text after the status */
    frame_line(bad, sizeof bad, 0, "1 2 3 4 mean extra");
    expect_error(bad, "clip.txt:1: text after the status");
    expect_error("# only a comment\n", "clip.txt: no frame lines");
    Err err;
    FaceTrack t;
    char path[4096];
    snprintf(path, sizeof path, "%s/missing.txt", test_tmpdir());
    EXPECT(face_track_read(path, &t, &err) != 0 && strstr(err.msg, "missing.txt"), "missing file named: %s", err.msg);
}

static void test_pick_box(void) {
    DlibBox boxes[3] = {{0, 0, 10, 10, 1.0f}, {50, 50, 90, 90, 0.5f}, {100, 0, 120, 20, 2.0f}};
    EXPECT(face_pick_box(boxes, 3, NULL) == 1, "without a previous face: the largest");
    float prev[4] = {2, 2, 12, 12};
    EXPECT(face_pick_box(boxes, 3, prev) == 0, "with one: the most overlapping, though smaller");
    float gone[4] = {200, 200, 210, 210};
    EXPECT(face_pick_box(boxes, 3, gone) == 1, "nothing overlaps: the largest again");
    float a[4] = {0, 0, 10, 10}, b[4] = {5, 0, 15, 10};
    EXPECT_NEAR(face_box_iou(a, b), 50.0 / 150.0, 1e-6);
    EXPECT_NEAR(face_box_iou(a, gone), 0, 0);
}

/* The size of the frames the tests' boxes are in, where all frames have one. */
#define TEST_FRAME_W 640
#define TEST_FRAME_H 480

/* The followed face through frames whose detections are given: picks[f] the box followed in frame f, or -1. */
static void follow_frames(const DlibBox *const *frames, const int *counts, int nframes, int hold, int *picks) {
    FaceFollow f = {0};
    for (int i = 0; i < nframes; i++)
        picks[i] = face_follow(&f, frames[i], counts[i], TEST_FRAME_W, TEST_FRAME_H, hold);
}

static void test_follow_mixed_frame_sizes(void) {
    /* a clip folder of mixed frame sizes: a small face S alone in frame 0 (320 x 240), then a larger L beside it
     * (S still followed: it overlaps its last box); from frame 2 the frames are 640 x 480, the same scene with
     * every box doubled, and from frame 9 320 x 240 again. In frame units S stays where it was: it is followed
     * throughout. In pixels its doubled box no longer overlapped its last one: S was held as missed, then L
     * (the largest) taken after FACE_HOLD_FRAMES frames. */
    DlibBox s_only[1] = {{100, 100, 140, 140, 1}}, both[2] = {{100, 100, 140, 140, 1}, {200, 20, 300, 120, 1}};
    DlibBox both_doubled[2] = {{200, 200, 280, 280, 1}, {400, 40, 600, 240, 1}};
    enum { FRAMES = 12 };
    FaceFollow f = {0};
    for (int i = 0; i < FRAMES; i++) {
        int doubled = i >= 2 && i < 9, w = doubled ? 640 : 320, h = doubled ? 480 : 240;
        const DlibBox *boxes = i == 0 ? s_only : doubled ? both_doubled : both;
        int pick = face_follow(&f, boxes, i == 0 ? 1 : 2, w, h, FACE_HOLD_FRAMES);
        EXPECT(pick == 0, "frame %d (%d x %d): picked %d, not the small face followed (0)", i, w, h, pick);
    }
    EXPECT(FACE_HOLD_FRAMES < 7, "the doubled frames (7) outlast the hold (%d): the old rule would switch to L",
           FACE_HOLD_FRAMES);
}

static void test_follow_missed_frame(void) {
    /* the reviewer's scene: a large face A and a smaller B that never overlap; A missed in frame 3 only */
    DlibBox ab[2] = {{35, 54, 215, 235, 1}, {342, 79, 467, 204, 1}}, b_only[1] = {{342, 79, 467, 204, 1}};
    const DlibBox *frames[8] = {ab, ab, ab, b_only, ab, ab, ab, ab};
    int counts[8] = {2, 2, 2, 1, 2, 2, 2, 2}, picks[8];
    follow_frames(frames, counts, 8, FACE_HOLD_FRAMES, picks);
    for (int i = 0; i < 8; i++)
        EXPECT(picks[i] == (i == 3 ? -1 : 0), "frame %d: picked %d (A: 0; a missed frame of A: -1)", i, picks[i]);
    /* hold 0: the largest at once (the rule before the hold), and B stays followed for its overlap */
    follow_frames(frames, counts, 8, 0, picks);
    EXPECT(picks[2] == 0 && picks[3] == 0 && picks[4] == 1 && picks[7] == 1, "hold 0: %d %d %d %d", picks[2], picks[3],
           picks[4], picks[7]);
}

static void test_follow_cut(void) {
    /* A, then only B from frame 2 on (a cut, or A left): held for FACE_HOLD_FRAMES frames, then B */
    DlibBox a[1] = {{0, 0, 100, 100, 1}}, b[1] = {{200, 0, 260, 60, 1}};
    const DlibBox *frames[9] = {a, a, b, b, b, b, b, b, b};
    int counts[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, picks[9];
    follow_frames(frames, counts, 9, FACE_HOLD_FRAMES, picks);
    for (int i = 0; i < 9; i++) {
        int want = i < 2 ? 0 : i < 2 + FACE_HOLD_FRAMES ? -1 : 0;
        EXPECT(picks[i] == want, "frame %d: picked %d, want %d", i, picks[i], want);
    }
    /* faceless frames count as frames without A: 2 faceless, then B is held once more, then followed */
    const DlibBox *gap[6] = {a, NULL, NULL, b, b, b};
    int gap_counts[6] = {1, 0, 0, 1, 1, 1}, gap_picks[6];
    follow_frames(gap, gap_counts, 6, FACE_HOLD_FRAMES, gap_picks);
    EXPECT(gap_picks[1] == -1 && gap_picks[2] == -1 && gap_picks[3] == -1 && gap_picks[4] == 0 && gap_picks[5] == 0,
           "faceless frames count: %d %d %d %d %d", gap_picks[1], gap_picks[2], gap_picks[3], gap_picks[4],
           gap_picks[5]);
    /* a detection of A resets the count: A missed 3 times, back, missed 3 times again: never B */
    const DlibBox *back[9] = {a, b, b, b, a, b, b, b, a};
    int back_picks[9];
    follow_frames(back, counts, 9, FACE_HOLD_FRAMES, back_picks);
    for (int i = 0; i < 9; i++)
        EXPECT(back_picks[i] == (back[i] == a ? 0 : -1), "frame %d: picked %d", i, back_picks[i]);
    /* before any face: the largest at once */
    DlibBox two[2] = {{0, 0, 10, 10, 1}, {50, 50, 90, 90, 1}};
    FaceFollow f = {0};
    EXPECT(face_follow(&f, two, 0, TEST_FRAME_W, TEST_FRAME_H, FACE_HOLD_FRAMES) == -1 &&
               face_follow(&f, two, 2, TEST_FRAME_W, TEST_FRAME_H, FACE_HOLD_FRAMES) == 1,
           "the first face: the largest");
    /* a box overlapping the last one is the followed face, however small the overlap */
    DlibBox moved[2] = {{85, 85, 175, 175, 1}, {0, 0, 40, 40, 1}};
    EXPECT(face_follow(&f, moved, 2, TEST_FRAME_W, TEST_FRAME_H, FACE_HOLD_FRAMES) == 0, "the overlapping box");
}

static void test_mean_place_and_nme(void) {
    float unit[136], xy[136], box[4];
    for (int p = 0; p < 68; p++) unit[2 * p] = p / 67.0f, unit[2 * p + 1] = 1 - p / 67.0f;
    face_mean_place(unit, 200, 100, 0.6f, xy, box); /* square of 60 px centred in 200 x 100 */
    EXPECT_NEAR(box[0], 70, 1e-4);
    EXPECT_NEAR(box[1], 20, 1e-4);
    EXPECT_NEAR(box[2], 130, 1e-4);
    EXPECT_NEAR(box[3], 80, 1e-4);
    EXPECT_NEAR(xy[0], 70, 1e-4);
    EXPECT_NEAR(xy[1], 80, 1e-4);
    EXPECT_NEAR(xy[134], 130, 1e-4);
    EXPECT_NEAR(xy[135], 20, 1e-4);

    float gt[136], pred[136];
    for (int i = 0; i < 136; i++) gt[i] = (float)(i % 7);
    gt[2 * 36] = 10, gt[2 * 36 + 1] = 20, gt[2 * 45] = 50, gt[2 * 45 + 1] = 50; /* inter-ocular distance 50 */
    for (int i = 0; i < 136; i++) pred[i] = gt[i] + (i % 2 ? 4.0f : 3.0f); /* every point 5 px off */
    EXPECT_NEAR(face_nme(pred, gt), 0.1, 1e-6);
    EXPECT_NEAR(face_nme(gt, gt), 0, 0);
    gt[2 * 45] = 10, gt[2 * 45 + 1] = 20;
    EXPECT(face_nme(pred, gt) < 0, "coinciding eye corners: no error defined");
}

/* dlib_landmarks refuses a box it cannot round to whole pixels (NaN, infinite, past 1e9 px) with an error naming it;
 * rounding one was undefined and gave points of -8e18 without a word */
static void test_landmarks_bad_box(void) {
    Err err;
    DlibModel *m = dlib_model_load("/usr/share/dlib/shape_predictor_68_face_landmarks.dat", &err);
    EXPECT(m != NULL, "the 68-point model (libdlib-data): %s", err.msg);
    if (!m) return;
    DlibDetector *d = dlib_detector_create(m, &err);
    EXPECT(d != NULL, "detector: %s", err.msg);
    enum { W = 64, H = 48 };
    static uint8_t rgb[3 * W * H];
    memset(rgb, 128, sizeof rgb);
    float xy[136];
    const float bad[3][4] = {{NAN, 0, 10, 10}, {-1e20f, -1e20f, 1e20f, 1e20f}, {0, 0, INFINITY, 20}};
    for (int b = 0; b < 3 && d; b++) {
        memset(&err, 0, sizeof err);
        int rc = dlib_landmarks(d, rgb, W, H, 3 * W, bad[b], xy, &err);
        EXPECT(rc != 0 && strstr(err.msg, "face box") && strstr(err.msg, "not finite"), "box %d: rc %d, '%s'", b, rc,
               err.msg);
    }
    const float good[4] = {10, 8, 50, 44}; /* an ordinary box in a grey frame: points near it */
    EXPECT(d && dlib_landmarks(d, rgb, W, H, 3 * W, good, xy, &err) == 0, "ordinary box: %s", err.msg);
    int near = 1;
    for (int i = 0; d && i < 136; i++) near &= fabsf(xy[i]) < 200;
    EXPECT(near, "points of an ordinary box near it");
    dlib_detector_free(d);
    dlib_model_free(m);
}

int main(void) {
    TEST_RUN(test_round_trip);
    TEST_RUN(test_write_large_values);
    TEST_RUN(test_parse_errors);
    TEST_RUN(test_pick_box);
    TEST_RUN(test_follow_missed_frame);
    TEST_RUN(test_follow_cut);
    TEST_RUN(test_follow_mixed_frame_sizes);
    TEST_RUN(test_mean_place_and_nme);
    TEST_RUN(test_landmarks_bad_box);
    return test_summary();
}
