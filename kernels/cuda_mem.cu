// Device memory high-water mark from cudaMemGetInfo samples (see cuda_mem.h).
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" {
#include "core/check.h"
}
#include "kernels/cuda_mem.h"

static size_t g_baseline, g_peak;

extern "C" int dfer_cuda_current_device(void) {
    int d = 0;
    if (cudaGetDevice(&d) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return d;
}

extern "C" size_t dfer_cuda_used_bytes(void) {
    size_t free_b = 0, total_b = 0;
    cudaError_t e = cudaMemGetInfo(&free_b, &total_b);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        static int warned; // the peak would read low from here on: say so, once
        if (!warned++)
            fprintf(stderr,
                    "warning: %s:%d: rank %d on %s: cudaMemGetInfo failed (%s): device memory figures after "
                    "this are not measured\n",
                    __FILE__, __LINE__, dfer_rank(), dfer_host(), cudaGetErrorString(e));
        return 0;
    }
    return total_b - free_b;
}

extern "C" void dfer_cuda_mem_reset(void) { g_baseline = g_peak = dfer_cuda_used_bytes(); }

extern "C" size_t dfer_cuda_mem_sample(void) {
    size_t used = dfer_cuda_used_bytes();
    if (used > g_peak) g_peak = used;
    return used;
}

extern "C" size_t dfer_cuda_peak_bytes(void) {
    dfer_cuda_mem_sample();
    return g_peak > g_baseline ? g_peak - g_baseline : 0;
}

extern "C" size_t dfer_cuda_baseline_bytes(void) { return g_baseline; }
