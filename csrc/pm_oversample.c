/* 4x polyphase interpolators (windowed sincs) and the streaming true-peak meter.
 *
 * The meters use the strict kernel: a Kaiser (beta 12) windowed sinc over +-38 samples, the
 * interpolation the test suite's reference makes at 16x and 32x (tests/signals.py). Its
 * transition band is 0.45..0.55 fs, centred on Nyquist: content below 0.45 fs is read exactly
 * (no roll-off, images under -110 dB), the top 0.05 fs through a symmetric half-band edge.
 * The meter's points are points of that reference, so it never reads above it. */
#include <stdlib.h>
#include <string.h>

#include "pm_internal.h"

static const struct {
    int half;            /* the window spans +-half input samples */
    int pairs;           /* taps kept: +-pairs samples (< half: the core of a longer kernel) */
    int hann;            /* 1: Hann window, 0: Kaiser */
    double beta;         /* Kaiser beta */
} designs[PM_OS_KERNELS] = {
    [PM_OS_STRICT] = {PM_OS_DELAY, PM_OS_DELAY, 0, 12.0},
    [PM_OS_STRICT_CORE] = {PM_OS_DELAY, 24, 0, 12.0},
    [PM_OS_SCIPY_K12] = {10, 10, 0, 12.0},
    [PM_OS_SCIPY_K5] = {10, 10, 0, 5.0},
    [PM_OS_HANN49] = {6, 6, 1, 0.0},
};

static double bessel_i0(double x)
{
    double sum = 1.0, term = 1.0, q = x * x / 4.0;
    for (int k = 1; k < 100; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < sum * 1e-16) break;
    }
    return sum;
}

/* The kernel's value at distance t (input samples) from the point. */
static double kernel_at(pm_os_kernel kernel, double t)
{
    const double half = designs[kernel].half, r = t / half;
    if (fabs(r) >= 1.0) return 0.0;
    double w = designs[kernel].hann ? 0.5 * (1.0 + cos(M_PI * r))
                                    : bessel_i0(designs[kernel].beta * sqrt(1.0 - r * r)) /
                                          bessel_i0(designs[kernel].beta);
    return t == 0.0 ? 1.0 : w * sin(M_PI * t) / (M_PI * t);
}

void pm_os_filter_init(pm_os_filter *f, pm_os_kernel kernel)
{
    const int half = designs[kernel].half;
    /* Kaiser kernels get scipy firwin's normalisation (unit DC gain at 16x), so their points
     * are exactly those of resample_poly with the same window; the Hann one is left as is. */
    double scale = 1.0;
    if (!designs[kernel].hann) {
        double sum = kernel_at(kernel, 0.0); /* the kernel is even: each side once */
        for (int m = 1; m <= 16 * half; m++) sum += 2 * kernel_at(kernel, m / 16.0);
        scale = 16.0 / sum;
    }
    memset(f, 0, sizeof *f);
    f->pairs = designs[kernel].pairs;
    double outer[2] = {0.0, 0.0}, mid[2] = {0.0, 0.0}; /* |taps| of the near and far pairs */
    for (int j = 0; j < f->pairs; j++) {
        double near = kernel_at(kernel, j + 0.25) * scale;
        double far = kernel_at(kernel, j + 0.75) * scale;
        double centre = kernel_at(kernel, j + 0.5) * scale;
        f->even[j] = (float)((near + far) / 2);
        f->odd[j] = (float)((near - far) / 2);
        f->mid[j] = (float)centre;
        outer[j >= PM_OS_NEAR] += fabs(near) + fabs(far);
        mid[j >= PM_OS_NEAR] += 2 * fabs(centre);
    }
    const float slack = 1.00001f; /* covers the float rounding of the interpolation */
    f->l1_max = (float)pm_max(outer[0] + outer[1], mid[0] + mid[1]) * slack;
    f->l1_near = (float)pm_max(outer[0], mid[0]) * slack;
    f->l1_far = (float)pm_max(outer[1], mid[1]) * slack;
}

/* All three phases in one pass over x, PM_OS_PAD points at a time (never a scalar tail), so a
 * point's rounding never depends on where a block happened to end: that keeps every caller
 * block-size invariant. Plain loops over small arrays that the compiler keeps in vector
 * registers (AVX2, SSE2 or NEON); the accumulators go out as they are and are combined in a
 * separate pass, which keeps the loop free of per-lane shuffles. */
PM_HOT
void pm_os_interpolate(const pm_os_filter *restrict f, const float *restrict x, int n,
                       float *restrict y1, float *restrict y2, float *restrict y3)
{
    const int pairs = f->pairs, padded = (n + PM_OS_PAD - 1) / PM_OS_PAD * PM_OS_PAD;
    for (int i = 0; i < padded; i += PM_OS_PAD) {
        const float *at = x + i - PM_OS_DELAY; /* pair j: at[-j] before, at[1 + j] after */
        float mid[PM_OS_PAD] = {0}, even[PM_OS_PAD] = {0}, odd[PM_OS_PAD] = {0};
        for (int j = 0; j < pairs; j++) {
            const float cm = f->mid[j], ce = f->even[j], co = f->odd[j];
            const float *a = at - j, *b = at + 1 + j;
            for (int k = 0; k < PM_OS_PAD; k++) {
                float sum = a[k] + b[k], diff = a[k] - b[k];
                mid[k] += cm * sum;
                even[k] += ce * sum;
                odd[k] += co * diff;
            }
        }
        for (int k = 0; k < PM_OS_PAD; k++) {
            y1[i + k] = even[k];
            y2[i + k] = mid[k];
            y3[i + k] = odd[k];
        }
    }
    for (int i = 0; i < padded; i++) {
        float even = y1[i], odd = y3[i];
        y1[i] = even + odd;
        y3[i] = even - odd;
    }
}

/* On the bit patterns, whose order is that of non-negative floats, so the reduction vectorises
 * (a float max reduction would not, without -ffast-math). */
PM_HOT
float pm_abs_max(const float *x, int n, float m)
{
    uint32_t top;
    memcpy(&top, &m, sizeof top);
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        u &= 0x7fffffffu;
        top = u > top ? u : top;
    }
    memcpy(&m, &top, sizeof m);
    return m;
}

float pm_os_peak(const pm_os_filter *f, const float *x, int n, float floor)
{
    float y[3][PM_OS_PAD];
    float m = pm_abs_max(x - PM_OS_DELAY, n, floor); /* phase 0: the samples themselves */
    const int reach = f->pairs - 1, near = PM_OS_NEAR - 1; /* samples read before a point's */
    for (int i = 0; i < n; i += PM_OS_PAD) {
        int len = n - i < PM_OS_PAD ? n - i : PM_OS_PAD;
        const float *first = x + i - PM_OS_DELAY; /* the group's first phase-0 point */
        float all = pm_abs_max(first - reach, len + 2 * reach + 1, 0.0f);
        float close = pm_abs_max(first - near, len + 2 * near + 1, 0.0f);
        if (f->l1_near * close + f->l1_far * all <= m) continue; /* cannot raise the peak */
        pm_os_interpolate(f, x + i, len, y[0], y[1], y[2]);
        for (int p = 0; p < 3; p++) m = pm_abs_max(y[p], len, m);
    }
    return m;
}

/* ---- streaming true-peak meter ---- */
struct pm_truepeak {
    int channels;
    pm_os_filter filter;
    float *hist;      /* per channel: PM_OS_TAPS - 1 history samples + PM_CHUNK new ones */
    double peak[PM_MAX_CHANNELS]; /* running maxima, linear */
};

#define HIST_LEN (PM_OS_TAPS - 1 + PM_CHUNK + PM_OS_PAD)

int pm_truepeak_create(pm_truepeak **out, int channels)
{
    if (!out) return PM_ERR_NULL;
    *out = NULL;
    if (!pm_channels_ok(channels)) return PM_ERR_CHANNELS;
    pm_truepeak *tp = calloc(1, sizeof *tp);
    if (!tp) return PM_ERR_NOMEM;
    tp->hist = calloc((size_t)channels * HIST_LEN, sizeof(float));
    if (!tp->hist) {
        free(tp);
        return PM_ERR_NOMEM;
    }
    tp->channels = channels;
    pm_os_filter_init(&tp->filter, PM_OS_STRICT);
    *out = tp;
    return PM_OK;
}

void pm_truepeak_destroy(pm_truepeak **tp)
{
    if (!tp || !*tp) return;
    free((*tp)->hist);
    free(*tp);
    *tp = NULL;
}

void pm_truepeak_reset(pm_truepeak *tp)
{
    if (!tp) return;
    memset(tp->hist, 0, (size_t)tp->channels * HIST_LEN * sizeof(float));
    memset(tp->peak, 0, sizeof tp->peak);
}

/* Deinterleave one chunk behind each channel's history, measure, keep the new tail. */
static void truepeak_chunk(pm_truepeak *tp, const float *in, int n)
{
    const int ch = tp->channels;
    for (int c = 0; c < ch; c++) {
        float *h = tp->hist + (size_t)c * HIST_LEN;
        float *x = h + PM_OS_TAPS - 1;
        for (int i = 0; i < n; i++) x[i] = pm_sanitize(in[(size_t)i * ch + c]);
        tp->peak[c] = pm_os_peak(&tp->filter, x, n, (float)tp->peak[c]);
        memmove(h, h + n, (PM_OS_TAPS - 1) * sizeof(float));
    }
}

int pm_truepeak_process(pm_truepeak *tp, const float *in, int64_t frames)
{
    if (!tp || (!in && frames)) return PM_ERR_NULL;
    if (frames < 0) return PM_ERR_FRAMES;
    pm_fpmode fp;
    pm_fpmode_enter(&fp);
    for (int64_t done = 0; done < frames; done += PM_CHUNK) {
        int n = frames - done < PM_CHUNK ? (int)(frames - done) : PM_CHUNK;
        truepeak_chunk(tp, in + done * tp->channels, n);
    }
    pm_fpmode_leave(&fp);
    return PM_OK;
}

void pm_truepeak_flush(pm_truepeak *tp)
{
    if (!tp) return;
    float zeros[PM_OS_TAPS * PM_MAX_CHANNELS] = {0};
    pm_truepeak_process(tp, zeros, PM_OS_TAPS);
}

double pm_truepeak_get(const pm_truepeak *tp, int channel)
{
    if (!tp || channel < 0 || channel >= tp->channels) return 0.0;
    return tp->peak[channel];
}
