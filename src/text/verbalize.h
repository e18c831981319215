/* A built-in source of FineCLIPER's high-level text: a description of a
 * clip's facial changes computed from its 68-point landmark trajectories
 * (iBUG order: jaw 0-16, brows 17-26 with 17-21 the subject's right = image
 * left, nose 27-35, eyes 36-47, mouth 48-67). It never sees the label, so,
 * unlike an MLLM prompted with it, it cannot leak the class: it describes
 * facial actions (the mouth corners rise, the eyebrows draw together), never
 * states, and contains no word of the refine lexicon (text/refine.h).
 *
 * Every measure is taken in a face frame (origin between the eyes, x along
 * the eye line, unit = inter-ocular distance, so scale and roll cancel) and
 * relative to a baseline, the median of the first frames. The largest
 * changes are described with their timing ("At the beginning", "Around the
 * middle", "Towards the end") and size ("slightly", "clearly", "strongly"),
 * followed by whether they hold, blinks, speech-like lip motion and head
 * motion: 25 to 60 words, deterministic. */
#ifndef DFER_TEXT_VERBALIZE_H
#define DFER_TEXT_VERBALIZE_H

#include <stddef.h>

#define VERBALIZE_POINTS 68

/* xy: [frames][68][2] pixel coordinates. Frames whose points are not finite
 * or whose eyes coincide count as missing (a face detector's misses).
 * Returns the number of words written, or -1 (out = "") when no frame is
 * usable or out is too small (at most 60 words: 1024 bytes always suffice). */
int verbalize_landmarks(const float *xy, int frames, char *out, size_t cap);

struct Err;
/* The descriptions of clips from their face tracks DIR/<id>.txt (face/face_track.h; ids may hold
 * '/', as FERV39k's do): frames marked `mean` (no face found yet) are left out. Writes
 * {"clip", "text"} JSONL to out atomically. A track without a usable frame gets
 * "No face was found in the clip." when skip_faceless (counted in *faceless, which may be NULL), else it is an
 * error naming the file. A file that is no readable track is an error naming it when unreadable is NULL; else
 * it is left out with a warning naming it, and counted in *unreadable (dfer prep describes every .txt of its
 * folder, where a stray file is no clip's). */
int verbalize_tracks(const char *dir, const char *const *ids, int n, int skip_faceless, int *faceless,
                     int *unreadable, const char *out, struct Err *err);

#endif
