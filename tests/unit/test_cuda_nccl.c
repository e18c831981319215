/* NCCL collectives on the GPU through the project's own calls (kernels/nccl_comm.cu):
 * a group of one rank (NCCL refuses two ranks on one GPU, and the machines lent have one).
 * The trainer's group_allreduce skips the collective for one rank, so without this test the
 * first ncclAllReduce and ncclAllGather would run on the first multi-GPU job. Checked, in F32
 * and BF16, on lengths that are multiples of nothing:
 *  - all-reduce (sum and average) leaves the buffer bitwise unchanged, as it must for one rank;
 *  - all-gather copies its input to a separate output bitwise, and the bytes after the output
 *    stay untouched (a wrong element size or count would overwrite them);
 *  - ordering with the ops stream: a kernel queued on the ops context's stream just before the
 *    collective is complete when the collective reads the buffer, and an op queued right after
 *    reads the collective's result (the fences of nccl_comm.cu).
 * Without a GPU (or a CUDA build) it prints SKIP and exits 77. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/rng.h"
#include "mpi/dist.h"
#include "ops/ops.h"
#include "testlib.h"
#ifdef DFER_WITH_CUDA
#include "kernels/cuda_api.h"
#endif

#ifdef DFER_WITH_CUDA
enum { GUARD = 64 }; /* elements after each all-gather output that must stay as they were */

static size_t elem_bytes(DType t) { return t == DT_BF16 ? 2 : 4; }

static Tensor device_tensor(Ops *ops, DType t, int64_t n) {
    return tensor_make(ops_alloc(ops, elem_bytes(t) * (size_t)n), t, 1, n);
}

/* A device tensor of n elements (plus the guard) filled with random reals, and its bytes on the host. */
static Tensor random_tensor(Ops *ops, DType t, int64_t n, uint64_t seed, unsigned char **host) {
    Tensor x = device_tensor(ops, t, n + GUARD);
    double *v = xmalloc(sizeof(double) * (size_t)(n + GUARD));
    Rng r;
    rng_init(&r, seed, 0, 0, 0);
    for (int64_t i = 0; i < n + GUARD; i++) v[i] = rng_normal(&r);
    ops_upload_f64(ops, x, v);
    free(v);
    *host = xmalloc(elem_bytes(t) * (size_t)(n + GUARD));
    ops_download(ops, *host, x.data, elem_bytes(t) * (size_t)(n + GUARD));
    return x;
}

static void check_allreduce(Ops *ops, Group *g, DType t, int64_t n, int average) {
    unsigned char *before, *after = xmalloc(elem_bytes(t) * (size_t)(n + GUARD));
    Tensor x = random_tensor(ops, t, n, 17 + (uint64_t)n, &before);
    dfer_nccl_allreduce(g->nccl, x.data, (size_t)n, t, average);
    ops_download(ops, after, x.data, elem_bytes(t) * (size_t)(n + GUARD));
    EXPECT(!memcmp(before, after, elem_bytes(t) * (size_t)(n + GUARD)),
           "all-reduce (%s) of %lld %s elements over one rank changed the buffer", average ? "average" : "sum",
           (long long)n, dtype_name(t));
    printf("all-reduce %-7s %s x %lld: unchanged\n", average ? "average" : "sum", dtype_name(t), (long long)n);
    ops_free(ops, x.data);
    free(before), free(after);
}

static void check_allgather(Ops *ops, Group *g, DType t, int64_t n) {
    unsigned char *in_host, *out_before, *out_after = xmalloc(elem_bytes(t) * (size_t)(n + GUARD));
    Tensor in = random_tensor(ops, t, n, 31 + (uint64_t)n, &in_host);
    Tensor out = random_tensor(ops, t, n, 47 + (uint64_t)n, &out_before);
    dfer_nccl_allgather(g->nccl, out.data, in.data, (size_t)n, t);
    ops_download(ops, out_after, out.data, elem_bytes(t) * (size_t)(n + GUARD));
    size_t body = elem_bytes(t) * (size_t)n;
    EXPECT(!memcmp(out_after, in_host, body), "all-gather of %lld %s elements: the output is not the input",
           (long long)n, dtype_name(t));
    EXPECT(!memcmp(out_after + body, out_before + body, elem_bytes(t) * GUARD),
           "all-gather of %lld %s elements wrote past its output", (long long)n, dtype_name(t));
    printf("all-gather %s x %lld: output = input, the %d elements after it untouched\n", dtype_name(t), (long long)n,
           GUARD);
    ops_free(ops, in.data), ops_free(ops, out.data);
    free(in_host), free(out_before), free(out_after);
}

/* x = v, then x *= 2 eight times on the ops stream, gather x into y at once, y /= 256 on the
 * ops stream: y must be v bitwise (powers of two scale exactly). 16 M elements, so that the
 * queued kernels are still running when the collective is called. */
static void check_stream_order(Ops *ops, Group *g) {
    int64_t n = 16 << 20;
    Tensor x = device_tensor(ops, DT_F32, n), y = device_tensor(ops, DT_F32, n);
    float *v = xmalloc(sizeof(float) * (size_t)n), *got = xmalloc(sizeof(float) * (size_t)n);
    Rng r;
    rng_init(&r, 5, 0, 0, 0);
    for (int64_t i = 0; i < n; i++) v[i] = (float)rng_normal(&r);
    ops_upload(ops, x.data, v, sizeof(float) * (size_t)n);
    ops_zero(ops, y);
    ops_sync(ops);
    for (int k = 0; k < 8; k++) op_scale(ops, x, 2.0f);
    dfer_nccl_allgather(g->nccl, y.data, x.data, (size_t)n, DT_F32);
    op_scale(ops, y, 1.0f / 256);
    ops_download(ops, got, y.data, sizeof(float) * (size_t)n);
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; i++) wrong += got[i] != v[i];
    EXPECT(wrong == 0, "%lld of %lld elements differ: the collective and the ops stream overlapped", (long long)wrong,
           (long long)n);
    printf("ordering: kernels queued before and after the collective on the ops stream see its input and output\n");
    free(v), free(got);
    ops_free(ops, x.data), ops_free(ops, y.data);
}
#endif

int main(int argc, char **argv) {
#ifndef DFER_WITH_CUDA
    (void)argc, (void)argv;
    test_skip_all("no GPU (this build has no CUDA: DFER_WITH_CUDA is not defined)");
    return 77;
#else
    if (dfer_cuda_device_count() == 0) test_skip_all("no GPU (dfer_cuda_device_count() == 0)");
    Dist d;
    dist_init(&d, &argc, &argv);
    Err err;
    CHECK(dist_select_gpu(&d, &err) == 0, "%s", err.msg);
    Ops *ops;
    CHECK(ops_create(BACKEND_CUDA, 0, &ops, &err) == 0, "CUDA backend: %s", err.msg);
    Group g;
    CHECK(group_world(&d, COLL_NCCL, &g, &err) == 0, "NCCL group: %s", err.msg);
    EXPECT(g.nccl != NULL && g.size == 1, "a one-rank NCCL group");
    printf("NCCL %s, %s\n", dfer_nccl_version(), ops_describe(ops));
    static const int64_t lengths[] = {1, 1000003, 4194305};
    for (int i = 0; i < 3; i++)
        for (int bf = 0; bf < 2; bf++) {
            DType t = bf ? DT_BF16 : DT_F32;
            check_allreduce(ops, &g, t, lengths[i], 0);
            check_allreduce(ops, &g, t, lengths[i], 1);
            check_allgather(ops, &g, t, lengths[i]);
        }
    check_stream_order(ops, &g);
    group_free(&g);
    ops_destroy(ops);
    int rc = test_summary();
    dist_finalize(&d);
    return rc;
#endif
}
