/* Shared by the C tests: a failing CHECK prints where and exits non-zero; a seeded xorshift
 * generator makes test signals reproducible. */
#ifndef PM_TEST_CHECK_H
#define PM_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                \
        }                                                                           \
    } while (0)
#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;

static inline unsigned next_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state >> 32);
}

/* Uniform in [-1, 1). */
static inline float noise(void) { return (float)(next_u32() * (2.0 / 4294967296.0) - 1.0); }

#endif
