/* C-level checks of the compressor: errors, static curve, block-size invariance, bad input.
 * Built by tests/c/run.sh (ASan/UBSan); needs only pm_compressor.c and pm_common.c:
 *   gcc -std=gnu11 -Icsrc tests/c/test_compressor.c csrc/pm_compressor.c csrc/pm_common.c -lm
 * Exits non-zero on the first failure. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pymaster.h"

static pm_compressor *make(int channels, pm_compressor_params *p)
{
    pm_compressor *c = NULL;
    CHECK(pm_compressor_create(&c, 48000, channels) == PM_OK && c);
    if (p) CHECK(pm_compressor_set_params(c, p) == PM_OK);
    return c;
}

static pm_compressor_params defaults(void)
{
    pm_compressor *c = make(1, NULL);
    pm_compressor_params p;
    pm_compressor_get_params(c, &p);
    pm_compressor_destroy(&c);
    return p;
}

static int same_params(const pm_compressor_params *a, const pm_compressor_params *b)
{
    return a->threshold_db == b->threshold_db && a->ratio == b->ratio &&
           a->knee_db == b->knee_db && a->attack_ms == b->attack_ms &&
           a->release_ms == b->release_ms && a->makeup_db == b->makeup_db &&
           a->stereo_link == b->stereo_link && a->mix == b->mix &&
           a->sidechain_hpf_hz == b->sidechain_hpf_hz && a->detector == b->detector;
}

static void test_errors(void)
{
    pm_compressor *c = NULL;
    CHECK(pm_compressor_create(NULL, 48000, 2) == PM_ERR_NULL);
    CHECK(pm_compressor_create(&c, 7999, 2) == PM_ERR_SAMPLE_RATE && c == NULL);
    CHECK(pm_compressor_create(&c, 48000, 0) == PM_ERR_CHANNELS && c == NULL);
    CHECK(pm_compressor_create(&c, 48000, PM_MAX_CHANNELS + 1) == PM_ERR_CHANNELS);
    pm_compressor_destroy(NULL);
    pm_compressor_destroy(&c); /* NULL object: no-op */

    c = make(2, NULL);
    pm_compressor_params p = defaults(), q;
    CHECK(p.threshold_db == -18.0 && p.ratio == 2.0 && p.detector == PM_DETECT_PEAK);
    const size_t field[] = {
        offsetof(pm_compressor_params, threshold_db), offsetof(pm_compressor_params, ratio),
        offsetof(pm_compressor_params, knee_db), offsetof(pm_compressor_params, attack_ms),
        offsetof(pm_compressor_params, release_ms), offsetof(pm_compressor_params, makeup_db),
        offsetof(pm_compressor_params, stereo_link), offsetof(pm_compressor_params, mix),
        offsetof(pm_compressor_params, sidechain_hpf_hz)};
    const double bad[][3] = {{-61, 1, NAN}, {0.99, 101, NAN}, {-0.1, 25, NAN},
                             {0.001, 501, NAN}, {0.9, 5001, NAN}, {-25, 25, NAN},
                             {-0.1, 1.1, NAN}, {-0.1, 1.1, NAN}, {5, 1001, -1}};
    for (int f = 0; f < 9; f++) {
        for (int k = 0; k < 3; k++) {
            pm_compressor_params trial = p;
            *(double *)((char *)&trial + field[f]) = bad[f][k];
            CHECK(pm_compressor_set_params(c, &trial) == PM_ERR_RANGE);
            pm_compressor_get_params(c, &q);
            CHECK(same_params(&q, &p)); /* nothing changed */
        }
    }
    p.detector = 2;
    CHECK(pm_compressor_set_params(c, &p) == PM_ERR_RANGE);
    CHECK(pm_compressor_set_params(NULL, &p) == PM_ERR_NULL);
    CHECK(pm_compressor_set_params(c, NULL) == PM_ERR_NULL);

    float buf[4] = {0};
    CHECK(pm_compressor_process(c, buf, buf, -1) == PM_ERR_FRAMES);
    CHECK(pm_compressor_process(c, NULL, buf, 2) == PM_ERR_NULL);
    CHECK(pm_compressor_process(c, NULL, NULL, 0) == PM_OK);
    CHECK(pm_compressor_process(NULL, buf, buf, 2) == PM_ERR_NULL);
    pm_compressor_destroy(&c);
    CHECK(c == NULL);
}

/* +a, -a, ...: constant |x|, so the peak detector settles to the static curve exactly. */
static double settled_gain_db(double level_db, pm_compressor_params *p)
{
    const int n = 24000;
    pm_compressor *c = make(1, p);
    float *x = malloc(sizeof(float) * n);
    float a = (float)pow(10.0, level_db / 20.0);
    for (int i = 0; i < n; i++) x[i] = i % 2 ? -a : a;
    CHECK(pm_compressor_process(c, x, x, n) == PM_OK);
    double g = 20.0 * log10(fabs(x[n - 1]) / a);
    CHECK(fabs(pm_compressor_gain_reduction_db(c) + g - p->makeup_db) < 1e-3);
    free(x);
    pm_compressor_destroy(&c);
    return g;
}

static void test_static_curve(void)
{
    pm_compressor_params p = defaults();
    p.threshold_db = -30.0, p.ratio = 4.0, p.knee_db = 0.0, p.attack_ms = 1.0;
    CHECK(settled_gain_db(-40.0, &p) == 0.0);                      /* below: exact unity */
    CHECK(fabs(settled_gain_db(-10.0, &p) - (-15.0)) < 0.005);     /* 20 dB over at 4:1 */
    p.knee_db = 12.0;
    CHECK(fabs(settled_gain_db(-30.0, &p) - (-0.75 * 12.0 / 8.0)) < 0.005); /* knee centre */
    CHECK(settled_gain_db(-36.5, &p) == 0.0);                      /* under the knee */
    p.makeup_db = 6.0, p.knee_db = 0.0;
    CHECK(fabs(settled_gain_db(-10.0, &p) - (-15.0 + 6.0)) < 0.005);
}

/* The same audio in different block sizes must give bit-identical output. */
static void test_block_invariance(int channels)
{
    const int n = 9000;
    float *x = malloc(sizeof(float) * n * channels);
    float *ref = malloc(sizeof(float) * n * channels), *y = malloc(sizeof(float) * n * channels);
    for (int i = 0; i < n * channels; i++) x[i] = noise() * (float)(i / channels) / n;
    pm_compressor_params p = defaults();
    p.threshold_db = -30.0, p.detector = PM_DETECT_RMS, p.sidechain_hpf_hz = 100.0;
    p.stereo_link = 0.5, p.mix = 0.8, p.attack_ms = 0.5, p.release_ms = 20.0;
    pm_compressor *c = make(channels, &p);
    CHECK(pm_compressor_process(c, x, ref, n) == PM_OK);
    const int blocks[] = {1, 7, 255, 256, 257, 4096};
    for (int b = 0; b < 6; b++) {
        pm_compressor_reset(c);
        for (int i = 0; i < n; i += blocks[b]) {
            int m = n - i < blocks[b] ? n - i : blocks[b];
            CHECK(pm_compressor_process(c, x + (size_t)i * channels, y + (size_t)i * channels, m) ==
                  PM_OK);
        }
        CHECK(memcmp(y, ref, sizeof(float) * n * channels) == 0);
    }
    /* in place gives the same result */
    pm_compressor_reset(c);
    memcpy(y, x, sizeof(float) * n * channels);
    CHECK(pm_compressor_process(c, y, y, n) == PM_OK);
    CHECK(memcmp(y, ref, sizeof(float) * n * channels) == 0);
    pm_compressor_destroy(&c);
    free(x);
    free(ref);
    free(y);
}

static void test_bad_input_and_meters(void)
{
    const int n = 4800, ch = 2;
    float *x = malloc(sizeof(float) * n * ch);
    for (int i = 0; i < n * ch; i++) x[i] = noise();
    x[10] = NAN, x[11] = INFINITY, x[500] = -INFINITY, x[501] = 3e38f, x[900] = 1e-42f;
    pm_compressor_params p = defaults();
    p.detector = PM_DETECT_RMS, p.sidechain_hpf_hz = 50.0;
    pm_compressor *c = make(ch, &p);
    CHECK(pm_compressor_process(c, x, x, n) == PM_OK);
    for (int i = 0; i < n * ch; i++) CHECK(isfinite(x[i]));
    CHECK(x[10] == 0.0f && x[11] == 0.0f && x[500] == 0.0f);
    double gr = pm_compressor_gain_reduction_db(c);
    CHECK(gr > 0.0 && gr < 30.0);
    CHECK(pm_compressor_take_max_gain_reduction_db(c) >= gr);
    CHECK(pm_compressor_take_max_gain_reduction_db(c) == 0.0);
    pm_compressor_reset(c);
    CHECK(pm_compressor_gain_reduction_db(c) == 0.0);
    pm_compressor_destroy(&c);
    free(x);
}

int main(void)
{
    test_errors();
    test_static_curve();
    test_block_invariance(1);
    test_block_invariance(2);
    test_block_invariance(6);
    test_bad_input_and_meters();
    printf("test_compressor: ok\n");
    return 0;
}
