/* Data-loader frame throughput on one thread: JPEG decode (FFmpeg) + Pillow-exact
 * bilinear resize to 224x224, the per-frame work of DFER-CLIP's test-time loader.
 * Also reports decode alone and resize alone. Without --dir, 200 256x256 JPEG
 * frames are made with the ffmpeg CLI in a temporary folder (removed after).
 * usage: bench_decode [--dir FOLDER_OF_JPEGS] [--seconds S] [--size N] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timer.h"
#include "data/resample.h"
#include "data/video.h"

typedef struct Rates {
    double decode, resize, both; /* frames per second */
} Rates;

/* Runs passes over all frames until at least `seconds` have elapsed; best pass wins. */
static int measure(ClipSource *clip, int frames, int size, double seconds, Rates *r) {
    int *idx = malloc((size_t)frames * sizeof(int));
    ImageU8 *img = calloc((size_t)frames, sizeof(ImageU8));
    for (int i = 0; i < frames; i++) idx[i] = i;
    Err err;
    double t_dec = 1e30, t_res = 1e30, spent = 0;
    while (spent < seconds) {
        double t0 = time_now();
        if (clip_source_read_frames(clip, idx, frames, img, &err) != 0) {
            fprintf(stderr, "bench_decode: %s\n", err.msg);
            return -1;
        }
        double t1 = time_now();
        for (int i = 0; i < frames; i++) {
            ImageU8 out;
            image_resize(&img[i], size, size, RESAMPLE_BILINEAR, &out);
            image_free(&out);
        }
        double t2 = time_now();
        for (int i = 0; i < frames; i++) image_free(&img[i]);
        if (t1 - t0 < t_dec) t_dec = t1 - t0;
        if (t2 - t1 < t_res) t_res = t2 - t1;
        spent += time_now() - t0;
    }
    r->decode = frames / t_dec;
    r->resize = frames / t_res;
    r->both = frames / (t_dec + t_res);
    free(idx), free(img);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    double seconds = 3;
    int size = 224;
    static const struct option opts[] = {
        {"dir", required_argument, 0, 'd'}, {"seconds", required_argument, 0, 's'}, {"size", required_argument, 0, 'n'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd') dir = optarg;
        else if (c == 's') seconds = atof(optarg);
        else if (c == 'n') size = atoi(optarg);
        else {
            fprintf(stderr, "usage: bench_decode [--dir FOLDER_OF_JPEGS] [--seconds S] [--size N]\n");
            return 2;
        }
    }
    char tmp[] = "/tmp/dfer-bench-decode-XXXXXX", cmd[512];
    if (!dir) {
        if (!mkdtemp(tmp)) return perror("mkdtemp"), 1;
        snprintf(cmd, sizeof cmd,
                 "ffmpeg -v error -nostdin -f lavfi -i testsrc2=size=256x256:rate=25 -t 8 -q:v 3 %s/%%05d.jpg", tmp);
        if (system(cmd) != 0) return fprintf(stderr, "bench_decode: ffmpeg failed: %s\n", cmd), 1;
        dir = tmp;
    }
    ClipSource *clip;
    Err err;
    if (clip_source_open(dir, &clip, &err) != 0) return fprintf(stderr, "bench_decode: %s\n", err.msg), 1;
    int frames = clip_source_frame_count(clip);
    ImageU8 first;
    int idx0 = 0;
    if (clip_source_read_frames(clip, &idx0, 1, &first, &err) != 0)
        return fprintf(stderr, "bench_decode: %s\n", err.msg), 1;
    Rates r;
    int rc = measure(clip, frames, size, seconds, &r);
    if (rc == 0)
        printf("{\"frames\": %d, \"input\": \"%dx%d jpeg\", \"output\": \"%dx%d bilinear\", \"threads\": 1, "
               "\"decode_fps\": %.1f, \"resize_fps\": %.1f, \"decode_resize_fps\": %.1f}\n",
               frames, first.width, first.height, size, size, r.decode, r.resize, r.both);
    image_free(&first);
    clip_source_close(clip);
    if (dir == tmp) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0) fprintf(stderr, "bench_decode: could not remove %s\n", tmp);
    }
    return rc ? 1 : 0;
}
