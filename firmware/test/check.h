/* A minimal test framework: CHECK macros count failures of the running test. */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>

extern int check_failures; /* failed checks in the current test */

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            check_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);  \
        }                                                                             \
    } while (0)

#define CHECK_EQ(a, b)                                                                \
    do {                                                                              \
        unsigned long long a_ = (unsigned long long)(a);                              \
        unsigned long long b_ = (unsigned long long)(b);                              \
        if (a_ != b_) {                                                               \
            check_failures++;                                                         \
            fprintf(stderr, "%s:%d: %s == %s failed: %llu != %llu\n", __FILE__,       \
                    __LINE__, #a, #b, a_, b_);                                        \
        }                                                                             \
    } while (0)

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case;

#define TEST(fn) {#fn, fn}
#define TEST_END {NULL, NULL}

extern const test_case codec_tests[];
extern const test_case device_tests[];
extern const test_case fuzz_tests[];
extern const test_case mlperf_tests[];

#endif
