/* Fuzz target: face track files (68 landmarks per frame line, optional box and
 * status): parse or fail cleanly; a parsed track has finite values and valid
 * statuses. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "face/face_track.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FaceTrack t;
    Err err;
    if (face_track_parse((const char *)data, size, "fuzz", &t, &err) == 0) {
        if (t.frames < 1) abort();
        for (int f = 0; f < t.frames; f++) {
            if (t.status[f] > FACE_MEAN) abort();
            for (int i = 0; i < 2 * FACE_POINTS; i++)
                if (!isfinite(t.xy[(size_t)f * 2 * FACE_POINTS + i])) abort();
        }
        face_track_free(&t);
    }
    return 0;
}
