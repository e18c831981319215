#include "data/clip_identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/hash.h"
#include "data/video.h"

/* n bytes at offset of fd into buf (short only at the end of the file) */
static int read_at(int fd, const char *path, unsigned char *buf, size_t n, off_t offset, Err *err) {
    for (size_t got = 0; got < n;) {
        ssize_t r = pread(fd, buf + got, n - got, offset + (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return err_set(err, "%s: cannot read: %s", path, strerror(errno));
        if (r == 0) return err_set(err, "%s: ends at %lld bytes, its size said more", path, (long long)(offset + got));
        got += (size_t)r;
    }
    return 0;
}

/* h extended by the size of the file at path and its first and last CLIP_IDENTITY_END_BYTES bytes (they overlap
 * in a file shorter than twice that) */
static int hash_file_ends(const char *path, uint64_t *h, long long *size, Err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err_set(err, "%s: cannot stat: %s", path, strerror(errno));
        CHECK_SYS(close(fd));
        return -1;
    }
    long long bytes = (long long)st.st_size;
    size_t end = bytes < CLIP_IDENTITY_END_BYTES ? (size_t)bytes : CLIP_IDENTITY_END_BYTES;
    unsigned char *buf = xmalloc(2 * end + 1);
    int rc = read_at(fd, path, buf, end, 0, err);
    if (rc == 0) rc = read_at(fd, path, buf + end, end, (off_t)(bytes - (long long)end), err);
    CHECK_SYS(close(fd));
    if (rc == 0) {
        *h = fnv1a_bytes(*h, &bytes, sizeof bytes);
        *h = fnv1a_bytes(*h, buf, 2 * end);
        *size = bytes;
    }
    free(buf);
    return rc;
}

int clip_identity_of_frames(const char *dir, char *const *names, int count, char out[CLIP_IDENTITY_MAX], Err *err) {
    if (!count) return err_set(err, "%s: no frame images in the folder", dir);
    uint64_t h = FNV1A_BASIS;
    long long total = 0;
    char path[8192];
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) != 0) return err_set(err, "%s: cannot stat: %s", path, strerror(errno));
        long long bytes = (long long)st.st_size;
        h = fnv1a_bytes(fnv1a_text(h, names[i]) * FNV1A_PRIME, &bytes, sizeof bytes); /* name, a 0, its size */
        total += bytes;
    }
    long long unused;
    for (int k = 0; k < (count > 1 ? 2 : 1); k++) { /* the first frame file and the last one */
        snprintf(path, sizeof path, "%s/%s", dir, names[k ? count - 1 : 0]);
        if (hash_file_ends(path, &h, &unused, err) != 0) return -1;
    }
    snprintf(out, CLIP_IDENTITY_MAX, "%d frame files of %lld bytes, fnv1a %016llx", count, total,
             (unsigned long long)h);
    return 0;
}

static int folder_identity(const char *dir, char out[CLIP_IDENTITY_MAX], Err *err) {
    char **names = NULL;
    int count = 0, rc = frame_folder_list(dir, &names, &count, err);
    if (rc == 0) rc = clip_identity_of_frames(dir, names, count, out, err);
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
    return rc;
}

int clip_identity(const char *path, char out[CLIP_IDENTITY_MAX], Err *err) {
    if (fs_is_dir(path)) return folder_identity(path, out, err);
    if (!fs_exists(path)) return err_set(err, "%s: no such clip (neither a frame folder nor a video file)", path);
    uint64_t h = FNV1A_BASIS;
    long long bytes = 0;
    if (hash_file_ends(path, &h, &bytes, err) != 0) return -1;
    snprintf(out, CLIP_IDENTITY_MAX, "video file of %lld bytes, fnv1a %016llx", bytes, (unsigned long long)h);
    return 0;
}
