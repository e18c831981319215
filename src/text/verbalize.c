#include "text/verbalize.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/log.h"
#include "face/face_track.h"
#include "text/descriptions.h"

/* ---- measures ---------------------------------------------------------------------- */

enum {
    F_CORNER, F_OPEN, F_WIDTH, F_BROW, F_BROW_TILT, F_BROW_GAP, F_EYE, F_NOSE,
    F_HEAD_Y, F_HEAD_X, F_ROLL, F_YAW, F_HEAD_SIZE, F_COUNT
};
enum { R_MOUTH, R_BROWS, R_EYES, R_HEAD };

typedef struct Feature {
    const char *subject_up, *verb_up;     /* a positive change; verb NULL: not described */
    const char *subject_down, *verb_down; /* a negative change */
    double unit;   /* the smallest change worth a word ("slightly"); 2x "clearly", 4x "strongly" */
    int region;
    int window;    /* median filter width: 5 for the eyes hides blinks (1-3 frames) */
} Feature;

/* Units are in inter-ocular distances (IOD; degrees for the roll), set above
 * the jitter of a good 68-point tracker (about 1-2% of the IOD) so that a
 * still face gets no change; a real expression moves these by 0.1-0.4 IOD. */
static const Feature k_features[F_COUNT] = {
    [F_CORNER] = {"the mouth corners", "rise", "the mouth corners", "turn down", 0.03, R_MOUTH, 3},
    [F_OPEN] = {"the lips", "part", "the lips", "close", 0.06, R_MOUTH, 5},
    [F_WIDTH] = {"the mouth", "stretches wider", "the mouth", "narrows", 0.05, R_MOUTH, 3},
    [F_BROW] = {"the eyebrows", "rise", "the eyebrows", "lower", 0.035, R_BROWS, 3},
    /* the inner ends lowering is part of the brows drawing down and together */
    [F_BROW_TILT] = {"the inner ends of the eyebrows", "lift", NULL, NULL, 0.035, R_BROWS, 3},
    /* 0.04: dlib's inner brow points drift by up to ~0.035 IOD as a still real face grows
     * from 80 to 140 px (tests/face_real.sh) */
    [F_BROW_GAP] = {"the eyebrows", "move apart", "the eyebrows", "draw together", 0.04, R_BROWS, 3},
    [F_EYE] = {"the eyes", "open wider", "the eyes", "narrow", 0.025, R_EYES, 5},
    [F_NOSE] = {NULL, NULL, "the nose", "wrinkles as the upper lip lifts", 0.025, R_MOUTH, 3},
    [F_HEAD_Y] = {"the head", "lowers", "the head", "rises", 0.12, R_HEAD, 3},
    [F_HEAD_X] = {"the head", "moves towards the right of the frame", "the head", "moves towards the left of the frame",
                  0.12, R_HEAD, 3},
    [F_ROLL] = {"the head", "tilts to one side", "the head", "tilts to one side", 3.0, R_HEAD, 3},
    [F_YAW] = {"the head", "turns towards the right of the frame", "the head", "turns towards the left of the frame",
               0.04, R_HEAD, 3},
    /* log of the face's size in the frame: 0.12 is a 13% change */
    [F_HEAD_SIZE] = {"the head", "moves closer to the camera", "the head", "moves away from the camera",
                     0.12, R_HEAD, 3},
};

typedef struct Frame {
    int t;                 /* index in the clip */
    double f[F_COUNT];
    double eye_raw, open_raw, iod;
} Frame;

static double dist(const double *a, int i, int j) { return hypot(a[2 * i] - a[2 * j], a[2 * i + 1] - a[2 * j + 1]); }
static double ymean(const double *a, const int *idx, int n) {
    double s = 0;
    for (int k = 0; k < n; k++) s += a[2 * idx[k] + 1];
    return s / n;
}

/* One frame's measures; 0 when the frame is unusable. Head translation is in
 * pixels here and normalised once the baseline IOD is known. */
static int measure(const float *p, int t, Frame *fr) {
    for (int i = 0; i < 2 * VERBALIZE_POINTS; i++)
        if (!isfinite(p[i])) return 0;
    /* eye centres from the eye corners, which blinks and lid movements leave in place */
    double rx = (p[2 * 36] + p[2 * 39]) / 2, ry = (p[2 * 36 + 1] + p[2 * 39 + 1]) / 2;
    double lx = (p[2 * 42] + p[2 * 45]) / 2, ly = (p[2 * 42 + 1] + p[2 * 45 + 1]) / 2;
    double dx = lx - rx, dy = ly - ry, iod = hypot(dx, dy);
    if (!(iod > 1e-3)) return 0;
    double c = dx / iod, s = dy / iod, mx = (rx + lx) / 2, my = (ry + ly) / 2;
    double a[2 * VERBALIZE_POINTS]; /* face frame: origin between the eyes, x along the eye line, unit IOD */
    for (int i = 0; i < VERBALIZE_POINTS; i++) {
        double x = p[2 * i] - mx, y = p[2 * i + 1] - my;
        a[2 * i] = (c * x + s * y) / iod;
        a[2 * i + 1] = (-s * x + c * y) / iod;
    }
    static const int lip_top[] = {50, 51, 52}, corners[] = {48, 54}, brows[] = {17, 18, 19, 20, 21, 22, 23, 24, 25, 26};
    static const int inner[] = {20, 21, 22, 23}, outer[] = {17, 18, 25, 26};
    fr->t = t;
    fr->iod = iod;
    /* against the top of the upper lip, which opening the jaw leaves in place
     * (the lip centre would drop with the lower lip and fake a rise) */
    fr->f[F_CORNER] = ymean(a, lip_top, 3) - ymean(a, corners, 2);
    fr->open_raw = fr->f[F_OPEN] = (dist(a, 61, 67) + dist(a, 62, 66) + dist(a, 63, 65)) / 3;
    fr->f[F_WIDTH] = dist(a, 48, 54);
    fr->f[F_BROW] = -ymean(a, brows, 10); /* the eyes are at y = 0 */
    fr->f[F_BROW_TILT] = ymean(a, outer, 4) - ymean(a, inner, 4);
    /* the two innermost points of each brow: one pair alone doubles the tracker's jitter */
    fr->f[F_BROW_GAP] = (a[2 * 22] + a[2 * 23] - a[2 * 20] - a[2 * 21]) / 2;
    fr->eye_raw = fr->f[F_EYE] = (dist(a, 37, 41) + dist(a, 38, 40) + dist(a, 43, 47) + dist(a, 44, 46)) / 4;
    fr->f[F_NOSE] = a[2 * 51 + 1] - a[2 * 33 + 1]; /* shortens when the nose wrinkles and the upper lip lifts */
    /* The head's place: the centroid of the nose (27-35), near the face's
     * centre and moved by no expression. Not the point between the eyes: a face
     * coming closer to the camera grows about its centre, and the eyes, above
     * it, would seem to rise (measured on a real face zoomed 1.7x: 0.39 IOD). */
    double nx = 0, ny = 0;
    for (int i = 27; i <= 35; i++) nx += p[2 * i], ny += p[2 * i + 1];
    fr->f[F_HEAD_X] = nx / 9;
    fr->f[F_HEAD_Y] = ny / 9;
    /* The face's size: the log of the RMS distance of its rigid points (the nose,
     * the eye corners) from their centroid, which a turn of the head shrinks less
     * than the IOD (the nose spans the face's height). */
    static const int rigid[] = {27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45};
    double cx = (nx + p[2 * 36] + p[2 * 39] + p[2 * 42] + p[2 * 45]) / 13;
    double cy = (ny + p[2 * 36 + 1] + p[2 * 39 + 1] + p[2 * 42 + 1] + p[2 * 45 + 1]) / 13, r2 = 0;
    for (int k = 0; k < 13; k++) {
        double ex = p[2 * rigid[k]] - cx, ey = p[2 * rigid[k] + 1] - cy;
        r2 += ex * ex + ey * ey;
    }
    if (!(r2 > 1e-12)) return 0;
    fr->f[F_HEAD_SIZE] = 0.5 * log(r2 / 13);
    fr->f[F_ROLL] = atan2(dy, dx) * 180 / M_PI;
    /* 68 points carry no iris, so gaze cannot be measured; the nose tip's place
     * between the two sides of the jaw stands in for a turn of the head */
    double jaw = a[2 * 16] - a[0];
    fr->f[F_YAW] = fabs(jaw) > 0.5 ? (a[2 * 33] - a[0]) / jaw - 0.5 : 0;
    return 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The baseline: the median of the first n / 6 usable frames, 3 to 5 of them (as many as there are below 3). Two
 * frames' median is their mean, which one jittery landmark fit moves: on a real face that only rolled, dlib's mouth
 * width in the second of 16 frames was 0.05 IOD low, and the baseline with it made the mouth "stretch wider". */
static int baseline_frames(int n) {
    int b = n / 6 > 5 ? 5 : n / 6;
    if (b < 3) b = n < 3 ? n : 3;
    return b < 1 ? 1 : b;
}

/* ---- changes ----------------------------------------------------------------------- */

typedef struct Change {
    int feature, sign;
    double score;  /* peak change / unit */
    double onset;  /* 0..1: where it first reaches half its peak */
    int holds;     /* still at least half the peak at the end */
} Change;

static void analyse(const Frame *fr, int n, int frames, int feature, Change *ch) {
    const Feature *F = &k_features[feature];
    int nb = baseline_frames(n), h = F->window / 2;
    double *d = xmalloc((size_t)n * sizeof *d), w[8];
    for (int k = 0; k < nb; k++) w[k] = fr[k].f[feature];
    double base = median(w, nb);
    for (int i = 0; i < n; i++) { /* running median, its window moved inside the clip at the ends (shrunk to two
                                    * frames there, it took their mean: one jittery fit became a change) */
        int width = 2 * h + 1 < n ? 2 * h + 1 : n, a = i - h, m = 0;
        if (a > n - width) a = n - width;
        if (a < 0) a = 0;
        for (int k = a; k < a + width; k++) w[m++] = fr[k].f[feature];
        d[i] = median(w, m) - base;
    }
    double hi = 0, lo = 0;
    for (int i = 0; i < n; i++) hi = fmax(hi, d[i]), lo = fmin(lo, d[i]);
    int sign = hi >= -lo ? 1 : -1;
    if (!(sign > 0 ? F->verb_up : F->verb_down)) sign = -sign;
    double peak = sign > 0 ? hi : -lo;
    int on = 0;
    while (on < n - 1 && sign * d[on] < 0.5 * peak) on++;
    double end = n > 1 ? (d[n - 1] + d[n - 2]) / 2 : d[0];
    *ch = (Change){feature, sign, peak / F->unit, frames > 1 ? (double)fr[on].t / (frames - 1) : 0,
                   sign * end >= 0.5 * peak};
    free(d);
}

static int by_score(const void *a, const void *b) {
    const Change *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->feature - y->feature; /* deterministic ties */
}

static int by_onset(const void *a, const void *b) {
    const Change *x = a, *y = b;
    if (x->onset != y->onset) return x->onset > y->onset ? 1 : -1;
    return x->feature - y->feature;
}

/* Blinks: runs of at most 6 frames (200 ms at 30 fps) where the eye opening
 * is below 75% of the 80th percentile of the 13 frames around it, with the
 * eyes open to about the same degree on both sides (a step down that stays
 * is the eyes narrowing, not a blink). They are counted, and their frames
 * get the opening interpolated from the frames around them, so that a blink
 * is never read as a change of the eyes. */
static int remove_blinks(Frame *fr, int n) {
    uint8_t *closed = xcalloc((size_t)n + 1, 1);
    for (int i = 0; i < n; i++) {
        double w[13];
        int m = 0;
        for (int k = i - 6; k <= i + 6; k++)
            if (k >= 0 && k < n) w[m++] = fr[k].eye_raw;
        qsort(w, (size_t)m, sizeof *w, cmp_double);
        closed[i] = fr[i].eye_raw < 0.75 * w[(4 * m) / 5 < m ? (4 * m) / 5 : m - 1];
    }
    int blinks = 0;
    for (int i = 0; i < n;) {
        if (!closed[i]) {
            i++;
            continue;
        }
        int j = i;
        while (j < n && closed[j]) j++;
        double a = i > 0 ? fr[i - 1].f[F_EYE] : -1, b = j < n ? fr[j].f[F_EYE] : -1;
        if (a < 0) a = b;
        if (b < 0) b = a;
        if (j - i <= 6 && a > 0 && fabs(a - b) <= 0.2 * fmax(a, b)) {
            blinks++;
            for (int k = i; k < j; k++) fr[k].f[F_EYE] = a + (b - a) * (k - i + 1) / (j - i + 1);
        }
        i = j;
    }
    free(closed);
    return blinks;
}

/* Speech-like lip motion: the lip opening turns from opening to closing (or
 * back) at least 3 times, each swing at least 0.03 IOD (hysteresis, so that
 * tracker jitter does not count). An expression opens the mouth once and
 * perhaps closes it again: at most one turn. */
static int talking(const Frame *fr, int n) {
    const double h = 0.03;
    double lo = fr[0].open_raw, hi = lo, ext = lo;
    int dir = 0, turns = 0;
    for (int i = 1; i < n; i++) {
        double v = fr[i].open_raw;
        if (dir == 0) {
            lo = fmin(lo, v), hi = fmax(hi, v);
            if (v - lo >= h) dir = 1, ext = v;
            else if (hi - v >= h) dir = -1, ext = v;
        } else if (dir * (v - ext) > 0) {
            ext = v; /* further in the same direction */
        } else if (fabs(v - ext) >= h) {
            turns++, dir = -dir, ext = v;
        }
    }
    return turns >= 3;
}

/* ---- text -------------------------------------------------------------------------- */

typedef struct Text {
    char s[8][320];
    int words[8];
    int used[8];
} Text;

static int count_words(const char *s) {
    int n = 0;
    for (const char *p = s; *p; p++)
        if (*p != ' ' && (p == s || p[-1] == ' ')) n++;
    return n;
}

static const char *adverb(double score) { return score >= 4 ? "strongly" : score >= 2 ? "clearly" : "slightly"; }

static const char *subject_of(const Change *c) {
    const Feature *F = &k_features[c->feature];
    return c->sign > 0 ? F->subject_up : F->subject_down;
}

static const char *verb_of(const Change *c) {
    const Feature *F = &k_features[c->feature];
    return c->sign > 0 ? F->verb_up : F->verb_down;
}

/* "At the beginning the mouth corners clearly rise, and the eyebrows slightly
 * lower and clearly draw together." for the changes of one third of the clip;
 * changes of one subject are told together. */
static void timing_sentence(const Change *c, int n, int third, char *out, size_t cap) {
    static const char *const when[3] = {"At the beginning", "Around the middle", "Towards the end"};
    int idx[4], m = 0;
    for (int i = 0; i < n && m < 4; i++) {
        int t = c[i].onset < 1.0 / 3 ? 0 : c[i].onset < 2.0 / 3 ? 1 : 2;
        if (t != third) continue;
        int at = m; /* after the last change with the same subject, if any */
        for (int k = 0; k < m; k++)
            if (!strcmp(subject_of(&c[idx[k]]), subject_of(&c[i]))) at = k + 1;
        memmove(idx + at + 1, idx + at, (size_t)(m - at) * sizeof *idx);
        idx[at] = i;
        m++;
    }
    out[0] = 0;
    if (!m) return;
    int groups = 0, joined = 0;
    for (int k = 0; k < m; k++) {
        int same = k > 0 && !strcmp(subject_of(&c[idx[k]]), subject_of(&c[idx[k - 1]]));
        groups += !same, joined += same;
    }
    size_t off = (size_t)snprintf(out, cap, "%s", when[third]);
    for (int k = 0, g = 0; k < m; k++) {
        const Change *ch = &c[idx[k]];
        if (k > 0 && !strcmp(subject_of(ch), subject_of(&c[idx[k - 1]]))) {
            off += (size_t)snprintf(out + off, off < cap ? cap - off : 0, " and %s %s", adverb(ch->score), verb_of(ch));
            continue;
        }
        g++;
        const char *sep = g == 1 ? " " : g < groups ? ", " : joined ? ", and " : " and ";
        off += (size_t)snprintf(out + off, off < cap ? cap - off : 0, "%s%s %s %s", sep, subject_of(ch),
                                adverb(ch->score), verb_of(ch));
    }
    if (off + 1 < cap) snprintf(out + off, cap - off, ".");
}

int verbalize_landmarks(const float *xy, int frames, char *out, size_t cap) {
    if (cap) out[0] = 0;
    if (frames < 1 || cap < 1) return -1;
    Frame *fr = xmalloc((size_t)frames * sizeof *fr);
    int n = 0;
    for (int t = 0; t < frames; t++) n += measure(xy + (size_t)t * 2 * VERBALIZE_POINTS, t, &fr[n]);
    if (n == 0) {
        free(fr);
        return -1;
    }
    double w[8];
    int nb = baseline_frames(n);
    for (int k = 0; k < nb; k++) w[k] = fr[k].iod;
    double iod0 = median(w, nb);
    for (int i = 0; i < n; i++) fr[i].f[F_HEAD_X] /= iod0, fr[i].f[F_HEAD_Y] /= iod0;

    int blinks = remove_blinks(fr, n), talk = talking(fr, n);
    Change all[F_COUNT], face[4], head = {0};
    for (int f = 0; f < F_COUNT; f++) analyse(fr, n, frames, f, &all[f]);
    free(fr);
    qsort(all, F_COUNT, sizeof *all, by_score);
    /* the face's three largest changes lead, a fourth when it is clear; head
     * motion gets a sentence of its own */
    int nf = 0, has_head = 0, moved[4] = {0};
    for (int i = 0; i < F_COUNT; i++) {
        if (all[i].score < 1) break;
        int r = k_features[all[i].feature].region;
        moved[r] = 1; /* also when left out of the text: "little movement" would be wrong */
        if (r == R_HEAD) {
            if (!has_head) head = all[i], has_head = 1;
        } else if (nf < 3 || (nf == 3 && all[i].score >= 2)) {
            face[nf++] = all[i];
        }
    }
    qsort(face, (size_t)nf, sizeof *face, by_onset);

    /* sentences in display order; each has a priority, and the lower ones are
     * left out when the text would pass 60 words */
    Text tx;
    memset(&tx, 0, sizeof tx);
    enum { S_OPEN, S_T0, S_T1, S_T2, S_HOLD, S_STILL, S_EXTRA, S_HEAD };
    if (nf) snprintf(tx.s[S_OPEN], sizeof tx.s[0], "The clip shows the face over %d frames.", frames);
    else
        snprintf(tx.s[S_OPEN], sizeof tx.s[0],
                 "Over the %d frames of the clip the mouth, the eyebrows and the eyes keep nearly the same shape, "
                 "and no clear facial movement stands out.",
                 frames);
    for (int t = 0; t < 3; t++) timing_sentence(face, nf, t, tx.s[S_T0 + t], sizeof tx.s[0]);
    int holding = 0;
    for (int i = 0; i < nf; i++) holding += face[i].holds;
    if (nf && holding == nf)
        snprintf(tx.s[S_HOLD], sizeof tx.s[0], "%s until the end of the clip.",
                 nf == 1 ? "The change holds" : "These changes hold");
    else if (nf && holding == 0)
        snprintf(tx.s[S_HOLD], sizeof tx.s[0], "By the end the face has partly returned to its starting shape.");
    else if (nf)
        for (int i = 0; i < nf; i++)
            if (!face[i].holds) {
                snprintf(tx.s[S_HOLD], sizeof tx.s[0], "By the end the movement of %s fades while the rest holds.",
                         subject_of(&face[i]));
                break;
            }
    if (nf) {
        static const char *const region_names[3] = {"the mouth", "the eyebrows", "the eyes"};
        const char *still[3];
        int ns = 0;
        for (int r = 0; r < 3; r++)
            if (!moved[r]) still[ns++] = region_names[r];
        if (ns == 1) snprintf(tx.s[S_STILL], sizeof tx.s[0], "There is little movement of %s.", still[0]);
        if (ns == 2)
            snprintf(tx.s[S_STILL], sizeof tx.s[0], "There is little movement of %s or %s.", still[0], still[1]);
    }
    char extra[160] = "";
    size_t off = 0;
    if (talk)
        off += (size_t)snprintf(extra + off, sizeof extra - off,
                                "The lips also open and close repeatedly, as in speech.");
    static const char *const times[4] = {"", "once", "twice", "three times"};
    if (blinks)
        snprintf(extra + off, sizeof extra - off, "%sThe eyes blink %s.", off ? " " : "",
                 blinks <= 3 ? times[blinks] : "several times");
    snprintf(tx.s[S_EXTRA], sizeof tx.s[0], "%s", extra);
    if (has_head) /* every head feature's subject is "the head" */
        snprintf(tx.s[S_HEAD], sizeof tx.s[0], "The head %s %s during the clip.", adverb(head.score), verb_of(&head));
    else
        snprintf(tx.s[S_HEAD], sizeof tx.s[0], "The head stays nearly still.");

    static const int priority[] = {S_T0, S_T1, S_T2, S_HOLD, S_HEAD, S_EXTRA, S_STILL, S_OPEN};
    int total = 0;
    for (int k = 0; k < 8; k++) {
        int s = priority[k];
        tx.words[s] = count_words(tx.s[s]);
        if (tx.words[s] && total + tx.words[s] <= 60) tx.used[s] = 1, total += tx.words[s];
    }
    char text[8 * sizeof tx.s[0] + 8];
    off = 0;
    for (int s = 0; s < 8; s++)
        if (tx.used[s]) off += (size_t)snprintf(text + off, sizeof text - off, "%s%s", off ? " " : "", tx.s[s]);
    if (off + 1 > cap) return -1;
    memcpy(out, text, off + 1);
    return total;
}

int verbalize_tracks(const char *dir, const char *const *ids, int n, int skip_faceless, int *faceless,
                     int *unreadable, const char *out, Err *err) {
    if (faceless) *faceless = 0;
    if (unreadable) *unreadable = 0;
    Descriptions d;
    descriptions_init(&d);
    snprintf(d.source, sizeof d.source, "%s", dir);
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        char path[4096], text[1024];
        if ((size_t)snprintf(path, sizeof path, "%s/%s.txt", dir, ids[i]) >= sizeof path) {
            rc = err_set(err, "%s/%s.txt: path too long", dir, ids[i]);
            break;
        }
        FaceTrack t;
        if (face_track_read(path, &t, err)) {
            if (!unreadable) {
                rc = -1;
                break;
            }
            log_warn("left out of the descriptions (not a readable face track): %s", err->msg);
            (*unreadable)++;
            continue;
        }
        for (int f = 0; f < t.frames; f++) /* the mean shape is a placeholder, not a face */
            if (t.status[f] == FACE_MEAN)
                for (int k = 0; k < 2 * FACE_POINTS; k++) t.xy[(size_t)f * 2 * FACE_POINTS + k] = NAN;
        int words = verbalize_landmarks(t.xy, t.frames, text, sizeof text);
        face_track_free(&t);
        if (words < 0 && !skip_faceless) {
            rc = err_set(err, "%s: no frame with a usable face (finite points, distinct eyes)", path);
            break;
        }
        if (words < 0 && faceless) (*faceless)++;
        descriptions_add(&d, ids[i], words < 0 ? "No face was found in the clip." : text, 0);
    }
    if (rc == 0) rc = descriptions_index(&d, err); /* duplicate ids in the list */
    if (rc == 0) rc = descriptions_write_jsonl(out, &d, err);
    descriptions_free(&d);
    return rc;
}
