"""pymaster: audio mastering with a C core.

EQ, glue compression, a lookahead true-peak limiter, BS.1770-4 loudness metering and TPDF
dither, each usable on its own or together as one :class:`Chain` processed by one C call per
block. Audio is numpy float32, shaped (frames, channels).
"""
from ._native import PymasterError
from .chain import Chain, MeterSnapshot
from .compressor import Compressor
from .dither import Dither
from .eq import Equalizer
from .limiter import Limiter
from .loudness import LoudnessMeter
from .truepeak import true_peak_dbtp

__all__ = ["Chain", "Compressor", "Dither", "Equalizer", "Limiter", "LoudnessMeter",
           "MeterSnapshot", "PymasterError", "true_peak_dbtp"]
__version__ = "0.1.0"
