/* Loudness meter: ITU-R BS.1770-4 integrated loudness, EBU R128 momentary / short-term (Tech
 * 3341), loudness range (Tech 3342), sample and 4x true peak per channel.
 *
 * Time runs on an absolute grid of 100 ms sub-blocks (step = round(fs / 10) frames counted from
 * reset), each cut into PARTS parts of about 10 ms, and every sum runs in stream order, so
 * results do not depend on how the caller splits the audio. Each part leaves one weighted energy
 * in a ring; momentary (400 ms) and short-term (3 s) loudness are the last 40 and 300 entries,
 * refreshed as each part ends: their maxima need that resolution (EBU Tech 3341 cases 13 and
 * 14 move a 400 ms tone in 20 ms steps against the grid; at 100 ms updates Max M reads up to
 * 0.45 LU low). Gating blocks (BS.1770: 75 % overlap) and the short-term values of the loudness
 * range (Tech 3342: 10 Hz) are taken as each sub-block ends. Gating uses fixed histograms of
 * 0.01 LU bins, so hours of audio take no more memory than seconds. */
#include <stdlib.h>
#include <string.h>

#include "pm_internal.h"

#define PARTS 10              /* parts per sub-block: updates every 10 ms */
#define RING 512              /* part ring: a power of two >= SHORT_PARTS */
#define MOMENTARY_PARTS (4 * PARTS)   /* 400 ms */
#define SHORT_PARTS (30 * PARTS)      /* 3 s */
#define BIN_PER_LU 100        /* histogram resolution: 0.01 LU */
#define HIST_LOW (-70.0)      /* LUFS at the bottom of bin 0: the absolute gate */
#define HIST_BINS 8000        /* up to +10 LUFS; anything louder lands in the top bin */
/* True peak is interpolated in runs of TP_RUN frames on an absolute grid, so every 4x point is
 * computed by the same call shape however the stream is split. A run's points are built from
 * the run and at most the PM_OS_TAPS - 1 samples before it, i.e. the run before (TP_RUN >=
 * PM_OS_TAPS - 1); a multiple of PM_OS_PAD, so the interpolator reads nothing past the run. */
#define TP_RUN 80
_Static_assert(TP_RUN >= PM_OS_TAPS - 1 && TP_RUN % PM_OS_PAD == 0, "TP_RUN too short");
#define TP_HIST (PM_OS_TAPS - 1)
#define HIST_LEN (TP_HIST + TP_RUN - 1 + PM_CHUNK) /* history, pending part-run, new chunk */
/* Rounding slack of the skip test: the float FIR may exceed the exact bound by a few ulps. */
#define TP_SLACK 1.00001f

/* Blocks above the absolute gate: count and summed energy per loudness bin. The energy sums
 * are exact; only a block within 0.01 LU of a relative gate can be classified wrongly. At 10
 * blocks a second the counts last 13 years. */
typedef struct {
    uint32_t count[HIST_BINS];
    double energy[HIST_BINS];
} gate_hist;

struct pm_loudness {
    int channels;
    int step;                     /* frames per 100 ms sub-block */
    double kw[7];                 /* K-weighting: shelf b0 b1 b2 a1 a2, high-pass a1 a2 */
    pm_atomic_double weight[PM_MAX_CHANNELS]; /* G_i, applied as each part ends */
    pm_os_filter os;              /* 4x interpolator for true peak */
    float *hist;                  /* per channel: TP_HIST history + samples of unfinished runs */
    float *scratch;               /* a sanitised copy of one chunk, interleaved */
    float spare[PM_CHUNK];        /* samples of the unused vector lane */
    gate_hist *gi, *gr;           /* gating blocks (integrated), short-term values (range) */

    /* stream state, cleared by reset */
    int64_t frames;               /* frames added since reset */
    int64_t parts;                /* completed parts */
    int pos;                      /* frames into the current sub-block */
    int part;                     /* index of the current part within its sub-block */
    int tp_pending;               /* frames waiting for their true-peak run to complete */
    double kstate[PM_MAX_CHANNELS][6]; /* x[n-1] x[n-2] shelf y[n-1] y[n-2] K y[n-1] y[n-2] */
    double acc[PM_MAX_CHANNELS];  /* sum of K-weighted squares in the current part */
    double ring[RING];            /* sum over channels of G_i * acc_i, per completed part */
    double momentary, short_term; /* weighted mean squares of the latest windows (0: none) */
    double momentary_max, short_term_max;
    double sample_peak[PM_MAX_CHANNELS], true_peak[PM_MAX_CHANNELS]; /* linear */
};

/* Mean square (channel-weighted) <-> LUFS. */
static double lufs(double ms) { return ms > 0.0 ? -0.691 + 10.0 * log10(ms) : -HUGE_VAL; }
static double mean_square(double lufs_value) { return pow(10.0, (lufs_value + 0.691) / 10.0); }

/* BS.1770 K-weighting from its analog prototypes by the bilinear transform, prewarped at f0,
 * with the parameters of the 48 kHz reference filter fitted by B. De Man (as libebur128 and
 * pyloudnorm's "DeMan" filter). The shelf's mid gain Vb = Vh^0.49966... belongs to that fit;
 * the high-pass keeps the reference's unnormalised numerator 1, -2, 1. */
static void design_k_weighting(double *kw, double fs)
{
    const double shelf_f0 = 1681.974450955533, shelf_db = 3.999843853973347;
    const double shelf_q = 0.7071752369554196;
    const double hp_f0 = 38.13547087602444, hp_q = 0.5003270373238773;
    double k = tan(M_PI * shelf_f0 / fs);
    double vh = pow(10.0, shelf_db / 20.0), vb = pow(vh, 0.4996667741545416);
    double a0 = 1.0 + k / shelf_q + k * k;
    kw[0] = (vh + vb * k / shelf_q + k * k) / a0;
    kw[1] = 2.0 * (k * k - vh) / a0;
    kw[2] = (vh - vb * k / shelf_q + k * k) / a0;
    kw[3] = 2.0 * (k * k - 1.0) / a0;
    kw[4] = (1.0 - k / shelf_q + k * k) / a0;
    k = tan(M_PI * hp_f0 / fs);
    a0 = 1.0 + k / hp_q + k * k;
    kw[5] = 2.0 * (k * k - 1.0) / a0;
    kw[6] = (1.0 - k / hp_q + k * k) / a0;
}

int pm_loudness_create(pm_loudness **out, double sample_rate, int channels)
{
    if (!out) return PM_ERR_NULL;
    *out = NULL;
    if (!pm_rate_ok(sample_rate)) return PM_ERR_SAMPLE_RATE;
    if (!pm_channels_ok(channels)) return PM_ERR_CHANNELS;
    pm_loudness *m = calloc(1, sizeof *m);
    if (!m) return PM_ERR_NOMEM;
    m->hist = calloc((size_t)channels * HIST_LEN, sizeof(float));
    m->gi = malloc(sizeof *m->gi);
    m->gr = malloc(sizeof *m->gr);
    m->scratch = malloc((size_t)channels * PM_CHUNK * sizeof(float));
    if (!m->hist || !m->gi || !m->gr || !m->scratch) {
        pm_loudness_destroy(&m);
        return PM_ERR_NOMEM;
    }
    m->channels = channels;
    m->step = (int)lround(sample_rate / 10.0);
    design_k_weighting(m->kw, sample_rate);
    pm_os_filter_init(&m->os, PM_OS_STRICT);
    /* BS.1770 weights: 1.41 for the surrounds of 5.0 (L R C Ls Rs) and 5.1 (L R C LFE Ls Rs),
     * whose LFE is left out. */
    static const double w5[5] = {1.0, 1.0, 1.0, 1.41, 1.41};
    static const double w6[6] = {1.0, 1.0, 1.0, 0.0, 1.41, 1.41};
    for (int c = 0; c < channels; c++)
        pm_store(&m->weight[c], channels == 5 ? w5[c] : channels == 6 ? w6[c] : 1.0);
    pm_loudness_reset(m);
    *out = m;
    return PM_OK;
}

void pm_loudness_destroy(pm_loudness **meter)
{
    if (!meter || !*meter) return;
    pm_loudness *m = *meter;
    free(m->hist);
    free(m->gi);
    free(m->gr);
    free(m->scratch);
    free(m);
    *meter = NULL;
}

void pm_loudness_reset(pm_loudness *m)
{
    if (!m) return;
    memset(m->hist, 0, (size_t)m->channels * HIST_LEN * sizeof(float));
    memset(m->gi, 0, sizeof *m->gi);
    memset(m->gr, 0, sizeof *m->gr);
    m->frames = m->parts = 0;
    m->pos = m->part = m->tp_pending = 0;
    memset(m->kstate, 0, sizeof m->kstate);
    memset(m->acc, 0, sizeof m->acc);
    memset(m->ring, 0, sizeof m->ring);
    m->momentary = m->short_term = m->momentary_max = m->short_term_max = 0.0;
    memset(m->sample_peak, 0, sizeof m->sample_peak);
    memset(m->true_peak, 0, sizeof m->true_peak);
}

int pm_loudness_set_channel_weight(pm_loudness *m, int channel, double weight)
{
    if (!m) return PM_ERR_NULL;
    if (channel < 0 || channel >= m->channels) return PM_ERR_INDEX;
    if (!pm_in_range(weight, 0.0, 10.0)) return PM_ERR_RANGE;
    pm_store(&m->weight[channel], weight);
    return PM_OK;
}

/* ---- per-chunk work ---- */

/* Largest |x| as the bit pattern of a float: non-negative floats order like their bits, and an
 * integer maximum vectorises without fast-math. NaN and Inf come out above any finite value. */
PM_HOT
static uint32_t abs_bits_max(const float *x, int n)
{
    uint32_t m = 0;
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        u &= 0x7fffffffu;
        m = u > m ? u : m;
    }
    return m;
}

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Two channels in the two lanes of a vector: the filter recursion is latency-bound, so one
 * channel per loop would leave the FPU idle half the time. GNU C vectors map to SSE2 / NEON. */
typedef double v2d __attribute__((vector_size(16)));

/* K-weighting of n frames of channels a and b (read with `stride` from src_a, src_b; a lone
 * channel passes itself twice and a scratch lane), copying the samples to xa, xb for the true
 * peak. Squares are added to the sums one by one in stream order, so the result does not depend
 * on how the stream was split. Direct form I: the high-pass reads the shelf's output history,
 * so six values per channel carry all state, and each feedback waits on one multiply-add. */
PM_HOT
static void k_weight(const double *kw, double *st_a, double *st_b, const float *src_a,
                     const float *src_b, int stride, int n, float *xa, float *xb, double *acc_a,
                     double *acc_b)
{
    const v2d b0 = {kw[0], kw[0]}, b1 = {kw[1], kw[1]}, b2 = {kw[2], kw[2]};
    const v2d a1 = {kw[3], kw[3]}, a2 = {kw[4], kw[4]}, c1 = {kw[5], kw[5]}, c2 = {kw[6], kw[6]};
    v2d x1 = {st_a[0], st_b[0]}, x2 = {st_a[1], st_b[1]}, w1 = {st_a[2], st_b[2]};
    v2d w2 = {st_a[3], st_b[3]}, y1 = {st_a[4], st_b[4]}, y2 = {st_a[5], st_b[5]};
    v2d e = {*acc_a, *acc_b};
    for (int i = 0; i < n; i++) {
        float va = src_a[(size_t)i * stride], vb = src_b[(size_t)i * stride];
        xa[i] = va;
        xb[i] = vb;
        v2d x = {va, vb};
        v2d w = (b0 * x + b1 * x1 + b2 * x2 - a2 * w2) - a1 * w1;
        v2d y = (w - 2.0 * w1 + w2 - c2 * y2) - c1 * y1;
        e += y * y;
        x2 = x1;
        x1 = x;
        w2 = w1;
        w1 = w;
        y2 = y1;
        y1 = y;
    }
    const v2d out[6] = {x1, x2, w1, w2, y1, y2};
    for (int k = 0; k < 6; k++) {
        st_a[k] = out[k][0];
        st_b[k] = out[k][1];
    }
    *acc_a = e[0];
    *acc_b = e[1];
}

/* Raises *true_peak with the complete runs in x[0..n) (n a multiple of TP_RUN; TP_HIST
 * samples of history before x). A run is interpolated only if it could raise the peak: no 4x
 * point exceeds l1_max times the largest sample it is built from. */
static void true_peak_runs(const pm_os_filter *f, const float *x, int n, double *true_peak)
{
    float tp = (float)*true_peak;
    float before = bits_to_float(abs_bits_max(x - TP_HIST, TP_HIST));
    for (int s = 0; s < n; s += TP_RUN) {
        float run = bits_to_float(abs_bits_max(x + s, TP_RUN));
        float reach = run > before ? run : before;
        if (reach * f->l1_max * TP_SLACK > tp) tp = pm_os_peak(f, x + s, TP_RUN, tp);
        before = run;
    }
    *true_peak = tp;
}

/* One chunk of n frames, within one part. */
static void add_chunk(pm_loudness *m, const float *src, int n)
{
    const int ch = m->channels;
    /* Rare path: if the worst sample (NaN and Inf count as worst) is not left alone by
     * pm_sanitize, the chunk is sanitised in a copy. */
    float worst = bits_to_float(abs_bits_max(src, n * ch));
    if (pm_sanitize(worst) != worst) {
        for (int i = 0; i < n * ch; i++) m->scratch[i] = pm_sanitize(src[i]);
        src = m->scratch;
    }
    const int pending = m->tp_pending, ready = (pending + n) / TP_RUN * TP_RUN;
    for (int c = 0; c < ch; c += 2) {
        float *xa = m->hist + (size_t)c * HIST_LEN + TP_HIST + pending;
        if (c + 1 < ch)
            k_weight(m->kw, m->kstate[c], m->kstate[c + 1], src + c, src + c + 1, ch, n, xa,
                     xa + HIST_LEN, &m->acc[c], &m->acc[c + 1]);
        else { /* odd one out: the second lane filters it again from zero and is thrown away */
            double st[6] = {0}, acc = 0.0;
            k_weight(m->kw, m->kstate[c], st, src + c, src + c, ch, n, xa, m->spare, &m->acc[c],
                     &acc);
        }
    }
    for (int c = 0; c < ch; c++) {
        float *h = m->hist + (size_t)c * HIST_LEN;
        double peak = bits_to_float(abs_bits_max(h + TP_HIST + pending, n));
        if (peak > m->sample_peak[c]) m->sample_peak[c] = peak;
        true_peak_runs(&m->os, h + TP_HIST, ready, &m->true_peak[c]);
        memmove(h, h + ready, (TP_HIST + pending + n - ready) * sizeof(float));
    }
    m->tp_pending = pending + n - ready;
}

/* ---- 100 ms grid, 10 ms parts ---- */

static void hist_add(gate_hist *h, double ms)
{
    int bin = (int)floor((lufs(ms) - HIST_LOW) * BIN_PER_LU);
    bin = bin < 0 ? 0 : bin >= HIST_BINS ? HIST_BINS - 1 : bin;
    h->count[bin]++;
    h->energy[bin] += ms;
}

/* Frame offset within its sub-block where part k ends: parts differ by at most one frame when
 * step is not a multiple of PARTS, and any PARTS consecutive parts hold exactly step frames. */
static int part_end(const pm_loudness *m, int k) { return (k + 1) * m->step / PARTS; }

/* Mean square of the last `parts` parts (a multiple of PARTS). */
static double window(const pm_loudness *m, int parts)
{
    double sum = 0.0;
    for (int k = 1; k <= parts; k++) sum += m->ring[(m->parts - k) & (RING - 1)];
    return sum / ((double)(parts / PARTS) * m->step);
}

static void end_part(pm_loudness *m)
{
    const double gate = mean_square(HIST_LOW);
    double e = 0.0;
    for (int c = 0; c < m->channels; c++) {
        e += pm_load(&m->weight[c]) * m->acc[c];
        m->acc[c] = 0.0;
    }
    m->ring[m->parts & (RING - 1)] = e;
    m->parts++;
    const int sub_block_ends = m->parts % PARTS == 0;
    if (m->parts >= MOMENTARY_PARTS) {
        double ms = window(m, MOMENTARY_PARTS);
        m->momentary = ms;
        if (ms > m->momentary_max) m->momentary_max = ms;
        if (sub_block_ends && ms > gate) hist_add(m->gi, ms);
    }
    if (m->parts >= SHORT_PARTS) {
        double ms = window(m, SHORT_PARTS);
        m->short_term = ms;
        if (ms > m->short_term_max) m->short_term_max = ms;
        if (sub_block_ends && ms > gate) hist_add(m->gr, ms);
    }
}

int pm_loudness_add(pm_loudness *m, const float *in, int64_t frames)
{
    if (!m || (!in && frames)) return PM_ERR_NULL;
    if (frames < 0) return PM_ERR_FRAMES;
    pm_fpmode fp;
    pm_fpmode_enter(&fp);
    int64_t done = 0;
    while (done < frames) {
        /* chunks never straddle a part boundary */
        const int end = part_end(m, m->part);
        int n = end - m->pos < PM_CHUNK ? end - m->pos : PM_CHUNK;
        if (frames - done < n) n = (int)(frames - done);
        add_chunk(m, in + done * m->channels, n);
        done += n;
        m->pos += n;
        if (m->pos == end) {
            end_part(m);
            if (++m->part == PARTS) m->part = m->pos = 0;
        }
    }
    m->frames += frames;
    pm_fpmode_leave(&fp);
    return PM_OK;
}

/* ---- results: NaN for a null meter or a bad channel, -inf while there is too little signal */

double pm_loudness_momentary(const pm_loudness *m) { return m ? lufs(m->momentary) : NAN; }
double pm_loudness_short_term(const pm_loudness *m) { return m ? lufs(m->short_term) : NAN; }
double pm_loudness_momentary_max(const pm_loudness *m) { return m ? lufs(m->momentary_max) : NAN; }
double pm_loudness_short_term_max(const pm_loudness *m)
{
    return m ? lufs(m->short_term_max) : NAN;
}
int64_t pm_loudness_frames(const pm_loudness *m) { return m ? m->frames : 0; }

/* Mean square a block of h must exceed to pass a relative gate `gate_lu` below the mean of all
 * of h (those already above the absolute gate). */
static double relative_gate(const gate_hist *h, double gate_lu)
{
    uint64_t n = 0;
    double e = 0.0;
    for (int b = 0; b < HIST_BINS; b++) {
        n += h->count[b];
        e += h->energy[b];
    }
    return n ? e / (double)n * pow(10.0, gate_lu / 10.0) : 0.0;
}

/* A bin passes if its mean does: only the one bin the gate cuts through can be misjudged. */
static int passes(const gate_hist *h, int b, double gate)
{
    return h->count[b] && h->energy[b] > gate * h->count[b];
}

/* How many blocks of h pass the gate, and their summed energy. */
static uint64_t gated(const gate_hist *h, double gate, double *energy)
{
    uint64_t n = 0;
    double e = 0.0;
    for (int b = 0; b < HIST_BINS; b++) {
        if (passes(h, b, gate)) {
            n += h->count[b];
            e += h->energy[b];
        }
    }
    *energy = e;
    return n;
}

double pm_loudness_integrated(const pm_loudness *m)
{
    if (!m) return NAN;
    double e;
    uint64_t n = gated(m->gi, relative_gate(m->gi, -10.0), &e);
    return n ? lufs(e / (double)n) : -HUGE_VAL;
}

/* Loudness of the short-term value of rank `rank` (0-based, ascending) among the gated ones,
 * read at its bin's centre. */
static double ranked(const gate_hist *h, double gate, uint64_t rank)
{
    uint64_t seen = 0;
    int b = 0;
    for (; b < HIST_BINS - 1; b++) {
        if (passes(h, b, gate)) seen += h->count[b];
        if (seen > rank) break;
    }
    return HIST_LOW + (b + 0.5) / BIN_PER_LU;
}

/* LRA: 95th minus 10th percentile of the short-term values that pass the gates (nearest rank). */
double pm_loudness_range(const pm_loudness *m)
{
    if (!m) return NAN;
    const double gate = relative_gate(m->gr, -20.0);
    double e;
    uint64_t n = gated(m->gr, gate, &e);
    if (!n) return -HUGE_VAL;
    double low = ranked(m->gr, gate, (uint64_t)llround((double)(n - 1) * 0.10));
    double high = ranked(m->gr, gate, (uint64_t)llround((double)(n - 1) * 0.95));
    return high - low;
}

double pm_loudness_true_peak_dbtp(const pm_loudness *m, int channel)
{
    if (!m || channel < 0 || channel >= m->channels) return NAN;
    /* the 4x points lag the input (interpolator delay, unfinished run): the latest samples
     * count through the sample peak */
    double tp = m->true_peak[channel], sp = m->sample_peak[channel];
    return pm_lin_to_db(tp > sp ? tp : sp);
}

double pm_loudness_sample_peak_dbfs(const pm_loudness *m, int channel)
{
    if (!m || channel < 0 || channel >= m->channels) return NAN;
    return pm_lin_to_db(m->sample_peak[channel]);
}
