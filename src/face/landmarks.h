/* A clip's face track from dlib: for every frame, detect faces, keep one
 * person, predict the 68 landmarks; fill the frames without a face.
 *
 * Which face: in the first frame with faces, the largest box; afterwards the
 * box overlapping most (IoU) with the followed face's last detected box, so
 * that one person is tracked when others pass by. When no box overlaps that
 * box, the frame is a missed detection of the followed face (FACE_PREVIOUS,
 * as a frame without faces) as long as the face was last detected at most
 * hold_frames frames ago (FaceTrackConfig; 3): dlib misses a face now and
 * then (a blink, a turn, motion blur), and taking the largest other face on
 * such a frame switched the track to a bystander for good, since the
 * bystander's box then overlapped the last box. After more than hold_frames
 * frames without the followed face (a cut, or the person left), the largest
 * box is taken again: a cut costs at most hold_frames frames of the previous
 * shot's face. Every frame without the followed face counts, faceless or
 * not; a frame where it is detected resets the count.
 *
 * Frames without the followed face (after the upsampled retries, see
 * FaceTrackConfig):
 *   FACE_PREVIOUS  the previous frame's landmarks and box, copied (scaled into this
 *                  frame's pixels where a folder's frames differ in size);
 *   FACE_MEAN      before any detection: the model's mean shape in a centred
 *                  square box of side mean_box * min(width, height).
 * Leading FACE_MEAN frames are not backfilled from the first detection: the
 * track stays causal and a frame's status says exactly where its points came
 * from (a consumer that prefers the first detected face can copy it, knowing
 * which frames are mean). No temporal smoothing: dlib's boxes are stable
 * enough on a static camera, and smoothing would blur fast expressions. */
#ifndef DFER_FACE_LANDMARKS_H
#define DFER_FACE_LANDMARKS_H

#include "core/check.h"
#include "data/image.h"
#include "face/dlib_shim.h"
#include "face/face_track.h"

typedef struct FaceTrackConfig {
    /* When nothing is found at the native size, or only faces other than the
     * followed one (a face too small for the native size beside a larger
     * bystander), retry with the frame doubled 1..upsample times (dlib's detector needs faces of ~80 px; doubling costs
     * 4x the time, so it is only paid on frames that need it). 0..3. */
    int upsample;
    float mean_box; /* side of the FACE_MEAN box / min(width, height); 0.6 */
    /* Frames after its last detection in which the followed face may be missing, while other faces are found,
     * before the largest of them is followed instead (the rule above); FACE_HOLD_FRAMES. 0: the largest at once. */
    int hold_frames;
} FaceTrackConfig;

/* hold_frames' default: a blink or a short turn of the head, yet a cut shows the previous shot's face for at most
 * 3 frames (0.12 s at 25 fps). */
#define FACE_HOLD_FRAMES 3

void face_track_config_default(FaceTrackConfig *c);

/* Face track of the clip at path (frame folder or video file, decoded with the
 * loader's FFmpeg code). det: this thread's detector. Errors name the clip. */
int face_track_clip(DlibDetector *det, const DlibModel *model, const char *path, const FaceTrackConfig *cfg,
                    FaceTrack *out, Err *err);

/* ---- pieces, exposed for the tests ---- */

/* Index of the box to follow among n (n > 0): the largest when prev is NULL or
 * no box overlaps prev ([4] corners), else the one with the highest IoU. */
int face_pick_box(const DlibBox *boxes, int n, const float *prev);

/* The face followed through a clip, from frame to frame. Zeroed: none yet. */
typedef struct FaceFollow {
    int have;          /* a face was detected in an earlier frame */
    float last_box[4]; /* the followed face's last detected box (corners), in units of its frame's width and
                        * height (x / width, y / height): frames of a clip folder may differ in size */
    int missed;        /* frames since that detection in which it was not found */
} FaceFollow;

/* One frame's choice among its n detected boxes (n >= 0; in clip order, frame by frame): the index of the box
 * to follow, or -1 for a frame without the followed face (no box; none yet; or none overlaps its last box while
 * it has been missing for fewer than hold frames). The boxes are in the pixels of this frame of width x height
 * (> 0); the overlap with the last box is taken relative to each frame's size. Updates f. */
int face_follow(FaceFollow *f, const DlibBox *boxes, int n, int width, int height, int hold);
/* Intersection over union of two boxes given by corners (x0 y0 x1 y1). */
float face_box_iou(const float *a, const float *b);
/* Boxes looked at per frame; dlib rarely finds more than a few. */
#define FACE_MAX_BOXES 16
/* The faces of a frame (im) for f's choice: boxes [*n] (at most FACE_MAX_BOXES) found at sizes from_up..upsample
 * (0 native, k: doubled k times), tried in turn while none is found, and also while only faces other than the
 * followed one are: a followed face too small for the native size (found doubled) beside a larger bystander found
 * natively was otherwise missed, and after hold frames the choice switched to the bystander for good. The first
 * size that finds faces gives the boxes unless a larger one finds the followed face. Boxes already in boxes [*n]
 * (a caller's detection at the sizes below from_up) count as that first size's. 0, or -1 (err). */
int face_detect_following(DlibDetector *det, const FaceFollow *f, const ImageU8 *im, int upsample, int from_up,
                          DlibBox *boxes, int *n, Err *err);
/* The unit-box mean shape ([68, 2]) in a centred square of side
 * frac * min(w, h): xy [68, 2] pixels, box [4] corners. */
void face_mean_place(const float *unit, int w, int h, float frac, float *xy, float *box);
/* Normalised mean error of one frame: the mean point-to-point distance of
 * pred and gt ([68, 2] each) over the distance between gt's outer eye corners
 * (points 36 and 45); negative when that distance is below 1e-6 px. */
double face_nme(const float *pred, const float *gt);

#endif
