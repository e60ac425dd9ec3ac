"""Speed of `pymaster demo`: a 3-minute demo mix at 44.1 kHz, generated, and written as the
command writes it (24-bit WAV). Goal: well under 2 s, so a demo is never the slow command."""
from pymaster.demo import demo_mix, write_demo

SECONDS, RATE = 180.0, 44100


def test_demo_generation_speed(benchmark, report_figure):
    mixes = []
    benchmark.pedantic(lambda: mixes.append(demo_mix(SECONDS, RATE)), rounds=3, iterations=1,
                       warmup_rounds=1)
    report_figure("demo mix, 180 s generated", benchmark.stats.stats.median, 1.0, "s",
                  higher_is_better=False)
    assert mixes[-1].shape == (int(SECONDS * RATE), 2)


def test_demo_command_speed(benchmark, report_figure, tmp_path):
    out = tmp_path / "demo.wav"
    benchmark.pedantic(lambda: write_demo(out, SECONDS, RATE, overwrite=True), rounds=3,
                       iterations=1, warmup_rounds=1)
    report_figure("pymaster demo, 180 s generated and written", benchmark.stats.stats.median,
                  1.5, "s", higher_is_better=False)
