/* SHA-256 of a file's bytes (FFmpeg's libavutil implementation), for the provenance of a run: which
 * weights, split files and descriptions it read. */
#ifndef DFER_IO_DIGEST_H
#define DFER_IO_DIGEST_H

#include "core/check.h"

/* hex: 64 lowercase hex digits and a NUL; *bytes: the file's size. Errors name the path. */
int file_sha256(const char *path, char hex[65], long long *bytes, Err *err);

/* The digest of a safetensors file (its header, with the digest's own 32 digits as zeros, then its data section)
 * that dfer writes into the file's metadata (key SAFETENSORS_DIGEST_KEY) and checks when it reads one back:
 * MurmurHash3 x64-128 (libavutil), 32 lowercase hex digits. Not cryptographic: it finds bytes damaged after the
 * write (a disk, a network file system, a copy cut or zero-filled), not tampering. begin, add the bytes in order,
 * end (which frees what begin took). */
typedef struct PayloadDigest {
    struct AVMurMur3 *ctx;
} PayloadDigest;
void payload_digest_begin(PayloadDigest *d);
void payload_digest_add(PayloadDigest *d, const void *data, size_t n);
void payload_digest_end(PayloadDigest *d, char hex[33]);

#endif
