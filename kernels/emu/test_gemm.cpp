// GEMM paths of gemm.cu (dtypes, transposes, bias epilogue or finishing kernel, beta) against a naive reference.
#include "emu_common.h"
#include <cstdio>
#include <random>
typedef std::vector<double> V;
static std::mt19937_64 rng(5);
static V randv(size_t n) { std::normal_distribution<double> d(0, 1); V v(n); for (auto &x : v) x = d(rng); return v; }
static std::vector<std::vector<char>> mems;
static Tensor mk(DType dt, std::vector<int64_t> shape, V &v, const char *name, size_t mis = 0) {
    size_t n = 1; for (auto s : shape) n *= s;
    mems.emplace_back(n * 4 + 64);
    char *base = (char *)(((uintptr_t)mems.back().data() + 31) & ~(uintptr_t)31) + mis;
    for (size_t i = 0; i < n; i++) {
        if (dt == DT_BF16) {
            ((__nv_bfloat16 *)base)[i] = __float2bfloat16_rn((float)v[i]);
            v[i] = __bfloat162float(((__nv_bfloat16 *)base)[i]);
        } else {
            ((float *)base)[i] = (float)v[i];
            v[i] = (float)v[i];
        }
    }
    Tensor t; memset(&t, 0, sizeof t); t.data = base; t.dtype = dt; t.ndim = (int)shape.size(); t.name = name;
    for (size_t i = 0; i < shape.size(); i++) t.shape[i] = shape[i];
    return t;
}
static V get(const Tensor &t) {
    int64_t n = tensor_numel(&t);
    V v(n);
    for (int64_t i = 0; i < n; i++)
        v[i] = t.dtype == DT_BF16 ? (double)__bfloat162float(((__nv_bfloat16 *)t.data)[i])
                                  : (double)((float *)t.data)[i];
    return v;
}
static int fails = 0, checks = 0;
static void cmp(const char *w, const V &g, const V &r, double tol) {
    double mx = 0, e = 0;
    for (size_t i = 0; i < r.size(); i++) {
        mx = std::max(mx, fabs(r[i]));
        e = std::max(e, fabs(g[i] - r[i]));
    }
    double rel = e / (mx + 1e-30); checks++;
    if (!(rel <= tol)) {
        fails++;
        printf("FAIL %s rel %.3g\n", w, rel);
    } else if (getenv("VERBOSE")) printf("ok %s rel %.3g\n", w, rel);
}
static const char *dn(DType d) { return d == DT_BF16 ? "bf16" : "f32"; }
static Ops ops; static CudaCtx cx;
int main() {
    cx.d_err = (int *)calloc(4, 4); cx.workspace_bytes = 32 << 20; ops.impl = &cx;
    DType ds[2] = {DT_F32, DT_BF16};
    char buf[200];
    for (DType yd : ds) for (DType xd : ds) for (DType wd : ds) for (int bias = 0; bias < 4; bias++) {
        DType bd = bias >= 2 ? DT_BF16 : DT_F32;
        int R = 7, I = 13, O = 10;
        V x = randv(R * I), w = randv(O * I), b = randv(O), y(R * O, 0);
        Tensor tx = mk(xd, {R, I}, x, "x"), tw = mk(wd, {O, I}, w, "w"),
               tb = mk(bd, {O}, b, "b", (bias % 2) ? (bd == DT_F32 ? 4 : 2) : 0), ty = mk(yd, {R, O}, y, "y");
        bool mixed = xd != wd;
        if (mixed) {
            for (auto &v : x) v = (double)__bfloat162float(__float2bfloat16_rn((float)v));
            for (auto &v : w) v = (double)__bfloat162float(__float2bfloat16_rn((float)v));
        }
        cu_linear(&ops, &ty, &tx, &tw, bias ? &tb : nullptr);
        V r(R * O);
        for (int i = 0; i < R; i++)
            for (int o = 0; o < O; o++) {
                double s = bias ? b[o] : 0;
                for (int k = 0; k < I; k++) s += x[i * I + k] * w[o * I + k];
                r[i * O + o] = s;
            }
        snprintf(buf, sizeof buf, "linear y %s x %s w %s bias %d(%s)", dn(yd), dn(xd), dn(wd), bias, dn(bd));
        cmp(buf, get(ty), r, yd == DT_BF16 ? 8e-3 : 1e-6);
    }
    for (DType cd : ds) for (DType ad : ds) for (DType bd : ds)
        for (int ta = 0; ta < 2; ta++) for (int tb = 0; tb < 2; tb++) for (float beta : {0.0f, 0.5f}) {
        int M = 5, N = 9, K = 6; float alpha = 1.5f;
        V a = randv(M * K), b = randv(K * N), c = randv(M * N);
        Tensor ta_ = mk(ad, ta ? std::vector<int64_t>{K, M} : std::vector<int64_t>{M, K}, a, "a");
        Tensor tb_ = mk(bd, tb ? std::vector<int64_t>{N, K} : std::vector<int64_t>{K, N}, b, "b");
        Tensor tc = mk(cd, {M, N}, c, "c");
        if (ad != bd) {
            for (auto &v : a) v = (double)__bfloat162float(__float2bfloat16_rn((float)v));
            for (auto &v : b) v = (double)__bfloat162float(__float2bfloat16_rn((float)v));
        }
        cu_matmul(&ops, &tc, &ta_, &tb_, ta, tb, alpha, beta);
        V r(M * N);
        for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
            r[i * N + j] = alpha * s + beta * c[i * N + j];
        }
        snprintf(buf, sizeof buf, "matmul c %s a %s b %s ta%d tb%d beta%.1f", dn(cd), dn(ad), dn(bd), ta, tb, beta);
        cmp(buf, get(tc), r, cd == DT_BF16 ? 8e-3 : 1e-6);
    }
    for (DType dyd : ds) for (DType xd : ds) for (DType wd : ds) for (int acc = 0; acc < 2; acc++) {
        int R = 8, I = 11, O = 6;
        V dy = randv(R * O), x = randv(R * I), w = randv(O * I), dx = randv(R * I), dw = randv(O * I), db = randv(O);
        Tensor tdy = mk(dyd, {R, O}, dy, "dy"), tx = mk(xd, {R, I}, x, "x"), tw = mk(wd, {O, I}, w, "w");
        Tensor tdx = mk(xd, {R, I}, dx, "dx"), tdw = mk(DT_F32, {O, I}, dw, "dw"), tdb = mk(DT_F32, {O}, db, "db");
        V dyq = dy, xq = x, wq = w;
        auto q = [](V &v) { for (auto &e : v) e = (double)__bfloat162float(__float2bfloat16_rn((float)e)); };
        V dy1 = dy, w1 = w; if (dyd != wd) { q(dy1); q(w1); }
        V dy2 = dy, x2 = x; if (dyd != xd) { q(dy2); q(x2); }
        cu_linear_backward(&ops, &tdx, &tdw, &tdb, &tdy, &tx, &tw, acc);
        V rdx(R * I), rdw(O * I), rdb(O);
        for (int i = 0; i < R; i++)
            for (int k = 0; k < I; k++) {
                double s = 0;
                for (int o = 0; o < O; o++) s += dy1[i * O + o] * w1[o * I + k];
                rdx[i * I + k] = (acc ? dx[i * I + k] : 0) + s;
            }
        for (int o = 0; o < O; o++)
            for (int k = 0; k < I; k++) {
                double s = 0;
                for (int i = 0; i < R; i++) s += dy2[i * O + o] * x2[i * I + k];
                rdw[o * I + k] = dw[o * I + k] + s;
            }
        for (int o = 0; o < O; o++) {
            double s = 0;
            for (int i = 0; i < R; i++) s += dy[i * O + o];
            rdb[o] = db[o] + s;
        }
        snprintf(buf, sizeof buf, "linear_backward dy %s x %s w %s acc%d", dn(dyd), dn(xd), dn(wd), acc);
        std::string s1 = std::string(buf) + " dx", s2 = std::string(buf) + " dw", s3 = std::string(buf) + " db";
        cmp(s1.c_str(), get(tdx), rdx, xd == DT_BF16 ? 8e-3 : 1e-6);
        cmp(s2.c_str(), get(tdw), rdw, 1e-6);
        cmp(s3.c_str(), get(tdb), rdb, 1e-6);
    }
    // Strided-batched GEMMs (cuda_gemm_strided_batched, attention_gemm.cu): every
    // dtype pair it takes, transposes, beta, dense and padded layouts (leading dimensions
    // above the row length, strides above the matrix), against a naive reference over the
    // whole flat C buffer: padding and matrices past the batch must come back untouched.
    auto batched = [&](DType ind, DType cd, int ta, int tb, float beta, int pad, int64_t batch, int64_t M, int64_t N,
                       int64_t K) {
        const float alpha = 1.25f;
        const int64_t arows = ta ? K : M, alen = ta ? M : K, brows = tb ? N : K, blen = tb ? K : N;
        const int64_t lda = alen + 3 * pad, ldb = blen + 2 * pad, ldc = N + 4 * pad;
        const int64_t sa = arows * lda + 7 * pad, sb = brows * ldb + 5 * pad, sc = M * ldc + 6 * pad;
        // One matrix more than the batch in C: the GEMM must stop at the batch count.
        V a = randv((size_t)(batch * sa)), b = randv((size_t)(batch * sb)), c = randv((size_t)((batch + 1) * sc));
        Tensor tA = mk(ind, {batch * sa}, a, "a"), tB = mk(ind, {batch * sb}, b, "b"),
               tC = mk(cd, {(batch + 1) * sc}, c, "c");
        CudaMat ma = {tA.data, ind == DT_BF16, lda, sa}, mb = {tB.data, ind == DT_BF16, ldb, sb},
                mc = {tC.data, cd == DT_BF16, ldc, sc};
        cuda_gemm_strided_batched(&cx, "batched", mc, ma, ta, mb, tb, M, N, K, batch, alpha, beta);
        V r = c;
        for (int64_t q = 0; q < batch; q++)
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double acc = 0;
                    for (int64_t k = 0; k < K; k++)
                        acc += (ta ? a[q * sa + k * lda + i] : a[q * sa + i * lda + k]) *
                               (tb ? b[q * sb + j * ldb + k] : b[q * sb + k * ldb + j]);
                    r[q * sc + i * ldc + j] = alpha * acc + beta * c[q * sc + i * ldc + j];
                }
        snprintf(buf, sizeof buf, "batched c %s ab %s ta%d tb%d beta%.1f pad%d batch%lld M%lld N%lld K%lld", dn(cd),
                 dn(ind), ta, tb, beta, pad, (long long)batch, (long long)M, (long long)N, (long long)K);
        cmp(buf, get(tC), r, cd == DT_BF16 ? 8e-3 : 1e-6);
    };
    for (DType ind : ds) for (DType cd : ds) {
        if (ind == DT_F32 && cd == DT_BF16) continue; // F32 inputs write F32 only
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (float beta : {0.0f, 0.5f})
                    for (int pad = 0; pad < 2; pad++) batched(ind, cd, ta, tb, beta, pad, 3, 5, 9, 6);
    }
    // Batch count and strides are part of the plan key: the same problem with 3, 2 and 1
    // matrices, and with other strides, each gets its own layouts.
    for (int64_t nb : {3, 2, 1, 4}) batched(DT_BF16, DT_F32, 0, 1, 0.0f, 0, nb, 7, 7, 8);
    batched(DT_BF16, DT_F32, 0, 1, 0.0f, 1, 2, 7, 7, 8);
    // More matrices than one cuBLASLt call takes (CUDA_GEMM_MAX_BATCH): split into calls, each operand advanced
    // by its stride, padding and the matrix past the batch untouched.
    batched(DT_BF16, DT_F32, 0, 1, 0.5f, 1, CUDA_GEMM_MAX_BATCH + 2, 2, 3, 8);
    // The attention shapes: scores (Q K^T), P V and the transposed backward products.
    batched(DT_BF16, DT_F32, 0, 1, 0.0f, 0, 4, 16, 16, 32);
    batched(DT_BF16, DT_F32, 0, 0, 0.0f, 1, 4, 16, 32, 16);
    batched(DT_F32, DT_F32, 1, 0, 0.0f, 1, 4, 16, 32, 16);
    extern int fake_heuristic_calls;
    printf("%d checks, %d failed; %d plans built\n", checks, fails, fake_heuristic_calls);
    cuda_gemm_release(&cx);
    return fails != 0;
}
