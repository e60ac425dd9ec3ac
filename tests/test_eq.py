import numpy as np
import pytest

import pymaster


def sine_gain_db(eq, freq, fs, channels=1, seconds=0.5):
    """Steady-state gain of `eq` at `freq`, measured on a sine (RMS ratio after settling)."""
    t = np.arange(int(fs * seconds)) / fs
    x = np.sin(2 * np.pi * freq * t).astype(np.float32)
    x = np.repeat(x[:, None], channels, axis=1)
    y = eq.process(x)
    half = len(t) // 2
    return 20 * np.log10(np.sqrt(np.mean(y[half:, 0] ** 2)) / np.sqrt(np.mean(x[half:, 0] ** 2)))


@pytest.mark.parametrize("fs", [44100, 48000, 96000, 192000])
def test_peak_band_hits_its_gain_at_centre(fs):
    eq = pymaster.Equalizer(fs, 1, bands=[dict(type="peak", freq_hz=1000, gain_db=6, q=1.0)])
    assert sine_gain_db(eq, 1000, fs) == pytest.approx(6.0, abs=0.05)
    eq.reset()
    assert sine_gain_db(eq, 50, fs) == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("fs", [44100, 192000])
def test_shelves_reach_their_gain(fs):
    low = pymaster.Equalizer(fs, 1, bands=[dict(type="low_shelf", freq_hz=200, gain_db=-4)])
    assert sine_gain_db(low, 20, fs, seconds=1.0) == pytest.approx(-4.0, abs=0.1)
    assert sine_gain_db(low, 10000, fs) == pytest.approx(0.0, abs=0.05)
    high = pymaster.Equalizer(fs, 1, bands=[dict(type="high_shelf", freq_hz=8000, gain_db=3)])
    assert sine_gain_db(high, 20000, fs) == pytest.approx(3.0, abs=0.2)
    assert sine_gain_db(high, 100, fs) == pytest.approx(0.0, abs=0.05)


def test_pass_filters_are_3db_down_at_corner():
    fs = 48000
    hp = pymaster.Equalizer(fs, 1, bands=[dict(type="high_pass", freq_hz=30, q=0.7071)])
    assert sine_gain_db(hp, 30, fs, seconds=2.0) == pytest.approx(-3.01, abs=0.1)
    assert sine_gain_db(hp, 8, fs, seconds=2.0) < -20
    lp = pymaster.Equalizer(fs, 1, bands=[dict(type="low_pass", freq_hz=5000, q=0.7071)])
    assert sine_gain_db(lp, 5000, fs) == pytest.approx(-3.01, abs=0.1)


def test_disabled_and_zero_gain_bands_are_bit_exact():
    x = np.random.default_rng(0).standard_normal((5000, 2)).astype(np.float32)
    eq = pymaster.Equalizer(48000, 2, bands=[dict(type="peak", gain_db=0.0),
                                             dict(type="low_shelf", gain_db=5, enabled=False)])
    np.testing.assert_array_equal(eq.process(x), x)


def test_block_size_invariance():
    x = np.random.default_rng(1).standard_normal((20000, 2)).astype(np.float32)

    def run(block):
        eq = pymaster.Equalizer(48000, 2, bands=[dict(type="peak", freq_hz=500, gain_db=3)])
        out = []
        for i in range(0, len(x), block):
            out.append(eq.process(x[i:i + block]))
        return np.concatenate(out)

    whole = run(len(x))
    for block in (1, 7, 64, 4096):
        np.testing.assert_array_equal(run(block), whole, err_msg=f"block {block}")


def test_gain_change_glides_without_a_step():
    fs = 48000
    eq = pymaster.Equalizer(fs, 1, bands=[dict(type="peak", freq_hz=1000, gain_db=0, q=1)])
    t = np.arange(fs) / fs
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    first = eq.process(x[:fs // 2])
    eq.set_band(0, type="peak", freq_hz=1000, gain_db=12, q=1)  # +12 dB at once
    second = eq.process(x[fs // 2:])
    y = np.concatenate([first, second])
    # envelope per 1 ms: it ramps up over tens of ms, no jump of more than ~1 dB per ms
    env = np.abs(y).reshape(-1, 48).max(axis=1)
    steps = np.diff(20 * np.log10(env[400:]))
    assert steps.max() < 1.0
    assert 20 * np.log10(env[-1] / env[499]) == pytest.approx(12, abs=0.2)


def test_nan_inf_do_not_poison_state():
    eq = pymaster.Equalizer(48000, 2, bands=[dict(type="low_shelf", freq_hz=100, gain_db=6)])
    x = np.zeros((1000, 2), np.float32)
    x[10] = np.nan
    x[20] = np.inf
    assert np.isfinite(eq.process(x)).all()
    y = eq.process(np.ones((1000, 2), np.float32))
    assert np.isfinite(y).all() and y[-1, 0] == pytest.approx(10 ** (6 / 20), rel=0.05)


def test_validation_and_repr():
    with pytest.raises(ValueError, match="freq_hz"):
        pymaster.Equalizer(48000, 2, bands=[dict(freq_hz=30000)])
    with pytest.raises(ValueError, match="gain_db.*-24..24"):
        pymaster.Equalizer(48000, 2, bands=[dict(gain_db=30)])
    with pytest.raises(ValueError, match="band type"):
        pymaster.Equalizer(48000, 2, bands=[dict(type="notch")])
    eq = pymaster.Equalizer(48000, 2, bands=2)
    with pytest.raises(IndexError):
        eq.set_band(5)
    eq.set_band(1, "high_shelf", 9000, 1.5, 0.7)
    assert eq.band(1) == {"type": "high_shelf", "freq_hz": 9000, "gain_db": 1.5, "q": 0.7,
                          "enabled": True}
    assert "high_shelf 9000 Hz +1.5 dB" in repr(eq)


def test_band_type_change_fades_without_a_click():
    fs = 48000
    eq = pymaster.Equalizer(fs, 1, bands=[dict(type="low_shelf", freq_hz=200, gain_db=9, q=0.7)])
    t = np.arange(2 * fs) / fs
    x = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    first = eq.process(x[:fs // 2])
    eq.set_band(0, "peak", 200, -9.0, 0.7)  # another type: an 18 dB step if switched at once
    y = np.concatenate([first, eq.process(x[fs // 2:])])
    # curvature (second difference) stays that of a smoothly changing sine: no discontinuity
    bend = np.abs(np.diff(y, 2))
    sine_bend = (2 * np.pi * 150 / fs) ** 2 * np.abs(y).max()
    assert bend[fs // 2 - 100:].max() < 1.5 * sine_bend
    settled = y[-4800:]  # and it does arrive: about -9 dB at 150 Hz
    assert 20 * np.log10(np.abs(settled).max() / 0.3) < -7.0
