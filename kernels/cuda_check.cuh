// Check macros for CUDA, cuBLAS(Lt) and NCCL calls: the failing statement,
// file, line, function, MPI rank and host (through dfer_fatal in core/check.h).
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

extern "C" {
#include "core/check.h"
}

#define CUDA_CHECK(expr)                                                                  \
    do {                                                                                  \
        cudaError_t e_ = (expr);                                                          \
        if (e_ != cudaSuccess) DFER_FATAL(#expr, "CUDA error %d: %s", (int)e_, cudaGetErrorString(e_)); \
    } while (0)

// After every kernel launch: configuration errors surface here, not later.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

#define CUBLAS_CHECK(expr)                                                                 \
    do {                                                                                   \
        cublasStatus_t s_ = (expr);                                                        \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                   \
            DFER_FATAL(#expr, "cuBLAS status %d: %s", (int)s_, cublasGetStatusString(s_)); \
    } while (0)

#define NCCL_CHECK(expr)                                                                  \
    do {                                                                                  \
        ncclResult_t r_ = (expr);                                                         \
        if (r_ != ncclSuccess) DFER_FATAL(#expr, "NCCL error %d: %s", (int)r_, ncclGetErrorString(r_)); \
    } while (0)
