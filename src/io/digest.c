#include "io/digest.h"

#include <errno.h>
#include <libavutil/mem.h>
#include <libavutil/murmur3.h>
#include <libavutil/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int file_sha256(const char *path, char hex[65], long long *bytes, Err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct AVSHA *sha = av_sha_alloc();
    CHECK(sha && av_sha_init(sha, 256) == 0, "libavutil: cannot set up SHA-256");
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = xmalloc(CHUNK);
    long long total = 0;
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) {
        av_sha_update(sha, buf, got);
        total += (long long)got;
    }
    int failed = ferror(f);
    fclose(f);
    free(buf);
    uint8_t digest[32];
    av_sha_final(sha, digest);
    av_free(sha);
    if (failed) return err_set(err, "%s: read error after %lld bytes", path, total);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    *bytes = total;
    return 0;
}

void payload_digest_begin(PayloadDigest *d) {
    d->ctx = av_murmur3_alloc();
    CHECK(d->ctx, "libavutil: cannot set up MurmurHash3");
    av_murmur3_init(d->ctx);
}

void payload_digest_add(PayloadDigest *d, const void *data, size_t n) {
    /* in chunks: libavutil before 57 takes an int length, which a tensor section over 2 GiB overflows */
    enum { CHUNK = 1 << 30 };
    for (const uint8_t *p = data; n; p += n < CHUNK ? n : CHUNK, n -= n < CHUNK ? n : CHUNK)
        av_murmur3_update(d->ctx, p, n < CHUNK ? n : CHUNK);
}

void payload_digest_end(PayloadDigest *d, char hex[33]) {
    uint8_t digest[16];
    av_murmur3_final(d->ctx, digest);
    av_free(d->ctx);
    d->ctx = NULL;
    for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}
