"""Lookahead true-peak limiter over the C core."""
from ._buffers import check_range
from ._native import check, lib
from ._processor import Processor


class Limiter(Processor):
    """Brickwall limiter that keeps inter-sample (true) peaks under a ceiling.

    Parameters
    ----------
    sample_rate : float
        8000..384000 Hz.
    channels : int
        1..16; the gain is linked across channels (the stereo image does not shift).
    ceiling_dbtp : float
        -20..0 dBTP. No output true peak exceeds it (measured at 16x oversampling, the limiter
        aims 0.08 dB under it to cover interpolation error).
    lookahead_ms : float
        2..20 ms. Fixed for the object's life; it is the latency (see ``latency_samples``).
    release_ms : float
        1..2000 ms.
    auto_release : bool
        Program-dependent release: short peaks recover five times faster than sustained
        limiting, which avoids both pumping and distortion.
    """

    _c_name = "limiter"

    def __init__(self, sample_rate, channels, *, ceiling_dbtp=-1.0, lookahead_ms=5.0,
                 release_ms=100.0, auto_release=True):
        lookahead_ms = check_range("lookahead_ms", lookahead_ms, 2, 20, " ms")
        self._init_owned(sample_rate, channels, lookahead_ms)
        self.ceiling_dbtp = ceiling_dbtp
        self.release_ms = release_ms
        self.auto_release = auto_release

    @property
    def ceiling_dbtp(self):
        return lib.pm_limiter_get_ceiling_dbtp(self._ptr)

    @ceiling_dbtp.setter
    def ceiling_dbtp(self, value):
        value = check_range("ceiling_dbtp", value, -20, 0, " dBTP")
        check(lib.pm_limiter_set_ceiling_dbtp(self._ptr, value), "ceiling_dbtp")

    @property
    def release_ms(self):
        return lib.pm_limiter_get_release_ms(self._ptr)

    @release_ms.setter
    def release_ms(self, value):
        value = check_range("release_ms", value, 1, 2000, " ms")
        check(lib.pm_limiter_set_release_ms(self._ptr, value), "release_ms")

    @property
    def auto_release(self):
        return bool(lib.pm_limiter_get_auto_release(self._ptr))

    @auto_release.setter
    def auto_release(self, value):
        check(lib.pm_limiter_set_auto_release(self._ptr, bool(value)), "auto_release")

    @property
    def bypass(self):
        """Unity gain (glides there in 10 ms), still delayed by the latency; bit-exact once
        settled."""
        return bool(lib.pm_limiter_get_bypass(self._ptr))

    @bypass.setter
    def bypass(self, value):
        check(lib.pm_limiter_set_bypass(self._ptr, bool(value)), "bypass")

    @property
    def lookahead_ms(self):
        return lib.pm_limiter_get_lookahead_ms(self._ptr)

    @property
    def latency_samples(self):
        return lib.pm_limiter_latency(self._ptr)

    @property
    def gain_reduction_db(self):
        """Gain reduction of the last processed block, in dB (>= 0)."""
        return lib.pm_limiter_gain_reduction_db(self._ptr)

    def take_max_gain_reduction_db(self):
        """Largest gain reduction since the previous call, in dB; resets it."""
        self._check_owned("use Chain.take_max_gain_reduction_db()")
        return lib.pm_limiter_take_max_gain_reduction_db(self._ptr)

    def __repr__(self):
        return (f"Limiter(sample_rate={self.sample_rate:g}, channels={self.channels}, "
                f"ceiling_dbtp={self.ceiling_dbtp:g}, lookahead_ms={self.lookahead_ms:.3g}, "
                f"release_ms={self.release_ms:g}, auto_release={self.auto_release})")
