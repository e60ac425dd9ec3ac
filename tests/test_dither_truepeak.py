import numpy as np
import pytest
from signals import ref_true_peak_db

import pymaster


def test_dither_lands_on_16_bit_grid_with_tpdf_noise():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((48000, 2)) * 0.1).astype(np.float32)
    y = pymaster.Dither(2, bits=16, seed=1).process(x)
    steps = y.astype(np.float64) * 32768
    np.testing.assert_array_equal(steps, np.round(steps))
    err = (y.astype(np.float64) - x) * 32768
    assert abs(err.mean()) < 0.02
    assert err.var() == pytest.approx(1 / 12 + 1 / 6, rel=0.05)  # rounding + TPDF (LSB^2)
    assert np.abs(err).max() <= 1.5 + 1e-6


def test_dither_is_seeded_and_24_bit_and_off():
    x = np.random.default_rng(1).uniform(-1, 1, (1000, 2)).astype(np.float32)
    a = pymaster.Dither(2, 24, seed=5).process(x)
    b = pymaster.Dither(2, 24, seed=5).process(x)
    c = pymaster.Dither(2, 24, seed=6).process(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    steps = a.astype(np.float64) * 2**23
    np.testing.assert_array_equal(steps, np.round(steps))
    np.testing.assert_array_equal(pymaster.Dither(2, 0).process(x), x)
    with pytest.raises(ValueError, match="bits"):
        pymaster.Dither(2, bits=12)


def test_dither_clips_to_integer_range():
    x = np.full((100, 1), 1.0, np.float32)
    y = pymaster.Dither(1, 16).process(x)
    assert y.max() <= 32767 / 32768


def test_true_peak_of_fs4_sine_at_45_degrees():
    fs = 48000
    t = np.arange(fs) / fs
    fade = np.clip(np.minimum(t, t[-1] - t) / 0.05, 0, 1)  # no onset transient
    x = (0.5 * fade * np.sin(2 * np.pi * fs / 4 * t + np.pi / 4)).astype(np.float32)
    sample_peak = 20 * np.log10(np.abs(x).max())
    assert pymaster.true_peak_dbtp(x, fs) - sample_peak == pytest.approx(3.01, abs=0.05)


def test_true_peak_matches_16x_reference_on_music(music):
    assert pymaster.true_peak_dbtp(music, 48000) == pytest.approx(ref_true_peak_db(music),
                                                                  abs=0.1)
    assert pymaster.true_peak_dbtp(np.zeros((100, 2), np.float32), 48000) == -np.inf
