"""Where numpy meets C: validation and the pointers handed to process calls."""
import numpy as np

from ._native import check, ffi


def check_range(name, value, low, high, unit=""):
    """Return value as float if low <= value <= high, else raise a ValueError saying the range."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (low <= number <= high):  # also rejects NaN
        raise ValueError(f"{name}={value!r} is out of range: allowed {low}..{high}{unit}")
    return number


def as_audio(audio, channels, name="audio"):
    """Validate audio for a processor with `channels` channels.

    Accepts float32 (or float64, converted to a float32 copy) arrays shaped (frames, channels),
    or 1-D (frames,) when channels == 1. Non-contiguous arrays are copied. Returns a C-contiguous
    float32 array of the same shape.
    """
    array = np.asarray(audio)
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 (or float64) samples, got dtype {array.dtype}")
    if array.ndim == 1:
        if channels != 1:
            raise ValueError(f"{name} is 1-D (mono) but the processor has {channels} channels; "
                             f"pass shape (frames, {channels})")
    elif array.ndim == 2:
        if array.shape[1] != channels:
            raise ValueError(f"{name} has {array.shape[1]} channels (shape {array.shape}), "
                             f"expected {channels}: arrays are (frames, channels)")
    else:
        raise ValueError(f"{name} must be 1-D or 2-D (frames, channels), got shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float32)


def frames_of(array):
    return array.shape[0]


def float_ptr(array):
    """A float* into a C-contiguous float32 array (no copy)."""
    return ffi.cast("float *", ffi.from_buffer(array))


def process_with(fn, obj, audio, channels, out=None):
    """Run fn(obj, in, out, frames) on validated audio; returns `out` (new array if None)."""
    src = as_audio(audio, channels)
    if out is None:
        out = np.empty_like(src)
    elif (not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != src.shape
          or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError(f"out must be a writeable C-contiguous float32 array of shape {src.shape}")
    check(fn(obj, float_ptr(src), float_ptr(out), src.shape[0]), fn.__name__)
    return out
