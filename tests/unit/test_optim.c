/* Optimisers against their PyTorch definitions written out by hand, the
 * learning-rate schedules, clipping and the non-finite guard. */
#include <math.h>
#include <string.h>

#include "train/optim.h"
#include "testlib.h"

static Ops *g_ops;

static void make_params(ParamSet *ps, int groups) {
    paramset_init(ps, g_ops, DT_F64);
    paramset_add(ps, "a.weight", 2, 2, 2, 0, 0);
    paramset_add(ps, "b.bias", 1, 3, 0, 0, groups > 1 ? 1 : 0);
    paramset_finalize(ps);
    double w[7] = {0.5, -1.0, 2.0, 0.25, 1.5, -0.5, 0.1};
    paramset_upload_f64(ps, 0, w);
    paramset_upload_f64(ps, 1, w + 4);
}

static void set_grads(ParamSet *ps, const double *g) {
    ops_upload(g_ops, ps->grads, g, 7 * sizeof(double));
}

static void get_values(ParamSet *ps, double *w) { ops_download(g_ops, w, ps->values, 7 * sizeof(double)); }

static void test_sgd_matches_pytorch(void) {
    ParamSet ps;
    make_params(&ps, 2);
    OptimizerConfig cfg;
    optimizer_config_default(&cfg, OPT_SGD);
    cfg.groups = 2, cfg.lr[0] = 0.1f, cfg.lr[1] = 0.01f, cfg.weight_decay[0] = 0.01f, cfg.weight_decay[1] = 0.1f;
    Optimizer opt;
    Err err;
    EXPECT(optimizer_create(&ps, &cfg, &opt, &err) == 0, "%s", err.msg);
    double w[7], ref[7], buf[7] = {0}, g1[7] = {1, 2, -1, 0.5, 0.3, -0.2, 0.7}, g2[7] = {-0.5, 1, 1, 1, 0, 2, -1};
    get_values(&ps, ref);
    for (int step = 0; step < 2; step++) {
        const double *g = step ? g2 : g1;
        set_grads(&ps, g);
        EXPECT(optimizer_step(&opt, 1.0f, NULL) == OPT_STEP_APPLIED, "applied");
        for (int i = 0; i < 7; i++) {
            double lr = i < 4 ? 0.1 : 0.01, wd = i < 4 ? 0.01 : 0.1;
            double d = g[i] + (float)wd * ref[i];
            buf[i] = step == 0 ? d : 0.9 * buf[i] + d;
            ref[i] -= (float)lr * buf[i];
        }
    }
    get_values(&ps, w);
    for (int i = 0; i < 7; i++) EXPECT_NEAR(w[i], ref[i], 1e-7);
    optimizer_free(&opt);
    paramset_free(&ps);
}

static void test_adamw_matches_pytorch(void) {
    ParamSet ps;
    make_params(&ps, 1);
    OptimizerConfig cfg;
    optimizer_config_default(&cfg, OPT_ADAMW);
    cfg.lr[0] = 0.01f, cfg.weight_decay[0] = 0.05f, cfg.no_decay_norms_and_embeddings = 1;
    Optimizer opt;
    Err err;
    EXPECT(optimizer_create(&ps, &cfg, &opt, &err) == 0, "%s", err.msg);
    double w[7], ref[7], m[7] = {0}, v[7] = {0}, g[7] = {1, 2, -1, 0.5, 0.3, -0.2, 0.7};
    get_values(&ps, ref);
    for (int step = 1; step <= 3; step++) {
        set_grads(&ps, g);
        optimizer_step(&opt, 0.5f, NULL);
        for (int i = 0; i < 7; i++) {
            double lr = (double)(0.01f * 0.5f), wd = i < 4 ? (double)0.05f : 0.0; /* b.bias is exempt */
            ref[i] -= lr * wd * ref[i];
            m[i] = (double)0.9f * m[i] + (1 - (double)0.9f) * g[i];
            v[i] = (double)0.999f * v[i] + (1 - (double)0.999f) * g[i] * g[i];
            double mh = m[i] / (1 - pow((double)0.9f, step)), vh = v[i] / (1 - pow((double)0.999f, step));
            ref[i] -= lr * mh / (sqrt(vh) + (double)1e-8f);
        }
    }
    get_values(&ps, w);
    for (int i = 0; i < 7; i++) EXPECT_NEAR(w[i], ref[i], 1e-9);
    optimizer_free(&opt);
    paramset_free(&ps);
}

static void test_clipping_and_nonfinite(void) {
    ParamSet ps;
    make_params(&ps, 1);
    OptimizerConfig cfg;
    optimizer_config_default(&cfg, OPT_SGD);
    cfg.momentum = 0, cfg.weight_decay[0] = 0, cfg.lr[0] = 1.0f, cfg.clip_norm = 1.0f;
    Optimizer opt;
    Err err;
    optimizer_create(&ps, &cfg, &opt, &err);
    double before[7], after[7], g[7] = {3, 4, 0, 0, 0, 0, 0}, norm;
    get_values(&ps, before);
    set_grads(&ps, g);
    optimizer_step(&opt, 1.0f, &norm);
    EXPECT_NEAR(norm, 5.0, 1e-12);
    get_values(&ps, after);
    EXPECT_NEAR(before[0] - after[0], 3.0 / (5.0 + 1e-6), 1e-7); /* clipped to norm 1 */
    g[2] = NAN;
    set_grads(&ps, g);
    EXPECT(optimizer_step(&opt, 1.0f, &norm) == OPT_STEP_SKIPPED_NONFINITE, "NaN gradient is refused");
    double again[7];
    get_values(&ps, again);
    EXPECT(memcmp(again, after, sizeof again) == 0, "parameters untouched by a refused step");
    optimizer_free(&opt);
    paramset_free(&ps);
}

static void test_schedules(void) {
    ScheduleConfig s = {.kind = SCHED_MULTISTEP, .milestones = {30, 40}, .n_milestones = 2, .gamma = 0.1f};
    EXPECT_NEAR(schedule_factor(&s, 0, 0.5), 1.0, 1e-12);
    EXPECT_NEAR(schedule_factor(&s, 29, 0.9), 1.0, 1e-12);
    EXPECT_NEAR(schedule_factor(&s, 30, 0.0), 0.1, 1e-7);
    EXPECT_NEAR(schedule_factor(&s, 45, 0.0), 0.01, 1e-8);
    ScheduleConfig c = {.kind = SCHED_COSINE, .warmup_epochs = 2, .epochs = 10, .min_factor = 0};
    EXPECT_NEAR(schedule_factor(&c, 0, 0.5), 0.25, 1e-12);
    EXPECT_NEAR(schedule_factor(&c, 2, 0.0), 1.0, 1e-12);
    EXPECT_NEAR(schedule_factor(&c, 6, 0.0), 0.5, 1e-12);
    EXPECT_NEAR(schedule_factor(&c, 9, 1.0), 0.0, 1e-12);
    /* a warm-up ramps every schedule (it was ignored by the multistep and constant ones) */
    ScheduleConfig w = {
        .kind = SCHED_MULTISTEP, .milestones = {1}, .n_milestones = 1, .gamma = 0.1f, .warmup_epochs = 2};
    EXPECT_NEAR(schedule_factor(&w, 0, 0.5), 0.25, 1e-12);
    EXPECT_NEAR(schedule_factor(&w, 1, 0.0), 0.1f * 0.5, 1e-8); /* ramp and milestone together */
    EXPECT_NEAR(schedule_factor(&w, 2, 0.0), 0.1f, 1e-8);
    ScheduleConfig k = {.kind = SCHED_CONSTANT, .warmup_epochs = 0.5f, .epochs = 3};
    EXPECT_NEAR(schedule_factor(&k, 0, 0.25), 0.5, 1e-12);
    EXPECT_NEAR(schedule_factor(&k, 0, 0.75), 1.0, 1e-12);
    k.warmup_epochs = 0;
    EXPECT_NEAR(schedule_factor(&k, 0, 0.0), 1.0, 1e-12);
}

/* AdamW's decay exemptions: layer norms, biases, class/positional embeddings; the patch embedding (a
 * convolution's weight) and linear weights decay. */
static void test_decay_exemptions(void) {
    static const struct { const char *name; int ndim, exempt; } cases[] = {
        {"image_encoder.patch_embedding.weight", 2, 0},
        {"image_encoder.layers.0.mlp.fc1.weight", 2, 0},
        {"image_encoder.class_embedding", 1, 1},
        {"image_encoder.position_embedding", 2, 1},
        {"image_encoder.temporal_embedding", 2, 1},
        {"image_encoder.layers.0.layer_norm1.weight", 1, 1},
        {"adapter.fc1.bias", 1, 1},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    ParamSet ps;
    paramset_init(&ps, g_ops, DT_F64);
    for (int i = 0; i < N; i++) paramset_add(&ps, cases[i].name, cases[i].ndim, 2, cases[i].ndim > 1 ? 2 : 0, 0, 0);
    paramset_finalize(&ps);
    double ones[4] = {1, 1, 1, 1};
    for (int i = 0; i < N; i++) paramset_upload_f64(&ps, i, ones);
    OptimizerConfig cfg;
    optimizer_config_default(&cfg, OPT_ADAMW);
    cfg.lr[0] = 0.1f, cfg.weight_decay[0] = 0.5f, cfg.no_decay_norms_and_embeddings = 1;
    Optimizer opt;
    Err err;
    EXPECT(optimizer_create(&ps, &cfg, &opt, &err) == 0, "%s", err.msg);
    ops_zero(g_ops, tensor_make(ps.grads, DT_F64, 1, (int64_t)ps.numel));
    EXPECT(optimizer_step(&opt, 1.0f, NULL) == OPT_STEP_APPLIED, "applied");
    for (int i = 0; i < N; i++) {
        double w[4];
        paramset_download_f64(&ps, i, 0, w);
        double want = cases[i].exempt ? 1.0 : 1.0 - (double)0.1f * (double)0.5f;
        EXPECT(fabs(w[0] - want) < 1e-7, "%s: %s (%.6f)", cases[i].name, cases[i].exempt ? "not decayed" : "decayed",
               w[0]);
    }
    optimizer_free(&opt);
    paramset_free(&ps);
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 1, &g_ops, &err) != 0) return 1;
    TEST_RUN(test_sgd_matches_pytorch);
    TEST_RUN(test_adamw_matches_pytorch);
    TEST_RUN(test_clipping_and_nonfinite);
    TEST_RUN(test_schedules);
    TEST_RUN(test_decay_exemptions);
    ops_destroy(g_ops);
    return test_summary();
}
