"""Real-time figures of the live engine and MIDI control on a private JACK server (dummy
backend, realtime scheduling as root): what the functional tests, which run the server
freewheeling so that a stalled machine cannot fail them, do not claim.

- 64-frame blocks with a busy limiter (jack_metro beeps, +10 dB of drive) for
  PYMASTER_BENCH_REALTIME_S seconds (default 30): xruns per minute as pymaster counted them,
  how many of jackd's xrun reports blame pymaster's own client for overrunning (``state =
  Running``; the others are the machine waking the driver or a client late, which even
  jack_thru sees on a shared VM), and the longest callback as a share of the 1.33 ms period.
  Goals: no xrun of pymaster's own; the worst callback within 50 % of the period.
- 1000 CCs a second for 10 s moving an EQ band: xruns per minute meanwhile (goal: none of
  pymaster's own) and the messages that arrived (goal: all).
- Limiter feedback at rate_hz = 15: the rate achieved (goal: within 10 %).
"""
import importlib.util
import os
import subprocess
import time

import pytest
from jackserver import PERIOD, RATE, MidiSender, available, serving

from pymaster.devices import parse_device_config
from pymaster.presets import load_preset, parse_preset

pytestmark = pytest.mark.skipif(
    not available() or importlib.util.find_spec("sounddevice") is None,
    reason="needs jackd2, PortAudio and sounddevice")

CLIENT = "pmbench"
SECONDS = float(os.environ.get("PYMASTER_BENCH_REALTIME_S", "30"))
OURS = f"client = {CLIENT} was not finished, state = Running"


@pytest.fixture(scope="module")
def jack(tmp_path_factory):
    log = tmp_path_factory.mktemp("jack") / "jackd.log"
    with serving(f"pmbench{os.getpid()}", 2, 2, log) as server:
        yield server


def engine_on(jack, preset, gain, make_midi=None):
    from pymaster.live import LiveEngine
    config = parse_device_config({"host_api": "JACK", "device": "system", "client_name": CLIENT,
                                  "sample_rate": RATE, "block_size": PERIOD, "inputs": [1, 2],
                                  "outputs": [1, 2]}, "bench.toml")
    engine = LiveEngine(config, preset, gain)
    controller = make_midi(engine) if make_midi else None
    if controller:
        controller.open()
    engine.start()
    if controller:
        controller.start()
    return engine, controller


def beeps(jack):
    metro = subprocess.Popen(["jack_metro", "-n", "metro", "-b", "480", "-f", "440", "-A", "0.9",
                              "-D", "80"], env=jack.env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    assert jack.wait_for_client("metro")
    jack.disconnect_all(CLIENT)
    for k in range(2):
        jack.connect("metro:480_bpm", f"{CLIENT}:in_{k}")
    return metro


def xrun_figures(jack, engine, run):
    """Runs `run()`; returns (pymaster's xruns, jackd's reports, those blaming pymaster, s)."""
    offset, xruns0, start = jack.log_size(), engine.xruns["total"], time.monotonic()
    run()
    elapsed = time.monotonic() - start
    events = [line for line in jack.log_since(offset) if "XRun" in line]
    return engine.xruns["total"] - xruns0, len(events), sum(OURS in e for e in events), elapsed


def test_64_frame_blocks_in_real_time(benchmark, report_figure, jack):
    engine, _ = engine_on(jack, load_preset("loud"), 10.0)
    metro = beeps(jack)
    try:
        time.sleep(0.5)
        figures = benchmark.pedantic(xrun_figures, args=(jack, engine,
                                                         lambda: time.sleep(SECONDS)),
                                     rounds=1, iterations=1)
        worst = engine.worst_callback_s
    finally:
        metro.terminate()
        metro.wait(10)
        engine.stop()
    xruns, reports, ours, elapsed = figures
    print(f"\n{elapsed:.0f} s at 64 frames: pymaster counted {xruns} xrun flag(s), jackd "
          f"reported {reports} xrun(s), {ours} of them pymaster's own overrun")
    report_figure("live 64 frames: xruns per minute", 60 * xruns / elapsed, 0, "/min",
                  higher_is_better=False)
    report_figure("live 64 frames: pymaster's own overruns", ours, 0, "",
                  higher_is_better=False)
    report_figure("live 64 frames: worst callback", 100 * worst * RATE / PERIOD, 50,
                  "% of period", higher_is_better=False)


def busy_preset():
    return parse_preset({"name": "busy", "target": {"integrated_lufs": -14.0,
                                                    "ceiling_dbtp": -1.0},
                         "eq": [{"type": "high_pass", "freq_hz": 30.0},
                                {"type": "peak", "freq_hz": 300.0, "gain_db": 0.0}],
                         "compressor": {"threshold_db": -30.0}}, "busy.toml")


def midi_controller(body):
    from pymaster.midi import MidiController
    from pymaster.midi_map import parse_map_text
    return lambda engine: MidiController(engine, parse_map_text(
        f'[midi]\napi = "jack"\n{body}', "bench-map.toml"))


def test_midi_flood_in_real_time(benchmark, report_figure, jack):
    pytest.importorskip("rtmidi")
    engine, ctl = engine_on(jack, busy_preset(), 6.0,
                            midi_controller('[[control]]\nparam = "eq[1].gain_db"\ncc = 20\n'))
    sender = MidiSender(jack)
    try:
        jack.connect("midisend:out", "pymaster-midi:in")
        got0 = ctl.counts["messages"]
        figures = benchmark.pedantic(xrun_figures, args=(
            jack, engine, lambda: sender.ask("flood 1000 10 1 20")), rounds=1, iterations=1)
        deadline = time.monotonic() + 20.0
        while ctl.counts["messages"] - got0 < 10000 and time.monotonic() < deadline:
            time.sleep(0.01)
        arrived = ctl.counts["messages"] - got0
    finally:
        sender.close()
        ctl.close()
        engine.stop()
    xruns, reports, ours, elapsed = figures
    print(f"\n1000 CC/s for {elapsed:.1f} s: {arrived} of 10000 arrived; pymaster counted "
          f"{xruns} xrun flag(s), jackd reported {reports}, {ours} of them pymaster's own")
    report_figure("MIDI flood: xruns per minute", 60 * xruns / elapsed, 0, "/min",
                  higher_is_better=False)
    report_figure("MIDI flood: pymaster's own overruns", ours, 0, "", higher_is_better=False)
    report_figure("MIDI flood: messages arrived", arrived, 10000, "of 10,000")


def test_feedback_rate_in_real_time(benchmark, report_figure, jack):
    pytest.importorskip("rtmidi")
    engine, ctl = engine_on(jack, load_preset("loud"), 10.0, midi_controller(
        "[feedback]\ngain_reduction_cc = 13\nrate_hz = 15\n"))
    sender = MidiSender(jack)
    try:
        jack.connect("pymaster-midi-out:out", "midisend-in:in")
        sender.ask("recv 0.3")
        answer = benchmark.pedantic(sender.ask, args=("recv 3",), rounds=1, iterations=1)
    finally:
        sender.close()
        ctl.close()
        engine.stop()
    rate = len(__import__("json").loads(answer[5:])) / 3.0
    report_figure("MIDI feedback rate (rate_hz 15)", 100 * abs(rate - 15) / 15, 10,
                  "% off", higher_is_better=False)
