/* The mastering chain: input gain -> EQ -> compressor -> limiter -> dither, metered at the
 * output, one call per block.
 *
 * Bypass of the zero-latency stages crossfades over BYPASS_MS and, once settled, skips the stage
 * (bit-exact). The limiter's bypass glides its gain to unity but keeps its delay, so the latency
 * never changes while audio runs. Meters are published through a sequence lock: the audio thread
 * never waits, readers retry in the rare case they overlap a write. */
#include <stdlib.h>
#include <string.h>

#include "pm_internal.h"

#define GLIDE_MS 20.0
#define BYPASS_MS 10.0

typedef struct {
    pm_atomic_int bypass;  /* target, any thread */
    double wet;            /* audio thread: 1 processing, 0 bypassed, between: crossfading */
} stage;

struct pm_chain {
    double fs;
    int channels;
    pm_eq *eq;
    pm_compressor *comp;
    pm_limiter *lim;
    pm_dither *dither;
    pm_loudness *meter;
    pm_atomic_double input_gain_db, output_gain_db;
    pm_atomic_double monitor_trim_db;
    pm_atomic_int monitor_dim, monitor_mono;
    pm_atomic_int metering;
    stage stages[PM_STAGE_COUNT];
    int started;            /* 0 until audio flowed: parameters jump instead of gliding */
    double gain;            /* gliding input gain, linear */
    double out_gain;        /* gliding output trim, linear */
    double mon_gain, mon_mono; /* gliding monitor gain (linear) and mono amount (0..1) */
    double glide_coef, bypass_coef;
    float *buf, *dry, *route; /* PM_CHUNK frames each */
    uint64_t frames;
    int64_t frames_at_slow_meters; /* integrated/LRA are refreshed every 100 ms of audio */
    double comp_gr_max, lim_gr_max;
    pm_atomic_double comp_gr_window, lim_gr_window; /* maxima since the last take */
    /* published meters */
    atomic_uint seq;        /* odd while the audio thread writes */
    pm_meter_snapshot snap;
};

int pm_chain_create(pm_chain **out, double sample_rate, int channels, int eq_bands,
                    double lookahead_ms, uint64_t dither_seed)
{
    if (!out) return PM_ERR_NULL;
    *out = NULL;
    if (!pm_rate_ok(sample_rate)) return PM_ERR_SAMPLE_RATE;
    if (!pm_channels_ok(channels)) return PM_ERR_CHANNELS;
    pm_chain *c = calloc(1, sizeof *c);
    if (!c) return PM_ERR_NOMEM;
    c->fs = sample_rate;
    c->channels = channels;
    int err = pm_eq_create(&c->eq, sample_rate, channels, eq_bands);
    if (!err) err = pm_compressor_create(&c->comp, sample_rate, channels);
    if (!err) err = pm_limiter_create(&c->lim, sample_rate, channels, lookahead_ms);
    if (!err) err = pm_dither_create(&c->dither, channels, 0, dither_seed);
    if (!err) err = pm_loudness_create(&c->meter, sample_rate, channels);
    if (!err) {
        c->buf = calloc((size_t)PM_CHUNK * channels, sizeof(float));
        c->dry = calloc((size_t)PM_CHUNK * channels, sizeof(float));
        c->route = calloc((size_t)PM_CHUNK * channels, sizeof(float));
        if (!c->buf || !c->dry || !c->route) err = PM_ERR_NOMEM;
    }
    if (err) {
        pm_chain_destroy(&c);
        return err;
    }
    c->glide_coef = pm_time_coef(GLIDE_MS, sample_rate);
    c->bypass_coef = pm_time_coef(BYPASS_MS, sample_rate);
    pm_store(&c->input_gain_db, 0.0);
    pm_store(&c->output_gain_db, 0.0);
    pm_store(&c->monitor_trim_db, 0.0);
    pm_store(&c->monitor_dim, 0);
    pm_store(&c->monitor_mono, 0);
    pm_store(&c->metering, 1);
    atomic_init(&c->seq, 0);
    pm_chain_reset(c);
    *out = c;
    return PM_OK;
}

void pm_chain_destroy(pm_chain **chain)
{
    if (!chain || !*chain) return;
    pm_chain *c = *chain;
    pm_eq_destroy(&c->eq);
    pm_compressor_destroy(&c->comp);
    pm_limiter_destroy(&c->lim);
    pm_dither_destroy(&c->dither);
    pm_loudness_destroy(&c->meter);
    free(c->buf);
    free(c->dry);
    free(c->route);
    free(c);
    *chain = NULL;
}

static void publish(pm_chain *c);

void pm_chain_reset(pm_chain *c)
{
    if (!c) return;
    pm_eq_reset(c->eq);
    pm_compressor_reset(c->comp);
    pm_limiter_reset(c->lim);
    pm_dither_reset(c->dither);
    pm_loudness_reset(c->meter);
    pm_compressor_take_max_gain_reduction_db(c->comp);
    c->started = 0;
    c->frames = 0;
    c->frames_at_slow_meters = 0;
    c->comp_gr_max = c->lim_gr_max = 0.0;
    pm_store(&c->comp_gr_window, 0.0);
    pm_store(&c->lim_gr_window, 0.0);
    publish(c);
}

pm_eq *pm_chain_eq(pm_chain *c) { return c ? c->eq : NULL; }
pm_compressor *pm_chain_compressor(pm_chain *c) { return c ? c->comp : NULL; }
pm_limiter *pm_chain_limiter(pm_chain *c) { return c ? c->lim : NULL; }
pm_dither *pm_chain_dither(pm_chain *c) { return c ? c->dither : NULL; }
int pm_chain_latency(const pm_chain *c) { return c ? pm_limiter_latency(c->lim) : 0; }
int pm_chain_channels(const pm_chain *c) { return c ? c->channels : 0; }

int pm_chain_set_input_gain_db(pm_chain *c, double gain_db)
{
    if (!c) return PM_ERR_NULL;
    if (!pm_in_range(gain_db, -24.0, 24.0)) return PM_ERR_RANGE;
    pm_store(&c->input_gain_db, gain_db);
    return PM_OK;
}

double pm_chain_get_input_gain_db(const pm_chain *c) { return c ? pm_load(&c->input_gain_db) : 0; }

int pm_chain_set_output_gain_db(pm_chain *c, double gain_db)
{
    if (!c) return PM_ERR_NULL;
    if (!pm_in_range(gain_db, -48.0, 0.0)) return PM_ERR_RANGE;
    pm_store(&c->output_gain_db, gain_db);
    return PM_OK;
}

double pm_chain_get_output_gain_db(const pm_chain *c) { return c ? pm_load(&c->output_gain_db) : 0; }

int pm_chain_set_monitor(pm_chain *c, double trim_db, int dim, int mono)
{
    if (!c) return PM_ERR_NULL;
    if (!pm_in_range(trim_db, -60.0, 12.0)) return PM_ERR_RANGE;
    pm_store(&c->monitor_trim_db, trim_db);
    pm_store(&c->monitor_dim, dim != 0);
    pm_store(&c->monitor_mono, mono != 0);
    return PM_OK;
}

void pm_chain_get_monitor(const pm_chain *c, double *trim_db, int *dim, int *mono)
{
    if (!c) return;
    if (trim_db) *trim_db = pm_load(&c->monitor_trim_db);
    if (dim) *dim = pm_load(&c->monitor_dim);
    if (mono) *mono = pm_load(&c->monitor_mono);
}

int pm_chain_set_bypass(pm_chain *c, int stage_id, int bypass)
{
    if (!c) return PM_ERR_NULL;
    if (stage_id < 0 || stage_id >= PM_STAGE_COUNT) return PM_ERR_INDEX;
    pm_store(&c->stages[stage_id].bypass, bypass != 0);
    if (stage_id == PM_STAGE_LIMITER) pm_limiter_set_bypass(c->lim, bypass);
    return PM_OK;
}

int pm_chain_get_bypass(const pm_chain *c, int stage_id)
{
    if (!c || stage_id < 0 || stage_id >= PM_STAGE_COUNT) return 0;
    return pm_load(&c->stages[stage_id].bypass);
}

int pm_chain_set_metering(pm_chain *c, int enabled)
{
    if (!c) return PM_ERR_NULL;
    pm_store(&c->metering, enabled != 0);
    return PM_OK;
}

/* ---- processing ---- */

typedef int (*stage_fn)(void *obj, const float *in, float *out, int64_t frames);
typedef void (*reset_fn)(void *obj);

static int eq_run(void *o, const float *in, float *out, int64_t n)
{
    return pm_eq_process(o, in, out, n);
}
static void eq_reset(void *o) { pm_eq_reset(o); }
static int comp_run(void *o, const float *in, float *out, int64_t n)
{
    return pm_compressor_process(o, in, out, n);
}
static void comp_reset(void *o) { pm_compressor_reset(o); }

/* A zero-latency stage with a click-free bypass. */
static void run_stage(pm_chain *c, stage *s, void *obj, stage_fn process, reset_fn reset, int n)
{
    const double target = pm_load(&s->bypass) ? 0.0 : 1.0;
    if (!c->started) s->wet = target;
    if (s->wet == target) {
        if (target == 1.0) process(obj, c->buf, c->buf, n);
        return; /* fully bypassed: untouched, bit-exact */
    }
    if (s->wet == 0.0) reset(obj); /* coming back: its state is stale, start clean and fade in */
    const int ch = c->channels;
    memcpy(c->dry, c->buf, (size_t)n * ch * sizeof(float));
    process(obj, c->buf, c->buf, n);
    double wet = s->wet;
    for (int i = 0; i < n; i++) {
        wet = target + (wet - target) * c->bypass_coef;
        if (fabs(wet - target) < 1e-6) wet = target;
        float w = (float)wet;
        for (int k = 0; k < ch; k++) {
            size_t j = (size_t)i * ch + k;
            /* settled within the chunk: exactly what the next chunks give (the stage skipped
             * or fully in), not the mix formula's rounding, wherever the chunks fall */
            c->buf[j] = wet != target ? c->dry[j] + (c->buf[j] - c->dry[j]) * w
                        : target == 0.0 ? c->dry[j] : c->buf[j];
        }
    }
    s->wet = wet;
}

static void apply_input_gain(pm_chain *c, const float *in, int n)
{
    const int ch = c->channels;
    const double target = pm_db_to_lin(pm_load(&c->input_gain_db));
    if (!c->started) c->gain = target;
    if (c->gain == target) {
        const float g = (float)target;
        for (int64_t i = 0; i < (int64_t)n * ch; i++) c->buf[i] = pm_sanitize(in[i]) * g;
        return;
    }
    double g = c->gain;
    for (int i = 0; i < n; i++) {
        g = target + (g - target) * c->glide_coef;
        if (fabs(g - target) < 1e-9) g = target;
        for (int k = 0; k < ch; k++) {
            size_t j = (size_t)i * ch + k;
            c->buf[j] = pm_sanitize(in[j]) * (float)g;
        }
    }
    c->gain = g;
}

/* Output trim, gliding; exactly unity costs nothing and changes nothing. */
static void apply_output_gain(pm_chain *c, int n)
{
    const int ch = c->channels;
    const double target = pm_db_to_lin(pm_load(&c->output_gain_db));
    if (!c->started) c->out_gain = target;
    if (c->out_gain == target && target == 1.0) return;
    double g = c->out_gain;
    for (int i = 0; i < n; i++) {
        g = target + (g - target) * c->glide_coef;
        if (fabs(g - target) < 1e-9) g = target;
        for (int k = 0; k < ch; k++) c->buf[(size_t)i * ch + k] *= (float)g;
    }
    c->out_gain = g;
}

static void chain_chunk(pm_chain *c, const float *in, float *out, int n)
{
    apply_input_gain(c, in, n);
    run_stage(c, &c->stages[PM_STAGE_EQ], c->eq, eq_run, eq_reset, n);
    run_stage(c, &c->stages[PM_STAGE_COMPRESSOR], c->comp, comp_run, comp_reset, n);
    pm_limiter_process(c->lim, c->buf, c->buf, n);
    apply_output_gain(c, n);
    if (!pm_load(&c->stages[PM_STAGE_DITHER].bypass) && pm_dither_get_bits(c->dither))
        pm_dither_process(c->dither, c->buf, c->buf, n);
    if (pm_load(&c->metering)) pm_loudness_add(c->meter, c->buf, n);
    memcpy(out, c->buf, (size_t)n * c->channels * sizeof(float));
    c->started = 1;
}

static double max_over_channels(double (*get)(const pm_loudness *, int), const pm_loudness *m,
                                int channels)
{
    double v = -HUGE_VAL;
    for (int k = 0; k < channels; k++) {
        double x = get(m, k);
        v = x > v ? x : v;
    }
    return v;
}

/* Writes the snapshot under the sequence lock. Integrated loudness and LRA scan histograms, so
 * they are refreshed every 100 ms of audio rather than every block. */
/* Raises an atomic maximum that another thread may reset to 0 at any time. */
static void raise_max(pm_atomic_double *m, double v)
{
    double old = pm_load(m);
    while (v > old && !atomic_compare_exchange_weak_explicit(m, &old, v, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

void pm_chain_take_gain_reduction(pm_chain *c, double *compressor_db, double *limiter_db)
{
    if (!c) return;
    double comp = atomic_exchange_explicit(&c->comp_gr_window, 0.0, memory_order_relaxed);
    double lim = atomic_exchange_explicit(&c->lim_gr_window, 0.0, memory_order_relaxed);
    if (compressor_db) *compressor_db = comp;
    if (limiter_db) *limiter_db = lim;
}

static void publish(pm_chain *c)
{
    double cgr = pm_compressor_take_max_gain_reduction_db(c->comp);
    double lgr = pm_limiter_take_max_gain_reduction_db(c->lim);
    raise_max(&c->comp_gr_window, cgr);
    raise_max(&c->lim_gr_window, lgr);
    c->comp_gr_max = cgr > c->comp_gr_max ? cgr : c->comp_gr_max;
    c->lim_gr_max = lgr > c->lim_gr_max ? lgr : c->lim_gr_max;
    int slow = c->frames == 0 || (int64_t)c->frames - c->frames_at_slow_meters >= c->fs / 10;

    unsigned s = atomic_load_explicit(&c->seq, memory_order_relaxed);
    atomic_store_explicit(&c->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    pm_meter_snapshot *m = &c->snap;
    m->frames = c->frames;
    m->momentary_lufs = pm_loudness_momentary(c->meter);
    m->short_term_lufs = pm_loudness_short_term(c->meter);
    m->momentary_max_lufs = pm_loudness_momentary_max(c->meter);
    m->short_term_max_lufs = pm_loudness_short_term_max(c->meter);
    if (slow) {
        m->integrated_lufs = pm_loudness_integrated(c->meter);
        m->loudness_range_lu = pm_loudness_range(c->meter);
        c->frames_at_slow_meters = (int64_t)c->frames;
    }
    m->true_peak_dbtp = max_over_channels(pm_loudness_true_peak_dbtp, c->meter, c->channels);
    m->sample_peak_dbfs = max_over_channels(pm_loudness_sample_peak_dbfs, c->meter, c->channels);
    m->compressor_gr_db = pm_compressor_gain_reduction_db(c->comp);
    m->limiter_gr_db = pm_limiter_gain_reduction_db(c->lim);
    m->compressor_gr_max_db = c->comp_gr_max;
    m->limiter_gr_max_db = c->lim_gr_max;
    atomic_store_explicit(&c->seq, s + 2, memory_order_release);
}

int pm_chain_process(pm_chain *c, const float *in, float *out, int64_t frames)
{
    if (!c || ((!in || !out) && frames)) return PM_ERR_NULL;
    if (frames < 0) return PM_ERR_FRAMES;
    pm_fpmode fp;
    pm_fpmode_enter(&fp);
    const int ch = c->channels;
    for (int64_t done = 0; done < frames; done += PM_CHUNK) {
        int n = frames - done < PM_CHUNK ? (int)(frames - done) : PM_CHUNK;
        chain_chunk(c, in + done * ch, out + done * ch, n);
    }
    c->frames += (uint64_t)frames;
    if (frames) publish(c);
    pm_fpmode_leave(&fp);
    return PM_OK;
}

static int map_ok(const int *map, int count, int limit)
{
    for (int k = 0; k < count; k++)
        if (map[k] < 0 || map[k] >= limit) return 0;
    return 1;
}

/* The monitor feed of one chunk of the master (c->buf) into the device buffer. */
static void write_monitor(pm_chain *c, float *dev, int dev_ch, const int *map, int n)
{
    const int ch = c->channels;
    const double trim = pm_load(&c->monitor_trim_db) - (pm_load(&c->monitor_dim) ? 20.0 : 0.0);
    const double gain_target = pm_db_to_lin(trim);
    const double mono_target = pm_load(&c->monitor_mono) ? 1.0 : 0.0;
    if (!c->started) {
        c->mon_gain = gain_target;
        c->mon_mono = mono_target;
    }
    double g = c->mon_gain, mono = c->mon_mono;
    for (int i = 0; i < n; i++) {
        g = gain_target + (g - gain_target) * c->glide_coef;
        mono = mono_target + (mono - mono_target) * c->glide_coef;
        const float *x = c->buf + (size_t)i * ch;
        float sum = 0.0f;
        for (int k = 0; k < ch; k++) sum += x[k];
        const float avg = sum / ch, gf = (float)g, mf = (float)mono;
        for (int k = 0; k < ch; k++)
            dev[(size_t)i * dev_ch + map[k]] = (x[k] + (avg - x[k]) * mf) * gf;
    }
    c->mon_gain = g;
    c->mon_mono = mono;
}

int pm_chain_process_device(pm_chain *c, const float *dev_in, int in_channels,
                            const int *in_map, float *dev_out, int out_channels,
                            const int *out_map, const int *monitor_map, int64_t frames)
{
    if (!c || !in_map || !out_map || ((!dev_in || !dev_out) && frames)) return PM_ERR_NULL;
    if (frames < 0) return PM_ERR_FRAMES;
    const int ch = c->channels;
    if (in_channels < 1 || out_channels < 1 || !map_ok(in_map, ch, in_channels) ||
        !map_ok(out_map, ch, out_channels) || (monitor_map && !map_ok(monitor_map, ch, out_channels)))
        return PM_ERR_INDEX;
    pm_fpmode fp;
    pm_fpmode_enter(&fp);
    for (int64_t done = 0; done < frames; done += PM_CHUNK) {
        int n = frames - done < PM_CHUNK ? (int)(frames - done) : PM_CHUNK;
        const float *src = dev_in + done * in_channels;
        float *dst = dev_out + done * out_channels;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < ch; k++)
                c->route[(size_t)i * ch + k] = src[(size_t)i * in_channels + in_map[k]];
        int was_started = c->started;
        chain_chunk(c, c->route, c->route, n);
        memset(dst, 0, (size_t)n * out_channels * sizeof(float));
        for (int i = 0; i < n; i++)
            for (int k = 0; k < ch; k++)
                dst[(size_t)i * out_channels + out_map[k]] = c->route[(size_t)i * ch + k];
        if (monitor_map) {
            c->started = was_started; /* let the monitor jump to its settings on the first chunk */
            write_monitor(c, dst, out_channels, monitor_map, n);
            c->started = 1;
        }
    }
    c->frames += (uint64_t)frames;
    if (frames) publish(c);
    pm_fpmode_leave(&fp);
    return PM_OK;
}

void pm_chain_meters(const pm_chain *c, pm_meter_snapshot *out)
{
    if (!c || !out) return;
    pm_chain *w = (pm_chain *)c; /* the sequence counter is atomic; nothing else is written */
    for (;;) {
        unsigned s1 = atomic_load_explicit(&w->seq, memory_order_acquire);
        if (s1 & 1u) continue;
        memcpy(out, &c->snap, sizeof *out);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&w->seq, memory_order_relaxed) == s1) return;
    }
}
