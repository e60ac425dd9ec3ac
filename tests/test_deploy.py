"""The shipped systemd units (deploy/) run as systemd runs them.

Each unit file is read as it is: the commands are parsed from it (line continuations, quoting,
``$NAME``/``${NAME}`` from Environment=/EnvironmentFile=, ``$MAINPID``), only the install paths
are swapped for this test's (the table in :func:`substitutions`), and the commands run against a
private JACK server (dummy backend; the ``jack`` device config). Audio is checked in freewheel
(``jack_freewheel yes``: the graph runs as fast as its clients, no deadline, no xrun), so a
stalled machine cannot fail the comparison; every wait counts log lines or exits, with generous
timeouts.
"""
import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest
from children import default_signals
from jackserver import PERIOD, RATE, JackServer, available, play_and_record, remove_server_files
from signals import programme, ref_true_peak_db

from pymaster.presets import load_preset

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEPLOY = REPO / "deploy"
UNITS = ("pymaster-live.service", "pymaster-jackd.service", "pymaster-live-jack.service")
CLIENT = "pymaster"  # configs/devices/jack.toml's client_name
WAIT_S = 60.0        # generous: waits count events, this only bounds a hang

needs_jack = pytest.mark.skipif(
    not available() or importlib.util.find_spec("sounddevice") is None
    or importlib.util.find_spec("rtmidi") is None,
    reason="the deploy tests need a real JACK server, PortAudio and python-rtmidi: apt-get "
           "install jackd2 libportaudio2; pip install sounddevice python-rtmidi")


# ---- reading units as systemd does (as far as these units need) ----

def read_unit(text):
    """{section: {key: [values in file order]}}: comments dropped, a trailing backslash joins
    the next line with a space (systemd.syntax(7))."""
    sections, section, pending = {}, None, ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = sections.setdefault(line[1:-1], {})
        else:
            key, _, value = line.partition("=")
            section.setdefault(key.strip(), []).append(value.strip())
    return sections


def words(service, key):
    """Every space-separated word of a list setting set on one or more lines."""
    return " ".join(service.get(key, [])).split()


def command(value, env):
    """argv of an Exec*= value (systemd.service(5), "Command lines"): the prefixes - @ : + !
    dropped; words split with quotes; a word ``$NAME`` becomes the value split at whitespace,
    ``${NAME}`` anywhere in a word the value as it is; ``$$`` is a dollar. An unset variable
    fails the test (systemd would make it empty, hiding a config mistake)."""
    value = value.lstrip("-@:+!")

    def lookup(name):
        assert name in env, f"{value!r}: ${name} is not set by the unit or its config"
        return env[name]

    argv = []
    for word in shlex.split(value):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            argv += lookup(whole.group(1)).split()
        else:
            argv.append(re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                               lambda m: lookup(m.group(1)) if m.group(1) else "$", word))
    return argv


def read_env_file(path):
    """An EnvironmentFile=: NAME=value lines, # and ; comments, optional quotes."""
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and line[0] not in "#;":
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            env[key.strip()] = value
    return env


def unit_environment(service, base):
    """`base` plus Environment= and then EnvironmentFile= (whose settings win, as in systemd)."""
    env = dict(base)
    for value in service.get("Environment", []):
        env.update(word.split("=", 1) for word in shlex.split(value))
    for value in service.get("EnvironmentFile", []):
        path = value.lstrip("-")
        if not (value.startswith("-") and not Path(path).exists()):  # "-": optional file
            env.update(read_env_file(path))
    return env


def restarts(service, exit_code):
    """Whether systemd restarts a service whose main process exited with `exit_code`, per
    Restart=, SuccessExitStatus=, RestartPreventExitStatus= and RestartForceExitStatus=
    (systemd.service(5), the table under Restart=; exit codes only, not signals)."""
    code = str(exit_code)
    if code in words(service, "RestartPreventExitStatus"):
        return False
    if code in words(service, "RestartForceExitStatus"):
        return True
    clean = exit_code == 0 or code in words(service, "SuccessExitStatus")
    policy = service.get("Restart", ["no"])[-1]
    return {"no": False, "always": True, "on-success": clean, "on-failure": not clean,
            "on-abnormal": False, "on-abort": False, "on-watchdog": False}[policy]


# ---- installing the units and configs under a temporary root ----

def pymaster_command():
    """What stands for /opt/pymaster/venv/bin/pymaster: the console script `pip install`
    put beside this Python, else ``python -m pymaster`` (the same main())."""
    script = Path(sysconfig.get_path("scripts")) / "pymaster"
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    return f"{sys.executable} -m pymaster"


def substitutions(root):
    """The units' install paths -> this test's, applied in this order to the unit text.

    ====================================  =======================================================
    /opt/pymaster/venv/bin/pymaster       :func:`pymaster_command`
    /opt/pymaster/venv/bin/python         this interpreter (sys.executable)
    /etc/pymaster/                        ROOT/etc/: copies of the shipped configs (:func:`install`)
    /opt/pymaster                         ROOT/opt (WorkingDirectory)
    ====================================  =======================================================

    Nothing else changes: /usr/bin/jackd, /usr/bin/jack_wait and /bin/kill are Debian's.
    """
    return [("/opt/pymaster/venv/bin/pymaster", pymaster_command()),
            ("/opt/pymaster/venv/bin/python", sys.executable),
            ("/etc/pymaster/", f"{root}/etc/"),
            ("/opt/pymaster", f"{root}/opt")]


def set_keys(path, **values):
    """Set NAME=value lines of an environment file; each NAME must be there already."""
    text = path.read_text()
    for key, value in values.items():
        text, n = re.subn(rf"(?m)^{key}=.*$", f"{key}={value}", text)
        assert n == 1, f"{path}: no {key}= line"
    path.write_text(text)


def install(root, server_name):
    """ROOT/etc: device.toml = configs/devices/jack.toml, preset.toml = the streaming preset,
    jackd.conf = deploy/jackd.conf set to a dummy backend named `server_name`; ROOT/units: the
    units with :func:`substitutions` applied. Returns ROOT/units."""
    (root / "etc").mkdir(parents=True)
    (root / "opt").mkdir()
    shutil.copy(REPO / "configs" / "devices" / "jack.toml", root / "etc" / "device.toml")
    shutil.copy(load_preset("streaming").path, root / "etc" / "preset.toml")
    shutil.copy(DEPLOY / "jackd.conf", root / "etc" / "jackd.conf")
    set_keys(root / "etc" / "jackd.conf", JACK_DEFAULT_SERVER=server_name, JACK_DRIVER="dummy",
             JACK_DRIVER_ARGS=f"-r {RATE} -p {PERIOD} -C 2 -P 2")
    units = root / "units"
    units.mkdir()
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        for old, new in substitutions(root):
            text = text.replace(old, new)
        (units / name).write_text(text)
    return units


def base_environment():
    """This environment (PYTHONPATH: the tree under test) without any JACK server choice: the
    units' own settings must bring it."""
    return {k: v for k, v in os.environ.items() if not k.startswith("JACK_")}


class Service:
    """One unit's [Service], run as systemd would start, reload and stop it (as this user, no
    cgroup). Output goes to a log file, the journal's stand-in."""

    def __init__(self, unit_path, base_env, log_path):
        self.service = read_unit(Path(unit_path).read_text())["Service"]
        self.env = unit_environment(self.service, base_env)
        self.log_path = log_path
        self.read = 0          # log lines already matched by wait_for
        self.process = None

    def setting(self, key, default=None):
        return self.service.get(key, [default])[-1]

    def start(self):
        """ExecStart=, then each ExecStartPost= to completion (status 0, as systemd needs)."""
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(command(self.setting("ExecStart"), self.env),
                                            env=self.env, cwd=self.setting("WorkingDirectory"),
                                            stdout=log, stderr=log, preexec_fn=default_signals)
        finally:
            log.close()
        for value in self.service.get("ExecStartPost", []):
            post = subprocess.run(command(value, self.env), env=self.env, timeout=WAIT_S,
                                  capture_output=True, text=True)
            assert post.returncode == 0, f"ExecStartPost={value}: {post.stdout}{post.stderr}"
        return self

    def reload(self):
        env = {**self.env, "MAINPID": str(self.process.pid)}
        for value in self.service["ExecReload"]:
            subprocess.run(command(value, env), env=env, timeout=WAIT_S, check=True)

    def stop(self):
        """KillSignal= (default SIGTERM) to the main process; its exit status."""
        self.process.send_signal(getattr(signal, self.setting("KillSignal", "SIGTERM")))
        return self.process.wait(WAIT_S)

    def wait_for(self, pattern, timeout=WAIT_S):
        """The first new log line matching `pattern` (lines before it are passed over)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.log_path.read_text(errors="replace").splitlines()
            for k in range(self.read, len(lines)):
                if re.search(pattern, lines[k]):
                    self.read = k + 1
                    return lines[k]
            if time.monotonic() > deadline or (self.process.poll() is not None
                                                and self.read >= len(lines)):
                raise AssertionError(f"no log line matching {pattern!r}:\n" + "\n".join(lines))
            time.sleep(0.05)

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# ---- the units as files ----

def test_units_start_pymaster_through_its_stable_entry_point():
    """Never a module path inside the package (`python -m pymaster.live_cli` ran nothing)."""
    for name in ("pymaster-live.service", "pymaster-live-jack.service"):
        service = read_unit((DEPLOY / name).read_text())["Service"]
        argv = shlex.split(service["ExecStart"][-1])
        stable = (argv[0].endswith("/pymaster")
                  or (Path(argv[0]).name.startswith("python") and argv[1:3] == ["-m", "pymaster"]))
        assert stable, f"{name}: ExecStart={service['ExecStart'][-1]}"
        assert "live" in argv and "--headless" in argv


def test_the_jack_unit_needs_the_server_unit_and_never_starts_a_server_itself():
    unit = read_unit((DEPLOY / "pymaster-live-jack.service").read_text())
    assert "pymaster-jackd.service" in words(unit["Unit"], "After")
    assert "pymaster-jackd.service" in words(unit["Unit"], "Requires")
    env = unit_environment({"Environment": unit["Service"]["Environment"]}, {})
    assert env["JACK_NO_START_SERVER"] == "1"
    server = read_unit((DEPLOY / "pymaster-jackd.service").read_text())["Service"]
    assert unit["Service"]["EnvironmentFile"] == server["EnvironmentFile"]  # one server name


def test_systemd_analyze_verify_passes(tmp_path):
    """All three units, path-substituted, side by side (so Requires= finds the server unit).
    verify needs no running systemd; it checks every Exec*= binary exists and is executable
    (hence the substitution), every key and value, and the dependencies."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is missing: apt-get install systemd")
    units = install(tmp_path, "pmverify")
    result = subprocess.run([tool, "verify", *(str(units / n) for n in UNITS)],
                            capture_output=True, text=True, timeout=WAIT_S)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # systemd only warns (status 0) about unknown keys and bad values: those name the file.
    assert not [line for line in output.splitlines() if str(units) in line
                or any(n in line for n in UNITS)], output


# ---- the units running ----

def loopback(jack, tmp_path, play):
    """`play` through pymaster, recorded by tests/jack_harness.py with the server freewheeling
    (jackserver.play_and_record: freewheel only once both clients run, off before one closes)."""
    rec, xruns = play_and_record(jack, tmp_path, play, CLIENT)
    assert xruns == 0  # freewheel: no deadline to miss
    return rec


class Box:
    """The installed units on a private JACK server: the test's own (an ALSA unit pointed at
    JACK by its device config stands for a box whose default server is up), or the one
    pymaster-jackd.service's ExecStart started. Stops and reaps all it started."""

    def __init__(self, tmp_path, jackd_unit):
        self.name = f"pmdeploy{os.getpid()}"
        self.tmp_path, self.etc = tmp_path, tmp_path / "root" / "etc"
        self.units = install(tmp_path / "root", self.name)
        self.jack = JackServer(self.name, capture=2, playback=2)  # wiring helpers; maybe run
        self.jackd = None
        self.base = base_environment()
        if jackd_unit:
            self.jackd = Service(self.units / "pymaster-jackd.service", self.base,
                                 tmp_path / "jackd.log")
            assert self.jackd.env["JACK_DEFAULT_SERVER"] == self.name  # from jackd.conf
        else:
            self.base.update(JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")
        self.services = []

    def start_server(self):
        if self.jackd is not None:
            self.jackd.start()  # ExecStartPost (jack_wait) returned: the server answers
        else:
            self.jack.start()
        assert self.jack.ports() is not None

    def stop_server(self):
        if self.jackd is not None and self.jackd.process.poll() is None:
            assert self.jackd.stop() == 0
        self.jack.stop()

    def start(self, unit):
        service = Service(self.units / unit, self.base,
                          self.tmp_path / f"{unit}.{len(self.services)}.log").start()
        self.services.append(service)
        return service

    def close(self):
        for service in self.services:  # clients first, then the server
            service.kill()
        if self.jackd is not None:
            self.jackd.kill()
        self.jack.stop()
        remove_server_files(self.name)  # a killed client's semaphores


@needs_jack
@pytest.mark.parametrize("unit", ["pymaster-live.service", "pymaster-live-jack.service"])
def test_the_unit_runs_reloads_stops_and_is_restarted(unit, tmp_path):
    """Audio through the running unit (the offline master, sample for sample, under the
    ceiling), ExecReload applies an edited preset, KillSignal ends it with 0, which Restart=
    leaves alone; started again, the server goes away: exit 75, which Restart= restarts."""
    box = Box(tmp_path, jackd_unit=unit == "pymaster-live-jack.service")
    try:
        box.start_server()
        run_the_box(box, unit)
    finally:
        box.close()


def run_the_box(box, unit):
    jack, etc = box.jack, box.etc
    live = box.start(unit)
    live.wait_for(r"streaming: system \(JACK")
    latency = int(re.search(r"\((\d+) samples\)", live.wait_for(r"latency: ")).group(1))
    assert jack.wait_for_client(CLIENT)

    impulse = np.zeros((int(0.3 * RATE), 2), np.float32)
    impulse[0] = 0.25
    play = np.concatenate([impulse, programme(1.5, RATE, level_db=0.0)])
    rec = loopback(jack, box.tmp_path, play)
    delay = int(np.argmax(np.abs(rec[:len(impulse), 0])))
    assert delay == latency + PERIOD  # the reported latency + the loop between two clients
    master = rec[delay:delay + len(play)]
    preset = load_preset(str(etc / "preset.toml"))
    np.testing.assert_allclose(master, preset.build_chain(RATE, 2).render(play), atol=1e-6)
    assert -1.5 < ref_true_peak_db(master) <= preset.ceiling_dbtp + 0.02

    text = (etc / "preset.toml").read_text()
    (etc / "preset.toml").write_text(text.replace("ceiling_dbtp = -1.0", "ceiling_dbtp = -3.0"))
    live.reload()
    live.wait_for(r"reloaded without stopping audio: preset streaming -> streaming \(edited\)")
    rec = loopback(jack, box.tmp_path, play)
    delay = int(np.argmax(np.abs(rec[:len(impulse), 0])))
    peak = ref_true_peak_db(rec[delay + len(impulse):delay + len(play)])
    assert -3.5 < peak <= -3.0 + 0.02  # the edited ceiling, in the same process

    assert live.stop() == 0
    live.wait_for(r"stopped after \d+ blocks")
    assert not restarts(live.service, 0)
    assert jack.wait_for_client(CLIENT, gone=True)

    again = box.start(unit)  # what Restart= would start
    again.wait_for(r"streaming: system \(JACK")
    box.stop_server()
    again.wait_for(r"exiting with status 75")
    assert again.process.wait(WAIT_S) == 75
    assert restarts(again.service, 75)
