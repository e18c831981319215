/* Decoding against references: every frame of an H.264 mp4 equals, byte for
 * byte, `ffmpeg -i IN -sws_flags bilinear -f rawvideo -pix_fmt rgb24`; every
 * frame of a JPEG folder Pillow's decoding (the peers read their frames with it)
 * within the IDCTs' rounding (written by tests/decode_media.sh into
 * $DFER_DECODE_REF/media, run by the ctest fixture in tests/decode.cmake).
 * Also: exact frame counts, folder == video counts, unsorted and repeated
 * indices, bytewise name order, video_probe, in-memory decoding, and the
 * bad-input corpus (each a clear error naming the file, never a crash). */
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/video.h"
#include "testlib.h"

static char g_media[4096];

static const char *media(const char *name) {
    static char path[8192];
    snprintf(path, sizeof path, "%s/%s", g_media, name);
    return path;
}

/* The ffmpeg CLI's frames of one clip: [frames][h][w][3]. */
static uint8_t *load_reference(const char *name, size_t *len) {
    char *data = NULL;
    Err err;
    if (fs_read_all(media(name), &data, len, &err) != 0) EXPECT(0, "%s", err.msg);
    return (uint8_t *)data;
}

/* Decodes frames[indices] of a clip and compares each with frame indices[i] of the reference. */
/* tolerance 0: byte for byte (videos, against the ffmpeg CLI); > 0: JPEG frames against Pillow's decoding, each
 * byte within tolerance and the mean difference under 0.25 (the IDCTs round differently; swscale's chroma
 * upsampling, which this replaced, was off by 1.4 on average on these frames and by 84 at worst on detailed ones) */
static void compare_frames_within(const char *clip, const char *reference, int w, int h, const int *indices, int n,
                                  int tolerance) {
    size_t ref_len = 0, frame_bytes = (size_t)w * h * 3;
    uint8_t *ref = load_reference(reference, &ref_len);
    if (!ref) return;
    ClipSource *c;
    Err err;
    if (clip_source_open(media(clip), &c, &err) != 0) {
        EXPECT(0, "%s", err.msg);
        free(ref);
        return;
    }
    ImageU8 *frames = calloc((size_t)n, sizeof(ImageU8));
    int rc = clip_source_read_frames(c, indices, n, frames, &err);
    EXPECT(rc == 0, "%s", err.msg);
    int differ = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        size_t off = (size_t)indices[i] * frame_bytes;
        if (frames[i].width != w || frames[i].height != h || off + frame_bytes > ref_len) {
            EXPECT(0, "%s frame %d: %dx%d, want %dx%d within %zu reference bytes", clip, indices[i], frames[i].width,
                   frames[i].height, w, h, ref_len);
            differ++;
        } else if (tolerance == 0 && memcmp(frames[i].rgb, ref + off, frame_bytes)) {
            differ++;
        } else if (tolerance > 0) {
            int worst = 0;
            double sum = 0;
            for (size_t k = 0; k < frame_bytes; k++) {
                int d = abs((int)frames[i].rgb[k] - (int)ref[off + k]);
                worst = d > worst ? d : worst, sum += d;
            }
            if (worst > tolerance || sum / (double)frame_bytes > 0.25) {
                printf("  %s frame %d: max difference %d, mean %.3f\n", clip, indices[i], worst,
                       sum / (double)frame_bytes);
                differ++;
            }
        }
        image_free(&frames[i]);
    }
    const char *ref_name = tolerance ? "Pillow's decoding" : "the ffmpeg CLI's";
    EXPECT(differ == 0, "%s: %d of %d frames differ from %s", clip, differ, n, ref_name);
    printf("  %s: %d frames compared with %s, %d differ\n", clip, n, ref_name, differ);
    free(frames), free(ref);
    clip_source_close(c);
}

static void compare_frames(const char *clip, const char *reference, int w, int h, const int *indices, int n) {
    compare_frames_within(clip, reference, w, h, indices, n, 0);
}

static int open_count(const char *clip) {
    ClipSource *c;
    Err err;
    if (clip_source_open(media(clip), &c, &err) != 0) {
        EXPECT(0, "%s", err.msg);
        return -1;
    }
    int n = clip_source_frame_count(c);
    clip_source_close(c);
    return n;
}

static void test_video_matches_ffmpeg(void) {
    int n = open_count("t.mp4");
    EXPECT(n == 50, "t.mp4: %d frames counted, 50 encoded", n);
    int all[50];
    for (int i = 0; i < 50; i++) all[i] = i;
    compare_frames("t.mp4", "t.rgb", 224, 224, all, 50);
}

/* Width 600 (16k + 8): the conversion to RGB24 must stay inside the image (run under MALLOC_CHECK_). */
static void test_odd_width_video(void) {
    int n = open_count("w600.mp4");
    EXPECT(n == 3, "w600.mp4: %d frames counted, 3 encoded", n);
    int all[3] = {0, 1, 2};
    compare_frames("w600.mp4", "w600.rgb", 600, 480, all, 3);
}

/* The mean absolute difference of a clip's frames [n][h][w][3] from a reference file's, or -1. */
static double mean_difference(const char *clip, const char *reference, int w, int h, int n) {
    size_t ref_len = 0, frame_bytes = (size_t)w * h * 3;
    uint8_t *ref = load_reference(reference, &ref_len);
    ClipSource *c;
    Err err;
    if (!ref || ref_len != (size_t)n * frame_bytes || clip_source_open(media(clip), &c, &err) != 0) {
        EXPECT(0, "%s against %s: %zu reference bytes for %d frames of %dx%d, or it did not open", clip, reference,
               ref_len, n, w, h);
        free(ref);
        return -1;
    }
    ImageU8 frame;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (clip_source_read_frames(c, &i, 1, &frame, &err) != 0 || frame.width != w || frame.height != h) {
            EXPECT(0, "%s frame %d: %s", clip, i, err.msg);
            sum = -1;
            break;
        }
        for (size_t k = 0; k < frame_bytes; k++) sum += abs((int)frame.rgb[k] - (int)ref[(size_t)i * frame_bytes + k]);
        image_free(&frame);
    }
    clip_source_close(c);
    free(ref);
    return sum < 0 ? -1 : sum / ((double)n * (double)frame_bytes);
}

/* The colour matrix: every video is converted with BT.601's, as OpenCV's VideoCapture and PyAV's to_ndarray do
 * and as frames extracted to JPEG by the ffmpeg CLI read back with Pillow (the peers' pipelines: their numbers
 * were made from such frames), even where the stream says BT.709. The CLI's own RGB24 honours the tag: the file
 * is one where the tag matters (5.5 levels on average here). */
static void test_bt709_video_converted_as_bt601(void) {
    int all[3] = {0, 1, 2};
    compare_frames("bt709.mp4", "bt709_as_bt601.rgb", 320, 240, all, 3);
    double tagged = mean_difference("bt709.mp4", "bt709_as_tagged.rgb", 320, 240, 3);
    EXPECT(tagged > 2, "bt709.mp4: %.3f levels from the CLI's BT.709 decoding on average: the tag does not matter in "
           "the test file", tagged);
    printf("  bt709.mp4: %.3f levels on average from the BT.709 conversion\n", tagged);
}

static void test_jpeg_folder_matches_pillow(void) {
    int n = open_count("jpgs");
    EXPECT(n == 10, "jpgs: %d frames counted, 10 written", n);
    int all[10];
    for (int i = 0; i < 10; i++) all[i] = i;
    compare_frames_within("jpgs", "jpgs.rgb", 160, 120, all, 10, 3);
    /* a detailed 4:2:0 JPEG Pillow wrote: where the chroma upsampling shows (swscale's: 7.7 off on average) */
    const int first[1] = {0};
    compare_frames_within("detail", "detail.rgb", 224, 224, first, 1, 3);
    int video = open_count("jpgs.mp4");
    EXPECT(video == n, "the same frames as a folder (%d) and as a video (%d)", n, video);
}

static void test_unsorted_and_repeated_indices(void) {
    const int video_idx[] = {49, 7, 2, 2, 0, 7, 49, 25};
    compare_frames("t.mp4", "t.rgb", 224, 224, video_idx, 8);
    const int folder_idx[] = {9, 3, 3, 0, 9};
    compare_frames_within("jpgs", "jpgs.rgb", 160, 120, folder_idx, 5, 3);
}

/* sorted/ holds B.jpg (= img_003), a.jpg (= img_001), b.jpg (= img_002) and a
 * .txt: bytewise order is B, a, b, so frames 0..2 are reference frames 2, 0, 1. */
static void test_bytewise_name_order(void) {
    int n = open_count("sorted");
    EXPECT(n == 3, "sorted/: %d frames counted, 3 images (the .txt is not a frame)", n);
    size_t frame_bytes = 160 * 120 * 3;
    ClipSource *c, *jpgs;
    Err err;
    if (clip_source_open(media("sorted"), &c, &err) != 0) {
        EXPECT(0, "sorted/: cannot open: %s", err.msg);
        return;
    }
    if (clip_source_open(media("jpgs"), &jpgs, &err) != 0) {
        EXPECT(0, "jpgs/: cannot open: %s", err.msg);
        clip_source_close(c);
        return;
    }
    /* the same files decoded from jpgs/ in their own order: frame i of sorted/ is frame want[i] of jpgs/ */
    const int idx[3] = {0, 1, 2}, want[3] = {2, 0, 1};
    ImageU8 frames[3], ref[3];
    EXPECT(clip_source_read_frames(c, idx, 3, frames, &err) == 0, "%s", err.msg);
    EXPECT(clip_source_read_frames(jpgs, want, 3, ref, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 3; i++) {
        EXPECT(!memcmp(frames[i].rgb, ref[i].rgb, frame_bytes), "sorted/ frame %d is not jpgs/ frame %d", i, want[i]);
        image_free(&frames[i]), image_free(&ref[i]);
    }
    clip_source_close(c);
    clip_source_close(jpgs);
}

static void test_probe_and_memory(void) {
    int w = 0, h = 0, frames = 0;
    double fps = 0;
    Err err;
    EXPECT(video_probe(media("t.mp4"), &w, &h, &fps, &frames, &err) == 0, "%s", err.msg);
    EXPECT(w == 224 && h == 224 && frames == 50, "probe: %dx%d, %d frames", w, h, frames);
    EXPECT_NEAR(fps, 25.0, 1e-9);
    EXPECT(video_probe(media("bad/empty"), &w, &h, &fps, &frames, &err) != 0 && strstr(err.msg, "bad/empty"),
           "probing a folder: '%s'", err.msg);
    /* the same JPEG from memory and from its file */
    char *bytes;
    size_t len;
    ImageU8 from_file, from_memory;
    EXPECT(fs_read_all(media("jpgs/img_004.jpg"), &bytes, &len, &err) == 0, "%s", err.msg);
    EXPECT(image_decode_file(media("jpgs/img_004.jpg"), &from_file, &err) == 0, "%s", err.msg);
    EXPECT(image_decode_memory((const uint8_t *)bytes, len, &from_memory, &err) == 0, "%s", err.msg);
    EXPECT(from_file.width == 160 && from_memory.width == 160 && from_memory.height == 120 &&
               !memcmp(from_file.rgb, from_memory.rgb, 160 * 120 * 3),
           "a JPEG decoded from memory differs from the same file decoded from disk");
    /* every prefix of a JPEG either decodes or fails cleanly */
    int failed = 0;
    for (size_t cut = 0; cut < len; cut += len / 17 + 1) {
        ImageU8 part;
        if (image_decode_memory((const uint8_t *)bytes, cut, &part, &err) == 0) image_free(&part);
        else failed++;
    }
    EXPECT(failed > 0, "no truncated JPEG prefix was rejected");
    /* cut by 1 to 40 bytes the JPEG is refused from memory and from a file, naming it: by FFmpeg's AV_EF_EXPLODE
     * where the cut reaches into its coded data, by the end marker's absence where it does not (cut inside the last
     * rows' bytes FFmpeg made them up and returned the picture whole); bytes after its end are allowed */
    char cut_path[700];
    snprintf(cut_path, sizeof cut_path, "%s/cut.jpg", test_tmpdir());
    static const size_t cuts[] = {1, 2, 21, 40};
    for (int i = 0; i < 4; i++) {
        size_t cut = cuts[i];
        ImageU8 part;
        EXPECT(image_decode_memory((const uint8_t *)bytes, len - cut, &part, &err) != 0 &&
                   (cut > 2 || strstr(err.msg, "a truncated JPEG")),
               "a JPEG cut by %zu bytes decoded from memory", cut);
        EXPECT(fs_write_atomic(cut_path, bytes, len - cut, &err) == 0, "%s", err.msg);
        EXPECT(image_decode_file(cut_path, &part, &err) != 0 && strstr(err.msg, cut_path) &&
                   (cut > 2 || strstr(err.msg, "a truncated JPEG")),
               "a JPEG file cut by %zu bytes: %s", cut, err.msg);
    }
    /* 100 KiB after its end (a motion photo's video, padding): whole */
    size_t extra = 100 << 10;
    char *padded = xmalloc(len + extra + 6);
    memcpy(padded, bytes, len), memset(padded + len, 0, extra);
    ImageU8 pad = {0};
    EXPECT(image_decode_memory((const uint8_t *)padded, len + extra, &pad, &err) == 0 && pad.width == 160,
           "a JPEG with 100 KiB after its end: %s", err.msg);
    if (pad.rgb) image_free(&pad);
    /* an FF D9 in a segment before the scan (an APP1 of 4 bytes: FF D9 00 00, as a thumbnail holds) is not the end:
     * the JPEG cut by 2 bytes is refused */
    static const unsigned char app1[6] = {0xff, 0xe1, 0x00, 0x06, 0xff, 0xd9};
    memcpy(padded, bytes, 2), memcpy(padded + 2, app1, 6), memset(padded + 8, 0, 2);
    memcpy(padded + 10, bytes + 2, len - 2);
    EXPECT(image_decode_memory((const uint8_t *)padded, len + 8, &pad, &err) == 0 && pad.width == 160,
           "the JPEG with an APP1 holding FF D9, whole: %s", err.msg);
    if (pad.rgb) image_free(&pad);
    EXPECT(image_decode_memory((const uint8_t *)padded, len + 8 - 2, &pad, &err) != 0 &&
               strstr(err.msg, "a truncated JPEG"),
           "the JPEG with an APP1 holding FF D9, cut by 2 bytes: decoded");
    free(padded);
    free(bytes), image_free(&from_file), image_free(&from_memory);
}

/* Each must fail with a message naming the clip (or frame file), and not crash. */
static void expect_clip_error(const char *clip, const char *named, int at_read) {
    ClipSource *c = NULL;
    Err err = {{0}};
    int rc = clip_source_open(media(clip), &c, &err);
    if (at_read) {
        EXPECT(rc == 0, "%s: should open (%s)", clip, err.msg);
        if (rc != 0) return;
        int n = clip_source_frame_count(c), idx[2] = {0, n - 1};
        ImageU8 frames[2];
        rc = clip_source_read_frames(c, idx, 2, frames, &err);
        clip_source_close(c);
    }
    EXPECT(rc != 0, "%s: accepted", clip);
    EXPECT(strstr(err.msg, named) != NULL, "%s: the error '%s' does not name '%s'", clip, err.msg, named);
    printf("  %-32s -> %s\n", clip, err.msg);
}

static void test_bad_inputs(void) {
    expect_clip_error("bad/missing_folder", "bad/missing_folder", 0);
    expect_clip_error("bad/empty", "bad/empty", 0);
    expect_clip_error("bad/no_images", "bad/no_images", 0);
    expect_clip_error("bad/truncated.mp4", "bad/truncated.mp4", 0);
    expect_clip_error("bad/text.mp4", "bad/text.mp4", 0);
    expect_clip_error("bad/clip.txt", "bad/clip.txt", 0);
    expect_clip_error("bad/zero_jpg", "img_002.jpg", 1);
    expect_clip_error("bad/text_jpg", "img_001.jpg", 1);
    Err err;
    ImageU8 img;
    EXPECT(image_decode_file(media("bad/zero_jpg/img_002.jpg"), &img, &err) != 0 && strstr(err.msg, "img_002.jpg"),
           "zero-byte jpg: '%s'", err.msg);
    EXPECT(image_decode_file(media("bad/nothing.png"), &img, &err) != 0 && strstr(err.msg, "nothing.png"),
           "missing file: '%s'", err.msg);
}

/* A truncated video with its index first: the decodable start is counted and
 * read; the first index past it is an error naming the clip. */
static void test_truncated_video(void) {
    ClipSource *c;
    Err err;
    if (clip_source_open(media("bad/truncated_faststart.mp4"), &c, &err) != 0) {
        EXPECT(0, "%s", err.msg);
        return;
    }
    int n = clip_source_frame_count(c);
    EXPECT(n > 0 && n < 50, "truncated video: %d frames counted, want 1..49", n);
    printf("  truncated_faststart.mp4: %d of 50 frames decodable\n", n);
    int last = n - 1, past = n;
    ImageU8 img;
    EXPECT(clip_source_read_frames(c, &last, 1, &img, &err) == 0, "%s", err.msg);
    if (img.rgb) image_free(&img);
    EXPECT(clip_source_read_frames(c, &past, 1, &img, &err) != 0 && strstr(err.msg, "truncated_faststart.mp4"),
           "index %d past the decodable frames: '%s'", past, err.msg);
    clip_source_close(c);
    /* the decodable part is what the ffmpeg CLI decodes of the same file */
    size_t ref_len = 0;
    free(load_reference("truncated_faststart.rgb", &ref_len));
    EXPECT(ref_len == (size_t)n * 224 * 224 * 3, "the ffmpeg CLI decodes %zu frames of the truncated video, dfer %d",
           ref_len / (224 * 224 * 3), n);
    int *idx = malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) idx[i] = i;
    compare_frames("bad/truncated_faststart.mp4", "truncated_faststart.rgb", 224, 224, idx, n);
    free(idx);
}

int main(void) {
    const char *ref = getenv("DFER_DECODE_REF");
    if (!ref) {
        fprintf(stderr, "DFER_DECODE_REF is not set: run through ctest (the decode_reference_files fixture)\n");
        return 1;
    }
    snprintf(g_media, sizeof g_media, "%s/media", ref);
    TEST_RUN(test_video_matches_ffmpeg);
    TEST_RUN(test_odd_width_video);
    TEST_RUN(test_bt709_video_converted_as_bt601);
    TEST_RUN(test_jpeg_folder_matches_pillow);
    TEST_RUN(test_unsorted_and_repeated_indices);
    TEST_RUN(test_bytewise_name_order);
    TEST_RUN(test_probe_and_memory);
    TEST_RUN(test_bad_inputs);
    TEST_RUN(test_truncated_video);
    return test_summary();
}
