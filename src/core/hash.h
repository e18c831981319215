/* FNV-1a (64-bit): the one fast, non-cryptographic hash of names and texts (the name tables' buckets, CLIP's
 * initialisation seeded by tensor name, the op profile's keys, the ranks' digest of a matrix). The offset basis is
 * the one dfer has always used: a tiny CLIP's initial weights depend on it. */
#ifndef DFER_CORE_HASH_H
#define DFER_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_BASIS 1469598103934665603ull
#define FNV1A_PRIME 1099511628211ull

/* h extended by n bytes of data (start from FNV1A_BASIS). */
static inline uint64_t fnv1a_bytes(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV1A_PRIME;
    return h;
}

/* h extended by the bytes of s, its NUL not included. */
static inline uint64_t fnv1a_text(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * FNV1A_PRIME;
    return h;
}

#endif
