/* The limiter: create with any arguments, setters with any value, process with any block
 * size and any float bits. Invariants: the documented error codes; finite output; no sample
 * over the highest ceiling ever set (unless bypassed); the same output however the blocks are
 * split (a twin limiter gets the same audio in pieces). */
#include "fuzz.h"

static int run(void *lim, const float *in, float *out, int64_t frames)
{
    return pm_limiter_process(lim, in, out, frames);
}

static float x[FUZZ_MAX_SAMPLES], y[FUZZ_MAX_SAMPLES], z[FUZZ_MAX_SAMPLES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    const double fs = take_double(&in, 8000.0, 192000.0);
    const int ch = take_channels(&in, 4);
    const double lookahead = take_double(&in, 2.0, 20.0);
    pm_limiter *a = NULL, *b = NULL;
    int expect = rate_error(fs); /* the first failed check answers */
    if (!expect) expect = channels_error(ch);
    if (!expect) expect = range_error(lookahead, 2.0, 20.0);
    CHECK(pm_limiter_create(NULL, fs, ch, lookahead) == PM_ERR_NULL);
    CHECK(pm_limiter_create(&a, fs, ch, lookahead) == expect);
    if (expect != PM_OK) {
        CHECK(a == NULL);
        return 0;
    }
    CHECK(pm_limiter_create(&b, fs, ch, lookahead) == PM_OK);
    /* the latency is the lookahead in samples, but never under the detector's floor (a few
     * dozen samples: it matters at low rates); the getter reports what it is */
    const long asked = lrint(lookahead * 0.001 * fs);
    const int latency = pm_limiter_latency(a);
    CHECK(latency >= 1 && (latency == asked || (latency > asked && latency <= 64)));
    CHECK(fabs(pm_limiter_get_lookahead_ms(a) - 1000.0 * latency / fs) < 1e-9);

    double highest_ceiling = pm_limiter_get_ceiling_dbtp(a);
    int bypassed = 0;
    while (in.n) {
        switch (take_u8(&in) % 9) {
        case 0: {
            double v = take_double(&in, -20.0, 0.0);
            int ok = in_range(v, -20.0, 0.0);
            CHECK(pm_limiter_set_ceiling_dbtp(a, v) == (ok ? PM_OK : PM_ERR_RANGE));
            pm_limiter_set_ceiling_dbtp(b, v);
            if (ok) {
                CHECK(pm_limiter_get_ceiling_dbtp(a) == v);
                highest_ceiling = v > highest_ceiling ? v : highest_ceiling;
            }
            break;
        }
        case 1: {
            double v = take_double(&in, 1.0, 2000.0);
            int ok = in_range(v, 1.0, 2000.0);
            CHECK(pm_limiter_set_release_ms(a, v) == (ok ? PM_OK : PM_ERR_RANGE));
            pm_limiter_set_release_ms(b, v);
            if (ok) CHECK(pm_limiter_get_release_ms(a) == v);
            break;
        }
        case 2: {
            int v = take_int(&in, 0, 1);
            CHECK(pm_limiter_set_auto_release(a, v) == PM_OK);
            pm_limiter_set_auto_release(b, v);
            CHECK(pm_limiter_get_auto_release(a) == (v != 0));
            break;
        }
        case 3: {
            int v = take_int(&in, 0, 1);
            CHECK(pm_limiter_set_bypass(a, v) == PM_OK);
            pm_limiter_set_bypass(b, v);
            CHECK(pm_limiter_get_bypass(a) == (v != 0));
            bypassed |= v != 0;
            break;
        }
        case 4:
            pm_limiter_reset(a);
            pm_limiter_reset(b);
            break;
        case 5:
            CHECK(pm_limiter_process(a, x, y, -1 - take_u8(&in)) == PM_ERR_FRAMES);
            CHECK(pm_limiter_process(a, NULL, y, 1 + take_u8(&in)) == PM_ERR_NULL);
            CHECK(pm_limiter_process(a, x, NULL, 1) == PM_ERR_NULL);
            break;
        default: {
            const int frames = take_frames(&in), count = frames * ch;
            take_audio(&in, x, count);
            CHECK(pm_limiter_process(a, x, y, frames) == PM_OK);
            process_in_pieces(&in, run, b, x, z, frames, ch);
            CHECK(memcmp(y, z, (size_t)count * sizeof(float)) == 0);
            CHECK(all_finite(y, count));
            if (!bypassed) CHECK(abs_max(y, count) <= pow(10.0, highest_ceiling / 20.0));
            const double gr = pm_limiter_gain_reduction_db(a);
            const double top = pm_limiter_take_max_gain_reduction_db(a);
            CHECK(isfinite(gr) && gr >= 0.0 && isfinite(top) && top >= 0.0);
            if (frames) CHECK(top >= gr); /* the maximum since the last take includes now */
            pm_limiter_take_max_gain_reduction_db(b);
            break;
        }
        }
    }
    CHECK(pm_limiter_process(NULL, x, y, 1) == PM_ERR_NULL);
    CHECK(pm_limiter_set_ceiling_dbtp(NULL, -1.0) == PM_ERR_NULL);
    CHECK(pm_limiter_set_release_ms(NULL, 100.0) == PM_ERR_NULL);
    CHECK(pm_limiter_set_auto_release(NULL, 1) == PM_ERR_NULL);
    CHECK(pm_limiter_set_bypass(NULL, 1) == PM_ERR_NULL);
    CHECK(pm_limiter_latency(NULL) == 0);
    CHECK(pm_limiter_get_ceiling_dbtp(NULL) == 0.0 && pm_limiter_get_release_ms(NULL) == 0.0);
    CHECK(pm_limiter_get_auto_release(NULL) == 0 && pm_limiter_get_bypass(NULL) == 0);
    CHECK(pm_limiter_get_lookahead_ms(NULL) == 0.0);
    CHECK(pm_limiter_gain_reduction_db(NULL) == 0.0);
    CHECK(pm_limiter_take_max_gain_reduction_db(NULL) == 0.0);
    pm_limiter_reset(NULL);
    pm_limiter_destroy(&a);
    pm_limiter_destroy(&b);
    CHECK(a == NULL && b == NULL);
    pm_limiter_destroy(&a);
    pm_limiter_destroy(NULL);
    return 0;
}
