/*
 * test.h - the test harness shared by every tests/test_<module>.c.
 *
 * A test is a void function; checks print both sides and the call site on
 * failure (as libuv's ASSERT_EQ) and end the test. Each file lists its tests
 * in a table and calls test_run:
 *
 *     static void test_pcg_bounded(void) { ASSERT_EQ_INT(pcg32_bounded(&r, 1), 0); }
 *     static const test_case TESTS[] = {{"pcg_bounded", test_pcg_bounded}, {0}};
 *     int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
 *
 * `./test_core NAME` runs the tests whose name contains NAME.
 */
#ifndef NAS_TESTS_TEST_H
#define NAS_TESTS_TEST_H

#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

static jmp_buf test_jmp_;
static int test_failed_;

#define TEST_FAIL_(...)                                                                        \
    do {                                                                                       \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                      \
        fprintf(stderr, __VA_ARGS__);                                                          \
        fputc('\n', stderr);                                                                   \
        test_failed_ = 1;                                                                      \
        longjmp(test_jmp_, 1);                                                                 \
    } while (0)

#define ASSERT_TRUE(c)                                                                         \
    do {                                                                                       \
        if (!(c)) TEST_FAIL_("expected true: %s", #c);                                         \
    } while (0)

#define ASSERT_EQ_INT(a, b)                                                                    \
    do {                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                    \
        if (a_ != b_) TEST_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);                     \
    } while (0)

#define ASSERT_NE_INT(a, b)                                                                    \
    do {                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                    \
        if (a_ == b_) TEST_FAIL_("%s != %s: both %lld", #a, #b, a_);                            \
    } while (0)

#define ASSERT_LE(a, b)                                                                        \
    do {                                                                                       \
        double a_ = (double)(a), b_ = (double)(b);                                             \
        if (!(a_ <= b_)) TEST_FAIL_("%s <= %s: %.9g > %.9g", #a, #b, a_, b_);                   \
    } while (0)

#define ASSERT_NEAR(a, b, tol)                                                                 \
    do {                                                                                       \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                         \
        if (!(fabs(a_ - b_) <= t_))                                                            \
            TEST_FAIL_("%s ~= %s: %.9g vs %.9g (|diff| %.3g > %.3g)", #a, #b, a_, b_,           \
                       fabs(a_ - b_), t_);                                                     \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                    \
    do {                                                                                       \
        const char *a_ = (a), *b_ = (b);                                                       \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                 \
            TEST_FAIL_("%s == %s:\n    \"%s\"\n    \"%s\"", #a, #b, a_ ? a_ : "(null)",          \
                       b_ ? b_ : "(null)");                                                    \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                           \
    do {                                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                                \
        if (!h_ || !strstr(h_, n_))                                                            \
            TEST_FAIL_("%s contains \"%s\":\n    \"%s\"", #hay, n_, h_ ? h_ : "(null)");        \
    } while (0)

/* Checks a nas_status call returned NAS_OK, printing the error otherwise. */
#define ASSERT_OK(call, errp)                                                                  \
    do {                                                                                       \
        int s_ = (int)(call);                                                                  \
        if (s_ != 0) TEST_FAIL_("%s failed (%d): %s", #call, s_, (errp)->msg);                 \
    } while (0)

/* Runs one test; a failed check longjmps back here. Kept apart from the loop
 * so no local of the loop lives across setjmp. */
static int test_one_(void (*fn)(void)) {
    test_failed_ = 0;
    if (setjmp(test_jmp_) == 0) fn();
    return test_failed_;
}

static inline int test_run(int argc, char **argv, const test_case *tests) {
    int passed = 0, failed = 0;
    for (const test_case *t = tests; t->name; t++) {
        if (argc > 1 && !strstr(t->name, argv[1])) continue;
        if (test_one_(t->fn)) {
            fprintf(stderr, "FAIL %s\n", t->name);
            failed++;
        } else {
            printf("ok   %s\n", t->name);
            passed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif
