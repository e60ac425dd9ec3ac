"""Runs the C-level tests (tests/c) under AddressSanitizer and UBSan."""
import shutil
import subprocess
from pathlib import Path

import pytest

RUN = Path(__file__).parent / "c" / "run.sh"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed to build the C tests")
def test_c_core_under_sanitizers():
    result = subprocess.run(["bash", str(RUN)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


AARCH64_CC = "aarch64-linux-gnu-gcc"


@pytest.mark.skipif(shutil.which(AARCH64_CC) is None or shutil.which("qemu-aarch64") is None,
                    reason="needs gcc-aarch64-linux-gnu and qemu-user (installed by .ci/run)")
def test_c_core_on_aarch64_under_qemu():
    """The Raspberry Pi build: cross-compiled at -O3 for aarch64, run under emulation."""
    runner = "qemu-aarch64 -L /usr/aarch64-linux-gnu"
    result = subprocess.run(["bash", str(RUN), AARCH64_CC, runner], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
