/* The loader's middle level (FineCLIPER): per sampled frame, a face parsing
 * map and a landmark map, both RGB at the output size, under the same
 * geometric augmentation draw as the frames (never the photometric part).
 *
 * Sources, per clip:
 *   - the face track <landmarks_dir>/<clip id>.txt (face_track.h): one line
 *     per frame of the clip, in pixels of the original frame. Missing, or with
 *     fewer lines than the clip has frames, the clip is unreadable (the
 *     loader replaces and counts it). Extra lines are ignored.
 *   - optional external parsing index maps (11-class LaPa indices as pixel
 *     values, e.g. from a face parser): <parsing_dir>/<clip id>/<stem>.png,
 *     <stem> the frame file's name without its extension (folder clips), or
 *     the 1-based frame number as %05d (videos; also `dfer synth`'s naming),
 *     tried in that order. A map of another size than the frame is taken to
 *     cover the whole frame and resized (NEAREST).
 *
 * Per sampled frame: the track's points go through augment_apply_points (the
 * clip's draw); the parsing map is rendered from them at the output size
 * (face_render_parsing), or the external map is warped with
 * augment_apply_labels; the landmark map draws them as dots.
 *
 * Flips: augment_apply_points mirrors the x coordinates but keeps the point
 * indices, so after a flip point 36 (the subject's right eye, outer corner)
 * sits on the image right, where the mirrored face has its left eye. The
 * points are therefore re-indexed with the iBUG mirror (face_points_mirror_order)
 * before rendering, and an external map's classes are swapped (brows 2 <-> 3,
 * eyes 4 <-> 5): in the flipped sample, as in any frame, class 4 is the eye
 * on the image right. The landmark map, a set of dots, is unaffected. */
#ifndef DFER_DATA_LOADER_MID_H
#define DFER_DATA_LOADER_MID_H

#include "data/augment.h"
#include "data/dataset.h"
#include "face/face_track.h"

typedef struct MidClip {
    int streams;        /* LOADER_MID_* bits */
    FaceTrack track;    /* frames >= the clip's; empty when no stream needs it */
    char *parsing_dir;  /* <parsing_dir>/<clip id>, or NULL: render from the track */
    char **stems;       /* folder clips with external parsing: frame file stems in frame order */
    int n_stems;
} MidClip;

/* The clips of d whose maps' inputs are missing (the track file, the parsing-map folder): their number,
 * and the first missing path in first (n bytes). Checks that they exist, not what they hold. */
int mid_missing_inputs(int streams, const char *landmarks_dir, const char *parsing_dir, const Dataset *d, char *first,
                       size_t n);
/* Reads what a clip's maps need; the clip has frame_count frames. */
int mid_clip_open(MidClip *m, int streams, const char *landmarks_dir, const char *parsing_dir, const ClipRecord *c,
                  int frame_count, Err *err);
/* The maps of the clip's frame `index` under draw d, as index maps at the
 * output size (the loader colours them on the way into the batch):
 * parsing [size*size] LaPa indices, dots [size*size] 1 on a landmark dot, 0
 * elsewhere; NULL to skip one. (w, h): the size the draw was made for
 * (frame 0's); (fw, fh): this frame's own size, from which its points scale. */
int mid_clip_maps(const MidClip *m, const AugmentConfig *aug, const AugmentDraw *d, int index, int w, int h, int fw,
                  int fh, uint8_t *parsing, uint8_t *dots, Err *err);
void mid_clip_close(MidClip *m);

#endif
