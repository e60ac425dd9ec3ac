"""Benchmark helpers: budgets are reported, and enforced only with PYMASTER_BENCH_STRICT=1
(CI machines are noisy; a miss is printed as BUDGET MISS so it stays visible)."""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

STRICT = os.environ.get("PYMASTER_BENCH_STRICT") == "1"


def report(benchmark, label, value, goal, unit, higher_is_better=True):
    """Print a figure against its goal, store it in the benchmark JSON, flag a miss."""
    ok = value >= goal if higher_is_better else value <= goal
    verdict = "ok" if ok else "BUDGET MISS"
    line = f"{label}: {value:,.1f} {unit} (goal {'>=' if higher_is_better else '<='} {goal:,} {unit}) {verdict}"
    print("\n" + line)
    benchmark.extra_info[label] = {"value": value, "goal": goal, "unit": unit, "ok": ok}
    if STRICT:
        assert ok, line


@pytest.fixture
def report_figure(benchmark):
    return lambda *args, **kw: report(benchmark, *args, **kw)
