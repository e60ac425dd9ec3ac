"""Parametric equalizer (RBJ biquads in double precision) over the C core."""
from ._buffers import check_range
from ._native import check, ffi, lib
from ._processor import Processor

BAND_TYPES = {
    "peak": lib.PM_BAND_PEAK,
    "low_shelf": lib.PM_BAND_LOW_SHELF,
    "high_shelf": lib.PM_BAND_HIGH_SHELF,
    "high_pass": lib.PM_BAND_HIGH_PASS,
    "low_pass": lib.PM_BAND_LOW_PASS,
}
_TYPE_NAMES = {v: k for k, v in BAND_TYPES.items()}


class Equalizer(Processor):
    """Cascade of EQ bands applied identically to every channel.

    Parameters
    ----------
    sample_rate : float
        8000..384000 Hz.
    channels : int
        1..16.
    bands : int or sequence of dict
        Number of bands (all disabled), or band settings as accepted by :meth:`set_band`
        (keys ``type``, ``freq_hz``, ``gain_db``, ``q``, ``enabled``). At most 16.

    Notes
    -----
    Parameter changes glide over about 20 ms, so they can be automated while audio runs.
    """

    _c_name = "eq"

    def __init__(self, sample_rate, channels, bands=4):
        settings = [] if isinstance(bands, int) else list(bands)
        count = bands if isinstance(bands, int) else len(settings)
        if not 0 <= count <= lib.PM_MAX_EQ_BANDS:
            raise ValueError(f"bands={count} is out of range: allowed 0..{lib.PM_MAX_EQ_BANDS}")
        self._init_owned(sample_rate, channels, count)
        for index, band in enumerate(settings):
            self.set_band(index, **band)

    @property
    def band_count(self):
        return lib.pm_eq_bands(self._ptr)

    def set_band(self, index, type="peak", freq_hz=1000.0, gain_db=0.0, q=0.707, enabled=True):
        """Set one band.

        Parameters
        ----------
        index : int
            0..band_count-1.
        type : {"peak", "low_shelf", "high_shelf", "high_pass", "low_pass"}
        freq_hz : float
            Centre/corner frequency, above 0 and at most 0.49 x sample_rate.
        gain_db : float
            -24..24 dB (ignored by the pass filters).
        q : float
            0.1..10 (for shelves, 0.707 gives the classic shelf without overshoot).
        enabled : bool
        """
        if type not in BAND_TYPES:
            raise ValueError(f"band type {type!r} is unknown: allowed {', '.join(BAND_TYPES)}")
        if not 0 <= index < self.band_count:
            raise IndexError(f"band index {index} is out of range: allowed 0..{self.band_count - 1}")
        freq_hz = check_range("freq_hz", freq_hz, 1e-3, 0.49 * self.sample_rate, " Hz")
        gain_db = check_range("gain_db", gain_db, -24, 24, " dB")
        q = check_range("q", q, 0.1, 10)
        check(lib.pm_eq_set_band(self._ptr, index, BAND_TYPES[type], freq_hz, gain_db, q,
                                 bool(enabled)), f"band {index}")

    def band(self, index):
        """Settings of one band as a dict."""
        kind, freq, gain, q, enabled = (ffi.new("int *"), ffi.new("double *"),
                                        ffi.new("double *"), ffi.new("double *"), ffi.new("int *"))
        check(lib.pm_eq_get_band(self._ptr, index, kind, freq, gain, q, enabled), f"band {index}")
        return {"type": _TYPE_NAMES[kind[0]], "freq_hz": freq[0], "gain_db": gain[0], "q": q[0],
                "enabled": bool(enabled[0])}

    @property
    def bands(self):
        """Settings of every band, as a list of dicts."""
        return [self.band(i) for i in range(self.band_count)]

    def __repr__(self):
        active = [b for b in self.bands if b["enabled"]]
        text = ", ".join(f"{b['type']} {b['freq_hz']:g} Hz {b['gain_db']:+g} dB q={b['q']:g}"
                         for b in active)
        return (f"Equalizer(sample_rate={self.sample_rate:g}, channels={self.channels}, "
                f"bands={self.band_count}: [{text}])")
