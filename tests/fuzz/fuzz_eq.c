/* The equalizer: create with any arguments, bands set to any values, process with any block
 * size and any float bits. Invariants: the documented error codes, a getter that returns what
 * was accepted, finite output, and the same output however the blocks are split (a twin EQ
 * processes the same audio in place, in pieces). */
#include "fuzz.h"

static int run(void *eq, const float *in, float *out, int64_t frames)
{
    return pm_eq_process(eq, in, out, frames);
}

static float x[FUZZ_MAX_SAMPLES], y[FUZZ_MAX_SAMPLES], z[FUZZ_MAX_SAMPLES];

static int band_error(const pm_eq *eq, double fs, int band, int type, double freq, double gain,
                      double q)
{
    if (band < 0 || band >= pm_eq_bands(eq)) return PM_ERR_INDEX;
    if (type < PM_BAND_PEAK || type > PM_BAND_LOW_PASS) return PM_ERR_RANGE;
    if (!(freq > 0.0 && freq <= 0.49 * fs)) return PM_ERR_RANGE;
    if (!in_range(gain, -24.0, 24.0) || !in_range(q, 0.1, 10.0)) return PM_ERR_RANGE;
    return PM_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    const double fs = take_double(&in, 8000.0, 192000.0);
    const int ch = take_channels(&in, 4), bands = take_int(&in, 0, PM_MAX_EQ_BANDS);
    pm_eq *a = NULL, *b = NULL;
    int expect = rate_error(fs); /* the first failed check answers */
    if (!expect) expect = channels_error(ch);
    if (!expect) expect = range_error(bands, 0, PM_MAX_EQ_BANDS);
    CHECK(pm_eq_create(NULL, fs, ch, bands) == PM_ERR_NULL);
    CHECK(pm_eq_create(&a, fs, ch, bands) == expect);
    if (expect != PM_OK) {
        CHECK(a == NULL);
        return 0;
    }
    CHECK(pm_eq_create(&b, fs, ch, bands) == PM_OK);
    CHECK(pm_eq_bands(a) == bands);
    while (in.n) {
        switch (take_u8(&in) % 7) {
        case 0:
        case 1: {
            const int band = take_int(&in, 0, bands - 1), type = take_int(&in, 0, 4);
            const double freq = take_double(&in, 10.0, 0.49 * fs);
            const double gain = take_double(&in, -24.0, 24.0), q = take_double(&in, 0.1, 10.0);
            const int enabled = take_int(&in, 0, 1);
            const int err = band_error(a, fs, band, type, freq, gain, q);
            CHECK(pm_eq_set_band(a, band, type, freq, gain, q, enabled) == err);
            pm_eq_set_band(b, band, type, freq, gain, q, enabled);
            if (err == PM_OK) {
                int t, e;
                double f, g, qq;
                CHECK(pm_eq_get_band(a, band, &t, &f, &g, &qq, &e) == PM_OK);
                CHECK(t == type && f == freq && g == gain && qq == q && e == (enabled != 0));
            }
            break;
        }
        case 2:
            pm_eq_reset(a);
            pm_eq_reset(b);
            break;
        case 3: {
            int t, e;
            double f, g, qq;
            const int band = take_int(&in, 0, bands);
            CHECK(pm_eq_get_band(a, band, &t, &f, &g, &qq, &e) ==
                  (band >= 0 && band < bands ? PM_OK : PM_ERR_INDEX));
            CHECK(pm_eq_get_band(a, band, NULL, &f, &g, &qq, &e) == PM_ERR_NULL);
            CHECK(pm_eq_process(a, x, y, -1 - take_u8(&in)) == PM_ERR_FRAMES);
            CHECK(pm_eq_process(a, NULL, y, 1 + take_u8(&in)) == PM_ERR_NULL);
            break;
        }
        default: {
            const int frames = take_frames(&in), count = frames * ch;
            take_audio(&in, x, count);
            CHECK(pm_eq_process(a, x, y, frames) == PM_OK);
            memcpy(z, x, (size_t)count * sizeof(float));
            process_in_pieces(&in, run, b, z, z, frames, ch); /* in place */
            CHECK(memcmp(y, z, (size_t)count * sizeof(float)) == 0);
            CHECK(all_finite(y, count));
            break;
        }
        }
    }
    CHECK(pm_eq_set_band(NULL, 0, PM_BAND_PEAK, 1000.0, 0.0, 1.0, 1) == PM_ERR_NULL);
    CHECK(pm_eq_process(NULL, x, y, 1) == PM_ERR_NULL);
    CHECK(pm_eq_bands(NULL) == 0);
    pm_eq_reset(NULL);
    pm_eq_destroy(&a);
    pm_eq_destroy(&b);
    CHECK(a == NULL && b == NULL);
    pm_eq_destroy(&a);
    pm_eq_destroy(NULL);
    return 0;
}
