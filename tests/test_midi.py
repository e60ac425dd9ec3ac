"""MIDI control: map validation, curves, encoders and learn as unit tests; then the real thing
through a private JACK server (dummy backend, see ../shared/notes/realtime-testing.md).

A controller stand-in (tests/midi_sender.py, its own process) sends over JACK MIDI to the live
engine, which runs in this process as JACK client ``pmmidi`` with a MidiController; a harness
client (tests/jack_harness.py) plays a sine through it and records the master.
"""
import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest
from jackserver import PERIOD, RATE, MidiSender, available, play_and_record, serving

from pymaster import Chain
from pymaster.devices import parse_device_config
from pymaster.live import apply_preset
from pymaster.midi import MidiController
from pymaster.midi_learn import learn
from pymaster.midi_map import (MidiMapError, load_midi_map, parse_map_text, relative_delta,
                               to_position, to_value)
from pymaster.presets import parse_preset

CLIENT, SENDER = "pmmidi", "midisend"


def _rtmidi_has_jack():
    if importlib.util.find_spec("rtmidi") is None:
        return False
    import rtmidi
    return rtmidi.API_UNIX_JACK in rtmidi.get_compiled_api()


needs_jack = pytest.mark.skipif(
    not available() or importlib.util.find_spec("sounddevice") is None
    or not _rtmidi_has_jack(),
    reason="the MIDI tests need a real JACK server, PortAudio and python-rtmidi built with "
           "JACK: apt-get install jackd2 libportaudio2; pip install sounddevice python-rtmidi")


def preset(name, ceiling=-1.0, eq=(), **extra):
    return parse_preset({"name": name, "target": {"integrated_lufs": -14.0,
                                                   "ceiling_dbtp": ceiling},
                         "eq": [dict(b) for b in eq], **extra}, f"{name}.toml")


def map_text(body, api="jack", midi=""):
    return f'[midi]\napi = "{api}"\n{midi}\n{body}'


# ---- unit tests: no MIDI backend involved ----

BAD_MAPS = [
    ("colour = 1", "unknown key 'colour'; allowed: name, description, midi"),
    ('[midi]\napi = "oss"', "midi.api = 'oss' is invalid: allowed one of 'auto', 'alsa', "
                            "'jack', 'coremidi', 'winmm'"),
    ('[midi]\nchannel = 17', "midi.channel = 17 is invalid: allowed an integer 1..16"),
    ('[[control]]\nparam = "stereo.width"\ncc = 1',
     "control[0].param = 'stereo.width' is invalid: allowed input_gain_db, limiter.drive_db"),
    ('[[control]]\nparam = "stereo.width"\ncc = 1', "stereo width is not in the chain yet"),
    ('[[control]]\nparam = "eq[16].gain_db"\ncc = 1', "control[0].param = 'eq[16].gain_db'"),
    ('[[control]]\nparam = "output_gain_db"', "missing key 'control[0].cc'"),
    ('[[control]]\nparam = "output_gain_db"\ncc = 120',
     "control[0].cc = 120 is invalid: allowed an integer 0..119"),
    ('[[control]]\nparam = "output_gain_db"\ncc = 1\nrange = [-60, 0]',
     "control[0].range = [-60, 0] is invalid: allowed [low, high] within -48..0 dB"),
    ('[[control]]\nparam = "output_gain_db"\ncc = 1\nrange = [-6, -6]', "low != high"),
    ('[[control]]\nparam = "output_gain_db"\ncc = 1\ncurve = "log"',
     "control[0].curve = 'log' is invalid: allowed 'linear' for a range reaching -48"),
    ('[[control]]\nparam = "compressor.ratio"\ncc = 1\ncurve = "exp"',
     "control[0].curve = 'exp' is invalid: allowed one of 'linear', 'log'"),
    ('[[control]]\nparam = "compressor.ratio"\ncc = 1\nmode = "relative"',
     "control[0].mode = 'relative' is invalid: allowed one of 'absolute', "
     "'relative_twos_complement', 'relative_offset_64', 'relative_sign_bit'"),
    ('[[control]]\nparam = "compressor.ratio"\ncc = 1\nsteps = 10',
     "control[0].steps only applies to relative modes"),
    ('[[control]]\nparam = "compressor.mix"\ncc = 1\nknob = 3',
     "unknown key 'control[0].knob'; allowed: param, cc, channel, range, curve, mode, steps"),
    ('[[toggle]]\naction = "bypass.dither"\nnote = 1',
     "toggle[0].action = 'bypass.dither' is invalid: allowed one of 'bypass', 'bypass.eq'"),
    ('[[toggle]]\naction = "bypass"\nnote = 1\ncc = 2',
     "toggle[0] needs exactly one of 'note' (0..127) or 'cc' (0..119)"),
    ('[[toggle]]\naction = "bypass"\nnote = 128', "toggle[0].note = 128 is invalid"),
    ('[[toggle]]\naction = "bypass"\ncc = 5\nmode = "latch"',
     "toggle[0].mode = 'latch' is invalid: allowed one of 'toggle', 'momentary'"),
    ('[[toggle]]\naction = "program.next"\ncc = 5',
     "program.next/program.previous need a [programs] table"),
    ('[programs]\nx = "loud"', "programs.x: the key must be a program number 0..127"),
    ('[programs]\n128 = "loud"', "programs.128: the key must be a program number 0..127"),
    ('[programs]\n0 = "nope"', "programs.0 = 'nope': unknown preset 'nope': available:"),
    ('[programs]\n0 = "missing.toml"', "programs.0 = 'missing.toml':"),
    ('[feedback]\ngain_reduction_cc = 13\nrate_hz = 100',
     "feedback.rate_hz = 100 is invalid: allowed a number 5..30 Hz"),
    ('[feedback]\nrange_db = 6', "missing key 'feedback.gain_reduction_cc'"),
    ('[[control]]\nparam = "output_gain_db"\ncc = 7\n[[toggle]]\naction = "bypass"\ncc = 7\n'
     'channel = 2', "toggle[0] uses cc 7 on channel 2, already bound by control[0]"),
    ('control = 3', "control must be an array of tables ([[control]] entries)"),
]


@pytest.mark.parametrize("body, message", BAD_MAPS)
def test_a_bad_map_names_file_key_and_what_is_allowed(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(MidiMapError) as err:
        load_midi_map(path)
    assert str(err.value).startswith(str(path)) or str(path) in str(err.value)
    assert message in str(err.value)


def test_missing_and_broken_map_files(tmp_path):
    with pytest.raises(MidiMapError, match=r"nowhere\.toml: no such MIDI map file"):
        load_midi_map(tmp_path / "nowhere.toml")
    with pytest.raises(MidiMapError, match=r"unknown MIDI map 'nope': give a .toml path or "
                                           r"one of default, nanokontrol2"):
        load_midi_map("nope")
    (tmp_path / "x.toml").write_text("[[control]\n")
    with pytest.raises(MidiMapError, match=r"x\.toml: not valid TOML"):
        load_midi_map(tmp_path / "x.toml")


def test_shipped_maps_load():
    default, nano = load_midi_map("default"), load_midi_map("nanokontrol2")
    assert len(default.controls) == 9 and sorted(default.programs) == list(range(6))
    assert nano.input == "nanoKONTROL2" and nano.channel == 0
    assert {c.cc for c in nano.controls} == {0, 1, 6, 7, *range(16, 24)}


def test_curves_are_exact_at_the_ends_and_invert():
    assert to_value(0, -25.4, 0) == -25.4 and to_value(1, -25.4, 0) == 0.0
    assert to_value(97 / 127, -25.4, 0) == pytest.approx(-6.0)
    assert to_value(1, 1, 100, "log") == 100.0  # never a rounding error above the range
    assert to_value(0.5, 1, 16, "log") == pytest.approx(4.0)  # geometric middle
    assert to_value(0.5, 1, 16) == pytest.approx(8.5)
    assert to_value(0.25, 0, -24) == pytest.approx(-6.0)  # reversed range
    assert to_value(-1, 0, 10) == 0.0 and to_value(2, 0, 10) == 10.0
    for curve, low, high in (("linear", -24, 6), ("log", 20, 20000), ("log", 10, 1)):
        for t in np.linspace(0, 1, 11):
            assert to_position(to_value(t, low, high, curve), low, high, curve) == \
                pytest.approx(t, abs=1e-12)
    assert to_position(50, -24, 6) == 1.0 and to_position(0.5, 1, 10, "log") == 0.0


@pytest.mark.parametrize("mode, values, deltas", [
    ("relative_twos_complement", [1, 5, 63, 127, 123, 65, 64, 0], [1, 5, 63, -1, -5, -63, -64, 0]),
    ("relative_offset_64", [65, 70, 63, 58, 64, 127, 0], [1, 6, -1, -6, 0, 63, -64]),
    ("relative_sign_bit", [1, 5, 65, 69, 64, 0, 127], [1, 5, -1, -5, 0, 0, -63]),
    ("absolute", [1, 127], [0, 0]),
])
def test_relative_encoder_styles(mode, values, deltas):
    assert [relative_delta(v, mode) for v in values] == deltas


def controller(body, bands=16, chain_preset=None, programs=None):
    """A MidiController on a real (unstarted) chain: handle() without a MIDI backend."""
    chain = Chain(RATE, 2, eq_bands=bands)
    apply_preset(chain, chain_preset)
    engine = types.SimpleNamespace(chain=chain, control=threading.RLock(), preset=chain_preset,
                                   input_gain_db=0.0)
    loader = (lambda name: programs[name]) if programs else None
    return MidiController(engine, parse_map_text(map_text(body), "t.toml", loader)), chain


def test_controls_toggles_and_programs_reach_the_chain():
    loud = preset("b", ceiling=-6.0, eq=[{"type": "high_pass", "freq_hz": 30.0},
                                        {"type": "peak", "freq_hz": 3000.0, "gain_db": -3.0}],
                  compressor={"threshold_db": -20.0})
    ctl, chain = controller("""
[[control]]
param = "output_gain_db"
cc = 7
range = [-25.4, 0.0]
[[control]]
param = "compressor.ratio"
cc = 8
range = [1.0, 16.0]
curve = "log"
[[control]]
param = "limiter.drive_db"
cc = 9
range = [0.0, 12.0]
mode = "relative_sign_bit"
steps = 48
[[control]]
param = "eq[1].gain_db"
cc = 10
channel = 2
[[toggle]]
action = "bypass.compressor"
note = 36
[[toggle]]
action = "monitor.mono"
cc = 64
mode = "momentary"
[[toggle]]
action = "bypass"
cc = 65
[programs]
1 = "b"
""", chain_preset=preset("a", eq=[{"type": "high_pass", "freq_hz": 25.0},
                                 {"type": "low_shelf", "freq_hz": 200.0, "gain_db": 3.0}]),
        programs={"b": loud})
    ctl.handle([[0xB0, 7, 97], [0xB0, 8, 64]])
    assert chain.output_gain_db == pytest.approx(-6.0)
    assert chain.compressor.ratio == pytest.approx(16 ** (64 / 127), rel=1e-9)
    ctl.handle([[0xB0, 9, 4], [0xB0, 9, 65 - 1 + 2]])  # +4 detents, then -2: 0.5 dB up
    assert chain.input_gain_db == pytest.approx(0.5)
    assert ctl.engine.input_gain_db == pytest.approx(0.5)
    ctl.handle([[0xB0, 10, 0]])  # channel 1: bound to channel 2 only
    assert chain.eq.band(1)["gain_db"] == 3.0
    ctl.handle([[0xB1, 10, 0]])
    assert chain.eq.band(1)["gain_db"] == -24.0

    was = chain.bypassed("compressor")
    ctl.handle([[0x90, 36, 100], [0x80, 36, 0], [0x90, 36, 1], [0x80, 36, 0]])  # 2 presses
    assert chain.bypassed("compressor") == was
    ctl.handle([[0x90, 36, 100], [0x90, 36, 0]])  # note-on velocity 0 is a release
    assert chain.bypassed("compressor") != was
    ctl.handle([[0xB0, 64, 127]])
    assert chain.monitor["mono"]
    ctl.handle([[0xB0, 64, 0]])
    assert not chain.monitor["mono"]
    before = {s: chain.bypassed(s) for s in ("eq", "compressor", "limiter")}
    ctl.handle([[0xB0, 65, 127], [0xB0, 65, 0]])
    assert all(chain.bypassed(s) for s in before)
    ctl.handle([[0xB0, 65, 127], [0xB0, 65, 0]])
    assert {s: chain.bypassed(s) for s in before} == before

    # 300 absolute values in one poll: one setter call, the last value
    applied = ctl.counts["applied"]
    ctl.handle([[0xB0, 7, v % 128] for v in range(300)])
    assert ctl.counts["applied"] == applied + 1
    assert chain.output_gain_db == pytest.approx(to_value((299 % 128) / 127, -25.4, 0.0))

    # program 1: everything is set at once and glides in C (EQ band 1 changes type, low shelf
    # -> peak: the C equalizer fades it out, switches and fades it in; see test_eq.py)
    ctl.handle([[0xC0, 1]])
    assert chain.limiter.ceiling_dbtp == -6.0 and not chain.bypassed("compressor")
    assert chain.compressor.threshold_db == -20.0 and ctl.engine.preset is loud
    assert chain.eq.band(0)["freq_hz"] == 30.0
    assert chain.eq.band(1) == {"type": "peak", "freq_hz": 3000.0, "gain_db": -3.0,
                                "q": 0.707, "enabled": True}
    ctl.handle([[0xC0, 5]])  # not mapped: nothing changes
    assert chain.limiter.ceiling_dbtp == -6.0


LEARN_MAP = """# my controller
[midi]
api = "jack"   # the box runs JACK

[[control]]  # fader 8
param = "output_gain_db"
cc = 7        # moved later
range = [-24.0, 0.0]

[[control]]
param = "compressor.threshold_db"
cc = 21

[[toggle]]
action = "bypass"
cc = 30

[programs]
0 = "streaming"
"""


def test_learn_edits_the_map_in_place_and_keeps_the_rest(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(LEARN_MAP)
    new_map, notes = learn(path, "output_gain_db", "cc", 1, 22)
    text = path.read_text()
    assert text == LEARN_MAP.replace("cc = 7        # moved later",
                                     "cc = 22        # moved later\nchannel = 2")
    assert new_map.controls[0].cc == 22 and new_map.controls[0].channel == 1
    assert new_map.controls[0].low == -24.0 and notes == []

    new_map, notes = learn(path, "compressor.mix", "cc", 0, 30)  # cc 30 was bypass's
    assert notes == ["toggle[0] (bypass) used cc 30: commented out"]
    text = path.read_text()
    assert ('cc = 21\n\n[[control]]  # learned\nparam = "compressor.mix"\ncc = 30\n'
            'channel = 1\n\n# unbound by midi-learn: cc 30 now drives compressor.mix\n'
            '# [[toggle]]\n# action = "bypass"\n# cc = 30\n\n[programs]\n0 = "streaming"\n'
            in text)
    assert text.startswith("# my controller\n[midi]\napi = \"jack\"   # the box runs JACK\n")
    assert [c.param for c in new_map.controls] == ["output_gain_db", "compressor.threshold_db",
                                                   "compressor.mix"]
    assert new_map.toggles == ()

    new_map, notes = learn(path, "compressor.knee_db", "cc", 0, 30)  # the last control's cc
    assert notes == ["control[2] (compressor.mix) used cc 30: commented out"]
    assert ('# unbound by midi-learn: cc 30 now drives compressor.knee_db\n# [[control]]  # '
            'learned\n# param = "compressor.mix"\n# cc = 30\n# channel = 1\n\n[[control]]  '
            '# learned\nparam = "compressor.knee_db"\ncc = 30\nchannel = 1\n\n# unbound by '
            'midi-learn: cc 30 now drives compressor.mix\n# [[toggle]]' in path.read_text())
    new_map, _ = learn(path, "bypass.limiter", "note", 9, 40)  # a new toggle, after the rest
    assert new_map.toggles[0].kind == "note" and new_map.toggles[0].channel == 9
    assert path.read_text().endswith('[[toggle]]  # learned\naction = "bypass.limiter"\n'
                                     'note = 40\nchannel = 10\n')
    with pytest.raises(MidiMapError, match="output_gain_db is a continuous parameter: it "
                                           "needs a CC, not a note"):
        learn(path, "output_gain_db", "note", 0, 1)
    with pytest.raises(MidiMapError, match="--midi-learn 'width' is not a parameter"):
        learn(path, "width", "cc", 0, 1)


def test_learn_saves_atomically(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text(LEARN_MAP)
    os.chmod(path, 0o640)
    inode = path.stat().st_ino
    learn(path, "output_gain_db", "cc", 0, 22)
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.toml"]

    saved = path.read_text()

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        learn(path, "output_gain_db", "cc", 0, 23)
    assert path.read_text() == saved  # untouched, and no temporary file left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.toml"]


def run_cli(*args, env=None, timeout=30):
    return subprocess.run([sys.executable, "-m", "pymaster", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CoreMIDI is built in here")
def test_a_backend_that_is_not_built_in_names_the_alternatives():
    result = run_cli("midi-ports", "--api", "coremidi")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("MIDI backend 'coremidi' is not available in this python-rtmidi (CoreMIDI exists "
            "on macOS only). Other backends: alsa (") in result.stderr
    assert "jack (" in result.stderr and "Choose one with --api" in result.stderr


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="this machine has an ALSA sequencer")
def test_a_failing_alsa_backend_stops_live_before_audio_and_names_the_alternatives(tmp_path):
    midi_map = tmp_path / "alsa.toml"
    midi_map.write_text(map_text("", api="alsa"))
    result = run_cli("live", "--device", "jack", "--midi", str(midi_map), "--headless")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (f"{midi_map}: MIDI backend 'alsa' failed: MidiInAlsa::initialize: error creating "
            f"ALSA sequencer client object. (the ALSA sequencer needs /dev/snd/seq") \
        in result.stderr
    assert re.search(r"Other backends: jack \(.*\); not in this build: coremidi, winmm\. "
                     r"Choose one with \[midi\] api = \"\.\.\.\" in " + re.escape(str(midi_map)),
                     result.stderr)
    assert "streaming:" not in result.stderr  # no audio was started


def test_learn_refuses_shipped_maps_and_needs_a_map():
    result = run_cli("live", "--device", "jack", "--midi", "default", "--midi-learn", "bypass")
    assert result.returncode == 2
    assert "is a map shipped with pymaster: MIDI learn saves into the map, so copy it first" \
        in result.stderr
    result = run_cli("live", "--device", "jack", "--midi-learn", "bypass")
    assert result.returncode == 2 and "--midi-learn needs --midi MAP.toml" in result.stderr


# ---- through a real JACK server ----

@pytest.fixture(scope="module")
def jack(tmp_path_factory):
    if not (available() and _rtmidi_has_jack()
            and importlib.util.find_spec("sounddevice") is not None):
        pytest.skip("needs jackd2, PortAudio and python-rtmidi with JACK")
    log = tmp_path_factory.mktemp("jack") / "jackd.log"
    with serving(f"pmmidi{os.getpid()}", 2, 2, log) as server:
        yield server


@pytest.fixture
def sender(jack):
    s = MidiSender(jack, SENDER)
    yield s
    s.close()


@pytest.fixture
def live(jack, tmp_path):
    """start(map_body, preset, gain) -> (engine, controller), wired to the sender."""
    from pymaster.live import LiveEngine
    made = []

    def stop():
        while made:
            engine, ctl = made.pop()
            ctl.close()
            engine.stop()

    def start(body, chain_preset=None, gain=0.0, programs=None):
        stop()  # one engine at a time: a retried take replaces the last one
        config = parse_device_config({"host_api": "JACK", "device": "system",
                                      "client_name": CLIENT, "sample_rate": RATE,
                                      "block_size": PERIOD, "inputs": [1, 2],
                                      "outputs": [1, 2]}, "test.toml")
        engine = LiveEngine(config, chain_preset, gain)
        loader = (lambda name: programs[name]) if programs else None
        ctl = MidiController(engine, parse_map_text(map_text(body), tmp_path / "m.toml",
                                                    loader))
        made.append((engine, ctl))
        ctl.open()
        engine.start()
        ctl.start()
        jack.connect(f"{SENDER}:out", "pymaster-midi:in")
        return engine, ctl

    yield start
    stop()


SINE_HZ = 1000.0  # 48 samples a period at 48 kHz: a hold loops it seamlessly
HOLD_AT = int(1.2 * RATE)
HOLD = (HOLD_AT - 2400, HOLD_AT)  # 50 periods
TAIL = int(0.5 * RATE)  # the harness records this long after the programme


def record(jack, tmp_path, play, during):
    """The harness plays `play` into CLIENT in freewheel mode and records its first output;
    at 1.2 s into `play` it holds the programme (loops the last 50 ms of a 1 kHz sine) while
    `during()` makes a change. Returns the recording and the frame where the sine ends in it."""
    rec, xruns = play_and_record(jack, tmp_path, play, CLIENT, hold=HOLD, during=during)
    assert xruns == 0  # freewheel: no deadline to miss
    y = rec[:, 0]
    onset = int(np.argmax(np.abs(y) > 1e-4))
    return y, onset + len(y) - TAIL


def sine(seconds, level_db, freq=SINE_HZ):
    t = np.arange(int(seconds * RATE)) / RATE
    x = (10 ** (level_db / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x, x], axis=1)


def change_at(y, start, measure, drop_db=1.0):
    """First 10 ms block after `start` whose `measure` fell `drop_db` below the first 0.2 s."""
    blocks = [measure(y[i:i + 480]) for i in range(start, len(y) - 480, 480)]
    ref = np.median(blocks[:20])
    return start + 480 * next(i for i, b in enumerate(blocks) if b < ref * 10 ** (-drop_db / 20))


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def peak(x):
    return float(np.max(np.abs(x)))


def d2(x):
    """Largest second difference: a sine's own is A*w^2; a step or a kink adds a spike."""
    return float(np.max(np.abs(np.diff(x.astype(np.float64), 2))))


def settle(engine, condition, seconds):
    """Wait (by the wall clock, generously) for `condition`, then for `seconds` more of audio
    (counted in processed blocks: while the harness holds, the change glides to its end)."""
    wait_for(condition, timeout=30.0)
    target = engine.blocks + int(seconds * RATE / PERIOD)
    wait_for(lambda: engine.blocks >= target, timeout=60.0)


@needs_jack
def test_a_cc_sets_the_output_trim_6_db_down_gliding(jack, live, sender, tmp_path):
    """CC 7 = 97 on a -25.4..0 dB trim is -6 dB: the recorded sine is 6 dB down within 0.1 dB
    and got there without a discontinuity (the second difference never exceeds the sine's)."""
    engine, ctl = live('[[control]]\nparam = "output_gain_db"\ncc = 7\n'
                       'range = [-25.4, 0.0]\n', preset("plain"))
    assert sender.ask("cc 1 7 127") == "ok"
    wait_for(lambda: ctl.counts["applied"] == 1)

    def during():
        assert sender.ask("cc 1 7 97") == "ok"
        settle(engine, lambda: ctl.counts["applied"] == 2, 0.5)

    y, end = record(jack, tmp_path, sine(3.0, -12.0), during)
    assert engine.chain.output_gain_db == pytest.approx(-6.0)
    start = int(np.argmax(np.abs(y) > 1e-4)) + int(0.3 * RATE)
    at = change_at(y, start, rms)
    before, after = y[at - int(0.6 * RATE):at - int(0.1 * RATE)], y[at + int(0.3 * RATE):end]
    assert 20 * np.log10(rms(after) / rms(before)) == pytest.approx(-6.0, abs=0.1)
    reference = d2(y[start:at - int(0.1 * RATE)])
    assert d2(y[at - int(0.1 * RATE):end]) <= 1.02 * reference
    stepped = y.copy()  # the check sees a real discontinuity: the same change as a step
    stepped[at:] *= 0.5
    assert d2(stepped[at - int(0.1 * RATE):end]) > 3 * reference


@needs_jack
def test_a_program_change_recalls_a_preset_without_a_click(jack, live, sender, tmp_path):
    """Program 1 switches from preset a (ceiling -1 dBTP, low shelf) to b (ceiling -6 dBTP, a
    peak band where the shelf was): a -3 dBFS sine comes out limited to -6 dB, and neither the
    ceiling's glide nor the EQ band's type change (faded out, switched, faded in) clicks."""
    a = preset("a", -1.0, [{"type": "low_shelf", "freq_hz": 200.0, "gain_db": 3.0}])
    b = preset("b", -6.0, [{"type": "peak", "freq_hz": 3000.0, "gain_db": -3.0}])
    engine, _ = live("[programs]\n0 = \"a\"\n1 = \"b\"\n", a, programs={"a": a, "b": b})

    def during():
        assert sender.ask("pc 1 1") == "ok"
        settle(engine, lambda: engine.preset is b, 1.0)

    y, end = record(jack, tmp_path, sine(3.0, -3.0), during)
    assert engine.preset is b and engine.chain.limiter.ceiling_dbtp == -6.0
    assert engine.chain.eq.band(0) == {"type": "peak", "freq_hz": 3000.0, "gain_db": -3.0,
                                       "q": 0.707, "enabled": True}
    start = int(np.argmax(np.abs(y) > 1e-4)) + int(0.3 * RATE)
    at = change_at(y, start, peak)
    before, after = y[at - int(0.6 * RATE):at - int(0.1 * RATE)], y[at + int(0.8 * RATE):end]
    assert -3.3 < 20 * np.log10(peak(before)) < -2.5
    assert 20 * np.log10(peak(after)) == pytest.approx(-6.1, abs=0.15)
    assert d2(y[at - int(0.1 * RATE):end]) <= 1.02 * d2(y[start:at - int(0.1 * RATE)])


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@needs_jack
def test_a_flood_of_cc_reaches_the_chain_message_for_message(jack, live, sender):
    """3000 CCs (1000 a second) moving an EQ band (coefficients redesigned in C as they glide)
    on a busy chain, with the server freewheeling (no deadlines: a stalled machine loses
    nothing): every message arrives, the last value wins, superseded values are skipped, no
    error. Whether a flood costs xruns in real time is measured in bench/test_bench_live.py."""
    engine, ctl = live('[[control]]\nparam = "eq[1].gain_db"\ncc = 20\n',
                       preset("busy", eq=[{"type": "high_pass", "freq_hz": 30.0},
                                          {"type": "peak", "freq_hz": 300.0, "gain_db": 0.0}],
                              compressor={"threshold_db": -30.0}), gain=6.0)
    with jack.freewheeling():
        assert sender.ask("flood 1000 3 1 20") == "flooded 3000 55"
        wait_for(lambda: ctl.counts["messages"] >= 3000, timeout=60.0)
    assert ctl.counts["messages"] == 3000
    assert engine.chain.eq.band(1)["gain_db"] == pytest.approx(to_value(55 / 127, -24, 24))
    assert ctl.counts["errors"] == 0
    assert ctl.counts["applied"] < 3000  # superseded values were skipped


@needs_jack
def test_feedback_sends_the_limiter_gain_reduction_to_a_cc(jack, live, sender):
    """Beeps into a -6 dBTP ceiling: the LED-ring CC follows the limiter's gain reduction, on
    the map's CC and channel, never faster than rate_hz (a stall can only make it slower, so
    the bound holds on any machine; the achieved rate is a bench figure)."""
    engine, ctl = live("[feedback]\ngain_reduction_cc = 13\nchannel = 2\nrange_db = 12\n"
                       "rate_hz = 15\n", preset("loud", ceiling=-6.0), gain=12.0)
    jack.connect("pymaster-midi-out:out", f"{SENDER}-in:in")
    metro = subprocess.Popen(["jack_metro", "-n", "metro", "-b", "120", "-f", "440", "-A", "0.9",
                              "-D", "100"], env=jack.env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        assert jack.wait_for_client("metro")
        jack.disconnect_all(CLIENT)
        for k in range(2):
            jack.connect("metro:120_bpm", f"{CLIENT}:in_{k}")
        sender.ask("recv 0.3")  # drop what queued up before the beeps
        sent0, start = ctl.counts["feedback"], time.monotonic()
        answer = sender.ask("recvn 40 60")
        sent, elapsed = ctl.counts["feedback"] - sent0, time.monotonic() - start
    finally:
        metro.terminate()
        metro.wait(10)
    got = __import__("json").loads(answer[5:])
    assert len(got) == 40
    assert sent <= 15 * elapsed + 2, f"{sent} messages in {elapsed:.2f} s"
    assert all(m[:2] == [0xB1, 13] and 0 <= m[2] <= 127 for m in got)
    assert max(m[2] for m in got) > 40  # beeps 0.9 + 12 dB into a -6 dB ceiling: > 4 dB GR
    assert min(m[2] for m in got) < max(m[2] for m in got)  # it follows the beeps


@needs_jack
def test_midi_ports_lists_the_jack_ports(jack, sender):
    result = run_cli("midi-ports", "--api", "jack", env=jack.env())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "MIDI backend: jack"
    inputs, outputs = lines.index("inputs (controllers to read):"), \
        lines.index("outputs (for feedback):")
    assert f"{SENDER}:out" in "\n".join(lines[inputs:outputs])
    assert f"{SENDER}-in:in" in "\n".join(lines[outputs:])


@needs_jack
def test_live_cli_learns_a_control_then_obeys_it(jack, sender, tmp_path):
    """`pymaster live --headless --midi MAP --midi-learn output_gain_db` through JACK: the
    next moved control is saved into the map (in place); a program change recalls a preset;
    a toggle works; SIGHUP re-reads the edited map; SIGTERM still exits 0."""
    from test_live_cli import Live
    cfg, midi_map = tmp_path / "dev.toml", tmp_path / "map.toml"
    cfg.write_text('host_api = "JACK"\ndevice = "system"\nclient_name = "pmmidicli"\n'
                   "sample_rate = 48000\nblock_size = 64\ninputs = [1, 2]\noutputs = [1, 2]\n")
    midi_map.write_text(LEARN_MAP.replace('api = "jack"', f'api = "jack"\ninput = "{SENDER}"'))
    proc = Live(jack, "--device", str(cfg), "--headless", "--midi", str(midi_map),
                "--midi-learn", "output_gain_db", "--preset", "streaming")
    try:
        proc.wait_for(rf"MIDI input: {SENDER}:out \(jack\)")
        proc.wait_for(r"MIDI learn: move the control for output_gain_db")
        proc.wait_for(r"streaming: system")
        assert sender.ask("cc 3 25 100") == "ok"
        proc.wait_for(rf"MIDI learn: cc 25 on channel 3 -> output_gain_db; saved {midi_map}")
        learned = load_midi_map(midi_map)
        assert (learned.controls[0].cc, learned.controls[0].channel) == (25, 2)
        assert "cc = 25        # moved later" in midi_map.read_text()
        assert sender.ask("pc 1 0") == "ok"
        proc.wait_for(r"MIDI: program 0 -> preset streaming")
        assert sender.ask("cc 1 30 127") == "ok"
        proc.wait_for(r"MIDI: bypass on")
        midi_map.write_text(midi_map.read_text().replace("cc = 30", "cc = 31"))
        proc.process.send_signal(signal.SIGHUP)  # re-reads the map with the rest
        proc.wait_for(rf"reloaded without stopping audio: .*MIDI map {midi_map} re-read")
        assert sender.ask("cc 1 31 127") == "ok"
        proc.wait_for(r"MIDI: bypass off")
        proc.process.send_signal(signal.SIGTERM)
        assert proc.process.wait(10) == 0
        proc.wait_for(r"MIDI: \d+ messages, 0 errors")
    finally:
        proc.stop()


@needs_jack
def test_a_missing_controller_fails_on_a_terminal_and_is_waited_for_headless(jack, tmp_path):
    """Not headless, a controller that is not there is an error listing the ports; headless,
    pymaster waits for it, connects when it appears, and again after it was unplugged."""
    from test_live_cli import Live
    cfg, midi_map = tmp_path / "dev.toml", tmp_path / "map.toml"
    cfg.write_text('host_api = "JACK"\ndevice = "system"\nclient_name = "pmmidiwait"\n'
                   "sample_rate = 48000\nblock_size = 64\ninputs = [1, 2]\noutputs = [1, 2]\n")
    midi_map.write_text(map_text('[[toggle]]\naction = "bypass.limiter"\nnote = 60\n',
                                 midi=f'input = "{SENDER}"'))
    result = run_cli("live", "--device", str(cfg), "--midi", str(midi_map), env=jack.env())
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (f"{midi_map}: MIDI input 'midisend' not found on jack; available: (none)"
            in result.stderr)
    proc = Live(jack, "--device", str(cfg), "--headless", "--midi", str(midi_map))
    sender = None
    try:
        proc.wait_for(r"MIDI input 'midisend' not found on jack; available: \(none\); "
                      r"waiting for it")
        proc.wait_for(r"streaming: system")  # audio does not wait for the controller
        for _ in range(2):
            sender = MidiSender(jack, SENDER)
            proc.wait_for(rf"MIDI input: {SENDER}:out \(jack\)")
            assert sender.ask("note 1 60 100") == "ok"
            proc.wait_for(r"MIDI: bypass\.limiter (on|off)")
            sender.close()
            proc.wait_for(rf"MIDI input '{SENDER}:out' disappeared; waiting for it")
        proc.process.send_signal(signal.SIGTERM)
        assert proc.process.wait(10) == 0
    finally:
        proc.stop()
        if sender is not None:
            sender.close()
