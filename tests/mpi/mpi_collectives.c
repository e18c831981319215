/* Collectives and the job counter under mpirun (1, 2 and 4 ranks, and groups
 * of 2): sums and averages over a group, all-gather order, int64 reductions,
 * and a shared counter that hands out every value exactly once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/dist.h"

static int g_failures;
#define EXPECT(cond, ...)                                                        \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "rank %d: %s:%d: ", dfer_rank(), __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fprintf(stderr, "\n");                                               \
            g_failures++;                                                        \
        }                                                                        \
    } while (0)

int main(int argc, char **argv) {
    Dist d;
    dist_init(&d, &argc, &argv);
    int rpj = argc > 1 ? atoi(argv[1]) : d.world;
    Group g;
    Err err;
    if (group_create(&d, rpj, COLL_MPI, &g, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    EXPECT(g.size == rpj && g.count == d.world / rpj && g.rank == d.rank % rpj, "group layout");
    /* sum and average of (group rank + 1) */
    float v[3] = {(float)(g.rank + 1), 2.0f * (float)(g.rank + 1), -1.0f};
    group_allreduce(&g, tensor_make(v, DT_F32, 1, (int64_t)3), 0);
    float s = (float)(g.size * (g.size + 1) / 2);
    EXPECT(v[0] == s && v[1] == 2 * s && v[2] == -(float)g.size, "sum %g %g %g", v[0], v[1], v[2]);
    double w[1] = {(double)g.rank};
    group_allreduce(&g, tensor_make(w, DT_F64, 1, (int64_t)1), 1);
    EXPECT(w[0] == (g.size - 1) / 2.0, "average %g", w[0]);
    int64_t counts[2] = {1, (int64_t)g.rank};
    group_allreduce_i64(&g, counts, 2);
    EXPECT(counts[0] == g.size, "int64 count");
    float mine[2] = {(float)g.rank, (float)(10 * g.rank)}, all[2 * 8];
    group_allgather(&g, tensor_make(all, DT_F32, 1, (int64_t)(2 * g.size)), tensor_make(mine, DT_F32, 1, (int64_t)2));
    for (int r = 0; r < g.size; r++) EXPECT(all[2 * r] == (float)r && all[2 * r + 1] == 10.0f * r, "allgather order");
    EXPECT(group_sum_double(&g, 0.5) == 0.5 * g.size, "double sum");

    /* job counter: every rank takes values until 20; each value goes to exactly one rank */
    JobCounter jc;
    job_counter_create(&jc);
    int64_t taken[64] = {0};
    int n_taken = 0;
    for (;;) {
        int64_t j = job_counter_next(&jc);
        if (j >= 20) break;
        taken[n_taken++] = j;
    }
    int64_t seen[20] = {0};
    for (int i = 0; i < n_taken; i++) seen[taken[i]]++;
    CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, seen, 20, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    for (int i = 0; i < 20; i++) EXPECT(seen[i] == 1, "counter value %d handed out %lld times", i, (long long)seen[i]);
    job_counter_free(&jc);

    int total = 0;
    MPI_Allreduce(&g_failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (d.rank == 0)
        printf("mpi_collectives: %d ranks, groups of %d: %s\n", d.world, rpj, total ? "FAILED" : "all checks passed");
    group_free(&g);
    dist_finalize(&d);
    return total ? 1 : 0;
}
