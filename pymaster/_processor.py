"""Base for the thin Python classes over C processors."""
from ._buffers import check_range, process_with
from ._native import check, created, lib


class Processor:
    """Owns (or borrows from a Chain) one C processor object.

    Subclasses set ``_c_name`` (e.g. ``"limiter"`` for ``pm_limiter_*``) and call
    ``_init_owned`` or are made by ``_borrowed``.
    """

    _c_name = ""

    def _init_owned(self, sample_rate, channels, *create_args):
        self.sample_rate = check_range("sample_rate", sample_rate, 8000, 384000, " Hz")
        self.channels = int(check_range("channels", channels, 1, lib.PM_MAX_CHANNELS))
        if self.channels != channels:
            raise ValueError(f"channels must be a whole number, got {channels!r}")
        self._owner = None
        self._ptr = created(f"pm_{self._c_name}", self._c("create"), self._c("destroy"),
                            self.sample_rate, self.channels, *create_args)

    @classmethod
    def _borrowed(cls, ptr, sample_rate, channels, owner):
        """Wrap a processor owned by `owner` (a Chain): parameters only, no processing."""
        self = cls.__new__(cls)
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self._owner = owner  # keeps the chain (and so the C object) alive
        self._ptr = ptr
        return self

    def _c(self, name):
        return getattr(lib, f"pm_{self._c_name}_{name}")

    def _check_owned(self, instead="process the chain instead"):
        if self._owner is not None:
            raise RuntimeError(f"this {type(self).__name__.lower()} belongs to a Chain; "
                               f"{instead}")

    def process(self, audio, out=None):
        """Process a block and return it.

        Parameters
        ----------
        audio : numpy.ndarray
            float32 samples shaped (frames, channels), or (frames,) for mono. float64 input is
            converted to a float32 copy; non-contiguous input is copied.
        out : numpy.ndarray, optional
            Writeable C-contiguous float32 array of the same shape to write into (may be
            `audio` itself for in-place processing).

        Returns
        -------
        numpy.ndarray
            The processed block, same shape as `audio`. State carries over to the next call.
        """
        self._check_owned()
        return process_with(self._c("process"), self._ptr, audio, self.channels, out)

    def reset(self):
        """Clear the signal history; parameters are kept."""
        self._check_owned()
        self._c("reset")(self._ptr)

    @property
    def latency_samples(self):
        """Delay of the output relative to the input, in samples."""
        return 0

    def _check(self, code, what):
        return check(code, what)
