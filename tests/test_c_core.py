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
