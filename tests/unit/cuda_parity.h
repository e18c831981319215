/* The harness of test_cuda_ops (GPU-vs-CPU parity of every op of ops.h; test_cuda_ops.c's file
 * comment has the method and the options): the tolerances, a case and its arguments, running a
 * case on both sides and again for determinism, and the probe of the CPU backend's dtypes. The
 * cases are in test_cuda_ops.c and cuda_parity_cases_nn.c. Include this header last: the cases'
 * dtype tables use one-letter macros (F, B, NO, A). */
#ifndef DFER_TEST_CUDA_PARITY_H
#define DFER_TEST_CUDA_PARITY_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"
#include "ops/ops.h"

/* ---- tolerances: max|gpu - cpu| / max|cpu| over one output ------------------------------
 * A bf16 ulp is 2^-8..2^-7 of a value; two sides that compute the same fp32 number and round
 * it once can still land one ulp apart when their fp32 paths differ in the last bits (FMA
 * contraction, --use_fast_math's __expf, summation order) and the value sits near a rounding
 * tie. Relative to the largest element that is at most 2^-7. */
#define BF16_ULP (1.0 / 128)
/* Pure data movement (embedding, gather, scatter, permute, prepend, im2col): a copy with at
 * most one F32->BF16 conversion, round-to-nearest-even on both sides: bit-exact. */
#define TOL_MOVE 0.0
/* Elementwise arithmetic (add, axpy, axpy_rows, scale, add_broadcast, mean backward). */
#define TOL_ELEM_BF16 BF16_ULP
#define TOL_ELEM_F32 1e-6 /* a few fp32 ulps: FMA contraction differs between gcc and nvcc */
/* Elementwise transcendental (activations and their derivatives): fast-math __expf and
 * erff/tanhf differ from glibc by a few fp32 ulps; BF16 outputs: one ulp. */
#define TOL_TRANS_BF16 BF16_ULP
#define TOL_TRANS_F32 2e-5
/* Row reductions then elementwise (layernorm, l2_normalize, mean over T, softmax of the
 * loss gradient): fp32 sums in another order (the CPU sums in double) plus one rounding. */
#define TOL_ROWRED_BF16 (BF16_ULP + 1e-4)
#define TOL_ROWRED_F32 1e-5
/* Layer-norm mean/rstd (F32): the CPU computes them in double; fp32 two-pass or Welford on
 * the GPU is ~1e-6 relative for D <= 768. */
#define TOL_STATS 1e-5
/* Column reductions into F32 parameter gradients (db, dg, dp, dtok) over up to ~400 rows. */
#define TOL_COLRED_F32 2e-5
/* GEMMs (linear, matmul, linear backward) with K up to 768. BF16 output: one rounding of an
 * fp32 accumulation, <= 2^-9 of the element, plus order effects: 1e-2 of max|ref|. F32
 * output: fp32 accumulation in another order, ~sqrt(K) 2^-24; 1e-4 fails TF32 (~1e-3), which
 * the contract (fp32 compute) rules out. */
#define TOL_GEMM_BF16 1e-2
#define TOL_GEMM_F32 1e-4
/* Attention forward: two GEMM-like products and an fp32 softmax. A flash-style kernel that
 * rounds P to bf16 before P.V adds ~2^-9 per term: 1.6e-2 for BF16, 1e-4 for F32. */
#define TOL_ATTN_BF16 1.6e-2
#define TOL_ATTN_F32 1e-4
/* Attention backward: four products chained through dP and dS (cancellation in P(dP - rowdot)). */
#define TOL_ATTN_BWD_BF16 3e-2
#define TOL_ATTN_BWD_F32 2e-4
/* Attention by the gemm path (kernels/attention_gemm.cu: cuBLASLt strided-batched GEMMs, the default;
 * the TOL_ATTN ones above are the tiled path's). BF16: P is rounded to BF16 before P.V (as
 * FlashAttention does), a relative error of at most 2^-9 per term p_j v_j: at most
 * 2^-9 max|v| on an output, which is 2^-9 * (max|v| / max|out| <= ~4 for these inputs) = 8e-3
 * of max|ref|, on top of the output's own rounding (BF16_ULP): 1.6e-2, made 2e-2 for margin
 * (kernels/emu, whose GEMM accumulates in double, sees <= 4.3e-3 on these inputs up to S = 257,
 * the tiled path <= 2.5e-3). F32: P stays F32 and the GEMMs run fp32 (no TF32): the tiled
 * path's 1e-4. Backward BF16: P and dS are rounded to BF16 before dV, dQ and dK, again 2^-9
 * per term but with independent signs (~2^-9 of an output; the emulator sees <= 5.6e-3, the
 * tiled path <= 2.3e-3): the tiled path's budget holds, 3e-2; F32 2e-4 as the tiled path.
 * Delta and lse (saved) are not compared here: the backward outputs depend on both. */
#define TOL_ATTN_GEMM_BF16 2e-2
#define TOL_ATTN_GEMM_F32 1e-4
#define TOL_ATTN_GEMM_BWD_BF16 3e-2
#define TOL_ATTN_GEMM_BWD_F32 2e-4
/* The adapter (op_adapter and its backward: two chained products, K = X then K = R). The GPU rounds
 * the F32 weights to BF16 as product operands, the CPU reference (the composed ops) does not:
 * 2^-9 per term with independent signs, then the hidden rounded to BF16 on both sides, where
 * that difference can flip a rounding (one BF16 ulp of a hidden value), then fc2 and one rounding
 * of out: TOL_GEMM_BF16's budget for each product, 2e-2. The F32 weight gradients sum products of
 * BF16 values computed from those operands over all rows: the same 2e-2. F32 activations take the
 * composed path on both sides (GEMM tolerances). */
#define TOL_ADAPTER_BF16 2e-2
#define TOL_ADAPTER_F32 1e-4
/* Scatter-add into F32 with repeated indices (embedding/gather backward): summation order. */
#define TOL_SCATTER_ADD_F32 1e-6
/* Per-row cross-entropy loss (F32): log-sum-exp in fp32 with __expf/__logf vs double on the CPU. */
#define TOL_CE_LOSS 1e-5
/* sum_squares: one fp32 (or wider) reduction of up to 1e6 squares vs the CPU's double sum. */
#define TOL_SUMSQ 1e-5
/* Optimiser updates (F32 only): bit for bit. kernels/loss_optim.cu evaluates the CPU's
 * expression order with round-to-nearest intrinsics, IEEE division and square root, and is
 * compiled without flush-to-zero (kernels/emu checks the same source bitwise on the CPU). */
#define TOL_OPTIM 0.0

#define TOLK(k, dt) ((dt) == DT_BF16 ? k##_BF16 : k##_F32), ((dt) == DT_BF16 ? #k "_BF16" : #k "_F32")
#define TOLN(k) (k), #k

/* ---- harness --------------------------------------------------------------------------- */
enum { CPU = 0, GPU = 1 };
enum { ARG_IN, ARG_OUT, ARG_ACCUM, ARG_NONE, ARG_SCRATCH, ARG_IDS, ARG_BYTES };
enum { DET_REPORT = 0, DET_REQUIRED = 1 };
#define F DT_F32
#define B DT_BF16
#define NO DT_COUNT /* "not computed": a tensor with data == NULL */
#define MAX_ARGS 12

typedef struct Case Case;
typedef struct Arg {
    const char *name;
    DType dt;         /* dtype of the call under test */
    DType side_dt[2]; /* what each side gets (the CPU side may be mapped to F32) */
    int role;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t n;
    float *init;  /* floating values (bf16-representable unless set otherwise) */
    int32_t *ids; /* ARG_IDS */
    uint8_t *u8;  /* ARG_BYTES: U8 input (raw pixels) */
    void *dev[2];
    size_t bytes[2];
    double tol;
    const char *tol_name;
    int det;
    unsigned char *first; /* raw bytes of the first GPU run */
    size_t (*scratch_bytes)(Case *c, Ops *ops);
} Arg;

struct Case {
    char op[48];
    char key[192];   /* op and dtype variant: what the CPU probe decides on */
    char label[320]; /* key and sizes */
    Arg a[MAX_ARGS];
    int na;
    int64_t iv[8];
    float fv[4];
    Activation act;
    void (*fn)(Case *c, Ops *ops, int side);
    int has_scalar;
    double scalar[2], scalar_first, scalar_tol;
    const char *scalar_tol_name;
    int scalar_det;
};

/* One run's options (main sets them before the first case) and counts (case_run adds to them). */
typedef struct CudaParity {
    Ops *ops[2]; /* [CPU] the reference, [GPU] the side under test */
    int quick, self_test, list, strict_det;
    const char *only;
    int ref_forced; /* -1 auto (probe), 0 same dtypes, 1 all-F32 */
    int cases, cases_f32ref, outputs, nondet_reported;
} CudaParity;
extern CudaParity cuda_parity;

static inline float bf16_round(float v) { return bf16_to_f32(f32_to_bf16(v)); }

static inline const char *dn(DType t) { return t == DT_BF16 ? "BF16" : dtype_name(t); }

/* A case of op with its dtype variant (printf-style): the label, and the key the probe decides on. */
Case *case_new(const char *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends " [sizes]" to the label (not to the key: the probe runs other sizes). */
void case_sizes(Case *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define SHAPE(...) (const int64_t[]){__VA_ARGS__}, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

Arg *arg_add(Case *c, const char *name, DType dt, int role, const int64_t *shape, int ndim);
/* An input of N(0, scale^2) values (then rounded to bf16). */
Arg *arg_in(Case *c, const char *name, DType dt, double scale, const int64_t *shape, int ndim);
/* An output the op overwrites (starts as NaN on both sides). */
Arg *arg_out(Case *c, const char *name, DType dt, double tol, const char *tol_name, int det, const int64_t *shape,
             int ndim);
/* An output the op reads and updates (+=, beta, optimiser state): same random start on both sides. */
Arg *arg_acc(Case *c, const char *name, DType dt, double tol, const char *tol_name, int det, const int64_t *shape,
             int ndim);
/* A tensor with data == NULL: "not computed" (frozen weight gradients, no stats, ...). */
Arg *arg_none(Case *c, const char *name, DType dt, const int64_t *shape, int ndim);
/* U8 bytes (raw pixels): 0..255, then random. */
Arg *arg_bytes(Case *c, const char *name, const int64_t *shape, int ndim);
/* I32 indices in [0, limit); distinct ones when asked (n <= limit), else with repeats. */
Arg *arg_ids(Case *c, const char *name, int64_t n, int64_t limit, int distinct);

/* Argument i of a case as the tensor one side's call gets. */
Tensor case_arg_tensor(Case *c, int i, int side);
/* In a case's fn(c, o, s): argument i on side s. */
#define A(i) case_arg_tensor(c, (i), s)

/* Runs a case (or lists it, or probes it) and frees it. */
void case_run(Case *c);

/* Decides which cases' CPU reference runs all-F32 by running run_all_cases' CPU sides in child
 * processes; call before this process touches OpenMP or CUDA. Returns how many it found. */
int cuda_parity_probe_cpu_dtypes(void (*run_all_cases)(void));

/* A named dtype variant of a case family: which operand each of a, b, c is, its table says. */
typedef struct Dt3 {
    const char *name;
    DType a, b, c;
} Dt3;

/* The cases of the layers' ops (cuda_parity_cases_nn.c). run_all_cases in test_cuda_ops.c fixes the
 * order of all cases, which their random inputs follow. */
void cuda_parity_cases_linear(void);
void cuda_parity_cases_linear_bwd(void);
void cuda_parity_cases_matmul(void);
void cuda_parity_cases_layernorm(void);
void cuda_parity_cases_layernorm_bwd(void);
void cuda_parity_cases_activation(void);
void cuda_parity_cases_attention(void);
void cuda_parity_cases_adapter(void);

#endif
