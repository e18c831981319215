#include "data/sampler.h"

#include "core/check.h"

void sample_frame_indices(int n, int s, int train, Rng *rng, int *out) {
    CHECK(n > 0 && s > 0, "sampling %d segments from %d frames", s, n);
    if ((train && n >= s) || (!train && n > s)) {
        if (train) {
            int avg = n / s;
            for (int i = 0; i < s; i++) out[i] = i * avg + (int)rng_int(rng, avg);
        } else {
            double tick = (double)n / s;
            for (int i = 0; i < s; i++) out[i] = (int)(tick / 2.0 + tick * i);
        }
        return;
    }
    for (int i = 0; i < s; i++) out[i] = i < n ? i : n - 1; /* edge padding */
}
