/* C interface of the CUDA backend (kernels/). Only compiled with
 * DFER_WITH_CUDA; callers guard with that macro. */
#ifndef DFER_KERNELS_CUDA_API_H
#define DFER_KERNELS_CUDA_API_H

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable GPUs; 0 without a GPU, driver or CUDA runtime. Never fails. */
int dfer_cuda_device_count(void);
/* "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)". */
int dfer_cuda_describe(int device, char *buf, int len);
void dfer_cuda_select(int device);

#ifdef __cplusplus
}
#endif

#endif
