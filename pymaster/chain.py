"""The mastering chain: input gain -> EQ -> compressor -> limiter -> dither, in one C call."""
from dataclasses import dataclass, fields

import numpy as np

from ._buffers import as_audio, check_range, process_with
from ._native import check, created, ffi, lib
from .compressor import Compressor
from .dither import ALLOWED_BITS
from .eq import Equalizer
from .limiter import Limiter

STAGES = {
    "eq": lib.PM_STAGE_EQ,
    "compressor": lib.PM_STAGE_COMPRESSOR,
    "limiter": lib.PM_STAGE_LIMITER,
    "dither": lib.PM_STAGE_DITHER,
}


@dataclass(frozen=True)
class MeterSnapshot:
    """Output meters of a Chain (LUFS, dB), read without disturbing the audio thread."""

    frames: int
    momentary_lufs: float
    short_term_lufs: float
    integrated_lufs: float
    momentary_max_lufs: float
    short_term_max_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    compressor_gr_db: float
    limiter_gr_db: float
    compressor_gr_max_db: float
    limiter_gr_max_db: float


class Chain:
    """The whole mastering chain, processed by one C call per block.

    Parameters
    ----------
    sample_rate : float
        8000..384000 Hz.
    channels : int
        1..16.
    eq_bands : int
        Number of EQ bands (0..16), configured through ``chain.eq``.
    lookahead_ms : float
        Limiter lookahead, 2..20 ms: the chain's latency.
    dither_seed : int
        Seed of the TPDF dither noise (reproducible renders).

    Attributes
    ----------
    eq, compressor, limiter
        The stages; set their parameters while audio runs (changes glide). They cannot process
        on their own: they belong to the chain.

    Notes
    -----
    Output does not depend on the block size used. ``latency_samples`` is the delay of the
    output; :meth:`render` compensates it for whole signals.
    """

    def __init__(self, sample_rate=48000, channels=2, *, eq_bands=4, lookahead_ms=5.0,
                 dither_seed=0):
        self.sample_rate = check_range("sample_rate", sample_rate, 8000, 384000, " Hz")
        self.channels = int(check_range("channels", channels, 1, lib.PM_MAX_CHANNELS))
        eq_bands = int(check_range("eq_bands", eq_bands, 0, lib.PM_MAX_EQ_BANDS))
        lookahead_ms = check_range("lookahead_ms", lookahead_ms, 2, 20, " ms")
        self._ptr = created("pm_chain", lib.pm_chain_create, lib.pm_chain_destroy,
                            self.sample_rate, self.channels, eq_bands, lookahead_ms,
                            int(dither_seed) & (2**64 - 1))
        self.eq = Equalizer._borrowed(lib.pm_chain_eq(self._ptr), sample_rate, channels, self)
        self.compressor = Compressor._borrowed(lib.pm_chain_compressor(self._ptr), sample_rate,
                                               channels, self)
        self.limiter = Limiter._borrowed(lib.pm_chain_limiter(self._ptr), sample_rate, channels,
                                         self)
        self._dither = lib.pm_chain_dither(self._ptr)
        self._metering = True

    # ---- parameters ----
    @property
    def input_gain_db(self):
        """Gain before the EQ (drive into the compressor and limiter), -24..24 dB."""
        return lib.pm_chain_get_input_gain_db(self._ptr)

    @input_gain_db.setter
    def input_gain_db(self, value):
        value = check_range("input_gain_db", value, -24, 24, " dB")
        check(lib.pm_chain_set_input_gain_db(self._ptr, value), "input_gain_db")

    @property
    def output_gain_db(self):
        """Trim after the limiter, -48..0 dB (never above 0, so the ceiling still holds)."""
        return lib.pm_chain_get_output_gain_db(self._ptr)

    @output_gain_db.setter
    def output_gain_db(self, value):
        value = check_range("output_gain_db", value, -48, 0, " dB")
        check(lib.pm_chain_set_output_gain_db(self._ptr, value), "output_gain_db")

    def set_monitor(self, trim_db=0.0, dim=False, mono=False):
        """Monitor feed settings for live use: trim (-60..12 dB), dim (-20 dB), mono check."""
        trim_db = check_range("monitor trim_db", trim_db, -60, 12, " dB")
        check(lib.pm_chain_set_monitor(self._ptr, trim_db, bool(dim), bool(mono)), "monitor")

    @property
    def monitor(self):
        """Monitor settings as a dict (trim_db, dim, mono)."""
        trim, dim, mono = ffi.new("double *"), ffi.new("int *"), ffi.new("int *")
        lib.pm_chain_get_monitor(self._ptr, trim, dim, mono)
        return {"trim_db": trim[0], "dim": bool(dim[0]), "mono": bool(mono[0])}

    @property
    def dither_bits(self):
        """Quantise the output to 16 or 24 bits with TPDF dither; 0 leaves it float."""
        return lib.pm_dither_get_bits(self._dither)

    @dither_bits.setter
    def dither_bits(self, value):
        if value not in ALLOWED_BITS:
            raise ValueError(f"dither_bits={value!r} is not allowed: use one of {ALLOWED_BITS}")
        check(lib.pm_dither_set_bits(self._dither, value), "dither_bits")

    def set_bypass(self, stage, bypass=True):
        """Bypass a stage ("eq", "compressor", "limiter", "dither") without a click.

        A bypassed EQ or compressor is skipped (bit-exact) once its 10 ms crossfade is over; a
        bypassed limiter runs at unity gain but keeps its delay, so latency never changes.
        """
        check(lib.pm_chain_set_bypass(self._ptr, self._stage(stage), bool(bypass)), stage)

    def bypassed(self, stage):
        return bool(lib.pm_chain_get_bypass(self._ptr, self._stage(stage)))

    @staticmethod
    def _stage(stage):
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}: allowed {', '.join(STAGES)}")
        return STAGES[stage]

    @property
    def metering(self):
        """Output loudness/true-peak metering (on by default; costs a 4x oversampler)."""
        return self._metering

    @metering.setter
    def metering(self, enabled):
        check(lib.pm_chain_set_metering(self._ptr, bool(enabled)), "metering")
        self._metering = bool(enabled)

    @property
    def latency_samples(self):
        return lib.pm_chain_latency(self._ptr)

    # ---- processing ----
    def process(self, audio, out=None):
        """Process one block (streaming); see :meth:`pymaster.Limiter.process` for shapes."""
        return process_with(lib.pm_chain_process, self._ptr, audio, self.channels, out)

    def render(self, audio, block_frames=65536):
        """Process a whole signal with latency compensated: same length, aligned with input.

        The chain's state carries on from earlier calls; call :meth:`reset` first for a fresh
        render. The limiter's lookahead tail is flushed with silence.
        """
        src = as_audio(audio, self.channels)
        latency = self.latency_samples
        out = np.empty_like(src)
        pending = latency  # output frames still to drop
        written = 0
        shape = (block_frames,) + src.shape[1:]
        block = np.empty(shape, dtype=np.float32)
        for start in range(0, src.shape[0] + latency, block_frames):
            chunk = src[start:start + block_frames]
            n = min(block_frames, src.shape[0] + latency - start)
            block[:chunk.shape[0]] = chunk
            block[chunk.shape[0]:n] = 0.0
            self.process(block[:n], out=block[:n])
            skip = min(pending, n)
            pending -= skip
            keep = block[skip:n]
            out[written:written + keep.shape[0]] = keep
            written += keep.shape[0]
        return out

    def reset(self):
        """Clear all signal history and meters; parameters are kept. Not while audio runs."""
        lib.pm_chain_reset(self._ptr)

    def take_max_gain_reduction_db(self):
        """Largest gain reduction of (compressor, limiter) since the previous call, in dB.

        The stages' own ``take_max_gain_reduction_db`` belongs to the chain; use this one.
        """
        comp, lim = ffi.new("double *"), ffi.new("double *")
        lib.pm_chain_take_gain_reduction(self._ptr, comp, lim)
        return comp[0], lim[0]

    def meters(self):
        """A consistent snapshot of the output meters (safe from any thread)."""
        snap = ffi.new("pm_meter_snapshot *")  # per call: callers may be on several threads
        lib.pm_chain_meters(self._ptr, snap)
        return MeterSnapshot(**{f.name: getattr(snap, f.name) for f in fields(MeterSnapshot)})

    def __repr__(self):
        bypassed = [s for s in STAGES if self.bypassed(s)]
        return (f"Chain(sample_rate={self.sample_rate:g}, channels={self.channels}, "
                f"input_gain_db={self.input_gain_db:g}, latency_samples={self.latency_samples}, "
                f"bypassed={bypassed})\n  {self.eq!r}\n  {self.compressor!r}\n  {self.limiter!r}")

