/* Runs every test case; the last line is "N passed, N failed". */
#include <string.h>

#include "check.h"

int check_failures;

int main(int argc, char **argv)
{
    const test_case *suites[] = {codec_tests, device_tests, fuzz_tests, mlperf_tests};
    const char *only = argc > 1 ? argv[1] : NULL; /* run tests whose name contains this */
    int passed = 0;
    int failed = 0;
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
        for (const test_case *t = suites[s]; t->name; t++) {
            if (only && !strstr(t->name, only)) {
                continue;
            }
            check_failures = 0;
            t->fn();
            if (check_failures) {
                failed++;
                printf("FAIL %s\n", t->name);
            } else {
                passed++;
                printf("ok   %s\n", t->name);
            }
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
