"""Peak memory of `pymaster master` on a 1-hour 48 kHz stereo 24-bit WAV against a 3-minute one.

Files are streamed in blocks, so the job's memory should not depend on the file's length; what
does grow are the report's curves (a few numbers per 0.4 s window, about 0.1 MB a minute).
PYMASTER_BENCH_MEMORY_MINUTES sets the long file's length (default 60; it needs about
60 MB of disk per minute: input, scratch and output). tests/test_robustness.py checks a shorter
ratio on every run.
"""
import os
import subprocess
import sys

import soundfile as sf

from pymaster.demo import demo_mix

FS = 48000
LONG_MINUTES = float(os.environ.get("PYMASTER_BENCH_MEMORY_MINUTES", "60"))
HELPER = """import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.stderr)"""


def write_minutes(path, minutes):
    with sf.SoundFile(path, "w", FS, 2, subtype="PCM_24") as f:
        for i in range(round(minutes * 2)):  # 30 s mixes, never the whole file in memory
            f.write(demo_mix(30.0, FS, seed=i % 6))
    return path


def peak_rss_mb(path):
    """Peak RSS of the job, measured by a fresh helper whose only child it is."""
    out = path.with_name(path.stem + "-master.wav")
    helper = subprocess.run([sys.executable, "-c", HELPER, sys.executable, "-m", "pymaster",
                             "master", str(path), "-o", str(out), "-q"],
                            capture_output=True, text=True)
    code, kib, stderr = helper.stdout.split(" ", 2)
    assert code == "0", stderr
    out.unlink()
    return int(kib) / 1024


def test_master_memory_does_not_grow_with_length(benchmark, report_figure, tmp_path):
    short_mb = peak_rss_mb(write_minutes(tmp_path / "short.wav", 3))
    (tmp_path / "short.wav").unlink()
    long_path = write_minutes(tmp_path / "long.wav", LONG_MINUTES)
    long_mb = benchmark.pedantic(peak_rss_mb, (long_path,), rounds=1, iterations=1)
    print(f"\npeak RSS of `pymaster master`, 48 kHz stereo 24-bit: 3 min {short_mb:.1f} MB, "
          f"{LONG_MINUTES:g} min {long_mb:.1f} MB "
          f"({LONG_MINUTES * 60 / benchmark.stats.stats.median:,.0f} x real time)")
    report_figure(f"peak RSS growth, 3 to {LONG_MINUTES:g} min", long_mb - short_mb,
                  round(0.15 * LONG_MINUTES), "MB", higher_is_better=False)
