"""Compressor: static curve, timing, link, sidechain, mix/makeup, detectors, invariants."""
import numpy as np
import pytest

from pymaster._native import created, lib
from pymaster.compressor import Compressor

FS = 48000


def db(x):
    return 20 * np.log10(x)


def constant_level(level_db, frames, channels=None):
    """+a, -a, +a, ...: |x| is constant, so a peak detector sees a steady level."""
    x = (10 ** (level_db / 20) * (-1.0) ** np.arange(frames)).astype(np.float32)
    return x if channels is None else np.repeat(x[:, None], channels, axis=1)


def sine(level_db, frames, freq=1000.0, fs=FS):
    """Peak level level_db; at 1 kHz / 48 kHz a sample lands on every crest."""
    return (10 ** (level_db / 20) * np.sin(2 * np.pi * freq * np.arange(frames) / fs)).astype(
        np.float32)


def gain_db(comp, x):
    """Per-sample gain (dB) the compressor applies to x (x must have no zeros)."""
    return db(np.abs(comp.process(x)) / np.abs(x))


def rms_db(x):
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


def hard_knee_out(level_db, threshold_db, ratio):
    return threshold_db + (level_db - threshold_db) / ratio


# ---- static curve ----

@pytest.mark.parametrize("ratio", [2, 4, 10])
def test_static_curve_rms_detector_sine(ratio):
    comp = Compressor(FS, 1, threshold_db=-30, ratio=ratio, knee_db=0, attack_ms=5,
                      release_ms=50, detector="rms")
    x = sine(-6, 2 * FS)
    y = comp.process(x)
    tail = slice(-FS // 2, None)
    expected = hard_knee_out(rms_db(x[tail]), -30, ratio)
    assert abs(rms_db(y[tail]) - expected) < 0.1


@pytest.mark.parametrize("ratio", [2, 4, 10])
def test_static_curve_peak_detector_sine(ratio):
    # instant attack and slow release: the gain holds the crest's static value
    comp = Compressor(FS, 1, threshold_db=-30, ratio=ratio, knee_db=0, attack_ms=0.01,
                      release_ms=5000)
    x = sine(-6, 2 * FS)
    y = comp.process(x)
    peak_out = db(np.max(np.abs(y[-FS // 2:])))
    assert abs(peak_out - hard_knee_out(-6, -30, ratio)) < 0.1


@pytest.mark.parametrize("detector", ["peak", "rms"])
def test_below_knee_is_exact_unity(detector):
    comp = Compressor(FS, 2, threshold_db=-20, ratio=8, knee_db=6, detector=detector)
    x = np.stack([sine(-23.5, FS), sine(-30, FS, 440)], axis=1)
    y = comp.process(x)
    assert np.array_equal(y, x)
    assert comp.take_max_gain_reduction_db() == 0.0


@pytest.mark.parametrize("ratio, knee", [(4, 12), (2, 6), (10, 24)])
def test_soft_knee_matches_quadratic_theory(ratio, knee):
    slope = 1 / ratio - 1
    for over, expected in [(0.0, slope * knee / 8),                       # at threshold
                           (knee / 4, slope * (3 * knee / 4) ** 2 / (2 * knee)),  # inside
                           (knee, slope * knee)]:                         # above: hard slope
        comp = Compressor(FS, 1, threshold_db=-30, ratio=ratio, knee_db=knee, attack_ms=1,
                          release_ms=1)
        g = gain_db(comp, constant_level(-30 + over, FS // 4))
        assert abs(g[-1] - expected) < 0.01, (over, g[-1], expected)


# ---- timing ----

@pytest.mark.parametrize("fs", [44100, 48000, 96000])
def test_attack_and_release_times(fs):
    attack_ms, release_ms = 20.0, 200.0
    comp = Compressor(fs, 1, threshold_db=-30, ratio=4, knee_db=0, attack_ms=attack_ms,
                      release_ms=release_ms)
    n = fs  # one second per segment
    x = np.concatenate([constant_level(-40, n), constant_level(-10, n), constant_level(-40, n)])
    gr = -gain_db(comp, x)
    final = 0.75 * 20  # (1 - 1/ratio) * (level - threshold)
    rise = gr[n:2 * n]
    assert abs(rise[-1] - final) < 0.01
    t63 = np.argmax(rise >= 0.632 * final) / fs * 1000
    assert 0.8 * attack_ms < t63 < 1.2 * attack_ms
    fall = gr[2 * n:]
    t37 = np.argmax(fall <= 0.368 * final) / fs * 1000
    assert 0.8 * release_ms < t37 < 1.2 * release_ms


# ---- stereo link, sidechain, mix, makeup, detectors ----

def test_stereo_link():
    loud, quiet = constant_level(-6, FS), constant_level(-50, FS)
    x = np.stack([loud, quiet], axis=1)
    linked = Compressor(FS, 2, threshold_db=-20, ratio=4, stereo_link=1.0).process(x)
    assert db(abs(linked[-1, 0] / x[-1, 0])) < -5
    np.testing.assert_allclose(linked[:, 1] / x[:, 1], linked[:, 0] / x[:, 0], rtol=1e-6)
    independent = Compressor(FS, 2, threshold_db=-20, ratio=4, stereo_link=0.0).process(x)
    assert np.array_equal(independent[:, 1], x[:, 1])
    np.testing.assert_array_equal(independent[:, 0], linked[:, 0])


def test_partial_link_reduces_quiet_channel_less():
    x = np.stack([constant_level(-6, FS), constant_level(-50, FS)], axis=1)
    gr_right = {}
    for link in (0.0, 0.5, 1.0):
        y = Compressor(FS, 2, threshold_db=-20, ratio=4, stereo_link=link).process(x)
        gr_right[link] = -db(abs(y[-1, 1] / x[-1, 1]))
    assert gr_right[0.0] == 0.0 < gr_right[0.5] < gr_right[1.0]


def test_sidechain_highpass_ignores_bass():
    t = np.arange(2 * FS) / FS
    x = (0.5 * np.sin(2 * np.pi * 40 * t) + 0.03 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    grs = {}
    for hpf in (0, 150):
        comp = Compressor(FS, 1, threshold_db=-18, ratio=4, sidechain_hpf_hz=hpf)
        comp.process(x)
        grs[hpf] = comp.take_max_gain_reduction_db()
    assert grs[0] > 6
    assert grs[150] < 0.1 * grs[0]


def test_mix_zero_returns_input(music):
    comp = Compressor(FS, 2, threshold_db=-40, ratio=10, mix=0.0)
    assert np.array_equal(comp.process(music), music)
    assert comp.take_max_gain_reduction_db() > 10  # it did compress, the wet path is unused


def test_parallel_mix_is_dry_plus_wet(music):
    kwargs = dict(threshold_db=-30, ratio=4)
    wet = Compressor(FS, 2, **kwargs).process(music)
    half = Compressor(FS, 2, mix=0.5, **kwargs).process(music)
    np.testing.assert_allclose(half, 0.5 * music + 0.5 * wet, atol=1e-6)


def test_makeup_adds_exact_gain(music):
    gain = np.float32(10 ** (6 / 20))
    quiet = (music * np.float32(0.01)).astype(np.float32)  # far below threshold
    y = Compressor(FS, 2, threshold_db=-10, makeup_db=6).process(quiet)
    np.testing.assert_allclose(y, quiet * gain, rtol=2e-7, atol=0)
    # with compression going on, makeup scales the compressed signal exactly
    plain = Compressor(FS, 2, threshold_db=-30, ratio=4).process(music)
    made_up = Compressor(FS, 2, threshold_db=-30, ratio=4, makeup_db=6).process(music)
    np.testing.assert_allclose(made_up, plain * gain, rtol=1e-6, atol=1e-9)


def test_rms_and_peak_detectors_see_crest_factor():
    """Same peak level: a square wave (crest 0 dB) and a sine (crest 3 dB)."""
    n = FS
    square = np.where(np.sin(2 * np.pi * 1000 * np.arange(n) / FS) >= 0, 1.0, -1.0)
    square = (0.5 * square).astype(np.float32)
    sin = sine(db(0.5), n)
    ratio, gr = 4, {}
    for detector in ("peak", "rms"):
        for name, x in (("square", square), ("sine", sin)):
            comp = Compressor(FS, 1, threshold_db=-30, ratio=ratio, knee_db=0, attack_ms=0.01,
                              release_ms=5000, detector=detector)
            comp.process(x)
            gr[detector, name] = comp.gain_reduction_db
    assert abs(gr["peak", "square"] - gr["peak", "sine"]) < 0.05
    expected = (1 - 1 / ratio) * 10 * np.log10(2)  # the sine's RMS is 3 dB under its peak
    assert abs((gr["rms", "square"] - gr["rms", "sine"]) - expected) < 0.05
    assert gr["rms", "sine"] < gr["peak", "sine"] - 2


def test_rms_detector_window_is_about_10_ms():
    """After a step the mean square reaches 1 - 1/e of its final value in 10 ms."""
    comp = Compressor(FS, 1, threshold_db=-40, ratio=4, knee_db=0, attack_ms=0.01,
                      release_ms=5000, detector="rms")
    x = np.concatenate([np.zeros(FS // 10, np.float32), constant_level(-10, FS // 10)])
    y = comp.process(x)[FS // 10:]
    gr = -db(np.abs(y) / np.abs(x[FS // 10:]))
    level_10ms = -10 + 10 * np.log10(1 - np.exp(-1))
    assert abs(gr[int(0.010 * FS)] - 0.75 * (level_10ms + 40)) < 0.2
    assert abs(gr[-1] - 0.75 * 30) < 0.01


# ---- invariants ----

CONFIGS = [
    dict(),
    dict(detector="rms", sidechain_hpf_hz=120, stereo_link=0.5, knee_db=12, mix=0.7),
    dict(stereo_link=0.0, attack_ms=0.01, release_ms=1, makeup_db=3),
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_block_size_invariance(config, channels):
    rng = np.random.default_rng(1)
    n = 3 * 4096 * 7  # a multiple of every block size below
    x = (0.3 * rng.standard_normal((n, channels)) * np.linspace(0.1, 2, n)[:, None])
    x = x.astype(np.float32)
    change = n // 3  # a parameter changes here: the glide must not depend on blocks either

    def run(block):
        """Process in blocks of `block` frames, or in as few calls as possible (None)."""
        comp = Compressor(FS, channels, threshold_db=-24, **config)
        out = np.empty_like(x)
        bounds = [0, change, n] if block is None else range(0, n + block, block)
        bounds = [b for b in bounds if b < n] + [n]
        for start, stop in zip(bounds[:-1], bounds[1:]):
            if start == change:
                comp.threshold_db = -12
                comp.stereo_link = 0.8
            out[start:stop] = comp.process(x[start:stop])
        return out

    reference = run(None)
    for block in (7, 64, 4096):
        assert np.array_equal(run(block), reference), block


def test_block_size_one_is_bit_identical():
    rng = np.random.default_rng(2)
    x = (0.5 * rng.standard_normal((6000, 2))).astype(np.float32)
    kwargs = dict(threshold_db=-20, detector="rms", sidechain_hpf_hz=100, stereo_link=0.7)
    whole = Compressor(FS, 2, **kwargs).process(x)
    comp = Compressor(FS, 2, **kwargs)
    pieces = np.concatenate([comp.process(x[i:i + 1]) for i in range(len(x))])
    assert np.array_equal(pieces, whole)


def test_in_place_processing(music):
    expected = Compressor(FS, 2, threshold_db=-30).process(music)
    buf = music.copy()
    out = Compressor(FS, 2, threshold_db=-30).process(buf, out=buf)
    assert out is buf
    assert np.array_equal(buf, expected)


def test_reset_matches_fresh_object(music):
    kwargs = dict(detector="rms", sidechain_hpf_hz=80, stereo_link=0.5)
    comp = Compressor(FS, 2, threshold_db=-30, **kwargs)
    comp.process(music)
    comp.threshold_db = -20  # a glide in flight is dropped too: values jump to targets
    comp.process(music[:100])
    comp.reset()
    assert comp.gain_reduction_db == 0.0 and comp.take_max_gain_reduction_db() == 0.0
    fresh = Compressor(FS, 2, threshold_db=-20, **kwargs)
    loud = (0.5 * np.random.default_rng(4).standard_normal((FS, 2))).astype(np.float32)
    assert np.array_equal(comp.process(loud), fresh.process(loud))  # loud from sample 0


def test_bad_samples_give_finite_output_and_do_not_poison_state():
    rng = np.random.default_rng(3)
    x = (0.5 * rng.standard_normal((FS, 2))).astype(np.float32)
    bad = x.copy()
    bad[1000:1010, 0] = np.nan
    bad[2000, 1] = np.inf
    bad[3000, 0] = -np.inf
    kwargs = dict(threshold_db=-20, detector="rms", sidechain_hpf_hz=60)
    y = Compressor(FS, 2, **kwargs).process(bad)
    # non-finite samples count as silence: the output is exactly that of zeros there
    zeroed = np.where(np.isfinite(bad), bad, np.float32(0))
    assert np.array_equal(y, Compressor(FS, 2, **kwargs).process(zeroed))
    # absurd magnitudes are clamped: finite output, and the state recovers
    huge = x.copy()
    huge[4000, 1] = 1e30
    huge[4001, 0] = -3e38
    comp = Compressor(FS, 2, **kwargs)
    assert np.all(np.isfinite(comp.process(huge)))
    assert np.all(np.isfinite(comp.process(x)))
    assert comp.gain_reduction_db < 40


@pytest.mark.parametrize("value", [0.7, -0.7, 1e-40, 0.0])
def test_dc_and_denormal_input(value):
    x = np.full((FS, 2), value, dtype=np.float32)
    comp = Compressor(FS, 2, threshold_db=-20, detector="rms", sidechain_hpf_hz=200)
    y = comp.process(x)
    assert np.all(np.isfinite(y))
    assert np.all(np.abs(y) <= np.abs(x) + 1e-30)


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("fs", [44100, 48000, 96000])
def test_channels_and_rates_static_level(channels, fs):
    comp = Compressor(fs, channels, threshold_db=-30, ratio=4, knee_db=0)
    frames = fs // 2
    x = constant_level(-10, frames) if channels == 1 else constant_level(-10, frames, channels)
    y = comp.process(x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.allclose(db(np.abs(y[-1])), hard_knee_out(-10, -30, 4), atol=0.01)
    assert abs(comp.gain_reduction_db - 15) < 0.01


def test_mono_accepts_1d_and_2d():
    x = sine(-6, 4800)
    one = Compressor(FS, 1).process(x)
    two = Compressor(FS, 1).process(x[:, None])
    assert one.shape == (4800,) and two.shape == (4800, 1)
    assert np.array_equal(one, two[:, 0])


# ---- parameter changes ----

def test_threshold_change_glides_without_a_step():
    comp = Compressor(FS, 1, threshold_db=-20, ratio=4, knee_db=0, attack_ms=0.01,
                      release_ms=1)
    x = constant_level(-10, FS // 2)
    g1 = gain_db(comp, x)
    comp.threshold_db = -40  # 7.5 dB more reduction: instant attack would make it a step
    g2 = gain_db(comp, x)
    assert abs(g1[-1] - (hard_knee_out(-10, -20, 4) + 10)) < 0.01  # settled before
    g = np.concatenate([g1[-100:], g2])
    assert np.max(np.abs(np.diff(g))) < 0.05
    assert abs(g2[-1] - (hard_knee_out(-10, -40, 4) + 10)) < 0.01
    assert g2[int(0.02 * FS)] > g2[-1] + 1  # 20 ms later it is still on its way


def test_params_take_effect_at_once_before_audio():
    comp = Compressor(FS, 2)
    comp.makeup_db = 6
    comp.mix = 0.5
    x = constant_level(-40, 64, 2)
    expected = x * np.float32(0.5 + 0.5 * np.float32(10 ** (6 / 20)))
    np.testing.assert_allclose(comp.process(x), expected, rtol=1e-6)


def test_makeup_change_glides():
    comp = Compressor(FS, 1)
    x = constant_level(-40, FS // 10)
    comp.process(x)
    comp.makeup_db = 12
    g = gain_db(comp, constant_level(-40, FS // 2))
    assert 0 < g[0] < 0.1
    assert np.max(np.diff(g)) < 0.05
    assert abs(g[-1] - 12) < 1e-3


def test_setters_from_another_thread_while_processing(music):
    import threading

    comp = Compressor(FS, 2)
    stop = threading.Event()

    def automate():
        rng = np.random.default_rng(5)
        while not stop.is_set():
            comp.set_params(threshold_db=rng.uniform(-60, 0), ratio=rng.uniform(1, 100),
                            knee_db=rng.uniform(0, 24), attack_ms=rng.uniform(0.01, 500),
                            makeup_db=rng.uniform(-24, 24), stereo_link=rng.uniform(0, 1),
                            mix=rng.uniform(0, 1), detector=str(rng.choice(["peak", "rms"])),
                            sidechain_hpf_hz=float(rng.choice([0, 30, 900])))
            comp.take_max_gain_reduction_db()

    thread = threading.Thread(target=automate)
    thread.start()
    try:
        out = np.concatenate([comp.process(music[i:i + 256]) for i in range(0, len(music), 256)])
    finally:
        stop.set()
        thread.join()
    assert np.all(np.isfinite(out))
    assert np.max(np.abs(out)) < 16 * np.max(np.abs(music))  # at most +24 dB makeup


# ---- API ----

def test_params_roundtrip_and_repr():
    comp = Compressor(44100, 2, threshold_db=-24, ratio=3, knee_db=4, attack_ms=30,
                      release_ms=300, makeup_db=2, stereo_link=0.5, mix=0.8,
                      sidechain_hpf_hz=90, detector="rms")
    assert comp.params == dict(threshold_db=-24, ratio=3, knee_db=4, attack_ms=30,
                               release_ms=300, makeup_db=2, stereo_link=0.5, mix=0.8,
                               sidechain_hpf_hz=90, detector="rms")
    comp.ratio = 5
    comp.detector = "peak"
    comp.sidechain_hpf_hz = 0
    assert comp.ratio == 5 and comp.detector == "peak" and comp.sidechain_hpf_hz == 0
    assert comp.latency_samples == 0
    text = repr(comp)
    assert text.startswith("Compressor(") and "ratio=5.0" in text and "detector='peak'" in text


def test_gain_reduction_meters():
    comp = Compressor(FS, 2, threshold_db=-30, ratio=4, knee_db=0)
    comp.process(constant_level(-10, FS // 2, 2))
    assert abs(comp.gain_reduction_db - 15) < 0.01
    assert abs(comp.take_max_gain_reduction_db() - 15) < 0.01
    assert comp.take_max_gain_reduction_db() == 0.0  # taken
    comp.process(constant_level(-60, 2 * FS, 2))
    assert comp.gain_reduction_db < 0.01
    assert abs(comp.take_max_gain_reduction_db() - 15) < 0.01  # the peak since the last take


@pytest.mark.parametrize("name, bad, range_text", [
    ("threshold_db", 1, "-60.0..0.0"),
    ("threshold_db", -61, "-60.0..0.0"),
    ("ratio", 0.5, "1.0..100.0"),
    ("ratio", 101, "1.0..100.0"),
    ("knee_db", -1, "0.0..24.0"),
    ("knee_db", 25, "0.0..24.0"),
    ("attack_ms", 0, "0.01..500.0"),
    ("attack_ms", 501, "0.01..500.0"),
    ("release_ms", 0.5, "1.0..5000.0"),
    ("release_ms", 5001, "1.0..5000.0"),
    ("makeup_db", 25, "-24.0..24.0"),
    ("makeup_db", -25, "-24.0..24.0"),
    ("stereo_link", 1.1, "0.0..1.0"),
    ("stereo_link", -0.1, "0.0..1.0"),
    ("mix", 2, "0.0..1.0"),
    ("mix", float("nan"), "0.0..1.0"),
    ("sidechain_hpf_hz", 5, "10.0..1000.0"),
    ("sidechain_hpf_hz", 2000, "1000.0"),
    ("sidechain_hpf_hz", -1, "1000.0"),
    ("detector", "loud", "'peak' or 'rms'"),
])
def test_out_of_range_parameters(name, bad, range_text):
    comp = Compressor(FS, 2)
    before = comp.params
    with pytest.raises(ValueError, match=name) as info:
        setattr(comp, name, bad)
    assert range_text in str(info.value)
    assert comp.params == before
    with pytest.raises(ValueError, match=name):
        Compressor(FS, 2, **{name: bad})


def test_bad_audio_and_construction():
    comp = Compressor(FS, 2)
    with pytest.raises(TypeError, match="float32"):
        comp.process(np.zeros((10, 2), dtype=np.int16))
    with pytest.raises(ValueError, match="channels"):
        comp.process(np.zeros((10, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="channels"):
        comp.process(np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError, match="sample_rate"):
        Compressor(1000, 2)
    with pytest.raises(ValueError, match="channels"):
        Compressor(FS, 17)
    with pytest.raises(TypeError):
        Compressor(FS, 2, threshold=-10)  # unit-less name: not a parameter
    assert comp.process(np.zeros((0, 2), dtype=np.float32)).shape == (0, 2)


def test_borrowed_compressor_sets_params_but_does_not_process():
    class Owner:
        pass

    owner = Owner()
    owner.ptr = created("pm_compressor", lib.pm_compressor_create, lib.pm_compressor_destroy,
                        48000.0, 2)
    comp = Compressor._borrowed(owner.ptr, FS, 2, owner)
    comp.threshold_db = -33
    comp.detector = "rms"
    assert comp.params["threshold_db"] == -33 and comp.detector == "rms"
    with pytest.raises(RuntimeError, match="belongs to a Chain; process the chain"):
        comp.process(np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(RuntimeError, match="belongs to a Chain"):
        comp.reset()
    with pytest.raises(ValueError, match="ratio"):
        comp.ratio = 0
    assert comp.gain_reduction_db == 0.0
    assert "Chain" in repr(comp)
    del owner
    assert comp.params["threshold_db"] == -33  # the wrapper keeps its owner alive
