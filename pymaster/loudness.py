"""Loudness metering: ITU-R BS.1770-4 / EBU R128 loudness, loudness range and true peak."""
import numbers

import numpy as np

from ._buffers import as_audio, check_range, float_ptr
from ._native import check, created, lib


class LoudnessMeter:
    """Streaming BS.1770-4 / EBU R128 loudness meter over the C core.

    Feed audio with :meth:`add` in blocks of any size (the readings do not depend on how the
    audio is split) and read the meters at any time. Memory stays constant however long the
    programme is.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz, 8000..384000.
    channels : int
        Number of channels, 1..16. Channel weights follow BS.1770: 1.0 each, except 5 channels
        (L R C Ls Rs: surrounds 1.41) and 6 channels (5.1, L R C LFE Ls Rs: LFE 0, surrounds
        1.41). Change them with :meth:`set_channel_weight`.

    Notes
    -----
    Loudness values are in LUFS, the range in LU, peaks in dBTP / dBFS. A value is ``-inf``
    while there is not enough signal: momentary needs 400 ms, short-term and the loudness range
    3 s, and integrated loudness a block above the -70 LUFS gate.

    Examples
    --------
    >>> meter = LoudnessMeter(48000, 2)
    >>> meter.add(audio)                                 # doctest: +SKIP
    >>> meter.integrated_lufs, meter.true_peak_dbtp      # doctest: +SKIP
    """

    def __init__(self, sample_rate, channels):
        self.sample_rate = check_range("sample_rate", sample_rate, 8000, 384000, " Hz")
        self.channels = int(check_range("channels", channels, 1, lib.PM_MAX_CHANNELS))
        if self.channels != channels:
            raise ValueError(f"channels must be a whole number, got {channels!r}")
        self._ptr = created("pm_loudness", lib.pm_loudness_create, lib.pm_loudness_destroy,
                            self.sample_rate, self.channels)

    def add(self, audio):
        """Measure a block of audio.

        Parameters
        ----------
        audio : numpy.ndarray
            float32 samples shaped (frames, channels), or (frames,) for mono. float64 input is
            converted to a float32 copy. NaN and Inf samples count as silence.
        """
        data = as_audio(audio, self.channels)
        check(lib.pm_loudness_add(self._ptr, float_ptr(data), data.shape[0]),
              "LoudnessMeter.add")

    def reset(self):
        """Forget all audio measured so far; channel weights are kept."""
        lib.pm_loudness_reset(self._ptr)

    def set_channel_weight(self, channel, weight):
        """Set the BS.1770 weight G_i of one channel.

        Parameters
        ----------
        channel : int
            Channel index, 0..channels-1.
        weight : float
            Power weight, 0..10 (1.0 front channels, 1.41 surrounds, 0 excludes e.g. LFE).
        """
        if not isinstance(channel, numbers.Integral) or not 0 <= channel < self.channels:
            raise IndexError(f"channel={channel!r} is out of range: allowed 0..{self.channels - 1}")
        weight = check_range("weight", weight, 0.0, 10.0)
        check(lib.pm_loudness_set_channel_weight(self._ptr, channel, weight),
              "set_channel_weight")

    @property
    def integrated_lufs(self):
        """Integrated (gated) loudness since the last reset, LUFS."""
        return lib.pm_loudness_integrated(self._ptr)

    @property
    def momentary_lufs(self):
        """Loudness of the last 400 ms (updated every 10 ms), LUFS."""
        return lib.pm_loudness_momentary(self._ptr)

    @property
    def short_term_lufs(self):
        """Loudness of the last 3 s (updated every 10 ms), LUFS."""
        return lib.pm_loudness_short_term(self._ptr)

    @property
    def momentary_max_lufs(self):
        """Largest momentary loudness since the last reset (10 ms resolution), LUFS."""
        return lib.pm_loudness_momentary_max(self._ptr)

    @property
    def short_term_max_lufs(self):
        """Largest short-term loudness since the last reset (10 ms resolution), LUFS."""
        return lib.pm_loudness_short_term_max(self._ptr)

    @property
    def loudness_range_lu(self):
        """Loudness range (EBU Tech 3342) of the short-term values so far, LU."""
        return lib.pm_loudness_range(self._ptr)

    @property
    def true_peak_dbtp_per_channel(self):
        """True peak (4x oversampled) of each channel, dBTP."""
        return [lib.pm_loudness_true_peak_dbtp(self._ptr, c) for c in range(self.channels)]

    @property
    def true_peak_dbtp(self):
        """True peak over all channels, dBTP."""
        return max(self.true_peak_dbtp_per_channel)

    @property
    def sample_peak_dbfs_per_channel(self):
        """Largest absolute sample value of each channel, dBFS."""
        return [lib.pm_loudness_sample_peak_dbfs(self._ptr, c) for c in range(self.channels)]

    @property
    def sample_peak_dbfs(self):
        """Largest absolute sample value over all channels, dBFS."""
        return max(self.sample_peak_dbfs_per_channel)

    @property
    def frames(self):
        """Frames measured since the last reset."""
        return lib.pm_loudness_frames(self._ptr)

    @property
    def latency_samples(self):
        """The meter passes no audio through, so it adds no delay: always 0."""
        return 0

    def __repr__(self):
        return (f"LoudnessMeter(sample_rate={self.sample_rate:g}, channels={self.channels}, "
                f"frames={self.frames}, integrated_lufs={self.integrated_lufs:.2f}, "
                f"loudness_range_lu={self.loudness_range_lu:.2f}, "
                f"true_peak_dbtp={self.true_peak_dbtp:.2f})")


def integrated_loudness(audio, sample_rate):
    """Integrated loudness of a whole signal (ITU-R BS.1770-4), LUFS.

    Parameters
    ----------
    audio : numpy.ndarray
        float32/float64 samples, (frames,) or (frames, channels) with up to 16 channels.
    sample_rate : float
        Sample rate in Hz, 8000..384000.

    Returns
    -------
    float
        LUFS; ``-inf`` if no 400 ms block is above the -70 LUFS gate.
    """
    audio = np.asarray(audio)
    channels = audio.shape[1] if audio.ndim == 2 else 1
    meter = LoudnessMeter(sample_rate, channels)
    meter.add(audio)
    return meter.integrated_lufs
