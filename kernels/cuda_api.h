/* C interface of the CUDA backend (kernels/). Only compiled with
 * DFER_WITH_CUDA; callers guard with that macro. */
#ifndef DFER_KERNELS_CUDA_API_H
#define DFER_KERNELS_CUDA_API_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable GPUs; 0 without a GPU, driver or CUDA runtime. Never fails. */
int dfer_cuda_device_count(void);
/* "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)". */
int dfer_cuda_describe(int device, char *buf, int len);
void dfer_cuda_select(int device);
/* The PCI bus id of a visible device ("0000:65:00.0"): the same GPU under every numbering, so ranks that
 * each see their own GPU (Slurm's --gpus-per-task=1: device 0 everywhere) can tell they do not share one.
 * -1 and "" when it cannot be read. */
int dfer_cuda_pci_bus_id(int device, char *buf, int len);
/* The SM architectures this build has code for ("80,89,90"). */
const char *dfer_cuda_build_archs(void);

/* Test hook: the attention path of the CUDA context behind ops, "gemm", "tiled" or "flash" (what
 * DFER_ATTENTION picks when a context is created; kernels/attention.cu), and the cap of the
 * gemm path's workspace in bytes (0: the default, 256 MiB; a smaller cap forces more chunks,
 * or the tiled path where one batch item does not fit). Returns 0, or -1 (nothing changed)
 * when ops is not a CUDA context; another path name is fatal. */
struct Ops;
int dfer_cuda_set_attention(struct Ops *ops, const char *path, size_t workspace_cap);
/* The attention path of the CUDA context behind ops ("gemm", "tiled" or "flash"; the flash path hands
 * the calls it cannot take to the gemm one), NULL when ops is not a CUDA context. */
const char *dfer_cuda_attention_path(struct Ops *ops);
/* How the CUDA context behind ops runs op_adapter: "composed" (the default: src/ops/ops_adapter.c's
 * sequence of ops) or "fused" (kernels/adapter.cu where it serves, composed elsewhere), as DFER_ADAPTER
 * picks when a context is created; NULL when ops is not a CUDA context. dfer_cuda_set_adapter (a test
 * hook) sets it: 0, or -1 (nothing changed) when ops is not a CUDA context; another name is fatal. */
const char *dfer_cuda_adapter_path(struct Ops *ops);
int dfer_cuda_set_adapter(struct Ops *ops, const char *path);

/* The GEMM plan cache of the CUDA context behind ops, since the context was created: plans
 * held, plans built (cuBLASLt heuristic queries) and plans recycled to make room (built > held,
 * or any recycled, in a steady run means the cache thrashes: kernels/gemm.cu GEMM_CACHE_SIZE);
 * of the plans built, those whose algorithm splits K, and the BF16-output problems for which
 * the reduction-scheme mask (fp32 split-K reduction only) left no algorithm. */
typedef struct DferGemmStats {
    int held;
    long long built, recycled, split_k, mask_retries;
} DferGemmStats;
/* -1 when ops is not a CUDA context. */
int dfer_cuda_gemm_stats(struct Ops *ops, DferGemmStats *stats);

/* NCCL communicator of an MPI communicator's ranks (one GPU per rank): rank 0
 * makes the unique id, MPI broadcasts it, every rank joins. comm_out is an
 * ncclComm_t. Returns -1 with a message when NCCL refuses (e.g. two ranks on one GPU). */
struct Err;
int dfer_nccl_comm_create(void *mpi_comm /* MPI_Comm* */, int rank, int size, void **comm_out, struct Err *err);
void dfer_nccl_comm_destroy(void *comm);
/* "2.27.3": the NCCL library loaded at run time. */
const char *dfer_nccl_version(void);
/* In-place sum (or average) of count elements of dtype (a core/tensor.h DType) on the current stream.
 * Both collectives return when complete; a peer lost meanwhile (NCCL's asynchronous error, e.g.
 * ncclRemoteError) aborts the communicator and is fatal (exit 2, NCCL's error, rank and host), not a hang. */
void dfer_nccl_allreduce(void *comm, void *buf, size_t count, int dtype, int average);
void dfer_nccl_allgather(void *comm, void *out, const void *in, size_t count, int dtype);

#ifdef __cplusplus
}
#endif

#endif
