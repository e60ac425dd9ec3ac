"""cffi build script (out-of-line API mode) for the pymaster C core.

The cdef is cut from csrc/pymaster.h between the CDEF markers, so the header stays the only
hand-written description of the API.
"""
import glob
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "pymaster.h")


def read_cdef(path=HEADER):
    text = open(path, encoding="utf-8").read()
    match = re.search(r"/\* CDEF-BEGIN \*/(.*)/\* CDEF-END \*/", text, re.S)
    if not match:
        raise RuntimeError(f"{path}: CDEF-BEGIN/CDEF-END markers not found")
    return match.group(1)


def compile_args():
    args = ["-std=gnu11", "-O3", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wextra",
            "-Wno-unused-parameter"]
    # Opt-in build for this CPU only (never for wheels): PYMASTER_NATIVE=1 pip install .
    if os.environ.get("PYMASTER_NATIVE") == "1":
        args += ["-march=native", "-DPM_NATIVE"]
    return args


def sources():
    # Relative paths keep setuptools happy; every .c in csrc/ is part of the library.
    return sorted(os.path.relpath(p, os.path.dirname(HERE))
                  for p in glob.glob(os.path.join(HERE, "*.c")))


ffibuilder = FFI()
ffibuilder.cdef(read_cdef())
ffibuilder.set_source(
    "pymaster._pymaster_c",
    '#include "pymaster.h"',
    sources=sources(),
    include_dirs=[os.path.relpath(HERE, os.path.dirname(HERE))],
    extra_compile_args=compile_args(),
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
