// NCCL collectives for a job group, bootstrapped over MPI (llmc-lessons.md §7):
// rank 0 ncclGetUniqueId -> MPI_Bcast over the group -> ncclCommInitRank.
// The device must already be selected (cudaSetDevice precedes the init).
#include <errno.h>
#include <mpi.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

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
        return err_set(err, "%s:%d: rank %d on %s: NCCL communicator of %d ranks could not be created: %s (%s)",
                       __FILE__, __LINE__, rank, dfer_host(), size, ncclGetErrorString(r), ncclGetLastError(NULL));
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

static double monotonic_seconds(void) {
    struct timespec t;
    CHECK_SYS(clock_gettime(CLOCK_MONOTONIC, &t));
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// Waits for the collective just queued on stream 0, watching the communicator (NVIDIA's pattern for
// blocking communicators): a peer that died or a network that went is reported only by
// ncclCommGetAsyncError, while the collective's kernel spins on and cudaStreamSynchronize would never
// return (the run's watchdog would end it, train.hang_minutes later, with no word of NCCL). On such an
// error the communicator is aborted (which ends its kernels) and the process fails like a failed MPI
// collective (DFER_FATAL: rank and host, exit status 2, MPI_Abort of the other ranks).
// The first ~1 ms spins (a step's gradient all-reduce is usually done by then); after that the polls sleep
// 100 us, doubling to 500 us, so a long collective is seen done at most 0.5 ms late (a B/16 step is ~200 ms).
// A stop request (SIGTERM, SIGUSR1, a first Ctrl-C: core/stop.h) does not end the wait, as it did not
// end cudaStreamSynchronize: the peers are inside the same collective, and the step stops at its end,
// where the ranks agree; a second Ctrl-C still ends the process at once (its handler does).
static void wait_for_collective(ncclComm_t comm, const char *collective) {
    const double spin_seconds = 1e-3;
    const useconds_t longest_nap_us = 500;
    useconds_t nap_us = 100;
    double start = monotonic_seconds();
    for (;;) {
        cudaError_t state = cudaStreamQuery(0);
        if (state == cudaSuccess) return;
        if (state != cudaErrorNotReady)
            DFER_FATAL("cudaStreamQuery(0)", "CUDA error %d: %s (waiting for %s)", (int)state,
                       cudaGetErrorString(state), collective);
        ncclResult_t async_error = ncclSuccess;
        NCCL_CHECK(ncclCommGetAsyncError(comm, &async_error));
        if (async_error != ncclSuccess && async_error != ncclInProgress) {
            // ncclGetLastError describes the communicator's error: read before the abort frees it
            char detail[512];
            snprintf(detail, sizeof detail, "%s", ncclGetLastError(comm));
            ncclResult_t aborted = ncclCommAbort(comm);
            DFER_FATAL(collective,
                       "NCCL asynchronous error %d: %s (%s): a peer rank of this group failed or the network between "
                       "them did; the NCCL communicator was %s",
                       (int)async_error, ncclGetErrorString(async_error), detail[0] ? detail : "no detail",
                       aborted == ncclSuccess ? "aborted" : "not aborted (ncclCommAbort failed too)");
        }
        if (monotonic_seconds() - start < spin_seconds) {
            sched_yield();
        } else {
            // a stop signal cuts a nap short (EINTR): that is no failure, the next poll comes sooner
            if (usleep(nap_us) != 0 && errno != EINTR) DFER_FATAL("usleep", "%s", strerror(errno));
            if (nap_us < longest_nap_us) nap_us = nap_us * 2 < longest_nap_us ? nap_us * 2 : longest_nap_us;
        }
    }
}

// The ops context computes on its own non-blocking stream, which does not order itself
// against stream 0; collectives run once per step, so they are fenced on both sides: the
// device finishes what the step queued, and the collective is complete on return.
extern "C" void dfer_nccl_allreduce(void *comm, void *buf, size_t count, int dtype, int average) {
    CUDA_CHECK(cudaDeviceSynchronize());
    NCCL_CHECK(ncclAllReduce(buf, buf, count, nccl_type(dtype), average ? ncclAvg : ncclSum, (ncclComm_t)comm, 0));
    wait_for_collective((ncclComm_t)comm, "ncclAllReduce");
}

extern "C" void dfer_nccl_allgather(void *comm, void *out, const void *in, size_t count, int dtype) {
    CUDA_CHECK(cudaDeviceSynchronize());
    NCCL_CHECK(ncclAllGather(in, out, count, nccl_type(dtype), (ncclComm_t)comm, 0));
    wait_for_collective((ncclComm_t)comm, "ncclAllGather");
}
