/* Dither: create with any arguments, any bit depth set, any audio. Invariants: the documented
 * error codes; at 16/24 bits every output sample is on the integer grid and within the integer
 * format's range; off, the output is the sanitised input; the same output however the blocks
 * are split (the noise sequence runs per sample, not per call). */
#include "fuzz.h"

static int run(void *d, const float *in, float *out, int64_t frames)
{
    return pm_dither_process(d, in, out, frames);
}

static float x[FUZZ_MAX_SAMPLES], y[FUZZ_MAX_SAMPLES], z[FUZZ_MAX_SAMPLES];

static int bits_ok(int bits) { return bits == 0 || bits == 16 || bits == 24; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    const int ch = take_channels(&in, 4), bits = take_int(&in, 0, 24);
    const uint64_t seed = take_bits(&in, 8);
    pm_dither *a = NULL, *b = NULL;
    int expect = channels_error(ch); /* the first failed check answers */
    if (!expect) expect = bits_ok(bits) ? PM_OK : PM_ERR_RANGE;
    CHECK(pm_dither_create(NULL, ch, bits, seed) == PM_ERR_NULL);
    CHECK(pm_dither_create(&a, ch, bits, seed) == expect);
    if (expect != PM_OK) {
        CHECK(a == NULL);
        return 0;
    }
    CHECK(pm_dither_create(&b, ch, bits, seed) == PM_OK);
    while (in.n) {
        switch (take_u8(&in) % 5) {
        case 0: {
            const int v = take_int(&in, 0, 24);
            CHECK(pm_dither_set_bits(a, v) == (bits_ok(v) ? PM_OK : PM_ERR_RANGE));
            pm_dither_set_bits(b, v);
            break;
        }
        case 1:
            pm_dither_reset(a);
            pm_dither_reset(b);
            CHECK(pm_dither_process(a, x, y, -1) == PM_ERR_FRAMES);
            CHECK(pm_dither_process(a, NULL, y, 1) == PM_ERR_NULL);
            break;
        default: {
            const int frames = take_frames(&in), count = frames * ch;
            const int now = pm_dither_get_bits(a);
            take_audio(&in, x, count);
            CHECK(pm_dither_process(a, x, y, frames) == PM_OK);
            process_in_pieces(&in, run, b, x, z, frames, ch);
            CHECK(memcmp(y, z, (size_t)count * sizeof(float)) == 0);
            CHECK(all_finite(y, count));
            if (now) {
                const double scale = (double)(1 << (now - 1));
                for (int i = 0; i < count; i++) {
                    const double steps = y[i] * scale;
                    CHECK(steps == floor(steps) && steps >= -scale && steps <= scale - 1.0);
                }
            } else {
                for (int i = 0; i < count; i++) CHECK(y[i] == sanitized(x[i]));
            }
            break;
        }
        }
    }
    CHECK(pm_dither_set_bits(NULL, 16) == PM_ERR_NULL && pm_dither_get_bits(NULL) == 0);
    CHECK(pm_dither_process(NULL, x, y, 1) == PM_ERR_NULL);
    pm_dither_reset(NULL);
    pm_dither_destroy(&a);
    pm_dither_destroy(&b);
    CHECK(a == NULL && b == NULL);
    pm_dither_destroy(NULL);
    return 0;
}
