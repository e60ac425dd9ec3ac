/* The whole chain: create with any arguments; every setter of the chain and of its borrowed
 * stages with any value, interleaved with blocks of any size and any float bits. Invariants:
 * the documented error codes; finite output under the highest ceiling set (+ a dither step)
 * while the limiter is in; meter snapshots that read finite or -inf and count the frames; the
 * same output and meters however the blocks are split (a twin chain gets them in pieces); a
 * message for every error code (pm_strerror). */
#include "fuzz.h"

static int run(void *chain, const float *in, float *out, int64_t frames)
{
    return pm_chain_process(chain, in, out, frames);
}

static float x[FUZZ_MAX_SAMPLES], y[FUZZ_MAX_SAMPLES], z[FUZZ_MAX_SAMPLES];

static void check_snapshot(const pm_chain *a, const pm_chain *b, uint64_t frames)
{
    pm_meter_snapshot sa, sb;
    pm_chain_meters(a, &sa);
    pm_chain_meters(b, &sb);
    CHECK(sa.frames == frames && sb.frames == frames);
    const double va[] = {sa.momentary_lufs, sa.short_term_lufs, sa.momentary_max_lufs,
                         sa.short_term_max_lufs, sa.true_peak_dbtp, sa.sample_peak_dbfs};
    const double vb[] = {sb.momentary_lufs, sb.short_term_lufs, sb.momentary_max_lufs,
                         sb.short_term_max_lufs, sb.true_peak_dbtp, sb.sample_peak_dbfs};
    for (size_t i = 0; i < sizeof va / sizeof *va; i++) {
        CHECK(reading_ok(va[i]));
        CHECK(memcmp(&va[i], &vb[i], sizeof va[i]) == 0);
    }
    /* integrated and LRA are refreshed every 100 ms of audio at the end of a call, so they
     * may lag by a different amount in the twin: only their form is checked */
    CHECK(reading_ok(sa.integrated_lufs) && reading_ok(sa.loudness_range_lu));
    CHECK(sa.loudness_range_lu == -HUGE_VAL || sa.loudness_range_lu >= 0.0);
    const double gr[] = {sa.compressor_gr_db, sa.limiter_gr_db, sa.compressor_gr_max_db,
                         sa.limiter_gr_max_db};
    for (size_t i = 0; i < sizeof gr / sizeof *gr; i++) CHECK(isfinite(gr[i]) && gr[i] >= 0.0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    const double fs = take_double(&in, 8000.0, 192000.0);
    const int ch = take_channels(&in, 4), bands = take_int(&in, 0, 4);
    const double lookahead = take_double(&in, 2.0, 20.0);
    const uint64_t seed = take_bits(&in, 8);
    pm_chain *a = NULL, *b = NULL;
    int expect = rate_error(fs); /* the first failed check answers */
    if (!expect) expect = channels_error(ch);
    if (!expect) expect = range_error(bands, 0, PM_MAX_EQ_BANDS);
    if (!expect) expect = range_error(lookahead, 2.0, 20.0);
    CHECK(pm_chain_create(NULL, fs, ch, bands, lookahead, seed) == PM_ERR_NULL);
    CHECK(pm_chain_create(&a, fs, ch, bands, lookahead, seed) == expect);
    if (expect != PM_OK) {
        CHECK(a == NULL);
        return 0;
    }
    CHECK(pm_chain_create(&b, fs, ch, bands, lookahead, seed) == PM_OK);
    CHECK(pm_chain_channels(a) == ch);
    CHECK(pm_chain_latency(a) == pm_limiter_latency(pm_chain_limiter(a)));
    pm_chain *both[2] = {a, b};
    double ceiling = pm_limiter_get_ceiling_dbtp(pm_chain_limiter(a));
    int limiter_out = 0, dithered = 0;
    uint64_t frames_done = 0;
    while (in.n) {
        const uint8_t op = take_u8(&in) % 12;
        if (op == 0) {
            const double v = take_double(&in, -24.0, 24.0);
            CHECK(pm_chain_set_input_gain_db(a, v) == range_error(v, -24.0, 24.0));
            pm_chain_set_input_gain_db(b, v);
        } else if (op == 1) {
            const double v = take_double(&in, -48.0, 0.0);
            CHECK(pm_chain_set_output_gain_db(a, v) == range_error(v, -48.0, 0.0));
            pm_chain_set_output_gain_db(b, v);
        } else if (op == 2) {
            const int stage = take_int(&in, 0, PM_STAGE_COUNT - 1), on = take_int(&in, 0, 1);
            const int valid = stage >= 0 && stage < PM_STAGE_COUNT;
            CHECK(pm_chain_set_bypass(a, stage, on) == (valid ? PM_OK : PM_ERR_INDEX));
            pm_chain_set_bypass(b, stage, on);
            CHECK(pm_chain_get_bypass(a, stage) == (valid && on != 0));
            limiter_out |= stage == PM_STAGE_LIMITER && on;
        } else if (op == 3) {
            const double trim = take_double(&in, -60.0, 12.0);
            const int dim = take_int(&in, 0, 1), mono = take_int(&in, 0, 1);
            const int err = range_error(trim, -60.0, 12.0);
            CHECK(pm_chain_set_monitor(a, trim, dim, mono) == err);
            pm_chain_set_monitor(b, trim, dim, mono);
            double t;
            int d, m;
            pm_chain_get_monitor(a, &t, &d, &m);
            if (err == PM_OK) CHECK(t == trim && d == (dim != 0) && m == (mono != 0));
        } else if (op == 4) {
            const int bits = take_int(&in, 0, 24);
            const int ok = bits == 0 || bits == 16 || bits == 24;
            CHECK(pm_dither_set_bits(pm_chain_dither(a), bits) == (ok ? PM_OK : PM_ERR_RANGE));
            pm_dither_set_bits(pm_chain_dither(b), bits);
            dithered |= ok && bits;
        } else if (op == 5) {
            const int band = take_int(&in, 0, bands - 1), type = take_int(&in, 0, 4);
            const double f = take_double(&in, 10.0, 0.49 * fs), g = take_double(&in, -24.0, 24.0);
            const double q = take_double(&in, 0.1, 10.0);
            for (int k = 0; k < 2; k++)
                pm_eq_set_band(pm_chain_eq(both[k]), band, type, f, g, q, 1);
        } else if (op == 6) {
            pm_compressor_params p;
            pm_compressor_get_params(pm_chain_compressor(a), &p);
            p.threshold_db = take_double(&in, -60.0, 0.0);
            p.ratio = take_double(&in, 1.0, 100.0);
            p.makeup_db = take_double(&in, -24.0, 24.0);
            p.detector = take_int(&in, 0, 1);
            for (int k = 0; k < 2; k++) pm_compressor_set_params(pm_chain_compressor(both[k]), &p);
        } else if (op == 7) {
            const double c = take_double(&in, -20.0, 0.0), r = take_double(&in, 1.0, 2000.0);
            const int autorel = take_int(&in, 0, 1), bypass = take_bool(&in) && take_bool(&in);
            for (int k = 0; k < 2; k++) {
                pm_limiter *lim = pm_chain_limiter(both[k]);
                if (pm_limiter_set_ceiling_dbtp(lim, c) == PM_OK && c > ceiling) ceiling = c;
                pm_limiter_set_release_ms(lim, r);
                pm_limiter_set_auto_release(lim, autorel);
                pm_limiter_set_bypass(lim, bypass);
            }
            limiter_out |= bypass;
        } else if (op == 8) {
            const int on = take_int(&in, 0, 1);
            CHECK(pm_chain_set_metering(a, on) == PM_OK && pm_chain_set_metering(b, on) == PM_OK);
        } else if (op == 9) {
            double cg, lg;
            pm_chain_take_gain_reduction(a, &cg, &lg);
            CHECK(isfinite(cg) && cg >= 0.0 && isfinite(lg) && lg >= 0.0);
            pm_chain_take_gain_reduction(b, NULL, NULL);
            if (take_bool(&in)) {
                pm_chain_reset(a);
                pm_chain_reset(b);
                frames_done = 0;
            }
        } else {
            const int frames = take_frames(&in), count = frames * ch;
            take_audio(&in, x, count);
            CHECK(pm_chain_process(a, x, y, frames) == PM_OK);
            process_in_pieces(&in, run, b, x, z, frames, ch);
            frames_done += (uint64_t)frames;
            CHECK(memcmp(y, z, (size_t)count * sizeof(float)) == 0);
            CHECK(all_finite(y, count));
            const double step = dithered ? 2.0 / 32768.0 : 0.0;
            if (!limiter_out) CHECK(abs_max(y, count) <= pow(10.0, ceiling / 20.0) + step);
            check_snapshot(a, b, frames_done);
            CHECK(pm_chain_process(a, x, y, -1) == PM_ERR_FRAMES);
            CHECK(pm_chain_process(a, NULL, y, 1) == PM_ERR_NULL);
        }
    }
    CHECK(pm_chain_process(NULL, x, y, 1) == PM_ERR_NULL);
    CHECK(pm_chain_set_input_gain_db(NULL, 0.0) == PM_ERR_NULL);
    CHECK(pm_chain_set_output_gain_db(NULL, 0.0) == PM_ERR_NULL);
    CHECK(pm_chain_set_monitor(NULL, 0.0, 0, 0) == PM_ERR_NULL);
    CHECK(pm_chain_set_bypass(NULL, 0, 1) == PM_ERR_NULL && pm_chain_get_bypass(NULL, 0) == 0);
    CHECK(pm_chain_set_metering(NULL, 1) == PM_ERR_NULL);
    CHECK(!pm_chain_eq(NULL) && !pm_chain_compressor(NULL) && !pm_chain_limiter(NULL) &&
          !pm_chain_dither(NULL));
    CHECK(pm_chain_latency(NULL) == 0 && pm_chain_channels(NULL) == 0);
    CHECK(pm_chain_get_input_gain_db(NULL) == 0.0 && pm_chain_get_output_gain_db(NULL) == 0.0);
    pm_chain_get_monitor(NULL, NULL, NULL, NULL);
    pm_chain_get_monitor(a, NULL, NULL, NULL);
    pm_chain_meters(NULL, NULL);
    pm_chain_take_gain_reduction(NULL, NULL, NULL);
    pm_chain_reset(NULL);
    check_strerror();
    pm_chain_destroy(&a);
    pm_chain_destroy(&b);
    CHECK(a == NULL && b == NULL);
    pm_chain_destroy(NULL);
    return 0;
}
