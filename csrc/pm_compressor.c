/* Feed-forward mastering compressor: soft-knee static curve in dB, smooth branching
 * attack/release on the gain reduction, peak or RMS detector, stereo link, sidechain high-pass,
 * makeup and dry/wet mix.
 *
 * Every step is exactly per sample (chunks only bound the scratch memory and set when targets
 * are re-read), so the output does not depend on how the caller splits the audio. Per chunk:
 *   detect -> link -> curve -> smooth -> apply
 * where detect, smooth (and the optional high-pass) are recursions run frame-major so the
 * channels' dependency chains overlap, and curve/apply are vectorisable loops using the fast
 * log2/exp2 below instead of libm.
 */
#include <stdlib.h>
#include <string.h>

#include "pm_internal.h"

#define GLIDE_MS 20.0       /* continuous parameters glide with this one-pole */
#define RMS_MS 10.0         /* RMS detector: one-pole mean square */
#define GLIDE_SNAP 1e-6     /* a glide this close to its target lands on it exactly */
#define LEVEL_FLOOR 1e-30f  /* keeps log2 away from 0; far below any threshold */

static const float DB_PER_LOG2_POWER = 3.01029995663981195f; /* 10 log10(2) */
static const float LOG2_PER_DB = 0.166096404744368118f;      /* log2(10) / 20 */

/* Gliding values: threshold and knee in dB, slope = 1 - 1/ratio, makeup as a linear gain. */
enum { G_THR, G_KNEE, G_SLOPE, G_MAKEUP, G_MIX, G_LINK, G_COUNT };
/* Per-frame rows the kernels read: the curve needs the half knee and the quadratic's factor. */
enum { A_THR, A_HALF, A_SLOPE, A_QUAD, A_MAKEUP, A_MIX, A_LINK, A_MAX, A_COUNT };

struct pm_compressor {
    double fs;
    int channels;

    /* targets, written by any thread */
    pm_atomic_double threshold_db, ratio, knee_db, attack_ms, release_ms, makeup_db;
    pm_atomic_double stereo_link, mix, hpf_hz;
    pm_atomic_int detector;
    /* meters, written by the audio thread */
    pm_atomic_double gr_now, gr_max;

    /* audio-thread state */
    int started;                /* 0 until audio flowed since create/reset: values jump */
    double glide_coef;
    double now[G_COUNT];        /* gliding values */
    double att_ms, att_c;       /* attack time the coefficient was made for, one-pole coef */
    double rel_ms, rel_c;
    double makeup_db_seen, makeup_lin;
    double rms_k;               /* RMS one-pole: fraction of the new power per sample */
    int det_now;                /* detector in use */
    double hpf_on_hz;           /* frequency the high-pass is designed for, 0 = off */
    double hb0, hb1, hb2, ha1, ha2;             /* its coefficients (a0 = 1) */
    double hx1[PM_MAX_CHANNELS], hx2[PM_MAX_CHANNELS]; /* direct form I history */
    double hy1[PM_MAX_CHANNELS], hy2[PM_MAX_CHANNELS];
    double ms[PM_MAX_CHANNELS]; /* RMS detector: mean square */
    double gr[PM_MAX_CHANNELS]; /* smoothed gain reduction, dB >= 0 */
    float row[A_COUNT][PM_CHUNK]; /* per-frame parameters of the current chunk, + scratch */
    int rows_constant;          /* rows hold rows_for[] on every frame */
    double rows_for[G_COUNT];
    float *lev;                 /* [channel][PM_CHUNK]: level -> target GR -> GR -> gain */
};

/* ---- fast log2 / exp2: bit tricks + polynomials, branch-free so loops vectorise ---- */

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* log2 of a positive normal float, absolute error < 2e-5: the mantissa is folded into
 * [sqrt(1/2), sqrt(2)) so the polynomial in t = m - 1 stays small and centred. */
static inline float fast_log2(float x)
{
    uint32_t u = f2u(x);
    uint32_t v = u - 0x3f3504f3u; /* bits of sqrt(1/2) */
    int32_t e = (int32_t)v >> 23;
    float t = u2f(u - ((uint32_t)e << 23)) - 1.0f;
    float p = 0.25265807f;
    p = p * t - 0.39457545f;
    p = p * t + 0.48668653f;
    p = p * t - 0.72024180f;
    p = p * t + 1.44257800f;
    return (float)e + p * t;
}

/* 2^x for x in [-126, 126], relative error < 3e-6, exactly 1 at x = 0 (no gain change must
 * mean exactly unity): round to the nearest integer i, polynomial on f in [-1/2, 1/2]. Gain
 * reductions stay far inside the range: input is clamped to +80 dBFS, thresholds >= -60 dB. */
static inline float fast_exp2(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float r = x + magic;
    int32_t i = (int32_t)(f2u(r) - f2u(magic));
    float f = x - (r - magic);
    float p = 0.00958285f;
    p = p * f + 0.05590643f;
    p = p * f + 0.24024099f;
    p = p * f + 0.69312420f;
    return u2f(f2u(1.0f + p * f) + ((uint32_t)i << 23));
}

/* ---- lifetime and parameters ---- */

int pm_compressor_create(pm_compressor **out, double sample_rate, int channels)
{
    if (!out) return PM_ERR_NULL;
    *out = NULL;
    if (!pm_rate_ok(sample_rate)) return PM_ERR_SAMPLE_RATE;
    if (!pm_channels_ok(channels)) return PM_ERR_CHANNELS;
    pm_compressor *c = calloc(1, sizeof *c);
    if (!c) return PM_ERR_NOMEM;
    c->lev = calloc((size_t)channels * PM_CHUNK, sizeof(float));
    if (!c->lev) {
        free(c);
        return PM_ERR_NOMEM;
    }
    c->fs = sample_rate;
    c->channels = channels;
    c->glide_coef = pm_time_coef(GLIDE_MS, sample_rate);
    c->rms_k = 1.0 - pm_time_coef(RMS_MS, sample_rate);
    const pm_compressor_params defaults = {
        .threshold_db = -18.0, .ratio = 2.0, .knee_db = 6.0, .attack_ms = 10.0,
        .release_ms = 150.0, .makeup_db = 0.0, .stereo_link = 1.0, .mix = 1.0,
        .sidechain_hpf_hz = 0.0, .detector = PM_DETECT_PEAK,
    };
    pm_compressor_set_params(c, &defaults);
    pm_compressor_reset(c);
    *out = c;
    return PM_OK;
}

void pm_compressor_destroy(pm_compressor **comp)
{
    if (!comp || !*comp) return;
    free((*comp)->lev);
    free(*comp);
    *comp = NULL;
}

void pm_compressor_reset(pm_compressor *c)
{
    if (!c) return;
    c->started = 0;
    c->rows_constant = 0;
    c->att_ms = c->rel_ms = c->makeup_db_seen = NAN; /* forces the derived values anew */
    c->det_now = PM_DETECT_PEAK;
    c->hpf_on_hz = 0.0;
    memset(c->hx1, 0, sizeof c->hx1);
    memset(c->hx2, 0, sizeof c->hx2);
    memset(c->hy1, 0, sizeof c->hy1);
    memset(c->hy2, 0, sizeof c->hy2);
    memset(c->ms, 0, sizeof c->ms);
    memset(c->gr, 0, sizeof c->gr);
    pm_store(&c->gr_now, 0.0);
    pm_store(&c->gr_max, 0.0);
}

int pm_compressor_set_params(pm_compressor *c, const pm_compressor_params *p)
{
    if (!c || !p) return PM_ERR_NULL;
    if (!pm_in_range(p->threshold_db, -60.0, 0.0) || !pm_in_range(p->ratio, 1.0, 100.0) ||
        !pm_in_range(p->knee_db, 0.0, 24.0) || !pm_in_range(p->attack_ms, 0.01, 500.0) ||
        !pm_in_range(p->release_ms, 1.0, 5000.0) || !pm_in_range(p->makeup_db, -24.0, 24.0) ||
        !pm_in_range(p->stereo_link, 0.0, 1.0) || !pm_in_range(p->mix, 0.0, 1.0) ||
        !(p->sidechain_hpf_hz == 0.0 || pm_in_range(p->sidechain_hpf_hz, 10.0, 1000.0)) ||
        (p->detector != PM_DETECT_PEAK && p->detector != PM_DETECT_RMS))
        return PM_ERR_RANGE;
    pm_store(&c->threshold_db, p->threshold_db);
    pm_store(&c->ratio, p->ratio);
    pm_store(&c->knee_db, p->knee_db);
    pm_store(&c->attack_ms, p->attack_ms);
    pm_store(&c->release_ms, p->release_ms);
    pm_store(&c->makeup_db, p->makeup_db);
    pm_store(&c->stereo_link, p->stereo_link);
    pm_store(&c->mix, p->mix);
    pm_store(&c->hpf_hz, p->sidechain_hpf_hz);
    pm_store(&c->detector, p->detector);
    return PM_OK;
}

void pm_compressor_get_params(const pm_compressor *c, pm_compressor_params *p)
{
    if (!c || !p) return;
    p->threshold_db = pm_load(&c->threshold_db);
    p->ratio = pm_load(&c->ratio);
    p->knee_db = pm_load(&c->knee_db);
    p->attack_ms = pm_load(&c->attack_ms);
    p->release_ms = pm_load(&c->release_ms);
    p->makeup_db = pm_load(&c->makeup_db);
    p->stereo_link = pm_load(&c->stereo_link);
    p->mix = pm_load(&c->mix);
    p->sidechain_hpf_hz = pm_load(&c->hpf_hz);
    p->detector = pm_load(&c->detector);
}

double pm_compressor_gain_reduction_db(const pm_compressor *c)
{
    return c ? pm_load(&c->gr_now) : 0.0;
}

double pm_compressor_take_max_gain_reduction_db(pm_compressor *c)
{
    return c ? atomic_exchange_explicit(&c->gr_max, 0.0, memory_order_relaxed) : 0.0;
}

/* ---- control: once per chunk ---- */

/* RBJ cookbook high-pass, Q = 1/sqrt(2). */
static void design_hpf(pm_compressor *c, double hz)
{
    double w = 2.0 * M_PI * hz / c->fs, cw = cos(w), alpha = sin(w) / (2.0 * M_SQRT1_2);
    double a0 = 1.0 + alpha;
    c->hb0 = (1.0 + cw) / 2.0 / a0;
    c->hb1 = -(1.0 + cw) / a0;
    c->hb2 = c->hb0;
    c->ha1 = -2.0 * cw / a0;
    c->ha2 = (1.0 - alpha) / a0;
}

/* Reads the targets; derived values are recomputed only when their target changed, so the
 * result depends on the targets alone, never on where a chunk starts. */
static void read_targets(pm_compressor *c, double *target)
{
    double makeup_db = pm_load(&c->makeup_db);
    if (makeup_db != c->makeup_db_seen) {
        c->makeup_db_seen = makeup_db;
        c->makeup_lin = pm_db_to_lin(makeup_db);
    }
    target[G_THR] = pm_load(&c->threshold_db);
    target[G_KNEE] = pm_load(&c->knee_db);
    target[G_SLOPE] = 1.0 - 1.0 / pm_load(&c->ratio);
    target[G_MAKEUP] = c->makeup_lin;
    target[G_MIX] = pm_load(&c->mix);
    target[G_LINK] = pm_load(&c->stereo_link);
    if (!c->started) memcpy(c->now, target, sizeof c->now);
    c->started = 1;

    double att = pm_load(&c->attack_ms), rel = pm_load(&c->release_ms);
    if (att != c->att_ms) c->att_c = pm_time_coef(att, c->fs);
    if (rel != c->rel_ms) c->rel_c = pm_time_coef(rel, c->fs);
    c->att_ms = att;
    c->rel_ms = rel;

    double hz = pm_load(&c->hpf_hz);
    if (hz != c->hpf_on_hz) {
        if (c->hpf_on_hz == 0.0) { /* switching on: history from an earlier run is stale */
            memset(c->hx1, 0, sizeof c->hx1);
            memset(c->hx2, 0, sizeof c->hx2);
            memset(c->hy1, 0, sizeof c->hy1);
            memset(c->hy2, 0, sizeof c->hy2);
        }
        if (hz > 0.0) design_hpf(c, hz);
        c->hpf_on_hz = hz;
    }
    int det = pm_load(&c->detector);
    if (det != c->det_now && det == PM_DETECT_RMS) memset(c->ms, 0, sizeof c->ms);
    c->det_now = det;
}

static void derive(float (*row)[PM_CHUNK], int k, const double *v)
{
    row[A_THR][k] = (float)v[G_THR];
    row[A_HALF][k] = (float)(0.5 * v[G_KNEE]);
    row[A_SLOPE][k] = (float)v[G_SLOPE];
    row[A_QUAD][k] = v[G_KNEE] > 0.0 ? (float)(v[G_SLOPE] / (2.0 * v[G_KNEE])) : 0.0f;
    row[A_MAKEUP][k] = (float)v[G_MAKEUP];
    row[A_MIX][k] = (float)v[G_MIX];
    row[A_LINK][k] = (float)v[G_LINK];
}

/* Fills the per-frame parameter rows, gliding every sample (constant once settled). */
static void glide_rows(pm_compressor *c, const double *target, int n)
{
    int moving = 0, same = c->rows_constant;
    for (int j = 0; j < G_COUNT; j++) {
        moving |= c->now[j] != target[j];
        same &= c->now[j] == c->rows_for[j];
    }
    if (!moving) {
        if (same) return; /* rows already hold these values for a whole chunk */
        derive(c->row, 0, target);
        for (int a = 0; a < A_MAX; a++)
            for (int k = 1; k < PM_CHUNK; k++) c->row[a][k] = c->row[a][0];
        memcpy(c->rows_for, target, sizeof c->rows_for);
        c->rows_constant = 1;
        return;
    }
    c->rows_constant = 0;
    const double coef = c->glide_coef;
    for (int k = 0; k < n; k++) {
        for (int j = 0; j < G_COUNT; j++) {
            double v = target[j] + (c->now[j] - target[j]) * coef;
            c->now[j] = fabs(v - target[j]) < GLIDE_SNAP ? target[j] : v;
        }
        derive(c->row, k, c->now);
    }
}

/* ---- audio kernels; `ch` is a constant where they are inlined for 1 or 2 channels ---- */

#define INLINE static inline __attribute__((always_inline))

/* Sidechain: sanitised input, high-passed if on, squared or mean-squared: a power per frame
 * into one row of c->lev per channel. */
INLINE void detect(pm_compressor *c, const float *in, int n, int ch)
{
    float *restrict lev = c->lev;
    if (c->hpf_on_hz > 0.0) {
        const double b0 = c->hb0, b1 = c->hb1, b2 = c->hb2, a1 = c->ha1, a2 = c->ha2;
        double x1[PM_MAX_CHANNELS], x2[PM_MAX_CHANNELS], y1[PM_MAX_CHANNELS], y2[PM_MAX_CHANNELS];
        for (int j = 0; j < ch; j++) {
            x1[j] = c->hx1[j], x2[j] = c->hx2[j], y1[j] = c->hy1[j], y2[j] = c->hy2[j];
        }
        for (int k = 0; k < n; k++) {
            for (int j = 0; j < ch; j++) {
                double x = pm_sanitize(in[(size_t)k * ch + j]);
                /* a1 * y1 last: the recursion's critical path is one multiply-add */
                double y = b0 * x + b1 * x1[j] + b2 * x2[j] - a2 * y2[j] - a1 * y1[j];
                x2[j] = x1[j], x1[j] = x, y2[j] = y1[j], y1[j] = y;
                lev[j * PM_CHUNK + k] = (float)y;
            }
        }
        for (int j = 0; j < ch; j++) {
            int ok = isfinite(y1[j]) && isfinite(y2[j]);
            c->hx1[j] = x1[j], c->hx2[j] = x2[j];
            c->hy1[j] = ok ? y1[j] : 0.0, c->hy2[j] = ok ? y2[j] : 0.0;
        }
    } else {
        for (int j = 0; j < ch; j++)
            for (int k = 0; k < n; k++) lev[j * PM_CHUNK + k] = pm_sanitize(in[(size_t)k * ch + j]);
    }
    if (c->det_now == PM_DETECT_RMS) {
        const double add = c->rms_k, keep = 1.0 - add; /* keep * ms on the critical path only */
        double ms[PM_MAX_CHANNELS];
        for (int j = 0; j < ch; j++) ms[j] = c->ms[j];
        for (int k = 0; k < n; k++) {
            for (int j = 0; j < ch; j++) {
                double x = lev[j * PM_CHUNK + k];
                ms[j] = keep * ms[j] + add * (x * x);
                lev[j * PM_CHUNK + k] = (float)ms[j];
            }
        }
        for (int j = 0; j < ch; j++) c->ms[j] = isfinite(ms[j]) ? ms[j] : 0.0;
    } else {
        for (int j = 0; j < ch; j++) {
            float *l = lev + j * PM_CHUNK;
            for (int k = 0; k < n; k++) l[k] = l[k] * l[k];
        }
    }
}

/* Level of the loudest channel. */
INLINE void loudest(const float *restrict lev, float *restrict mx, int n, int ch)
{
    for (int k = 0; k < n; k++) mx[k] = lev[k];
    for (int j = 1; j < ch; j++) {
        const float *l = lev + j * PM_CHUNK;
        for (int k = 0; k < n; k++) mx[k] = l[k] > mx[k] ? l[k] : mx[k];
    }
}

/* Stereo link in the power domain: level = link * loudest + (1 - link) * own. */
INLINE void link(pm_compressor *c, int n, int ch)
{
    float *restrict lev = c->lev, *restrict mx = c->row[A_MAX];
    const float *restrict amount = c->row[A_LINK];
    loudest(lev, mx, n, ch);
    for (int j = 0; j < ch; j++) {
        float *restrict l = lev + j * PM_CHUNK;
        for (int k = 0; k < n; k++) l[k] = amount[k] * mx[k] + (1.0f - amount[k]) * l[k];
    }
}

/* Static curve: level (power) -> target gain reduction in dB, quadratic across the knee. */
INLINE void curve(pm_compressor *c, float *rows, int n, int nrows)
{
    const float *restrict thr = c->row[A_THR], *restrict half = c->row[A_HALF];
    const float *restrict slope = c->row[A_SLOPE], *restrict quad = c->row[A_QUAD];
    for (int j = 0; j < nrows; j++) {
        float *restrict l = rows + j * PM_CHUNK;
        for (int k = 0; k < n; k++) {
            float p = l[k] > LEVEL_FLOOR ? l[k] : LEVEL_FLOOR;
            float over = DB_PER_LOG2_POWER * fast_log2(p) - thr[k];
            float in_knee = over + half[k];
            float knee = in_knee > 0.0f ? quad[k] * in_knee * in_knee : 0.0f;
            l[k] = over >= half[k] ? slope[k] * over : knee;
        }
    }
}

/* Smooth branching one-pole on the gain reduction: attack while it grows, release while it
 * falls. up - down = (ca - cr)(g - t), so the branch taken is simply the larger of the two
 * candidates when the attack is the faster one (else the smaller): no unpredictable jump. */
INLINE double smooth_run(float *restrict rows, double *g, int n, int nrows, double ca,
                         double cr, int attack_faster)
{
    const double ka = 1.0 - ca, kr = 1.0 - cr;
    double top = 0.0;
    for (int k = 0; k < n; k++) {
        for (int j = 0; j < nrows; j++) {
            double t = rows[j * PM_CHUNK + k];
            double up = ca * g[j] + ka * t, down = cr * g[j] + kr * t;
            g[j] = attack_faster ? (up > down ? up : down) : (up < down ? up : down);
            rows[j * PM_CHUNK + k] = (float)g[j];
            top = g[j] > top ? g[j] : top;
        }
    }
    return top;
}

/* Target GR rows -> smoothed GR rows, with state g; returns the largest GR seen. */
INLINE double smooth(pm_compressor *c, float *rows, double *g, int n, int nrows)
{
    double top = c->att_c <= c->rel_c
                     ? smooth_run(rows, g, n, nrows, c->att_c, c->rel_c, 1)
                     : smooth_run(rows, g, n, nrows, c->att_c, c->rel_c, 0);
    for (int j = 0; j < nrows; j++) g[j] = isfinite(g[j]) ? g[j] : 0.0;
    return top;
}

/* GR rows -> applied gain rows (makeup, dry/wet). */
INLINE void gains(pm_compressor *c, float *rows, int n, int nrows)
{
    const float *restrict makeup = c->row[A_MAKEUP], *restrict mix = c->row[A_MIX];
    for (int j = 0; j < nrows; j++) {
        float *restrict l = rows + j * PM_CHUNK;
        for (int k = 0; k < n; k++) {
            float wet = makeup[k] * fast_exp2(-LOG2_PER_DB * l[k]);
            l[k] = (1.0f - mix[k]) + mix[k] * wet;
        }
    }
}

INLINE void apply_to(const float *in, float *out, const float *restrict gain, int n, int ch,
                     int step)
{
    for (int k = 0; k < n; k++)
        for (int j = 0; j < ch; j++) {
            size_t i = (size_t)k * ch + j;
            out[i] = pm_sanitize(in[i]) * gain[j * step + k];
        }
}

/* out = sanitised in * gain; `step` is 0 when all channels share row 0, else PM_CHUNK.
 * In place, the compiler must see one pointer to know it may vectorise. */
INLINE void apply(const float *in, float *out, const float *restrict gain, int n, int ch,
                  int step)
{
    if (in == out)
        apply_to(out, out, gain, n, ch, step);
    else
        apply_to(in, out, gain, n, ch, step);
}

/* With the link at exactly 1 every channel sees the loudest level, so when their GR states
 * agree too they would compute the same gain bit for bit: compute it once. */
INLINE int shared_gain(const pm_compressor *c, int n, int ch)
{
    int same = 1;
    for (int k = 0; k < n; k++) same &= c->row[A_LINK][k] == 1.0f;
    for (int j = 1; j < ch; j++) same &= c->gr[j] == c->gr[0];
    return same;
}

INLINE double run(pm_compressor *c, const float *in, float *out, int n, int ch)
{
    double top;
    detect(c, in, n, ch);
    if (ch > 1 && shared_gain(c, n, ch)) {
        float *row = c->row[A_MAX];
        loudest(c->lev, row, n, ch);
        curve(c, row, n, 1);
        top = smooth(c, row, c->gr, n, 1);
        for (int j = 1; j < ch; j++) c->gr[j] = c->gr[0];
        gains(c, row, n, 1);
        apply(in, out, row, n, ch, 0);
    } else {
        if (ch > 1) link(c, n, ch);
        curve(c, c->lev, n, ch);
        top = smooth(c, c->lev, c->gr, n, ch);
        gains(c, c->lev, n, ch);
        apply(in, out, c->lev, n, ch, PM_CHUNK);
    }
    double now = 0.0;
    for (int j = 0; j < ch; j++) now = c->gr[j] > now ? c->gr[j] : now;
    pm_store(&c->gr_now, now);
    return top;
}

/* One chunk; the channel count is made a constant for the common layouts. */
PM_HOT
static double run_chunk(pm_compressor *c, const float *in, float *out, int n)
{
    switch (c->channels) {
    case 1: return run(c, in, out, n, 1);
    case 2: return run(c, in, out, n, 2);
    default: return run(c, in, out, n, c->channels);
    }
}

int pm_compressor_process(pm_compressor *c, const float *in, float *out, int64_t frames)
{
    if (!c || ((!in || !out) && frames)) return PM_ERR_NULL;
    if (frames < 0) return PM_ERR_FRAMES;
    pm_fpmode fp;
    pm_fpmode_enter(&fp);
    const int ch = c->channels;
    double peak = 0.0, target[G_COUNT];
    for (int64_t done = 0; done < frames; done += PM_CHUNK) {
        int n = frames - done < PM_CHUNK ? (int)(frames - done) : PM_CHUNK;
        read_targets(c, target);
        glide_rows(c, target, n);
        double p = run_chunk(c, in + done * ch, out + done * ch, n);
        peak = p > peak ? p : peak;
    }
    /* max since the last take: compare-and-swap so a concurrent take never loses a peak */
    double seen = pm_load(&c->gr_max);
    while (peak > seen && !atomic_compare_exchange_weak_explicit(&c->gr_max, &seen, peak,
                                                                 memory_order_relaxed,
                                                                 memory_order_relaxed)) {
    }
    pm_fpmode_leave(&fp);
    return PM_OK;
}
