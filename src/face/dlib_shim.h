/* A C interface to dlib's face detector (HOG + linear SVM, frontal faces, ~80 px
 * and larger) and 68-point shape predictor (an ensemble of regression trees,
 * iBUG order), so that everything but src/face/dlib_shim.cc stays C11.
 * No C++ exception crosses this interface: failures come back as -1/NULL with
 * a message in err.
 *
 * Threading: the shape-predictor model (100 MB; load it once per process) is
 * read-only after loading and may be shared by any number of threads (dlib
 * documents shape_predictor as safe for concurrent use). A detector keeps
 * scratch state (its HOG feature pyramid) and must be used by one thread at a
 * time: create one detector per thread, all sharing one model. */
#ifndef DFER_FACE_DLIB_SHIM_H
#define DFER_FACE_DLIB_SHIM_H

#include <stdint.h>

#include "core/check.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DLIB_FACE_POINTS 68

typedef struct DlibModel DlibModel;
typedef struct DlibDetector DlibDetector;

/* Coordinates follow the face-track convention (face_track.h, augment.h):
 * pixel edges at integers, the first pixel's centre at (0.5, 0.5). The shim
 * converts from dlib's (pixel centres at integers, rectangles with inclusive
 * right/bottom pixels): box = (left, top, right + 1, bottom + 1), point + 0.5.
 * score: the detector's SVM margin (> 0 is a detection; larger is surer). */
typedef struct DlibBox {
    float x0, y0, x1, y1;
    float score;
} DlibBox;

/* Loads a shape_predictor_68_face_landmarks.dat-style model; errors name the path. */
DlibModel *dlib_model_load(const char *path, Err *err);
void dlib_model_free(DlibModel *m);
/* The model's mean shape (the cascade's starting point) in the unit face box:
 * [68, 2] (x, y), (0, 0) the box's top-left and (1, 1) its bottom-right corner. */
const float *dlib_model_mean_shape(const DlibModel *m);

/* A frontal face detector for one thread, predicting with model m (which must
 * outlive it). */
DlibDetector *dlib_detector_create(const DlibModel *m, Err *err);
void dlib_detector_free(DlibDetector *d);

/* Detects faces in an RGB image (rgb: [h, stride] bytes, 3 per pixel).
 * upsample: how many times the image is doubled first (pyramid_up; 0 = as is)
 * so that faces smaller than the detector's 80 px window are found; boxes come
 * back in the input's pixels. Writes up to max boxes, best score first, and
 * returns how many faces were found (which may exceed max), or -1. */
int dlib_detect(DlibDetector *d, const uint8_t *rgb, int w, int h, int stride, int upsample, DlibBox *boxes, int max,
                Err *err);

/* The 68 landmarks (xy: [68, 2] pixels) of the face in box (corners as
 * dlib_detect gives them, rounded to whole pixels) of the same image. dlib
 * rounds each point to a whole pixel, so xy are pixel centres (k + 0.5). */
int dlib_landmarks(DlibDetector *d, const uint8_t *rgb, int w, int h, int stride, const float box[4], float *xy,
                   Err *err);

#ifdef __cplusplus
}
#endif

#endif
