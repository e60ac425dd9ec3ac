/* The compressor: create with any arguments, parameters of any value, process with any block
 * size and any float bits. Invariants: the documented error codes, a getter that returns what
 * was accepted, finite output no louder than the clamped input with the most makeup, a gain
 * reduction meter that reads >= 0, and the same output however the blocks are split. */
#include "fuzz.h"

static int run(void *comp, const float *in, float *out, int64_t frames)
{
    return pm_compressor_process(comp, in, out, frames);
}

static float x[FUZZ_MAX_SAMPLES], y[FUZZ_MAX_SAMPLES], z[FUZZ_MAX_SAMPLES];

static int params_ok(const pm_compressor_params *p)
{
    return in_range(p->threshold_db, -60.0, 0.0) && in_range(p->ratio, 1.0, 100.0) &&
           in_range(p->knee_db, 0.0, 24.0) && in_range(p->attack_ms, 0.01, 500.0) &&
           in_range(p->release_ms, 1.0, 5000.0) && in_range(p->makeup_db, -24.0, 24.0) &&
           in_range(p->stereo_link, 0.0, 1.0) && in_range(p->mix, 0.0, 1.0) &&
           (p->sidechain_hpf_hz == 0.0 || in_range(p->sidechain_hpf_hz, 10.0, 1000.0)) &&
           (p->detector == PM_DETECT_PEAK || p->detector == PM_DETECT_RMS);
}

static int same_params(const pm_compressor_params *a, const pm_compressor_params *b)
{
    return a->threshold_db == b->threshold_db && a->ratio == b->ratio &&
           a->knee_db == b->knee_db && a->attack_ms == b->attack_ms &&
           a->release_ms == b->release_ms && a->makeup_db == b->makeup_db &&
           a->stereo_link == b->stereo_link && a->mix == b->mix &&
           a->sidechain_hpf_hz == b->sidechain_hpf_hz && a->detector == b->detector;
}

/* Mostly one parameter moved from the current settings, so valid sets are common. */
static void take_params(fuzz_input *in, pm_compressor_params *p)
{
    switch (take_u8(in) % 11) {
    case 0: p->threshold_db = take_double(in, -60.0, 0.0); break;
    case 1: p->ratio = take_double(in, 1.0, 100.0); break;
    case 2: p->knee_db = take_double(in, 0.0, 24.0); break;
    case 3: p->attack_ms = take_double(in, 0.01, 500.0); break;
    case 4: p->release_ms = take_double(in, 1.0, 5000.0); break;
    case 5: p->makeup_db = take_double(in, -24.0, 24.0); break;
    case 6: p->stereo_link = take_double(in, 0.0, 1.0); break;
    case 7: p->mix = take_double(in, 0.0, 1.0); break;
    case 8: p->sidechain_hpf_hz = take_bool(in) ? 0.0 : take_double(in, 10.0, 1000.0); break;
    case 9: p->detector = take_int(in, 0, 1); break;
    default: /* everything at once */
        p->threshold_db = take_double(in, -60.0, 0.0);
        p->ratio = take_double(in, 1.0, 100.0);
        p->knee_db = take_double(in, 0.0, 24.0);
        p->attack_ms = take_double(in, 0.01, 500.0);
        p->release_ms = take_double(in, 1.0, 5000.0);
        p->makeup_db = take_double(in, -24.0, 24.0);
        p->stereo_link = take_double(in, 0.0, 1.0);
        p->mix = take_double(in, 0.0, 1.0);
        p->sidechain_hpf_hz = take_double(in, 0.0, 1000.0);
        p->detector = take_int(in, 0, 1);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    const double fs = take_double(&in, 8000.0, 192000.0);
    const int ch = take_channels(&in, 4);
    pm_compressor *a = NULL, *b = NULL;
    const int expect = rate_error(fs) ? rate_error(fs) : channels_error(ch); /* first failed */
    CHECK(pm_compressor_create(NULL, fs, ch) == PM_ERR_NULL);
    CHECK(pm_compressor_create(&a, fs, ch) == expect);
    if (expect != PM_OK) {
        CHECK(a == NULL);
        return 0;
    }
    CHECK(pm_compressor_create(&b, fs, ch) == PM_OK);
    pm_compressor_params p;
    pm_compressor_get_params(a, &p);
    CHECK(params_ok(&p)); /* the defaults are valid */
    while (in.n) {
        switch (take_u8(&in) % 6) {
        case 0:
        case 1: {
            pm_compressor_params wanted = p, got;
            take_params(&in, &wanted);
            const int ok = params_ok(&wanted);
            CHECK(pm_compressor_set_params(a, &wanted) == (ok ? PM_OK : PM_ERR_RANGE));
            pm_compressor_set_params(b, &wanted);
            if (ok) p = wanted;
            pm_compressor_get_params(a, &got);
            CHECK(same_params(&got, &p));
            break;
        }
        case 2:
            pm_compressor_reset(a);
            pm_compressor_reset(b);
            break;
        case 3:
            CHECK(pm_compressor_set_params(a, NULL) == PM_ERR_NULL);
            CHECK(pm_compressor_process(a, x, y, -1 - take_u8(&in)) == PM_ERR_FRAMES);
            CHECK(pm_compressor_process(a, x, NULL, 1 + take_u8(&in)) == PM_ERR_NULL);
            break;
        default: {
            const int frames = take_frames(&in), count = frames * ch;
            take_audio(&in, x, count);
            CHECK(pm_compressor_process(a, x, y, frames) == PM_OK);
            process_in_pieces(&in, run, b, x, z, frames, ch);
            CHECK(memcmp(y, z, (size_t)count * sizeof(float)) == 0);
            CHECK(all_finite(y, count));
            CHECK(abs_max(y, count) <= 1e4f * 15.85f); /* clamp at +80 dBFS, +24 dB makeup */
            const double gr = pm_compressor_gain_reduction_db(a);
            const double top = pm_compressor_take_max_gain_reduction_db(a);
            CHECK(isfinite(gr) && gr >= 0.0 && isfinite(top) && top >= 0.0);
            pm_compressor_take_max_gain_reduction_db(b);
            break;
        }
        }
    }
    CHECK(pm_compressor_set_params(NULL, &p) == PM_ERR_NULL);
    CHECK(pm_compressor_process(NULL, x, y, 1) == PM_ERR_NULL);
    CHECK(pm_compressor_gain_reduction_db(NULL) == 0.0);
    CHECK(pm_compressor_take_max_gain_reduction_db(NULL) == 0.0);
    pm_compressor_get_params(NULL, &p);
    pm_compressor_get_params(a, NULL);
    pm_compressor_reset(NULL);
    pm_compressor_destroy(&a);
    pm_compressor_destroy(&b);
    CHECK(a == NULL && b == NULL);
    pm_compressor_destroy(NULL);
    return 0;
}
