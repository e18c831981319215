/* The landmark verbalizer (text/verbalize.h): controlled clips (one facial
 * action, a blink, speech, a still face), invariance to the face's position,
 * scale and roll, bad input, and on the synthetic benchmark's ground-truth
 * landmarks: no lexicon word ever, 25-60 words, and descriptions that carry
 * the expression's signal. DFER_VERBOSE=1 prints the texts and the shares. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/rng.h"
#include "data/classes.h"
#include "data/synth.h"
#include "data/synth_face.h"
#include "face/face_track.h"
#include "testlib.h"
#include "text/refine.h"
#include "text/verbalize.h"

static int verbose(void) { return getenv("DFER_VERBOSE") != NULL; }

/* "the mouth corners clearly rise": subject, any size word, verb */
static int mentions(const char *text, const char *subject, const char *verb) {
    static const char *const sizes[] = {"slightly", "clearly", "strongly"};
    char want[160];
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "%s %s %s", subject, sizes[i], verb);
        if (strstr(text, want)) return 1;
    }
    return 0;
}

static int word_count(const char *s) {
    int n = 0;
    for (const char *p = s; *p; p++)
        if (*p != ' ' && (p == s || p[-1] == ' ')) n++;
    return n;
}

/* Landmarks of a scripted synthetic clip (float, as a track file gives them). */
static float *scripted(int label, int frames, double peak, int blink_at, double talk, double roll) {
    Rng r;
    rng_init(&r, 11, 0, 0, 0);
    FaceIdentity id;
    synth_identity(&r, &id);
    ClipScript s;
    memset(&s, 0, sizeof s);
    s.label = label, s.frames = frames, s.peak = peak;
    s.onset = frames / 3, s.apex_start = frames / 3 + 3, s.apex_end = frames, s.residual = 1;
    if (blink_at >= 0) s.n_blinks = 1, s.blink_frames[0] = blink_at;
    if (talk > 0) s.talk_freq = 0.45, s.talk_amp = talk;
    s.head_roll = roll;
    float *xy = malloc(sizeof(float) * (size_t)frames * 2 * VERBALIZE_POINTS);
    double p[2 * SYNTH_LANDMARKS];
    for (int t = 0; t < frames; t++) {
        synth_landmarks(&id, &s, t, 112, p);
        for (int k = 0; k < 2 * SYNTH_LANDMARKS; k++) xy[(size_t)t * 2 * SYNTH_LANDMARKS + k] = (float)p[k];
    }
    return xy;
}

static void describe(const float *xy, int frames, char *out, size_t cap) {
    int w = verbalize_landmarks(xy, frames, out, cap);
    EXPECT(w >= 25 && w <= 60 && w == word_count(out), "%d words (counted %d): %s", w, word_count(out), out);
    char found[64];
    EXPECT(!refine_has_emotion_word(out, found, sizeof found), "lexicon word \"%s\" in: %s", found, out);
    if (verbose()) printf("  %s\n", out);
}

static void test_controlled(void) {
    char text[1024];
    float *xy = scripted(0, 30, 1.0, -1, 0, 0); /* happiness: corners up and out, lips apart a little */
    describe(xy, 30, text, sizeof text);
    EXPECT(mentions(text, "the mouth corners", "rise") && strstr(text, "Around the middle"), "happiness: %s", text);
    EXPECT(strstr(text, "hold"), "the change lasts to the end: %s", text);
    free(xy);
    xy = scripted(4, 30, 1.0, -1, 0, 0); /* surprise */
    describe(xy, 30, text, sizeof text);
    EXPECT(mentions(text, "the eyebrows", "rise") && mentions(text, "the lips", "part"), "surprise: %s", text);
    EXPECT(!mentions(text, "the mouth corners", "rise"), "opening the jaw is not a rise of the corners: %s", text);
    free(xy);
    xy = scripted(3, 30, 1.0, -1, 0, 0); /* anger */
    describe(xy, 30, text, sizeof text);
    EXPECT(mentions(text, "the eyebrows", "draw together") || mentions(text, "the eyebrows", "lower"), "anger: %s",
           text);
    free(xy);
    xy = scripted(5, 30, 1.0, -1, 0, 0); /* disgust */
    describe(xy, 30, text, sizeof text);
    EXPECT(mentions(text, "the nose", "wrinkles as the upper lip lifts"), "disgust: %s", text);
    free(xy);
    xy = scripted(2, 30, 0, -1, 0, 0); /* a still face */
    describe(xy, 30, text, sizeof text);
    EXPECT(strstr(text, "no clear facial movement") && strstr(text, "The head stays nearly still"), "still: %s", text);
    free(xy);
    xy = scripted(2, 30, 0, 12, 0, 0); /* one blink: mentioned, not a change of the eyes */
    describe(xy, 30, text, sizeof text);
    EXPECT(strstr(text, "blink once") && !mentions(text, "the eyes", "narrow") &&
               !mentions(text, "the eyes", "open wider"),
           "blink: %s", text);
    free(xy);
    xy = scripted(2, 30, 0, -1, 0.08, 0); /* speech-like lip motion */
    describe(xy, 30, text, sizeof text);
    EXPECT(strstr(text, "as in speech"), "talking: %s", text);
    free(xy);
}

/* The same clip shifted, scaled and rotated in the frame reads the same. */
static void test_invariance(void) {
    int frames = 24;
    float *xy = scripted(1, frames, 0.9, -1, 0, 0), *moved = malloc(sizeof(float) * (size_t)frames * 136);
    double c = cos(0.3), s = sin(0.3);
    for (int i = 0; i < frames * 68; i++) {
        double x = xy[2 * i], y = xy[2 * i + 1];
        moved[2 * i] = (float)(40 + 2.5 * (c * x - s * y));
        moved[2 * i + 1] = (float)(-30 + 2.5 * (s * x + c * y));
    }
    char a[1024], b[1024];
    describe(xy, frames, a, sizeof a);
    describe(moved, frames, b, sizeof b);
    EXPECT(!strcmp(a, b), "moved face:\n  %s\n  %s", a, b);
    EXPECT(mentions(a, "the mouth corners", "turn down"), "sadness: %s", a);
    free(xy), free(moved);
}

/* A still face growing (or shrinking) 1.8x about its centre, as when the person
 * leans towards (away from) the camera: the head moves closer (away), and
 * neither rises nor lowers, and the face keeps its shape. */
static void test_zoom(void) {
    int frames = 24;
    float *xy = scripted(2, frames, 0, -1, 0, 0);
    for (int dir = 0; dir < 2; dir++) {
        float *zoomed = malloc(sizeof(float) * (size_t)frames * 136);
        for (int t = 0; t < frames; t++) {
            const float *p = xy + (size_t)t * 136;
            double cx = 0, cy = 0;
            for (int i = 0; i < 68; i++) cx += p[2 * i] / 68, cy += p[2 * i + 1] / 68;
            double u = (double)t / (frames - 1), k = dir == 0 ? 1 + 0.8 * u : 1.8 - 0.8 * u;
            for (int i = 0; i < 68; i++) {
                zoomed[(size_t)t * 136 + 2 * i] = (float)(cx + k * (p[2 * i] - cx));
                zoomed[(size_t)t * 136 + 2 * i + 1] = (float)(cy + k * (p[2 * i + 1] - cy));
            }
        }
        char text[1024];
        describe(zoomed, frames, text, sizeof text);
        const char *want = dir == 0 ? "moves closer to the camera" : "moves away from the camera";
        EXPECT(mentions(text, "The head", want) && strstr(text, "no clear facial movement"), "zoom %s: %s",
               dir == 0 ? "in" : "out", text);
        EXPECT(!strstr(text, "rises") && !strstr(text, "lowers"), "a zoom read as the head rising or lowering: %s",
               text);
        free(zoomed);
    }
    free(xy);
}

/* One jittery fit among the first frames (the mouth 0.12 IOD narrower in frame 1 of 16) is no change: the
 * baseline is the median of 3 frames (of 2 it was their mean, and the mouth then "stretched wider"). */
static void test_baseline_outlier(void) {
    const int frames = 16;
    float *xy = scripted(2, frames, 0.0, -1, 0.0, 0.0); /* neutral, still */
    char text[1024];
    describe(xy, frames, text, sizeof text);
    EXPECT(strstr(text, "no clear facial movement"), "a still face: %s", text);
    float *f1 = xy + 2 * VERBALIZE_POINTS;
    double iod = hypot((f1[2 * 42] + f1[2 * 45]) / 2 - (f1[2 * 36] + f1[2 * 39]) / 2,
                       (f1[2 * 42 + 1] + f1[2 * 45 + 1]) / 2 - (f1[2 * 36 + 1] + f1[2 * 39 + 1]) / 2);
    f1[2 * 48] += (float)(0.06 * iod), f1[2 * 54] -= (float)(0.06 * iod);
    describe(xy, frames, text, sizeof text);
    EXPECT(!mentions(text, "the mouth", "stretches wider") && strstr(text, "no clear facial movement"),
           "one jittery early frame described as a change: %s", text);
    free(xy);
}

static void test_bad_input(void) {
    char text[1024];
    float *xy = scripted(0, 10, 1.0, -1, 0, 0);
    EXPECT(verbalize_landmarks(xy, 0, text, sizeof text) == -1 && !text[0], "no frames");
    EXPECT(verbalize_landmarks(xy, 10, text, 8) == -1 && !text[0], "tiny buffer");
    /* one frame: a still description */
    EXPECT(verbalize_landmarks(xy, 1, text, sizeof text) >= 25 && strstr(text, "no clear facial movement"),
           "1 frame: %s", text);
    /* missing frames (a detector's misses) are skipped, not an error */
    for (int k = 0; k < 136; k++) xy[3 * 136 + k] = NAN;
    EXPECT(verbalize_landmarks(xy, 10, text, sizeof text) >= 25, "a NaN frame: %s", text);
    for (int i = 0; i < 10 * 136; i++) xy[i] = NAN;
    EXPECT(verbalize_landmarks(xy, 10, text, sizeof text) == -1, "only NaN frames");
    for (int i = 0; i < 10 * 136; i++) xy[i] = 5.0f; /* every point in one place: no eye distance */
    EXPECT(verbalize_landmarks(xy, 10, text, sizeof text) == -1, "coincident eyes");
    free(xy);
}

/* ---- the synthetic benchmark ----------------------------------------------------------- */

static void test_synth_benchmark(void) {
    SynthConfig c;
    synth_config_default(&c);
    c.clips = 200, c.size = 64, c.seed = 5, c.threads = 2;
    char dir[600], path[1200];
    snprintf(dir, sizeof dir, "%s/synth", test_tmpdir());
    Err err;
    if (synth_generate(&c, dir, &err)) {
        EXPECT(0, "synth: %s", err.msg);
        return;
    }
    snprintf(path, sizeof path, "%s/synth/clips.jsonl", dir);
    char *meta;
    size_t len;
    EXPECT(fs_read_all(path, &meta, &len, &err) == 0, "%s", err.msg);
    int n[DFER_MAX_CLASSES] = {0}, corners_up[DFER_MAX_CLASSES] = {0}, corners_down[DFER_MAX_CLASSES] = {0};
    int brows_up[DFER_MAX_CLASSES] = {0}, opens[DFER_MAX_CLASSES] = {0}, total = 0;
    for (char *line = meta, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        cJSON *o = cJSON_Parse(line);
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(o, "id"));
        int label = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "label"));
        snprintf(path, sizeof path, "%s/synth/landmarks/%s.txt", dir, id);
        FaceTrack track;
        if (face_track_read(path, &track, &err) != 0) {
            EXPECT(0, "%s", err.msg);
            cJSON_Delete(o);
            continue;
        }
        EXPECT(track.frames >= c.min_frames, "%s: %d frames", path, track.frames);
        char text[1024];
        if (verbose()) printf("%s %s:", id, k_class_names[label]);
        describe(track.xy, track.frames, text, sizeof text);
        char again[1024];
        verbalize_landmarks(track.xy, track.frames, again, sizeof again);
        EXPECT(!strcmp(text, again), "not deterministic: %s", id);
        n[label]++, total++;
        corners_up[label] += mentions(text, "the mouth corners", "rise");
        corners_down[label] += mentions(text, "the mouth corners", "turn down");
        brows_up[label] += mentions(text, "the eyebrows", "rise");
        opens[label] += mentions(text, "the lips", "part");
        face_track_free(&track);
        cJSON_Delete(o);
    }
    free(meta);
    EXPECT(total == c.clips, "%d clips described", total);
#define SHARE(a, l) (n[l] ? (double)(a)[l] / n[l] : 0)
    if (verbose())
        for (int l = 0; l < 7; l++)
            printf("%-10s n=%2d corners up %.2f down %.2f, brows up %.2f, lips part %.2f\n", k_class_names[l], n[l],
                   SHARE(corners_up, l), SHARE(corners_down, l), SHARE(brows_up, l), SHARE(opens, l));
    /* Measured on this set (seed 5, 200 clips): corners rise in 0.95 of the
     * happiness clips and 0.00 of the sadness ones; turn down in 1.00 of sadness
     * and 0.05 of happiness; brows rise in 1.00 of surprise and 0.00 of neutral;
     * lips part in 1.00 of surprise and 0.07 of neutral. The thresholds leave
     * room for changes to the generator's dynamics. */
    EXPECT(SHARE(corners_up, 0) >= 0.6 && SHARE(corners_up, 1) <= 0.2, "corners up: happiness %.2f, sadness %.2f",
           SHARE(corners_up, 0), SHARE(corners_up, 1));
    EXPECT(SHARE(corners_down, 1) >= 0.5 && SHARE(corners_down, 0) <= 0.2, "corners down: sadness %.2f, happiness %.2f",
           SHARE(corners_down, 1), SHARE(corners_down, 0));
    EXPECT(SHARE(brows_up, 4) >= 0.6 && SHARE(brows_up, 2) <= 0.2, "brows up: surprise %.2f, neutral %.2f",
           SHARE(brows_up, 4), SHARE(brows_up, 2));
    EXPECT(SHARE(opens, 4) >= 0.6 && SHARE(opens, 2) <= 0.3, "lips part: surprise %.2f, neutral %.2f", SHARE(opens, 4),
           SHARE(opens, 2));
#undef SHARE
}

int main(void) {
    TEST_RUN(test_controlled);
    TEST_RUN(test_invariance);
    TEST_RUN(test_zoom);
    TEST_RUN(test_baseline_outlier);
    TEST_RUN(test_bad_input);
    TEST_RUN(test_synth_benchmark);
    return test_summary();
}
