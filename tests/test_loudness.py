"""Loudness meter: BS.2217 compliance files, pyloudnorm, EBU Tech 3341/3342 cases, invariants."""
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, lfilter, sosfilt
from signals import programme, ref_true_peak_db

from pymaster.loudness import LoudnessMeter, integrated_loudness

BS2217 = Path(__file__).parents[2] / "shared/testdata/bs2217"


def sine(freq, seconds, fs, db=-23.0, phase=0.0, channels=2):
    t = np.arange(int(round(seconds * fs))) / fs
    x = 10 ** (db / 20) * np.sin(2 * np.pi * freq * t + phase)
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def material(kind, fs, channels, seed, seconds=12.0):
    """Programme-like test signals. Lengths are whole 100 ms steps, where pyloudnorm and a
    streaming meter see the same gating blocks (pyloudnorm also counts a zero-padded last one)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * 10)) * int(round(fs / 10))
    t = np.arange(n) / fs
    if kind == "noise":  # band-limited noise with level changes and a silence gap
        sos = butter(2, [80, min(12000, 0.4 * fs)], "bandpass", fs=fs, output="sos")
        x = sosfilt(sos, rng.standard_normal((n, channels)), axis=0)
        level_db = np.select([t < 3, t < 5, t < 6, t < 9], [-12.0, -30.0, -200.0, -18.0], -8.0)
        x *= 10 ** (level_db / 20)[:, None]
    elif kind == "sines":  # sine mixture with slow tremolo, a gap and a quiet tail
        x = np.zeros((n, channels))
        for c in range(channels):
            for f in rng.uniform(40, 0.3 * fs, 6):
                x[:, c] += rng.uniform(0.02, 0.2) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
        x *= (0.6 + 0.4 * np.sin(2 * np.pi * 0.3 * t))[:, None]
        x[(t > 4) & (t < 5.5)] = 0.0
        x[t > 9] *= 0.05
    else:  # music-like: kick, bass, chords, hats, with a quieter section
        x = programme(seconds, fs, channels, seed=seed).astype(np.float64)[:n]
    return x.astype(np.float32)


def feed(meter, audio, block):
    for i in range(0, len(audio), block):
        meter.add(audio[i:i + block])
    return meter


def readings(meter):
    return (meter.integrated_lufs, meter.momentary_lufs, meter.short_term_lufs,
            meter.momentary_max_lufs, meter.short_term_max_lufs, meter.loudness_range_lu,
            meter.true_peak_dbtp_per_channel, meter.sample_peak_dbfs_per_channel, meter.frames)


# ---- independent references -----------------------------------------------------------------

@pytest.mark.skipif(not BS2217.is_dir(), reason=f"BS.2217 test files not found at {BS2217}")
@pytest.mark.parametrize("name, expected", [("1770-2_Comp_AbsGateTest.wav", -69.5),
                                            ("1770-2_Comp_RelGateTest.wav", -10.0)])
def test_bs2217_gating(name, expected):
    soundfile = pytest.importorskip("soundfile")
    audio, fs = soundfile.read(BS2217 / name, dtype="float32")
    assert integrated_loudness(audio, fs) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("kind, seed", [("noise", 1), ("sines", 2), ("music", 3)])
def test_matches_pyloudnorm(fs, channels, kind, seed):
    pyloudnorm = pytest.importorskip("pyloudnorm")
    audio = material(kind, fs, channels, seed)
    ours = integrated_loudness(audio if channels > 1 else audio[:, 0], fs)
    ref64 = audio.astype(np.float64)
    # pyloudnorm's default filter approximates the K-weighting (it reads ~0.04 dB low) ...
    assert ours == pytest.approx(pyloudnorm.Meter(fs).integrated_loudness(ref64), abs=0.05)
    # ... its "DeMan" filter is the same K-weighting as ours: only gating precision is left
    deman = pyloudnorm.Meter(fs, filter_class="DeMan").integrated_loudness(ref64)
    assert ours == pytest.approx(deman, abs=0.01)


def test_five_channel_weights_match_pyloudnorm():
    pyloudnorm = pytest.importorskip("pyloudnorm")
    audio = material("noise", 48000, 5, seed=4)
    audio *= np.array([1.0, 0.5, 0.7, 0.3, 0.9], dtype=np.float32)  # unequal channels
    deman = pyloudnorm.Meter(48000, filter_class="DeMan").integrated_loudness(
        audio.astype(np.float64))
    assert integrated_loudness(audio, 48000) == pytest.approx(deman, abs=0.01)


def test_ebu_3341_case_1_stereo_sine():
    meter = LoudnessMeter(48000, 2)
    meter.add(sine(1000, 20.0, 48000, db=-23.0))
    assert meter.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    assert meter.momentary_lufs == pytest.approx(-23.0, abs=0.1)
    assert meter.short_term_lufs == pytest.approx(-23.0, abs=0.1)
    assert meter.loudness_range_lu == pytest.approx(0.0, abs=0.05)
    assert meter.sample_peak_dbfs == pytest.approx(-23.0, abs=0.01)


@pytest.mark.parametrize("fs", [8000, 22050, 44100, 48000, 96000, 192000, 384000])
def test_sine_reads_right_at_any_rate(fs):
    assert integrated_loudness(sine(1000, 5.0, fs, db=-23.0), fs) == pytest.approx(-23.0, abs=0.1)


def loudness_range_reference(audio, fs):
    """EBU Tech 3342 written out plainly: pyloudnorm's De Man K-weighting (scipy lfilter),
    3 s windows every 100 ms, gates at -70 LUFS and -20 LU, numpy percentiles."""
    from pyloudnorm.iirfilter import IIRfilter
    shelf = IIRfilter(3.999843853973347, 0.7071752369554196, 1681.974450955533, fs,
                      "high_shelf_DeMan")
    hp = IIRfilter(0.0, 0.5003270373238773, 38.13547087602444, fs, "high_pass_DeMan")
    y = lfilter(hp.b, hp.a, lfilter(shelf.b, shelf.a, audio.astype(np.float64), axis=0), axis=0)
    step = round(fs / 10)
    sub = (y[:len(y) // step * step] ** 2).reshape(-1, step, y.shape[1]).sum(axis=(1, 2))
    windows = np.convolve(sub, np.ones(30), "valid") / (30 * step)
    st = -0.691 + 10 * np.log10(windows)
    st = st[st > -70]
    st = st[st > -0.691 + 10 * np.log10(np.mean(10 ** ((st + 0.691) / 10))) - 20]
    return np.percentile(st, 95) - np.percentile(st, 10)


def test_loudness_range_of_alternating_sections():
    pytest.importorskip("pyloudnorm")
    fs = 48000
    rng = np.random.default_rng(5)
    n = 60 * fs
    x = sosfilt(butter(2, [100, 8000], "bandpass", fs=fs, output="sos"),
                rng.standard_normal((n, 2)), axis=0)
    t = np.arange(n) / fs
    gain_db = np.where((t // 6) % 2 == 0, 0.0, -10.0)  # 6 s loud, 6 s quiet, ...
    audio = (x * 10 ** (gain_db / 20)[:, None]).astype(np.float32)
    meter = LoudnessMeter(fs, 2)
    meter.add(audio * np.float32(10 ** ((-20 - integrated_loudness(audio, fs)) / 20)))
    assert meter.loudness_range_lu == pytest.approx(10.0, abs=0.5)
    assert meter.loudness_range_lu == pytest.approx(loudness_range_reference(audio, fs), abs=0.1)


def test_true_peak_of_quarter_rate_sine():
    # samples at +-45 degrees from the crests sit 3.01 dB under the waveform's peak
    meter = LoudnessMeter(48000, 1)
    meter.add(sine(12000, 1.0, 48000, db=-6.0, phase=np.pi / 4, channels=1)[:, 0])
    assert meter.sample_peak_dbfs == pytest.approx(-6.0 - 3.01, abs=0.01)
    assert meter.true_peak_dbtp - meter.sample_peak_dbfs == pytest.approx(3.01, abs=0.1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_true_peak_against_16x_reference(seed):
    rng = np.random.default_rng(seed)
    fs = 48000
    x = sosfilt(butter(8, 0.4 * fs, fs=fs, output="sos"), rng.standard_normal((fs, 2)), axis=0)
    x *= np.exp(-np.arange(fs) / (0.3 * fs))[:, None]  # the loudest part early: skips happen
    audio = (0.5 * x / np.max(np.abs(x))).astype(np.float32)
    meter = LoudnessMeter(fs, 2)
    feed(meter, audio, 1000)
    for c in range(2):
        ref = ref_true_peak_db(audio[:, c])
        tp, sp = meter.true_peak_dbtp_per_channel[c], meter.sample_peak_dbfs_per_channel[c]
        assert sp <= tp <= ref + 0.05
        assert tp >= ref - 0.7  # 4x sampling can miss at most ~0.7 dB between its points


# ---- invariants -----------------------------------------------------------------------------

def test_block_size_invariance():
    audio = material("music", 44100, 2, seed=6, seconds=3.5)  # 44.1 kHz: odd 4410-frame steps
    whole = readings(feed(LoudnessMeter(44100, 2), audio, len(audio)))
    assert math.isfinite(whole[0]) and math.isfinite(whole[5])
    for block in (1, 7, 64, 4096):
        assert readings(feed(LoudnessMeter(44100, 2), audio, block)) == whole, block
    rng = np.random.default_rng(7)  # ragged blocks, including empty ones
    meter, pos = LoudnessMeter(44100, 2), 0
    while pos < len(audio):
        size = int(rng.integers(0, 3000))
        meter.add(audio[pos:pos + size])
        pos += size
    assert readings(meter) == whole


def test_reset_forgets_audio_and_keeps_weights():
    audio = material("sines", 48000, 2, seed=8, seconds=4.0)
    fresh = LoudnessMeter(48000, 2)
    fresh.set_channel_weight(1, 0.5)
    fresh.add(audio)
    meter = LoudnessMeter(48000, 2)
    meter.set_channel_weight(1, 0.5)
    meter.add(material("noise", 48000, 2, seed=9, seconds=5.0))
    meter.reset()
    assert meter.frames == 0 and meter.momentary_lufs == -math.inf
    assert meter.true_peak_dbtp == -math.inf and meter.integrated_lufs == -math.inf
    meter.add(audio)
    assert readings(meter) == readings(fresh)


def test_nan_and_inf_are_silence_and_do_not_poison():
    audio = material("noise", 48000, 2, seed=10, seconds=4.0)
    bad = audio.copy()
    bad[1000:1100, 0] = np.nan
    bad[50000, 1] = np.inf
    bad[70000, 0] = -np.inf
    clean = audio.copy()
    clean[1000:1100, 0] = 0.0
    clean[50000, 1] = 0.0
    clean[70000, 0] = 0.0
    meter = feed(LoudnessMeter(48000, 2), bad, 4096)
    values = readings(meter)
    assert all(math.isfinite(v) for v in values[:6] + tuple(values[6]) + tuple(values[7]))
    assert values == readings(feed(LoudnessMeter(48000, 2), clean, 4096))
    meter.reset()
    meter.add(sine(1000, 5.0, 48000))
    assert meter.integrated_lufs == pytest.approx(-23.0, abs=0.1)


def test_minus_inf_until_enough_signal():
    fs = 48000
    meter = LoudnessMeter(fs, 2)
    tone = sine(1000, 3.5, fs)
    meter.add(tone[:int(0.4 * fs) - 1])
    assert meter.momentary_lufs == -math.inf and meter.integrated_lufs == -math.inf
    assert meter.momentary_max_lufs == -math.inf
    meter.add(tone[int(0.4 * fs) - 1:int(0.4 * fs)])
    assert meter.momentary_lufs == pytest.approx(-23.0, abs=0.1)
    assert meter.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    meter.add(tone[int(0.4 * fs):3 * fs - 1])
    assert meter.short_term_lufs == -math.inf and meter.loudness_range_lu == -math.inf
    meter.add(tone[3 * fs - 1:])
    assert meter.short_term_lufs == pytest.approx(-23.0, abs=0.1)
    assert meter.loudness_range_lu == pytest.approx(0.0, abs=0.05)
    silent = LoudnessMeter(fs, 1)
    silent.add(np.zeros(fs * 4, np.float32))
    assert silent.integrated_lufs == -math.inf and silent.loudness_range_lu == -math.inf
    assert silent.true_peak_dbtp == -math.inf and silent.momentary_lufs == -math.inf


def test_maxima_hold_and_current_values_follow():
    fs = 48000
    meter = LoudnessMeter(fs, 2)
    meter.add(sine(1000, 4.0, fs, db=-10.0))
    meter.add(sine(1000, 4.0, fs, db=-30.0))
    assert meter.momentary_lufs == pytest.approx(-30.0, abs=0.1)
    assert meter.short_term_lufs == pytest.approx(-30.0, abs=0.1)
    assert meter.momentary_max_lufs == pytest.approx(-10.0, abs=0.1)
    assert meter.short_term_max_lufs == pytest.approx(-10.0, abs=0.1)
    assert meter.true_peak_dbtp == pytest.approx(-10.0, abs=0.05)


def test_channel_weights():
    tone = sine(1000, 3.0, 48000, channels=1)[:, 0]
    surround = np.zeros((len(tone), 6), np.float32)
    surround[:, 3] = tone  # LFE of 5.1: weight 0
    assert integrated_loudness(surround, 48000) == -math.inf
    surround[:, 3], surround[:, 4] = 0.0, tone  # left surround: 1.41
    assert integrated_loudness(surround, 48000) == pytest.approx(-26.0 + 10 * math.log10(1.41),
                                                                 abs=0.1)
    meter = LoudnessMeter(48000, 2)
    meter.set_channel_weight(0, 0.0)
    meter.set_channel_weight(1, 2.0)
    meter.add(np.stack([tone, tone], axis=1))
    assert meter.integrated_lufs == pytest.approx(-23.0, abs=0.1)


def test_convenience_matches_meter_and_takes_float64():
    audio = material("sines", 48000, 2, seed=11, seconds=5.0)
    meter = LoudnessMeter(48000, 2)
    meter.add(audio)
    assert integrated_loudness(audio.astype(np.float64), 48000) == meter.integrated_lufs


def test_repr_and_static_properties():
    meter = LoudnessMeter(44100, 2)
    assert meter.latency_samples == 0 and meter.frames == 0
    text = repr(meter)
    assert text.startswith("LoudnessMeter(sample_rate=44100, channels=2") and "-inf" in text
    meter.add(sine(997, 1.0, 44100))  # 997 Hz: where K-weighting is exactly 0 dB + 0.691
    assert meter.frames == 44100 and "integrated_lufs=-23.00" in repr(meter)


# ---- argument checks ------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [7999, 400000, float("nan"), "fast"])
def test_bad_sample_rate(rate):
    with pytest.raises(ValueError, match="sample_rate"):
        LoudnessMeter(rate, 2)
    if isinstance(rate, int):
        with pytest.raises(ValueError, match="8000..384000"):
            LoudnessMeter(rate, 2)


@pytest.mark.parametrize("channels", [0, 17, 2.5])
def test_bad_channel_count(channels):
    with pytest.raises(ValueError, match="channels"):
        LoudnessMeter(48000, channels)
    if channels != 2.5:
        with pytest.raises(ValueError, match="1..16"):
            LoudnessMeter(48000, channels)


def test_bad_weight_and_channel_index():
    meter = LoudnessMeter(48000, 2)
    for weight in (-0.1, 10.5, float("nan")):
        with pytest.raises(ValueError, match=r"weight.*0\.0\.\.10\.0"):
            meter.set_channel_weight(0, weight)
    for channel in (-1, 2):
        with pytest.raises(IndexError, match="0..1"):
            meter.set_channel_weight(channel, 1.0)


def test_bad_audio():
    meter = LoudnessMeter(48000, 2)
    with pytest.raises(TypeError, match="float32"):
        meter.add(np.zeros((100, 2), np.int16))
    with pytest.raises(ValueError, match="channels"):
        meter.add(np.zeros((100, 3), np.float32))
    with pytest.raises(ValueError, match="mono"):
        meter.add(np.zeros(100, np.float32))
    assert meter.frames == 0
