/* The CPU backend's reductions are deterministic: docs/troubleshooting.md promises that the same build,
 * backend, thread count and ranks train bitwise the same parameters. A reduction whose partial sums are
 * combined in the order threads finish (an OpenMP reduction clause) breaks that with three or more threads:
 * the gradient norm (op_sum_squares) feeds clipping, so its last bits reach the parameters. */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/ops.h"
#include "testlib.h"

/* x [n] F32 whose four quarters differ in size (normal values times 1, 38.3, 75.6, 112.9): four threads of a
 * static split each sum one quarter, and partial sums of different sizes added in another order round
 * differently (partials of one size often do not, and the bug then hides). */
static float *quarters_of_different_size(int64_t n) {
    Rng r;
    rng_init(&r, 7, 1, 0, 0);
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = (float)rng_normal(&r) * (float)(1 + (double)(i * 4 / n) * 37.3);
    return x;
}

static double sum_squares_with(int threads, Tensor x) {
    Ops *ops;
    Err err;
    if (ops_create(BACKEND_CPU, threads, &ops, &err) != 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return 0;
    }
    double s = op_sum_squares(ops, x);
    ops_destroy(ops);
    return s;
}

/* The same call, repeated with 4 threads (more than this machine may have cores: the order threads finish
 * in varies all the more), gives bitwise one result; and 1, 2 and 4 threads give that same result. */
static void test_sum_squares_is_bitwise_repeatable(void) {
    const int64_t n = 1000003; /* not a multiple of any block size */
    float *v = quarters_of_different_size(n);
    Tensor x = tensor_make(v, DT_F32, 1, n);
    Ops *ops;
    Err err;
    if (ops_create(BACKEND_CPU, 4, &ops, &err) != 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        free(v);
        return;
    }
    double first = op_sum_squares(ops, x);
    int differ = 0;
    for (int run = 0; run < 300; run++) {
        double s = op_sum_squares(ops, x);
        differ += memcmp(&s, &first, sizeof s) != 0;
    }
    ops_destroy(ops);
    EXPECT(differ == 0, "sum_squares with 4 threads: %d of 300 repeats differ bitwise from the first (%.17g)", differ,
           first);
    long double acc = 0; /* the size of the sum, not its bits */
    for (int64_t i = 0; i < n; i++) acc += (long double)v[i] * v[i];
    double exact = (double)acc;
    EXPECT(fabs(first - exact) <= 1e-12 * exact, "sum_squares %.17g, the long double sum %.17g", first, exact);
    for (int threads = 1; threads <= 4; threads *= 2) {
        double s = sum_squares_with(threads, x);
        EXPECT(memcmp(&s, &first, sizeof s) == 0, "sum_squares with %d threads %.17g, with 4 threads %.17g", threads,
               s, first);
    }
    free(v);
}

int main(void) {
    TEST_RUN(test_sum_squares_is_bitwise_repeatable);
    return test_summary();
}
