"""``pymaster live --check`` as a real process: the device config, preset and MIDI map validated,
the audio device and the map's MIDI ports looked up on a private JACK server (dummy backend, JACK
MIDI through python-rtmidi, a controller stand-in: tests/midi_sender.py), one line per item, exit
0 or 2, and no audio opened: jack_evmon, a client of the server, lists every client, port and
connection event while the check runs, and the check registers no port.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from children import default_signals
from jackserver import JackServer, available, remove_server_files

HERE = Path(__file__).resolve().parent
JACK_CONFIG = HERE.parent / "configs" / "devices" / "jack.toml"
SENDER = "checksend"  # the controller stand-in: ports checksend:out and checksend-in:in
ITEMS = ["device config", "preset", "MIDI map", "chain", "audio device", "MIDI input",
         "MIDI output"]
WAIT_S = 60.0         # generous: only bounds a hang
LINE = re.compile(r"(ok|invalid|missing) +([^:]+): (.*)")


def _rtmidi_has_jack():
    if importlib.util.find_spec("rtmidi") is None:
        return False
    import rtmidi
    return rtmidi.API_UNIX_JACK in rtmidi.get_compiled_api()


pytestmark = pytest.mark.skipif(
    not available() or not shutil.which("jack_evmon") or not shutil.which("stdbuf")
    or importlib.util.find_spec("sounddevice") is None or not _rtmidi_has_jack(),
    reason="the check tests need a real JACK server with its example clients, PortAudio and "
           "python-rtmidi built with JACK: apt-get install jackd2 libportaudio2; pip install "
           "sounddevice python-rtmidi")


def midi_map(path, input=f"{SENDER}:out", output=f"{SENDER}-in:in", cc=7):
    """A JACK MIDI map reading the controller stand-in and sending it feedback."""
    path.write_text(f'[midi]\napi = "jack"\ninput = "{input}"\noutput = "{output}"\n'
                    f'[[control]]\nparam = "output_gain_db"\ncc = {cc}\n'
                    f'[feedback]\ngain_reduction_cc = 13\n')
    return path


def check(env, *args):
    """``pymaster live ARGS --check``: its status and {item: (status, detail)}, asserting that
    stdout is one line per item and the summary line after them."""
    result = subprocess.run([sys.executable, "-m", "pymaster", "live", *args, "--check"],
                            env=env, capture_output=True, text=True, timeout=WAIT_S)
    lines = result.stdout.splitlines()
    assert lines and lines[-1].startswith("pymaster live --check: "), result.stdout + result.stderr
    items = {}
    for line in lines[:-1]:
        match = LINE.fullmatch(line)
        assert match and match.group(2) not in items, f"not one line per item: {line!r}"
        items[match.group(2)] = match.group(1, 3)
    bad = [item for item, (status, _) in items.items() if status != "ok"]
    assert lines[-1] == (f"pymaster live --check: {len(items) - len(bad)} of {len(items)} ok"
                         + (f"; to fix: {', '.join(bad)}" if bad else ""))
    return result.returncode, items


@pytest.fixture(scope="module")
def jack(tmp_path_factory):
    log = tmp_path_factory.mktemp("jackd") / "jackd.log"
    server = JackServer(f"pmcheck{os.getpid()}", capture=2, playback=2, log_path=log).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def controller(jack):
    sender = subprocess.Popen([sys.executable, str(HERE / "midi_sender.py"), SENDER],
                              env=jack.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, preexec_fn=default_signals)
    try:
        assert sender.stdout.readline().strip() == "ready"
        yield sender
    finally:
        if sender.poll() is None:
            sender.stdin.write("quit\n")
            sender.stdin.flush()
            try:
                sender.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                sender.kill()
                sender.wait()


class Events:
    """jack_evmon on the server: its event lines, in the order the server sent them. A mark is
    a jack_lsp run (client ``lsp``) seen registered and gone: what the server did between two
    marks is exactly the lines between them."""

    def __init__(self, jack, path):
        self.jack, self.path = jack, path
        with open(path, "wb") as out:  # stdbuf: a line as soon as it is printed
            self.process = subprocess.Popen(["stdbuf", "-oL", "jack_evmon"], env=jack.env(),
                                            stdout=out, stderr=subprocess.STDOUT,
                                            preexec_fn=default_signals)
        self.marks = 0

    def lines(self):
        return self.path.read_text(errors="replace").splitlines()

    def mark(self):
        """Run jack_lsp until jack_evmon has seen it (it may not have connected yet); the
        number of lines up to and including its going."""
        deadline = time.monotonic() + WAIT_S
        while True:
            self.jack.ports()
            gone = [k for k, line in enumerate(self.lines()) if line == "Client lsp unregistered"]
            if len(gone) > self.marks:
                self.marks = len(gone)
                return gone[-1] + 1
            assert time.monotonic() < deadline and self.process.poll() is None, self.lines()
            time.sleep(0.1)

    def close(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(WAIT_S)


def test_all_there_is_ok_and_opens_no_audio(jack, controller, tmp_path):
    events = Events(jack, tmp_path / "events.txt")
    try:
        start = events.mark()
        status, items = check(jack.env(), "--device", str(JACK_CONFIG), "--preset", "streaming",
                              "--midi", str(midi_map(tmp_path / "map.toml")))
        end = events.mark()
        during = events.lines()[start:end]
    finally:
        events.close()
    assert status == 0 and list(items) == ITEMS
    assert all(s == "ok" for s, _ in items.values()), items
    assert "'system' on JACK" in items["audio device"][1]
    assert f"'{SENDER}:out' is '{SENDER}:out' on jack" in items["MIDI input"][1]
    assert f"'{SENDER}-in:in' is '{SENDER}-in:in' on jack" in items["MIDI output"][1]
    # It looked on this server (PortAudio's scan under the config's client name, rtmidi's
    # client) and registered no port, connected nothing: no audio, no MIDI opened.
    assert "Client pymaster registered" in during and "Client pymaster-check registered" in during
    assert not [line for line in during if re.match(r"Ports? .*(registered|connected)", line)], \
        during
    assert "Client lsp unregistered" in during[-1:]


def test_what_is_not_there_is_missing(jack, controller, tmp_path):
    device = tmp_path / "device.toml"
    device.write_text(JACK_CONFIG.read_text().replace('device = "system"', 'device = "nosuch"'))
    status, items = check(jack.env(), "--device", str(device), "--midi",
                          str(midi_map(tmp_path / "map.toml", input="nosuchctl")))
    assert status == 2 and list(items) == ITEMS
    assert items["audio device"][0] == "missing"
    assert f"{device}: device = 'nosuch' not found on JACK" in items["audio device"][1]
    assert items["MIDI input"] == ("missing", f"{tmp_path / 'map.toml'}: 'nosuchctl' not found "
                                              f"on jack; available: {SENDER}:out")
    assert items["MIDI output"][0] == "ok"  # the feedback port is there
    assert {k: s for k, (s, _) in items.items() if k not in ("audio device", "MIDI input")} \
        == dict.fromkeys(ITEMS[:4] + ITEMS[-1:], "ok")


def test_without_a_server_device_and_midi_backend_are_missing_and_none_is_started(tmp_path):
    """JACK_NO_START_SERVER unset, as from a login shell: still no server is started."""
    name = f"pmnone{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JACK_")}
    env["JACK_DEFAULT_SERVER"] = name
    try:
        status, items = check(env, "--device", str(JACK_CONFIG), "--midi",
                              str(midi_map(tmp_path / "map.toml")))
        assert status == 2
        assert items["audio device"][0] == "missing"
        assert "no JACK server answers" in items["audio device"][1]
        assert items["MIDI input"][0] == items["MIDI output"][0] == "missing"
        assert "MIDI backend 'jack' failed" in items["MIDI input"][1]
        assert JackServer(name).ports() is None  # no server answers under that name
    finally:
        remove_server_files(name)


BAD = [  # (option, shipped file, change, what the message must name)
    ("--preset", "presets/streaming.toml", lambda t: "colour = 1\n" + t,
     "unknown key 'colour'; allowed: name, description, target"),
    ("--preset", "presets/streaming.toml",
     lambda t: t.replace("ceiling_dbtp = -1.0", "ceiling_dbtp = 3.0"),
     "target.ceiling_dbtp = 3.0 is invalid: allowed -20..0 dBTP"),
    ("--device", "devices/jack.toml",
     lambda t: t.replace("block_size = 64", "block_size = 64\nbuffer = 3"),
     "unknown key 'buffer'; allowed: description, host_api"),
    ("--midi", "midi/default.toml", lambda t: t.replace("cc = 20", "cc = 120", 1),
     "control[0].cc = 120 is invalid: allowed an integer 0..119"),
]
# What is reported beside the bad file: what depends on it is left out, the rest is checked.
REPORTED = {"--preset": {"device config": "ok", "preset": "invalid", "audio device": "ok"},
            "--device": {"device config": "invalid", "preset": "ok"},
            "--midi": {"device config": "ok", "preset": "ok", "MIDI map": "invalid",
                       "chain": "ok", "audio device": "ok"}}


@pytest.mark.parametrize("option, shipped, change, message", BAD,
                         ids=["preset-key", "preset-range", "device-key", "map-cc"])
def test_a_bad_file_is_invalid_naming_file_and_key(jack, tmp_path, option, shipped, change,
                                                   message):
    text = (HERE.parent / "configs" / shipped).read_text()
    path = tmp_path / Path(shipped).name
    path.write_text(change(text))
    assert path.read_text() != text
    args = {"--device": str(JACK_CONFIG), "--preset": "streaming", option: str(path)}
    status, items = check(jack.env(), *(word for pair in args.items() for word in pair))
    assert status == 2
    assert {k: s for k, (s, _) in items.items()} == REPORTED[option]
    bad = next(detail for s, detail in items.values() if s == "invalid")
    assert bad.startswith(f"{path}: {message}"), bad
