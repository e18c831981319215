#include "mpi/dist.h"

#include "core/log.h"
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#include "kernels/cuda_mem.h"
#endif

static void abort_hook(int code) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) {
        int world = 1;
        MPI_Comm_size(MPI_COMM_WORLD, &world);
        if (world > 1) MPI_Abort(MPI_COMM_WORLD, code);
    }
}

/* Whether the ranks of this node would each select a GPU of their own (dist_select_gpu: device local_rank % the
 * devices it sees), told by the PCI bus ids of those devices: all visible to every rank (mpirun), one per rank
 * (Slurm's --gpus-per-task=1 binds one to each task, device 0 everywhere), or too few. Sets d->gpu_shared;
 * returns 1 when every local rank has its own GPU, 0 when this rank sees none or one is shared. */
static int own_gpu_per_rank(Dist *d, MPI_Comm node, int gpus) {
    enum { ID = 32 };
    char mine[ID] = "";
#ifdef DFER_WITH_CUDA
    if (gpus > 0 && dfer_cuda_pci_bus_id(d->local_rank % gpus, mine, ID) != 0) mine[0] = '\0';
#else
    (void)gpus;
#endif
    char *all = xcalloc((size_t)d->local_size, ID);
    CHECK_MPI(MPI_Allgather(mine, ID, MPI_CHAR, all, ID, MPI_CHAR, node));
    int distinct = 1, everyone = 1;
    for (int i = 0; i < d->local_size; i++) {
        everyone &= all[(size_t)i * ID] != '\0';
        for (int j = 0; j < i; j++)
            if (all[(size_t)i * ID] && !strncmp(all + (size_t)i * ID, all + (size_t)j * ID, ID)) distinct = 0;
    }
    free(all);
    d->gpu_shared = !distinct;
    return mine[0] && everyone && distinct;
}

/* What `auto` (train.device, --device) means for this job: the GPU only where every rank of every node has a
 * GPU of its own (dist_select_gpu; NCCL refuses two ranks of one group on one GPU), else the CPU; decided alike on
 * every rank, so that no group mixes NCCL and MPI. */
static void choose_auto_backend(Dist *d, MPI_Comm node) {
    int gpus = 0;
#ifdef DFER_WITH_CUDA
    gpus = dfer_cuda_device_count();
#endif
    int mine = own_gpu_per_rank(d, node, gpus), all = mine, any_gpu = gpus > 0, gpu_somewhere = any_gpu;
    CHECK_MPI(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    CHECK_MPI(MPI_Allreduce(&any_gpu, &gpu_somewhere, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    ops_set_default_backend(all ? BACKEND_CUDA : BACKEND_CPU);
    if (!all && gpu_somewhere && d->rank == 0)
        log_info("device auto: the CPU, because %s (train.device = cuda shares the GPUs anyway)",
                 mine ? "a node of this job has fewer GPUs than ranks" : "this node has fewer GPUs than ranks");
}

void dist_init(Dist *d, int *argc, char ***argv) {
    memset(d, 0, sizeof *d);
    int init = 0;
    CHECK_MPI(MPI_Initialized(&init));
    if (!init) {
        int provided = 0;
        /* Only the main thread calls MPI; loader threads never do. */
        CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
        d->initialized_here = 1;
    }
    CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &d->rank));
    CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &d->world));
    /* Errors come back as codes so CHECK_MPI can report them with our context. */
    CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPI_Comm node;
    CHECK_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node));
    CHECK_MPI(MPI_Comm_rank(node, &d->local_rank));
    CHECK_MPI(MPI_Comm_size(node, &d->local_size));
    ops_set_ranks_per_node(d->local_size);
    dfer_identity_set(d->rank, d->world);
    dfer_set_abort_hook(abort_hook);
    choose_auto_backend(d, node);
    CHECK_MPI(MPI_Comm_free(&node));
}

int dist_select_gpu(const Dist *d, Err *err) {
#ifdef DFER_WITH_CUDA
    int n = dfer_cuda_device_count();
    if (n <= 0) return err_set(err, "no usable GPU found (no device, driver or CUDA runtime); use train.device = cpu");
    if (d->gpu_shared)
        log_warn("%d ranks on this node share %d GPU%s: NCCL refuses two ranks on one GPU", d->local_size, n,
                 n > 1 ? "s" : "");
    dfer_cuda_select(d->local_rank % n);
    return 0;
#else
    (void)d;
    return err_set(err, "this dfer was built without CUDA; use train.device = cpu");
#endif
}

void dist_finalize(Dist *d) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (d->initialized_here && !fin) MPI_Finalize();
}

static int setup_backend(Group *g, CollBackend backend, Err *err) {
    g->backend = backend;
    if (backend == COLL_MPI) return 0;
#ifdef DFER_WITH_CUDA
    if (dfer_nccl_comm_create(&g->comm, g->rank, g->size, &g->nccl, err) != 0) return -1;
    if (g->rank == 0) {
        char gpu[256];
        dfer_cuda_describe(dfer_cuda_current_device(), gpu, sizeof gpu);
        log_info("collectives: NCCL %s, a group of %d rank%s (rank 0 on %s)", dfer_nccl_version(), g->size,
                 g->size == 1 ? "" : "s", gpu);
    }
    return 0;
#else
    return err_set(err, "NCCL collectives need a CUDA build of dfer");
#endif
}

int group_create(const Dist *d, int ranks_per_job, CollBackend backend, Group *g, Err *err) {
    memset(g, 0, sizeof *g);
    if (ranks_per_job < 1 || d->world % ranks_per_job)
        return err_set(err, "ranks_per_job = %d does not divide the %d ranks of this run", ranks_per_job, d->world);
    g->index = d->rank / ranks_per_job;
    g->count = d->world / ranks_per_job;
    CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, g->index, d->rank, &g->comm));
    CHECK_MPI(MPI_Comm_set_errhandler(g->comm, MPI_ERRORS_RETURN));
    CHECK_MPI(MPI_Comm_rank(g->comm, &g->rank));
    CHECK_MPI(MPI_Comm_size(g->comm, &g->size));
    CHECK_MPI(MPI_Comm_dup(g->comm, &g->outcome_comm));
    if (setup_backend(g, backend, err) == 0) return 0;
    group_free(g); /* the communicators made above */
    return -1;
}

int group_world(const Dist *d, CollBackend backend, Group *g, Err *err) {
    return group_create(d, d->world, backend, g, err);
}

/* Freeing a communicator is local in Open MPI (no peer takes part: a group freed after a peer died does not wait on
 * it); an error here is a warning, not fatal: group_free runs in teardown, often after the error that matters, which
 * a fatal exit would hide. The communicators return errors (MPI_ERRORS_RETURN, set in group_create). */
static void comm_free_or_warn(MPI_Comm *comm, const char *what) {
    if (*comm == MPI_COMM_NULL || !*comm) return;
    int rc = MPI_Comm_free(comm);
    if (rc != MPI_SUCCESS) {
        char s[MPI_MAX_ERROR_STRING];
        int n = 0;
        MPI_Error_string(rc, s, &n);
        log_warn("%s:%d: MPI_Comm_free of %s failed (MPI error %d: %s); going on", __FILE__, __LINE__, what, rc, s);
    }
}

void group_free(Group *g) {
#ifdef DFER_WITH_CUDA
    if (g->nccl) dfer_nccl_comm_destroy(g->nccl);
#endif
    comm_free_or_warn(&g->comm, "the group's communicator");
    comm_free_or_warn(&g->outcome_comm, "the group's outcome communicator");
    memset(g, 0, sizeof *g);
}

static MPI_Datatype mpi_type(DType t) {
    switch (t) {
    case DT_F32: return MPI_FLOAT;
    case DT_F64: return MPI_DOUBLE;
    case DT_I32: return MPI_INT32_T;
    case DT_I64: return MPI_INT64_T;
    default: DFER_FATAL("mpi_type", "no MPI datatype for %s", dtype_name(t));
    }
}

void group_allreduce(Group *g, Tensor buf, int average) {
    int64_t n = tensor_numel(&buf);
    if (g->size == 1 || n == 0) return;
    if (g->backend == COLL_NCCL) {
#ifdef DFER_WITH_CUDA
        dfer_nccl_allreduce(g->nccl, buf.data, (size_t)n, buf.dtype, average);
        return;
#endif
    }
    CHECK(n <= INT32_MAX, "all-reduce of %lld elements exceeds one MPI call", (long long)n);
    CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, buf.data, (int)n, mpi_type(buf.dtype), MPI_SUM, g->comm));
    if (average) {
        if (buf.dtype == DT_F32) {
            float *p = buf.data, s = 1.0f / (float)g->size;
            for (int64_t i = 0; i < n; i++) p[i] *= s;
        } else {
            double *p = buf.data, s = 1.0 / (double)g->size;
            for (int64_t i = 0; i < n; i++) p[i] *= s;
        }
    }
}

void group_allreduce_i64(Group *g, int64_t *buf, int count) {
    if (g->size == 1) return;
    CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_INT64_T, MPI_SUM, g->comm));
}

void group_sum_doubles(Group *g, double *v, int n) {
    if (g->size == 1) return;
    CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, g->comm));
}

double group_sum_double(Group *g, double v) {
    group_sum_doubles(g, &v, 1);
    return v;
}

void group_allgather(Group *g, Tensor out, Tensor in) {
    int64_t n = tensor_numel(&in);
    CHECK(tensor_numel(&out) == n * g->size, "allgather: output must hold %d x %lld", g->size, (long long)n);
    if (g->backend == COLL_NCCL) {
#ifdef DFER_WITH_CUDA
        dfer_nccl_allgather(g->nccl, out.data, in.data, (size_t)n, in.dtype);
        return;
#endif
    }
    CHECK(n <= INT32_MAX, "all-gather of %lld elements exceeds one MPI call", (long long)n);
    CHECK_MPI(MPI_Allgather(in.data, (int)n, mpi_type(in.dtype), out.data, (int)n, mpi_type(in.dtype), g->comm));
}

void group_barrier(Group *g) { CHECK_MPI(MPI_Barrier(g->comm)); }

int group_agree_outcome(Group *g, int failed, double timeout_s, int out[2]) {
    g->outcome_in[0] = failed != 0, g->outcome_in[1] = g->rank == 0 && failed;
    MPI_Request req;
    CHECK_MPI(MPI_Iallreduce(g->outcome_in, g->outcome_out, 2, MPI_INT, MPI_MAX, g->outcome_comm, &req));
    struct timespec start, now, nap = {0, 5 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int done = 0;
        CHECK_MPI(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
        if (done) {
            out[0] = g->outcome_out[0], out[1] = g->outcome_out[1];
            return 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + 1e-9 * (double)(now.tv_nsec - start.tv_nsec) > timeout_s)
            return -1; /* the request stays pending: the caller ends the run (MPI_Abort) */
        nanosleep(&nap, NULL);
    }
}

int group_all_ok(Group *g, int ok) {
    int mine = ok != 0, all = 0;
    CHECK_MPI(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, g->comm));
    return all;
}

int group_all_ok_why(Group *g, int ok, Err *err) {
    int mine = ok ? g->size : g->rank, lowest = 0;
    CHECK_MPI(MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, g->comm));
    if (lowest == g->size) return 1;
    char why[sizeof err->msg];
    if (g->rank == lowest) snprintf(why, sizeof why, "%s", err->msg);
    CHECK_MPI(MPI_Bcast(why, (int)sizeof why, MPI_BYTE, lowest, g->comm));
    why[sizeof why - 1] = '\0';
    char host[256];
    if (g->rank == lowest) snprintf(host, sizeof host, "%s", dfer_host());
    CHECK_MPI(MPI_Bcast(host, (int)sizeof host, MPI_BYTE, lowest, g->comm));
    host[sizeof host - 1] = '\0';
    if (ok) err_set(err, "rank %d of the group (host %s): %s", lowest, host, why);
    return 0;
}

void group_bcast(Group *g, void *buf, size_t bytes) {
    CHECK(bytes <= INT32_MAX, "broadcast of %zu bytes", bytes);
    CHECK_MPI(MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, g->comm));
}

void job_counter_create(JobCounter *c) {
    int rank;
    CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    MPI_Aint size = rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0;
    CHECK_MPI(MPI_Win_allocate(size, sizeof(int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &c->base, &c->win));
    if (rank == 0) *c->base = 0;
    CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
}

int64_t job_counter_next(JobCounter *c) {
    int64_t one = 1, old = 0;
    CHECK_MPI(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, c->win));
    CHECK_MPI(MPI_Fetch_and_op(&one, &old, MPI_INT64_T, 0, 0, MPI_SUM, c->win));
    CHECK_MPI(MPI_Win_unlock(0, c->win));
    return old;
}

int64_t job_counter_peek(JobCounter *c) {
    int64_t value = 0;
    CHECK_MPI(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, c->win));
    CHECK_MPI(MPI_Fetch_and_op(NULL, &value, MPI_INT64_T, 0, 0, MPI_NO_OP, c->win));
    CHECK_MPI(MPI_Win_unlock(0, c->win));
    return value;
}

void job_counter_close(JobCounter *c) {
    int64_t closed = JOB_COUNTER_CLOSED, old = 0;
    CHECK_MPI(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, c->win));
    CHECK_MPI(MPI_Fetch_and_op(&closed, &old, MPI_INT64_T, 0, 0, MPI_REPLACE, c->win));
    CHECK_MPI(MPI_Win_unlock(0, c->win));
}

void job_counter_free(JobCounter *c) { CHECK_MPI(MPI_Win_free(&c->win)); }
