// Test driver of the kernel emulator (run.sh): each op against the CPU reference in double.
#include "emu_common.h"
#include <cstdio>
#include <random>
#include <string>
extern "C" {
void ref_attention_fwd(double *out, double *probs, const double *qkv, int64_t b, int64_t s, int h, int64_t hd,
                       int causal);
void ref_attention_bwd(double *dqkv, const double *dout, const double *qkv, const double *probs, int64_t b, int64_t s,
                       int h, int64_t hd, int causal);
void ref_layernorm_fwd(double *y, double *mean, double *rstd, const double *x, const double *g, const double *b,
                       int64_t n, int64_t d, double eps);
void ref_layernorm_bwd(double *dx, double *dg, double *db, const double *dy, const double *x, const double *mean,
                       const double *rstd, const double *g, int64_t n, int64_t d, int acc);
void ref_activation_fwd(int act, double *y, const double *x, int64_t n);
void ref_activation_bwd(int act, double *dx, const double *dy, const double *x, int64_t n);
void ref_l2norm_fwd(double *y, const double *x, int64_t n, int64_t d, double eps);
void ref_l2norm_bwd(double *dx, const double *dy, const double *x, int64_t n, int64_t d, double eps);
void ref_cross_entropy(double *loss, double *dl, const double *z, const int32_t *lab, int64_t n, int64_t c, double gs);
void ref_scatter_add(double *dx, const double *dy, const int32_t *idx, int64_t n, int64_t d);
void ref_scatter_set(double *y, const double *x, const int32_t *idx, int64_t n, int64_t d);
void ref_gather(double *y, const double *x, const int32_t *idx, int64_t n, int64_t d);
void ref_im2col(double *p, const double *im, int64_t b, int64_t r, int64_t pt);
void ref_permute(double *y, const double *x, int64_t A, int64_t B, int64_t C, int64_t D);
void ref_mean_fwd(double *y, const double *x, int64_t B, int64_t T, int64_t D);
void ref_mean_bwd(double *dx, const double *dy, int64_t B, int64_t T, int64_t D);
void ref_prepend_fwd(double *y, const double *x, const double *tok, int64_t b, int64_t s, int64_t d);
void ref_prepend_bwd(double *dx, double *dtok, const double *dy, int64_t b, int64_t s, int64_t d);
void ref_add_broadcast_bwd(double *dp, const double *dy, int64_t copies, int64_t rows);
void ref_add_broadcast_fwd(double *y, const double *p, int64_t copies, int64_t rows);
void ref_axpy_rows(double *y, const double *w, const double *x, double beta, int64_t rows, int64_t d);
void ref_sgd_f32(float *w, const float *g, float *buf, int64_t n, float lr, float mom, float wd, int first);
void ref_adamw_f32(float *w, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2, float eps,
                   float wd, int step);
}
typedef std::vector<double> V;
static std::mt19937_64 rng(42);
static V randv(size_t n, double sc = 1.0) {
    std::normal_distribution<double> d(0, sc);
    V v(n);
    for (auto &x : v) x = d(rng);
    return v;
}

struct Buf {
    Tensor t;
    std::vector<char> mem;
};
static std::vector<std::unique_ptr<Buf>> g_bufs;
static double rnd(DType dt, double v) {
    return dt == DT_BF16 ? (double)__bfloat162float(__float2bfloat16_rn((float)v)) : (double)(float)v;
}
// Tensor holding v (rounded into v in place); offset 0 keeps 16-byte alignment.
static Tensor mk(DType dt, std::vector<int64_t> shape, V &v, const char *name, size_t misalign = 0) {
    auto b = std::make_unique<Buf>();
    size_t n = 1; for (auto s : shape) n *= s;
    if (v.size() != n) { fprintf(stderr, "size mismatch %s\n", name); exit(1); }
    size_t es = dt == DT_BF16 ? 2 : 4;
    b->mem.resize(n * es + 64);
    char *base = (char *)(((uintptr_t)b->mem.data() + 31) & ~(uintptr_t)31) + misalign;
    for (size_t i = 0; i < n; i++) {
        v[i] = rnd(dt, v[i]);
        if (dt == DT_BF16) ((__nv_bfloat16 *)base)[i] = __float2bfloat16_rn((float)v[i]);
        else ((float *)base)[i] = (float)v[i];
    }
    b->t.data = base; b->t.dtype = dt; b->t.ndim = (int)shape.size(); b->t.name = name;
    for (size_t i = 0; i < shape.size(); i++) b->t.shape[i] = shape[i];
    g_bufs.push_back(std::move(b));
    return g_bufs.back()->t;
}
static Tensor mki(std::vector<int32_t> &v, const char *name) {
    auto b = std::make_unique<Buf>();
    b->mem.resize(v.size() * 4 + 4);
    memcpy(b->mem.data(), v.data(), v.size() * 4);
    b->t.data = b->mem.data(); b->t.dtype = DT_I32; b->t.ndim = 1; b->t.shape[0] = (int64_t)v.size(); b->t.name = name;
    g_bufs.push_back(std::move(b));
    return g_bufs.back()->t;
}
static V get(const Tensor &t) {
    int64_t n = tensor_numel(&t); V v(n);
    for (int64_t i = 0; i < n; i++)
        v[i] = t.dtype == DT_BF16 ? (double)__bfloat162float(((__nv_bfloat16 *)t.data)[i])
                                  : (double)((float *)t.data)[i];
    return v;
}
static int g_fail = 0, g_checks = 0;
static void cmp(const char *what, const V &got, const V &ref, DType out_dt, double tol_scale = 1.0) {
    double mx = 0, err = 0; size_t at = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        mx = std::max(mx, fabs(ref[i]));
        double e = fabs(got[i] - ref[i]);
        if (!(e <= err)) {
            err = e;
            at = i;
        }
    }
    double rel = err / (mx + 1e-30);
    double tol = (out_dt == DT_BF16 ? 1.6e-2 : 2e-5) * tol_scale;
    g_checks++;
    bool ok = rel <= tol;
    if (!ok) g_fail++;
    if (!ok || getenv("VERBOSE"))
        printf("%s %-60s rel err %.3g (tol %.1g) max|ref| %.3g at %zu got %.6g ref %.6g\n", ok ? "ok  " : "FAIL", what,
               rel, tol, mx, at, got.empty() ? 0 : got[at], ref.empty() ? 0 : ref[at]);
}
static Ops g_ops;
static CudaCtx g_cx;
static const char *dn(DType d) { return d == DT_BF16 ? "bf16" : "f32"; }

static double g_qkv_scale = 1.0; // "big": 1.5, test_cuda_ops's qkv (sharper softmax rows)
static const char *pn(int path) { return path == CUDA_ATTN_GEMM ? "gemm" : "tiled"; }

// Forward by path fwd, backward by path bwd (CUDA_ATTN_*: set on the context per call, as
// DFER_ATTENTION would for a whole run), workspace cap `cap` (0: the default), against the
// CPU reference in double: out, lse, Delta and dqkv. infer: the forward alone without a
// saved buffer (no lse). The gemm path rounds P to BF16 when qkv is BF16 (and P, dS when
// qkv and dout are), so those outputs get the BF16 tolerance whatever their own dtype.
static void test_attention(int B, int S, int H, int hd, int causal, DType qd, DType od, int fwd = CUDA_ATTN_TILED,
                           int bwd = CUDA_ATTN_TILED, size_t cap = 0, int infer = 0) {
    int W = H * hd;
    V qkv = randv((size_t)B * S * 3 * W, g_qkv_scale), dout = randv((size_t)B * S * W, 1.0), z((size_t)B * S * W, 0.0),
      zq((size_t)B * S * 3 * W, 0.0);
    Tensor tq = mk(qd, {B, S, 3 * W}, qkv, "qkv"), tdo = mk(od, {B, S, W}, dout, "dout");
    Tensor to = mk(od, {B, S, W}, z, "out"), tdq = mk(qd, {B, S, 3 * W}, zq, "dqkv");
    V sv(cu_attention_saved_bytes(B, S, H) / 4, 0.0);
    Tensor ts = mk(DT_F32, {(int64_t)sv.size()}, sv, "saved");
    // Outputs start as NaN: an element a path never writes shows.
    for (int64_t i = 0; i < tensor_numel(&to); i++)
        od == DT_BF16 ? (void)(((__nv_bfloat16 *)to.data)[i] = __float2bfloat16_rn(NAN))
                      : (void)(((float *)to.data)[i] = NAN);
    for (int64_t i = 0; i < tensor_numel(&tdq); i++)
        qd == DT_BF16 ? (void)(((__nv_bfloat16 *)tdq.data)[i] = __float2bfloat16_rn(NAN))
                      : (void)(((float *)tdq.data)[i] = NAN);
    for (size_t i = 0; i < sv.size(); i++) ((float *)ts.data)[i] = NAN;
    Tensor tnone = ts;
    tnone.data = NULL;
    g_cx.attn_ws_cap = cap;
    g_cx.attn_path = fwd;
    cu_attention(&g_ops, &to, infer ? &tnone : &ts, &tq, H, causal);
    if (!infer) {
        g_cx.attn_path = bwd;
        cu_attention_backward(&g_ops, &tdq, &tdo, &tq, &ts, H, causal);
    }
    g_cx.attn_path = CUDA_ATTN_TILED;
    g_cx.attn_ws_cap = 0;
    V ro((size_t)B * S * W), probs((size_t)B * H * S * S), rdq((size_t)B * S * 3 * W);
    ref_attention_fwd(ro.data(), probs.data(), qkv.data(), B, S, H, hd, causal);
    ref_attention_bwd(rdq.data(), dout.data(), qkv.data(), probs.data(), B, S, H, hd, causal);
    // lse and Delta (sum_j p_ij dP_ij, dP_ij = dO_i . v_j)
    V saved = get(ts); V rl((size_t)B * H * S), rd((size_t)B * H * S);
    for (int b = 0; b < B; b++) for (int h = 0; h < H; h++) for (int i = 0; i < S; i++) {
        double mx = -1e300; int jm = causal ? i + 1 : S; std::vector<double> sc(jm);
        for (int j = 0; j < jm; j++) {
            double s = 0;
            for (int t = 0; t < hd; t++)
                s += qkv[((size_t)(b * S + i)) * 3 * W + h * hd + t] *
                     qkv[((size_t)(b * S + j)) * 3 * W + W + h * hd + t];
            sc[j] = s / sqrt((double)hd);
            mx = std::max(mx, sc[j]);
        }
        double sum = 0; for (int j = 0; j < jm; j++) sum += exp(sc[j] - mx);
        const size_t r = ((size_t)b * H + h) * S + i;
        rl[r] = mx + log(sum);
        double d = 0;
        for (int j = 0; j < jm; j++) {
            double dp = 0;
            for (int t = 0; t < hd; t++)
                dp += dout[((size_t)(b * S + i)) * W + h * hd + t] *
                      qkv[((size_t)(b * S + j)) * 3 * W + 2 * W + h * hd + t];
            d += exp(sc[j] - rl[r]) * dp;
        }
        rd[r] = d;
    }
    V lse(saved.begin(), saved.begin() + rl.size()), delta(saved.begin() + rl.size(), saved.begin() + 2 * rl.size());
    char pre[160], buf[200];
    const bool fwd_gemm = fwd == CUDA_ATTN_GEMM && hd % 8 == 0, bwd_gemm = bwd == CUDA_ATTN_GEMM && hd % 8 == 0;
    snprintf(pre, sizeof pre, "attention B%d S%d H%d Dh%d causal%d qkv %s out %s fwd %s bwd %s%s", B, S, H, hd, causal,
             dn(qd), dn(od), pn(fwd), infer ? "-" : pn(bwd), cap ? " (small cap)" : "");
    snprintf(buf, sizeof buf, "%s: out", pre);
    cmp(buf, get(to), ro, fwd_gemm && qd == DT_BF16 ? DT_BF16 : od, 1.0);
    if (infer) return;
    snprintf(buf, sizeof buf, "%s: lse", pre);
    cmp(buf, lse, rl, DT_F32, 3.0);
    snprintf(buf, sizeof buf, "%s: Delta", pre);
    cmp(buf, delta, rd, DT_F32, 10.0); // both paths: fp32 from unrounded p and dP
    snprintf(buf, sizeof buf, "%s: dqkv", pre);
    cmp(buf, get(tdq), rdq, bwd_gemm && qd == DT_BF16 && od == DT_BF16 ? DT_BF16 : qd, 3.0);
}

// The gemm path's chunking: a cap of two items' backward buffers splits B = 5 into chunks of
// 2, 2, 1 (the forward, smaller, into 3 and 2); a cap below one item's backward buffers sends
// the backward to the tiled path while the forward stays on the gemm path; Dh % 8 != 0 is tiled.
static void test_attention_chunks(DType qd) {
    const int B = 5, S = 20, H = 2, hd = 16, e = qd == DT_BF16 ? 2 : 4;
    const size_t one_bwd = cuda_attention_gemm_bytes(1, S, H, hd, e, 1),
                 one_fwd = cuda_attention_gemm_bytes(1, S, H, hd, e, 0);
    auto expect = [&](const char *what, int64_t got, int64_t want) {
        g_checks++;
        const bool ok = got == want;
        if (!ok) g_fail++;
        if (!ok || getenv("VERBOSE"))
            printf("%s attention gemm chunk %s %s: %lld items (want %lld)\n", ok ? "ok  " : "FAIL", dn(qd), what,
                   (long long)got, (long long)want);
    };
    // Equal chunks of at most cap / one items: ceil(B / ceil(B / per)).
    auto want = [&](size_t cap, size_t one) -> int64_t {
        const int64_t per = (int64_t)(cap / one);
        if (per == 0) return 0;
        if (per >= B) return B;
        const int64_t n = (B + per - 1) / per;
        return (B + n - 1) / n;
    };
    g_cx.attn_path = CUDA_ATTN_GEMM;
    g_cx.attn_ws_cap = 2 * one_bwd;
    expect("backward, cap of 2 items", cuda_attention_gemm_chunk(&g_cx, B, S, H, hd, e, 1), 2);
    expect("forward, cap of 2 backward items", cuda_attention_gemm_chunk(&g_cx, B, S, H, hd, e, 0),
           want(2 * one_bwd, one_fwd));
    g_cx.attn_ws_cap = one_bwd - 1;
    expect("backward, cap below 1 item", cuda_attention_gemm_chunk(&g_cx, B, S, H, hd, e, 1), 0);
    expect("forward, cap below 1 backward item", cuda_attention_gemm_chunk(&g_cx, B, S, H, hd, e, 0),
           want(one_bwd - 1, one_fwd));
    g_cx.attn_ws_cap = 0;
    expect("default cap", cuda_attention_gemm_chunk(&g_cx, B, S, H, hd, e, 1), B);
    expect("Dh 12", cuda_attention_gemm_chunk(&g_cx, B, S, 2, 12, e, 1), 0);
    g_cx.attn_path = CUDA_ATTN_TILED;
    expect("DFER_ATTENTION=tiled", cuda_attention_gemm_chunk(&g_cx, B, S, H, hd, e, 1), 0);
    for (int causal : {0, 1}) {
        test_attention(B, S, H, hd, causal, qd, qd, CUDA_ATTN_GEMM, CUDA_ATTN_GEMM, 2 * one_bwd);
        test_attention(B, S, H, hd, causal, qd, qd, CUDA_ATTN_GEMM, CUDA_ATTN_GEMM, one_bwd - 1);
    }
}

static void test_layernorm(int n, int d, DType xd, DType yd, DType pd, int acc) {
    V x = randv((size_t)n * d, 2.0), g = randv(d), b = randv(d), dy = randv((size_t)n * d), z((size_t)n * d, 0),
      zn(n, 0), zn2(n, 0);
    for (auto &v : x) v += 0.5;
    V dx0 = randv((size_t)n * d), dg0 = randv(d), db0 = randv(d);
    Tensor tx = mk(xd, {n, d}, x, "x"), tg = mk(pd, {d}, g, "g"), tb = mk(pd, {d}, b, "b"), ty = mk(yd, {n, d}, z, "y");
    Tensor tm = mk(DT_F32, {n}, zn, "mean"), tr = mk(DT_F32, {n}, zn2, "rstd");
    Tensor tdy = mk(yd, {n, d}, dy, "dy"), tdx = mk(xd, {n, d}, dx0, "dx"), tdg = mk(DT_F32, {d}, dg0, "dg"),
           tdb = mk(DT_F32, {d}, db0, "db");
    cu_layernorm(&g_ops, &ty, &tm, &tr, &tx, &tg, &tb, 1e-5f);
    V ry((size_t)n * d), rm(n), rr(n);
    ref_layernorm_fwd(ry.data(), rm.data(), rr.data(), x.data(), g.data(), b.data(), n, d, 1e-5);
    char buf[160];
    snprintf(buf, sizeof buf, "layernorm n%d d%d x %s y %s p %s: y", n, d, dn(xd), dn(yd), dn(pd));
    cmp(buf, get(ty), ry, yd, 2.0);
    snprintf(buf, sizeof buf, "layernorm n%d d%d: mean", n, d); cmp(buf, get(tm), rm, DT_F32, 2.0);
    snprintf(buf, sizeof buf, "layernorm n%d d%d: rstd", n, d); cmp(buf, get(tr), rr, DT_F32, 5.0);
    V m = get(tm), r = get(tr);
    cu_layernorm_backward(&g_ops, &tdx, &tdg, &tdb, &tdy, &tx, &tm, &tr, &tg, acc);
    V rdx = dx0, rdg = dg0, rdb = db0;
    ref_layernorm_bwd(rdx.data(), rdg.data(), rdb.data(), dy.data(), x.data(), m.data(), r.data(), g.data(), n, d, acc);
    snprintf(buf, sizeof buf, "layernorm_bwd n%d d%d acc%d: dx", n, d, acc); cmp(buf, get(tdx), rdx, xd, 3.0);
    snprintf(buf, sizeof buf, "layernorm_bwd n%d d%d: dg", n, d); cmp(buf, get(tdg), rdg, DT_F32, 5.0);
    snprintf(buf, sizeof buf, "layernorm_bwd n%d d%d: db", n, d); cmp(buf, get(tdb), rdb, DT_F32, 5.0);
}

static void test_elementwise(int64_t n, DType a, DType b, size_t mis) {
    char buf[160];
    for (int act = 0; act < 3; act++) {
        V x = randv(n, 2.0), z(n, 0), dy = randv(n), z2(n, 0);
        Tensor tx = mk(a, {n}, x, "x", mis), ty = mk(b, {n}, z, "y"), tdy = mk(b, {n}, dy, "dy"),
               tdx = mk(a, {n}, z2, "dx");
        cu_activation(&g_ops, (Activation)act, &ty, &tx);
        V r(n); ref_activation_fwd(act, r.data(), x.data(), n);
        snprintf(buf, sizeof buf, "activation %d n%lld %s->%s mis%zu", act, (long long)n, dn(a), dn(b), mis);
        cmp(buf, get(ty), r, b);
        cu_activation_backward(&g_ops, (Activation)act, &tdx, &tdy, &tx);
        V rd(n); ref_activation_bwd(act, rd.data(), dy.data(), x.data(), n);
        snprintf(buf, sizeof buf, "activation_bwd %d n%lld", act, (long long)n); cmp(buf, get(tdx), rd, a);
    }
    {
        V x = randv(n), y = randv(n), z(n, 0);
        Tensor tx = mk(a, {n}, x, "a", mis), ty = mk(b, {n}, y, "b"), tz = mk(b, {n}, z, "y");
        cu_add(&g_ops, &tz, &tx, &ty);
        V r(n); for (int64_t i = 0; i < n; i++) r[i] = x[i] + y[i];
        snprintf(buf, sizeof buf, "add n%lld", (long long)n); cmp(buf, get(tz), r, b);
        cu_axpy(&g_ops, &ty, 0.75f, &tx);
        for (int64_t i = 0; i < n; i++) r[i] = y[i] + 0.75 * x[i];
        snprintf(buf, sizeof buf, "axpy n%lld", (long long)n); cmp(buf, get(ty), r, b);
        V yy = get(ty);
        cu_scale(&g_ops, &ty, -1.5f);
        for (int64_t i = 0; i < n; i++) r[i] = yy[i] * -1.5;
        snprintf(buf, sizeof buf, "scale n%lld", (long long)n); cmp(buf, get(ty), r, b);
    }
}

// normalize_images: U8 [n,3,h,w] through the kernel against the loader's float expression
// (image_to_chw_float, data/preprocess.c), evaluated here on the host in fp32; ops.c builds the
// kernel's table with that same expression. Bit-exact: F32 equal, BF16 = round(F32).
static void test_normalize_images(int n, int h, int w, DType yd, size_t x_misalign) {
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f},
                       std_[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v / 255.0f - mean[c]) / std_[c];
    int64_t plane = (int64_t)h * w, count = (int64_t)n * 3 * plane;
    auto xb = std::make_unique<Buf>();
    xb->mem.resize((size_t)count + 64);
    uint8_t *x = (uint8_t *)(((uintptr_t)xb->mem.data() + 31) & ~(uintptr_t)31) + x_misalign;
    std::uniform_int_distribution<int> byte(0, 255);
    for (int64_t i = 0; i < count; i++) x[i] = i < 256 ? (uint8_t)i : (uint8_t)byte(rng);
    Tensor tx{};
    tx.data = x; tx.dtype = DT_U8; tx.ndim = 4; tx.name = "pixels";
    tx.shape[0] = n, tx.shape[1] = 3, tx.shape[2] = h, tx.shape[3] = w;
    g_bufs.push_back(std::move(xb));
    V z((size_t)count, 0.0);
    Tensor ty = mk(yd, {n, 3, h, w}, z, "frames");
    memset(ty.data, 0xA5, (size_t)count * (yd == DT_BF16 ? 2 : 4)); // an element never written shows
    cu_normalize_images(&g_ops, &ty, &tx, &lut[0][0]);
    int64_t differ = 0, first = -1;
    for (int64_t i = 0; i < count; i++) {
        int c = (int)((i / plane) % 3);
        float want = ((float)x[i] / 255.0f - mean[c]) / std_[c];
        __nv_bfloat16 rounded = __float2bfloat16_rn(want);
        bool same = yd == DT_BF16
                        ? memcmp(&((__nv_bfloat16 *)ty.data)[i], &rounded, 2) == 0
                        : memcmp(&((float *)ty.data)[i], &want, sizeof want) == 0;
        if (!same && differ++ == 0) first = i;
    }
    g_checks++;
    if (differ) g_fail++;
    if (differ || getenv("VERBOSE"))
        printf("%s normalize_images n%d 3x%dx%d -> %s x+%zu: %lld of %lld values differ "
               "from the loader's (first at %lld)\n",
               differ ? "FAIL" : "ok  ", n, h, w, dn(yd), x_misalign, (long long)differ, (long long)count,
               (long long)first);
}

static void test_rows_misc(DType a, DType b) {
    char buf[160];
    for (int d : {16, 13}) for (float beta : {0.0f, 0.5f}) {
        int rows = 7; V y = randv(rows * d), w = randv(rows), x = randv(rows * d);
        Tensor ty = mk(b, {rows, d}, y, "y"), tw = mk(DT_F32, {rows}, w, "w"), tx = mk(a, {rows, d}, x, "x");
        if (beta == 0) {
            for (int i = 0; i < rows * d; i++)
                ((b == DT_BF16) ? (void)(((__nv_bfloat16 *)ty.data)[i] = __float2bfloat16_rn(NAN))
                                : (void)(((float *)ty.data)[i] = NAN));
        }
        cu_axpy_rows(&g_ops, &ty, &tw, &tx, beta);
        V r = y; ref_axpy_rows(r.data(), w.data(), x.data(), beta, rows, d);
        snprintf(buf, sizeof buf, "axpy_rows d%d beta%.1f", d, beta); cmp(buf, get(ty), r, b);
    }
    for (int rows : {24, 13}) {
        int copies = 5; V y = randv(copies * rows), p = randv(rows), dp = randv(rows);
        Tensor ty = mk(b, {copies, rows}, y, "y"), tp = mk(a, {rows}, p, "p"), tdp = mk(DT_F32, {rows}, dp, "dp");
        cu_add_broadcast(&g_ops, &ty, &tp);
        V r = y; ref_add_broadcast_fwd(r.data(), p.data(), copies, rows);
        snprintf(buf, sizeof buf, "add_broadcast rows%d", rows); cmp(buf, get(ty), r, b);
        V yv = get(ty);
        cu_add_broadcast_backward(&g_ops, &tdp, &ty);
        V rd = dp; ref_add_broadcast_bwd(rd.data(), yv.data(), copies, rows);
        snprintf(buf, sizeof buf, "add_broadcast_bwd rows%d", rows); cmp(buf, get(tdp), rd, DT_F32, 3);
    }
    { // im2col
        int B = 2, R = 12, P = 4, g = R / P; V im = randv(B * 3 * R * R), z(B * g * g * 3 * P * P, 0);
        Tensor ti = mk(a, {B, 3, R, R}, im, "images"), tp = mk(b, {B * g * g, 3 * P * P}, z, "patches");
        cu_im2col_patches(&g_ops, &tp, &ti, P);
        V r(z.size()); ref_im2col(r.data(), im.data(), B, R, P);
        cmp("im2col", get(tp), r, b);
    }
    { // prepend
        int B = 3, S = 5, D = 7; V x = randv(B * S * D), tok = randv(D), z(B * (S + 1) * D, 0);
        Tensor tx = mk(a, {B, S, D}, x, "x"), tt = mk(DT_F32, {D}, tok, "tok"), ty = mk(b, {B, S + 1, D}, z, "y");
        cu_prepend_token(&g_ops, &ty, &tx, &tt);
        V r(z.size()); ref_prepend_fwd(r.data(), x.data(), tok.data(), B, S, D);
        cmp("prepend_token", get(ty), r, b);
        V dy = randv(B * (S + 1) * D), dx(B * S * D, 0), dtok = randv(D);
        Tensor tdy = mk(b, {B, S + 1, D}, dy, "dy"), tdx = mk(a, {B, S, D}, dx, "dx"),
               tdt = mk(DT_F32, {D}, dtok, "dtok");
        cu_prepend_token_backward(&g_ops, &tdx, &tdt, &tdy);
        V rdx(dx.size()), rdt = dtok; ref_prepend_bwd(rdx.data(), rdt.data(), dy.data(), B, S, D);
        cmp("prepend_token_bwd dx", get(tdx), rdx, a); cmp("prepend_token_bwd dtok", get(tdt), rdt, DT_F32, 3);
    }
    { // permute
        int A = 2, Bb = 3, C = 4, D = 5; V x = randv(A * Bb * C * D), z(x.size(), 0);
        Tensor tx = mk(a, {A, Bb, C, D}, x, "x"), ty = mk(b, {A, C, Bb, D}, z, "y");
        cu_permute_0213(&g_ops, &ty, &tx);
        V r(x.size()); ref_permute(r.data(), x.data(), A, Bb, C, D);
        cmp("permute_0213", get(ty), r, b);
    }
    { // mean
        int B = 3, Tn = 4, D = 9; V x = randv(B * Tn * D), z(B * D, 0), dy = randv(B * D), dz(B * Tn * D, 0);
        Tensor tx = mk(a, {B, Tn, D}, x, "x"), ty = mk(b, {B, D}, z, "y"), tdy = mk(b, {B, D}, dy, "dy"),
               tdx = mk(a, {B, Tn, D}, dz, "dx");
        cu_mean_dim1(&g_ops, &ty, &tx);
        V r(B * D);
        ref_mean_fwd(r.data(), x.data(), B, Tn, D);
        cmp("mean_dim1", get(ty), r, b);
        cu_mean_dim1_backward(&g_ops, &tdx, &tdy);
        V rd(B * Tn * D);
        ref_mean_bwd(rd.data(), dy.data(), B, Tn, D);
        cmp("mean_dim1_bwd", get(tdx), rd, a);
    }
    { // gather / embedding / scatter
        int V_ = 11, D = 10, N = 9; V table = randv(V_ * D), z(N * D, 0);
        std::vector<int32_t> ids = {3, 0, 10, 3, 7, 3, 0, 5, 9};
        Tensor tt = mk(a, {V_, D}, table, "table"), ty = mk(b, {N, D}, z, "y"), ti = mki(ids, "ids");
        cu_embedding(&g_ops, &ty, &tt, &ti);
        V r(N * D);
        ref_gather(r.data(), table.data(), ids.data(), N, D);
        cmp("embedding", get(ty), r, b);
        V z2(N * D, 0); Tensor ty2 = mk(b, {N, D}, z2, "y2");
        cu_gather_rows(&g_ops, &ty2, &tt, &ti); cmp("gather_rows", get(ty2), r, b);
        V dy = randv(N * D), dt = randv(V_ * D);
        Tensor tdy = mk(b, {N, D}, dy, "dy"), tdt = mk(DT_F32, {V_, D}, dt, "dtable");
        cu_embedding_backward(&g_ops, &tdt, &tdy, &ti);
        V rd = dt;
        ref_scatter_add(rd.data(), dy.data(), ids.data(), N, D);
        cmp("embedding_bwd", get(tdt), rd, DT_F32);
        V dx = randv(V_ * D); Tensor tdx = mk(a, {V_, D}, dx, "dx");
        cu_gather_rows_backward(&g_ops, &tdx, &tdy, &ti);
        V rdx = dx;
        ref_scatter_add(rdx.data(), dy.data(), ids.data(), N, D);
        cmp("gather_rows_bwd", get(tdx), rdx, a);
        V y3 = randv(V_ * D), x3 = randv(N * D); Tensor ty3 = mk(b, {V_, D}, y3, "y3"), tx3 = mk(a, {N, D}, x3, "x3");
        cu_scatter_rows(&g_ops, &ty3, &tx3, &ti);
        V r3 = y3;
        ref_scatter_set(r3.data(), x3.data(), ids.data(), N, D);
        cmp("scatter_rows", get(ty3), r3, b);
        cuda_check_device_errors(&g_cx);
    }
    { // l2norm
        int n = 6, d = 37; V x = randv(n * d), z(n * d, 0), dy = randv(n * d), z2(n * d, 0);
        for (int j = 0; j < d; j++) x[5 * d + j] *= 1e-9; // below eps
        Tensor tx = mk(a, {n, d}, x, "x"), ty = mk(b, {n, d}, z, "y"), tdy = mk(b, {n, d}, dy, "dy"),
               tdx = mk(a, {n, d}, z2, "dx");
        cu_l2_normalize(&g_ops, &ty, &tx, 1e-6f);
        V r(n * d);
        ref_l2norm_fwd(r.data(), x.data(), n, d, 1e-6);
        cmp("l2_normalize", get(ty), r, b);
        cu_l2_normalize_backward(&g_ops, &tdx, &tdy, &tx, 1e-6f);
        V rd(n * d);
        ref_l2norm_bwd(rd.data(), dy.data(), x.data(), n, d, 1e-6);
        cmp("l2_normalize_bwd", get(tdx), rd, a, 2);
    }
    { // cross entropy
        int n = 10, c = 45; V z = randv(n * c, 3.0), zl(n, 0), zd(n * c, 0);
        std::vector<int32_t> lab; for (int i = 0; i < n; i++) lab.push_back((i * 7) % c);
        Tensor tz = mk(a, {n, c}, z, "logits"), tl = mk(DT_F32, {n}, zl, "loss"), td = mk(b, {n, c}, zd, "dlogits"),
               tlab = mki(lab, "labels");
        cu_cross_entropy(&g_ops, &tl, &td, &tz, &tlab, 0.25f);
        V rl(n), rd(n * c); ref_cross_entropy(rl.data(), rd.data(), z.data(), lab.data(), n, c, 0.25);
        cmp("cross_entropy loss", get(tl), rl, DT_F32, 3); cmp("cross_entropy dlogits", get(td), rd, b, 3);
    }
    { // sum squares
        int n = 100003; V x = randv(n); Tensor tx = mk(a, {n}, x, "x");
        double s = cu_sum_squares(&g_ops, &tx), r = 0; for (double v : x) r += v * v;
        cmp("sum_squares", V{s}, V{r}, DT_F32, 5);
    }
}

static void test_optim() {
    int n = 1001; std::vector<float> w(n), g(n), m(n), v(n), buf(n);
    std::mt19937 r2(7); std::normal_distribution<float> nd(0, 1);
    for (int i = 0; i < n; i++) {
        w[i] = nd(r2);
        g[i] = nd(r2);
        m[i] = nd(r2) * 0.1f;
        v[i] = fabsf(nd(r2)) * 0.01f;
        buf[i] = nd(r2);
    }
    auto W = w, G = g, M = m, Vv = v, Bf = buf;
    auto mkf = [&](std::vector<float> &a, const char *nm) { V d(a.begin(), a.end()); return mk(DT_F32, {n}, d, nm); };
    Tensor tw = mkf(w, "w"), tg = mkf(g, "g"), tm = mkf(m, "m"), tv = mkf(v, "v"), tb = mkf(buf, "buf");
    for (int step = 1; step <= 3; step++) {
        cu_adamw_update(&g_ops, &tw, &tg, &tm, &tv, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
        ref_adamw_f32(W.data(), G.data(), M.data(), Vv.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
    }
    int diff = 0;
    for (int i = 0; i < n; i++)
        diff += ((float *)tw.data)[i] != W[i] || ((float *)tm.data)[i] != M[i] || ((float *)tv.data)[i] != Vv[i];
    g_checks++;
    if (diff) {
        g_fail++;
        printf("FAIL adamw bitwise: %d differ\n", diff);
    } else printf("ok   adamw bitwise\n");
    auto W2 = W;
    for (int first = 1; first >= 0; first--) {
        cu_sgd_update(&g_ops, &tw, &tg, &tb, 0.1f, 0.9f, 1e-4f, first);
        ref_sgd_f32(W.data(), G.data(), Bf.data(), n, 0.1f, 0.9f, 1e-4f, first);
    }
    diff = 0; for (int i = 0; i < n; i++) diff += ((float *)tw.data)[i] != W[i] || ((float *)tb.data)[i] != Bf[i];
    g_checks++;
    if (diff) {
        g_fail++;
        printf("FAIL sgd bitwise: %d differ\n", diff);
    } else printf("ok   sgd bitwise\n");
}

int main(int argc, char **argv) {
    g_cx.d_err = (int *)calloc(4, sizeof(int));
    g_ops.impl = &g_cx;
    std::string which = argc > 1 ? argv[1] : "all";
    if (which == "all" || which == "misc") {
        for (DType a : {DT_F32, DT_BF16}) for (DType b : {DT_F32, DT_BF16}) {
            test_elementwise(1003, a, b, 0); test_elementwise(37, a, b, a == DT_BF16 ? 2 : 4);
            test_rows_misc(a, b);
        }
        test_optim();
        for (DType yd : {DT_F32, DT_BF16}) {
            test_normalize_images(3, 16, 16, yd, 0); // plane % 16 == 0: 16-byte loads
            test_normalize_images(2, 13, 11, yd, 0); // odd plane: the scalar path
            test_normalize_images(2, 8, 8, yd, 3);   // misaligned pixels: the scalar path
        }
    }
    if (which == "all" || which == "ln") {
        for (DType xd : {DT_F32, DT_BF16}) for (DType yd : {DT_F32, DT_BF16}) {
            test_layernorm(37, 100, xd, yd, DT_F32, 0); test_layernorm(9, 768, xd, yd, DT_BF16, 1);
        }
        test_layernorm(70, 33, DT_F32, DT_F32, DT_F32, 1);
    }
    if (which == "all" || which == "attn") {
        const int T = CUDA_ATTN_TILED, G = CUDA_ATTN_GEMM;
        for (int causal : {0, 1}) for (int path : {T, G}) {
            test_attention(2, 5, 2, 8, causal, DT_F32, DT_F32, path, path);
            test_attention(1, 20, 3, 16, causal, DT_F32, DT_F32, path, path);
            test_attention(2, 33, 2, 40, causal, DT_F32, DT_BF16, path, path);
            test_attention(1, 70, 1, 64, causal, DT_BF16, DT_BF16, path, path);
            test_attention(1, 17, 2, 128, causal, DT_F32, DT_F32, path, path);
            test_attention(1, 50, 1, 97, causal, DT_BF16, DT_F32, path, path); // gemm: Dh % 8 != 0 -> tiled
            test_attention(2, 9, 2, 24, causal, DT_BF16, DT_F32, path, path);  // gemm backward: F32 GEMMs
        }
        // The project's sequence lengths, each direction by either path (both orders), so each
        // path's backward consumes the other's lse: S = 16 (temporal), 77 (text), 197 (spatial).
        for (DType d : {DT_F32, DT_BF16}) for (int causal : {0, 1}) {
            test_attention(3, 16, 2, 32, causal, d, d, G, T);
            test_attention(3, 16, 2, 32, causal, d, d, T, G);
            test_attention(2, 16, 1, 32, causal, d, d, G, G, 0, 1); // inference: no saved buffer
        }
        for (DType d : {DT_F32, DT_BF16}) {
            test_attention(1, 77, 2, 64, d == DT_BF16, d, d, G, T);
            test_attention(1, 77, 2, 64, d == DT_BF16, d, d, T, G);
        }
        test_attention(1, 197, 1, 64, 0, DT_BF16, DT_BF16, G, T);
        test_attention(1, 197, 1, 64, 0, DT_BF16, DT_BF16, T, G);
        test_attention(1, 197, 1, 64, 1, DT_F32, DT_F32, G, T);
        test_attention(1, 197, 1, 64, 1, DT_F32, DT_F32, T, G);
        for (DType d : {DT_F32, DT_BF16}) test_attention_chunks(d);
    }
    if (which == "big") {
        g_qkv_scale = 1.5;
        for (int path : {CUDA_ATTN_TILED, CUDA_ATTN_GEMM}) {
            test_attention(1, 257, 1, 64, 0, DT_BF16, DT_BF16, path, path);
            test_attention(1, 248, 1, 64, 1, DT_BF16, DT_BF16, path, path);
            test_attention(2, 77, 1, 64, 1, DT_F32, DT_F32, path, path);
            test_attention(1, 197, 1, 32, 0, DT_F32, DT_F32, path, path);
            test_attention(2, 197, 4, 64, 0, DT_BF16, DT_BF16, path, path); // test_cuda_ops's ViT-like case
            test_attention(2, 77, 8, 64, 1, DT_BF16, DT_BF16, path, path);
        }
    }
    printf("%d checks, %d failed\n", g_checks, g_fail);
    return g_fail != 0;
}
