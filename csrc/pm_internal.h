/* Shared internals of the C core: not part of the public API. */
#ifndef PM_INTERNAL_H
#define PM_INTERNAL_H

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "pymaster.h"

/* Processors work through long buffers in chunks of this many frames so their scratch memory
 * is fixed at create time. */
#define PM_CHUNK 256

#define PM_MIN_RATE 8000.0
#define PM_MAX_RATE 384000.0

/* Hot loops get an AVX2/FMA clone next to the portable one on x86-64 (picked at load time by
 * the dynamic linker); other targets rely on the compiler's auto-vectorisation alone. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && \
    !defined(PM_NATIVE)
#define PM_HOT __attribute__((target_clones("default", "arch=x86-64-v3")))
#else
#define PM_HOT
#endif

static inline int pm_rate_ok(double fs) { return fs >= PM_MIN_RATE && fs <= PM_MAX_RATE; }
static inline int pm_channels_ok(int ch) { return ch >= 1 && ch <= PM_MAX_CHANNELS; }
static inline int pm_in_range(double v, double lo, double hi) { return v >= lo && v <= hi; }

/* max/min that compile to one instruction (fmaxf must honour NaN and becomes a libm call). */
static inline float pm_maxf(float a, float b) { return a > b ? a : b; }
static inline double pm_max(double a, double b) { return a > b ? a : b; }
static inline double pm_min(double a, double b) { return a < b ? a : b; }

static inline double pm_db_to_lin(double db) { return pow(10.0, db / 20.0); }
static inline double pm_lin_to_db(double lin) { return lin > 0.0 ? 20.0 * log10(lin) : -HUGE_VAL; }

/* One-pole coefficient reaching 1 - 1/e of a step in `ms` at rate `fs` (0 ms: jump). */
static inline double pm_time_coef(double ms, double fs)
{
    double n = ms * 0.001 * fs;
    return n < 1e-9 ? 0.0 : exp(-1.0 / n);
}

/* Parameters crossing threads: plain atomics, relaxed (a value, not a handshake). */
typedef _Atomic double pm_atomic_double;
typedef _Atomic int pm_atomic_int;
#define pm_store(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define pm_load(p) atomic_load_explicit((p), memory_order_relaxed)

/* Replaces NaN/Inf by 0 and clamps absurd magnitudes, so no state can be poisoned. */
static inline float pm_sanitize(float v)
{
    const float big = 1.0e4f; /* +80 dBFS: far beyond any sane input */
    if (!(v == v)) return 0.0f;
    if (v > big) return v == INFINITY ? 0.0f : big;
    if (v < -big) return v == -INFINITY ? 0.0f : -big;
    return v;
}

/* Flush-to-zero / denormals-are-zero, scoped to a process call. */
typedef struct { unsigned long saved; } pm_fpmode;
void pm_fpmode_enter(pm_fpmode *m);
void pm_fpmode_leave(const pm_fpmode *m);

/* ---- 4x polyphase interpolators shared by the limiter and the meters ----
 * Each kernel is a windowed sinc, cut off at Nyquist, and all are centred on the same delay so
 * their points line up. The strict one is the test suite's true-peak reference itself
 * (tests/signals.py); the limiter also reads the band edge the way common shorter meters do and
 * keeps the largest reading (see pm_limiter.c). */
typedef enum {
    PM_OS_STRICT,      /* Kaiser beta 12 over +-38 samples: flat to 0.45 fs, images < -110 dB */
    PM_OS_STRICT_CORE, /* its central +-24 samples (the rest weighs 0.15 % rms): the limiter's */
    PM_OS_SCIPY_K12,   /* Kaiser beta 12 over +-10: scipy resample_poly(window=("kaiser", 12)) */
    PM_OS_SCIPY_K5,    /* Kaiser beta 5 over +-10: scipy resample_poly's default window */
    PM_OS_HANN49,      /* Hann over +-6 (49 taps at 4x): libebur128-style BS.1770 meters */
    PM_OS_KERNELS
} pm_os_kernel;
#define PM_OS_DELAY 38                 /* group delay in input samples: the longest half-span */
#define PM_OS_TAPS (2 * PM_OS_DELAY)   /* input samples one 4x point can depend on, at most */
#define PM_OS_NEAR 6                   /* the pairs nearest a point, for the split gain bound */
/* One kernel folded by symmetry: pair j is the two samples j + 1/4 .. j + 3/4 before and after
 * the interval being interpolated. Phase 2/4 is symmetric (mid); phases 1/4 and 3/4 are mirror
 * images, so they share sums and differences: y1 = even * sum + odd * diff, y3 = even * sum -
 * odd * diff. Half the multiplies of the plain polyphase form. */
typedef struct {
    int pairs;                   /* support: +-pairs input samples */
    float mid[PM_OS_DELAY];
    float even[PM_OS_DELAY];
    float odd[PM_OS_DELAY];
    /* worst-case gains (largest sums of |taps| over the phases): |point| <= l1_max * the largest
     * sample it reads, and <= l1_near * the largest of the PM_OS_NEAR pairs nearest it +
     * l1_far * the largest of all */
    float l1_max, l1_near, l1_far;
} pm_os_filter;
void pm_os_filter_init(pm_os_filter *f, pm_os_kernel kernel);
/* x points at sample 0 of a run that has PM_OS_TAPS - 1 valid samples before it. For i in
 * [0, n) writes the points between x[i - PM_OS_DELAY] and the sample after it:
 * y1/y2/y3[i] = signal at time i - PM_OS_DELAY + 1/4, 2/4, 3/4 (phase 0 is x[i - DELAY]).
 * Works in groups of PM_OS_PAD: x must be readable, and y writable, up to n rounded up to
 * PM_OS_PAD (the values past n are junk; those before n never depend on them). */
#define PM_OS_PAD 16
void pm_os_interpolate(const pm_os_filter *restrict f, const float *restrict x, int n,
                       float *restrict y1, float *restrict y2, float *restrict y3);
/* Maximum of floor and |value| over the 4n points of pm_os_interpolate (phase 0 included).
 * Groups of points that cannot exceed the running maximum are not interpolated. */
float pm_os_peak(const pm_os_filter *f, const float *x, int n, float floor);
/* max(m, |x[i]|) over n samples (vectorised). */
float pm_abs_max(const float *x, int n, float m);

#endif
