/* CPU CLIP image-encoder throughput: images/s of clip_encode_images on a batch
 * of random normalised images (decode and preprocessing excluded, as in the
 * PyTorch side of bench/embed_vs_torch.sh).
 * usage: bench_embed --weights W [--batch B] [--iters K] [--threads N] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/rng.h"
#include "core/timer.h"
#include "model/clip.h"

int main(int argc, char **argv) {
    const char *weights = NULL;
    int batch = 8, iters = 3, threads = 0;
    static const struct option opts[] = {{"weights", required_argument, 0, 'w'}, {"batch", required_argument, 0, 'b'},
                                         {"iters", required_argument, 0, 'i'},   {"threads", required_argument, 0, 't'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'w') weights = optarg;
        else if (c == 'b') batch = atoi(optarg);
        else if (c == 'i') iters = atoi(optarg);
        else if (c == 't') threads = atoi(optarg);
        else return 2;
    }
    if (!weights) {
        fprintf(stderr, "usage: bench_embed --weights W [--batch B] [--iters K] [--threads N]\n");
        return 2;
    }
    Err err;
    Ops *ops;
    ClipModel m;
    if (ops_create(BACKEND_CPU, threads, &ops, &err) != 0 || clip_model_load(ops, weights, DT_F32, &m, &err) != 0) {
        fprintf(stderr, "bench_embed: %s\n", err.msg);
        return 1;
    }
    int R = m.cfg.image_size;
    size_t n = (size_t)batch * 3 * R * R;
    float *img = malloc(n * sizeof(float)), *out = malloc((size_t)batch * m.cfg.embed_dim * sizeof(float));
    Rng r;
    rng_init(&r, 1, 2, 3, 4);
    for (size_t i = 0; i < n; i++) img[i] = (float)rng_normal(&r);
    clip_encode_images(&m, img, batch, out); /* warm-up */
    double best = 1e30;
    for (int k = 0; k < iters; k++) {
        double t0 = time_now();
        clip_encode_images(&m, img, batch, out);
        double dt = time_now() - t0;
        if (dt < best) best = dt;
    }
    printf("{\"impl\": \"dfer\", \"threads\": %d, \"batch\": %d, \"best_seconds\": %.4f, \"images_per_s\": %.3f}\n",
           ops_threads(ops), batch, best, batch / best);
    clip_model_free(&m);
    ops_destroy(ops);
    free(img);
    free(out);
    return 0;
}
