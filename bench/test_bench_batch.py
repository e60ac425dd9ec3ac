"""Batch throughput: all local cores against one worker, on a batch of many short files.

The goal: N workers master at least 0.9 x N times as much audio per second as one (files, not
blocks, are the unit of parallelism). Timed on a running LocalCluster, the way ``run_batch``
runs; the cluster's start-up (about a second, once per batch) is printed apart with the
end-to-end times.
"""
import itertools
import os
import time

import pytest
import soundfile as sf
from signals import programme

from pymaster.batch import run_batch

distributed = pytest.importorskip("distributed")
FILES, SECONDS = 12, 20.0


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalogue")
    for i in range(FILES):
        sf.write(folder / f"track{i:02d}.wav", programme(SECONDS, seed=i), 48000,
                 subtype="PCM_24")
    return folder


def _cluster(workers):
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address="127.0.0.1:0")


def test_batch_scaling(benchmark, report_figure, catalogue, tmp_path):
    cores = len(os.sched_getaffinity(0))
    fresh = (tmp_path / f"out{i}" for i in itertools.count())  # never resumed: all mastered

    def batch(**where):
        start = time.perf_counter()
        results = run_batch([catalogue], next(fresh), **where)
        assert [r["status"] for r in results] == ["done"] * FILES
        return time.perf_counter() - start

    with _cluster(1) as cluster, distributed.Client(cluster) as client:
        batch(scheduler=client)  # warm-up: imports and caches in the worker
        one = min(batch(scheduler=client) for _ in range(2))
    with _cluster(cores) as cluster, distributed.Client(cluster) as client:
        batch(scheduler=client)
        benchmark.pedantic(lambda: batch(scheduler=client), rounds=3, iterations=1)
    many = benchmark.stats.stats.median
    ends = {n: batch(workers=n) for n in (1, cores)}  # start-up included, as the CLI runs

    audio = FILES * SECONDS
    print(f"\nbatch of {FILES} x {SECONDS:g} s files: 1 worker {audio / one:,.0f} x real time, "
          f"{cores} workers {audio / many:,.0f} x real time; end to end with the cluster's "
          f"start-up: {ends[1]:.2f} s and {ends[cores]:.2f} s")
    report_figure(f"batch speed-up, {cores} workers over 1", one / many, 0.9 * cores, "x")
