/* Equalizer: RBJ-cookbook biquads in cascade, the same bands on every channel.
 *
 * Coefficients and state are double: a 20 Hz shelf at 192 kHz puts poles within 1e-3 of the
 * unit circle, where float coefficients detune audibly. Parameters glide on a control grid of
 * CONTROL_PERIOD samples counted from the start of the stream (never from the start of a call),
 * so the output does not depend on how the audio is split into blocks. */
#include <stdlib.h>
#include <string.h>

#include "pm_internal.h"

#define CONTROL_PERIOD 32
#define GLIDE_MS 20.0
#define RETYPE_REST_MS 50.0  /* rest there while the old filter's state decays */

typedef struct {
    pm_atomic_int type, enabled;
    pm_atomic_double freq_hz, gain_db, q;
} band_target;

typedef struct {
    int seen_type, seen_enabled;   /* the targets as last read, to notice changes cheaply */
    double seen_freq, seen_gain, seen_q;
    int type, active;              /* active: filter is not the identity */
    int retype_wait;               /* ticks left at 0 dB before a type switch */
    double log_freq, gain_db, log_q; /* gliding values (log domain for frequency and Q) */
    double b0, b1, b2, a1, a2;     /* normalised coefficients (a0 = 1) */
} band_now;

struct pm_eq {
    double fs;
    int channels, bands;
    int started;                   /* 0 until audio flowed: parameters jump instead of gliding */
    int settled;                   /* the last control tick changed nothing */
    int64_t n;                     /* samples processed, for the control grid */
    double glide_coef;             /* per control tick */
    int retype_ticks;              /* rest before a band switches type */
    band_target target[PM_MAX_EQ_BANDS];
    band_now now[PM_MAX_EQ_BANDS];
    double *state;                 /* [band][channel][2]: transposed direct form II */
};

int pm_eq_create(pm_eq **out, double sample_rate, int channels, int bands)
{
    if (!out) return PM_ERR_NULL;
    *out = NULL;
    if (!pm_rate_ok(sample_rate)) return PM_ERR_SAMPLE_RATE;
    if (!pm_channels_ok(channels)) return PM_ERR_CHANNELS;
    if (bands < 0 || bands > PM_MAX_EQ_BANDS) return PM_ERR_RANGE;
    pm_eq *eq = calloc(1, sizeof *eq);
    if (!eq) return PM_ERR_NOMEM;
    eq->state = calloc((size_t)(bands ? bands : 1) * channels * 2, sizeof(double));
    if (!eq->state) {
        free(eq);
        return PM_ERR_NOMEM;
    }
    eq->fs = sample_rate;
    eq->channels = channels;
    eq->bands = bands;
    eq->glide_coef = pm_time_coef(GLIDE_MS, sample_rate / CONTROL_PERIOD);
    eq->retype_ticks = (int)ceil(RETYPE_REST_MS * 0.001 * sample_rate / CONTROL_PERIOD);
    for (int b = 0; b < bands; b++) {
        band_target *t = &eq->target[b];
        pm_store(&t->type, PM_BAND_PEAK);
        pm_store(&t->enabled, 0);
        pm_store(&t->freq_hz, 1000.0);
        pm_store(&t->gain_db, 0.0);
        pm_store(&t->q, 0.707);
    }
    pm_eq_reset(eq);
    *out = eq;
    return PM_OK;
}

void pm_eq_destroy(pm_eq **eq)
{
    if (!eq || !*eq) return;
    free((*eq)->state);
    free(*eq);
    *eq = NULL;
}

void pm_eq_reset(pm_eq *eq)
{
    if (!eq) return;
    memset(eq->state, 0, (size_t)(eq->bands ? eq->bands : 1) * eq->channels * 2 * sizeof(double));
    eq->n = 0;
    eq->started = 0;
    eq->settled = 0;
}

int pm_eq_bands(const pm_eq *eq) { return eq ? eq->bands : 0; }

int pm_eq_set_band(pm_eq *eq, int band, int type, double freq_hz, double gain_db, double q,
                   int enabled)
{
    if (!eq) return PM_ERR_NULL;
    if (band < 0 || band >= eq->bands) return PM_ERR_INDEX;
    if (type < PM_BAND_PEAK || type > PM_BAND_LOW_PASS) return PM_ERR_RANGE;
    if (!(freq_hz > 0.0 && freq_hz <= 0.49 * eq->fs)) return PM_ERR_RANGE;
    if (!pm_in_range(gain_db, -24.0, 24.0) || !pm_in_range(q, 0.1, 10.0)) return PM_ERR_RANGE;
    band_target *t = &eq->target[band];
    pm_store(&t->type, type);
    pm_store(&t->freq_hz, freq_hz);
    pm_store(&t->gain_db, gain_db);
    pm_store(&t->q, q);
    pm_store(&t->enabled, enabled != 0);
    return PM_OK;
}

int pm_eq_get_band(const pm_eq *eq, int band, int *type, double *freq_hz, double *gain_db,
                   double *q, int *enabled)
{
    if (!eq || !type || !freq_hz || !gain_db || !q || !enabled) return PM_ERR_NULL;
    if (band < 0 || band >= eq->bands) return PM_ERR_INDEX;
    const band_target *t = &eq->target[band];
    *type = pm_load(&t->type);
    *freq_hz = pm_load(&t->freq_hz);
    *gain_db = pm_load(&t->gain_db);
    *q = pm_load(&t->q);
    *enabled = pm_load(&t->enabled);
    return PM_OK;
}

/* RBJ Audio-EQ-Cookbook formulas. */
static void design(band_now *b, double fs)
{
    double f = exp(b->log_freq), q = exp(b->log_q);
    double w = 2.0 * M_PI * f / fs, cw = cos(w), sw = sin(w);
    double alpha = sw / (2.0 * q);
    double A = pow(10.0, b->gain_db / 40.0);
    double b0, b1, b2, a0, a1, a2;
    switch (b->type) {
    case PM_BAND_LOW_SHELF: {
        double k = 2.0 * sqrt(A) * alpha;
        b0 = A * ((A + 1) - (A - 1) * cw + k);
        b1 = 2 * A * ((A - 1) - (A + 1) * cw);
        b2 = A * ((A + 1) - (A - 1) * cw - k);
        a0 = (A + 1) + (A - 1) * cw + k;
        a1 = -2 * ((A - 1) + (A + 1) * cw);
        a2 = (A + 1) + (A - 1) * cw - k;
        break;
    }
    case PM_BAND_HIGH_SHELF: {
        double k = 2.0 * sqrt(A) * alpha;
        b0 = A * ((A + 1) + (A - 1) * cw + k);
        b1 = -2 * A * ((A - 1) + (A + 1) * cw);
        b2 = A * ((A + 1) + (A - 1) * cw - k);
        a0 = (A + 1) - (A - 1) * cw + k;
        a1 = 2 * ((A - 1) - (A + 1) * cw);
        a2 = (A + 1) - (A - 1) * cw - k;
        break;
    }
    case PM_BAND_HIGH_PASS:
        b0 = (1 + cw) / 2;
        b1 = -(1 + cw);
        b2 = (1 + cw) / 2;
        a0 = 1 + alpha;
        a1 = -2 * cw;
        a2 = 1 - alpha;
        break;
    case PM_BAND_LOW_PASS:
        b0 = (1 - cw) / 2;
        b1 = 1 - cw;
        b2 = (1 - cw) / 2;
        a0 = 1 + alpha;
        a1 = -2 * cw;
        a2 = 1 - alpha;
        break;
    default: /* peak */
        b0 = 1 + alpha * A;
        b1 = -2 * cw;
        b2 = 1 - alpha * A;
        a0 = 1 + alpha / A;
        a1 = -2 * cw;
        a2 = 1 - alpha / A;
        break;
    }
    b->b0 = b0 / a0;
    b->b1 = b1 / a0;
    b->b2 = b2 / a0;
    b->a1 = a1 / a0;
    b->a2 = a2 / a0;
}

static inline double glide(double v, double target, double coef)
{
    v = target + (v - target) * coef;
    return fabs(v - target) < 1e-4 ? target : v; /* 0.0001 dB or 0.01 %: inaudible */
}

/* Whether a control tick could change anything: something still glides or a target moved. */
static int needs_tick(const pm_eq *eq)
{
    if (!eq->settled) return 1;
    for (int i = 0; i < eq->bands; i++) {
        const band_target *t = &eq->target[i];
        const band_now *b = &eq->now[i];
        if (pm_load(&t->type) != b->seen_type || pm_load(&t->enabled) != b->seen_enabled ||
            pm_load(&t->freq_hz) != b->seen_freq || pm_load(&t->gain_db) != b->seen_gain ||
            pm_load(&t->q) != b->seen_q)
            return 1;
    }
    return 0;
}

/* One control tick: move every band toward its target and redesign what moved. A disabled
 * gain band glides to 0 dB first and only then stops filtering, so switching it is silent. */
static void control_tick(pm_eq *eq)
{
    const int first = !eq->started;
    eq->started = 1;
    eq->settled = 1;
    for (int i = 0; i < eq->bands; i++) {
        band_target *t = &eq->target[i];
        band_now *b = &eq->now[i];
        int type = b->seen_type = pm_load(&t->type);
        int enabled = b->seen_enabled = pm_load(&t->enabled);
        b->seen_freq = pm_load(&t->freq_hz);
        b->seen_gain = pm_load(&t->gain_db);
        b->seen_q = pm_load(&t->q);
        int is_pass = type == PM_BAND_HIGH_PASS || type == PM_BAND_LOW_PASS;
        int was_pass = b->type == PM_BAND_HIGH_PASS || b->type == PM_BAND_LOW_PASS;
        double lf = log(b->seen_freq), lq = log(b->seen_q);
        double g = enabled && !is_pass ? b->seen_gain : 0.0;
        int retype = !first && type != b->type;
        const int pending = retype && !was_pass;
        if (pending) {
            eq->settled = 0; /* keep ticking through the fade and the rest */
            /* A gain band changing type fades out under its old type, rests at exactly 0 dB while its
             * filter state dies away (an identity filter's does), switches with a cleared state,
             * then fades in: no step anywhere. */
            if (b->gain_db != 0.0 || b->retype_wait > 0) {
                if (b->gain_db == 0.0) b->retype_wait--;
                type = b->type;
                is_pass = 0;
                lf = b->log_freq;
                lq = b->log_q;
                g = 0.0;
                retype = 0;
            } else {
                memset(eq->state + (size_t)i * eq->channels * 2, 0,
                       (size_t)eq->channels * 2 * sizeof(double));
            }
        }
        if (!pending) b->retype_wait = eq->retype_ticks;
        /* nothing to glide from, or nothing sensible to glide between */
        int jump = first || retype || (is_pass && !enabled);
        double nlf = jump ? lf : glide(b->log_freq, lf, eq->glide_coef);
        double nlq = jump ? lq : glide(b->log_q, lq, eq->glide_coef);
        /* a switched gain band starts as the identity (0 dB) its cleared state matches */
        double ng = first || is_pass ? g : retype ? 0.0 : glide(b->gain_db, g, eq->glide_coef);
        int changed = jump || nlf != b->log_freq || nlq != b->log_q || ng != b->gain_db;
        b->type = type;
        b->log_freq = nlf;
        b->log_q = nlq;
        b->gain_db = ng;
        if (changed) {
            design(b, eq->fs);
            eq->settled = 0;
        }
        b->active = is_pass ? enabled : ng != 0.0;
    }
}

typedef double v2d __attribute__((vector_size(16)));

/* Runs every active band over n frames, two channels per vector lane pair. Sample-major: the
 * bands' recurrences are independent chains, so the CPU overlaps them instead of waiting on
 * one filter at a time. An odd last channel runs with a silent partner lane. */
PM_HOT
static void run_bands(pm_eq *eq, const float *in, float *out, int64_t n)
{
    const int ch = eq->channels;
    int active[PM_MAX_EQ_BANDS], count = 0;
    v2d b0[PM_MAX_EQ_BANDS], b1[PM_MAX_EQ_BANDS], b2[PM_MAX_EQ_BANDS], a1[PM_MAX_EQ_BANDS],
        a2[PM_MAX_EQ_BANDS];
    for (int i = 0; i < eq->bands; i++) {
        const band_now *b = &eq->now[i];
        if (!b->active) continue;
        active[count] = i;
        b0[count] = (v2d){b->b0, b->b0};
        b1[count] = (v2d){b->b1, b->b1};
        b2[count] = (v2d){b->b2, b->b2};
        a1[count] = (v2d){b->a1, b->a1};
        a2[count] = (v2d){b->a2, b->a2};
        count++;
    }
    if (!count) {
        for (int64_t i = 0; i < n * ch; i++) out[i] = pm_sanitize(in[i]);
        return;
    }
    for (int c = 0; c < ch; c += 2) {
        const int pair = c + 1 < ch;
        v2d s1[PM_MAX_EQ_BANDS], s2[PM_MAX_EQ_BANDS];
        for (int j = 0; j < count; j++) {
            const double *st = eq->state + ((size_t)active[j] * ch + c) * 2;
            s1[j] = (v2d){st[0], pair ? st[2] : 0.0};
            s2[j] = (v2d){st[1], pair ? st[3] : 0.0};
        }
        for (int64_t k = 0; k < n; k++) {
            const float *src = in + (size_t)k * ch + c;
            float *frame = out + (size_t)k * ch + c;
            v2d x = {pm_sanitize(src[0]), pair ? pm_sanitize(src[1]) : 0.0f};
            for (int j = 0; j < count; j++) {
                v2d y = b0[j] * x + s1[j];
                s1[j] = b1[j] * x - a1[j] * y + s2[j];
                s2[j] = b2[j] * x - a2[j] * y;
                x = y;
            }
            frame[0] = (float)x[0];
            if (pair) frame[1] = (float)x[1];
        }
        for (int j = 0; j < count; j++) { /* never let a bad value persist */
            double *st = eq->state + ((size_t)active[j] * ch + c) * 2;
            for (int lane = 0; lane <= pair; lane++) {
                st[2 * lane] = isfinite(s1[j][lane]) ? s1[j][lane] : 0.0;
                st[2 * lane + 1] = isfinite(s2[j][lane]) ? s2[j][lane] : 0.0;
            }
        }
    }
}

int pm_eq_process(pm_eq *eq, const float *in, float *out, int64_t frames)
{
    if (!eq || ((!in || !out) && frames)) return PM_ERR_NULL;
    if (frames < 0) return PM_ERR_FRAMES;
    if (!frames) return PM_OK; /* buffers may be NULL: no pointer arithmetic on them */
    pm_fpmode fp;
    pm_fpmode_enter(&fp);
    const int ch = eq->channels;
    /* Filter in runs as long as the coefficients stay put; a tick that may change them ends
     * the run first. */
    int64_t done = 0, run_start = 0;
    while (done < frames) {
        if (eq->n % CONTROL_PERIOD == 0 && needs_tick(eq)) {
            run_bands(eq, in + run_start * ch, out + run_start * ch, done - run_start);
            run_start = done;
            control_tick(eq);
        }
        int64_t to_tick = CONTROL_PERIOD - eq->n % CONTROL_PERIOD;
        int64_t n = frames - done < to_tick ? frames - done : to_tick;
        done += n;
        eq->n += n;
    }
    run_bands(eq, in + run_start * ch, out + run_start * ch, done - run_start);
    pm_fpmode_leave(&fp);
    return PM_OK;
}
