"""CPU of the live path per callback at 48 kHz stereo: the audio callback exactly as PortAudio
calls it (``pm_live_callback``: raw pointers, status flags, one pm_chain_process_device call with
a monitor feed), on preallocated device buffers. Goal: <= 5% of the block period.

PortAudio calls the C function directly; here it is called from Python, which adds one
Python->C call per block, so the figure overstates the real cost a little.
"""
import numpy as np
import pytest
from signals import programme

import pymaster
from pymaster._buffers import float_ptr
from pymaster._native import lib
from pymaster.devices import parse_device_config
from pymaster.live import EQ_BANDS, LiveCallback, Routing, apply_preset
from pymaster.presets import load_preset

FS = 48000
BLOCKS = 200


def live_fixture(frames, blocks=1):
    """(callback, args, (c_fn, c_args), buffers) for one block: the live callback and its bare
    C call (keep `buffers` alive while calling)."""
    cfg = parse_device_config({"host_api": "JACK", "device": "system", "sample_rate": FS,
                               "block_size": frames, "inputs": [1, 2], "outputs": [1, 2],
                               "monitor": {"outputs": [3, 4], "trim_db": -6.0}})
    chain = pymaster.Chain(FS, 2, eq_bands=EQ_BANDS)
    apply_preset(chain, load_preset("streaming"))
    chain.input_gain_db = 10.0  # keep the limiter busy
    chain.set_monitor(-6.0)
    routing = Routing.build(cfg, 2, 4)
    callback = LiveCallback(chain, routing)
    dev_in = np.ascontiguousarray(programme(1.0, FS, level_db=-6.0)[:frames * blocks])
    dev_out = np.zeros((frames * blocks, 4), np.float32)
    pin, pout = float_ptr(dev_in), float_ptr(dev_out)
    args = (pin, pout, frames, 0)
    c_args = (chain._ptr, pin, 2, routing.in_map, pout, 4, routing.out_map,
              routing.monitor_map, frames)
    return callback, args, (lib.pm_chain_process_device, c_args), (dev_in, dev_out)


@pytest.mark.parametrize("block", [32, 64, 128])
def test_live_callback_cpu(benchmark, report_figure, block):
    callback = live_fixture(block)[0]
    src = np.ascontiguousarray(programme(BLOCKS * block / FS + 0.1, FS, level_db=-6.0))
    dev_out = np.zeros((BLOCKS * block, 4), np.float32)
    fn = callback
    calls = [(float_ptr(src[i * block:]), float_ptr(dev_out[i * block:]), block, 0)
             for i in range(BLOCKS)]

    def run():
        for args in calls:
            fn(*args)

    benchmark(run)
    per_block = benchmark.stats.stats.median / BLOCKS
    period = block / FS
    print(f"\nlive callback block {block}: {per_block * 1e6:.1f} us per callback, "
          f"period {period * 1e6:.0f} us")
    report_figure(f"live callback block {block}: CPU per callback",
                  100 * per_block / period, 5.0, "% of period", higher_is_better=False)
