/* The live path's C work for the Raspberry Pi estimate (bench/pi_estimate.py builds this for
 * aarch64 and counts the instructions it executes under qemu).
 *
 * Usage: pi_block BLOCKS [FRAMES]   (default 64 frames at 48 kHz, stereo)
 * Same chain as bench/test_bench_core.py's full_chain (4-band EQ, compressor, 4x true-peak
 * limiter kept busy by +10 dB of drive, output meter on), fed music-like material (kick, bass,
 * chords, noise) through pm_chain_process_device exactly as the live callback calls it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pymaster.h"

#define RATE 48000.0
#define CH 2

static float signal_at(long n, unsigned *seed)
{
    double t = n / RATE, beat = fmod(t, 0.5) / 0.5;
    double kick = sin(2 * M_PI * (50 + 80 * exp(-beat * 30)) * t) * exp(-beat * 12);
    double bass = 0.5 * sin(2 * M_PI * 55.0 * t);
    double chord = 0.15 * (sin(2 * M_PI * 220.0 * t) + sin(2 * M_PI * 277.2 * t) +
                           sin(2 * M_PI * 329.6 * t));
    *seed = *seed * 1664525u + 1013904223u;
    double noise = ((*seed >> 8) / 16777216.0 - 0.5) * 0.1;
    return (float)(0.3 * (kick + bass + chord + noise));
}

int main(int argc, char **argv)
{
    long blocks = argc > 1 ? atol(argv[1]) : 100;
    int frames = argc > 2 ? atoi(argv[2]) : 64;
    pm_chain *chain = NULL;
    if (pm_chain_create(&chain, RATE, CH, 16, 5.0, 0) != PM_OK) return 1;
    pm_eq *eq = pm_chain_eq(chain);
    pm_eq_set_band(eq, 0, PM_BAND_HIGH_PASS, 25, 0, 0.707, 1);
    pm_eq_set_band(eq, 1, PM_BAND_LOW_SHELF, 120, 1.5, 0.707, 1);
    pm_eq_set_band(eq, 2, PM_BAND_PEAK, 2500, -1.0, 1.0, 1);
    pm_eq_set_band(eq, 3, PM_BAND_HIGH_SHELF, 10000, 1.0, 0.707, 1);
    pm_compressor_params p;
    pm_compressor_get_params(pm_chain_compressor(chain), &p);
    p.threshold_db = -20;
    pm_compressor_set_params(pm_chain_compressor(chain), &p);
    pm_chain_set_input_gain_db(chain, 10.0);

    /* One second of material made up front: its cost is setup, which the estimate cancels by
     * differencing two run lengths; per block only a cheap copy remains. */
    const long table_len = (long)RATE;
    float *table = malloc(sizeof(float) * table_len);
    unsigned seed = 1;
    for (long n = 0; n < table_len; n++) table[n] = signal_at(n, &seed);
    float *in = malloc(sizeof(float) * frames * CH), *out = malloc(sizeof(float) * frames * CH);
    const int map[CH] = {0, 1};
    double checksum = 0;
    long pos = 0;
    for (long b = 0; b < blocks; b++) {
        for (int i = 0; i < frames; i++, pos = pos + 1 < table_len ? pos + 1 : 0) {
            in[i * CH] = table[pos];
            in[i * CH + 1] = 0.9f * table[pos];
        }
        if (pm_chain_process_device(chain, in, CH, map, out, CH, map, NULL, frames) != PM_OK)
            return 2;
        checksum += out[0];
    }
    printf("%ld blocks of %d frames, checksum %.6f\n", blocks, frames, checksum);
    free(table);
    free(in);
    free(out);
    pm_chain_destroy(&chain);
    return 0;
}
