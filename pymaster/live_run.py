"""``pymaster live`` as one library call: run a LiveEngine until told to stop.

The control thread (this one) owns everything that is not audio: signals (SIGTERM/SIGINT stop;
headless, SIGHUP reloads the device config and preset while audio runs), the reconnect policy
when the device is missing or lost, the meter display or periodic log lines, and occasional
young-generation garbage collection (automatic collection is off while streaming so that it can
never start inside the audio callback). With a MIDI map, a MidiController thread drives the
chain through its setters (see :mod:`pymaster.midi`); it opens before audio starts, so a MIDI
setup error stops the run before any sound.
"""
import gc
import logging
import signal
import sys
import threading
import time

from .devices import load_device_config
from .errors import UserError
from .live import BackendStuck, LiveEngine
from .live_display import meter_line
from .midi_map import MidiMapError, is_shipped, load_midi_map

log = logging.getLogger("pymaster.live")
EXIT_RESTART = 75   # EX_TEMPFAIL: only a new process can reopen the device (see BackendStuck)
TICK_S = 0.1        # control loop period: the display's ~10 Hz
HOUSEKEEPING_S = 10.0


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (rich's live display redirects it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def setup_logging():
    if not log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("pymaster live: %(levelname)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


class _Control:
    """What the signal handlers ask for; `wake` cuts the control loop's sleep short."""

    def __init__(self):
        self.stop = False
        self.reload = False
        self.wake = threading.Event()

    def sleep(self, seconds):
        self.wake.wait(seconds)
        self.wake.clear()

    def install(self, hup_reloads):
        """SIGTERM/SIGINT stop; SIGHUP reloads when headless (a daemon's convention), else it
        means the terminal went away and stops too."""
        def stop(signum, frame):
            self.stop = True
            self.wake.set()

        def reload(signum, frame):
            self.reload = True
            self.wake.set()

        self.previous = {s: signal.signal(s, h) for s, h in
                         ((signal.SIGTERM, stop), (signal.SIGINT, stop),
                          (signal.SIGHUP, reload if hup_reloads else stop))}

    def uninstall(self):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _start(engine, control, retry):
    """Open the device; with `retry`, wait and try again as the config's [reconnect] says."""
    cfg, attempt = engine.config, 0
    while not control.stop:
        attempt += 1
        try:
            engine.start()
            return True
        except UserError as exc:
            if not retry or (cfg.attempts and attempt >= cfg.attempts):
                raise
            if attempt == 1:
                log.error("%s", exc)
            log.warning("device not available (attempt %d); retrying in %g s",
                        attempt, cfg.retry_s)
            control.sleep(cfg.retry_s)
    return False


def _report_start(engine, preset):
    lat, dev = engine.latency(), engine.device
    mon = engine.config.monitor
    log.info("streaming: %s (%s), %d Hz, %s-frame blocks, %d channels in %s -> out %s%s",
             dev.name, dev.host_api, engine.config.sample_rate,
             engine.config.block_size or "host", engine.config.channels,
             list(engine.config.inputs), list(engine.config.outputs),
             f", monitor -> {list(mon.outputs)}" if mon else "")
    log.info("latency: %.2f ms total = interface in %.2f + out %.2f + lookahead %.2f ms "
             "(%d samples)", lat["total_s"] * 1e3, lat["input_s"] * 1e3, lat["output_s"] * 1e3,
             lat["lookahead_s"] * 1e3, lat["total_samples"])
    log.info("preset: %s, input gain %+.1f dB", preset.name if preset else "none (defaults)",
             engine.input_gain_db)


def _load_midi(midi, midi_learn, load_preset):
    """The validated MIDI map (or None); learn needs a map file of the user's own."""
    if midi is None:
        if midi_learn is not None:
            raise MidiMapError("--midi-learn needs --midi MAP.toml (the file it saves to)")
        return None
    midi_map = load_midi_map(midi, load_preset)
    if midi_learn is not None and is_shipped(midi_map.path):
        raise MidiMapError(f"{midi_map.path} is a map shipped with pymaster: MIDI learn saves "
                           f"into the map, so copy it first (cp {midi_map.path} mine.toml)")
    return midi_map


def _reload(engine, load_preset, preset_spec, midi_ctl=None):
    try:
        config = load_device_config(engine.config.path)
        preset = load_preset(preset_spec) if preset_spec else None
        midi_map = load_midi_map(midi_ctl.map.path, load_preset) if midi_ctl else None
        changes = engine.reload(config, preset)
    except (UserError, ValueError) as exc:
        log.error("reload failed, running on unchanged: %s", exc)
        return
    if midi_ctl is not None:
        midi_ctl.reload(midi_map)
        changes.append(f"MIDI map {midi_map.path} re-read")
    log.info("reloaded without stopping audio: %s",
             "; ".join(changes) if changes else "no changes")


def run_live(device, preset=None, *, input_gain_db=0.0, headless=False, log_interval_s=10.0,
             duration_s=None, load_preset=None, midi=None, midi_learn=None):
    """Master live until SIGTERM/SIGINT (or `duration_s`); returns the exit status (0).

    Parameters
    ----------
    device : str or path
        Device config file, or the name of a shipped one (``configs/devices/NAME.toml``).
    preset : str, optional
        Preset name or file (issue 3's loader); reloaded on SIGHUP.
    input_gain_db : float
        Drive into the chain (see :class:`pymaster.live.LiveEngine`).
    headless : bool
        No terminal display: meters are logged every `log_interval_s`; a missing device is
        waited for as the config's ``[reconnect]`` says instead of failing at once.
    duration_s : float, optional
        Stop by itself after this long (scripts, tests).
    midi : str or path, optional
        MIDI controller map (``configs/midi/NAME.toml`` or a path, see
        :mod:`pymaster.midi_map`); reloaded with the rest on SIGHUP.
    midi_learn : str, optional
        Parameter or action to bind to the next moved control; the map file is then saved.

    Raises
    ------
    UserError
        Bad config or preset, or the device is not available (not headless).
    BackendStuck
        The device was lost and PortAudio cannot be reset in this process: exit with
        :data:`EXIT_RESTART` without running exit handlers (``os._exit``) so that a service
        manager starts a fresh process.
    MidiError
        The MIDI backend cannot start (the message names the alternatives) or, not headless,
        the map's controller port is missing.
    """
    if load_preset is None:
        from .presets import load_preset
    setup_logging()
    config = load_device_config(device)
    preset_obj = load_preset(preset) if preset else None
    midi_map = _load_midi(midi, midi_learn, load_preset)
    engine = LiveEngine(config, preset_obj, input_gain_db)
    midi_ctl = None
    if midi_map is not None:  # before audio: a MIDI setup error stops us before it starts
        from .midi import MidiController
        midi_ctl = MidiController(engine, midi_map, learn=midi_learn, wait_for_ports=headless)
        midi_ctl.open()
    control = _Control()
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        control.install(hup_reloads=headless)
    target = preset_obj.target_lufs if preset_obj else None
    display = _make_display(target) if not headless and sys.stderr.isatty() else None
    shown = False
    try:
        if midi_ctl is not None:  # at once: messages sent while a device is awaited are dropped
            midi_ctl.start()
        if not _start(engine, control, retry=headless):
            return 0
        _report_start(engine, preset_obj)
        if display is not None:
            display.start(engine, f"pymaster live: {engine.device.name}")
            shown = True
        _loop(engine, control, display, target, display is None, log_interval_s,
              duration_s, lambda: _reload(engine, load_preset, preset, midi_ctl))
    finally:
        if shown:
            display.stop()
        try:
            if midi_ctl is not None:
                midi_ctl.close()  # its JACK clients go before the audio stream's
            engine.stop()
        finally:
            if in_main:
                control.uninstall()
    x = engine.xruns
    log.info("stopped after %d blocks; xruns %d (%s)", engine.blocks, x["total"],
             ", ".join(f"{k} {v}" for k, v in x.items() if k != "total" and v) or "none")
    if midi_ctl is not None:
        log.info("MIDI: %d messages, %d errors", midi_ctl.counts["messages"],
                 midi_ctl.counts["errors"])
    return 0


def check_live(device, preset=None, *, input_gain_db=0.0, midi=None, midi_learn=None,
               load_preset=None):
    """What ``pymaster live --check`` reports: is everything a run needs valid and present?

    Validates the device config, the preset and the MIDI map as a run would, builds the chain
    they make, and looks up the audio device and the map's MIDI backend and ports. No audio is
    opened: PortAudio is initialised to list devices (and closed again), no stream is started.

    Returns
    -------
    list of (str, str, str)
        ``(status, item, detail)``, one per item, status ``"ok"``, ``"invalid"`` (a file or
        option to fix) or ``"missing"`` (not there now: unplugged, server not running).
        An item that depends on an invalid one is left out.
    """
    if load_preset is None:
        from .presets import load_preset
    items = []

    def attempt(item, what, *errors):
        try:
            value, detail = what()
        except (UserError,) + errors as exc:
            items.append(("invalid", item, " ".join(str(exc).split())))
            return None
        items.append(("ok", item, detail))
        return value

    config = attempt("device config", lambda: _described_config(load_device_config(device)))
    preset_obj = attempt("preset", lambda: _described_preset(
        load_preset(preset) if preset else None))
    midi_map = None
    if midi is not None or midi_learn is not None:
        midi_map = attempt("MIDI map", lambda: _described_map(midi, midi_learn, load_preset))
    if config is not None and (preset is None or preset_obj is not None):
        attempt("chain", lambda: _described_chain(config, preset_obj, input_gain_db), ValueError)
    if config is not None:
        items.append(_check_device(config))
    if midi_map is not None:
        items += _check_midi_ports(midi_map)
    return items


def _described_config(cfg):
    monitor = f", monitor -> {list(cfg.monitor.outputs)}" if cfg.monitor else ""
    return cfg, (f"{cfg.path}: {cfg.host_api} device {cfg.device!r}, {cfg.sample_rate} Hz, "
                 f"{cfg.block_size or 'host'}-frame blocks, inputs {list(cfg.inputs)} -> "
                 f"outputs {list(cfg.outputs)}{monitor}")


def _described_preset(preset):
    if preset is None:
        return None, "none (the chain's defaults)"
    return preset, (f"{preset.path}: {preset.name}, target {preset.target_lufs:g} LUFS, "
                    f"ceiling {preset.ceiling_dbtp:g} dBTP")


def _described_map(midi, midi_learn, load_preset):
    midi_map = _load_midi(midi, midi_learn, load_preset)
    if midi_learn is not None:
        from .midi_learn import learn_kind
        learn_kind(midi_learn)
    return midi_map, (f"{midi_map.path}: backend {midi_map.api}, {len(midi_map.controls)} "
                      f"controls, {len(midi_map.toggles)} toggles, {len(midi_map.programs)} "
                      f"programs{', feedback' if midi_map.feedback else ''}")


def _described_chain(config, preset, input_gain_db):
    chain = LiveEngine(config, preset, input_gain_db)._build_chain()  # allocates, opens nothing
    return chain, (f"{chain.channels} channels at {config.sample_rate} Hz, lookahead "
                   f"{chain.limiter.lookahead_ms:g} ms ({chain.latency_samples} samples), "
                   f"input gain {input_gain_db:+.1f} dB")


def _check_device(config):
    from .devices import portaudio, resolve
    from .midi_ports import quiet_stderr
    item = "audio device"
    try:
        with quiet_stderr():  # the libraries' own complaints: the detail says what matters
            sd = portaudio(config.client_name, rescan=True)
    except (OSError, ImportError) as exc:  # no PortAudio library, or no sounddevice
        return "missing", item, f"PortAudio is not available: {exc}"
    try:
        with quiet_stderr():
            dev = resolve(config, sd)
    except UserError as exc:
        detail = " ".join(str(exc).split())
        if "JACK" in config.host_api.upper() and not any(
                "JACK" in api["name"].upper() for api in sd.query_hostapis()):
            detail += (" (no JACK server answers: is it running? JACK_DEFAULT_SERVER names a "
                       "non-default one)")
        return "missing", item, detail
    finally:
        sd._terminate()  # PortAudio's JACK client goes now, not in an exit handler
    return "ok", item, (f"{dev.name!r} on {dev.host_api}: {dev.in_channels} in, "
                        f"{dev.out_channels} out at {config.sample_rate} Hz")


def _check_midi_ports(midi_map):
    """The map's input (and feedback output) port, as MidiController.open would find them."""
    from .midi_ports import create, find_port, quiet_stderr
    m, items = midi_map, []
    own = (m.client_name, f"{m.client_name}-out")
    wanted = [("MIDI input", "in", m.input)]
    if m.feedback is not None:
        wanted.append(("MIDI output", "out", m.output))
    for item, direction, name in wanted:
        try:  # a virtual port needs a working backend as much as a named one
            with quiet_stderr():
                port = create(m.api, direction, "pymaster-check", m.path)
        except UserError as exc:
            items.append(("missing", item, " ".join(str(exc).split())))
            continue
        try:
            ports = port.get_ports()
            index = None if name is None else find_port(ports, name, f"{direction}put", own)
        except UserError as exc:
            items.append(("invalid", item, f"{m.path}: {exc}"))
            continue
        finally:
            port.delete()
        if name is None:
            client = m.client_name if direction == "in" else f"{m.client_name}-out"
            items.append(("ok", item, f"a virtual port {direction!r} of client {client!r} on "
                                      f"{m.api} (connect the controller to it)"))
        elif index is None:
            items.append(("missing", item, f"{m.path}: {name!r} not found on {m.api}; "
                                           f"available: {', '.join(ports) or '(none)'}"))
        else:
            items.append(("ok", item, f"{name!r} is {ports[index]!r} on {m.api}"))
    return items


def _make_display(target):
    try:
        from .live_display import MeterDisplay
        return MeterDisplay(target)
    except ImportError:
        log.warning("rich is not installed: meters go to the log instead")
        return None


def _loop(engine, control, display, target, log_meters, log_interval_s, duration_s, reload):
    start = last_log = last_gc = time.monotonic()
    seen_xruns = 0
    while not control.stop:
        control.sleep(TICK_S)
        now = time.monotonic()
        if control.reload:
            control.reload = False
            reload()
        if not engine.alive():
            _recover(engine, control)
            continue
        xruns = engine.xruns["total"]
        if xruns != seen_xruns:
            log.warning("xruns: %d so far (+%d)", xruns, xruns - seen_xruns)
            seen_xruns = xruns
        if display is not None:
            display.update()
        if log_meters and now - last_log >= log_interval_s:
            log.info("%s", meter_line(engine, target))
            last_log = now
        if now - last_gc >= HOUSEKEEPING_S:
            gc.collect(1)  # here, in the control thread: cycles made by the display and logs
            last_gc = now
        if duration_s is not None and now - start >= duration_s:
            break


def _recover(engine, control):
    """The stream stopped by itself: say so, close it, and reopen per the config."""
    name = engine.device.name if engine.device else engine.config.device
    log.error("device lost: %r stopped delivering audio (unplugged, or the server went "
              "away?); reopening as %s [reconnect] says", name, engine.config.path)
    try:
        engine.stop()
    except BackendStuck as exc:
        log.error("%s: cannot reopen in this process; exiting with status %d so that the "
                  "service manager starts pymaster again", exc, EXIT_RESTART)
        raise
    if _start(engine, control, retry=True):
        log.info("reopened %r", engine.device.name)
        _report_start(engine, engine.preset)
