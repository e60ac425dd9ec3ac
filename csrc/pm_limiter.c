/* Lookahead true-peak limiter.
 *
 * Why the ceiling holds: every input sample s gets a required gain r[s] = ceiling / peak, where
 * peak is the 4x-interpolated level around s, refined between the 4x points by a local sinusoid
 * fit (the 4x grid alone under-reads near Nyquist by up to 0.7 dB).
 * Interpolators agree below about 0.4 fs but read the band edge differently: full-band noise
 * limited against one reads up to 0.3 dB over on another. So the peak is the largest reading of
 * several kernels: the strict reference of the test suite (its central +-24 samples) and the
 * short designs common meters use (scipy's two resample_poly windows, a BS.1770-style 49-tap
 * filter). A meter whose interpolation is a weighted mean of these is bounded as well.
 * The gain curve is built so it can never exceed r anywhere near s:
 *   1. sliding minimum of r over HOLD = A + B - 1 + 2W samples,
 *   2. release smoothing that only ever lowers that minimum,
 *   3. two moving averages of lengths A and B (a smooth S-shaped attack).
 * Each average only mixes values that are all <= r[s'] for every s' within W samples of the
 * output sample, so the gain applied there is <= r[s'] too. The interpolators reach further
 * than W, but the gain changes little over their reach; MARGIN_DB covers that, the fit's
 * error and the tail of the strict kernel beyond its core.
 * Latency = interpolator delay D + W + A + B - 2 = the lookahead.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "pm_internal.h"

#define GUARD 4            /* W: samples either side of a peak held at its gain */
#define MARGIN_DB 0.08     /* aim this far under the ceiling: covers interpolator and fit error */
#define GLIDE_MS 20.0
#define BYPASS_MS 10.0
/* history + chunk + interpolator pad; one more history sample than the interpolator needs, for
 * the points of the interval before the chunk (the fit's left neighbour) */
#define HIST_LEN ((PM_OS_TAPS + PM_CHUNK + 2 * PM_OS_PAD - 1) / PM_OS_PAD * PM_OS_PAD)
#define POINTS_LEN (PM_CHUNK + PM_OS_PAD) /* one phase's points: chunk + 1, rounded up */

/* The detector's kernels: the strict reference (its core) and short designs of common meters. */
static const pm_os_kernel detector_kernels[] = {PM_OS_STRICT_CORE, PM_OS_SCIPY_K12,
                                                PM_OS_SCIPY_K5, PM_OS_HANN49};
#define DETECTOR_KERNELS ((int)(sizeof detector_kernels / sizeof detector_kernels[0]))

struct pm_limiter {
    double fs;
    int channels;
    int latency;           /* total delay in samples (the lookahead) */
    int box_a, box_b;      /* attack moving-average lengths */
    int hold;              /* sliding-minimum window */
    pm_os_filter os[DETECTOR_KERNELS];
    float l1_max;          /* worst-case gain of any kernel */

    /* parameters written by any thread */
    pm_atomic_double ceiling_db_target;
    pm_atomic_double release_ms_target;
    pm_atomic_int auto_release;
    pm_atomic_int bypass;
    pm_atomic_double gr_db_now, gr_db_max;

    /* audio-thread state */
    int started;           /* 0 until audio flowed since create/reset: parameters jump */
    double ceiling_lin;    /* gliding ceiling (with margin) */
    double bypass_mix;     /* 0 = limiting, 1 = unity gain */
    double depth_fast;     /* release smoother, as depth 1 - gain (0 = unity) */
    double depth_slow;     /* auto-release: slow follower of the held depth */
    int64_t n;             /* detector time: samples seen */
    float *hist;           /* per channel, HIST_LEN: PM_OS_TAPS history + new samples */
    float *points;         /* phases 1..3 of one chunk (+ the interval before) for one channel */
    float *peak;           /* per chunk: refined peak over channels */
    /* sliding minimum over `hold` samples (van Herk/Gil-Werman): time is cut into blocks of
     * `hold` samples; the window = a prefix of this block + a suffix of the previous one */
    double *block_vals;    /* this block's required gains */
    double *suffix;        /* hold + 1 suffix minima of the previous block; suffix[hold] = 1 */
    double prefix;         /* running minimum of this block so far */
    int hold_pos;          /* position in the block (n mod hold) */
    /* moving averages: rings of the last A and B values and their running sums */
    double *ring_a, *ring_b, sum_a, sum_b;
    int pos_a, pos_b;
    int64_t ones;          /* consecutive samples that entered the averages at exactly 1.0 */
    /* audio delay line, interleaved, mask + 1 frames */
    float *delay;
    int delay_mask, delay_pos;
};

static int pow2_at_least(int n)
{
    int p = 1;
    while (p < n) p <<= 1;
    return p;
}

static void fill(double *a, int n, double v)
{
    for (int i = 0; i < n; i++) a[i] = v;
}

static void limiter_free(pm_limiter *l)
{
    free(l->hist);
    free(l->points);
    free(l->peak);
    free(l->block_vals);
    free(l->suffix);
    free(l->ring_a);
    free(l->ring_b);
    free(l->delay);
    free(l);
}

int pm_limiter_create(pm_limiter **out, double sample_rate, int channels, double lookahead_ms)
{
    if (!out) return PM_ERR_NULL;
    *out = NULL;
    if (!pm_rate_ok(sample_rate)) return PM_ERR_SAMPLE_RATE;
    if (!pm_channels_ok(channels)) return PM_ERR_CHANNELS;
    if (!pm_in_range(lookahead_ms, 2.0, 20.0)) return PM_ERR_RANGE;

    pm_limiter *l = calloc(1, sizeof *l);
    if (!l) return PM_ERR_NOMEM;
    l->fs = sample_rate;
    l->channels = channels;
    int min_latency = PM_OS_DELAY + GUARD + 2;
    int latency = (int)lrint(lookahead_ms * 0.001 * sample_rate);
    l->latency = latency < min_latency ? min_latency : latency;
    int boxes = l->latency - PM_OS_DELAY - GUARD + 2; /* A + B */
    l->box_a = boxes / 2;
    l->box_b = boxes - l->box_a;
    l->hold = boxes - 1 + 2 * GUARD;
    /* room for a whole chunk beyond the latency: a chunk is written before it is read */
    l->delay_mask = pow2_at_least(l->latency + PM_CHUNK) - 1;
    for (int k = 0; k < DETECTOR_KERNELS; k++) {
        pm_os_filter_init(&l->os[k], detector_kernels[k]);
        l->l1_max = l->l1_max > l->os[k].l1_max ? l->l1_max : l->os[k].l1_max;
    }

    l->hist = calloc((size_t)channels * HIST_LEN, sizeof(float));
    l->points = calloc(3 * POINTS_LEN, sizeof(float));
    l->peak = calloc(PM_CHUNK, sizeof(float));
    l->block_vals = calloc((size_t)l->hold, sizeof(double));
    l->suffix = calloc((size_t)l->hold + 1, sizeof(double));
    l->ring_a = calloc((size_t)l->box_a, sizeof(double));
    l->ring_b = calloc((size_t)l->box_b, sizeof(double));
    l->delay = calloc((size_t)(l->delay_mask + 1) * channels, sizeof(float));
    if (!l->hist || !l->points || !l->peak || !l->block_vals || !l->suffix || !l->ring_a ||
        !l->ring_b || !l->delay) {
        limiter_free(l);
        return PM_ERR_NOMEM;
    }
    pm_store(&l->ceiling_db_target, -1.0);
    pm_store(&l->release_ms_target, 100.0);
    pm_store(&l->auto_release, 1);
    pm_store(&l->bypass, 0);
    pm_limiter_reset(l);
    *out = l;
    return PM_OK;
}

void pm_limiter_destroy(pm_limiter **lim)
{
    if (!lim || !*lim) return;
    limiter_free(*lim);
    *lim = NULL;
}

void pm_limiter_reset(pm_limiter *l)
{
    if (!l) return;
    const int ch = l->channels;
    memset(l->hist, 0, (size_t)ch * HIST_LEN * sizeof(float));
    memset(l->delay, 0, (size_t)(l->delay_mask + 1) * ch * sizeof(float));
    fill(l->ring_a, l->box_a, 1.0);
    fill(l->ring_b, l->box_b, 1.0);
    l->sum_a = l->box_a;
    l->sum_b = l->box_b;
    l->pos_a = l->pos_b = 0;
    l->ones = l->box_a + l->box_b;
    fill(l->block_vals, l->hold, 1.0);
    fill(l->suffix, l->hold + 1, 1.0);
    l->prefix = 1.0;
    l->hold_pos = 0;
    l->delay_pos = 0;
    l->n = 0;
    l->depth_fast = l->depth_slow = 0.0;
    l->started = 0;
    pm_store(&l->gr_db_now, 0.0);
    pm_store(&l->gr_db_max, 0.0);
}

/* ---- parameters ---- */
int pm_limiter_set_ceiling_dbtp(pm_limiter *l, double db)
{
    if (!l) return PM_ERR_NULL;
    if (!pm_in_range(db, -20.0, 0.0)) return PM_ERR_RANGE;
    pm_store(&l->ceiling_db_target, db);
    return PM_OK;
}

int pm_limiter_set_release_ms(pm_limiter *l, double ms)
{
    if (!l) return PM_ERR_NULL;
    if (!pm_in_range(ms, 1.0, 2000.0)) return PM_ERR_RANGE;
    pm_store(&l->release_ms_target, ms);
    return PM_OK;
}

int pm_limiter_set_auto_release(pm_limiter *l, int enabled)
{
    if (!l) return PM_ERR_NULL;
    pm_store(&l->auto_release, enabled != 0);
    return PM_OK;
}

int pm_limiter_set_bypass(pm_limiter *l, int bypass)
{
    if (!l) return PM_ERR_NULL;
    pm_store(&l->bypass, bypass != 0);
    return PM_OK;
}

/* Getters answer 0 for a NULL limiter, like the other processors'. */
double pm_limiter_get_ceiling_dbtp(const pm_limiter *l)
{
    return l ? pm_load(&l->ceiling_db_target) : 0.0;
}
double pm_limiter_get_release_ms(const pm_limiter *l)
{
    return l ? pm_load(&l->release_ms_target) : 0.0;
}
int pm_limiter_get_auto_release(const pm_limiter *l) { return l ? pm_load(&l->auto_release) : 0; }
int pm_limiter_get_bypass(const pm_limiter *l) { return l ? pm_load(&l->bypass) : 0; }
double pm_limiter_get_lookahead_ms(const pm_limiter *l)
{
    return l ? 1000.0 * l->latency / l->fs : 0.0;
}
int pm_limiter_latency(const pm_limiter *l) { return l ? l->latency : 0; }
double pm_limiter_gain_reduction_db(const pm_limiter *l)
{
    return l ? pm_load(&l->gr_db_now) : 0.0;
}

double pm_limiter_take_max_gain_reduction_db(pm_limiter *l)
{
    return l ? atomic_exchange_explicit(&l->gr_db_max, 0.0, memory_order_relaxed) : 0.0;
}

/* ---- detector ---- */

/* Peak of the interval around 4x point b (a before, c after): the amplitude of the sinusoid
 * through the three points. Exact for a pure tone; the frequency estimate is clamped to the
 * band below Nyquist (cos w >= cos(pi/4) at 4x), which only ever raises the estimate. Where b
 * is no local maximum of |.|, |b| itself (a neighbour covers the peak). Branch-free: selects
 * only, so loops over it vectorise. */
static inline float fit_peak(float a, float b, float c)
{
    const float sign = b < 0.0f ? -1.0f : 1.0f;
    const float m = b * sign;
    a *= sign;
    c *= sign;
    float cos_w = (a + c) / (2.0f * pm_maxf(m, 1e-30f));
    cos_w = cos_w < 0.70710678f ? 0.70710678f : (cos_w > 0.999999f ? 0.999999f : cos_w);
    float d = a - c;
    float fit = sqrtf(m * m + d * d / (4.0f * (1.0f - cos_w * cos_w)));
    return a <= m && c <= m && m > 0.0f ? fit : m;
}

/* Copies one channel of the interleaved input behind its history, sanitised and with
 * denormals flushed (a quiet chunk is copied out, a limited one multiplied, which flushes them
 * under FTZ/DAZ: either way they must come out as 0, whatever the block split); returns the
 * largest magnitude among the history and the new samples. Constant strides for mono and
 * stereo let the compiler vectorise the gather. */
static inline float gather(const float *in, int ch, int c, int n, float *h)
{
    float m = pm_abs_max(h, PM_OS_TAPS, 0.0f);
    float *x = h + PM_OS_TAPS;
    for (int i = 0; i < n; i++) {
        float v = pm_sanitize(in[(size_t)i * ch + c]);
        x[i] = fabsf(v) < FLT_MIN ? copysignf(0.0f, v) : v;
        m = pm_maxf(m, fabsf(x[i]));
    }
    return m;
}

/* Deinterleaves a chunk into the per-channel histories and returns an upper bound of every
 * 4x point it can produce: max |sample| times the interpolators' worst-case gain. */
PM_HOT
static float deinterleave(pm_limiter *l, const float *in, int n)
{
    const int ch = l->channels;
    float m = 0.0f;
    for (int c = 0; c < ch; c++) {
        float *h = l->hist + (size_t)c * HIST_LEN;
        float v = ch == 2 ? gather(in, 2, c, n, h) : ch == 1 ? gather(in, 1, 0, n, h)
                                                            : gather(in, ch, c, n, h);
        m = pm_maxf(m, v);
    }
    return m * l->l1_max;
}

/* Worst-case excess of the true peak over the 4x grid: 1 / cos(pi / 8). */
#define GRID_EXCESS 1.0824f

/* Raises peak[i] to the refined peak of interval i, from one kernel's points: index i + 1 of
 * y1..y3 holds interval i (index 0 the interval before), x0[i] is its phase-0 point. The fit
 * is made around the interval's largest point. Selects only: the loop vectorises. */
PM_HOT
static void kernel_peaks(const float *x0, const float *y1, const float *y2, const float *y3,
                         int n, float *peak)
{
    for (int i = 0; i < n; i++) {
        const float q0 = y3[i], q1 = x0[i], q2 = y1[i + 1], q3 = y2[i + 1], q4 = y3[i + 1],
                    q5 = x0[i + 1];
        const float m = pm_maxf(pm_maxf(fabsf(q1), fabsf(q2)), pm_maxf(fabsf(q3), fabsf(q4)));
        float a = q3, b = q4, c = q5; /* the first point reaching m is the centre */
        a = fabsf(q3) == m ? q2 : a;
        b = fabsf(q3) == m ? q3 : b;
        c = fabsf(q3) == m ? q4 : c;
        a = fabsf(q2) == m ? q1 : a;
        b = fabsf(q2) == m ? q2 : b;
        c = fabsf(q2) == m ? q3 : c;
        a = fabsf(q1) == m ? q0 : a;
        b = fabsf(q1) == m ? q1 : b;
        c = fabsf(q1) == m ? q2 : c;
        peak[i] = pm_maxf(peak[i], fit_peak(a, b, c));
    }
}

/* Points are interpolated in groups of GROUP from the interval before the chunk: group g holds
 * the intervals 16 g - 1 .. 16 g + 14 and reads h[16 g ..] for at most SUPPORT blocks of
 * GROUP samples (h: the channel's history + chunk; block b = h[16 b .. 16 b + 15]). */
#define GROUP PM_OS_PAD
#define SUPPORT ((PM_OS_TAPS + 2 * GROUP - 2) / GROUP)
#define GROUPS ((PM_CHUNK + GROUP) / GROUP)
_Static_assert(HIST_LEN >= (GROUPS + SUPPORT - 1) * GROUP, "blocks must lie in the history");

/* block[b] = max |h[GROUP * b + i]| over the block. */
PM_HOT
static void block_maxima(const float *h, int blocks, float *block)
{
    for (int b = 0; b < blocks; b++) {
        uint32_t top = 0; /* on the bit patterns: the order of non-negative floats, vectorises */
        for (int i = 0; i < GROUP; i++) {
            uint32_t u;
            memcpy(&u, h + b * GROUP + i, sizeof u);
            u &= 0x7fffffffu;
            top = u > top ? u : top;
        }
        memcpy(block + b, &top, sizeof top);
    }
}

/* Largest block maximum among the blocks read by the `pairs` pairs nearest group g's points. */
static float reach_max(const float *block, int g, int pairs)
{
    const int first = g + (PM_OS_DELAY - pairs) / GROUP;
    const int last = g + (PM_OS_DELAY + GROUP - 2 + pairs) / GROUP;
    float m = 0.0f;
    for (int b = first; b <= last; b++) m = pm_maxf(m, block[b]);
    return m;
}

/* One kernel on one channel: interpolates the groups that could reach the threshold (and the
 * group before each, for the fits' left neighbours) and raises peak[] over their intervals. */
static void detect_kernel(pm_limiter *l, const pm_os_filter *os, const float *h,
                          const float *block, int n, float threshold)
{
    const int groups = (n + GROUP) / GROUP; /* points 0..n */
    const float level = threshold / GRID_EXCESS;
    unsigned char needed[GROUPS + 1] = {0};
    for (int g = 0; g < groups; g++)
        needed[g] = os->l1_near * reach_max(block, g, PM_OS_NEAR) +
                        os->l1_far * reach_max(block, g, os->pairs) > level;
    const float *x = h + PM_OS_TAPS - 1; /* from the interval before the chunk */
    float *y1 = l->points, *y2 = y1 + POINTS_LEN, *y3 = y2 + POINTS_LEN;
    for (int g = 0; g < groups; g++) {
        if (!needed[g] && !needed[g + 1]) continue;
        int end = g + 1;
        while (end < groups && (needed[end] || needed[end + 1])) end++;
        pm_os_interpolate(os, x + g * GROUP, (end - g) * GROUP, y1 + g * GROUP, y2 + g * GROUP,
                          y3 + g * GROUP);
        g = end - 1;
    }
    const float *x0 = h + PM_OS_TAPS - PM_OS_DELAY;
    for (int g = 0; g < groups; g++) {
        if (!needed[g]) continue;
        int end = g + 1;
        while (end < groups && needed[end]) end++;
        int from = g * GROUP - 1, to = end * GROUP - 1; /* point m holds interval m - 1 */
        from = from < 0 ? 0 : from;
        to = to > n ? n : to;
        if (to > from)
            kernel_peaks(x0 + from, y1 + from, y2 + from, y3 + from, to - from, l->peak + from);
        g = end - 1;
    }
}

/* Fills l->peak[i] with the refined peak, over channels and kernels, of the interval starting
 * at x[i - D]. Returns 0 when no peak in the chunk exceeds the threshold (nothing to limit).
 * Points are interpolated only in groups that could reach the threshold: no point exceeds the
 * samples it is built from times the kernel's worst-case gains. */
static int detect_chunk(pm_limiter *l, int n, float bound, float threshold)
{
    if (bound * GRID_EXCESS <= threshold) return 0;
    for (int i = 0; i < n; i++) l->peak[i] = 0.0f;
    for (int c = 0; c < l->channels; c++) {
        const float *h = l->hist + (size_t)c * HIST_LEN;
        float block[GROUPS + SUPPORT];
        block_maxima(h, (n + GROUP) / GROUP + SUPPORT - 1, block);
        for (int k = 0; k < DETECTOR_KERNELS; k++)
            detect_kernel(l, &l->os[k], h, block, n, threshold);
    }
    float top = 0.0f;
    for (int i = 0; i < n; i++) top = pm_maxf(top, l->peak[i]);
    return top > threshold; /* else the required gain is 1 throughout, as for a quiet chunk */
}

/* ---- gain computer: sliding minimum, release, two moving averages ---- */

typedef struct {
    double ceiling_target, ceiling_coef;
    double fast_coef, slow_release_coef, slow_attack_coef;
    int auto_release;
    double bypass_target, bypass_coef;
} limiter_controls;

static void read_controls(pm_limiter *l, limiter_controls *k)
{
    double release_ms = pm_load(&l->release_ms_target);
    k->ceiling_target = pm_db_to_lin(pm_load(&l->ceiling_db_target) - MARGIN_DB);
    k->ceiling_coef = pm_time_coef(GLIDE_MS, l->fs);
    k->auto_release = pm_load(&l->auto_release);
    /* Program-dependent release: transients recover 5x faster than sustained limiting. */
    k->fast_coef = pm_time_coef(k->auto_release ? release_ms / 5.0 : release_ms, l->fs);
    k->slow_release_coef = pm_time_coef(release_ms, l->fs);
    k->slow_attack_coef = pm_time_coef(40.0, l->fs);
    k->bypass_target = pm_load(&l->bypass) ? 1.0 : 0.0;
    k->bypass_coef = pm_time_coef(BYPASS_MS, l->fs);
    if (!l->started) { /* nothing to glide from */
        l->ceiling_lin = k->ceiling_target;
        l->bypass_mix = k->bypass_target;
        l->started = 1;
    }
}

/* Glide one-pole toward target, landing exactly on it once close (exact steady state). */
static inline double glide(double v, double target, double coef)
{
    v = target + (v - target) * coef;
    return fabs(v - target) < 1e-9 ? target : v;
}

/* Exponential return toward unity gain; lands on exactly 1 (bit-exact pass-through) once
 * within -0.00001 dB of it. */
static inline double recover(double g, double coef)
{
    g = 1.0 - (1.0 - g) * coef;
    return g > 1.0 - 1e-6 ? 1.0 : g;
}

/* Unity gain everywhere in the gain computer, nothing gliding: a quiet chunk then only needs
 * delaying, and the state stays what the full loop would have left. */
static int is_idle(const pm_limiter *l, const limiter_controls *k)
{
    return l->ones >= l->box_a + l->box_b && l->depth_fast == 0.0 &&
           (!k->auto_release || l->depth_slow == 0.0) && l->ceiling_lin == k->ceiling_target &&
           l->bypass_mix == k->bypass_target && l->prefix == 1.0;
}

static void shift_history(pm_limiter *l, int n)
{
    const int hist_len = HIST_LEN;
    for (int c = 0; c < l->channels; c++) {
        float *h = l->hist + (size_t)c * hist_len;
        memmove(h, h + n, PM_OS_TAPS * sizeof(float));
    }
}

/* Moves the sanitized new frames into the delay line (a chunk always fits ahead of the
 * latency) and returns where the chunk's delayed output starts. */
static int delay_write(pm_limiter *l, int n)
{
    const int ch = l->channels, mask = l->delay_mask;
    const float *x = l->hist + PM_OS_TAPS;
    int pos = l->delay_pos;
    for (int i = 0; i < n; i++) {
        float *slot = l->delay + (size_t)((pos + i) & mask) * ch;
        for (int c = 0; c < ch; c++) slot[c] = x[(size_t)c * HIST_LEN + i];
    }
    l->delay_pos = (pos + n) & mask;
    return (pos - l->latency) & mask;
}

static void idle_chunk(pm_limiter *l, float *out, int n)
{
    const int ch = l->channels, mask = l->delay_mask;
    int from = delay_write(l, n);
    for (int i = 0; i < n; i++) {
        const float *old = l->delay + (size_t)((from + i) & mask) * ch;
        for (int c = 0; c < ch; c++) out[(size_t)i * ch + c] = old[c];
    }
    /* n more required gains of exactly 1: every value in the hold window stays 1 */
    if (l->hold_pos + n >= l->hold) {
        fill(l->block_vals, l->hold, 1.0);
        fill(l->suffix, l->hold + 1, 1.0);
    } else {
        fill(l->block_vals + l->hold_pos, n, 1.0);
    }
    l->hold_pos = (int)((l->hold_pos + n) % l->hold);
    l->pos_a = (int)((l->pos_a + n) % l->box_a);
    l->pos_b = (int)((l->pos_b + n) % l->box_b);
    l->ones += n;
    l->n += n;
}

/* Pass 1: required gain per sample, then its minimum over the hold window. Branch-free but
 * for the block turn, where the finished block's suffix minima are computed once. */
static void hold_minimum(pm_limiter *l, const limiter_controls *k, int active, int n,
                         double *gain)
{
    const int hold = l->hold;
    double *vals = l->block_vals, *suffix = l->suffix;
    double prefix = l->prefix, ceiling = l->ceiling_lin;
    int pos = l->hold_pos;
    for (int i = 0; i < n; i++) {
        if (ceiling != k->ceiling_target)
            ceiling = glide(ceiling, k->ceiling_target, k->ceiling_coef);
        double pk = active ? l->peak[i] : 0.0;
        double r = ceiling / pm_max(pk, ceiling); /* min(1, ceiling / pk) without a branch */
        vals[pos] = r;
        prefix = pos == 0 ? r : pm_min(prefix, r);
        gain[i] = pm_min(prefix, suffix[pos + 1]);
        if (++pos == hold) {
            for (int j = hold - 1; j >= 0; j--) suffix[j] = pm_min(vals[j], suffix[j + 1]);
            pos = 0;
        }
    }
    l->prefix = prefix;
    l->hold_pos = pos;
    l->ceiling_lin = ceiling;
}

/* Pass 2: release, on the depth u = 1 - gain so each step is one multiply and one max. The
 * fast and slow recurrences share one loop so the CPU runs their latency chains side by side.
 * Each stage only ever deepens the held reduction. Depths under UNITY_DEPTH are applied as
 * exactly unity (bit-exact pass-through); the state itself is snapped to 0 at chunk ends,
 * which lie on an absolute grid, so the result never depends on the caller's block sizes. */
#define UNITY_DEPTH 1e-6

static void release(pm_limiter *l, const limiter_controls *k, int n, double *gain)
{
    double fast = l->depth_fast, slow = l->depth_slow;
    const double fast_coef = k->fast_coef;
    if (k->auto_release) {
        /* slow follower of the depth: in ~40 ms, out in release_ms; the output takes the
         * deeper of the two, so sustained limiting releases slowly and transients fast */
        const double attack = k->slow_attack_coef, away_coef = k->slow_release_coef;
        for (int i = 0; i < n; i++) {
            fast = pm_max(fast * fast_coef, 1.0 - gain[i]);
            double toward = fast + (slow - fast) * attack;
            double away = slow * away_coef;
            slow = fast > slow ? toward : away; /* both computed: a select, not a branch */
            double depth = pm_max(fast, slow);
            gain[i] = depth < UNITY_DEPTH ? 1.0 : 1.0 - depth;
        }
    } else {
        for (int i = 0; i < n; i++) {
            fast = pm_max(fast * fast_coef, 1.0 - gain[i]);
            gain[i] = fast < UNITY_DEPTH ? 1.0 : 1.0 - fast;
        }
    }
    if ((l->n + n) % PM_CHUNK == 0) {
        fast = fast < UNITY_DEPTH ? 0.0 : fast;
        slow = slow < UNITY_DEPTH ? 0.0 : slow;
    }
    l->depth_fast = fast;
    l->depth_slow = slow;
}

/* Pass 3: the two moving averages (running sums over rings). */
static void smooth(pm_limiter *l, int n, double *gain)
{
    const int len_a = l->box_a, len_b = l->box_b;
    double *ring_a = l->ring_a, *ring_b = l->ring_b;
    double sum_a = l->sum_a, sum_b = l->sum_b;
    int pos_a = l->pos_a, pos_b = l->pos_b;
    int64_t ones = l->ones;
    for (int i = 0; i < n; i++) {
        double g = gain[i];
        ones = g == 1.0 ? ones + 1 : 0;
        /* Once the rings hold only ones, make the running sums exact again: the output then
         * returns to unity (bit-exact) instead of carrying rounding residue forever. Ring A
         * holds len_a ones only once this g is in it (before, its oldest value may be
         * anything: resetting then kept 1 - that value in the sum for good). */
        if (ones == len_a + len_b) sum_b = len_b;
        sum_a += g - ring_a[pos_a];
        ring_a[pos_a] = g;
        if (++pos_a == len_a) pos_a = 0;
        if (ones == len_a) sum_a = len_a;
        g = sum_a / len_a;
        sum_b += g - ring_b[pos_b];
        ring_b[pos_b] = g;
        if (++pos_b == len_b) pos_b = 0;
        g = sum_b / len_b;
        gain[i] = g > 1.0 ? 1.0 : g;
    }
    l->sum_a = sum_a;
    l->sum_b = sum_b;
    l->pos_a = pos_a;
    l->pos_b = pos_b;
    l->ones = ones;
}

/* Pass 4: bypass crossfade and the gain on the delayed audio. Returns the smallest gain. */
static double apply_gain(pm_limiter *l, const limiter_controls *k, double *gain, float *out,
                         int n)
{
    const int ch = l->channels, mask = l->delay_mask;
    const int from = delay_write(l, n);
    double mix = l->bypass_mix, min_gain = 1.0;
    if (mix != k->bypass_target || mix != 0.0) {
        for (int i = 0; i < n; i++) {
            mix = glide(mix, k->bypass_target, k->bypass_coef);
            if (mix != 0.0) gain[i] = mix == 1.0 ? 1.0 : gain[i] * (1.0 - mix) + mix;
        }
        l->bypass_mix = mix;
    }
    for (int i = 0; i < n; i++) {
        min_gain = pm_min(gain[i], min_gain);
        const float *old = l->delay + (size_t)((from + i) & mask) * ch;
        const float g = (float)gain[i]; /* exactly 1.0f at unity: the input passes bit-exact */
        for (int c = 0; c < ch; c++) out[(size_t)i * ch + c] = old[c] * g;
    }
    return min_gain;
}

static void limiter_chunk(pm_limiter *l, const float *in, float *out, int n)
{
    limiter_controls k;
    read_controls(l, &k);
    float bound = deinterleave(l, in, n);
    /* The chunk's samples can only need limiting if they could reach the lowest ceiling that
     * the glide will pass through in this chunk. */
    float threshold = (float)pm_min(l->ceiling_lin, k.ceiling_target);
    int active = detect_chunk(l, n, bound, threshold);
    double min_gain = 1.0;
    if (!active && is_idle(l, &k)) {
        idle_chunk(l, out, n);
    } else {
        double gain[PM_CHUNK];
        hold_minimum(l, &k, active, n, gain);
        release(l, &k, n, gain);
        smooth(l, n, gain);
        min_gain = apply_gain(l, &k, gain, out, n);
        l->n += n;
    }
    shift_history(l, n);
    double gr = -pm_lin_to_db(min_gain);
    pm_store(&l->gr_db_now, gr);
    if (gr > pm_load(&l->gr_db_max)) pm_store(&l->gr_db_max, gr);
}

int pm_limiter_process(pm_limiter *l, const float *in, float *out, int64_t frames)
{
    if (!l || ((!in || !out) && frames)) return PM_ERR_NULL;
    if (frames < 0) return PM_ERR_FRAMES;
    pm_fpmode fp;
    pm_fpmode_enter(&fp);
    const int ch = l->channels;
    /* chunks end on an absolute grid of PM_CHUNK samples, whatever the block size */
    for (int64_t done = 0, n; done < frames; done += n) {
        int64_t to_grid = PM_CHUNK - l->n % PM_CHUNK;
        n = frames - done < to_grid ? frames - done : to_grid;
        limiter_chunk(l, in + done * ch, out + done * ch, (int)n);
    }
    pm_fpmode_leave(&fp);
    return PM_OK;
}
