from setuptools import setup

# Everything else lives in pyproject.toml; this file only wires the cffi extension in.
setup(cffi_modules=["csrc/_build_ffi.py:ffibuilder"])
