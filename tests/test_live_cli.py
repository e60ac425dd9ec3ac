"""``pymaster live --headless`` as a real process on a private JACK server: SIGHUP reloads without
stopping audio, SIGTERM exits 0 promptly leaving no client behind, a missing device is waited
for, a lost one is reported and handed to the service manager (exit 75)."""
import importlib.util
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from children import default_signals
from jackserver import JackServer, available, brief

from pymaster.presets import load_preset

# find_spec, not import: PortAudio must not scan for JACK before the test server is up.
pytestmark = pytest.mark.skipif(
    not available() or importlib.util.find_spec("sounddevice") is None,
    reason="the live tests need a real JACK server and PortAudio: apt-get install jackd2 "
           "libportaudio2; pip install sounddevice")

CONFIG = """host_api = "JACK"
device = "system"
client_name = "{client}"
sample_rate = 48000
block_size = 64
inputs = [1, 2]
outputs = {outputs}
[monitor]
outputs = [3, 4]
trim_db = {trim}
[reconnect]
retry_s = 0.2
"""


class Live:
    """`python -m pymaster live ...` with its stderr read line by line."""

    def __init__(self, server, *args):
        cmd = [sys.executable, "-m", "pymaster", "live", *args]
        self.process = subprocess.Popen(cmd, env=server.env(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True,
                                        preexec_fn=default_signals)
        self.lines, self._queue = [], queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stderr:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, pattern, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        log = tempfile.NamedTemporaryFile(prefix="pymaster-live-", suffix=".log", delete=False)
        log.close()
        raise AssertionError(f"no line matching {pattern!r} in {timeout} s; pymaster wrote "
                             + brief(self.lines, log.name))

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def jack():
    server = JackServer(f"pmcli{os.getpid()}", capture=2, playback=4).start()
    yield server
    server.stop()


def write_config(path, client, trim=-6.0, outputs=(1, 2)):
    path.write_text(CONFIG.format(client=client, trim=trim, outputs=list(outputs)))


def test_sighup_reloads_and_sigterm_exits_cleanly(jack, tmp_path):
    cfg, preset = tmp_path / "dev.toml", tmp_path / "mine.toml"
    write_config(cfg, "pmcli")
    shutil.copy(load_preset("streaming").path, preset)
    live = Live(jack, "--device", str(cfg), "--preset", str(preset), "--headless",
                "--log-interval", "0.5")
    try:
        live.wait_for(r"streaming: system \(JACK")
        live.wait_for(r"latency: 7\.67 ms total = interface in 0\.00 \+ out 2\.67 \+ "
                      r"lookahead 5\.00 ms \(368 samples\)")
        live.wait_for(r"M .* LUFS \(target -14\) TP .* dBTP GR comp")  # periodic meters
        assert jack.wait_for_client("pmcli")

        write_config(cfg, "pmcli", trim=-12.0)  # glides: no reopen
        preset.write_text(preset.read_text().replace("ceiling_dbtp = -1.0", "ceiling_dbtp = -2.0"))
        live.process.send_signal(signal.SIGHUP)
        line = live.wait_for(r"reloaded without stopping audio")
        assert "monitor.trim_db -6.0 -> -12.0" in line
        assert "preset streaming -> streaming (edited)" in line
        assert "reopened" not in line

        cfg.write_text(cfg.read_text() + "bogus = 1\n")  # a broken edit changes nothing
        live.process.send_signal(signal.SIGHUP)
        live.wait_for(r"reload failed, running on unchanged: .*unknown key 'reconnect\.bogus'")

        write_config(cfg, "pmcli", trim=-12.0, outputs=(2, 1))  # routing: a new stream
        live.process.send_signal(signal.SIGHUP)
        live.wait_for(r"reloaded without stopping audio: outputs \(1, 2\) -> \(2, 1\); "
                      r"stream reopened")
        live.wait_for(r"M .* LUFS")  # still running
        assert jack.wait_for_client("pmcli")

        live.process.send_signal(signal.SIGTERM)
        assert live.process.wait(10) == 0
        live.wait_for(r"stopped after \d+ blocks; xruns")
        assert jack.wait_for_client("pmcli", gone=True, timeout=2.0)
    finally:
        live.stop()


def test_missing_device_is_waited_for_and_lost_device_hands_over(tmp_path):
    """Headless, the server is not up yet: pymaster retries per [reconnect] and starts when it
    appears. Then the server dies: pymaster says so and, since PortAudio's JACK code cannot be
    reset in-process, exits 75 at once for systemd to restart it (no stuck process)."""
    cfg = tmp_path / "dev.toml"
    write_config(cfg, "pmlost")
    server = JackServer(f"pmlost{os.getpid()}", capture=2, playback=4)
    live = Live(server, "--device", str(cfg), "--headless")
    try:
        live.wait_for(r"host_api = 'JACK' is not available")
        live.wait_for(r"device not available \(attempt 2\); retrying in 0\.2 s")
        server.start()
        live.wait_for(r"streaming: system")
        server.stop()
        live.wait_for(r"device lost: 'system' stopped delivering audio")
        live.wait_for(r"cannot reopen in this process; exiting with status 75")
        assert live.process.wait(10) == 75
    finally:
        live.stop()
        server.stop()


def test_unavailable_device_fails_at_once_on_a_terminal_run(jack, tmp_path):
    cfg = tmp_path / "dev.toml"
    cfg.write_text(CONFIG.format(client="pmx", trim=0, outputs=[1, 2])
                   .replace('"system"', '"Fireface"'))
    result = subprocess.run([sys.executable, "-m", "pymaster", "live", "--device",
                             str(cfg)], env=jack.env(), capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert "device = 'Fireface' not found on JACK" in result.stderr
    assert "[0] system: 2 in, 4 out; rates 48000" in result.stderr
    assert "Traceback" not in result.stderr
