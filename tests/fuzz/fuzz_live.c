/* Live routing: pm_live_create and pm_chain_process_device with any channel counts and maps,
 * pm_live_callback with any block size, status bits and float bits. Invariants: the
 * documented error codes; the device output is exactly the master of a reference chain fed the
 * routed input (mapped channels), silence elsewhere, the monitor feed equal to the master at
 * its default settings; counters that count every block, xrun bit and failed call, and a
 * longest-callback time that never shrinks. */
#include "fuzz.h"

#define MAX_DEVICE_CHANNELS 8

static float dev_in[FUZZ_MAX_SAMPLES], dev_out[FUZZ_MAX_SAMPLES];
static float routed[FUZZ_MAX_SAMPLES], master[FUZZ_MAX_SAMPLES];

static void take_map(fuzz_input *in, int *map, int channels, int limit)
{
    for (int k = 0; k < channels; k++) map[k] = take_int(in, 0, limit > 0 ? limit - 1 : 0);
}

static int map_ok(const int *map, int channels, int limit)
{
    for (int k = 0; k < channels; k++)
        if (map[k] < 0 || map[k] >= limit) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    const int ch = take_range(&in, 1, 4);
    const int in_ch = take_int(&in, 1, MAX_DEVICE_CHANNELS);
    const int out_ch = take_int(&in, 1, MAX_DEVICE_CHANNELS);
    int in_map[PM_MAX_CHANNELS], out_map[PM_MAX_CHANNELS], mon_map[PM_MAX_CHANNELS];
    take_map(&in, in_map, ch, in_ch);
    take_map(&in, out_map, ch, out_ch);
    take_map(&in, mon_map, ch, out_ch);
    const int *monitor = take_bool(&in) ? mon_map : NULL;

    pm_chain *ref = NULL, *chain = NULL;
    CHECK(pm_chain_create(&ref, 48000.0, ch, 2, 5.0, 7) == PM_OK);
    CHECK(pm_chain_create(&chain, 48000.0, ch, 2, 5.0, 7) == PM_OK);
    pm_live *live = NULL;
    const int valid_maps = map_ok(in_map, ch, in_ch) && map_ok(out_map, ch, out_ch) &&
                           (!monitor || map_ok(mon_map, ch, out_ch));
    int expect = in_ch < 1 || out_ch < 1 ? PM_ERR_CHANNELS : PM_OK;
    if (!expect && !valid_maps) expect = PM_ERR_INDEX;
    CHECK(pm_live_create(NULL, chain, in_ch, in_map, out_ch, out_map, monitor) == PM_ERR_NULL);
    CHECK(pm_live_create(&live, NULL, in_ch, in_map, out_ch, out_map, monitor) == PM_ERR_NULL);
    CHECK(pm_live_create(&live, chain, in_ch, NULL, out_ch, out_map, monitor) == PM_ERR_NULL);
    CHECK(pm_live_create(&live, chain, in_ch, in_map, out_ch, out_map, monitor) == expect);
    const int direct = pm_chain_process_device(chain, dev_in, in_ch, in_map, dev_out, out_ch,
                                               out_map, monitor, 0);
    CHECK(direct == (expect == PM_OK ? PM_OK : PM_ERR_INDEX));
    if (expect != PM_OK || in_ch > MAX_DEVICE_CHANNELS || out_ch > MAX_DEVICE_CHANNELS) {
        CHECK(expect == PM_OK || live == NULL);
        pm_live_destroy(&live);
        pm_chain_destroy(&ref);
        pm_chain_destroy(&chain);
        return 0;
    }
    uint64_t expected[PM_LIVE_COUNTERS] = {0};
    int monitor_default = 1;
    uint64_t worst_ns = 0;
    while (in.n) {
        switch (take_u8(&in) % 5) {
        case 0: { /* monitor settings glide: the feed is then only checked for finiteness */
            const double trim = take_double(&in, -60.0, 12.0);
            const int dim = take_bool(&in), mono = take_bool(&in);
            monitor_default &= pm_chain_set_monitor(chain, trim, dim, mono) != PM_OK;
            break;
        }
        case 1: { /* a failed call (no input buffer) counts as an error and outputs silence */
            const int frames = take_range(&in, 1, 64);
            memset(dev_out, 0xff, sizeof(float) * frames * out_ch);
            CHECK(pm_live_callback(NULL, dev_out, frames, NULL, 0, live) == 0);
            expected[PM_LIVE_ERRORS]++;
            expected[PM_LIVE_BLOCKS]++;
            for (int i = 0; i < frames * out_ch; i++) CHECK(dev_out[i] == 0.0f);
            break;
        }
        default: {
            const int frames = take_frames(&in) / (in_ch > out_ch ? in_ch : out_ch) * 2;
            const unsigned long status = (unsigned long)take_bits(&in, 8);
            take_audio(&in, dev_in, frames * in_ch);
            for (int i = 0; i < frames; i++)
                for (int k = 0; k < ch; k++) routed[i * ch + k] = dev_in[i * in_ch + in_map[k]];
            CHECK(pm_chain_process(ref, routed, master, frames) == PM_OK);
            CHECK(pm_live_callback(dev_in, dev_out, (unsigned long)frames, NULL, status, live) ==
                  0);
            expected[PM_LIVE_BLOCKS]++;
            for (int bit = 0; bit < 4; bit++)
                expected[PM_LIVE_INPUT_UNDERFLOW + bit] += (status >> bit) & 1;
            CHECK(all_finite(dev_out, frames * out_ch));
            for (int i = 0; i < frames; i++) {
                float want[MAX_DEVICE_CHANNELS] = {0};
                int checked[MAX_DEVICE_CHANNELS] = {0};
                for (int c = 0; c < out_ch; c++) checked[c] = 1;
                for (int k = 0; k < ch; k++) want[out_map[k]] = master[i * ch + k];
                for (int k = 0; monitor && k < ch; k++) {
                    want[mon_map[k]] = master[i * ch + k];
                    checked[mon_map[k]] = monitor_default;
                }
                for (int c = 0; c < out_ch; c++) /* == : the monitor's mix may turn -0 into 0 */
                    if (checked[c]) CHECK(dev_out[i * out_ch + c] == want[c]);
            }
            break;
        }
        }
        uint64_t counts[PM_LIVE_COUNTERS];
        pm_live_counters(live, counts);
        /* the counts exactly; the longest callback (a time) only never shrinks */
        CHECK(memcmp(counts, expected, PM_LIVE_WORST_NS * sizeof *counts) == 0);
        CHECK(counts[PM_LIVE_WORST_NS] >= worst_ns);
        worst_ns = counts[PM_LIVE_WORST_NS];
    }
    CHECK(pm_chain_process_device(chain, dev_in, in_ch, in_map, dev_out, out_ch, out_map,
                                  monitor, -1) == PM_ERR_FRAMES);
    CHECK(pm_chain_process_device(chain, dev_in, 0, in_map, dev_out, out_ch, out_map, monitor,
                                  1) == PM_ERR_INDEX);
    CHECK(pm_chain_process_device(NULL, dev_in, in_ch, in_map, dev_out, out_ch, out_map,
                                  monitor, 1) == PM_ERR_NULL);
    pm_live_counters(NULL, NULL);
    pm_live_counters(live, NULL);
    pm_live_destroy(&live);
    CHECK(live == NULL);
    pm_live_destroy(&live);
    pm_live_destroy(NULL);
    pm_chain_destroy(&ref);
    pm_chain_destroy(&chain);
    return 0;
}
