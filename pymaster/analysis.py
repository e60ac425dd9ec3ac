"""Measure a programme: loudness (BS.1770-4 / R128), peaks, crest, PLR, DC, streaming."""
import math

import numpy as np

from ._pipeline import prefetch
from .audio_io import AudioReader
from .loudness import LoudnessMeter

KEYS = ("integrated_lufs", "momentary_max_lufs", "short_term_max_lufs", "loudness_range_lu",
        "true_peak_dbtp", "sample_peak_dbfs", "crest_db", "plr_db", "dc_offset", "duration_s",
        "sample_rate", "channels")
"""The measurements :func:`analyze` returns, in order (see its docstring for their meaning)."""


def _db(power):
    return 10.0 * math.log10(power) if power > 0 else -math.inf


class Analyzer:
    """Streaming measurement of one signal; feed blocks with :meth:`add`, then :meth:`result`.

    Parameters
    ----------
    sample_rate : float
    channels : int
    window_s : float, optional
        Also record the short-term loudness at the end of every window of this length
        (``timeline``, a list of (time_s, lufs)), e.g. for a plot.
    spectrum : bool
        Also accumulate the average power spectrum of the channel mean (:meth:`spectrum_db`).
    peaks : bool
        Also record each window's sample peak (``peaks``, dBFS); needs `window_s`.
    """

    FFT_SIZE = 4096

    def __init__(self, sample_rate, channels, window_s=None, spectrum=False, peaks=False):
        self.sample_rate, self.channels = sample_rate, channels
        self.meter = LoudnessMeter(sample_rate, channels)
        self.frames = 0
        self._sum = np.zeros(channels)     # for the DC offset
        self._squares = np.zeros(channels)  # for the RMS behind the crest factor
        self._window = int(round(window_s * sample_rate)) if window_s else 0
        self.timeline = [] if self._window else None
        self.peaks = [] if peaks else None
        self._peak, self._open = 0.0, False  # of the current window
        self._spectrum = spectrum
        self._power = np.zeros(self.FFT_SIZE // 2 + 1)
        self._segments = 0
        self._pending = np.zeros(0, dtype=np.float32)  # spectrum input not yet a full segment

    def add(self, block):
        """Measure the next block, float32 shaped (frames, channels)."""
        block = np.asarray(block, dtype=np.float32).reshape(len(block), self.channels)
        if self._window:
            start = 0
            while start < len(block):  # feed the meter up to each window boundary
                n = min(len(block) - start, self._window - self.frames % self._window)
                piece = block[start:start + n]
                self.meter.add(piece)
                self._open = True  # a window has started and is not yet recorded
                if self.peaks is not None:
                    self._peak = max(self._peak, float(piece.max()), -float(piece.min()))
                start += n
                self.frames += n
                if self.frames % self._window == 0:
                    self._close_window()
        else:
            self.meter.add(block)
            self.frames += len(block)
        # BLAS products: an order of magnitude faster than numpy's axis-0 reductions here
        self._sum += np.ones(len(block), np.float32) @ block
        self._squares += [np.dot(block[:, c], block[:, c]) for c in range(self.channels)]
        if self._spectrum:
            self._add_spectrum(block @ np.full(self.channels, 1 / self.channels, np.float32))

    def _close_window(self):
        self._open = False
        self.timeline.append((self.frames / self.sample_rate, self.meter.short_term_lufs))
        if self.peaks is not None:
            self.peaks.append(20 * math.log10(self._peak) if self._peak > 0 else -math.inf)
            self._peak = 0.0

    def _add_spectrum(self, mono):
        data = np.concatenate([self._pending, mono])
        count = len(data) // self.FFT_SIZE
        if count:
            segments = data[:count * self.FFT_SIZE].reshape(count, self.FFT_SIZE)
            spectra = np.fft.rfft(segments * np.hanning(self.FFT_SIZE), axis=1)
            self._power += np.sum(spectra.real ** 2 + spectra.imag ** 2, axis=0)
            self._segments += count
        self._pending = data[count * self.FFT_SIZE:]

    def spectrum_db(self):
        """(frequencies_hz, power_db) of the average spectrum, or None if not collected."""
        if not self._spectrum or not self._segments:
            return None
        window_power = np.sum(np.hanning(self.FFT_SIZE) ** 2)
        power = self._power / self._segments / window_power * 2  # one-sided, per bin
        freqs = np.fft.rfftfreq(self.FFT_SIZE, 1.0 / self.sample_rate)
        return freqs, 10 * np.log10(np.maximum(power, 1e-20))

    def result(self):
        """The measurements so far, as a dict with the keys of :data:`KEYS`."""
        if self._window and self._open:
            self._close_window()  # the last, partial window
        m = self.meter
        frames = max(self.frames, 1)
        mean = self._sum / frames
        rms_db = _db(float(np.sum(self._squares)) / (frames * self.channels))
        peak, true_peak, loud = m.sample_peak_dbfs, m.true_peak_dbtp, m.integrated_lufs
        return {
            "integrated_lufs": loud,
            "momentary_max_lufs": m.momentary_max_lufs,
            "short_term_max_lufs": m.short_term_max_lufs,
            "loudness_range_lu": m.loudness_range_lu,
            "true_peak_dbtp": true_peak,
            "sample_peak_dbfs": peak,
            "crest_db": peak - rms_db if math.isfinite(rms_db) else -math.inf,
            "plr_db": true_peak - loud if math.isfinite(loud) else -math.inf,
            "dc_offset": float(mean[np.argmax(np.abs(mean))]),
            "duration_s": self.frames / self.sample_rate,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
        }


def analyze(source, sample_rate=None, block_frames=65536):
    """Measure a file or an array.

    Parameters
    ----------
    source : str, os.PathLike or numpy.ndarray
        An audio file (anything soundfile reads) or samples shaped (frames,) or
        (frames, channels).
    sample_rate : float, optional
        Required for an array; ignored for a file.

    Returns
    -------
    dict
        ``integrated_lufs``, ``momentary_max_lufs``, ``short_term_max_lufs`` (LUFS),
        ``loudness_range_lu`` (LU), ``true_peak_dbtp`` (dBTP, 4x oversampled),
        ``sample_peak_dbfs`` (dBFS), ``crest_db`` (sample peak over RMS, dB), ``plr_db``
        (true peak to integrated loudness ratio, dB), ``dc_offset`` (mean of the channel whose
        mean is largest, full scale = 1), ``duration_s``, ``sample_rate``, ``channels``.
        Undefined values (e.g. the loudness of silence) are ``-inf``.
    """
    if isinstance(source, np.ndarray):
        if sample_rate is None:
            raise ValueError("analyze(array) needs sample_rate")
        data = np.asarray(source, dtype=np.float32)
        data = data.reshape(len(data), -1)
        analyzer = Analyzer(sample_rate, data.shape[1])
        for start in range(0, len(data), block_frames):
            analyzer.add(data[start:start + block_frames])
        return analyzer.result()
    reader = AudioReader(source)
    analyzer = Analyzer(reader.sample_rate, reader.channels)
    for block in prefetch(reader.blocks(block_frames)):
        analyzer.add(block)
    return analyzer.result()
