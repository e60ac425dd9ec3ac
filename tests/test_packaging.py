"""Packaging: the configs ship in the wheel (declared so setuptools stays quiet), and a missing C
compiler stops the build with a message saying what to install, not a compiler trace."""
import importlib.util
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from pymaster.config import tomllib

ROOT = Path(__file__).resolve().parents[1]


def load_setup_py():
    spec = importlib.util.spec_from_file_location("pymaster_setup_py", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: setup() is not called
    return module


def test_every_config_folder_is_a_declared_package_with_its_files():
    """A folder under configs/ that is not declared would make setuptools warn (and stay
    out of the wheel): every one is a package of pymaster.configs with its *.toml."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"] == {"pymaster.configs": "configs"}
    folders = {p.parent for p in (ROOT / "configs").rglob("*.toml")}
    declared = {ROOT / "configs" / Path(*name.split(".")[2:]): name for name in tool["packages"]
                if name.startswith("pymaster.configs")}
    assert folders <= set(declared)
    for folder in folders:
        assert "*.toml" in tool["package-data"][declared[folder]]


def test_missing_compiler_is_said_plainly(tmp_path):
    result = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "-b", tmp_path / "lib", "-t",
         tmp_path / "temp"], cwd=ROOT, env=dict(os.environ, CC=str(tmp_path / "no-cc")),
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "pymaster needs a C compiler (gcc or clang) and the Python headers" in result.stderr
    assert "apt-get install gcc python3-dev" in result.stderr
    assert f"the C compiler '{tmp_path / 'no-cc'}' is not found" in result.stderr
    assert not list(tmp_path.rglob("*.so"))  # stopped before compiling anything


def test_missing_python_headers_are_said_plainly(tmp_path):
    check = load_setup_py().missing_build_tools
    include = sysconfig.get_paths()["include"]
    assert check([sys.executable], [str(tmp_path)]) == [f"Python.h is not in {tmp_path}"]
    if os.path.isfile(os.path.join(include, "Python.h")):  # headers installed: nothing missing
        assert check([sys.executable], [str(tmp_path), include]) == []
