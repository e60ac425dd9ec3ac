"""TPDF dither and quantisation to 16/24 bits over the C core."""
from ._buffers import check_range, process_with
from ._native import check, created, lib
from ._processor import Processor

ALLOWED_BITS = (0, 16, 24)


class Dither(Processor):
    """Adds seeded TPDF dither (+-1 LSB) and rounds to the grid of a 16- or 24-bit format.

    The output stays float32 but lies exactly on the integer grid, so writing it as PCM of that
    depth is lossless. ``bits=0`` passes audio through. The same seed gives the same noise.
    """

    _c_name = "dither"

    def __init__(self, channels, bits=16, seed=0):
        self.channels = int(check_range("channels", channels, 1, lib.PM_MAX_CHANNELS))
        self.sample_rate = None
        if bits not in ALLOWED_BITS:
            raise ValueError(f"bits={bits!r} is not allowed: use one of {ALLOWED_BITS}")
        self._owner = None
        self._ptr = created("pm_dither", lib.pm_dither_create, lib.pm_dither_destroy,
                            self.channels, bits, int(seed) & (2**64 - 1))

    @property
    def bits(self):
        return lib.pm_dither_get_bits(self._ptr)

    @bits.setter
    def bits(self, value):
        if value not in ALLOWED_BITS:
            raise ValueError(f"bits={value!r} is not allowed: use one of {ALLOWED_BITS}")
        check(lib.pm_dither_set_bits(self._ptr, value), "bits")

    def process(self, audio, out=None):
        self._check_owned()
        return process_with(lib.pm_dither_process, self._ptr, audio, self.channels, out)

    def __repr__(self):
        return f"Dither(channels={self.channels}, bits={self.bits})"
