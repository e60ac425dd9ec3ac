"""The compiled C core and the one place where its error codes become exceptions."""
from ._pymaster_c import ffi, lib  # noqa: F401  (built by csrc/_build_ffi.py)


class PymasterError(RuntimeError):
    """An error reported by the C core that is not a bad argument."""


_VALUE_ERRORS = {lib.PM_ERR_SAMPLE_RATE, lib.PM_ERR_CHANNELS, lib.PM_ERR_RANGE,
                 lib.PM_ERR_FRAMES}


def check(code, what=""):
    """Raise for a negative pm_error code; `what` says which call or value it was about."""
    if code >= 0:
        return code
    message = ffi.string(lib.pm_strerror(code)).decode()
    if what:
        message = f"{what}: {message}"
    if code == lib.PM_ERR_NOMEM:
        raise MemoryError(message)
    if code == lib.PM_ERR_INDEX:
        raise IndexError(message)
    if code in _VALUE_ERRORS:
        raise ValueError(message)
    raise PymasterError(message)


def created(type_name, create, destroy, *args):
    """Call pm_x_create(&out, *args); the object is destroyed when Python drops it."""
    out = ffi.new(f"{type_name} **")
    check(create(out, *args), create.__name__)

    def free(ptr):
        destroy(ffi.new(f"{type_name} **", ptr))

    return ffi.gc(out[0], free)
