"""CPU budgets of the C core at 48 kHz stereo.

Per block: the full chain (4-band EQ, compressor, 4x true-peak limiter, output meter) must use
at most 1% of the block period. Offline: 64k-frame blocks, goal >= 1500x real time on one core.
Meter: goal >= 4500x real time (pyloudnorm's speed is printed beside it).
Limiter on full-band noise at +20 dB (its detector's worst case: every 4x point of every
kernel is interpolated and fitted): goal >= 750x real time, half the offline chain goal.
"""
import time

import numpy as np
import pytest
from signals import programme

import pymaster
from pymaster._buffers import float_ptr
from pymaster._native import lib

FS = 48000


def full_chain():
    chain = pymaster.Chain(FS, 2, eq_bands=4)
    chain.eq.set_band(0, "high_pass", 25)
    chain.eq.set_band(1, "low_shelf", 120, 1.5)
    chain.eq.set_band(2, "peak", 2500, -1.0, 1.0)
    chain.eq.set_band(3, "high_shelf", 10000, 1.0)
    chain.compressor.threshold_db = -20
    chain.input_gain_db = 10.0  # keep the limiter busy
    return chain


@pytest.fixture(scope="module")
def music():
    return programme(20.0, FS, level_db=-6.0)


@pytest.mark.parametrize("block", [32, 64, 128, 256, 1024])
def test_chain_per_block_cpu(benchmark, report_figure, music, block):
    chain = full_chain()
    blocks = 200
    src = np.ascontiguousarray(music[:block * blocks])
    out = np.empty_like(src)
    ptrs = [(float_ptr(src[i * block:]), float_ptr(out[i * block:])) for i in range(blocks)]
    process, handle = lib.pm_chain_process, chain._ptr

    def run():  # the raw C call per block, as the live engine makes it
        for pin, pout in ptrs:
            process(handle, pin, pout, block)

    benchmark(run)
    per_block = benchmark.stats.stats.median / blocks
    period = block / FS
    report_figure(f"chain block {block}: CPU per block", 100 * per_block / period, 1.0,
                  "% of period", higher_is_better=False)


def test_chain_offline_throughput(benchmark, report_figure, music):
    chain = full_chain()
    block = 65536
    out = np.empty_like(music)

    def run():
        for i in range(0, len(music), block):
            chain.process(music[i:i + block], out=out[i:i + block])

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    speed = len(music) / FS / benchmark.stats.stats.median
    report_figure("chain offline 64k blocks", speed, 1500, "x real time")


def test_limiter_worst_case_throughput(benchmark, report_figure):
    noise = (np.random.default_rng(0).standard_normal((5 * FS, 2)) * 3.0).astype(np.float32)
    out = np.empty_like(noise)
    limiter = pymaster.Limiter(FS, 2)
    block = 65536

    def run():
        for i in range(0, len(noise), block):
            limiter.process(noise[i:i + block], out=out[i:i + block])

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    speed = len(noise) / FS / benchmark.stats.stats.median
    report_figure("limiter on full-band noise +20 dB", speed, 750, "x real time")


def test_meter_throughput(benchmark, report_figure, music):
    def run():
        meter = pymaster.LoudnessMeter(FS, 2)
        meter.add(music)
        return meter.integrated_lufs

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    speed = len(music) / FS / benchmark.stats.stats.median
    report_figure("loudness meter", speed, 4500, "x real time")
    try:
        import pyloudnorm
    except ImportError:
        return
    start = time.perf_counter()
    pyloudnorm.Meter(FS).integrated_loudness(music.astype(np.float64))
    print(f"pyloudnorm (integrated only, no true peak): "
          f"{len(music) / FS / (time.perf_counter() - start):,.0f}x real time")
