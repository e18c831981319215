/* Compares dfer's resampling with Pillow's byte for byte on the cases written
 * by tests/reference/pil_resample.py. usage: resample_check DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/resample.h"

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.txt", argv[1]);
    FILE *f = fopen(path, "r");
    if (!f) return perror(path), 1;
    int id, filter, ow, oh, n = 0, bad = 0;
    while (fscanf(f, "%d %d %d %d", &id, &filter, &ow, &oh) == 4) {
        ImageU8 in, want, got;
        Err err;
        snprintf(path, sizeof path, "%s/in_%d.png", argv[1], id);
        if (image_decode_file(path, &in, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
        snprintf(path, sizeof path, "%s/out_%d_%d.png", argv[1], id, filter);
        if (image_decode_file(path, &want, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
        image_resize(&in, ow, oh, filter ? RESAMPLE_BICUBIC : RESAMPLE_BILINEAR, &got);
        size_t bytes = (size_t)ow * oh * 3, diff = 0;
        int maxd = 0;
        for (size_t i = 0; i < bytes; i++) {
            int d = abs((int)got.rgb[i] - (int)want.rgb[i]);
            diff += d != 0;
            if (d > maxd) maxd = d;
        }
        printf("%dx%d -> %dx%d %s: %zu of %zu bytes differ (max %d)\n", in.width, in.height, ow, oh,
               filter ? "bicubic " : "bilinear", diff, bytes, maxd);
        bad += diff != 0;
        n++;
        image_free(&in), image_free(&want), image_free(&got);
    }
    fclose(f);
    printf("%d cases, %d differ from Pillow\n", n, bad);
    return bad || n == 0 ? 1 : 0;
}
