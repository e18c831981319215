/* Device memory in use, for `dfer bench` (src/train/bench.c): cudaMemGetInfo's
 * total - free on the current device, sampled by the caller at the points it
 * chooses (the benchmark samples after a device sync at every phase boundary),
 * with the highest sample kept. It counts everything the process holds on the
 * device (allocations, pools, cuBLAS workspaces, fragmentation) above the
 * baseline taken at reset, so it is at least what PyTorch's
 * max_memory_allocated would say for the same tensors. Other processes on the
 * same GPU would count too: benchmark on an otherwise idle device.
 * Only compiled with DFER_WITH_CUDA; callers guard with that macro. */
#ifndef DFER_KERNELS_CUDA_MEM_H
#define DFER_KERNELS_CUDA_MEM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The current device's index (cudaGetDevice; 0 when the query fails). */
int dfer_cuda_current_device(void);
/* Bytes in use on the current device now (total - free); 0 when the query fails. */
size_t dfer_cuda_used_bytes(void);
/* Baseline = peak = the bytes in use now (creates the CUDA context on the current device if needed). */
void dfer_cuda_mem_reset(void);
/* Samples the bytes in use, raises the peak; returns the sample. */
size_t dfer_cuda_mem_sample(void);
/* The highest sample since the reset, minus the baseline. */
size_t dfer_cuda_peak_bytes(void);
/* The baseline itself: what the process held on the device at the reset (the CUDA context). */
size_t dfer_cuda_baseline_bytes(void);

#ifdef __cplusplus
}
#endif

#endif
