// Host fake of the cuBLASLt calls gemm.cu makes: a naive column-major GEMM honouring the descriptors.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cstring>
#include <cstdio>
#include <cstdlib>
struct FDesc { int opa, opb, epi; const void *bias; int compute, scale; int set_bias_type; };
struct FLay { int type; uint64_t rows, cols; int64_t ld; int32_t batch; int64_t stride; }; // batch 1 unless set
// Memory hooks (emu_common.h; no-ops in the kernel test, device-memory checks in the emulated backend).
void emu_check_device_range(const char *what, const void *p, size_t bytes);
void emu_device_access(bool open);
void emu_stream_order(cudaStream_t stream);
// Bytes a column-major operand spans: its last column's end, in the last matrix of the batch.
static size_t span(const FLay *l, size_t es) {
    return (size_t)(((int64_t)l->cols - 1) * l->ld + (int64_t)l->rows + (int64_t)(l->batch - 1) * l->stride) * es;
}
extern "C" {
cublasStatus_t cublasLtCreate(cublasLtHandle_t *h) {
    *h = (cublasLtHandle_t)calloc(1, 64);
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) { free(h); return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t ct, cudaDataType_t st) {
    *d = (cublasLtMatmulDesc_t)calloc(1, sizeof(cublasLtMatmulDescOpaque_t));
    FDesc *f = (FDesc *)*d; f->compute = ct; f->scale = st;
    if (ct != CUBLAS_COMPUTE_32F || st != CUDA_R_32F) { printf("fake: bad compute\n"); exit(3); }
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) { free(d); return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a, const void *buf,
                                              size_t n) {
    FDesc *f = (FDesc *)d;
    switch (a) {
    case CUBLASLT_MATMUL_DESC_TRANSA: f->opa = *(const int *)buf; break;
    case CUBLASLT_MATMUL_DESC_TRANSB: f->opb = *(const int *)buf; break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE: f->epi = *(const int *)buf; break;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
        if (n != sizeof(void *)) exit(4);
        memcpy(&f->bias, buf, sizeof(void *));
        break;
    default: printf("fake: unexpected desc attribute %d\n", (int)a); exit(3);
    }
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType t, uint64_t rows, uint64_t cols,
                                          int64_t ld) {
    *l = (cublasLtMatrixLayout_t)calloc(1, sizeof(cublasLtMatrixLayoutOpaque_t));
    FLay *f = (FLay *)*l; f->type = t; f->rows = rows; f->cols = cols; f->ld = ld; f->batch = 1; f->stride = 0;
    if (ld < (int64_t)rows) { printf("fake: ld %lld < rows %llu\n", (long long)ld, (unsigned long long)rows); exit(3); }
    return CUBLAS_STATUS_SUCCESS;
}
// Strided batches: BATCH_COUNT (int32_t) matrices, STRIDED_BATCH_OFFSET (int64_t) elements apart.
cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t a,
                                                const void *buf, size_t n) {
    FLay *f = (FLay *)l;
    switch (a) {
    case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT:
        if (n != sizeof(int32_t)) { printf("fake: BATCH_COUNT of %zu bytes\n", n); exit(4); }
        memcpy(&f->batch, buf, sizeof(int32_t));
        if (f->batch < 1) { printf("fake: batch count %d\n", (int)f->batch); exit(3); }
        // cuBLAS(Lt) kernels may put the batch in a grid dimension (y, z: 65,535 at most); dfer must not rely on more
        if (f->batch > 65535) { printf("fake: batch count %d above 65535\n", (int)f->batch); exit(3); }
        break;
    case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET:
        if (n != sizeof(int64_t)) { printf("fake: STRIDED_BATCH_OFFSET of %zu bytes\n", n); exit(4); }
        memcpy(&f->stride, buf, sizeof(int64_t));
        break;
    default: printf("fake: unexpected layout attribute %d\n", (int)a); exit(3);
    }
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) { free(l); return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p) {
    *p = (cublasLtMatmulPreference_t)calloc(1, sizeof(cublasLtMatmulPreferenceOpaque_t));
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) { free(p); return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t,
                                                    const void *, size_t) {
    return CUBLAS_STATUS_SUCCESS;
}
int fake_heuristic_calls = 0;
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t fd, cublasLtMatrixLayout_t,
                                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                              cublasLtMatmulPreference_t, int req, cublasLtMatmulHeuristicResult_t *r,
                                              int *ret) {
    fake_heuristic_calls++;
    if (req < 1) exit(3);
    // cuBLASLt reads the bias pointer's alignment while choosing an algorithm for the BIAS epilogue
    if (((FDesc *)fd)->epi == CUBLASLT_EPILOGUE_BIAS && !((FDesc *)fd)->bias) {
        printf("fake: BIAS epilogue heuristic asked without the bias pointer\n");
        exit(3);
    }
    if (getenv("FAKE_NO_EPI") && ((FDesc *)fd)->epi != CUBLASLT_EPILOGUE_DEFAULT) {
        *ret = 0;
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    memset(r, 0, sizeof *r); r->state = CUBLAS_STATUS_SUCCESS; *ret = 1; return CUBLAS_STATUS_SUCCESS;
}
// The fake algorithm never splits K.
cublasStatus_t cublasLtMatmulAlgoConfigGetAttribute(const cublasLtMatmulAlgo_t *,
                                                    cublasLtMatmulAlgoConfigAttributes_t a, void *buf, size_t n,
                                                    size_t *written) {
    if (a != CUBLASLT_ALGO_CONFIG_SPLITK_NUM || n < sizeof(int32_t)) return CUBLAS_STATUS_NOT_SUPPORTED;
    *(int32_t *)buf = 1; if (written) *written = sizeof(int32_t); return CUBLAS_STATUS_SUCCESS;
}
static double ld(int t, const void *p, int64_t i) {
    return t == CUDA_R_16BF ? (double)__bfloat162float(((const __nv_bfloat16 *)p)[i]) : (double)((const float *)p)[i];
}
cublasStatus_t cublasLtMatmul(cublasLtHandle_t, cublasLtMatmulDesc_t cd, const void *alpha, const void *A,
                              cublasLtMatrixLayout_t Ad, const void *B, cublasLtMatrixLayout_t Bd, const void *beta,
                              const void *C, cublasLtMatrixLayout_t Cd, void *D, cublasLtMatrixLayout_t Dd,
                              const cublasLtMatmulAlgo_t *, void *ws, size_t ws_bytes, cudaStream_t stream) {
    emu_stream_order(stream);
    FDesc *f = (FDesc *)cd; FLay *a = (FLay *)Ad, *b = (FLay *)Bd, *c = (FLay *)Cd, *d = (FLay *)Dd;
    uint64_t m = c->rows, n = c->cols, k = f->opa == CUBLAS_OP_N ? a->cols : a->rows;
    uint64_t am = f->opa == CUBLAS_OP_N ? a->rows : a->cols, bk = f->opb == CUBLAS_OP_N ? b->rows : b->cols,
             bn = f->opb == CUBLAS_OP_N ? b->cols : b->rows;
    if (am != m || bk != k || bn != n || d->rows != m || d->cols != n || C != D) {
        printf("fake: shape mismatch m%llu n%llu k%llu am%llu bk%llu bn%llu\n", (unsigned long long)m,
               (unsigned long long)n, (unsigned long long)k, (unsigned long long)am, (unsigned long long)bk,
               (unsigned long long)bn);
        exit(3);
    }
    bool bf_in = a->type == CUDA_R_16BF;
    if ((b->type == CUDA_R_16BF) != bf_in) { printf("fake: mixed A/B types\n"); exit(3); }
    if (!bf_in && c->type != CUDA_R_32F) { printf("fake: F32 inputs with non-F32 C\n"); exit(3); }
    float al = *(const float *)alpha, be = *(const float *)beta;
    // Strided batch: every layout (D's is C's) has the same count; matrix q of an operand is
    // q * stride elements on (a stride below the matrix's extent would overlap: refused for C).
    if (a->batch != c->batch || b->batch != c->batch || d->batch != c->batch || d->stride != c->stride) {
        printf("fake: batch counts A %d B %d C %d D %d\n", (int)a->batch, (int)b->batch, (int)c->batch, (int)d->batch);
        exit(3);
    }
    if (c->batch > 1 && c->stride < (int64_t)(c->ld * (n - 1) + m)) {
        printf("fake: C batch stride %lld overlaps\n", (long long)c->stride);
        exit(3);
    }
    size_t ea = a->type == CUDA_R_16BF ? 2 : 4, eb = b->type == CUDA_R_16BF ? 2 : 4,
           ec = c->type == CUDA_R_16BF ? 2 : 4;
    emu_check_device_range("cublasLtMatmul A", A, span(a, ea));
    emu_check_device_range("cublasLtMatmul B", B, span(b, eb));
    emu_check_device_range("cublasLtMatmul C/D", D, span(c, ec));
    if (f->epi == CUBLASLT_EPILOGUE_BIAS) emu_check_device_range("cublasLtMatmul bias", f->bias, m * ec);
    if (ws_bytes) emu_check_device_range("cublasLtMatmul workspace", ws, ws_bytes);
    emu_device_access(true);
    const char *A0 = (const char *)A, *B0 = (const char *)B; char *D0 = (char *)D;
    double *out = (double *)malloc(m * n * sizeof(double));
    for (int32_t q = 0; q < c->batch; q++) {
    A = A0 + (size_t)(q * a->stride) * ea; B = B0 + (size_t)(q * b->stride) * eb;
    C = D = D0 + (size_t)(q * c->stride) * ec;
    for (uint64_t j = 0; j < n; j++) for (uint64_t i = 0; i < m; i++) {
        double s = 0;
        for (uint64_t p = 0; p < k; p++) {
            double av = f->opa == CUBLAS_OP_N ? ld(a->type, A, i + p * a->ld) : ld(a->type, A, p + i * a->ld);
            double bv = f->opb == CUBLAS_OP_N ? ld(b->type, B, p + j * b->ld) : ld(b->type, B, j + p * b->ld);
            s += av * bv;
        }
        double v = al * s + (be != 0 ? be * ld(c->type, C, i + j * c->ld) : 0);
        if (f->epi == CUBLASLT_EPILOGUE_BIAS) v += ld(c->type, f->bias, i);
        else if (f->epi != CUBLASLT_EPILOGUE_DEFAULT) exit(5);
        out[i + j * m] = v;
    }
    for (uint64_t j = 0; j < n; j++) for (uint64_t i = 0; i < m; i++) {
        double v = out[i + j * m];
        if (d->type == CUDA_R_16BF) ((__nv_bfloat16 *)D)[i + j * d->ld] = __float2bfloat16_rn((float)v);
        else ((float *)D)[i + j * d->ld] = (float)v;
    }
    }
    free(out);
    emu_device_access(false);
    return CUBLAS_STATUS_SUCCESS;
}
const char *cublasGetStatusString(cublasStatus_t) { return "fake"; }
}
