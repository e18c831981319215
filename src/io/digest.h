/* SHA-256 of a file's bytes (FFmpeg's libavutil implementation), for the provenance of a run: which
 * weights, split files and descriptions it read. */
#ifndef DFER_IO_DIGEST_H
#define DFER_IO_DIGEST_H

#include "core/check.h"

/* hex: 64 lowercase hex digits and a NUL; *bytes: the file's size. Errors name the path. */
int file_sha256(const char *path, char hex[65], long long *bytes, Err *err);

#endif
