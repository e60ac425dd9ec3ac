/* TPDF dither and quantisation to a 16- or 24-bit grid (values stay float, exactly on the grid,
 * so a later integer write is lossless). The noise comes from a seeded xorshift generator, so a
 * render is reproducible. */
#include <stdlib.h>

#include "pm_internal.h"

struct pm_dither {
    int channels;
    pm_atomic_int bits;  /* 0 = pass through */
    uint64_t seed, rng;  /* rng: xorshift64* state */
};

int pm_dither_create(pm_dither **out, int channels, int bits, uint64_t seed)
{
    if (!out) return PM_ERR_NULL;
    *out = NULL;
    if (!pm_channels_ok(channels)) return PM_ERR_CHANNELS;
    if (bits != 0 && bits != 16 && bits != 24) return PM_ERR_RANGE;
    pm_dither *d = calloc(1, sizeof *d);
    if (!d) return PM_ERR_NOMEM;
    d->channels = channels;
    d->seed = seed;
    pm_store(&d->bits, bits);
    pm_dither_reset(d);
    *out = d;
    return PM_OK;
}

void pm_dither_destroy(pm_dither **d)
{
    if (!d || !*d) return;
    free(*d);
    *d = NULL;
}

void pm_dither_reset(pm_dither *d)
{
    if (!d) return;
    d->rng = d->seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull; /* never zero in practice */
    if (!d->rng) d->rng = 1;
}

int pm_dither_set_bits(pm_dither *d, int bits)
{
    if (!d) return PM_ERR_NULL;
    if (bits != 0 && bits != 16 && bits != 24) return PM_ERR_RANGE;
    pm_store(&d->bits, bits);
    return PM_OK;
}

int pm_dither_get_bits(const pm_dither *d) { return d ? pm_load(&d->bits) : 0; }

static inline uint64_t next_random(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

int pm_dither_process(pm_dither *d, const float *in, float *out, int64_t frames)
{
    if (!d || ((!in || !out) && frames)) return PM_ERR_NULL;
    if (frames < 0) return PM_ERR_FRAMES;
    const int bits = pm_load(&d->bits);
    const int64_t total = frames * d->channels;
    if (!bits) {
        for (int64_t i = 0; i < total; i++) out[i] = pm_sanitize(in[i]);
        return PM_OK;
    }
    const double scale = (double)(1 << (bits - 1));       /* steps per unit */
    const double lo = -1.0, hi = (scale - 1.0) / scale;   /* the integer format's range */
    const double unit = 1.0 / 4294967296.0;               /* 2^-32: 32-bit draw to [0, 1) */
    uint64_t rng = d->rng;
    for (int64_t i = 0; i < total; i++) {
        uint64_t r = next_random(&rng);
        /* TPDF: sum of two independent uniform draws, +-1 LSB peak */
        double tpdf = (double)(r >> 32) * unit - (double)(r & 0xffffffffu) * unit;
        double v = nearbyint((double)pm_sanitize(in[i]) * scale + tpdf) / scale;
        out[i] = (float)(v < lo ? lo : (v > hi ? hi : v));
    }
    d->rng = rng;
    return PM_OK;
}
