#include "io/digest.h"

#include <errno.h>
#include <libavutil/mem.h>
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
