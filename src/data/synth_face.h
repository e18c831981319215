/* Procedural faces for the synthetic DFER benchmark: a 68-point landmark
 * geometry in the iBUG layout (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
 * mouth 48-67), per-clip identity, class-specific expression dynamics over
 * time, label-free distractors (talking, blinks, gaze shifts, head motion),
 * and rendering with cairo: the RGB frame and the 11-class LaPa parsing map
 * (0 background, 1 skin, 2 left brow, 3 right brow, 4 left eye, 5 right eye,
 * 6 nose, 7 upper lip, 8 inner mouth, 9 lower lip, 10 hair; "left" is the
 * subject's left, i.e. image right). */
#ifndef DFER_DATA_SYNTH_FACE_H
#define DFER_DATA_SYNTH_FACE_H

#include <stdint.h>

#include "core/rng.h"

#define SYNTH_LANDMARKS 68

typedef struct FaceIdentity {
    double face_w, face_h, eye_gap, eye_size, mouth_w, brow_y, nose_len;
    double skin[3], hair[3], iris[3], lips[3], background[3];
    int hair_style;
    double light_x;            /* direction of the light, -1..1 */
    int clutter;               /* background shapes */
    uint64_t clutter_seed;
    double occluder;           /* probability mass: a hand/bar over part of the face in some clips */
} FaceIdentity;

typedef struct ClipScript {
    int label;                 /* project class order */
    int frames;
    double peak;               /* expression intensity at the apex, 0..1 */
    int onset, apex_start, apex_end; /* frames */
    double residual;           /* intensity kept after the offset */
    double talk_freq, talk_amp; /* distractors */
    int blink_frames[4], n_blinks;
    double gaze_x, gaze_y, gaze_shift_frame;
    double head_dx, head_dy, head_roll, head_speed;
    double noise, blur;
    int occlude;
} ClipScript;

/* Draws an identity and a script for one clip. difficulty: 0 easy, 1 medium, 2 hard. */
void synth_identity(Rng *rng, FaceIdentity *id);
void synth_script(Rng *rng, int label, int frames, int difficulty, ClipScript *s);
/* The expression intensity at frame t. */
double synth_intensity(const ClipScript *s, int t);
/* Landmarks (pixel coordinates of a size x size frame) at frame t. */
void synth_landmarks(const FaceIdentity *id, const ClipScript *s, int t, int size, double xy[2 * SYNTH_LANDMARKS]);
/* Renders frame t: rgb [size*size*3], parsing [size*size] (may be NULL). */
void synth_render(const FaceIdentity *id, const ClipScript *s, int t, int size, const double xy[2 * SYNTH_LANDMARKS],
                  uint8_t *rgb, uint8_t *parsing, Rng *noise_rng);

#endif
