// NCCL collectives for a job group, bootstrapped over MPI (llmc-lessons.md §7):
// rank 0 ncclGetUniqueId -> MPI_Bcast over the group -> ncclCommInitRank.
// The device must already be selected (cudaSetDevice precedes the init).
#include <mpi.h>

#include "cuda_check.cuh"
#include "kernels/cuda_api.h"

extern "C" {
#include "core/tensor.h"
}

static ncclDataType_t nccl_type(int dtype) {
    switch (dtype) {
    case DT_F32: return ncclFloat32;
    case DT_BF16: return ncclBfloat16;
    case DT_F16: return ncclFloat16;
    case DT_F64: return ncclFloat64;
    case DT_I64: return ncclInt64;
    default: DFER_FATAL("nccl_type", "no NCCL type for dtype %d", dtype);
    }
}

extern "C" int dfer_nccl_comm_create(void *mpi_comm, int rank, int size, void **comm_out, Err *err) {
    MPI_Comm comm = *(MPI_Comm *)mpi_comm;
    ncclUniqueId id;
    if (rank == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    // recoverable (the caller falls back or stops cleanly), so not the fatal macros; but named as they name
    // a failure: the place, the rank and the host
    if (MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, comm) != MPI_SUCCESS)
        return err_set(err, "%s:%d: rank %d on %s: broadcast of the NCCL unique id failed", __FILE__, __LINE__, rank,
                       dfer_host());
    ncclComm_t nc;
    ncclResult_t r = ncclCommInitRank(&nc, size, id, rank);
    if (r != ncclSuccess)
        return err_set(err, "%s:%d: rank %d on %s: NCCL communicator of %d ranks could not be created: %s (%s)", __FILE__,
                       __LINE__, rank, dfer_host(), size, ncclGetErrorString(r), ncclGetLastError(NULL));
    *comm_out = nc;
    return 0;
}

extern "C" const char *dfer_nccl_version(void) {
    static char text[32];
    int v = 0;
    NCCL_CHECK(ncclGetVersion(&v));
    // NCCL >= 2.9 encodes major*10000 + minor*100 + patch
    snprintf(text, sizeof text, "%d.%d.%d", v / 10000, (v / 100) % 100, v % 100);
    return text;
}

extern "C" void dfer_nccl_comm_destroy(void *comm) { NCCL_CHECK(ncclCommDestroy((ncclComm_t)comm)); }

// The ops context computes on its own non-blocking stream, which does not order itself
// against stream 0; collectives run once per step, so they are fenced on both sides: the
// device finishes what the step queued, and the collective is complete on return.
extern "C" void dfer_nccl_allreduce(void *comm, void *buf, size_t count, int dtype, int average) {
    CUDA_CHECK(cudaDeviceSynchronize());
    NCCL_CHECK(ncclAllReduce(buf, buf, count, nccl_type(dtype), average ? ncclAvg : ncclSum, (ncclComm_t)comm, 0));
    CUDA_CHECK(cudaStreamSynchronize(0));
}

extern "C" void dfer_nccl_allgather(void *comm, void *out, const void *in, size_t count, int dtype) {
    CUDA_CHECK(cudaDeviceSynchronize());
    NCCL_CHECK(ncclAllGather(in, out, count, nccl_type(dtype), (ncclComm_t)comm, 0));
    CUDA_CHECK(cudaStreamSynchronize(0));
}
