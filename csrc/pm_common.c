/* Error strings and the floating-point mode shared by all processors. */
#include "pm_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

const char *pm_strerror(int err)
{
    switch (err) {
    case PM_OK: return "ok";
    case PM_ERR_NOMEM: return "out of memory";
    case PM_ERR_NULL: return "null pointer";
    case PM_ERR_SAMPLE_RATE: return "sample rate out of range (8000..384000 Hz)";
    case PM_ERR_CHANNELS: return "channel count out of range (1..16)";
    case PM_ERR_RANGE: return "parameter value out of range";
    case PM_ERR_INDEX: return "index out of range";
    case PM_ERR_FRAMES: return "negative frame count";
    default: return "unknown error";
    }
}

/* Denormals cost hundreds of cycles each in IIR tails; flushing them is inaudible. */
void pm_fpmode_enter(pm_fpmode *m)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned int csr = _mm_getcsr();
    m->saved = csr;
    _mm_setcsr(csr | 0x8040u); /* FTZ | DAZ */
#elif defined(__aarch64__)
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    m->saved = (unsigned long)fpcr;
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr | (1ull << 24))); /* FZ */
#else
    m->saved = 0;
#endif
}

void pm_fpmode_leave(const pm_fpmode *m)
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr((unsigned int)m->saved);
#elif defined(__aarch64__)
    uint64_t fpcr = m->saved;
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr));
#else
    (void)m;
#endif
}
