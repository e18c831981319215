// GEMMs (linear, matmul, linear_backward) through cuBLASLt.
//
// Row-major to column-major: a row-major X[r, c] is, to cuBLAS, the column-major
// X^T (c rows, ld c). So row-major C[M,N] = op(A)[M,K] op(B)[K,N] is computed as
// the column-major problem C^T[N,M] = op(B)^T op(A)^T, i.e. cuBLAS m' = N,
// n' = M, k' = K with cuBLAS A' = our b and cuBLAS B' = our a:
//   A' = b: tb = 0: b stored [K,N] -> col-major N x K (ld N), OP_N
//           tb = 1: b stored [N,K] -> col-major K x N (ld K), OP_T
//   B' = a: ta = 0: a stored [M,K] -> col-major K x M (ld K), OP_N
//           ta = 1: a stored [K,M] -> col-major M x K (ld M), OP_T
//   C' = D' = c: col-major N x M (ld N).
// A bias over our columns (length N) is a bias over the rows of D', which is
// what CUBLASLT_EPILOGUE_BIAS adds. linear y[R,O] = x[R,I] w[O,I]^T is the case
// a = x, b = w, ta = 0, tb = 1.
//
// Dtypes (ops.h): BF16 x BF16 -> C BF16 or F32 and F32 x F32 -> C F32 run as
// they are, with CUBLAS_COMPUTE_32F (no TF32: F32 GEMMs stay comparable with the
// CPU reference). Mixed inputs (an F32 trainable weight meeting a BF16
// activation) first round the F32 operand into a BF16 scratch copy. Where the
// cuBLASLt output cannot be the destination itself (F32 x F32 into a BF16 C, or
// a bias whose dtype differs from a BF16 output, which cuBLASLt's BIAS epilogue
// does not take: the bias must have the output's dtype), the GEMM writes an F32
// scratch (C converted in first when beta != 0) and one kernel adds the bias and
// rounds once into C (eight elements a thread where N % 8 == 0: the composed
// adapters' products with their F32 weights and biases take this path).
//
// Strided-batched GEMMs (cuda_gemm_strided_batched, cuda_common.cuh: attention_gemm.cu's
// attention path): the same mapping per matrix i of a batch, with row-major leading
// dimensions and element strides between the matrices of each operand; every
// layout carries CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT and _STRIDED_BATCH_OFFSET.
// Both inputs must already have one dtype (BF16 or F32) and C must be one that
// cuBLASLt writes for it (F32, or BF16 under BF16 inputs): that path needs no
// conversion or output scratch and never touches cuda_scratch, so a caller may
// keep its own buffers live across calls.
//
// Plans (descriptors, layouts, the heuristic's algorithm) are cached per
// (problem, transposes, dtypes, leading dimensions, batch count and strides,
// epilogue, beta != 0, pointer alignments). BF16
// outputs exclude split-K schemes that reduce in BF16 (see heuristic). If no
// algorithm takes the BIAS epilogue for a problem, the bias goes to the
// finishing kernel instead (remembered per problem).
#include <string.h>

#include "cuda_common.cuh"

// Distinct problems of a FineCLIPER or DFER-CLIP run: every linear's forward, input- and
// weight-gradient products at the training, evaluation and last-batch sizes, each tower, plus
// attention's batched products per sequence length and chunk size: a few hundred at most.
// Recycling would re-ask the heuristic every step; cuda_gemm_stats says whether it happens.
enum { GEMM_CACHE_SIZE = 512 };

struct GemmKey {
    int64_t m, n, k;       // cuBLAS problem (m' n' k' above)
    int32_t op_a, op_b;    // cublasOperation_t
    int32_t type_a, type_b, type_c; // cudaDataType_t (D has C's type)
    int32_t epilogue;
    int32_t beta_nonzero;
    int32_t align_a, align_b, align_c; // bytes, power of two up to 256
    int32_t align_bias;                // the BIAS epilogue's vector, likewise (0 without the epilogue)
    int64_t ld_a, ld_b, ld_c;          // column-major leading dimensions of A', B', C' (= D')
    int64_t batch;                     // matrices per operand (1: a plain GEMM, no batch attributes)
    int64_t stride_a, stride_b, stride_c; // elements between consecutive matrices (batch > 1)
};

struct GemmPlan {
    GemmKey key;
    uint64_t hash; // of key: compared first, so a lookup scans integers
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
    int used;
    int ok; // 0: the heuristic found no algorithm (remembered, so it is asked once)
};

namespace {

// Largest power of two (up to 256) dividing the address: cuBLASLt's alignment preferences.
int ptr_alignment(const void *p) {
    uintptr_t a = (uintptr_t)p;
    int al = 1;
    while (al < 256 && (a & (uintptr_t)(2 * al - 1)) == 0) al *= 2;
    return al;
}

void plan_destroy(GemmPlan *p) {
    if (!p->used) return;
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(p->desc));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->la));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lb));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lc));
    p->used = 0;
}

// Asks cuBLASLt for the best algorithm of plan p; 1 and *result when it has one.
int heuristic(CudaCtx *cx, const GemmPlan *p, const GemmKey *key, int restrict_schemes,
              cublasLtMatmulHeuristicResult_t *result) {
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = cx->workspace_bytes;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    uint32_t al_a = (uint32_t)key->align_a, al_b = (uint32_t)key->align_b, al_c = (uint32_t)key->align_c;
    CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
    CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
    CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c));
    CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c));
    if (restrict_schemes) {
        // Split-K with the INPLACE or OUTPUT_TYPE schemes adds partial sums in the output
        // type: a BF16 output would be rounded more than once. Allow fp32 (compute-type)
        // reduction (and, presumably, unsplit algorithms: scheme NONE has no mask bit).
        uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
        CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &schemes,
                                                          sizeof schemes));
    }
    memset(result, 0, sizeof *result);
    int returned = 0;
    // NOT_SUPPORTED means no algorithm for this configuration: an answer, not a failure.
    cublasStatus_t hs =
        cublasLtMatmulAlgoGetHeuristic(cx->lt, p->desc, p->la, p->lb, p->lc, p->lc, pref, 1, result, &returned);
    if (hs != CUBLAS_STATUS_NOT_SUPPORTED) CUBLAS_CHECK(hs);
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    return hs == CUBLAS_STATUS_SUCCESS && returned > 0 && result->state == CUBLAS_STATUS_SUCCESS;
}

// FNV-1a over the key's bytes (zeroed padding included, as for memcmp).
uint64_t key_hash(const GemmKey *key) {
    const unsigned char *b = (const unsigned char *)key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *key; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

// The plan for key, built on first use; NULL when cuBLASLt has no algorithm for it
// and fatal_if_none is 0 (fatal, naming the problem, otherwise). bias: the BIAS epilogue's
// vector (NULL without it), set before the heuristic is asked: cuBLASLt reads the pointer's
// alignment from it there (cublasLt.h, CUBLASLT_MATMUL_DESC_BIAS_POINTER); key->align_bias
// keeps plans apart by it, and each matmul sets its own pointer again.
const GemmPlan *plan_get(CudaCtx *cx, const GemmKey *key, const char *op, int fatal_if_none, const void *bias) {
    if (!cx->plans) {
        cx->plans = (GemmPlan *)calloc(GEMM_CACHE_SIZE, sizeof(GemmPlan));
        CHECK(cx->plans, "%s: out of host memory for the GEMM plan cache", op);
    }
    const uint64_t h = key_hash(key);
    for (int i = 0; i < cx->plan_count; i++)
        if (cx->plans[i].used && cx->plans[i].hash == h && memcmp(&cx->plans[i].key, key, sizeof *key) == 0) {
            if (!cx->plans[i].ok && fatal_if_none) break; // report it below
            return cx->plans[i].ok ? &cx->plans[i] : NULL;
        }

    // Miss: take a free slot, or recycle one round-robin.
    GemmPlan *p;
    if (cx->plan_count < GEMM_CACHE_SIZE) {
        p = &cx->plans[cx->plan_count++];
    } else {
        p = &cx->plans[cx->plan_next];
        cx->plan_next = (cx->plan_next + 1) % GEMM_CACHE_SIZE;
        plan_destroy(p);
        cx->plan_evictions++;
    }
    cx->plan_misses++;
    memset(p, 0, sizeof *p);
    p->key = *key;
    p->hash = h;

    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t op_a = (cublasOperation_t)key->op_a, op_b = (cublasOperation_t)key->op_b;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
    cublasLtEpilogue_t epi = (cublasLtEpilogue_t)key->epilogue;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    if (bias)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));

    // Stored shapes (rows x cols, column-major) of A' and B' before their op.
    uint64_t a_rows = op_a == CUBLAS_OP_N ? key->m : key->k, a_cols = op_a == CUBLAS_OP_N ? key->k : key->m;
    uint64_t b_rows = op_b == CUBLAS_OP_N ? key->k : key->n, b_cols = op_b == CUBLAS_OP_N ? key->n : key->k;
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->la, (cudaDataType_t)key->type_a, a_rows, a_cols, key->ld_a));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lb, (cudaDataType_t)key->type_b, b_rows, b_cols, key->ld_b));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lc, (cudaDataType_t)key->type_c, key->m, key->n, key->ld_c));
    if (key->batch > 1) {
        // Strided batch: matrix i of each operand starts i * stride elements after the first
        // (C's layout is D's too). BATCH_COUNT is int32_t, STRIDED_BATCH_OFFSET int64_t.
        const int32_t count = (int32_t)key->batch;
        const cublasLtMatrixLayout_t lays[3] = {p->la, p->lb, p->lc};
        const int64_t strides[3] = {key->stride_a, key->stride_b, key->stride_c};
        for (int i = 0; i < 3; i++) {
            CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(lays[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                          sizeof count));
            CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(lays[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                          &strides[i], sizeof strides[i]));
        }
    }

    // BF16 outputs first ask without the split-K schemes that reduce in BF16; if the
    // header's mask semantics exclude every candidate, ask again unrestricted.
    cublasLtMatmulHeuristicResult_t result;
    int found = heuristic(cx, p, key, key->type_c == CUDA_R_16BF, &result);
    if (!found && key->type_c == CUDA_R_16BF) {
        found = heuristic(cx, p, key, 0, &result);
        cx->plan_mask_retries++;
    }
    if (found) { // counted so that a GPU run shows what the mask does (dfer bench: gemm_plans)
        int32_t split_k = 1;
        size_t written = 0;
        CUBLAS_CHECK(cublasLtMatmulAlgoConfigGetAttribute(&result.algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &split_k,
                                                          sizeof split_k, &written));
        if (split_k > 1) cx->plan_split_k++;
    }
    p->used = 1;
    p->ok = found;
    if (!p->ok && !fatal_if_none) return NULL;
    if (!p->ok)
        DFER_FATAL("cublasLtMatmulAlgoGetHeuristic",
                   "%s: no cuBLASLt algorithm for the column-major problem m=%lld n=%lld k=%lld (op_a %d, op_b %d, "
                   "types A %d B %d C %d, epilogue %d, alignments %d/%d/%d bytes, leading dimensions %lld/%lld/%lld, "
                   "batch %lld with strides %lld/%lld/%lld)",
                   op, (long long)key->m, (long long)key->n, (long long)key->k, key->op_a, key->op_b, key->type_a,
                   key->type_b, key->type_c, key->epilogue, key->align_a, key->align_b, key->align_c,
                   (long long)key->ld_a, (long long)key->ld_b, (long long)key->ld_c, (long long)key->batch,
                   (long long)key->stride_a, (long long)key->stride_b, (long long)key->stride_c);
    p->algo = result.algo;
    return p;
}

// k == 0: c = beta * c (+ bias), c[M,N] row-major (no cuBLASLt call: an empty sum).
__global__ void gemm_k0_kernel(void *c, int c_bf16, const void *bias, int bias_bf16, int64_t m, int64_t n, float beta) {
    CUDA_GRID_LOOP(i, m * n) {
        float v = beta != 0.0f ? beta * load_f(c, c_bf16, i) : 0.0f;
        if (bias) v += load_f(bias, bias_bf16, i % n);
        store_f(c, c_bf16, i, v);
    }
}

// c[M,N] = src[M,N] (+ bias[N]) rounded once to c's dtype; src may be c itself when c is F32.
template <typename TC>
__global__ void gemm_finish_kernel(TC *c, const float *src, const void *bias, int bias_bf16, int64_t m, int64_t n) {
    CUDA_GRID_LOOP(i, m * n) {
        float v = src[i];
        if (bias) v += load_f(bias, bias_bf16, i % n);
        c[i] = from_f<TC>(v);
    }
}

// The same, eight elements a thread (n % 8 == 0; c, src and bias 16-byte aligned): 16-byte accesses and the
// column's 64-bit modulo once per eight. TB: the bias's type (unused without one).
template <typename TC, typename TB>
__global__ void gemm_finish_vec_kernel(TC *c, const float *src, const TB *bias, int64_t m, int64_t n) {
    CUDA_GRID_LOOP(i8, m * n / 8) {
        const int64_t i = 8 * i8;
        float v[8];
        load8(src + i, v);
        if (bias) {
            float b[8];
            load8(bias + i % n, b);
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] += b[k];
        }
        store8(c + i, v);
    }
}

struct Operand {
    const void *p;
    int bf16;
};

} // namespace

// The key of row-major c[M,N] = op(a) op(b) as cuBLASLt's column-major problem (A' = b, B' = a,
// C' = c: see the top of this file), without epilogue, layouts or alignments yet. Zeroed first,
// padding too: keys are compared with memcmp.
static GemmKey key_start(int64_t M, int64_t N, int64_t K, int ta, int tb, int in_bf16, int out_bf16, float beta) {
    GemmKey key;
    memset(&key, 0, sizeof key);
    key.m = N;
    key.n = M;
    key.k = K;
    key.op_a = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    key.op_b = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    key.type_a = key.type_b = in_bf16 ? CUDA_R_16BF : CUDA_R_32F;
    key.type_c = out_bf16 ? CUDA_R_16BF : CUDA_R_32F;
    key.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    key.beta_nonzero = beta != 0.0f;
    return key;
}

// Row-major c[M,N] = alpha * op(a) op(b) + beta * c (+ bias[N] when bias.p).
static void gemm(CudaCtx *cx, const char *op, void *c, int c_bf16, Operand a, Operand b, Operand bias, int64_t M,
                 int64_t N, int64_t K, int ta, int tb, float alpha, float beta) {
    if (M == 0 || N == 0) return;
    if (K == 0) {
        gemm_k0_kernel<<<cuda_grid(M * N, 256), 256, 0, cx->stream>>>(c, c_bf16, bias.p, bias.bf16, M, N, beta);
        CUDA_CHECK_LAUNCH();
        return;
    }
    const int in_bf16 = a.bf16 || b.bf16;
    const int conv_a = in_bf16 && !a.bf16, conv_b = in_bf16 && !b.bf16; // F32 operands rounded to BF16 copies
    // The BIAS epilogue takes a bias of the output's dtype; try it when that fits, else
    // (or when cuBLASLt has no algorithm with it) the finishing kernel adds the bias.
    int allow_epi = bias.p && cuda_aligned16(bias.p);
    int direct, out_bf16, epi_bias, post_bias;
    const GemmPlan *plan = NULL;
    for (;;) {
        // Where cuBLASLt writes: c itself, or an F32 scratch that a finishing kernel rounds into c.
        direct = in_bf16 || !c_bf16;
        out_bf16 = direct ? c_bf16 : 0;
        epi_bias = post_bias = 0;
        if (bias.p) {
            if (allow_epi && bias.bf16 == out_bf16) {
                epi_bias = 1;
            } else {
                post_bias = 1;
                if (out_bf16) { // adding after a BF16 store would round twice
                    direct = 0;
                    out_bf16 = 0;
                }
            }
        }
        GemmKey key = key_start(M, N, K, ta, tb, in_bf16, out_bf16, beta);
        key.epilogue = epi_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
        key.align_bias = epi_bias ? ptr_alignment(bias.p) : 0;
        // Scratch copies and the scratch output are 256-byte aligned.
        key.align_a = conv_b ? 256 : ptr_alignment(b.p);
        key.align_b = conv_a ? 256 : ptr_alignment(a.p);
        key.align_c = direct ? ptr_alignment(c) : 256;
        // Dense operands: leading dimension = the stored (column-major) row count.
        key.ld_a = tb ? K : N;
        key.ld_b = ta ? M : K;
        key.ld_c = N;
        key.batch = 1;
        plan = plan_get(cx, &key, op, /* fatal_if_none = */ !epi_bias, epi_bias ? bias.p : NULL);
        if (plan) break;
        allow_epi = 0;
    }

    // Scratch: [a as BF16][b as BF16][F32 output], each 256-byte aligned.
    size_t bytes_a = conv_a ? cuda_align_up((size_t)(M * K) * 2, 256) : 0;
    size_t bytes_b = conv_b ? cuda_align_up((size_t)(K * N) * 2, 256) : 0;
    size_t bytes_out = direct ? 0 : cuda_align_up((size_t)(M * N) * 4, 256);
    size_t total = bytes_a + bytes_b + bytes_out;
    char *scr = total ? (char *)cuda_scratch(cx, total) : NULL;
    if (conv_a) {
        cuda_convert(cx, scr, 1, a.p, 0, M * K);
        a.p = scr;
    }
    if (conv_b) {
        cuda_convert(cx, scr + bytes_a, 1, b.p, 0, K * N);
        b.p = scr + bytes_a;
    }
    void *d = c;
    if (!direct) {
        d = scr + bytes_a + bytes_b;
        if (beta != 0.0f) cuda_convert(cx, d, 0, c, c_bf16, M * N);
    }

    if (epi_bias)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias.p,
                                                    sizeof bias.p));
    CUBLAS_CHECK(cublasLtMatmul(cx->lt, plan->desc, &alpha, b.p, plan->la, a.p, plan->lb, &beta, d, plan->lc, d,
                                plan->lc, &plan->algo, cx->workspace, cx->workspace_bytes, cx->stream));

    if (!direct || post_bias) {
        const float *src = (const float *)d; // F32: the scratch, or c itself when c is F32
        const void *bp = post_bias ? bias.p : NULL;
        if (N % 8 == 0 && cuda_aligned16(c) && cuda_aligned16(src) && (!bp || cuda_aligned16(bp))) {
            FT_DISPATCH(c_bf16, TC, FT_DISPATCH(bias.bf16, TB,
                gemm_finish_vec_kernel<TC, TB><<<cuda_grid(M * N / 8, 256), 256, 0, cx->stream>>>(
                    (TC *)c, src, (const TB *)bp, M, N)));
        } else {
            FT_DISPATCH(c_bf16, TC,
                        gemm_finish_kernel<TC><<<cuda_grid(M * N, 256), 256, 0, cx->stream>>>((TC *)c, src, bp,
                                                                                               bias.bf16, M, N));
        }
        CUDA_CHECK_LAUNCH();
    }
}

void cuda_gemm(CudaCtx *cx, const char *op, void *c, int c_bf16, const void *a, int a_bf16, const void *b, int b_bf16,
               int64_t M, int64_t N, int64_t K, int ta, int tb, float alpha, float beta) {
    Operand oa = {a, a_bf16}, ob = {b, b_bf16}, none = {NULL, 0};
    gemm(cx, op, c, c_bf16, oa, ob, none, M, N, K, ta, tb, alpha, beta);
}

// Alignment cuBLASLt may assume of matrix i of a strided batch: that of the first
// matrix, and of the stride between matrices (both in bytes).
static int batched_alignment(const void *p, int64_t stride, int elem_bytes) {
    int al = ptr_alignment(p);
    uint64_t step = (uint64_t)stride * (uint64_t)elem_bytes;
    int st = 1;
    if (step == 0) return al;
    while (st < al && (step & (uint64_t)(2 * st - 1)) == 0) st *= 2;
    return st < al ? st : al;
}

static int mat_elem_bytes(CudaMat m) { return m.bf16 ? 2 : 4; }
// The operand's matrices from matrix `first` on.
static CudaMat mat_from(CudaMat m, int64_t first) {
    m.p = (const char *)m.p + first * m.stride * mat_elem_bytes(m);
    return m;
}

void cuda_gemm_strided_batched(CudaCtx *cx, const char *op, CudaMat c, CudaMat a, int ta, CudaMat b, int tb, int64_t M,
                               int64_t N, int64_t K, int64_t batch, float alpha, float beta) {
    if (M == 0 || N == 0 || batch == 0) return;
    if (batch > CUDA_GEMM_MAX_BATCH) { // in calls of at most that many matrices, each operand advanced by its stride
        for (int64_t at = 0; at < batch; at += CUDA_GEMM_MAX_BATCH) {
            const int64_t n = batch - at < CUDA_GEMM_MAX_BATCH ? batch - at : CUDA_GEMM_MAX_BATCH;
            cuda_gemm_strided_batched(cx, op, mat_from(c, at), mat_from(a, at), ta, mat_from(b, at), tb, M, N, K, n,
                                      alpha, beta);
        }
        return;
    }
    CHECK(K > 0 && batch > 0, "%s: strided-batched GEMM with K = %lld, batch %lld", op,
          (long long)K, (long long)batch);
    CHECK(a.bf16 == b.bf16, "%s: strided-batched GEMM operands must share a dtype (a %s, b %s)", op,
          a.bf16 ? "BF16" : "F32", b.bf16 ? "BF16" : "F32");
    CHECK(a.bf16 || !c.bf16, "%s: strided-batched GEMM: F32 inputs cannot write a BF16 C", op);
    // Stored (row-major) row lengths: a [M,K] or [K,M], b [K,N] or [N,K], c [M,N].
    const int64_t a_len = ta ? M : K, b_len = tb ? K : N;
    CHECK(a.ld >= a_len && b.ld >= b_len && c.ld >= N,
          "%s: strided-batched GEMM leading dimensions %lld/%lld/%lld below the row lengths %lld/%lld/%lld", op,
          (long long)a.ld, (long long)b.ld, (long long)c.ld, (long long)a_len, (long long)b_len, (long long)N);
    const int in_bytes = mat_elem_bytes(a), c_bytes = mat_elem_bytes(c);
    GemmKey key = key_start(M, N, K, ta, tb, a.bf16, c.bf16, beta);
    key.batch = batch;
    key.align_a = batched_alignment(b.p, batch > 1 ? b.stride : 0, in_bytes);
    key.align_b = batched_alignment(a.p, batch > 1 ? a.stride : 0, in_bytes);
    key.align_c = batched_alignment(c.p, batch > 1 ? c.stride : 0, c_bytes);
    key.ld_a = b.ld; // A' = b, B' = a, C' = c (see the top of this file)
    key.ld_b = a.ld;
    key.ld_c = c.ld;
    if (batch > 1) { // with one matrix the strides mean nothing: keep them out of the key
        key.stride_a = b.stride;
        key.stride_b = a.stride;
        key.stride_c = c.stride;
    }
    const GemmPlan *plan = plan_get(cx, &key, op, /* fatal_if_none = */ 1, NULL);
    void *d = (void *)c.p;
    CUBLAS_CHECK(cublasLtMatmul(cx->lt, plan->desc, &alpha, b.p, plan->la, a.p, plan->lb, &beta, d, plan->lc, d,
                                plan->lc, &plan->algo, cx->workspace, cx->workspace_bytes, cx->stream));
}

void cuda_gemm_release(CudaCtx *cx) {
    if (!cx->plans) return;
    for (int i = 0; i < cx->plan_count; i++) plan_destroy(&cx->plans[i]);
    free(cx->plans);
    cx->plans = NULL;
    cx->plan_count = cx->plan_next = 0;
}

static Operand operand(T t, const char *op) {
    Operand o;
    o.p = t->data;
    o.bf16 = cuda_fdtype(t, op);
    return o;
}

void cu_linear(Ops *ops, T y, T x, T w, T b) {
    // y[R,O] = x[R,I] w[O,I]^T + b[O]
    Operand bias = {NULL, 0};
    if (b && b->data) bias = operand(b, "linear");
    gemm(cuda_ctx(ops), "linear", y->data, cuda_fdtype(y, "linear"), operand(x, "linear"), operand(w, "linear"), bias,
         ops_rows(x), w->shape[0], w->shape[1], 0, 1, 1.0f, 0.0f);
}

void cu_matmul(Ops *ops, T c, T a, T b, int trans_a, int trans_b, float alpha, float beta) {
    int64_t m = c->shape[0], n = c->shape[1], k = trans_a ? a->shape[0] : a->shape[1];
    Operand none = {NULL, 0};
    gemm(cuda_ctx(ops), "matmul", c->data, cuda_fdtype(c, "matmul"), operand(a, "matmul"), operand(b, "matmul"), none,
         m, n, k, trans_a, trans_b, alpha, beta);
}

void cu_linear_backward(Ops *ops, T dx, T dw, T db, T dy, T x, T w, int accumulate) {
    CudaCtx *cx = cuda_ctx(ops);
    const char *op = "linear_backward";
    int64_t rows = ops_rows(dy), out = w->shape[0], in = w->shape[1];
    Operand none = {NULL, 0};
    Operand ody = operand(dy, op);
    // dx[R,I] (= or +=) dy[R,O] w[O,I]
    if (dx && dx->data)
        gemm(cx, op, dx->data, cuda_fdtype(dx, op), ody, operand(w, op), none, rows, in, out, 0, 0, 1.0f,
             accumulate ? 1.0f : 0.0f);
    // dw[O,I] += dy^T[O,R] x[R,I]
    if (dw && dw->data)
        gemm(cx, op, dw->data, cuda_fdtype(dw, op), ody, operand(x, op), none, out, in, rows, 1, 0, 1.0f, 1.0f);
    // db[O] += column sums of dy[R,O] (own deterministic reduction, fp32)
    if (db && db->data) cuda_colsum_accumulate(cx, db->data, cuda_fdtype(db, op), dy->data, ody.bf16, rows, out, out);
}
