"""A private JACK server (dummy backend) and port wiring for the live tests.

See ../shared/notes/realtime-testing.md: the dummy backend carries real audio with real-time
pacing and real xrun reporting, with no sound card.
"""
import contextlib
import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATE, PERIOD = 48000, 64


def available():
    return all(shutil.which(tool) for tool in ("jackd", "jack_lsp", "jack_connect",
                                                 "jack_disconnect", "jack_metro"))


class JackServer:
    """``jackd -n NAME -d dummy``; stop() terminates and reaps it (no zombie holding NAME)."""

    def __init__(self, name, capture=2, playback=4, rate=RATE, period=PERIOD, log_path=None):
        self.name = name
        self.log_path = log_path  # jackd's messages (xrun reports name the late client)
        self.args = ["jackd", "-n", name, "-d", "dummy", "-r", str(rate), "-p", str(period),
                     "-C", str(capture), "-P", str(playback)]
        self.process = None

    def env(self):
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_START_SERVER": "1"}

    def start(self, timeout=10.0):
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(self.args, env=self.env(), stdout=log, stderr=log)
        finally:
            if self.log_path:
                log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jackd exited with status {self.process.returncode}")
            if self.ports() is not None:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"jackd -n {self.name} did not answer within {timeout} s")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        remove_server_files(self.name)

    def freewheel(self, on):
        """JACK's freewheel mode: the graph runs as fast as its clients allow, with no deadline
        and so no xruns; every client still runs once per cycle, in graph order (the notes)."""
        self._run("jack_freewheel", "yes" if on else "no")

    @contextlib.contextmanager
    def freewheeling(self):
        self.freewheel(True)
        try:
            yield self
        finally:
            self.freewheel(False)

    def log_size(self):
        return os.path.getsize(self.log_path)

    def log_since(self, offset):
        """jackd's log lines written after byte `offset` (see log_size)."""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return [line.decode(errors="replace").strip() for line in f.read().split(b"\n")
                    if line.strip()]

    def _run(self, *args, check=True):
        return subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=10,
                              check=check)

    def ports(self):
        """Port names, or None if the server does not answer."""
        result = self._run("jack_lsp", "-s", self.name, check=False)
        return result.stdout.split() if result.returncode == 0 else None

    def connections(self):
        """{port: [connected ports]} from ``jack_lsp -c``."""
        out, current = {}, None
        for line in self._run("jack_lsp", "-s", self.name, "-c").stdout.splitlines():
            if line.startswith((" ", "\t")):
                out[current].append(line.strip())
            else:
                current = line.strip()
                out[current] = []
        return out

    def disconnect_all(self, client):
        for port, peers in self.connections().items():
            if port.startswith(client + ":"):
                for peer in peers:
                    self._run("jack_disconnect", "-s", self.name, port, peer, check=False)

    def connect(self, source, destination, timeout=5.0):
        """jack_connect, retried while a just-started client is not active yet."""
        deadline = time.monotonic() + timeout
        while True:
            result = self._run("jack_connect", "-s", self.name, source, destination, check=False)
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"jack_connect {source} {destination}: {result.stderr}")
            time.sleep(0.05)

    def wait_for_client(self, client, gone=False, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            present = any(p.startswith(client + ":") for p in self.ports() or [])
            if present != gone:
                return True
            time.sleep(0.05)
        return False


def remove_server_files(name):
    """A client killed while connected leaves its semaphore (/dev/shm/jack_sem.UID_NAME_CLIENT)
    behind, and jackd does not remove it: the server's name is this run's own, so all of them go."""
    for path in glob.glob(f"/dev/shm/jack_sem.{os.getuid()}_{name}_*"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def brief(lines, path, first=5):
    """Text lines for an assertion message: the count and the first few; all of them in `path`."""
    lines = list(lines)
    Path(path).write_text("\n".join(lines) + "\n")
    head = "\n".join(lines[:first])
    more = f"\n... {len(lines) - first} more" if len(lines) > first else ""
    return f"{len(lines)} lines (all in {path}):\n{head}{more}"


@contextlib.contextmanager
def serving(name, capture, playback, log_path):
    """A private server for this process: JACK clients and PortAudio find it through the
    environment; PortAudio is re-scanned after it is up and shut before it goes."""
    from pymaster import devices

    server = JackServer(name, capture=capture, playback=playback, log_path=log_path).start()
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ.update(JACK_DEFAULT_SERVER=server.name, JACK_NO_START_SERVER="1")
    devices.portaudio(rescan=True)  # PortAudio must scan after the server is up
    try:
        yield server
    finally:
        devices.portaudio()._terminate()  # PortAudio's JACK client goes before the server
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def play_and_record(jack, tmp_path, play, client, inputs=2, hold=None, during=None,
                    freewheel=True):
    """The harness client (jack_harness.py) plays `play` into `client`'s two inputs and records
    `client`'s first `inputs` outputs. Returns the recording and the harness's xrun count.

    With `freewheel` (the default) the server runs the graph in freewheel mode while the harness
    plays: sample-exact and free of xruns however busy the machine is. `hold` = (START, END):
    the harness loops play[START:END] on reaching END and `during()` runs meanwhile; when it
    returns, the harness plays on (see jack_harness.py).
    """
    np.save(tmp_path / "play.npy", play)
    cmd = [sys.executable, str(HERE / "jack_harness.py"), "harness", str(tmp_path / "play.npy"),
           str(tmp_path / "rec.npy"), "--inputs", str(inputs)]
    if hold is not None:
        cmd += ["--hold", f"{hold[0]}:{hold[1]}"]
    harness = subprocess.Popen(cmd, env=jack.env(), text=True, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
    mode = jack.freewheeling() if freewheel else contextlib.nullcontext()
    try:
        assert harness.stdout.readline().strip() == "ready"
        jack.disconnect_all("harness")  # PortAudio wired both clients to system:*
        jack.disconnect_all(client)
        for k in range(2):
            jack.connect(f"harness:out_{k}", f"{client}:in_{k}")
        for k in range(inputs):
            jack.connect(f"{client}:out_{k}", f"harness:in_{k}")
        with mode:
            _say(harness, "go")
            if hold is not None:
                assert harness.stdout.readline().strip() == "held"
                if during is not None:
                    during()
                _say(harness, "release")
            assert harness.stdout.readline().strip() == "finished"
        _say(harness, "close")  # out of freewheel first (see jack_harness.py)
        done = harness.stdout.readline().strip()
        assert harness.wait(30) == 0 and done.startswith("done"), done
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
    return np.load(tmp_path / "rec.npy"), int(done.split()[1].split("=")[1])


def _say(process, line):
    process.stdin.write(line + "\n")
    process.stdin.flush()


class MidiSender:
    """tests/midi_sender.py, a controller stand-in on JACK MIDI (NAME:out, NAME-in:in), driven
    one command line at a time (see that file for the commands)."""

    def __init__(self, jack, name="midisend"):
        self.process = subprocess.Popen([sys.executable, str(HERE / "midi_sender.py"), name],
                                        env=jack.env(), text=True, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE)
        assert self.process.stdout.readline().strip() == "ready"

    def ask(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def close(self):
        if self.process.poll() is None:
            try:
                self.ask("quit")
                self.process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
