/* pymaster C core: public API.
 *
 * The single source of truth for the binding: csrc/_build_ffi.py hands cffi the text between
 * the CDEF markers, so everything between them must stay plain declarations (no preprocessor).
 *
 * Conventions: audio is interleaved float32 (frames x channels); `in` and `out` may be the same
 * buffer; process calls never allocate, lock or block. Parameter setters may be called from any
 * thread: they store a target that the audio thread glides to. Functions returning int return
 * PM_OK or a negative pm_error code; pm_strerror() explains it.
 */
#ifndef PYMASTER_H
#define PYMASTER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CDEF-BEGIN */
enum {
    PM_OK = 0,
    PM_ERR_NOMEM = -1,
    PM_ERR_NULL = -2,
    PM_ERR_SAMPLE_RATE = -3,
    PM_ERR_CHANNELS = -4,
    PM_ERR_RANGE = -5,
    PM_ERR_INDEX = -6,
    PM_ERR_FRAMES = -7
};
const char *pm_strerror(int err);

/* Limits shared by every processor. */
enum {
    PM_MAX_CHANNELS = 16,
    PM_MAX_EQ_BANDS = 16
};
/* Accepted sample rates: 8000 .. 384000 Hz. */

/* ---- Equalizer: cascaded RBJ biquads, one set of bands for all channels ---- */
enum {
    PM_BAND_PEAK = 0,
    PM_BAND_LOW_SHELF = 1,
    PM_BAND_HIGH_SHELF = 2,
    PM_BAND_HIGH_PASS = 3,
    PM_BAND_LOW_PASS = 4
};
typedef struct pm_eq pm_eq;
int pm_eq_create(pm_eq **out, double sample_rate, int channels, int bands);
void pm_eq_destroy(pm_eq **eq);
void pm_eq_reset(pm_eq *eq);
/* freq_hz in (0, 0.49 * sample_rate], gain_db in [-24, 24], q in [0.1, 10]. */
int pm_eq_set_band(pm_eq *eq, int band, int type, double freq_hz, double gain_db, double q,
                   int enabled);
int pm_eq_get_band(const pm_eq *eq, int band, int *type, double *freq_hz, double *gain_db,
                   double *q, int *enabled);
int pm_eq_bands(const pm_eq *eq);
int pm_eq_process(pm_eq *eq, const float *in, float *out, int64_t frames);

/* ---- Compressor: feed-forward, soft knee, peak or RMS detector ---- */
enum {
    PM_DETECT_PEAK = 0,
    PM_DETECT_RMS = 1
};
typedef struct pm_compressor pm_compressor;
typedef struct {
    double threshold_db;   /* [-60, 0] */
    double ratio;          /* [1, 100] */
    double knee_db;        /* [0, 24] */
    double attack_ms;      /* [0.01, 500] */
    double release_ms;     /* [1, 5000] */
    double makeup_db;      /* [-24, 24] */
    double stereo_link;    /* [0, 1]: 0 independent channels, 1 fully linked */
    double mix;            /* [0, 1]: parallel compression, 1 = fully compressed */
    double sidechain_hpf_hz; /* 0 = off, else [10, 1000]: keeps bass from pumping the mix */
    int detector;          /* PM_DETECT_PEAK or PM_DETECT_RMS */
} pm_compressor_params;
int pm_compressor_create(pm_compressor **out, double sample_rate, int channels);
void pm_compressor_destroy(pm_compressor **comp);
void pm_compressor_reset(pm_compressor *comp);
int pm_compressor_set_params(pm_compressor *comp, const pm_compressor_params *params);
void pm_compressor_get_params(const pm_compressor *comp, pm_compressor_params *params);
int pm_compressor_process(pm_compressor *comp, const float *in, float *out, int64_t frames);
/* Gain reduction in dB (>= 0): current value, and the maximum since the last read of it. */
double pm_compressor_gain_reduction_db(const pm_compressor *comp);
double pm_compressor_take_max_gain_reduction_db(pm_compressor *comp);

/* ---- True peak: 4x polyphase interpolation, streaming, per-channel maximum ---- */
typedef struct pm_truepeak pm_truepeak;
int pm_truepeak_create(pm_truepeak **out, int channels);
void pm_truepeak_destroy(pm_truepeak **tp);
void pm_truepeak_reset(pm_truepeak *tp);
int pm_truepeak_process(pm_truepeak *tp, const float *in, int64_t frames);
/* Flushes the interpolator tail into the peaks; later process calls start a new signal. */
void pm_truepeak_flush(pm_truepeak *tp);
/* Linear peak (not dB) of one channel so far. */
double pm_truepeak_get(const pm_truepeak *tp, int channel);

/* ---- Lookahead true-peak limiter ---- */
typedef struct pm_limiter pm_limiter;
/* lookahead_ms in [2, 20]: fixed for the object's life (it is the latency), at least 44 samples
 * (the detector's interpolator delay and guard): more than 2 ms below 22 kHz. */
int pm_limiter_create(pm_limiter **out, double sample_rate, int channels, double lookahead_ms);
void pm_limiter_destroy(pm_limiter **lim);
void pm_limiter_reset(pm_limiter *lim);
/* ceiling_dbtp in [-20, 0]; release_ms in [1, 2000]; auto_release 0/1 (program dependent). */
int pm_limiter_set_ceiling_dbtp(pm_limiter *lim, double ceiling_dbtp);
int pm_limiter_set_release_ms(pm_limiter *lim, double release_ms);
int pm_limiter_set_auto_release(pm_limiter *lim, int enabled);
/* Glides the gain to unity (output = input delayed by the latency, bit-exact once settled). */
int pm_limiter_set_bypass(pm_limiter *lim, int bypass);
double pm_limiter_get_ceiling_dbtp(const pm_limiter *lim);
double pm_limiter_get_release_ms(const pm_limiter *lim);
int pm_limiter_get_auto_release(const pm_limiter *lim);
int pm_limiter_get_bypass(const pm_limiter *lim);
double pm_limiter_get_lookahead_ms(const pm_limiter *lim);
int pm_limiter_latency(const pm_limiter *lim);
int pm_limiter_process(pm_limiter *lim, const float *in, float *out, int64_t frames);
double pm_limiter_gain_reduction_db(const pm_limiter *lim);
double pm_limiter_take_max_gain_reduction_db(pm_limiter *lim);

/* ---- Loudness meter: ITU-R BS.1770-4 / EBU R128 / EBU Tech 3342 ---- */
typedef struct pm_loudness pm_loudness;
int pm_loudness_create(pm_loudness **out, double sample_rate, int channels);
void pm_loudness_destroy(pm_loudness **meter);
void pm_loudness_reset(pm_loudness *meter);
/* Channel weight G_i of BS.1770 (default 1.0; 1.41 for surrounds; 0 excludes, e.g. LFE). */
int pm_loudness_set_channel_weight(pm_loudness *meter, int channel, double weight);
int pm_loudness_add(pm_loudness *meter, const float *in, int64_t frames);
/* Results in LUFS / LU / dB; -HUGE_VAL (-inf) when there is not enough signal yet. */
double pm_loudness_momentary(const pm_loudness *meter);
double pm_loudness_short_term(const pm_loudness *meter);
double pm_loudness_momentary_max(const pm_loudness *meter);
double pm_loudness_short_term_max(const pm_loudness *meter);
double pm_loudness_integrated(const pm_loudness *meter);
double pm_loudness_range(const pm_loudness *meter);
double pm_loudness_true_peak_dbtp(const pm_loudness *meter, int channel);
double pm_loudness_sample_peak_dbfs(const pm_loudness *meter, int channel);
int64_t pm_loudness_frames(const pm_loudness *meter);

/* ---- TPDF dither and quantisation to 16/24 bits (0 = off, pass through) ---- */
typedef struct pm_dither pm_dither;
int pm_dither_create(pm_dither **out, int channels, int bits, uint64_t seed);
void pm_dither_destroy(pm_dither **d);
void pm_dither_reset(pm_dither *d);
int pm_dither_set_bits(pm_dither *d, int bits);
int pm_dither_get_bits(const pm_dither *d);
int pm_dither_process(pm_dither *d, const float *in, float *out, int64_t frames);

/* ---- Chain: input gain -> EQ -> compressor -> limiter -> dither, one call per block ---- */
enum {
    PM_STAGE_EQ = 0,
    PM_STAGE_COMPRESSOR = 1,
    PM_STAGE_LIMITER = 2,
    PM_STAGE_DITHER = 3,
    PM_STAGE_COUNT = 4
};
typedef struct pm_chain pm_chain;
typedef struct {
    uint64_t frames;            /* frames processed since create/reset */
    double momentary_lufs;      /* output loudness, -inf until enough signal */
    double short_term_lufs;
    double integrated_lufs;
    double momentary_max_lufs;
    double short_term_max_lufs;
    double loudness_range_lu;
    double true_peak_dbtp;      /* output, max over channels since reset */
    double sample_peak_dbfs;
    double compressor_gr_db;    /* current gain reduction, >= 0 */
    double limiter_gr_db;
    double compressor_gr_max_db; /* maximum since reset */
    double limiter_gr_max_db;
} pm_meter_snapshot;
int pm_chain_create(pm_chain **out, double sample_rate, int channels, int eq_bands,
                    double lookahead_ms, uint64_t dither_seed);
void pm_chain_destroy(pm_chain **chain);
void pm_chain_reset(pm_chain *chain);
/* Borrowed stage objects: set their parameters through their own setters; never process them. */
pm_eq *pm_chain_eq(pm_chain *chain);
pm_compressor *pm_chain_compressor(pm_chain *chain);
pm_limiter *pm_chain_limiter(pm_chain *chain);
pm_dither *pm_chain_dither(pm_chain *chain);
int pm_chain_set_input_gain_db(pm_chain *chain, double gain_db);   /* [-24, 24] */
double pm_chain_get_input_gain_db(const pm_chain *chain);
int pm_chain_set_bypass(pm_chain *chain, int stage, int bypass);
int pm_chain_get_bypass(const pm_chain *chain, int stage);
/* Output trim after the limiter, [-48, 0] dB (never above 0: the ceiling stays a promise). */
int pm_chain_set_output_gain_db(pm_chain *chain, double gain_db);
double pm_chain_get_output_gain_db(const pm_chain *chain);
/* Monitor feed (live): trim [-60, 12] dB, dim (-20 dB) and mono check, all gliding. */
int pm_chain_set_monitor(pm_chain *chain, double trim_db, int dim, int mono);
void pm_chain_get_monitor(const pm_chain *chain, double *trim_db, int *dim, int *mono);
/* Output metering costs a 4x oversampler; offline renders may measure elsewhere. Default on. */
int pm_chain_set_metering(pm_chain *chain, int enabled);
int pm_chain_latency(const pm_chain *chain);
int pm_chain_channels(const pm_chain *chain);
int pm_chain_process(pm_chain *chain, const float *in, float *out, int64_t frames);
/* Live I/O in one call: the chain's channel k is read from device input channel in_map[k] of
 * an interleaved buffer in_channels wide; the master goes to device output channel out_map[k]
 * (out_channels wide, unmapped channels get silence) and, when monitor_map is not NULL, also to
 * monitor_map[k] through the monitor trim/dim/mono. Maps have `channels` entries. */
int pm_chain_process_device(pm_chain *chain, const float *dev_in, int in_channels,
                            const int *in_map, float *dev_out, int out_channels,
                            const int *out_map, const int *monitor_map, int64_t frames);
/* ---- Live: the audio callback itself, in C, so the audio thread never enters Python ---- */
enum {
    PM_LIVE_BLOCKS = 0,          /* callbacks run */
    PM_LIVE_INPUT_UNDERFLOW = 1, /* PortAudio's status bits 1, 2, 4, 8: xruns */
    PM_LIVE_INPUT_OVERFLOW = 2,
    PM_LIVE_OUTPUT_UNDERFLOW = 3,
    PM_LIVE_OUTPUT_OVERFLOW = 4,
    PM_LIVE_ERRORS = 5,          /* failed chain calls */
    PM_LIVE_WORST_NS = 6,        /* the longest callback so far, ns (a maximum, not a count) */
    PM_LIVE_COUNTERS = 7
};
typedef struct pm_live pm_live;
/* Binds a chain (which must outlive it) to a device's channel layout; the maps are copied. */
int pm_live_create(pm_live **out, pm_chain *chain, int in_channels, const int *in_map,
                   int out_channels, const int *out_map, const int *monitor_map);
void pm_live_destroy(pm_live **live);
/* PortAudio's PaStreamCallback, with user = the pm_live: one chain call, counters, continue. */
int pm_live_callback(const void *input, void *output, unsigned long frames,
                     const void *time_info, unsigned long status, void *user);
/* Lock-free copy of the PM_LIVE_COUNTERS counters. */
void pm_live_counters(const pm_live *live, uint64_t *counts);

/* Largest gain reduction of each stage since the previous call (dB, >= 0); resets both. */
void pm_chain_take_gain_reduction(pm_chain *chain, double *compressor_db, double *limiter_db);
/* Lock-free copy of the meters; callable from any thread while audio runs. */
void pm_chain_meters(const pm_chain *chain, pm_meter_snapshot *snapshot);
/* CDEF-END */

#ifdef __cplusplus
}
#endif
#endif
