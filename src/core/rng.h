/* Deterministic random numbers. A stream is a pure function of its key
 * (seed, a, b, c): e.g. (seed, epoch, sample index, purpose) for augmentation,
 * so a sample looks the same whichever rank or thread draws it. Generator:
 * xoshiro256** seeded through splitmix64 of the mixed key. */
#ifndef DFER_CORE_RNG_H
#define DFER_CORE_RNG_H

#include <stdint.h>

typedef struct Rng {
    uint64_t s[4];
} Rng;

void rng_init(Rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
uint64_t rng_u64(Rng *r);
uint32_t rng_u32(Rng *r);
double rng_uniform(Rng *r);                 /* [0, 1) with 53 random bits */
double rng_uniform_range(Rng *r, double lo, double hi);
int64_t rng_int(Rng *r, int64_t n);         /* uniform in [0, n), n > 0, no modulo bias */
double rng_normal(Rng *r);                  /* standard normal (Box-Muller, no caching: stateless per call pair) */
/* Truncated normal in [lo, hi] (std units), by rejection; as used for trunc_normal init. */
double rng_trunc_normal(Rng *r, double lo, double hi);

#endif
