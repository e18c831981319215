/* One training step on the CPU backend: forward, backward (weight gradients
 * only for trainable tensors) and the optimiser update, on a fixed random batch
 * of a model configured as `dfer train --set` would. Prints one JSON line: the
 * best and median step time over ITERS steps, clips/s, peak resident memory of
 * the process and its growth during the steps (activations, gradients, state).
 * usage: bench_train_step CLASSES BATCH ITERS section.key=value... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/rng.h"
#include "core/timer.h"
#include "train/job_model.h"

static double peak_rss_mib(void) {
    struct rusage u;
    CHECK_SYS(getrusage(RUSAGE_SELF, &u));
    return (double)u.ru_maxrss / 1024.0; /* Linux: KiB */
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 4) return fprintf(stderr, "usage: bench_train_step CLASSES BATCH ITERS section.key=value...\n"), 2;
    int classes = atoi(argv[1]), batch = atoi(argv[2]), iters = atoi(argv[3]);
    if (classes < 2 || batch < 1 || iters < 1)
        return fprintf(stderr, "bench_train_step: bad CLASSES, BATCH or ITERS\n"), 2;
    Err err;
    Config cfg;
    config_defaults(&cfg);
    for (int i = 4; i < argc; i++)
        if (config_set(&cfg, argv[i], &err) != 0) return fprintf(stderr, "bench_train_step: %s\n", err.msg), 2;
    JobModel m;
    if (job_model_create(&cfg, classes, &m, &err) != 0) return fprintf(stderr, "bench_train_step: %s\n", err.msg), 1;
    OptimizerConfig oc;
    job_model_optimizer_config(&cfg, &m, &oc);
    Optimizer opt;
    CHECK(optimizer_create(m.params, &oc, &opt, &err) == 0, "%s", err.msg);
    size_t nvals = (size_t)batch * cfg.frames * 3 * m.image_size * m.image_size;
    float *frames = xmalloc(nvals * sizeof(float));
    int32_t *labels = xmalloc((size_t)batch * sizeof(int32_t));
    Rng r;
    rng_init(&r, 5, 0, 0, 0);
    for (size_t k = 0; k < nvals; k++)
        frames[k] = (float)(job_model_normalise_clip(&m, &cfg) ? rng_normal(&r) : rng_uniform(&r));
    for (int b = 0; b < batch; b++) labels[b] = (int32_t)rng_int(&r, classes);
    double before = peak_rss_mib();
    double *times = xmalloc((size_t)(iters + 1) * sizeof(double));
    for (int k = 0; k <= iters; k++) { /* step 0 warms up (allocates activations) */
        double t0 = time_now();
        paramset_zero_grads(m.params);
        JobInputs in = {.frames = frames};
        job_model_step(&m, &in, labels, batch, 1, 1.0f / (float)batch, NULL);
        double norm;
        optimizer_step(&opt, 1.0f, &norm);
        times[k] = time_now() - t0;
    }
    qsort(times + 1, (size_t)iters, sizeof(double), cmp_double);
    double best = times[1], median = times[1 + iters / 2];
    printf("{\"side\": \"dfer\", \"method\": \"%s\", \"batch\": %d, \"frames\": %d, \"trainable\": %zu, "
           "\"best_step_s\": %.6f, \"median_step_s\": %.6f, \"clips_per_s\": %.4f, \"peak_rss_mib\": %.1f, "
           "\"step_rss_growth_mib\": %.1f}\n",
           m.method, batch, cfg.frames, m.params->numel, best, median, batch / median, peak_rss_mib(),
           peak_rss_mib() - before);
    free(times), free(frames), free(labels);
    optimizer_free(&opt);
    job_model_free(&m);
    return 0;
}
