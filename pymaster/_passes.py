"""The streaming passes of an offline master: measure, render, deliver.

Each pass reads blocks in a background thread (see ``_pipeline``), works on them in this one
and, where it writes, writes in another, so a pass costs about its slowest stage.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from . import __version__, metadata
from ._pipeline import BackgroundWriter
from .audio_io import ScratchAudio, open_writer
from .dither import Dither
from .eq import Equalizer
from .loudness import LoudnessMeter


def measure_pass(blocks, analyzer, probe, eq_bands, cache=None, rate_out=None, frames_out=0):
    """Pass 1: measure the input with `analyzer`, and the input after the preset's EQ with
    `probe` (the drive model's view of the signal). If `cache` is given, also resample the
    input into it at `rate_out`, exactly `frames_out` frames long (soxr, before the chain, so
    the limiter's true-peak promise holds at the delivered rate)."""
    rate, channels = analyzer.sample_rate, analyzer.channels
    eq = Equalizer(rate, channels, [b for b in eq_bands if b["freq_hz"] <= 0.49 * rate])
    resampler = None
    if cache is not None:
        import soxr
        resampler = soxr.ResampleStream(rate, rate_out, channels, dtype="float32",
                                        quality="VHQ")
    with BackgroundWriter(probe.add) as side:  # the work split about evenly between threads
        for block in blocks:
            analyzer.add(block)
            side.put(eq.process(block))
            if resampler:
                cache.write(resampler.resample_chunk(block))
    if resampler:
        cache.write(resampler.resample_chunk(np.zeros((0, channels), np.float32), last=True))
        if cache.frames < frames_out:  # same duration as the input, at the new rate
            cache.write(np.zeros((frames_out - cache.frames, channels), np.float32))
        cache.frames = frames_out


@dataclass
class Render:
    """One pass of the input through the chain at one drive."""

    drive_db: float
    lufs: float = -math.inf
    true_peak_dbtp: float = -math.inf
    limiter_gr: list = field(default_factory=list)     # sampled every window, dB
    compressor_gr: list = field(default_factory=list)
    limiter_gr_max: float = 0.0                         # exact maxima over the render, dB
    compressor_gr_max: float = 0.0
    scratch: ScratchAudio = None

    def summary(self):
        return {"drive_db": self.drive_db, "integrated_lufs": self.lufs,
                "true_peak_dbtp": self.true_peak_dbtp, "limiter_gr_max_db": self.limiter_gr_max}


def render_pass(chain, blocks, drive_db, scratch, window):
    """Passes 2-3: `blocks` through `chain` at `drive_db` into `scratch`, latency compensated
    (same length, aligned), metering the output. Returns a :class:`Render`."""
    chain.reset()
    chain.metering = False  # `meter` below measures the output once, off this thread
    chain_gain = min(max(drive_db, -24.0), 24.0)  # the chain's range; the rest before it
    chain.input_gain_db = chain_gain
    pre_gain = np.float32(10 ** ((drive_db - chain_gain) / 20))
    meter = LoudnessMeter(chain.sample_rate, chain.channels)
    render = Render(drive_db, scratch=scratch)
    skip, position = chain.latency_samples, 0

    chain.take_max_gain_reduction_db()  # start the first window clean

    def sample_gr():  # the exact maximum gain reduction of each window
        compressor_db, limiter_db = chain.take_max_gain_reduction_db()
        render.limiter_gr.append(limiter_db)
        render.compressor_gr.append(compressor_db)

    def run(block, writer):
        nonlocal skip, position
        start = 0
        while start < len(block):  # process up to each window boundary, sample GR there
            n = min(len(block) - start, window - position % window)
            chain.process(block[start:start + n], out=block[start:start + n])
            start += n
            position += n
            if position % window == 0:
                sample_gr()
        drop = min(skip, len(block))  # the first `latency` output frames precede the input
        skip -= drop
        if drop < len(block):
            writer.put(block[drop:])

    def keep(block):  # in the writer thread: the chain thread only runs the chain
        meter.add(block)
        scratch.write(block)

    with BackgroundWriter(keep) as writer:
        for block in blocks:
            if pre_gain != 1:
                block *= pre_gain
            run(block, writer)
        tail = np.zeros((chain.latency_samples, chain.channels), dtype=np.float32)
        run(tail, writer)  # flush the lookahead: the output is as long as the input
    if position % window:
        sample_gr()
    snap = chain.meters()
    render.limiter_gr_max, render.compressor_gr_max = (snap.limiter_gr_max_db,
                                                       snap.compressor_gr_max_db)
    render.lufs, render.true_peak_dbtp = meter.integrated_lufs, meter.true_peak_dbtp
    return render


def deliver_pass(blocks, path, fmt, depth, rate, channels, trim_db, seed, tags, analyzer):
    """Pass 4: trim, dither (16/24 bits), measure with `analyzer` and write the delivery file.

    The dither is a separate stage (not the chain's) because it must follow the trim.
    """
    gain = np.float32(10 ** (trim_db / 20))
    dither = Dither(channels, int(depth), seed) if depth in ("16", "24") else None
    info = dict(metadata.info_strings(tags), software=f"pymaster {__version__}") \
        if fmt == "wav" else None
    with open_writer(path, fmt, depth, rate, channels, info) as out, \
            BackgroundWriter(out.write) as writer:
        for block in blocks:
            if gain != 1:
                block *= gain
            if dither:
                dither.process(block, out=block)
            analyzer.add(block)
            writer.put(block)

