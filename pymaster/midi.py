"""MIDI control of a running :class:`pymaster.live.LiveEngine`: a controller is the front panel.

Threads. One reader thread ("pymaster-midi") polls python-rtmidi's input queue, decodes the
messages with the map (:mod:`pymaster.midi_map`) and sets the chain through its thread-safe
setters, which glide in C; it holds ``engine.control`` for each batch so that a reload or a
preset recall never interleaves with it. The audio callback is not involved at all. rtmidi's
own callback is not used: with JACK it would run Python (and wait for the GIL) inside JACK's
realtime process thread, stalling the whole graph; polling a lock-free queue every 2 ms (10 ms
when idle) costs little and keeps Python out of every realtime thread.

The same thread sends the optional feedback (limiter gain reduction to an LED ring CC), runs
the staged steps of a preset recall, reconnects a controller that was unplugged, and does
MIDI learn.
"""
import logging
import re
import threading
import time

from ._native import ffi, lib
from .live import apply_preset
from .midi_learn import learn, learn_kind
from .midi_map import Control, MidiMapError, relative_delta, to_position, to_value
from .midi_ports import MidiError, create, find_port

log = logging.getLogger("pymaster.live")  # one log stream with the engine's messages
POLL_ACTIVE_S, POLL_IDLE_S, IDLE_AFTER_S = 0.002, 0.01, 0.5
PORT_CHECK_S = 2.0
# A gain band fading out before its type changes reaches exactly 0 dB (where the C EQ stops
# running it) within ~0.4 s of its 20 ms glide; only then is the type switched, silently.
STAGES = ("eq", "compressor", "limiter")
_EQ = re.compile(r"eq\[(\d+)\]\.(\w+)")


def get_param(chain, name):
    """Current (target) value of a map parameter on `chain`."""
    if name in ("input_gain_db", "limiter.drive_db"):
        return chain.input_gain_db
    if name == "output_gain_db":
        return chain.output_gain_db
    if name == "monitor.trim_db":
        return chain.monitor["trim_db"]
    section, _, key = name.partition(".")
    if section == "compressor":
        return chain.compressor.params[key]
    if section == "limiter":
        return getattr(chain.limiter, key)
    m = _EQ.fullmatch(name)
    return chain.eq.band(int(m.group(1)))[m.group(2)]


def set_param(chain, name, value):
    """Set a map parameter through the chain's setters (they glide; safe from any thread).

    Multi-step ones (an EQ band, the monitor) read then write: hold ``engine.control``.
    """
    if name in ("input_gain_db", "limiter.drive_db"):
        chain.input_gain_db = value
    elif name == "output_gain_db":
        chain.output_gain_db = value
    elif name == "monitor.trim_db":
        chain.set_monitor(**{**chain.monitor, "trim_db": value})
    elif name.startswith("compressor."):
        chain.compressor.set_params(**{name[11:]: value})
    elif name.startswith("limiter."):
        setattr(chain.limiter, name[8:], value)
    else:
        m = _EQ.fullmatch(name)
        index, key = int(m.group(1)), m.group(2)
        if key == "freq_hz":
            value = min(value, 0.49 * chain.sample_rate)
        chain.eq.set_band(index, **{**chain.eq.band(index), key: value})


class MidiController:
    """Drives a LiveEngine's chain from a MIDI controller, as a map says.

    Parameters
    ----------
    engine : pymaster.live.LiveEngine
        Read for ``chain`` (looked up for every batch: a reopened stream may bring a new chain),
        ``control`` (held around changes), ``preset`` and ``input_gain_db`` (kept in step, so
        that a chain rebuilt after a reconnect has what the controller set).
    midi_map : pymaster.midi_map.MidiMap
    learn : str, optional
        Parameter or action to bind to the next moved control (then saved in the map file).
    wait_for_ports : bool
        A named port that is missing is waited for (headless) instead of an error.

    Attributes
    ----------
    counts : dict
        ``messages`` received, ``applied`` (after dropping absolute CCs superseded within
        the same poll), ``errors``, ``feedback`` messages sent.
    """

    def __init__(self, engine, midi_map, *, learn=None, wait_for_ports=False):
        if learn is not None:
            learn_kind(learn)  # raises for a name that is neither parameter nor action
        self.engine = engine
        self.learn_target = learn
        self.wait_for_ports = wait_for_ports
        self.counts = {"messages": 0, "applied": 0, "errors": 0, "feedback": 0}
        self._set_map(midi_map)
        self._in = self._out = None
        self._in_port = self._out_port = None
        self._waiting = set()
        self._all_bypass = None      # stage -> bypass state before "bypass all", or None
        self._program = None
        self._snapshot = ffi.new("pm_meter_snapshot *")  # reused: no allocation per feedback tick
        self._stop = threading.Event()
        self._thread = None

    # ---- ports ----
    def open(self):
        """Start the backend and open the ports (before audio starts: errors come first).

        Raises
        ------
        MidiError
            The backend cannot start (the message names the alternatives), or a named port is
            missing and `wait_for_ports` is False.
        """
        m = self.map
        try:
            self._in = create(m.api, "in", m.client_name, m.path)
            self._in.ignore_types(sysex=True, timing=True, active_sense=True)
            if m.input is None:
                self._in.open_virtual_port("in")
                self._in_port = "(virtual)"
                log.info("MIDI input: virtual port 'in' of client %r (%s): connect the "
                         "controller to it", m.client_name, m.api)
            else:
                self._connect("in", first=True)
            if m.feedback is not None:
                self._out = create(m.api, "out", f"{m.client_name}-out", m.path)
                if m.output is None:
                    self._out.open_virtual_port("out")
                    self._out_port = "(virtual)"
                else:
                    self._connect("out", first=True)
        except BaseException:
            self.close()
            raise
        if self.learn_target:
            log.info("MIDI learn: move the control for %s", self.learn_target)

    def _connect(self, direction, first=False):
        m = self.map
        port, wanted = (self._in, m.input) if direction == "in" else (self._out, m.output)
        ports = port.get_ports()
        own = (m.client_name, f"{m.client_name}-out")
        index = find_port(ports, wanted, f"{direction}put", own)
        if index is None:
            text = (f"{m.path}: MIDI {direction}put {wanted!r} not found on {m.api}; available: "
                    f"{', '.join(ports) or '(none)'}")
            if first and not self.wait_for_ports:
                raise MidiError(text)
            if direction not in self._waiting:
                log.warning("%s; waiting for it", text)
                self._waiting.add(direction)
            return
        port.open_port(index, direction)
        self._waiting.discard(direction)
        if direction == "in":
            self._in_port = ports[index]
            self._held = {}  # a button held while it was unplugged never sent its release
        else:
            self._out_port = ports[index]
        log.info("MIDI %sput: %s (%s)", direction, ports[index], m.api)

    def _check_ports(self):
        """Reconnect a named port that vanished (controller unplugged) or never came."""
        for direction, port, name in (("in", self._in, self._in_port),
                                      ("out", self._out, self._out_port)):
            wanted = self.map.input if direction == "in" else self.map.output
            if port is None or wanted is None:
                continue
            if name is not None and name not in port.get_ports():
                log.warning("MIDI %sput %r disappeared; waiting for it", direction, name)
                port.close_port()
                self._waiting.add(direction)
                name = None
                if direction == "in":
                    self._in_port = None
                else:
                    self._out_port = None
            if name is None:
                self._connect(direction)

    # ---- the thread ----
    def start(self):
        """Start the reader thread; messages are dropped while ``engine.chain`` is None."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pymaster-midi", daemon=True)
        self._thread.start()

    def close(self):
        """Stop the thread and close the ports (before the JACK server or the engine goes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        for obj in (self._in, self._out):
            if obj is not None:
                obj.close_port()
                obj.delete()
        self._in = self._out = None

    def _run(self):
        last_message, next_check, next_feedback = 0.0, time.monotonic() + PORT_CHECK_S, 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            batch = self._drain()
            if batch:
                last_message = now
                self._safe(self.handle, batch)
            if self._out_port is not None and now >= next_feedback:
                # On a fixed grid (no drift); after a stall it skips the missed ticks rather
                # than sending them in a burst, so it never exceeds rate_hz.
                period = 1.0 / self.map.feedback.rate_hz
                next_feedback += period
                if next_feedback <= now:
                    next_feedback = now + period
                self._safe(self._send_feedback)
            if now >= next_check:
                next_check = now + PORT_CHECK_S
                self._safe(self._check_ports)
            idle = now - last_message > IDLE_AFTER_S
            self._stop.wait(POLL_IDLE_S if idle else POLL_ACTIVE_S)

    def _drain(self, limit=1024):
        out, get = [], self._in.get_message
        while len(out) < limit:
            item = get()
            if item is None:
                break
            out.append(item[0])
        return out

    def _safe(self, fn, *args):
        try:
            fn(*args)
        except Exception as exc:  # a bad message or a failed setter must not end MIDI control
            self.counts["errors"] += 1
            if self.counts["errors"] in (1, 10) or self.counts["errors"] % 1000 == 0:
                log.error("MIDI: %s: %s (%d errors so far)", type(exc).__name__, exc,
                          self.counts["errors"])

    # ---- messages ----
    def _set_map(self, midi_map):
        self.map = midi_map
        self._bindings = midi_map.bindings()
        self._held = {}

    def reload(self, midi_map):
        """Use a re-read map (SIGHUP). Port settings (api, ports, client name, feedback) take
        effect at the next start; bindings, ranges and programs at once."""
        with self.engine.control:
            old = self.map
            self._set_map(midi_map)
        keys = ("api", "input", "output", "client_name")
        if any(getattr(old, k) != getattr(midi_map, k) for k in keys) or \
                (old.feedback is None) != (midi_map.feedback is None):
            log.warning("MIDI map %s: port settings changed; they apply when pymaster restarts",
                        midi_map.path)

    def _entries(self, kind, channel, number):
        b = self._bindings
        return b.get((kind, channel, number), []) + b.get((kind, None, number), [])

    def handle(self, messages):
        """Apply raw MIDI messages (lists of ints, oldest first) to the engine's chain.

        Absolute CCs superseded by a later value of the same control in the same batch are
        skipped: a flood costs one setter call per control and poll, not one per message.
        """
        last = {}
        for i, msg in enumerate(messages):
            if len(msg) == 3 and msg[0] & 0xF0 == 0xB0:
                last[(msg[0], msg[1])] = i
        self.counts["messages"] += len(messages)
        with self.engine.control:
            chain = self.engine.chain
            if chain is None:
                return
            for i, msg in enumerate(messages):
                if (len(msg) == 3 and msg[0] & 0xF0 == 0xB0 and last[(msg[0], msg[1])] != i
                        and not self.learn_target and self._absolute(msg[0] & 15, msg[1])):
                    continue
                self.counts["applied"] += 1
                self._message(chain, msg)

    def _absolute(self, channel, cc):
        entries = self._entries("cc", channel, cc)
        return all(isinstance(e, Control) and e.mode == "absolute" for e in entries)

    def _message(self, chain, msg):
        kind, channel = msg[0] & 0xF0, msg[0] & 0x0F
        if kind == 0xC0 and len(msg) >= 2:
            if self.learn_target is None and self.map.channel in (None, channel):
                self.recall(chain, msg[1])
            return
        if kind == 0xB0 and len(msg) >= 3:
            what, number, value = "cc", msg[1], msg[2]
        elif kind in (0x80, 0x90) and len(msg) >= 3:
            what, number, value = "note", msg[1], msg[2] if kind == 0x90 else 0
        else:
            return
        if self.learn_target is not None:
            self._learn(what, channel, number, value)
            return
        for entry in self._entries(what, channel, number):
            if isinstance(entry, Control):
                self._control(chain, entry, value)
            else:
                self._toggle(chain, entry, channel, value)

    def _control(self, chain, c, value):
        if c.mode == "absolute":
            new = to_value(value / 127.0, c.low, c.high, c.curve)
        else:
            delta = relative_delta(value, c.mode)
            if not delta:
                return
            position = to_position(get_param(chain, c.param), c.low, c.high, c.curve)
            new = to_value(position + delta / c.steps, c.low, c.high, c.curve)
        set_param(chain, c.param, new)
        if c.param in ("input_gain_db", "limiter.drive_db"):
            self.engine.input_gain_db = new  # a chain rebuilt on reconnect keeps the drive

    def _toggle(self, chain, t, channel, value):
        pressed = value >= 64 if t.kind == "cc" else value > 0
        key = (t.kind, channel, t.number)
        was, self._held[key] = self._held.get(key, False), pressed
        if t.mode == "momentary":
            self.act(chain, t.action, pressed)
        elif pressed and not was:
            self.act(chain, t.action)

    def act(self, chain, action, state=None):
        """Run a toggle action; `state` None flips it. Hold ``engine.control``."""
        if action.startswith("program."):
            numbers = sorted(self.map.programs)
            step = 1 if action == "program.next" else -1
            if self._program in numbers:
                index = min(max(numbers.index(self._program) + step, 0), len(numbers) - 1)
            else:
                index = 0 if step > 0 else len(numbers) - 1
            self.recall(chain, numbers[index])
            return
        if action == "bypass":
            on = self._all_bypass is None if state is None else state
            if on and self._all_bypass is None:
                self._all_bypass = {s: chain.bypassed(s) for s in STAGES}
                for stage in STAGES:
                    chain.set_bypass(stage, True)
            elif not on and self._all_bypass is not None:
                for stage, was in self._all_bypass.items():
                    chain.set_bypass(stage, was)
                self._all_bypass = None
        elif action.startswith("bypass."):
            stage = action[7:]
            on = not chain.bypassed(stage) if state is None else state
            chain.set_bypass(stage, on)
        else:  # monitor.mono, monitor.dim
            monitor, key = chain.monitor, action[8:]
            on = not monitor[key] if state is None else state
            chain.set_monitor(**{**monitor, key: on})
        log.info("MIDI: %s %s", action, "on" if on else "off")

    def recall(self, chain, number):
        """Set the chain to the preset of program `number`, gliding. Hold ``engine.control``.

        Every parameter glides through the chain's setters; an EQ band that changes type
        fades out, switches silently and fades in (done by the C equalizer).
        """
        preset = self.map.programs.get(number)
        if preset is None:
            log.warning("MIDI: program %d has no preset in %s (mapped: %s)", number,
                        self.map.path, ", ".join(map(str, sorted(self.map.programs))) or "none")
            return
        apply_preset(chain, preset)
        if self._all_bypass is not None:  # "bypass all" stays on; off restores the preset's
            self._all_bypass = {s: chain.bypassed(s) for s in STAGES}
            for stage in STAGES:
                chain.set_bypass(stage, True)
        self.engine.preset = preset  # a chain rebuilt on reconnect is this preset
        self._program = number
        log.info("MIDI: program %d -> preset %s", number, preset.name)

    # ---- feedback and learn ----
    def _send_feedback(self):
        chain = self.engine.chain
        if chain is None:
            return
        fb = self.map.feedback
        lib.pm_chain_meters(chain._ptr, self._snapshot)
        gr = abs(self._snapshot.limiter_gr_db)
        value = min(127, int(round(127.0 * gr / fb.range_db)))
        self._out.send_message([0xB0 | fb.channel, fb.cc, value])
        self.counts["feedback"] += 1

    def _learn(self, what, channel, number, value):
        target = self.learn_target
        if learn_kind(target) == "control" and what != "cc":
            return  # a continuous parameter needs a knob, fader or encoder
        if what == "note" and value == 0:
            return  # a release
        self.learn_target = None  # once: the rest of a knob's sweep then drives the target
        try:
            new_map, notes = learn(self.map.path, target, what, channel, number)
        except (MidiMapError, OSError) as exc:
            log.error("MIDI learn for %s failed: %s", target, exc)
            return
        self._set_map(new_map)
        log.info("MIDI learn: %s %d on channel %d -> %s; saved %s", what, number, channel + 1,
                 target, new_map.path)
        for note in notes:
            log.warning("MIDI learn: %s", note)
