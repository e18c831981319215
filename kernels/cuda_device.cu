// GPU detection that never fails on machines without a GPU or driver, and
// device selection for a rank. The rule (cluster.md §3): a GPU path only if
// cudaGetDeviceCount returns cudaSuccess and n > 0; otherwise clear the error
// and report none.
#include "cuda_check.cuh"
#include "kernels/cuda_api.h"

#include <stdio.h>

extern "C" int dfer_cuda_device_count(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n > 0 ? n : 0;
}

extern "C" int dfer_cuda_describe(int device, char *buf, int len) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(buf, (size_t)len, "unavailable");
        return -1;
    }
    snprintf(buf, (size_t)len, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    return 0;
}

extern "C" int dfer_cuda_pci_bus_id(int device, char *buf, int len) {
    if (cudaDeviceGetPCIBusId(buf, len, device) != cudaSuccess) {
        (void)cudaGetLastError();
        if (len > 0) buf[0] = '\0';
        return -1;
    }
    return 0;
}

extern "C" const char *dfer_cuda_build_archs(void) { return DFER_CUDA_ARCHS; }

extern "C" void dfer_cuda_select(int device) { CUDA_CHECK(cudaSetDevice(device)); }
