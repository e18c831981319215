/* A clip's face track from dlib: for every frame, detect faces, keep one
 * person, predict the 68 landmarks; fill the frames without a face.
 *
 * Which face: in the first frame with faces, the largest box; afterwards the
 * box overlapping most (IoU) with the last detected box, so that one person is
 * tracked when others pass by; when no box overlaps it at all (a cut, or the
 * person left), the largest again.
 *
 * Frames without a face (after the upsampled retries, see FaceTrackConfig):
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
#include "face/dlib_shim.h"
#include "face/face_track.h"

typedef struct FaceTrackConfig {
    /* When nothing is found at the native size, retry with the frame doubled
     * 1..upsample times (dlib's detector needs faces of ~80 px; doubling costs
     * 4x the time, so it is only paid on frames that need it). 0..3. */
    int upsample;
    float mean_box; /* side of the FACE_MEAN box / min(width, height); 0.6 */
} FaceTrackConfig;

void face_track_config_default(FaceTrackConfig *c);

/* Face track of the clip at path (frame folder or video file, decoded with the
 * loader's FFmpeg code). det: this thread's detector. Errors name the clip. */
int face_track_clip(DlibDetector *det, const DlibModel *model, const char *path, const FaceTrackConfig *cfg,
                    FaceTrack *out, Err *err);

/* ---- pieces, exposed for the tests ---- */

/* Index of the box to follow among n (n > 0): the largest when prev is NULL or
 * no box overlaps prev ([4] corners), else the one with the highest IoU. */
int face_pick_box(const DlibBox *boxes, int n, const float *prev);
/* Intersection over union of two boxes given by corners (x0 y0 x1 y1). */
float face_box_iou(const float *a, const float *b);
/* The unit-box mean shape ([68, 2]) in a centred square of side
 * frac * min(w, h): xy [68, 2] pixels, box [4] corners. */
void face_mean_place(const float *unit, int w, int h, float frac, float *xy, float *box);
/* Normalised mean error of one frame: the mean point-to-point distance of
 * pred and gt ([68, 2] each) over the distance between gt's outer eye corners
 * (points 36 and 45); negative when that distance is below 1e-6 px. */
double face_nme(const float *pred, const float *gt);

#endif
