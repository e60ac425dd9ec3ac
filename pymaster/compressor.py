"""Mastering compressor: a thin class over the C ``pm_compressor``."""
import threading

from ._buffers import check_range
from ._native import check, ffi, lib
from ._processor import Processor

_DETECTORS = {"peak": lib.PM_DETECT_PEAK, "rms": lib.PM_DETECT_RMS}
_DETECTOR_NAMES = {code: name for name, code in _DETECTORS.items()}

# Allowed ranges, as in csrc/pymaster.h: name -> (low, high, unit).
_RANGES = {
    "threshold_db": (-60.0, 0.0, " dB"),
    "ratio": (1.0, 100.0, ""),
    "knee_db": (0.0, 24.0, " dB"),
    "attack_ms": (0.01, 500.0, " ms"),
    "release_ms": (1.0, 5000.0, " ms"),
    "makeup_db": (-24.0, 24.0, " dB"),
    "stereo_link": (0.0, 1.0, ""),
    "mix": (0.0, 1.0, ""),
    "sidechain_hpf_hz": (10.0, 1000.0, " Hz"),
}
_NAMES = tuple(_RANGES) + ("detector",)


def _validate(name, value):
    """Return the value to store for parameter `name`, or raise ValueError saying the range."""
    if name == "detector":
        if value not in _DETECTORS:
            raise ValueError(f"detector={value!r} is not allowed: use 'peak' or 'rms'")
        return _DETECTORS[value]
    low, high, unit = _RANGES[name]
    if name == "sidechain_hpf_hz":
        number = check_range(name, value, 0.0, high, unit)
        if number != 0.0 and number < low:
            raise ValueError(f"{name}={value!r} is out of range: allowed 0 (off) or "
                             f"{low}..{high}{unit}")
        return number
    return check_range(name, value, low, high, unit)


def _param(name, doc):
    def fget(self):
        return self.params[name]

    def fset(self, value):
        self.set_params(**{name: value})

    return property(fget, fset, doc=doc)


class Compressor(Processor):
    """Feed-forward soft-knee compressor for mastering ("glue") and parallel compression.

    The detector (peak ``|x|`` or RMS over ~10 ms, optionally through a sidechain high-pass)
    feeds a static curve in dB with a quadratic soft knee; the gain reduction is smoothed with
    separate attack and release times. Zero latency. Parameters can be changed from any
    thread while audio runs: continuous ones glide over ~20 ms, so automation does not click.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz, 8000..384000.
    channels : int
        Number of channels, 1..16.
    threshold_db : float, optional
        Level where compression starts (centre of the knee), -60..0 dB.
    ratio : float, optional
        Compression ratio above the knee, 1..100 (1 = no compression).
    knee_db : float, optional
        Width of the soft knee, 0..24 dB (0 = hard knee).
    attack_ms, release_ms : float, optional
        Time constants of the gain reduction (63 % of a step): 0.01..500 ms and 1..5000 ms.
    makeup_db : float, optional
        Gain after compression, -24..24 dB.
    stereo_link : float, optional
        0 = channels compressed independently, 1 = all follow the loudest one.
    mix : float, optional
        Dry/wet balance for parallel compression, 0 (dry) .. 1 (fully compressed).
    sidechain_hpf_hz : float, optional
        High-pass on the detector so bass does not pump the mix: 0 (off) or 10..1000 Hz.
    detector : {"peak", "rms"}, optional
        Level detector.

    Examples
    --------
    >>> import numpy as np
    >>> comp = Compressor(48000, 2, threshold_db=-20, ratio=2, attack_ms=30)
    >>> audio = np.zeros((4800, 2), dtype=np.float32)
    >>> comp.process(audio).shape
    (4800, 2)
    >>> comp.threshold_db = -24            # glides there over ~20 ms while audio runs
    >>> comp.take_max_gain_reduction_db()  # largest reduction since the last call
    0.0
    """

    _c_name = "compressor"

    def __init__(self, sample_rate, channels, *, threshold_db=-18.0, ratio=2.0, knee_db=6.0,
                 attack_ms=10.0, release_ms=150.0, makeup_db=0.0, stereo_link=1.0, mix=1.0,
                 sidechain_hpf_hz=0.0, detector="peak"):
        self._lock = threading.Lock()  # get-modify-set of the C params struct is not atomic
        self._init_owned(sample_rate, channels)
        self.set_params(threshold_db=threshold_db, ratio=ratio, knee_db=knee_db,
                        attack_ms=attack_ms, release_ms=release_ms, makeup_db=makeup_db,
                        stereo_link=stereo_link, mix=mix, sidechain_hpf_hz=sidechain_hpf_hz,
                        detector=detector)

    @classmethod
    def _borrowed(cls, ptr, sample_rate, channels, owner):
        """Wrap the compressor of `owner` (a Chain), keeping the owner alive.

        Its parameters and meters work as usual; ``process`` and ``reset`` raise RuntimeError.
        """
        self = super()._borrowed(ptr, sample_rate, channels, owner)
        self._lock = threading.Lock()
        return self

    # ---- parameters ----

    @property
    def params(self):
        """dict: All parameters (the targets most recently set)."""
        p = ffi.new("pm_compressor_params *")
        lib.pm_compressor_get_params(self._ptr, p)
        values = {name: getattr(p, name) for name in _RANGES}
        values["detector"] = _DETECTOR_NAMES[p.detector]
        return values

    def set_params(self, **params):
        """Set several parameters at once; all are validated before any is changed.

        Raises
        ------
        TypeError
            For an unknown parameter name.
        ValueError
            For a value out of its range (the message names the parameter and the range).
        """
        unknown = set(params) - set(_NAMES)
        if unknown:
            raise TypeError(f"unknown compressor parameter(s): {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(_NAMES)}")
        values = {name: _validate(name, value) for name, value in params.items()}
        with self._lock:
            p = ffi.new("pm_compressor_params *")
            lib.pm_compressor_get_params(self._ptr, p)
            for name, value in values.items():
                setattr(p, name, value)
            check(lib.pm_compressor_set_params(self._ptr, p), "pm_compressor_set_params")

    threshold_db = _param("threshold_db", "float: Threshold (centre of the knee), -60..0 dB.")
    ratio = _param("ratio", "float: Compression ratio, 1..100.")
    knee_db = _param("knee_db", "float: Soft-knee width, 0..24 dB.")
    attack_ms = _param("attack_ms", "float: Attack time, 0.01..500 ms.")
    release_ms = _param("release_ms", "float: Release time, 1..5000 ms.")
    makeup_db = _param("makeup_db", "float: Makeup gain, -24..24 dB.")
    stereo_link = _param("stereo_link", "float: Stereo link, 0 (independent)..1 (linked).")
    mix = _param("mix", "float: Dry/wet mix, 0 (dry)..1 (compressed).")
    sidechain_hpf_hz = _param("sidechain_hpf_hz",
                              "float: Sidechain high-pass, 0 (off) or 10..1000 Hz.")
    detector = _param("detector", "str: Level detector, 'peak' or 'rms'.")

    # ---- audio: process(audio, out=None), reset() and latency_samples (0) come from
    # Processor; on a compressor borrowed from a Chain, process and reset raise RuntimeError.

    # ---- metering (safe to read from any thread) ----

    @property
    def gain_reduction_db(self):
        """float: Current gain reduction of the most reduced channel, dB (>= 0)."""
        return lib.pm_compressor_gain_reduction_db(self._ptr)

    def take_max_gain_reduction_db(self):
        """Return the largest gain reduction (dB) since the previous call, and start anew."""
        self._check_owned("use Chain.take_max_gain_reduction_db()")
        return lib.pm_compressor_take_max_gain_reduction_db(self._ptr)

    def __repr__(self):
        p = self.params
        args = ", ".join(f"{name}={p[name]!r}" for name in _NAMES)
        head = f"sample_rate={self.sample_rate:g}, channels={self.channels}"
        if self._owner is not None:
            return f"<Compressor of a Chain: {head}, {args}>"
        return f"Compressor({head}, {args})"
