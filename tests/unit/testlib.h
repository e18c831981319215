/* Minimal test harness for the C unit tests: each failed expectation prints
 * file:line and the message; the binary exits non-zero when any failed.
 * A test binary calls TEST_RUN(fn) for each case and returns test_summary(). */
#ifndef DFER_TESTLIB_H
#define DFER_TESTLIB_H

#include <math.h>
#include <stdio.h>

extern int test_failures;
extern int test_checks;
extern const char *test_current;

void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int test_summary(void);
/* Skips the rest of the binary cleanly (exit 77 = ctest SKIP when configured). */
void test_skip_all(const char *why);
/* Path helpers: DFER_SHARED_DIR, DFER_SOURCE_DIR, DFER_BUILD_DIR (set by ctest). */
const char *test_shared_dir(void);
const char *test_source_dir(void);
const char *test_build_dir(void);
/* A fresh temporary directory for this test binary (removed at exit unless DFER_KEEP_TMP). */
const char *test_tmpdir(void);
/* Runs `body` in a child process (killed after 30 s); returns its exit status (-1 when it did not exit) and
 * what it wrote to stderr. A fatal CHECK exits with 2 and says what failed. */
int test_exit_status_of(void (*body)(void), char *err, size_t size);

#define EXPECT(cond, ...)                                                      \
    do {                                                                       \
        test_checks++;                                                         \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__);               \
    } while (0)

#define EXPECT_NEAR(a, b, tol)                                                 \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        test_checks++;                                                         \
        if (!(fabs(a_ - b_) <= (tol)))                                         \
            test_fail(__FILE__, __LINE__, "%s = %.9g, %s = %.9g, |diff| %.3g > %.3g", #a, a_, #b, b_, \
                      fabs(a_ - b_), (double)(tol));                           \
    } while (0)

#define TEST_RUN(fn)                                                           \
    do {                                                                       \
        test_current = #fn;                                                    \
        int before_ = test_failures;                                           \
        fn();                                                                  \
        printf("%s %s\n", test_failures == before_ ? "ok  " : "FAIL", #fn);    \
        fflush(stdout);                                                        \
    } while (0)

#endif
