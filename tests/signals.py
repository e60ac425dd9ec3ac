"""Test signals and the independent strict true-peak reference, shared by tests and bench."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import butter, sosfilt
from scipy.special import i0

# The strict reference interpolator: a sinc cut off at Nyquist, windowed by Kaiser(beta=12) over
# +-REF_HALF input samples. At 16x it is scipy's resample_poly(x, 16, 1, window=h) with
# h = firwin(2 * REF_HALF * 16 + 1, 1 / 16, window=("kaiser", 12.0)).
REF_HALF = 38
REF_BETA = 12.0
# Interior points of the reference between two 4x points exceed the larger of them by at most
# (pi * 0.55 / 4) ** 2 / 2 = 9.3 % of the peak (Bernstein's inequality for a signal band-limited
# to 0.55 fs), so only intervals within 10.3 % of the largest 4x point need the fine grid.
_PRUNE = 0.85


def _kernel(t):
    r = t / REF_HALF
    window = i0(REF_BETA * np.sqrt(np.clip(1.0 - r * r, 0.0, None))) / i0(REF_BETA)
    return np.where(np.abs(r) < 1.0, np.sinc(t) * window, 0.0)


# firwin's normalisation: unit DC gain of the 16x filter
_SCALE = 16.0 / _kernel(np.arange(-16 * REF_HALF, 16 * REF_HALF + 1) / 16.0).sum()


def _weights(phases):
    """w[j, q]: weight of sample n - REF_HALF + 1 + j in the point at time n + phases[q]."""
    t = np.arange(2 * REF_HALF)[:, None] - (REF_HALF - 1) - np.asarray(phases)[None, :]
    return _kernel(t) * _SCALE


def _refined_max(points):
    """Largest |value| in each row's interior, with a parabola through every local maximum."""
    a = np.abs(points)
    left, mid, right = a[:, :-2], a[:, 1:-1], a[:, 2:]
    curve = left - 2.0 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = mid - (left - right) ** 2 / (8.0 * curve)
    peak = (mid >= left) & (mid >= right) & (curve < 0.0)
    return np.where(peak, vertex, mid).max()


def _channel_peaks(x, chunk=8192):
    """Linear true peak of one channel at 16x and at 32x (the 16x points are every other one)."""
    if len(x) == 0:
        return 0.0, 0.0
    grid4 = _weights(np.arange(4) / 4.0)
    fours = np.stack([np.convolve(x, grid4[::-1, q])[REF_HALF:REF_HALF + len(x)]
                      for q in range(4)], axis=1)
    top = np.abs(fours).max()
    if top == 0.0:
        return 0.0, 0.0
    local = np.abs(fours).max(axis=1)
    local[:-1] = np.maximum(local[:-1], np.abs(fours[1:, 0]))
    near = np.nonzero(local >= _PRUNE * top)[0]
    padded = np.concatenate([np.zeros(REF_HALF - 1), x, np.zeros(REF_HALF)])
    windows = sliding_window_view(padded, 2 * REF_HALF)  # row n: x[n - HALF + 1 .. n + HALF]
    fine = _weights(np.arange(-2, 35) / 32.0)  # 32x points of [n - 2/32, n + 34/32]
    p16 = p32 = top
    for start in range(0, len(near), chunk):
        points = windows[near[start:start + chunk]] @ fine
        p16 = max(p16, _refined_max(points[:, ::2]))
        p32 = max(p32, _refined_max(points[:, 1:]))
    return p16, p32


def _as_channels(audio):
    audio = np.asarray(audio, dtype=np.float64)
    return audio[:, None] if audio.ndim == 1 else audio


def _db(peak):
    return 20 * np.log10(peak) if peak > 0 else -np.inf


def ref_true_peak_db(audio, oversampling=16):
    """Strict reference true peak in dBTP, max over channels (numpy and scipy, not our C code).

    What "true peak" means here. The true peak is the peak of the band-limited signal the
    samples stand for. An exact (sinc) reconstruction cannot be the yardstick: near Nyquist it
    depends on samples arbitrarily far away (full-band noise limited against this reference
    reads 0.2 dB higher through a +-64 sample window, up to 0.9 dB higher through an FFT), so
    no limiter with a finite lookahead can promise it. A finite interpolator has a transition
    band somewhere, and its placement decides the reading: images leaking through a wide
    transition band make it over-read, an early roll-off makes it under-read. scipy's
    resample_poly defaults (+-10 samples) do both: the beta=5 window is down 0.7 dB at 0.45 fs;
    beta=12 is down 0.3 dB at 0.40 fs and 1.8 dB at 0.45 fs, and passes images at -15 dB at
    0.55 fs.

    This reference centres a narrow transition band on Nyquist: a Kaiser(beta=12) windowed sinc
    over +-38 input samples, flat within 0.001 dB up to 0.45 fs (20 kHz at 44.1 kHz), -6 dB at
    fs/2, images below -110 dB from 0.55 fs, passing through the samples themselves. Content
    below 0.45 fs is read exactly; the top 0.05 fs through a symmetric half-band edge.

    It is evaluated at `oversampling` x (16 or 32) on every interval whose 4x points come within
    1.4 dB of the largest (no other can hold the peak, see _PRUNE), and each local maximum of the
    grid is refined by a parabola, so the grid spacing costs well under 0.001 dB.
    """
    if oversampling not in (16, 32):
        raise ValueError(f"oversampling must be 16 or 32, not {oversampling}")
    channels = _as_channels(audio)
    peak = max((_channel_peaks(channels[:, c])[oversampling == 32]
                for c in range(channels.shape[1])), default=0.0)
    return _db(peak)


def strict_true_peak_db(audio):
    """The ceiling tests' reading: the 16x reference, cross-checked at 32x.

    Asserts the two agree within 0.005 dB (the grid is fine enough) and returns the larger."""
    channels = _as_channels(audio)
    peaks = [_channel_peaks(channels[:, c]) for c in range(channels.shape[1])]
    p16, p32 = _db(max(p[0] for p in peaks)), _db(max(p[1] for p in peaks))
    assert abs(p16 - p32) <= 0.005 or p16 == p32, f"16x {p16:.4f} vs 32x {p32:.4f} dBTP"
    return max(p16, p32)


def programme(seconds=6.0, sample_rate=48000, channels=2, seed=0, level_db=-12.0):
    """Deterministic music-like material: kick, bass, chords, hats, with sections of
    different loudness, so meters and dynamics see something realistic."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    beat = 0.5  # 120 bpm
    phase = (t % beat) / beat
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-phase * 30)) * t) * np.exp(-phase * 12)
    bass_f = np.where((t // (4 * beat)) % 2 == 0, 55.0, 73.4)
    bass = 0.5 * np.sin(2 * np.pi * bass_f * t) * (0.6 + 0.4 * np.exp(-phase * 4))
    chord = sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate((220.0, 277.2, 329.6, 440.0)))
    chord *= 0.15 * (0.7 + 0.3 * np.sin(2 * np.pi * 0.25 * t))
    hats = sosfilt(butter(4, 7000, "high", fs=sample_rate, output="sos"), rng.standard_normal(n))
    hats *= np.exp(-((t % (beat / 2)) / (beat / 2)) * 25) * 0.6
    mono = kick + bass + chord + hats
    mono *= np.where((t // 2.0) % 3 == 2, 0.4, 1.0)  # a quieter section
    out = np.empty((n, channels))
    for c in range(channels):
        pan = 1.0 + 0.15 * (c - (channels - 1) / 2)
        out[:, c] = mono * pan + 0.02 * rng.standard_normal(n)
    out *= 10 ** (level_db / 20) / np.max(np.abs(out))
    return out.astype(np.float32)
