"""Test signals and the independent 16x true-peak reference, shared by tests and bench."""
import numpy as np
from scipy.signal import butter, resample_poly, sosfilt


def ref_true_peak_db(audio):
    """Reference true peak: 16x oversampling by scipy's polyphase resampler (not our code)."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 1:
        audio = audio[:, None]
    up = resample_poly(audio, 16, 1, axis=0)
    peak = np.max(np.abs(up))
    return 20 * np.log10(peak) if peak > 0 else -np.inf


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
