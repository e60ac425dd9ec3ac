import threading

import numpy as np
import pytest
from signals import programme, ref_true_peak_db

import pymaster


def mastering_chain(fs=48000, channels=2, **kw):
    chain = pymaster.Chain(fs, channels, eq_bands=4, **kw)
    chain.eq.set_band(0, "high_pass", 25, q=0.707)
    chain.eq.set_band(1, "low_shelf", 120, 1.5, 0.707)
    chain.eq.set_band(2, "peak", 2500, -1.0, 1.0)
    chain.eq.set_band(3, "high_shelf", 10000, 1.0, 0.707)
    chain.compressor.threshold_db = -20
    chain.compressor.ratio = 2
    chain.input_gain_db = 8
    chain.limiter.ceiling_dbtp = -1.0
    return chain


def run_blocks(chain, x, block):
    return np.concatenate([chain.process(x[i:i + block]) for i in range(0, len(x), block)])


def test_master_holds_ceiling_and_is_louder():
    x = programme(6.0, level_db=-6.0)
    chain = mastering_chain()
    y = chain.render(x)
    assert y.shape == x.shape
    assert ref_true_peak_db(y) <= -1.0 + 0.02
    m = chain.meters()
    assert m.limiter_gr_max_db > 1.0 and m.compressor_gr_max_db > 0.5
    assert np.sqrt(np.mean(y**2)) > 1.5 * np.sqrt(np.mean(x**2))


def test_block_size_invariance_full_chain():
    x = programme(3.0, level_db=-3.0)
    whole = run_blocks(mastering_chain(), x, len(x))
    for block in (1, 7, 64, 4096):
        np.testing.assert_array_equal(run_blocks(mastering_chain(), x, block), whole,
                                      err_msg=f"block {block}")


def test_zero_frame_blocks_are_fine():
    chain = mastering_chain()
    out = chain.process(np.zeros((0, 2), np.float32))
    assert out.shape == (0, 2)


def test_all_bypassed_is_bit_exact_and_aligned():
    x = programme(2.0, level_db=3.0)  # would be limited if the limiter were active
    chain = mastering_chain()
    chain.input_gain_db = 0.0
    for stage in ("eq", "compressor", "limiter", "dither"):
        chain.set_bypass(stage)
    np.testing.assert_array_equal(chain.render(x), x)


def test_bypass_toggle_while_running_is_click_free():
    fs = 48000
    t = np.arange(fs) / fs
    x = np.repeat((0.3 * np.sin(2 * np.pi * 200 * t))[:, None], 2, 1).astype(np.float32)
    chain = pymaster.Chain(fs, 2, eq_bands=1)
    chain.eq.set_band(0, "peak", 200, 12.0, 1.0)
    chain.set_bypass("limiter")
    first = chain.process(x[:fs // 2])
    chain.set_bypass("eq")
    second = chain.process(x[fs // 2:])
    y = np.concatenate([first, second])[:, 0]
    # sample-to-sample change stays within what the sine itself does (plus a small margin)
    max_slope = 2 * np.pi * 200 / fs * 0.3 * 10 ** (12 / 20)
    assert np.abs(np.diff(y)).max() < 1.1 * max_slope


def test_latency_and_render_alignment():
    chain = pymaster.Chain(48000, 2, lookahead_ms=5.0)
    assert chain.latency_samples == 240
    x = np.zeros((4800, 2), np.float32)
    x[1000] = 0.5
    y = chain.render(x)
    assert np.argmax(np.abs(y[:, 0])) == 1000


def test_dither_in_chain_quantises_output():
    chain = mastering_chain()
    chain.dither_bits = 16
    y = chain.render(programme(1.0))
    steps = y.astype(np.float64) * 32768
    np.testing.assert_array_equal(steps, np.round(steps))


def test_nan_inf_in_finite_out():
    chain = mastering_chain()
    x = programme(1.0)
    x[1000:1010] = np.nan
    x[2000, 0] = np.inf
    x[3000, 1] = -np.inf
    y = chain.render(x)
    assert np.isfinite(y).all()
    assert np.isfinite(chain.render(programme(1.0))).all()


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_rates_and_channel_counts(fs, channels):
    x = programme(1.0, fs, channels, level_db=0.0)
    if channels == 1:
        x = x[:, 0]
    chain = mastering_chain(fs, channels)
    y = chain.render(x)
    assert y.shape == x.shape and np.isfinite(y).all()
    assert ref_true_peak_db(y) <= -1.0 + 0.02


def test_meters_snapshot_from_another_thread():
    chain = mastering_chain()
    x = programme(4.0)
    seen = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            seen.append(chain.meters())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        run_blocks(chain, x, 512)
    finally:
        stop.set()
        thread.join()
    final = chain.meters()
    assert final.frames == len(x)
    assert -30 < final.short_term_lufs < 0 and -30 < final.integrated_lufs < 0
    assert final.true_peak_dbtp <= -1.0 + 0.05
    assert all(s.frames <= len(x) for s in seen)


def test_reset_gives_fresh_output():
    x = programme(1.0)
    chain = mastering_chain()
    a = chain.render(x)
    chain.reset()
    np.testing.assert_array_equal(chain.render(x), a)


def test_stages_belong_to_the_chain():
    chain = mastering_chain()
    with pytest.raises(RuntimeError, match="Chain"):
        chain.limiter.process(np.zeros((10, 2), np.float32))
    with pytest.raises(ValueError, match="stage"):
        chain.set_bypass("reverb")
    with pytest.raises(ValueError, match="input_gain_db"):
        chain.input_gain_db = 40
    assert "Limiter(" in repr(chain)


def test_output_trim_is_exact_after_glide():
    x = programme(2.0, level_db=-20.0)  # quiet: nothing else changes the level
    chain = pymaster.Chain(48000, 2, eq_bands=0)
    chain.set_bypass("compressor")
    chain.output_gain_db = -6.0
    y = chain.render(x)
    np.testing.assert_allclose(y, x * np.float32(10 ** (-6 / 20)), rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="output_gain_db"):
        chain.output_gain_db = 3.0


def test_process_device_routes_channels_and_feeds_monitor():
    from pymaster._buffers import float_ptr
    from pymaster._native import ffi, lib
    frames = 4800
    rng = np.random.default_rng(4)
    dev_in = (rng.standard_normal((frames, 4)) * 0.05).astype(np.float32)
    dev_out = np.full((frames, 6), 9.0, np.float32)
    chain = pymaster.Chain(48000, 2, eq_bands=0)
    chain.set_bypass("compressor")
    chain.set_bypass("limiter")
    chain.set_monitor(trim_db=-6.0, mono=True)
    in_map, out_map, mon_map = (ffi.new("int[]", m) for m in ([2, 3], [0, 1], [4, 5]))
    code = lib.pm_chain_process_device(chain._ptr, float_ptr(dev_in), 4, in_map,
                                       float_ptr(dev_out), 6, out_map, mon_map, frames)
    assert code == 0
    lat = chain.latency_samples
    np.testing.assert_array_equal(dev_out[lat:, 0:2], dev_in[:-lat, 2:4])
    assert not dev_out[:, 2:4].any()  # unmapped channels are silent
    mono = dev_in[:-lat, 2:4].mean(axis=1) * 10 ** (-6 / 20)
    np.testing.assert_allclose(dev_out[lat:, 4], mono, atol=1e-6)
    np.testing.assert_allclose(dev_out[lat:, 5], mono, atol=1e-6)
    bad = ffi.new("int[]", [2, 7])
    assert lib.pm_chain_process_device(chain._ptr, float_ptr(dev_in), 4, bad, float_ptr(dev_out),
                                       6, out_map, ffi.NULL, frames) == lib.PM_ERR_INDEX


def test_take_max_gain_reduction_per_window():
    chain = mastering_chain()
    x = programme(2.0, level_db=0.0)
    chain.process(x[:48000])
    comp_db, lim_db = chain.take_max_gain_reduction_db()
    assert lim_db > 1.0 and comp_db > 0.5
    assert chain.take_max_gain_reduction_db() == (0.0, 0.0)  # taken: starts anew
    chain.process(np.zeros((4800, 2), np.float32))
    assert chain.take_max_gain_reduction_db()[1] < lim_db
    with pytest.raises(RuntimeError, match="take_max_gain_reduction_db"):
        chain.limiter.take_max_gain_reduction_db()
