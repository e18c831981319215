/* Writes the inputs of the Pillow parity test of augmentation: a noise image
 * (in.rgb, W x H RGB24), then for N draws cycling through the DFEW, FERV39k and
 * MAFW training presets and the test-time resize: the draw (draws.txt, one line
 * each) and augment_apply's output (out.rgb, N x SIZE x SIZE RGB24).
 * tests/reference/pil_augment.py replays the draws with PIL and compares.
 * usage: augment_dump DIR W H N SIZE */
#include <stdio.h>
#include <stdlib.h>

#include "core/check.h"
#include "data/augment.h"

static FILE *open_out(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK_PTR(f);
    return f;
}

int main(int argc, char **argv) {
    if (argc != 6) return fprintf(stderr, "usage: augment_dump DIR W H N SIZE\n"), 2;
    int w = atoi(argv[2]), h = atoi(argv[3]), n = atoi(argv[4]), size = atoi(argv[5]);
    if (w < 1 || h < 1 || n < 1 || size < 1) return fprintf(stderr, "augment_dump: bad sizes\n"), 2;
    ImageU8 in;
    image_alloc(&in, w, h);
    Rng pixels;
    rng_init(&pixels, 7, (uint64_t)w, (uint64_t)h, 0);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) in.rgb[i] = (uint8_t)rng_u32(&pixels);
    FILE *f = open_out(argv[1], "in.rgb"), *out = open_out(argv[1], "out.rgb"), *draws = open_out(argv[1], "draws.txt");
    fwrite(in.rgb, 1, (size_t)w * h * 3, f);
    fclose(f);
    static const char *presets[4] = {"dfew", "ferv39k", "mafw", "mafw"};
    for (int k = 0; k < n; k++) {
        AugmentConfig cfg;
        augment_preset(presets[k % 4], size, k % 4 != 3, &cfg); /* every 4th: test time */
        Rng rng;
        rng_init(&rng, 5, 0, (uint64_t)k, 1);
        AugmentDraw d;
        augment_draw(&cfg, w, h, &rng, &d);
        ImageU8 img;
        augment_apply(&cfg, &d, &in, &img);
        fwrite(img.rgb, 1, (size_t)size * size * 3, out);
        image_free(&img);
        /* %.9g: the float brightness factor and angle round-trip exactly */
        fprintf(draws, "%d %d %d %d %d %d %d %d %d %.9g %.9g\n", cfg.train, d.crop_x, d.crop_y, d.crop_w, d.crop_h,
                d.fallback, d.scaled_w, d.scaled_h, d.flip, d.brightness, d.angle);
    }
    fclose(out);
    fclose(draws);
    image_free(&in);
    return 0;
}
