/* CPU backend forward ops against naive double-precision loops written here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/ops.h"
#include "testlib.h"

static Ops *g_ops;

static float *randn(int64_t n, uint64_t key) {
    Rng r;
    rng_init(&r, 7, key, 0, 0);
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = (float)rng_normal(&r);
    return v;
}

static Tensor t2(float *d, int64_t a, int64_t b) { return tensor_make(d, DT_F32, 2, a, b); }
static Tensor t3(float *d, int64_t a, int64_t b, int64_t c) { return tensor_make(d, DT_F32, 3, a, b, c); }
static Tensor none(void) { return tensor_make(NULL, DT_F32, 1, (int64_t)0); }

static double max_abs_diff(const float *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static void test_linear(void) {
    int64_t n = 5, in = 7, out = 3;
    float *x = randn(n * in, 1), *w = randn(out * in, 2), *b = randn(out, 3), *y = malloc(n * out * 4);
    Tensor bt = tensor_make(b, DT_F32, 1, out);
    op_linear(g_ops, t2(y, n, out), t2(x, n, in), t2(w, out, in), &bt);
    double ref[15];
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = b[o];
            for (int64_t i = 0; i < in; i++) s += (double)x[r * in + i] * w[o * in + i];
            ref[r * out + o] = s;
        }
    EXPECT(max_abs_diff(y, ref, n * out) < 1e-5, "linear differs by %g", max_abs_diff(y, ref, n * out));
    free(x), free(w), free(b), free(y);
}

static void test_layernorm(void) {
    int64_t n = 4, d = 33;
    float *x = randn(n * d, 4), *g = randn(d, 5), *b = randn(d, 6), *y = malloc(n * d * 4), mean[4], rstd[4];
    op_layernorm(g_ops, t2(y, n, d), tensor_make(mean, DT_F32, 1, n), tensor_make(rstd, DT_F32, 1, n), t2(x, n, d),
                 tensor_make(g, DT_F32, 1, d), tensor_make(b, DT_F32, 1, d), 1e-5f);
    double ref[4 * 33];
    for (int64_t r = 0; r < n; r++) {
        double mu = 0, var = 0;
        for (int64_t j = 0; j < d; j++) mu += x[r * d + j];
        mu /= d;
        for (int64_t j = 0; j < d; j++) var += (x[r * d + j] - mu) * (x[r * d + j] - mu);
        var /= d;
        for (int64_t j = 0; j < d; j++) ref[r * d + j] = (x[r * d + j] - mu) / sqrt(var + 1e-5) * g[j] + b[j];
        EXPECT_NEAR(mean[r], mu, 1e-6);
        EXPECT_NEAR(rstd[r], 1 / sqrt(var + 1e-5), 1e-5);
    }
    EXPECT(max_abs_diff(y, ref, n * d) < 1e-5, "layernorm differs by %g", max_abs_diff(y, ref, n * d));
    free(x), free(g), free(b), free(y);
}

static void check_attention(int causal) {
    int64_t B = 2, S = 5, H = 3, Dh = 4, W = H * Dh;
    float *qkv = randn(B * S * 3 * W, 7 + causal), *out = malloc(B * S * W * 4);
    size_t saved_bytes = op_attention_saved_bytes(g_ops, B, S, (int)H);
    float *saved = malloc(saved_bytes);
    op_attention(g_ops, t3(out, B, S, W), tensor_make(saved, DT_F32, 1, (int64_t)(saved_bytes / sizeof(float))),
                 t3(qkv, B, S, 3 * W), (int)H, causal);
    double ref[2 * 5 * 12];
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < S; i++) {
                double p[5], mx = -1e300, z = 0;
                for (int64_t j = 0; j < S; j++) {
                    double s = 0;
                    for (int64_t t = 0; t < Dh; t++)
                        s += (double)qkv[(b * S + i) * 3 * W + h * Dh + t] * qkv[(b * S + j) * 3 * W + W + h * Dh + t];
                    p[j] = (causal && j > i) ? -INFINITY : s / sqrt((double)Dh);
                    mx = fmax(mx, p[j]);
                }
                for (int64_t j = 0; j < S; j++) z += (p[j] = exp(p[j] - mx));
                for (int64_t t = 0; t < Dh; t++) {
                    double o = 0;
                    for (int64_t j = 0; j < S; j++) o += p[j] / z * qkv[(b * S + j) * 3 * W + 2 * W + h * Dh + t];
                    ref[(b * S + i) * W + h * Dh + t] = o;
                }
                for (int64_t j = 0; j < S; j++)
                    EXPECT_NEAR(saved[((b * H + h) * S + i) * S + j], p[j] / z, 1e-6);
            }
    EXPECT(max_abs_diff(out, ref, B * S * W) < 1e-5, "attention (causal=%d) differs by %g", causal,
           max_abs_diff(out, ref, B * S * W));
    free(qkv), free(out), free(saved);
}

static void test_attention(void) {
    check_attention(0);
    check_attention(1);
}

static void test_activations(void) {
    float x[5] = {-3.0f, -0.5f, 0.0f, 0.7f, 2.5f}, y[5];
    Tensor tx = tensor_make(x, DT_F32, 1, (int64_t)5), ty = tensor_make(y, DT_F32, 1, (int64_t)5);
    op_activation(g_ops, ACT_QUICKGELU, ty, tx);
    for (int i = 0; i < 5; i++) EXPECT_NEAR(y[i], x[i] / (1 + exp(-1.702 * x[i])), 1e-6);
    op_activation(g_ops, ACT_GELU_ERF, ty, tx);
    for (int i = 0; i < 5; i++) EXPECT_NEAR(y[i], 0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0))), 1e-6);
    op_activation(g_ops, ACT_GELU_TANH, ty, tx);
    for (int i = 0; i < 5; i++)
        EXPECT_NEAR(y[i], 0.5 * x[i] * (1 + tanh(sqrt(2 / M_PI) * (x[i] + 0.044715 * pow(x[i], 3)))), 1e-6);
}

/* The activations' gradients where the input is huge (a diverging run, before the non-finite guard skips its step):
 * 1 or 0, the saturated slopes, never NaN. The tanh-GELU's was 0 * inf = NaN past |x| ~1.8e19, where x * x overflows
 * in F32. */
static void test_activation_gradients_saturate(void) {
    float x[6] = {1e20f, -1e20f, 3e19f, -3e19f, 3e38f, -3e38f}, dy[6] = {1, 1, 1, 1, 1, 1}, dx[6];
    Tensor tx = tensor_make(x, DT_F32, 1, (int64_t)6), tdy = tensor_make(dy, DT_F32, 1, (int64_t)6),
           tdx = tensor_make(dx, DT_F32, 1, (int64_t)6);
    const char *names[3] = {"quickgelu", "gelu_erf", "gelu_tanh"};
    const Activation acts[3] = {ACT_QUICKGELU, ACT_GELU_ERF, ACT_GELU_TANH};
    for (int a = 0; a < 3; a++) {
        op_activation_backward(g_ops, acts[a], tdx, tdy, tx);
        for (int i = 0; i < 6; i++)
            EXPECT(dx[i] == (x[i] > 0 ? 1.0f : 0.0f), "%s'(%g) = %g, expected %g", names[a], x[i], dx[i],
                   x[i] > 0 ? 1.0 : 0.0);
    }
}

static void test_im2col_matches_convolution(void) {
    /* A conv with kernel = stride = P equals im2col + GEMM with the weight viewed [W, 3*P*P]. */
    int64_t B = 2, R = 8, P = 4, g = 2, W = 3;
    float *img = randn(B * 3 * R * R, 9), *wt = randn(W * 3 * P * P, 10);
    float *patches = malloc(B * g * g * 3 * P * P * 4), *y = malloc(B * g * g * W * 4);
    op_im2col_patches(g_ops, t2(patches, B * g * g, 3 * P * P), tensor_make(img, DT_F32, 4, B, (int64_t)3, R, R),
                      (int)P);
    op_linear(g_ops, t2(y, B * g * g, W), t2(patches, B * g * g, 3 * P * P), t2(wt, W, 3 * P * P), NULL);
    double ref[2 * 4 * 3];
    for (int64_t b = 0; b < B; b++)
        for (int64_t gy = 0; gy < g; gy++)
            for (int64_t gx = 0; gx < g; gx++)
                for (int64_t o = 0; o < W; o++) {
                    double s = 0;
                    for (int64_t c = 0; c < 3; c++)
                        for (int64_t ky = 0; ky < P; ky++)
                            for (int64_t kx = 0; kx < P; kx++)
                                s += (double)img[((b * 3 + c) * R + gy * P + ky) * R + gx * P + kx] *
                                     wt[((o * 3 + c) * P + ky) * P + kx];
                    ref[(b * g * g + gy * g + gx) * W + o] = s;
                }
    EXPECT(max_abs_diff(y, ref, B * g * g * W) < 1e-5, "patch conv differs");
    free(img), free(wt), free(patches), free(y);
}

static void test_layout_ops(void) {
    /* prepend_token, add_broadcast, permute, mean, gather, embedding, l2norm */
    float x[2 * 2 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, tok[3] = {-1, -2, -3}, y[2 * 3 * 3];
    op_prepend_token(g_ops, t3(y, 2, 3, 3), t3(x, 2, 2, 3), tensor_make(tok, DT_F32, 1, (int64_t)3));
    EXPECT(y[0] == -1 && y[3] == 1 && y[9] == -1 && y[12] == 7 && y[17] == 12, "prepend_token layout");
    float pos[3 * 3] = {0, 0, 0, 1, 1, 1, 2, 2, 2};
    op_add_broadcast(g_ops, t3(y, 2, 3, 3), t2(pos, 3, 3));
    EXPECT(y[3] == 2 && y[17] == 14 && y[9] == -1, "add_broadcast");
    float p4[2 * 2 * 3 * 1], q4[2 * 3 * 2 * 1];
    for (int i = 0; i < 12; i++) p4[i] = (float)i;
    op_permute_0213(g_ops, tensor_make(q4, DT_F32, 4, (int64_t)2, (int64_t)3, (int64_t)2, (int64_t)1),
                    tensor_make(p4, DT_F32, 4, (int64_t)2, (int64_t)2, (int64_t)3, (int64_t)1));
    /* q4[a, c, b] = p4[a, b, c] */
    EXPECT(q4[1] == p4[3] && q4[2] == p4[1] && q4[7] == p4[9], "permute_0213");
    float m[2 * 3];
    op_mean_dim1(g_ops, t2(m, 2, 3), t3(x, 2, 2, 3));
    EXPECT(m[0] == 2.5f && m[5] == 10.5f, "mean_dim1");
    int32_t idx[2] = {3, 0};
    float g[2 * 3];
    op_gather_rows(g_ops, t2(g, 2, 3), t2(x, 4, 3), tensor_make(idx, DT_I32, 1, (int64_t)2));
    EXPECT(g[0] == 10 && g[3] == 1, "gather_rows");
    op_embedding(g_ops, t2(g, 2, 3), t2(x, 4, 3), tensor_make(idx, DT_I32, 1, (int64_t)2));
    EXPECT(g[2] == 12 && g[5] == 3, "embedding");
    float n[2 * 3];
    op_l2_normalize(g_ops, t2(n, 2, 3), t2(x, 2, 3), 1e-12f);
    EXPECT_NEAR(n[0] * n[0] + n[1] * n[1] + n[2] * n[2], 1.0, 1e-6);
    EXPECT_NEAR(n[1] / n[0], 2.0, 1e-6);
}

int main(void) {
    Err err;
    if (ops_create(BACKEND_CPU, 2, &g_ops, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    TEST_RUN(test_linear);
    TEST_RUN(test_layernorm);
    TEST_RUN(test_attention);
    TEST_RUN(test_activations);
    TEST_RUN(test_activation_gradients_saturate);
    TEST_RUN(test_im2col_matches_convolution);
    TEST_RUN(test_layout_ops);
    (void)none;
    ops_destroy(g_ops);
    return test_summary();
}
