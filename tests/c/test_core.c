/* C-level checks of the core without Python: run under ASan/UBSan in CI (tests/c/run.sh),
 * and under qemu for aarch64 builds. Exits non-zero on the first failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pymaster.h"

static void test_limiter_ceiling_and_latency(void)
{
    const int fs = 48000, n = fs, ch = 2;
    pm_limiter *lim = NULL;
    CHECK(pm_limiter_create(&lim, fs, ch, 5.0) == PM_OK);
    CHECK(pm_limiter_set_ceiling_dbtp(lim, -1.0) == PM_OK);
    CHECK(pm_limiter_latency(lim) == 240);
    float *x = malloc(sizeof(float) * n * ch), *y = malloc(sizeof(float) * n * ch);
    for (int i = 0; i < n * ch; i++) x[i] = 8.0f * noise(); /* about +18 dBFS */
    x[1000] = NAN;
    x[2001] = INFINITY;
    CHECK(pm_limiter_process(lim, x, y, n) == PM_OK);
    /* the 4x meter of the output stays under the ceiling (the Python suite checks at 16x) */
    pm_truepeak *tp = NULL;
    CHECK(pm_truepeak_create(&tp, ch) == PM_OK);
    CHECK(pm_truepeak_process(tp, y, n) == PM_OK);
    pm_truepeak_flush(tp);
    for (int c = 0; c < ch; c++) CHECK(20 * log10(pm_truepeak_get(tp, c)) <= -1.0);
    for (int i = 0; i < n * ch; i++) CHECK(isfinite(y[i]));
    CHECK(pm_limiter_take_max_gain_reduction_db(lim) > 10.0);
    pm_truepeak_destroy(&tp);
    pm_limiter_destroy(&lim);
    CHECK(lim == NULL);
    free(x);
    free(y);
}

static void test_errors(void)
{
    pm_limiter *lim = NULL;
    pm_eq *eq = NULL;
    CHECK(pm_limiter_create(&lim, 100.0, 2, 5.0) == PM_ERR_SAMPLE_RATE && lim == NULL);
    CHECK(pm_limiter_create(&lim, 48000, 0, 5.0) == PM_ERR_CHANNELS);
    CHECK(pm_limiter_create(&lim, 48000, 2, 50.0) == PM_ERR_RANGE);
    CHECK(pm_eq_create(&eq, 48000, 2, 2) == PM_OK);
    CHECK(pm_eq_set_band(eq, 2, PM_BAND_PEAK, 1000, 0, 1, 1) == PM_ERR_INDEX);
    CHECK(pm_eq_set_band(eq, 0, PM_BAND_PEAK, 30000, 0, 1, 1) == PM_ERR_RANGE);
    CHECK(pm_eq_process(eq, NULL, NULL, 10) == PM_ERR_NULL);
    CHECK(strcmp(pm_strerror(PM_ERR_RANGE), "parameter value out of range") == 0);
    pm_eq_destroy(&eq);
    pm_eq_destroy(&eq); /* destroying twice is harmless: the pointer was nulled */
}

static void test_chain_block_invariance(void)
{
    const int fs = 44100, n = 10000, ch = 2;
    float *x = malloc(sizeof(float) * n * ch), *a = malloc(sizeof(float) * n * ch),
          *b = malloc(sizeof(float) * n * ch);
    for (int i = 0; i < n * ch; i++) x[i] = 2.0f * noise();
    pm_chain *c1 = NULL, *c2 = NULL;
    CHECK(pm_chain_create(&c1, fs, ch, 4, 5.0, 1) == PM_OK);
    CHECK(pm_chain_create(&c2, fs, ch, 4, 5.0, 1) == PM_OK);
    pm_chain *both[2] = {c1, c2};
    for (int k = 0; k < 2; k++) {
        pm_eq_set_band(pm_chain_eq(both[k]), 0, PM_BAND_LOW_SHELF, 100, 3, 0.7, 1);
        pm_dither_set_bits(pm_chain_dither(both[k]), 16);
    }
    CHECK(pm_chain_process(c1, x, a, n) == PM_OK);
    for (int done = 0; done < n; done += 7) {
        int len = n - done < 7 ? n - done : 7;
        CHECK(pm_chain_process(c2, x + done * ch, b + done * ch, len) == PM_OK);
    }
    CHECK(memcmp(a, b, sizeof(float) * n * ch) == 0);
    pm_meter_snapshot snap;
    pm_chain_meters(c1, &snap);
    CHECK(snap.frames == (uint64_t)n);
    CHECK(snap.limiter_gr_max_db > 0.0);
    pm_chain_destroy(&c1);
    pm_chain_destroy(&c2);
    free(x);
    free(a);
    free(b);
}

static void test_live_callback(void)
{
    enum { FRAMES = 64 };
    pm_chain *chain = NULL;
    pm_live *live = NULL;
    CHECK(pm_chain_create(&chain, 48000, 2, 0, 5.0, 0) == PM_OK);
    const int in_map[2] = {2, 3}, out_map[2] = {0, 1}, bad_map[2] = {0, 4};
    CHECK(pm_live_create(&live, chain, 4, bad_map, 2, out_map, NULL) == PM_ERR_INDEX);
    CHECK(pm_live_create(&live, chain, 4, in_map, 2, out_map, NULL) == PM_OK);
    float in[FRAMES * 4], out[FRAMES * 2];
    for (int i = 0; i < FRAMES * 4; i++) in[i] = 0.1f * noise();
    CHECK(pm_live_callback(in, out, FRAMES, NULL, 0, live) == 0);
    CHECK(pm_live_callback(in, out, FRAMES, NULL, 4 | 8, live) == 0);  /* output xruns */
    CHECK(pm_live_callback(NULL, out, FRAMES, NULL, 0, live) == 0);   /* no input: silence */
    for (int i = 0; i < FRAMES * 2; i++) CHECK(out[i] == 0.0f);
    uint64_t counts[PM_LIVE_COUNTERS];
    pm_live_counters(live, counts);
    CHECK(counts[PM_LIVE_BLOCKS] == 3 && counts[PM_LIVE_OUTPUT_UNDERFLOW] == 1 &&
          counts[PM_LIVE_OUTPUT_OVERFLOW] == 1 && counts[PM_LIVE_ERRORS] == 1);
    CHECK(counts[PM_LIVE_WORST_NS] > 0 && counts[PM_LIVE_WORST_NS] < 10000000000ull);
    pm_live_destroy(&live);
    pm_chain_destroy(&chain);
}

int main(void)
{
    test_limiter_ceiling_and_latency();
    test_errors();
    test_chain_block_invariance();
    test_live_callback();
    printf("test_core: all checks passed\n");
    return 0;
}
