"""Throughput of the whole offline job: `pymaster master` on a 3-minute 48 kHz stereo mix.

Printed beside the I/O floor (plain soundfile read + write of the same file, same formats):
the goal is the whole job within 2x of that floor. The job is timed in-process, as the CLI
runs it (its interpreter start-up is not part of the job).
"""
import time

import numpy as np
import pytest
import soundfile as sf

from pymaster.demo import demo_mix
from pymaster.render import master

FS, SECONDS = 48000, 180.0


@pytest.fixture(scope="module")
def mix_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "mix.wav"
    with sf.SoundFile(path, "w", FS, 2, subtype="PCM_24") as f:
        for seed in range(6):  # six different 30 s mixes: a 3-minute song
            f.write(demo_mix(30.0, FS, seed=seed))
    return path


def _floor_once(src, dst):
    start = time.perf_counter()
    with sf.SoundFile(src) as f, sf.SoundFile(dst, "w", FS, 2, subtype="PCM_24") as g:
        for block in f.blocks(65536, dtype="float32"):
            g.write(block)
    return time.perf_counter() - start


def test_master_job_speed(benchmark, report_figure, mix_file, tmp_path):
    out = tmp_path / "master.wav"
    floor = min(_floor_once(mix_file, tmp_path / "copy.wav") for _ in range(3))
    reports = []

    def run():
        reports.append(master(mix_file, out, preset="streaming", overwrite=True))

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    job = benchmark.stats.stats.median
    renders = len(reports[-1]["renders"])
    print(f"\nI/O floor (soundfile read+write, 24-bit WAV): {SECONDS / floor:,.0f} x real time; "
          f"master job: {SECONDS / job:,.0f} x real time ({renders} render(s)), "
          f"{job / floor:.2f}x the floor")
    report_figure("master job, 3 min 48 kHz stereo", SECONDS / job, 500, "x real time")
    report_figure("master job / I/O floor", job / floor, 2.0, "x", higher_is_better=False)
    assert np.isclose(reports[-1]["output"]["integrated_lufs"], -14.0, atol=0.1)
