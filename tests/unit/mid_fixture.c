#include "mid_fixture.h"

#include <stdio.h>

#include "data/synth.h"
#include "testlib.h"

void mid_fixture_make(MidFixture *f) {
    SynthConfig c;
    synth_config_default(&c);
    c.clips = 40, c.size = MID_S, c.min_frames = 8, c.max_frames = 16, c.threads = 2, c.seed = 5;
    snprintf(f->root, sizeof f->root, "%s/dfew", test_tmpdir());
    snprintf(f->landmarks, sizeof f->landmarks, "%s/synth/landmarks", f->root);
    snprintf(f->parsing, sizeof f->parsing, "%s/synth/parsing", f->root);
    Err err;
    EXPECT(synth_generate(&c, f->root, &err) == 0, "synth: %s", err.msg);
}

LoaderConfig mid_fixture_config(const MidFixture *f, int train) {
    LoaderConfig c = {.global_batch = 8, .rank = 0, .world = 1, .frames = MID_T, .size = MID_S, .train = train,
                      .seed = 17, .normalise_clip = 1, .threads = 2, .prefetch = 2, .max_bad_fraction = 0.05f,
                      .uint8 = 1, .crop_min_area = 0.3f, .mid_streams = LOADER_MID_PARSING | LOADER_MID_LANDMARKS,
                      .landmarks_dir = f->landmarks};
    return c;
}
