/* Shared by the libFuzzer harnesses: the fuzzer's bytes read as a little script.
 *
 * Every take_* reads a few bytes and returns 0 once the input is used up, so any byte string
 * is a valid script. Values come in three flavours chosen by a byte: a plausible value in the
 * parameter's range (so valid calls happen often), an edge or absurd value from a table, or raw
 * bits (any double, any int). The CHECK macro aborts, which libFuzzer reports as a crash with
 * the input that caused it. */
#ifndef PM_FUZZ_H
#define PM_FUZZ_H

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pymaster.h"

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* Largest block a harness processes: its buffers are this many frames of 16 channels. */
#define FUZZ_MAX_FRAMES 4096
#define FUZZ_MAX_SAMPLES (FUZZ_MAX_FRAMES * PM_MAX_CHANNELS)

typedef struct {
    const uint8_t *p;
    size_t n;
} fuzz_input;

static inline uint8_t take_u8(fuzz_input *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static inline uint64_t take_bits(fuzz_input *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)take_u8(in) << (8 * i);
    return v;
}

static inline int take_bool(fuzz_input *in) { return take_u8(in) & 1; }

/* Uniform-ish in [lo, hi] (inclusive); lo if the range is empty. */
static inline int take_range(fuzz_input *in, int lo, int hi)
{
    if (hi < lo) return lo;
    uint64_t span = (uint64_t)((int64_t)hi - lo) + 1;
    return (int)(lo + (int64_t)(take_bits(in, 4) % span));
}

static const double edge_doubles[] = {
    0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 10.0, 100.0, 1000.0, 8000.0, 384000.0, 384000.5, 7999.9,
    48000.0, 0.01, 0.009, 20.0, 20.0001, 24.0, -24.0, -60.0, -20.0, 1e300, -1e300, DBL_MAX,
    -DBL_MAX, DBL_MIN, 4.9e-324, -4.9e-324, INFINITY, -INFINITY, NAN, -NAN, 1e-300,
};

/* Any double: plausible in [lo, hi], an edge value, or a raw bit pattern (NaN payloads,
 * infinities, denormals included). */
static inline double take_double(fuzz_input *in, double lo, double hi)
{
    uint8_t mode = take_u8(in) % 8;
    if (mode < 5) return lo + (hi - lo) * (double)take_bits(in, 2) / 65535.0;
    if (mode < 7) return edge_doubles[take_u8(in) % (sizeof edge_doubles / sizeof *edge_doubles)];
    uint64_t bits = take_bits(in, 8);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Any int: plausible in [lo, hi], just outside it, an extreme, or raw bits. */
static inline int take_int(fuzz_input *in, int lo, int hi)
{
    switch (take_u8(in) % 8) {
    case 5: return take_bool(in) ? lo - 1 : hi + 1;
    case 6: return take_bool(in) ? INT_MIN : INT_MAX;
    case 7: return (int)(uint32_t)take_bits(in, 4);
    default: return take_range(in, lo, hi);
    }
}

/* A channel count: take_int(in, 1, hi), except that its "just above" case reaches every count
 * up to PM_MAX_CHANNELS + 1 (the fixed per-channel arrays' edge) for the same bytes. */
static inline int take_channels(fuzz_input *in, int hi)
{
    const uint8_t mode = take_u8(in) % 8;
    if (mode == 5) {
        const uint8_t b = take_u8(in);
        return b & 1 ? 0 : hi + 1 + (b >> 1) % (PM_MAX_CHANNELS - hi + 1);
    }
    if (mode == 6) return take_bool(in) ? INT_MIN : INT_MAX;
    if (mode == 7) return (int)(uint32_t)take_bits(in, 4);
    return take_range(in, 1, hi);
}

/* Every error code, and ints that are none, must have a message. */
static inline void check_strerror(void)
{
    static const int codes[] = {PM_OK, PM_ERR_NOMEM, PM_ERR_NULL, PM_ERR_SAMPLE_RATE,
                                PM_ERR_CHANNELS, PM_ERR_RANGE, PM_ERR_INDEX, PM_ERR_FRAMES,
                                1, -8, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        const char *msg = pm_strerror(codes[i]);
        if (!msg || !*msg) abort();
    }
}

/* A block size: mostly small or around the 256-frame chunk, sometimes up to the maximum. */
static inline int take_frames(fuzz_input *in)
{
    switch (take_u8(in) % 4) {
    case 0: return take_range(in, 0, 16);
    case 1: return take_range(in, 250, 262);
    case 2: return take_range(in, 0, 1024);
    default: return take_range(in, 0, FUZZ_MAX_FRAMES);
    }
}

static inline uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static const float special_floats[] = {
    NAN, -NAN, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, FLT_MIN, 1e-40f, -1e-45f, 0.0f, -0.0f,
    1.0f, -1.0f, 1e4f, -1e4f, 1e5f, 3e38f,
};

/* Fills count samples: silence, noise at a level from denormal to absurd, raw float bits from
 * the input, noise sprinkled with NaN/Inf/denormals, a full-scale Nyquist-ish square (inter-
 * sample peaks), or random bit patterns of every kind. */
static inline void take_audio(fuzz_input *in, float *x, int count)
{
    static const float levels[] = {1e-38f, 1e-6f, 0.1f, 1.0f, 4.0f, 1000.0f, 1e6f};
    const size_t specials = sizeof special_floats / sizeof *special_floats;
    const uint8_t mode = take_u8(in) % 6;
    const float level = levels[take_u8(in) % (sizeof levels / sizeof *levels)];
    uint64_t s = take_bits(in, 4) | 1;
    for (int i = 0; i < count; i++) {
        const uint64_t r = xorshift(&s);
        const float noise = level * (float)((double)(r >> 11) * 0x1.0p-52 - 1.0);
        switch (mode) {
        case 0: x[i] = 0.0f; break;
        case 1: x[i] = noise; break;
        case 2: x[i] = in->n >= 4 ? bits_float((uint32_t)take_bits(in, 4)) : noise; break;
        case 3: x[i] = r % 61 ? noise : special_floats[(r >> 8) % specials]; break;
        case 4: x[i] = ((i / 3) & 1) ? level : -level; break;
        default: x[i] = bits_float((uint32_t)(r >> 32)); break;
        }
    }
}

static inline int all_finite(const float *x, int count)
{
    for (int i = 0; i < count; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

static inline float abs_max(const float *x, int count)
{
    float m = 0.0f;
    for (int i = 0; i < count; i++) m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    return m;
}

/* What the core makes of an input sample: NaN/Inf as 0, magnitudes clamped to 1e4. */
static inline float sanitized(float v)
{
    if (!isfinite(v)) return 0.0f;
    return v > 1e4f ? 1e4f : v < -1e4f ? -1e4f : v;
}

/* What every create must answer for the rate and channel count. */
static inline int rate_error(double fs)
{
    return fs >= 8000.0 && fs <= 384000.0 ? PM_OK : PM_ERR_SAMPLE_RATE;
}
static inline int channels_error(int ch)
{
    return ch >= 1 && ch <= PM_MAX_CHANNELS ? PM_OK : PM_ERR_CHANNELS;
}
static inline int in_range(double v, double lo, double hi) { return v >= lo && v <= hi; }
/* What a setter must answer for a value with an allowed range. */
static inline int range_error(double v, double lo, double hi)
{
    return in_range(v, lo, hi) ? PM_OK : PM_ERR_RANGE;
}

/* The common shape of process calls, so one helper can split a block for any processor. */
typedef int (*process_fn)(void *obj, const float *in, float *out, int64_t frames);

/* Processes `frames` frames in pieces whose sizes follow a pattern read from the input, with
 * empty calls (NULL buffers, 0 frames) between them: the result must not depend on the split. */
static inline void process_in_pieces(fuzz_input *in, process_fn process, void *obj,
                                     const float *x, float *y, int frames, int channels)
{
    static const int sizes[] = {1, 2, 7, 31, 64, 255, 256, 257, 1000, 4096};
    const uint8_t pattern = take_u8(in);
    for (int done = 0, k = 0; done < frames; k++) {
        int n = sizes[(pattern + k * (pattern >> 4 | 1)) % (sizeof sizes / sizeof *sizes)];
        n = n < frames - done ? n : frames - done;
        float *out = y ? y + (size_t)done * channels : NULL; /* meters have no output */
        CHECK(process(obj, x + (size_t)done * channels, out, n) == PM_OK);
        CHECK(process(obj, NULL, NULL, 0) == PM_OK);
        done += n;
    }
}

/* A meter reading: a finite number, or -inf while there is too little signal; never NaN or
 * +inf. */
static inline int reading_ok(double v) { return isfinite(v) || v == -HUGE_VAL; }

#endif
