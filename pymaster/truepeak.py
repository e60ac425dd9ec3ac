"""True-peak measurement of a whole signal (4x oversampling, BS.1770-4 Annex 2 style)."""
import math

import numpy as np

from ._buffers import as_audio, check_range, float_ptr
from ._native import check, created, lib


def true_peak_dbtp(audio, sample_rate):
    """True peak of `audio` in dBTP, maximum over channels.

    Parameters
    ----------
    audio : numpy.ndarray
        float32/float64 samples, (frames,) or (frames, channels).
    sample_rate : float
        8000..384000 Hz (the reading is made at 4x this rate).

    Returns
    -------
    float
        dBTP; -inf for digital silence.
    """
    check_range("sample_rate", sample_rate, 8000, 384000, " Hz")
    audio = np.asarray(audio)
    channels = 1 if audio.ndim == 1 else audio.shape[-1]
    data = as_audio(audio, channels)
    meter = created("pm_truepeak", lib.pm_truepeak_create, lib.pm_truepeak_destroy, channels)
    check(lib.pm_truepeak_process(meter, float_ptr(data), data.shape[0]), "true_peak_dbtp")
    lib.pm_truepeak_flush(meter)
    peak = max(lib.pm_truepeak_get(meter, c) for c in range(channels))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf
