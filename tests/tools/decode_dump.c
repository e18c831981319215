/* Writes every frame of a clip (video file or frame folder) as raw RGB24, for
 * the byte comparison with the ffmpeg command line. usage: decode_dump CLIP OUT.rgb */
#include <stdio.h>
#include <stdlib.h>

#include "data/video.h"

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    ClipSource *c;
    Err err;
    if (clip_source_open(argv[1], &c, &err) != 0) return fprintf(stderr, "%s\n", err.msg), 1;
    int n = clip_source_frame_count(c);
    int *idx = malloc((size_t)n * sizeof(int));
    ImageU8 *frames = calloc((size_t)n, sizeof(ImageU8));
    for (int i = 0; i < n; i++) idx[i] = i;
    if (clip_source_read_frames(c, idx, n, frames, &err) != 0) return fprintf(stderr, "%s\n", err.msg), 1;
    FILE *f = fopen(argv[2], "wb");
    for (int i = 0; i < n; i++) fwrite(frames[i].rgb, 1, (size_t)frames[i].width * frames[i].height * 3, f), image_free(&frames[i]);
    fclose(f);
    clip_source_close(c);
    free(idx), free(frames);
    return 0;
}
