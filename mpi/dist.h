/* Ranks, job groups and collectives.
 *
 * The world (all MPI ranks, or a single process without mpirun) splits into
 * groups of `ranks_per_job` consecutive ranks; each group trains one job
 * data-parallel. Collectives run over a group with one interface and two
 * backends: MPI on the CPU, NCCL on GPUs (one NCCL communicator per group,
 * bootstrapped by broadcasting ncclUniqueId over the group's MPI communicator).
 * Every MPI call is checked (file, line, rank, host on failure). */
#ifndef DFER_MPI_DIST_H
#define DFER_MPI_DIST_H

#include <mpi.h>
#include <stdint.h>

#include "core/check.h"
#include "core/tensor.h"

#define CHECK_MPI(expr)                                                                  \
    do {                                                                                 \
        int rc_ = (expr);                                                                \
        if (rc_ != MPI_SUCCESS) {                                                        \
            char s_[MPI_MAX_ERROR_STRING];                                               \
            int n_ = 0;                                                                  \
            MPI_Error_string(rc_, s_, &n_);                                              \
            DFER_FATAL(#expr, "MPI error %d: %s", rc_, s_);                              \
        }                                                                                \
    } while (0)

typedef struct Dist {
    int rank, world;          /* in MPI_COMM_WORLD */
    int local_rank, local_size; /* on this node (MPI_COMM_TYPE_SHARED) */
    int initialized_here;     /* we called MPI_Init (and will finalize) */
    int gpu_shared;           /* two ranks of this node would select one GPU (the same PCI bus id) */
} Dist;

/* Initialises MPI (works without mpirun: a singleton world of 1), sets the
 * rank/host identity used in every message, and installs MPI_Abort as the
 * fatal-error hook. */
void dist_init(Dist *d, int *argc, char ***argv);
void dist_finalize(Dist *d);
/* One GPU per local rank: selects GPU local_rank % count for this process (before any CUDA
 * context, NCCL communicator or ops context is made). Fails with a message without a GPU
 * or in a build without CUDA. */
int dist_select_gpu(const Dist *d, Err *err);

typedef enum { COLL_MPI = 0, COLL_NCCL = 1 } CollBackend;

/* A job group and its collectives. */
typedef struct Group {
    MPI_Comm comm;
    MPI_Comm outcome_comm; /* a duplicate of comm for group_agree_outcome only: a rank there never meets a
                            * collective of the job that the others may still be in */
    int outcome_in[2], outcome_out[2]; /* its buffers: they outlive a call that timed out (the request stays) */
    int index;       /* which group this rank belongs to */
    int count;       /* number of groups */
    int rank, size;  /* within the group */
    CollBackend backend;
    void *nccl;      /* ncclComm_t when backend == COLL_NCCL */
} Group;

/* Splits the world into groups of ranks_per_job (the world size must be a
 * multiple of it). */
int group_create(const Dist *d, int ranks_per_job, CollBackend backend, Group *g, Err *err);
/* A group that is the whole world. */
int group_world(const Dist *d, CollBackend backend, Group *g, Err *err);
void group_free(Group *g);

/* In-place sum over the group of a device buffer (F32/F64 on CPU; F32 on NCCL).
 * With average != 0 the result is divided by the group size. */
void group_allreduce(Group *g, Tensor buf, int average);
/* In-place sum of host int64 counters (confusion matrices, counts). */
void group_allreduce_i64(Group *g, int64_t *buf, int count);
/* Sum of one host double (losses). */
double group_sum_double(Group *g, double v);
/* In-place sums of n host doubles: one collective for several per-step values. */
void group_sum_doubles(Group *g, double *v, int n);
/* out [size * n] = concatenation of every rank's in [n] (device buffers). */
void group_allgather(Group *g, Tensor out, Tensor in);
void group_barrier(Group *g);
/* Whether every rank of the group passes ok != 0 (a barrier too). After work one rank alone does
 * (rank 0 writes the run's files), so that a failure there stops every rank instead of leaving the
 * others waiting in the next collective. */
int group_all_ok(Group *g, int ok);
/* The same, and where a rank failed, the reason of the lowest such rank reaches every rank: a rank that passed ok
 * gets err set to "rank R of the group (host H): ITS MESSAGE" (a rank that failed keeps its own), so that rank 0
 * records in result.json why another rank could not go on rather than "see its log". */
int group_all_ok_why(Group *g, int ok, Err *err);
/* After a job, on every rank: whether it failed here (failed) and on the group's rank 0 (out[1]); out[0]: on any
 * rank. Returns -1 when the others do not all arrive within timeout_s: a rank that failed alone (an error no
 * collective shared) finds the others still waiting in one of the job's collectives. */
int group_agree_outcome(Group *g, int failed, double timeout_s, int out[2]);
/* Broadcast of host bytes from group rank 0. */
void group_bcast(Group *g, void *buf, size_t bytes);

/* A shared counter for dynamic job assignment (MPI one-sided fetch-and-add on
 * rank 0 of the world): each call returns the next value, starting at 0. */
typedef struct JobCounter {
    MPI_Win win;
    int64_t *base;
} JobCounter;

void job_counter_create(JobCounter *c);
int64_t job_counter_next(JobCounter *c);
/* The counter's value now, taking nothing (dfer prep's ranks watch the others' progress while they wait). */
int64_t job_counter_peek(JobCounter *c);
/* No job is handed out any more (to any group): later calls (and peeks) return at least JOB_COUNTER_CLOSED. */
#define JOB_COUNTER_CLOSED (INT64_MAX / 2) /* far above any job count, and far from overflowing with the adds */
void job_counter_close(JobCounter *c);
void job_counter_free(JobCounter *c);

#endif
