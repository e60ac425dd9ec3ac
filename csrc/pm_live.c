/* The live audio callback in C: PortAudio calls pm_live_callback on its audio thread, which
 * runs the chain on the device buffers and counts xruns, without the Python interpreter (no
 * GIL to wait for, no allocation, no garbage collector). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pm_internal.h"

struct pm_live {
    pm_chain *chain;
    int in_channels, out_channels, has_monitor;
    int in_map[PM_MAX_CHANNELS], out_map[PM_MAX_CHANNELS], monitor_map[PM_MAX_CHANNELS];
    _Atomic uint64_t counts[PM_LIVE_COUNTERS]; /* written by the audio thread only */
};

int pm_live_create(pm_live **out, pm_chain *chain, int in_channels, const int *in_map,
                   int out_channels, const int *out_map, const int *monitor_map)
{
    if (!out) return PM_ERR_NULL;
    *out = NULL;
    if (!chain || !in_map || !out_map) return PM_ERR_NULL;
    const int ch = pm_chain_channels(chain);
    if (in_channels < 1 || out_channels < 1) return PM_ERR_CHANNELS;
    for (int k = 0; k < ch; k++) {
        if (in_map[k] < 0 || in_map[k] >= in_channels || out_map[k] < 0 ||
            out_map[k] >= out_channels ||
            (monitor_map && (monitor_map[k] < 0 || monitor_map[k] >= out_channels)))
            return PM_ERR_INDEX;
    }
    pm_live *l = calloc(1, sizeof *l);
    if (!l) return PM_ERR_NOMEM;
    l->chain = chain;
    l->in_channels = in_channels;
    l->out_channels = out_channels;
    l->has_monitor = monitor_map != NULL;
    memcpy(l->in_map, in_map, (size_t)ch * sizeof(int));
    memcpy(l->out_map, out_map, (size_t)ch * sizeof(int));
    if (monitor_map) memcpy(l->monitor_map, monitor_map, (size_t)ch * sizeof(int));
    for (int i = 0; i < PM_LIVE_COUNTERS; i++) atomic_init(&l->counts[i], 0);
    *out = l;
    return PM_OK;
}

void pm_live_destroy(pm_live **live)
{
    if (!live || !*live) return;
    free(*live);
    *live = NULL;
}

static inline void bump(pm_live *l, int which)
{
    atomic_fetch_add_explicit(&l->counts[which], 1, memory_order_relaxed);
}

static inline uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t); /* a vDSO read: no system call, no lock */
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int pm_live_callback(const void *input, void *output, unsigned long frames,
                     const void *time_info, unsigned long status, void *user)
{
    pm_live *l = user;
    const uint64_t start = now_ns();
    for (int bit = 0; bit < 4; bit++)
        if (status & (1ul << bit)) bump(l, PM_LIVE_INPUT_UNDERFLOW + bit);
    int err = pm_chain_process_device(l->chain, input, l->in_channels, l->in_map, output,
                                      l->out_channels, l->out_map,
                                      l->has_monitor ? l->monitor_map : NULL, (int64_t)frames);
    if (err) {
        bump(l, PM_LIVE_ERRORS);
        memset(output, 0, (size_t)frames * l->out_channels * sizeof(float)); /* silence */
    }
    bump(l, PM_LIVE_BLOCKS);
    /* Only this thread writes the maximum: a plain load and store suffice. */
    const uint64_t took = now_ns() - start;
    if (took > atomic_load_explicit(&l->counts[PM_LIVE_WORST_NS], memory_order_relaxed))
        atomic_store_explicit(&l->counts[PM_LIVE_WORST_NS], took, memory_order_relaxed);
    return 0; /* paContinue */
}

void pm_live_counters(const pm_live *live, uint64_t *counts)
{
    if (!live || !counts) return;
    for (int i = 0; i < PM_LIVE_COUNTERS; i++)
        counts[i] = atomic_load_explicit(&live->counts[i], memory_order_relaxed);
}
