/* C-level checks of the loudness meter (pm_loudness_*): calibration, streaming and reset
 * invariance, the true-peak skip test against the plain streaming meter, bad input and
 * arguments. Built by tests/c/run.sh; exits non-zero on the first failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pymaster.h"

/* Stereo sine at `db` dBFS peak in both channels. */
static float *stereo_sine(int fs, int frames, double freq, double db)
{
    float *x = malloc(sizeof(float) * 2 * (size_t)frames);
    CHECK(x != NULL);
    double amp = pow(10.0, db / 20.0);
    for (int i = 0; i < frames; i++)
        x[2 * i] = x[2 * i + 1] = (float)(amp * sin(2.0 * M_PI * freq * i / fs));
    return x;
}

/* Music-like stereo: decaying noise bursts over a quiet bed, louder hits later on. */
static float *bursts(int fs, int frames)
{
    float *x = malloc(sizeof(float) * 2 * (size_t)frames);
    CHECK(x != NULL);
    float lp[2] = {0};
    for (int i = 0; i < frames; i++) {
        int beat = i % (fs / 4);
        float env = 0.05f + 0.6f * expf(-(float)beat / (0.03f * fs)) * (1.0f + (float)i / frames);
        for (int c = 0; c < 2; c++) {
            lp[c] += 0.5f * (noise() - lp[c]);
            x[2 * i + c] = env * lp[c];
        }
    }
    return x;
}

typedef struct {
    double integrated, momentary, short_term, m_max, s_max, range, tp[2], sp[2];
    long long frames;
} readings;

static readings read_meter(const pm_loudness *m)
{
    readings r = {pm_loudness_integrated(m), pm_loudness_momentary(m),
                  pm_loudness_short_term(m), pm_loudness_momentary_max(m),
                  pm_loudness_short_term_max(m), pm_loudness_range(m),
                  {pm_loudness_true_peak_dbtp(m, 0), pm_loudness_true_peak_dbtp(m, 1)},
                  {pm_loudness_sample_peak_dbfs(m, 0), pm_loudness_sample_peak_dbfs(m, 1)},
                  (long long)pm_loudness_frames(m)};
    return r;
}

static int same(const readings *a, const readings *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* Feeds x in blocks of `block` frames (0: random sizes 0..999). */
static readings measure(const float *x, int frames, int block, int fs)
{
    pm_loudness *m = NULL;
    CHECK(pm_loudness_create(&m, fs, 2) == PM_OK);
    for (int done = 0; done < frames;) {
        int n = block ? block : (int)(next_u32() % 1000);
        if (n > frames - done) n = frames - done;
        CHECK(pm_loudness_add(m, x + 2 * (size_t)done, n) == PM_OK);
        done += n;
    }
    readings r = read_meter(m);
    pm_loudness_destroy(&m);
    CHECK(m == NULL);
    return r;
}

static void test_ebu_sine_and_reset(void)
{
    const int fs = 48000, frames = 10 * fs;
    float *x = stereo_sine(fs, frames, 1000.0, -23.0);
    pm_loudness *m = NULL;
    CHECK(pm_loudness_create(&m, fs, 2) == PM_OK);
    CHECK(pm_loudness_add(m, x, frames) == PM_OK);
    readings r = read_meter(m);
    CHECK(NEAR(r.integrated, -23.0, 0.1));
    CHECK(NEAR(r.momentary, -23.0, 0.1) && NEAR(r.short_term, -23.0, 0.1));
    CHECK(NEAR(r.range, 0.0, 0.05));
    CHECK(NEAR(r.sp[0], -23.0, 0.01) && r.tp[0] >= r.sp[0] && r.tp[0] < -22.9);
    CHECK(r.frames == frames);

    pm_loudness_reset(m);
    CHECK(pm_loudness_frames(m) == 0);
    CHECK(isinf(pm_loudness_momentary(m)) && isinf(pm_loudness_integrated(m)));
    CHECK(isinf(pm_loudness_true_peak_dbtp(m, 1)));
    CHECK(pm_loudness_add(m, x, frames) == PM_OK);
    readings again = read_meter(m);
    CHECK(same(&r, &again));
    pm_loudness_destroy(&m);
    free(x);
}

static void test_streaming_invariance(void)
{
    const int fs = 44100, frames = 4 * fs;
    float *x = bursts(fs, frames);
    readings whole = measure(x, frames, frames, fs);
    CHECK(isfinite(whole.integrated) && isfinite(whole.range) && isfinite(whole.short_term));
    const int blocks[] = {1, 7, 64, 4096, 0};
    for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
        readings r = measure(x, frames, blocks[k], fs);
        CHECK(same(&r, &whole));
    }
    free(x);
}

/* The meter skips interpolating runs that cannot raise the true peak; the plain streaming
 * meter interpolates everything. Both must agree exactly. */
static void test_true_peak_skips_nothing_that_matters(void)
{
    const int fs = 48000, frames = 3 * fs;
    float *x = bursts(fs, frames);
    pm_loudness *m = NULL;
    pm_truepeak *tp = NULL;
    CHECK(pm_loudness_create(&m, fs, 2) == PM_OK);
    CHECK(pm_truepeak_create(&tp, 2) == PM_OK);
    CHECK(pm_loudness_add(m, x, frames) == PM_OK);
    CHECK(pm_truepeak_process(tp, x, frames) == PM_OK);
    for (int c = 0; c < 2; c++) {
        float sp = 0.0f; /* the meter's true peak includes the samples the interpolator lags */
        for (int i = 0; i < frames; i++) sp = fabsf(x[2 * i + c]) > sp ? fabsf(x[2 * i + c]) : sp;
        double plain = pm_truepeak_get(tp, c);
        CHECK(pm_loudness_true_peak_dbtp(m, c) == 20.0 * log10(plain > sp ? plain : sp));
        CHECK(pm_loudness_sample_peak_dbfs(m, c) == 20.0 * log10(sp));
    }
    pm_truepeak_destroy(&tp);
    pm_loudness_destroy(&m);
    free(x);
}

static void test_bad_input_and_arguments(void)
{
    pm_loudness *m = NULL;
    CHECK(pm_loudness_create(NULL, 48000, 2) == PM_ERR_NULL);
    CHECK(pm_loudness_create(&m, 7999, 2) == PM_ERR_SAMPLE_RATE && m == NULL);
    CHECK(pm_loudness_create(&m, 384001, 2) == PM_ERR_SAMPLE_RATE && m == NULL);
    CHECK(pm_loudness_create(&m, 48000, 0) == PM_ERR_CHANNELS && m == NULL);
    CHECK(pm_loudness_create(&m, 48000, 17) == PM_ERR_CHANNELS && m == NULL);
    CHECK(pm_loudness_create(&m, 8000, 1) == PM_OK);
    pm_loudness_destroy(&m);
    CHECK(pm_loudness_create(&m, 384000, 16) == PM_OK);
    pm_loudness_destroy(&m);

    CHECK(pm_loudness_create(&m, 48000, 2) == PM_OK);
    CHECK(pm_loudness_set_channel_weight(m, 2, 1.0) == PM_ERR_INDEX);
    CHECK(pm_loudness_set_channel_weight(m, -1, 1.0) == PM_ERR_INDEX);
    CHECK(pm_loudness_set_channel_weight(m, 0, -0.5) == PM_ERR_RANGE);
    CHECK(pm_loudness_set_channel_weight(m, 0, NAN) == PM_ERR_RANGE);
    CHECK(pm_loudness_set_channel_weight(NULL, 0, 1.0) == PM_ERR_NULL);
    CHECK(pm_loudness_add(m, NULL, 10) == PM_ERR_NULL);
    CHECK(pm_loudness_add(m, NULL, 0) == PM_OK);
    float one[2] = {0};
    CHECK(pm_loudness_add(m, one, -1) == PM_ERR_FRAMES);
    CHECK(isnan(pm_loudness_true_peak_dbtp(m, 2)) && isnan(pm_loudness_integrated(NULL)));

    /* NaN and Inf count as silence and leave no trace */
    const int fs = 48000, frames = 2 * fs;
    float *x = stereo_sine(fs, frames, 997.0, -20.0);
    for (int i = 0; i < 500; i++) x[2 * i] = NAN;
    x[7001] = INFINITY;
    x[9000] = -INFINITY;
    x[9002] = 3.0e38f;
    CHECK(pm_loudness_add(m, x, frames) == PM_OK);
    readings r = read_meter(m);
    CHECK(isfinite(r.integrated) && isfinite(r.momentary) && isfinite(r.m_max));
    CHECK(isfinite(r.tp[0]) && isfinite(r.tp[1]) && isfinite(r.sp[0]));
    CHECK(r.sp[0] <= 80.0 + 1e-9); /* absurd levels are clamped to +80 dBFS */
    pm_loudness_reset(m);
    free(x);
    x = stereo_sine(fs, frames, 997.0, -20.0);
    CHECK(pm_loudness_add(m, x, frames) == PM_OK);
    CHECK(NEAR(pm_loudness_integrated(m), -20.0, 0.05));
    pm_loudness_destroy(&m);
    CHECK(m == NULL);
    pm_loudness_destroy(&m); /* twice is harmless */
    pm_loudness_destroy(NULL);
    free(x);
}

static void test_surround_weights(void)
{
    const int fs = 48000, frames = fs;
    float *x = calloc(6 * (size_t)frames, sizeof(float));
    CHECK(x != NULL);
    for (int i = 0; i < frames; i++) x[6 * i + 3] = (float)(0.5 * sin(0.1 * i)); /* LFE only */
    pm_loudness *m = NULL;
    CHECK(pm_loudness_create(&m, fs, 6) == PM_OK);
    CHECK(pm_loudness_add(m, x, frames) == PM_OK);
    CHECK(isinf(pm_loudness_integrated(m)));
    CHECK(pm_loudness_set_channel_weight(m, 3, 1.0) == PM_OK);
    pm_loudness_reset(m);
    CHECK(pm_loudness_add(m, x, frames) == PM_OK);
    CHECK(isfinite(pm_loudness_integrated(m)));
    pm_loudness_destroy(&m);
    free(x);
}

int main(void)
{
    test_ebu_sine_and_reset();
    test_streaming_invariance();
    test_true_peak_skips_nothing_that_matters();
    test_bad_input_and_arguments();
    test_surround_weights();
    printf("test_loudness: ok\n");
    return 0;
}
