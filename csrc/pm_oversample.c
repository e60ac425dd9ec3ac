/* 4x polyphase interpolator (Kaiser-windowed sinc) and the streaming true-peak meter.
 *
 * Wider and flatter than the 48-tap filter of BS.1770-4 Annex 2: 24 taps per phase pass the band
 * up to about 0.43 fs within 0.05 dB, so high-frequency peaks are not under-read. */
#include <stdlib.h>
#include <string.h>

#include "pm_internal.h"

#define KAISER_BETA 6.0

static double bessel_i0(double x)
{
    double sum = 1.0, term = 1.0, q = x * x / 4.0;
    for (int k = 1; k < 50; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return sum;
}

void pm_os_filter_init(pm_os_filter *f)
{
    const double half_width = PM_OS_DELAY + 0.5;
    f->l1_max = 0.0f;
    for (int p = 1; p <= 3; p++) {
        double l1 = 0.0;
        for (int j = 0; j < PM_OS_TAPS; j++) {
            double t = j - PM_OS_DELAY + p / 4.0; /* distance from the tap to the point */
            double r = t / half_width;
            double w = bessel_i0(KAISER_BETA * sqrt(fmax(0.0, 1.0 - r * r))) / bessel_i0(KAISER_BETA);
            double s = sin(M_PI * t) / (M_PI * t);
            f->phase[p - 1][j] = (float)(s * w);
            l1 += fabs(s * w);
        }
        if (l1 > f->l1_max) f->l1_max = (float)l1;
    }
}

/* GCC/Clang generic vectors: AVX2 in the x86-64-v3 clone, SSE2 or NEON elsewhere. */
typedef float v8f __attribute__((vector_size(32)));


/* All three phases in one pass over x: each loaded window feeds three accumulators. Always 8
 * outputs at a time (never a scalar tail), so a point's rounding never depends on where a
 * block happened to end: that keeps every caller block-size invariant. */
PM_HOT
void pm_os_interpolate(const pm_os_filter *f, const float *x, int n, float *y1, float *y2,
                       float *y3)
{
    const float *h1 = f->phase[0], *h2 = f->phase[1], *h3 = f->phase[2];
    for (int i = 0; i < n; i += 8) {
        v8f a1 = {0}, a2 = {0}, a3 = {0};
        for (int j = 0; j < PM_OS_TAPS; j++) {
            v8f xv;
            memcpy(&xv, x + i - j, sizeof xv); /* unaligned load */
            a1 += h1[j] * xv;
            a2 += h2[j] * xv;
            a3 += h3[j] * xv;
        }
        memcpy(y1 + i, &a1, sizeof a1);
        memcpy(y2 + i, &a2, sizeof a2);
        memcpy(y3 + i, &a3, sizeof a3);
    }
}

PM_HOT
static float abs_max(const float *y, int n, float m)
{
    for (int i = 0; i < n; i++) {
        float a = fabsf(y[i]);
        m = a > m ? a : m;
    }
    return m;
}

float pm_os_peak(const pm_os_filter *f, const float *x, int n)
{
    float y[3][PM_CHUNK + PM_OS_PAD];
    float m = abs_max(x - PM_OS_DELAY, n, 0.0f); /* phase 0: the samples themselves */
    for (int done = 0; done < n; done += PM_CHUNK) {
        int len = n - done < PM_CHUNK ? n - done : PM_CHUNK;
        pm_os_interpolate(f, x + done, len, y[0], y[1], y[2]);
        for (int p = 0; p < 3; p++) m = abs_max(y[p], len, m);
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
    pm_os_filter_init(&tp->filter);
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
        double m = pm_os_peak(&tp->filter, x, n);
        if (m > tp->peak[c]) tp->peak[c] = m;
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
