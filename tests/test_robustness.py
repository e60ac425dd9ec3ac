"""What already holds, kept: memory does not grow with the length of the file; a full disk
gives a one-line error and leaves nothing; truncated WAVs and FLACs and a FLAC with a corrupt
middle are refused with the position. (bench/test_bench_memory.py prints the 1-hour figure.)
"""
import os
import re
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from signals import programme

RATE = 48000


def run(*args):
    return subprocess.run([sys.executable, "-m", "pymaster", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def one_line_error(result):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pymaster: error: "), result.stderr
    return lines[0]


# ---- memory ----

HELPER = """import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.stderr)"""


def master_peak_rss_mb(path):
    """Peak RSS of `pymaster master` on `path`, measured by a fresh helper process (its only
    child is the job, so RUSAGE_CHILDREN is the job's own peak)."""
    out = path.with_name(path.stem + "-master.wav")
    helper = subprocess.run([sys.executable, "-c", HELPER, sys.executable, "-m", "pymaster",
                             "master", str(path), "-o", str(out), "-q"],
                            capture_output=True, text=True, timeout=600)
    code, kib, stderr = helper.stdout.split(" ", 2)
    assert code == "0", stderr
    out.unlink()
    return int(kib) / 1024


def write_minutes(path, minutes, rate):
    """A long 16-bit mono WAV written 10 s at a time (never whole in memory)."""
    piece = programme(10.0, rate, 1, seed=3, level_db=-10)
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as f:
        for _ in range(round(minutes * 6)):
            f.write(piece)
    return path


def test_memory_does_not_grow_with_length(tmp_path):
    """20 minutes master in the memory of 3, but for the report's curves (a few numbers per
    0.4 s window: measured about 0.1 MB a minute). A leak of even a few kB per 64k-frame block
    would add tens of MB here. Mono 22.05 kHz keeps the test fast; the frame count is what
    matters, and bench/ measures a 1-hour 48 kHz stereo file."""
    rate, short, long = 22050, 3, 20
    short_mb = master_peak_rss_mb(write_minutes(tmp_path / "short.wav", short, rate))
    long_mb = master_peak_rss_mb(write_minutes(tmp_path / "long.wav", long, rate))
    allowed = 1.0 + 0.15 * (long - short)
    print(f"\npeak RSS: {short} min {short_mb:.1f} MB, {long} min {long_mb:.1f} MB")
    assert long_mb - short_mb < allowed, (short_mb, long_mb)


# ---- a full disk ----

@pytest.fixture
def mix(tmp_path):
    path = tmp_path / "mix.wav"
    sf.write(path, programme(4.0, RATE, seed=2, level_db=-8), RATE, subtype="PCM_24")
    return path


@pytest.fixture
def small_disk(tmp_path, request):
    """A real tmpfs of the parametrized size, mounted for the test (root only)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={request.param}", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


# The 4 s stereo mix renders into float scratch files of 1.536 MB (375 pages); a 32-bit float
# delivery file is as large plus a header, so 3000k holds the scratch files (at most two at a
# time) but not the chosen render and the delivery file together.
@pytest.mark.parametrize("small_disk, args, stage", [
    ("256k", [], "cannot write scratch audio there"),
    ("1m", [], "cannot write scratch audio there"),
    ("3000k", ["--bit-depth", "32f"], "cannot write audio there"),
], indirect=["small_disk"], ids=["at-once", "scratch", "delivery"])
def test_full_disk_gives_one_line_and_leaves_nothing(mix, small_disk, args, stage):
    before = mix.read_bytes()
    line = one_line_error(run("master", mix, "-o", small_disk / "out.wav", "--title", "Song",
                              *args))
    assert f"{small_disk}: {stage} (No space left on device)" in line, line
    assert os.listdir(small_disk) == []  # no output, no temporary or scratch file
    assert mix.read_bytes() == before


# ---- truncated and corrupt files ----

@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """20 s of music as a 24-bit WAV and FLAC."""
    folder = tmp_path_factory.mktemp("song")
    audio = programme(20.0, RATE, seed=5, level_db=-9)
    sf.write(folder / "song.wav", audio, RATE, subtype="PCM_24")
    sf.write(folder / "song.flac", audio, RATE, subtype="PCM_24")
    return folder


def test_truncated_wav_says_how_much_is_there(song, tmp_path):
    data = (song / "song.wav").read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:len(data) * 6 // 10])
    chunk = data.index(b"data", 12)
    declared = struct.unpack("<I", data[chunk + 4:chunk + 8])[0]
    present = len(data) * 6 // 10 - chunk - 8
    line = one_line_error(run("master", cut, "-o", tmp_path / "out.wav"))
    assert (f"{cut}: truncated: the header declares {declared} bytes of audio but only "
            f"{present} are present") in line
    assert sorted(os.listdir(tmp_path)) == ["cut.wav"]


def readable_seconds(path):
    """How far libsndfile decodes `path` in small steps before it fails: where the damage is."""
    frames = 0
    with sf.SoundFile(path) as f:
        try:
            while len(block := f.read(1024)):
                frames += len(block)
        except sf.LibsndfileError:
            pass
    return frames / RATE


@pytest.mark.parametrize("damage", ["truncated", "garbage in the middle", "zeros in the middle"])
def test_damaged_flac_refused_with_the_position(song, tmp_path, damage):
    data = bytearray((song / "song.flac").read_bytes())
    at = len(data) * 6 // 10
    if damage == "truncated":
        del data[at:]
    else:
        junk = np.random.default_rng(9).integers(0, 256, 3000, dtype=np.uint8).tobytes()
        data[at:at + 3000] = junk if damage.startswith("garbage") else bytes(3000)
    bad = tmp_path / "bad.flac"
    bad.write_bytes(bytes(data))
    line = one_line_error(run("master", bad, "-o", tmp_path / "out.wav"))
    found = re.search(r": corrupt or truncated audio after ([0-9.]+) s", line)
    assert line.startswith(f"pymaster: error: {bad}") and found, line
    # reported: the audio read whole before the failing block (at most 65536 frames long)
    damage_s = readable_seconds(bad)
    assert 10.0 < damage_s < 14.0
    assert damage_s - 65536 / RATE - 0.01 <= float(found.group(1)) <= damage_s + 0.01
    assert sorted(os.listdir(tmp_path)) == ["bad.flac"]
