"""Build script: the metadata is in pyproject.toml; this wires the cffi extension in, and first
checks that a C compiler and the Python headers are there, which would otherwise end the build
with a long compiler trace instead of saying what to install."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import PlatformError

HOW_TO_INSTALL = (
    "pymaster needs a C compiler (gcc or clang) and the Python headers to build its C core: "
    "on Debian, Ubuntu or Raspberry Pi OS `sudo apt-get install gcc python3-dev`, on Fedora "
    "`sudo dnf install gcc python3-devel`, on macOS `xcode-select --install`")


def missing_build_tools(compiler_command, include_dirs):
    """Why the C core cannot be compiled here (empty: it can): the compiler command (as
    setuptools will run it, CC included) is not found, or no include dir has Python.h."""
    missing = []
    if compiler_command and shutil.which(compiler_command[0]) is None:
        missing.append(f"the C compiler {compiler_command[0]!r} is not found")
    if not any(os.path.isfile(os.path.join(d, "Python.h")) for d in include_dirs):
        missing.append(f"Python.h is not in {', '.join(include_dirs) or 'any include dir'}")
    return missing


class BuildExtChecked(build_ext):
    """build_ext that says what to install when the compiler or the headers are missing."""

    def build_extensions(self):
        command = getattr(self.compiler, "compiler_so", None)  # Unix compilers; MSVC says itself
        if command:
            missing = missing_build_tools(command, [*(self.include_dirs or []),
                                                    *(self.compiler.include_dirs or [])])
            if missing:
                raise PlatformError(f"{HOW_TO_INSTALL} ({'; '.join(missing)})")
        super().build_extensions()


if __name__ == "__main__":  # also when pip's build backend runs it
    setup(cffi_modules=["csrc/_build_ffi.py:ffibuilder"], cmdclass={"build_ext": BuildExtChecked},
          license="MIT")  # here, not in pyproject.toml: a plain string suits old and new setuptools
