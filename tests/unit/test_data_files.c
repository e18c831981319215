/* Frame files as a user's dataset has them: what counts as a frame of a
 * folder clip (a folder named like a frame does not), and damaged image files
 * (a truncated JPEG is an error naming it, as Pillow's default refuses it,
 * never half a picture). Images are written with the project's encoders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "data/clip_identity.h"
#include "data/encode.h"
#include "data/image.h"
#include "data/sampler.h"
#include "data/video.h"
#include "testlib.h"

/* A w x h RGB pattern with detail in every 8x8 block, so a JPEG's entropy-coded data spans the file. */
static uint8_t *pattern(int w, int h, int seed) {
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)((x * 7 + y * 13 + c * 50 + seed * 31) ^ (x * y));
    return rgb;
}

static void write_frame(const char *dir, const char *name, int seed) {
    char path[1024];
    Err err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *rgb = pattern(32, 24, seed);
    EXPECT(image_write_jpeg(path, rgb, 32, 24, 3, &err) == 0, "%s", err.msg);
    free(rgb);
}

/* Frames 00001, 00002, 00004, 00005 and, among them, a folder "00003.jpg" and a link "00006.png" to a folder:
 * the clip has 4 frames, all readable, and the test-time centres of 20 frames fall on real frames. */
static void test_folder_named_like_a_frame(void) {
    char dir[900], sub[1000], link_path[1000];
    Err err;
    snprintf(dir, sizeof dir, "%s/clip_with_folders", test_tmpdir());
    snprintf(sub, sizeof sub, "%s/00003.jpg", dir);
    EXPECT(fs_mkdirs(sub, &err) == 0, "%s", err.msg);
    write_frame(sub, "inside.jpg", 9); /* not a frame of the clip either */
    const char *names[4] = {"00001.jpg", "00002.jpg", "00004.jpg", "00005.jpg"};
    for (int i = 0; i < 4; i++) write_frame(dir, names[i], i);
    snprintf(link_path, sizeof link_path, "%s/00006.png", dir);
    EXPECT(symlink(sub, link_path) == 0, "symlink %s", link_path);

    char **files;
    int count;
    EXPECT(frame_folder_list(dir, &files, &count, &err) == 0, "%s", err.msg);
    EXPECT(count == 4, "%s: %d frames listed, 4 are image files (a folder and a link to one are not)", dir, count);
    for (int i = 0; i < count && i < 4; i++)
        EXPECT(!strcmp(files[i], names[i]), "frame %d: %s, want %s", i, files[i], names[i]);
    for (int i = 0; i < count; i++) free(files[i]);
    free(files);

    ClipSource *c;
    EXPECT(clip_source_open(dir, &c, &err) == 0, "%s", err.msg);
    EXPECT(clip_source_frame_count(c) == 4, "the clip counts %d frames, 4 real", clip_source_frame_count(c));
    int idx[16];
    sample_frame_indices(clip_source_frame_count(c), 16, 0, NULL, idx); /* edge-padded 0..3 */
    ImageU8 frames[16];
    int rc = clip_source_read_frames(c, idx, 16, frames, &err);
    EXPECT(rc == 0, "every sampled frame reads: %s", rc ? err.msg : "");
    for (int i = 0; rc == 0 && i < 16; i++) image_free(&frames[i]);
    clip_source_close(c);
}

/* A JPEG cut in half decodes (FFmpeg emulates the missing end) to a picture whose lower part is made up;
 * Pillow, which DFER-CLIP reads frames with, refuses it. It must be an error naming the file. */
static void test_truncated_jpeg(void) {
    char dir[900], whole[1000], cut[1000];
    Err err;
    snprintf(dir, sizeof dir, "%s/jpegs", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    uint8_t *rgb = pattern(64, 48, 1);
    snprintf(whole, sizeof whole, "%s/whole.jpg", dir);
    EXPECT(image_write_jpeg(whole, rgb, 64, 48, 2, &err) == 0, "%s", err.msg);
    free(rgb);
    char *bytes;
    size_t len;
    EXPECT(fs_read_all(whole, &bytes, &len, &err) == 0, "%s", err.msg);
    snprintf(cut, sizeof cut, "%s/cut_00001.jpg", dir);
    EXPECT(fs_write_atomic(cut, bytes, len / 2, &err) == 0, "%s", err.msg);
    free(bytes);

    ImageU8 img;
    EXPECT(image_decode_file(whole, &img, &err) == 0 && img.width == 64 && img.height == 48, "the whole JPEG: %s",
           err.msg);
    image_free(&img);
    int rc = image_decode_file(cut, &img, &err);
    EXPECT(rc != 0, "a JPEG cut to half its %zu bytes was decoded (%dx%d)", len, img.width, img.height);
    if (rc == 0) image_free(&img);
    else EXPECT(strstr(err.msg, "cut_00001.jpg") != NULL, "the error '%s' names the file", err.msg);
}

static void identity_of(const char *path, char out[CLIP_IDENTITY_MAX]) {
    Err err;
    out[0] = 0;
    EXPECT(clip_identity(path, out, &err) == 0, "%s", err.msg);
}

static void copy_file(const char *from, const char *to) {
    char *data;
    size_t len;
    Err err;
    EXPECT(fs_read_all(from, &data, &len, &err) == 0, "%s", err.msg);
    EXPECT(fs_write_atomic(to, data, len, &err) == 0, "%s", err.msg);
    free(data);
}

/* A clip's identity (what dfer prep's tracks record of their clip): the same for the same bytes at another path
 * with other mtimes (a moved or copied dataset), another for a replaced, renamed, grown or re-written clip; a
 * video's bytes between its first and last 64 KiB are not read (prep reads a few per clip on every rerun). */
static void test_clip_identity(void) {
    char dir[900], copy[900], a[1100], b[1100], ida[CLIP_IDENTITY_MAX], idb[CLIP_IDENTITY_MAX];
    Err err;
    snprintf(dir, sizeof dir, "%s/identity/clip", test_tmpdir());
    snprintf(copy, sizeof copy, "%s/identity/moved/clip", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0 && fs_mkdirs(copy, &err) == 0, "%s", err.msg);
    const char *names[3] = {"f1.jpg", "f2.jpg", "f3.jpg"};
    for (int i = 0; i < 3; i++) {
        write_frame(dir, names[i], i);
        snprintf(a, sizeof a, "%s/%s", dir, names[i]), snprintf(b, sizeof b, "%s/%s", copy, names[i]);
        copy_file(a, b);
        struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
        EXPECT(utimensat(AT_FDCWD, b, old, 0) == 0, "utimensat %s", b);
    }
    identity_of(dir, ida), identity_of(copy, idb);
    EXPECT(!strncmp(ida, "3 frame files of ", 17), "folder identity '%s'", ida);
    EXPECT(!strcmp(ida, idb), "the same frames elsewhere, older mtimes: '%s' and '%s'", ida, idb);
    write_frame(copy, "f1.jpg", 7); /* another picture as the first frame */
    identity_of(copy, idb);
    EXPECT(strcmp(ida, idb), "another first frame, the same identity '%s'", ida);
    write_frame(copy, "f1.jpg", 0);
    identity_of(copy, idb);
    EXPECT(!strcmp(ida, idb), "the first frame written back: '%s', '%s'", ida, idb);
    snprintf(a, sizeof a, "%s/f2.jpg", copy), snprintf(b, sizeof b, "%s/f2b.jpg", copy);
    EXPECT(rename(a, b) == 0, "rename %s", a);
    identity_of(copy, idb);
    EXPECT(strcmp(ida, idb), "a frame renamed, the same identity '%s'", ida);

    /* a "video": 300 KiB; the identity reads no frame, only bytes */
    size_t n = 300 * 1024;
    unsigned char *bytes = malloc(n);
    for (size_t i = 0; i < n; i++) bytes[i] = (unsigned char)(i * 2654435761u >> 13);
    snprintf(a, sizeof a, "%s/identity/clip.mp4", test_tmpdir());
    snprintf(b, sizeof b, "%s/identity/moved/clip.mp4", test_tmpdir());
    EXPECT(fs_write_atomic(a, bytes, n, &err) == 0, "%s", err.msg);
    identity_of(a, ida);
    EXPECT(!strncmp(ida, "video file of 307200 bytes, fnv1a ", 34), "video identity '%s'", ida);
    struct { size_t at; int same; const char *what; } edits[] = {
        {10, 0, "a byte of its first 64 KiB"}, {n - 10, 0, "a byte of its last 64 KiB"},
        {n / 2, 1, "a byte between (not read)"}, {n, 0, "a byte appended"}};
    for (int e = 0; e < 4; e++) {
        size_t len = edits[e].at < n ? n : n + 1;
        unsigned char *edited = malloc(len);
        memcpy(edited, bytes, n);
        if (len > n) edited[n] = 0;
        edited[edits[e].at] ^= 0x5a;
        EXPECT(fs_write_atomic(b, edited, len, &err) == 0, "%s", err.msg);
        identity_of(b, idb);
        EXPECT((strcmp(ida, idb) == 0) == edits[e].same, "%s: '%s' and '%s'", edits[e].what, ida, idb);
        free(edited);
    }
    free(bytes);
    snprintf(a, sizeof a, "%s/identity/none", test_tmpdir());
    EXPECT(clip_identity(a, ida, &err) != 0 && strstr(err.msg, a) && strstr(err.msg, "no such clip"),
           "a missing clip: '%s'", err.msg);
}

/* The identity text of fixed bytes, pinned: tracks that earlier runs of dfer prep recorded compare against it, so any
 * change to what is hashed, or how it is written, would compute every cached track of every dataset again. Three
 * frame files (of 100 bytes, and of 70000 and 200000, longer than CLIP_IDENTITY_END_BYTES) beside a file that is no
 * frame; the value is what clip_identity computed before clip_identity_of_frames was split from it, and the text
 * clip_identity_of_frames makes of the same folder's listing. */
static void test_clip_identity_pinned(void) {
    char dir[900], path[1000], id[CLIP_IDENTITY_MAX];
    Err err;
    snprintf(dir, sizeof dir, "%s/identity_pinned", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    const char *names[4] = {"00002.jpg", "00010.png", "00001.jpg", "notes.txt"};
    const size_t sizes[4] = {70000, 200000, 100, 50};
    for (int f = 0; f < 4; f++) {
        unsigned char *bytes = malloc(sizes[f]);
        for (size_t i = 0; i < sizes[f]; i++) bytes[i] = (unsigned char)((i + 1) * 2654435761u >> (9 + f));
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        EXPECT(fs_write_atomic(path, bytes, sizes[f], &err) == 0, "%s", err.msg);
        free(bytes);
    }
    static const char *const pinned = "3 frame files of 270100 bytes, fnv1a 3cde2b0f2e023e66";
    identity_of(dir, id);
    EXPECT(!strcmp(id, pinned), "the folder's identity '%s', recorded tracks say '%s'", id, pinned);
    /* from a listing made beforehand (dfer prep's frame count's): the same text */
    char **listed = NULL;
    int count = 0;
    EXPECT(frame_folder_list(dir, &listed, &count, &err) == 0 && count == 3, "%s: %d frames", err.msg, count);
    id[0] = 0;
    EXPECT(clip_identity_of_frames(dir, listed, count, id, &err) == 0, "%s", err.msg);
    EXPECT(!strcmp(id, pinned), "the identity of the listed frames '%s', recorded tracks say '%s'", id, pinned);
    EXPECT(clip_identity_of_frames(dir, listed, 0, id, &err) != 0 && strstr(err.msg, "no frame images"),
           "no frames listed: '%s'", err.msg);
    for (int i = 0; i < count; i++) free(listed[i]);
    free(listed);
}

/* Still images (synthetic frames, contact sheets) are written as the project's other files are: no temporary file
 * left beside them, a symbolic link's target written (the link stays), a FIFO or folder at the path refused and
 * left as it was. The encoder's own PATH.tmp.PID file renamed over whatever the path held. */
static void test_still_image_writes(void) {
    char dir[900], path[1000], target[1000], fifo[1000];
    Err err;
    snprintf(dir, sizeof dir, "%s/still", test_tmpdir());
    EXPECT(fs_mkdirs(dir, &err) == 0, "%s", err.msg);
    uint8_t *rgb = pattern(16, 16, 3);
    snprintf(path, sizeof path, "%s/sheet.png", dir);
    EXPECT(image_write_png(path, rgb, 16, 16, 3, &err) == 0, "%s", err.msg);
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') {
            entries++;
            EXPECT(!strcmp(e->d_name, "sheet.png"), "%s: %s beside the picture written", dir, e->d_name);
        }
    if (d) closedir(d);
    EXPECT(entries == 1, "%s: %d files, want the picture alone", dir, entries);

    snprintf(target, sizeof target, "%s/target.jpg", dir);
    snprintf(path, sizeof path, "%s/link.jpg", dir);
    EXPECT(image_write_jpeg(target, rgb, 16, 16, 3, &err) == 0, "%s", err.msg);
    EXPECT(symlink(target, path) == 0, "symlink %s", path);
    EXPECT(image_write_jpeg(path, rgb, 16, 8, 3, &err) == 0, "%s", err.msg); /* a picture of another size */
    struct stat st;
    EXPECT(lstat(path, &st) == 0 && S_ISLNK(st.st_mode), "%s: the link was replaced by a file", path);
    ImageU8 img = {0};
    EXPECT(image_decode_file(target, &img, &err) == 0 && img.width == 16 && img.height == 8,
           "%s: the link's target is not the 16x8 picture written through the link: %s", target, err.msg);
    image_free(&img);

    snprintf(fifo, sizeof fifo, "%s/pipe.png", dir);
    EXPECT(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo);
    EXPECT(image_write_png(fifo, rgb, 16, 16, 3, &err) != 0 && strstr(err.msg, "FIFO") && strstr(err.msg, fifo),
           "writing over a FIFO: '%s'", err.msg);
    EXPECT(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "%s: the FIFO was replaced", fifo);
    free(rgb);
}

int main(void) {
    TEST_RUN(test_folder_named_like_a_frame);
    TEST_RUN(test_truncated_jpeg);
    TEST_RUN(test_clip_identity);
    TEST_RUN(test_clip_identity_pinned);
    TEST_RUN(test_still_image_writes);
    return test_summary();
}
