/* A clip's face track: per frame, 68 landmarks (iBUG order: jaw 0-16, brows
 * 17-26, nose 27-35, eyes 36-47, mouth 48-67), a face box and how the frame's
 * landmarks were obtained. One text file per clip, the format shared by
 * `dfer prep` (dlib), imports from an external face parser and the synthetic
 * benchmark's ground truth:
 *
 *   # comment lines start with '#'
 *   x0 y0 x1 y1 ... x67 y67 [bx0 by0 bx1 by1 status]     one line per frame
 *
 * Coordinates are pixels of the original frame, in the clip's frame order
 * (sorted frame files, or decoded video frames). The optional tail gives the
 * face box (corners) and the status: `det` (detected), `prev` (no face found,
 * the previous frame's landmarks reused) or `mean` (no face found yet, the mean
 * shape placed in the frame). Lines with 136 numbers only are `det` with the
 * landmarks' bounding box as face box. */
#ifndef DFER_FACE_FACE_TRACK_H
#define DFER_FACE_FACE_TRACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/check.h"

#define FACE_POINTS 68

typedef enum FaceStatus { FACE_DETECTED = 0, FACE_PREVIOUS = 1, FACE_MEAN = 2 } FaceStatus;

typedef struct FaceTrack {
    int frames;
    float *xy;       /* [frames, 68, 2] */
    float *box;      /* [frames, 4]: x0 y0 x1 y1 */
    uint8_t *status; /* [frames] FaceStatus */
} FaceTrack;

/* Allocates a track of `frames` zeroed frames. */
void face_track_alloc(FaceTrack *t, int frames);
void face_track_free(FaceTrack *t);
/* Parses a track file; errors name path:line. */
int face_track_read(const char *path, FaceTrack *t, Err *err);
int face_track_parse(const char *text, size_t len, const char *label, FaceTrack *t, Err *err);
/* Writes atomically (temporary file + rename), creating parent directories.
 * comment (may be NULL) becomes a leading '#' line. */
int face_track_write(const char *path, const FaceTrack *t, const char *comment, Err *err);
/* The clip ids of the tracks under dir: every <id>.txt in it and its subfolders (FERV39k's ids are
 * Scene/Emotion/id), hidden entries skipped, sorted; *ids and its strings are malloc'd (n may be 0).
 * Errors name dir. */
int face_track_list_ids(const char *dir, char ***ids, int *n, Err *err);
/* The bounding box of a frame's landmarks. */
void face_track_landmark_box(const float *xy, float box[4]);
const char *face_status_name(FaceStatus s);
/* Frames per status: counts[3] indexed by FaceStatus. */
void face_track_count(const FaceTrack *t, int counts[3]);

#endif
