/* The loudness meter and the true-peak meter: create with any arguments, channel weights of
 * any value, audio in any block sizes and any float bits. Invariants: the documented error
 * codes; readings that are finite or -inf (never NaN, never +inf), LRA >= 0; sample peaks that
 * match the sanitised input exactly (denormals read as silence: the meters run under FTZ/DAZ)
 * and true peaks at or above them; the same readings
 * however the blocks are split (twin meters get the audio in pieces). */
#include "fuzz.h"

static int add(void *meter, const float *in, float *out, int64_t frames)
{
    (void)out;
    return pm_loudness_add(meter, in, frames);
}

static int add_tp(void *tp, const float *in, float *out, int64_t frames)
{
    (void)out;
    return pm_truepeak_process(tp, in, frames);
}

static float x[FUZZ_MAX_SAMPLES];

static void same_readings(const pm_loudness *a, const pm_loudness *b, int ch)
{
    double (*const all[])(const pm_loudness *) = {
        pm_loudness_momentary, pm_loudness_short_term, pm_loudness_momentary_max,
        pm_loudness_short_term_max, pm_loudness_integrated, pm_loudness_range};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        const double va = all[i](a), vb = all[i](b);
        CHECK(reading_ok(va) && memcmp(&va, &vb, sizeof va) == 0);
    }
    const double lra = pm_loudness_range(a);
    CHECK(lra == -HUGE_VAL || lra >= 0.0);
    for (int c = 0; c < ch; c++) {
        const double tpa = pm_loudness_true_peak_dbtp(a, c), tpb = pm_loudness_true_peak_dbtp(b, c);
        const double spa = pm_loudness_sample_peak_dbfs(a, c);
        CHECK(reading_ok(tpa) && reading_ok(spa) && tpa >= spa);
        CHECK(memcmp(&tpa, &tpb, sizeof tpa) == 0);
    }
    CHECK(isnan(pm_loudness_true_peak_dbtp(a, ch)) && isnan(pm_loudness_sample_peak_dbfs(a, -1)));
    CHECK(pm_loudness_frames(a) == pm_loudness_frames(b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    const double fs = take_double(&in, 8000.0, 192000.0);
    const int ch = take_channels(&in, 6);
    pm_loudness *a = NULL, *b = NULL;
    pm_truepeak *ta = NULL, *tb = NULL;
    const int expect = rate_error(fs) ? rate_error(fs) : channels_error(ch); /* first failed */
    CHECK(pm_loudness_create(NULL, fs, ch) == PM_ERR_NULL);
    CHECK(pm_truepeak_create(NULL, ch) == PM_ERR_NULL);
    CHECK(pm_loudness_create(&a, fs, ch) == expect);
    CHECK(pm_truepeak_create(&ta, ch) == channels_error(ch));
    CHECK(ta == NULL || channels_error(ch) == PM_OK);
    pm_truepeak_destroy(&ta);
    if (expect != PM_OK) {
        CHECK(a == NULL);
        return 0;
    }
    CHECK(pm_loudness_create(&b, fs, ch) == PM_OK);
    CHECK(pm_truepeak_create(&ta, ch) == PM_OK && pm_truepeak_create(&tb, ch) == PM_OK);
    double sample_peak[PM_MAX_CHANNELS] = {0};
    int64_t frames_added = 0;
    while (in.n) {
        switch (take_u8(&in) % 6) {
        case 0: {
            const int c = take_int(&in, 0, ch - 1);
            const double w = take_double(&in, 0.0, 2.0);
            const int err = c < 0 || c >= ch ? PM_ERR_INDEX : range_error(w, 0.0, 10.0);
            CHECK(pm_loudness_set_channel_weight(a, c, w) == err);
            pm_loudness_set_channel_weight(b, c, w);
            break;
        }
        case 1:
            pm_loudness_reset(a);
            pm_loudness_reset(b);
            pm_truepeak_reset(ta);
            pm_truepeak_reset(tb);
            memset(sample_peak, 0, sizeof sample_peak);
            frames_added = 0;
            break;
        case 2:
            CHECK(pm_loudness_add(a, x, -1 - take_u8(&in)) == PM_ERR_FRAMES);
            CHECK(pm_loudness_add(a, NULL, 1 + take_u8(&in)) == PM_ERR_NULL);
            CHECK(pm_truepeak_process(ta, x, -1) == PM_ERR_FRAMES);
            CHECK(pm_truepeak_process(ta, NULL, 1) == PM_ERR_NULL);
            break;
        default: {
            const int frames = take_frames(&in), count = frames * ch;
            take_audio(&in, x, count);
            CHECK(pm_loudness_add(a, x, frames) == PM_OK);
            process_in_pieces(&in, add, b, x, NULL, frames, ch);
            CHECK(pm_truepeak_process(ta, x, frames) == PM_OK);
            process_in_pieces(&in, add_tp, tb, x, NULL, frames, ch);
            for (int i = 0; i < count; i++) {
                const double v = fabsf(sanitized(x[i])) < FLT_MIN ? 0.0 : fabsf(sanitized(x[i]));
                sample_peak[i % ch] = v > sample_peak[i % ch] ? v : sample_peak[i % ch];
            }
            frames_added += frames;
            CHECK(pm_loudness_frames(a) == frames_added);
            same_readings(a, b, ch);
            for (int c = 0; c < ch; c++) {
                const double sp = pm_loudness_sample_peak_dbfs(a, c);
                CHECK(sp == (sample_peak[c] > 0.0 ? 20.0 * log10(sample_peak[c]) : -HUGE_VAL));
                CHECK(pm_truepeak_get(ta, c) == pm_truepeak_get(tb, c));
            }
            break;
        }
        }
    }
    pm_truepeak_flush(ta);
    for (int c = 0; c < ch; c++) { /* flushed: every sample is one of the 4x points */
        const double tp = pm_truepeak_get(ta, c);
        CHECK(isfinite(tp) && tp >= sample_peak[c]);
    }
    CHECK(pm_truepeak_get(ta, ch) == 0.0 && pm_truepeak_get(ta, -1) == 0.0);
    CHECK(pm_loudness_add(NULL, x, 1) == PM_ERR_NULL);
    CHECK(pm_loudness_set_channel_weight(NULL, 0, 1.0) == PM_ERR_NULL);
    CHECK(isnan(pm_loudness_integrated(NULL)) && isnan(pm_loudness_range(NULL)));
    CHECK(isnan(pm_loudness_momentary(NULL)) && isnan(pm_loudness_short_term_max(NULL)));
    CHECK(pm_loudness_frames(NULL) == 0);
    CHECK(pm_truepeak_process(NULL, x, 1) == PM_ERR_NULL);
    CHECK(pm_truepeak_get(NULL, 0) == 0.0);
    pm_truepeak_flush(NULL);
    pm_truepeak_reset(NULL);
    pm_loudness_reset(NULL);
    pm_loudness_destroy(&a);
    pm_loudness_destroy(&b);
    pm_truepeak_destroy(&ta);
    pm_truepeak_destroy(&tb);
    CHECK(a == NULL && b == NULL && ta == NULL && tb == NULL);
    pm_loudness_destroy(NULL);
    pm_truepeak_destroy(NULL);
    return 0;
}
