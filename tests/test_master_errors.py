"""Bad input and failures: one-line errors (exit 2, no traceback) and never a partial output."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from children import default_signals
from signals import programme

import pymaster.render as render
from pymaster.errors import DeliveryError


def run(*args):
    return subprocess.run([sys.executable, "-m", "pymaster", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(result, *words):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pymaster: error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in result.stderr


@pytest.fixture
def folder(tmp_path):
    sf.write(tmp_path / "mix.wav", programme(4.0, 48000, seed=2, level_db=-8), 48000,
             subtype="PCM_24")
    return tmp_path


def files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_missing_input(folder):
    result = run("master", folder / "nope.wav", "-o", folder / "out.wav")
    assert_one_line_error(result, "nope.wav", "no such file")
    assert files(folder) == ["mix.wav"]


@pytest.mark.parametrize("name, content, reason", [
    ("corrupt.wav", b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 20, "not a readable audio file"),
    ("noise.flac", bytes(range(256)) * 40, "not a readable audio file"),
    ("empty.wav", b"", "empty file"),
])
def test_unreadable_input(folder, name, content, reason):
    (folder / name).write_bytes(content)
    result = run("master", folder / name, "-o", folder / "out.wav")
    assert_one_line_error(result, name, reason)
    assert "out.wav" not in files(folder)


def test_input_without_frames(folder):
    sf.write(folder / "none.wav", np.zeros((0, 2), np.float32), 48000)
    assert_one_line_error(run("analyze", folder / "none.wav"), "none.wav", "no audio")


def test_truncated_wav(folder):
    data = (folder / "mix.wav").read_bytes()
    (folder / "cut.wav").write_bytes(data[:len(data) // 2])
    result = run("master", folder / "cut.wav", "-o", folder / "out.wav")
    assert_one_line_error(result, "cut.wav", "truncated")
    assert "out.wav" not in files(folder)


def test_truncated_flac(folder):
    audio, rate = sf.read(folder / "mix.wav")
    sf.write(folder / "mix.flac", audio, rate, subtype="PCM_24")
    data = (folder / "mix.flac").read_bytes()
    (folder / "cut.flac").write_bytes(data[:len(data) // 2])
    result = run("master", folder / "cut.flac", "-o", folder / "out.wav")
    assert_one_line_error(result, "cut.flac", "truncated")
    assert "out.wav" not in files(folder)


def test_refuses_to_overwrite_the_input(folder):
    before = (folder / "mix.wav").read_bytes()
    for out in (folder / "mix.wav", folder / "." / ".." / folder.name / "mix.wav"):
        result = run("master", folder / "mix.wav", "-o", out, "--overwrite")
        assert_one_line_error(result, "refusing to overwrite the input")
    assert (folder / "mix.wav").read_bytes() == before


def test_existing_output_needs_overwrite(folder):
    (folder / "out.wav").write_bytes(b"keep me")
    result = run("master", folder / "mix.wav", "-o", folder / "out.wav")
    assert_one_line_error(result, "out.wav", "already exists", "--overwrite")
    assert (folder / "out.wav").read_bytes() == b"keep me"
    result = run("master", folder / "mix.wav", "-o", folder / "out.wav", "--overwrite", "-q")
    assert result.returncode == 0, result.stderr
    assert sf.info(folder / "out.wav").frames == 4 * 48000
    assert files(folder) == ["mix.wav", "out.wav"]


@pytest.mark.parametrize("toml, words", [
    ("[target]\nintegrated_lufs = -14.0\nceiling_dbtp = -1.0\n[compressor]\nratio = 200\n",
     ["compressor.ratio", "200", "1..100"]),
    ("[target]\nintegrated_lufs = -14.0\nceiling_dbtp = -1.0\n[limiter]\nreleese_ms = 50\n",
     ["limiter.releese_ms", "unknown key", "release_ms"]),
    ("[target]\nintegrated_lufs = -60\nceiling_dbtp = -1.0\n",
     ["target.integrated_lufs", "-60", "-36..-5 LUFS"]),
    ("[target]\nintegrated_lufs = -14.0\nceiling_dbtp = -1.0\n[[eq]]\ntype = 'notch'\n"
     "freq_hz = 100\n", ["eq[0].type", "notch", "peak"]),
    ("[target]\nceiling_dbtp = -1.0\n", ["missing key", "target.integrated_lufs"]),
    ("[target\n", ["not valid TOML"]),
])
def test_bad_preset_file_names_file_key_and_range(folder, toml, words):
    (folder / "mine.toml").write_text(toml)
    result = run("master", folder / "mix.wav", "-o", folder / "out.wav",
                 "--preset", folder / "mine.toml")
    assert_one_line_error(result, "mine.toml", *words)
    assert "out.wav" not in files(folder)


def test_user_preset_file_works(folder):
    (folder / "mine.toml").write_text(
        '[target]\nintegrated_lufs = -18.0\nceiling_dbtp = -3.0\n'
        '[[eq]]\ntype = "high_pass"\nfreq_hz = 40.0\n'
        '[limiter]\nrelease_ms = 60.0\n')
    result = run("master", folder / "mix.wav", "-o", folder / "out.wav",
                 "--preset", folder / "mine.toml", "-q")
    assert result.returncode == 0, result.stderr
    from pymaster.analysis import analyze
    measured = analyze(folder / "out.wav")
    assert measured["integrated_lufs"] == pytest.approx(-18.0, abs=0.1)
    assert measured["true_peak_dbtp"] <= -3.0


@pytest.mark.parametrize("args, words", [
    (["--preset", "nonesuch"], ["unknown preset 'nonesuch'", "streaming"]),
    (["--isrc", "US-12-34"], ["invalid ISRC", "CC-XXX-YY-NNNNN"]),
    (["--target-lufs", "3"], ["--target-lufs", "-36..-5"]),
    (["--bit-depth", "32f", "--format", "flac"], ["FLAC holds 16- or 24-bit"]),
])
def test_bad_options(folder, args, words):
    out = folder / ("out.flac" if "flac" in args else "out.wav")
    result = run("master", folder / "mix.wav", "-o", out, *args)
    assert_one_line_error(result, *words)
    assert files(folder) == ["mix.wav"]


def test_missing_output_folder(folder):
    result = run("master", folder / "mix.wav", "-o", folder / "sub" / "out.wav")
    assert_one_line_error(result, "does not exist")


def test_debug_shows_the_traceback(folder):
    result = run("--debug", "master", folder / "nope.wav", "-o", folder / "out.wav")
    assert result.returncode != 0 and "Traceback" in result.stderr
    result = run("analyze", folder / "nope.wav", "--debug")
    assert result.returncode != 0 and "AudioFileError" in result.stderr


def test_failed_delivery_leaves_nothing(folder, monkeypatch):
    """A broken promise found on the final data: no output, no temporary or scratch files."""
    monkeypatch.setattr(render, "CEILING_SLACK_DB", -20.0)  # any peak now "breaks" it
    with pytest.raises(DeliveryError, match="not delivered"):
        render.master(folder / "mix.wav", folder / "out.wav", report_path=folder / "r.json")
    assert files(folder) == ["mix.wav"]


def test_failure_while_tagging_leaves_nothing(folder, monkeypatch):
    def broken(*args):
        raise OSError("disk full")
    monkeypatch.setattr(render.metadata, "write_tags", broken)
    with pytest.raises(OSError, match="disk full"):
        render.master(folder / "mix.wav", folder / "out.wav", tags={"title": "x"})
    assert files(folder) == ["mix.wav"]


def test_interrupted_run_leaves_nothing(tmp_path):
    """SIGTERM while the job runs: the scratch and temporary files go, no output appears."""
    audio = np.tile(programme(10.0, 48000, seed=4, level_db=-8), (12, 1))  # 2 minutes
    for _ in range(4):  # a job that ended before the signal landed: again, twice as long
        sf.write(tmp_path / "long.wav", audio, 48000, subtype="PCM_24")
        proc = subprocess.Popen([sys.executable, "-m", "pymaster", "master",
                                 tmp_path / "long.wav", "-o", tmp_path / "out.wav"],
                                stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
        deadline = time.monotonic() + 60
        while proc.poll() is None and not any(p.name.startswith(".")
                                              for p in tmp_path.iterdir()):  # a pass writes
            assert time.monotonic() < deadline
            time.sleep(0.002)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        if proc.returncode != 0:
            break
        (tmp_path / "out.wav").unlink()
        audio = np.tile(audio, (2, 1))
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert files(tmp_path) == ["long.wav"]
