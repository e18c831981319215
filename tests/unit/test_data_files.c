/* Frame files as a user's dataset has them: what counts as a frame of a
 * folder clip (a folder named like a frame does not), and damaged image files
 * (a truncated JPEG is an error naming it, as Pillow's default refuses it,
 * never half a picture). Images are written with the project's encoders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
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

int main(void) {
    TEST_RUN(test_folder_named_like_a_frame);
    TEST_RUN(test_truncated_jpeg);
    return test_summary();
}
