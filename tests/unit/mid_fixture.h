/* The shared fixture of the middle-level loader tests (test_loader_mid*.c): a
 * 40-clip synthetic DFEW layout at 64 px with ground-truth landmark tracks and
 * parsing maps, and the loader configuration both files start from (6 frames,
 * uint8 output, both map streams). */
#ifndef DFER_TESTS_MID_FIXTURE_H
#define DFER_TESTS_MID_FIXTURE_H

#include "data/loader.h"

enum { MID_T = 6, MID_S = 64 };
#define MID_PLANE ((size_t)3 * MID_S * MID_S)

typedef struct MidFixture {
    char root[600], landmarks[700], parsing[700];
} MidFixture;

/* Writes the dataset under the test's temporary folder (EXPECTs on failure). */
void mid_fixture_make(MidFixture *f);
/* Batch 8 of one rank, 2 threads, seed 17, crops of at least 0.3 of the area. */
LoaderConfig mid_fixture_config(const MidFixture *f, int train);

#endif
