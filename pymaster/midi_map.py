"""MIDI controller maps: strictly validated TOML (``configs/midi/*.toml``) and the pure maths.

A map binds controls to the chain::

    [midi]                     # backend and ports (see pymaster.midi_ports)
    api = "jack"
    [[control]]                # CC -> continuous parameter
    param = "output_gain_db"
    cc = 7
    range = [-24.0, 0.0]
    [[toggle]]                 # note or CC -> on/off action
    action = "bypass.compressor"
    note = 36
    [programs]                 # program change -> preset
    0 = "streaming"
    [feedback]                 # limiter gain reduction -> LED ring
    gain_reduction_cc = 13

Every key is checked like presets and device configs: an unknown key or a bad value raises
:class:`MidiMapError` naming the file, the key and what is allowed. Nothing here needs rtmidi.
"""
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .config import check_keys, find_config, parse_toml, shipped_dirs
from .compressor import _RANGES as _COMPRESSOR_RANGES
from .errors import UserError

MIDI_DIRS = shipped_dirs("midi")
APIS = ("auto", "alsa", "jack", "coremidi", "winmm")
CURVES = ("linear", "log")
MODES = ("absolute", "relative_twos_complement", "relative_offset_64", "relative_sign_bit")
TOGGLE_MODES = ("toggle", "momentary")
MAX_CC = 119   # 120..127 are channel mode messages (all notes off...), never controls
EQ_BANDS = 16  # the live chain's bands (PM_MAX_EQ_BANDS)


class MidiMapError(UserError):
    """A MIDI map that does not exist or does not validate; the message names file and key."""


@dataclass(frozen=True)
class Param:
    """A continuous chain parameter a control can drive: its full range and default curve."""

    name: str
    low: float
    high: float
    unit: str = ""
    curve: str = "linear"


def _params():
    table = [Param("input_gain_db", -24, 24, " dB"),
             Param("limiter.drive_db", -24, 24, " dB"),  # the same setter: drive = input gain
             Param("output_gain_db", -48, 0, " dB"),
             Param("limiter.ceiling_dbtp", -20, 0, " dBTP"),
             Param("limiter.release_ms", 1, 2000, " ms", "log"),
             Param("monitor.trim_db", -60, 12, " dB")]
    logs = ("ratio", "attack_ms", "release_ms", "sidechain_hpf_hz")
    table += [Param(f"compressor.{name}", low, high, unit, "log" if name in logs else "linear")
              for name, (low, high, unit) in _COMPRESSOR_RANGES.items()]
    return {p.name: p for p in table}


PARAMS = _params()
_EQ_PARAM = re.compile(r"eq\[(\d+)\]\.(gain_db|freq_hz|q)")
_EQ_RANGES = {"gain_db": (-24, 24, " dB", "linear"), "freq_hz": (10, 24000, " Hz", "log"),
              "q": (0.1, 10, "", "log")}
ACTIONS = ("bypass", "bypass.eq", "bypass.compressor", "bypass.limiter", "monitor.mono",
           "monitor.dim", "program.next", "program.previous")
PARAM_HELP = (", ".join(n for n in PARAMS) + f", eq[0..{EQ_BANDS - 1}].gain_db|freq_hz|q")


def param_spec(name):
    """The :class:`Param` for a parameter name, or None if there is no such parameter."""
    if not isinstance(name, str):  # e.g. a list from a map file: no parameter, not a crash
        return None
    if name in PARAMS:
        return PARAMS[name]
    m = _EQ_PARAM.fullmatch(name)
    if m and int(m.group(1)) < EQ_BANDS:
        low, high, unit, curve = _EQ_RANGES[m.group(2)]
        return Param(name, low, high, unit, curve)
    return None


# ---- the maths: positions 0..1 along a curve, relative encoders ----

def to_value(position, low, high, curve="linear"):
    """Parameter value at `position` (0..1, clamped) of a control spanning `low`..`high`.

    ``"log"`` spaces values evenly in ratio (both ends > 0). The ends come out exactly, so a
    full turn never lands a rounding error outside the parameter's range.
    """
    t = min(max(position, 0.0), 1.0)
    if t == 0.0:
        return float(low)
    if t == 1.0:
        return float(high)
    value = low * (high / low) ** t if curve == "log" else low + (high - low) * t
    return min(max(value, min(low, high)), max(low, high))


def to_position(value, low, high, curve="linear"):
    """Inverse of :func:`to_value`: where `value` sits on the control (clamped to 0..1)."""
    if curve == "log":
        value = min(max(value, min(low, high)), max(low, high))
        t = math.log(value / low) / math.log(high / low)
    else:
        t = (value - low) / (high - low)
    return min(max(t, 0.0), 1.0)


def relative_delta(value, mode):
    """Signed detent count of a relative encoder's CC value (0 for "absolute").

    ``relative_twos_complement``: 1..63 up, 127..65 = -1..-63 (64 = -64).
    ``relative_offset_64``: 64 is rest, 65 = +1, 63 = -1.
    ``relative_sign_bit``: bit 6 is the sign, 1..63 up, 65..127 = -1..-63 (Mackie V-Pot).
    """
    if mode == "relative_twos_complement":
        return value - 128 if value >= 64 else value
    if mode == "relative_offset_64":
        return value - 64
    if mode == "relative_sign_bit":
        return -(value & 63) if value & 64 else value & 63
    return 0


# ---- the map ----

@dataclass(frozen=True)
class Control:
    """CC -> continuous parameter. ``channel`` is 0-based, None = any channel."""

    param: str
    cc: int
    channel: object = None
    low: float = 0.0
    high: float = 1.0
    curve: str = "linear"
    mode: str = "absolute"
    steps: int = 127   # relative modes: detents across the whole range


@dataclass(frozen=True)
class Toggle:
    """Note or CC -> on/off action (``kind`` "note" or "cc")."""

    action: str
    kind: str
    number: int
    channel: object = None
    mode: str = "toggle"


@dataclass(frozen=True)
class Feedback:
    """Limiter gain reduction sent to a CC (an LED ring): 0 dB -> 0, `range_db` -> 127."""

    cc: int
    channel: int = 0
    range_db: float = 12.0
    rate_hz: float = 15.0


@dataclass(frozen=True)
class MidiMap:
    """A validated controller map (load with :func:`load_midi_map`)."""

    path: str
    name: str = ""
    description: str = ""
    api: str = "auto"
    input: str = None          # port name or unique part; None: a virtual port to connect to
    output: str = None         # feedback port; None: a virtual port
    client_name: str = "pymaster-midi"
    channel: object = None     # 0-based channel programs (and entries by default) listen on
    controls: tuple = ()
    toggles: tuple = ()
    programs: dict = field(default_factory=dict)   # program number -> Preset
    feedback: Feedback = None

    def bindings(self):
        """{(kind, channel or None, number): [Control or Toggle, ...]} for dispatch."""
        out = {}
        for c in self.controls:
            out.setdefault(("cc", c.channel, c.cc), []).append(c)
        for t in self.toggles:
            out.setdefault((t.kind, t.channel, t.number), []).append(t)
        return out


# ---- validation ----

def _fail(path, key, value, allowed):
    raise MidiMapError(f"{path}: {key} = {value!r} is invalid: allowed {allowed}")


def _int(path, key, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _fail(path, key, value, f"an integer {low}..{high}")
    return value


def _num(path, key, value, low, high, unit=""):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        _fail(path, key, value, f"a number {low:g}..{high:g}{unit}")
    return float(value)


def _choice(path, key, value, options):
    if value not in options:
        _fail(path, key, value, "one of " + ", ".join(repr(o) for o in options))
    return value


def _text(path, key, value):
    if not isinstance(value, str) or not value.strip():
        _fail(path, key, value, "a non-empty string")
    return value.strip()


def _channel(path, key, value):
    return _int(path, key, value, 1, 16) - 1


def _keys(path, where, table, allowed, required=()):
    check_keys(path, where, table, allowed, MidiMapError, required)


def _param_name(path, key, value):
    if param_spec(value) is None:
        note = (" (stereo width is not in the chain yet)"
                if isinstance(value, str) and "width" in value else "")
        _fail(path, key, value, PARAM_HELP + note)
    return value


def _control(path, where, table, default_channel):
    _keys(path, where, table, ("param", "cc", "channel", "range", "curve", "mode", "steps"),
          ("param", "cc"))
    spec = param_spec(_param_name(path, f"{where}.param", table["param"]))
    cc = _int(path, f"{where}.cc", table["cc"], 0, MAX_CC)
    channel = (_channel(path, f"{where}.channel", table["channel"]) if "channel" in table
               else default_channel)
    low, high = spec.low, spec.high
    if "range" in table:
        r = table["range"]
        full = f"[low, high] within {spec.low:g}..{spec.high:g}{spec.unit}, low != high " \
               f"(high < low turns the control around)"
        if (not isinstance(r, list) or len(r) != 2 or r[0] == r[1]
                or any(isinstance(v, bool) or not isinstance(v, (int, float))
                       or not spec.low <= v <= spec.high for v in r)):
            _fail(path, f"{where}.range", r, full)
        low, high = float(r[0]), float(r[1])
    curve = _choice(path, f"{where}.curve", table.get("curve", spec.curve), CURVES)
    if curve == "log" and min(low, high) <= 0:
        _fail(path, f"{where}.curve", curve, f"'linear' for a range reaching {min(low, high):g}"
              f" ('log' needs both ends above 0, e.g. ratio or freq_hz; dB are already "
              f"logarithmic)")
    mode = _choice(path, f"{where}.mode", table.get("mode", "absolute"), MODES)
    if "steps" in table and mode == "absolute":
        raise MidiMapError(f"{path}: {where}.steps only applies to relative modes "
                           f"({', '.join(MODES[1:])})")
    steps = _int(path, f"{where}.steps", table.get("steps", 127), 1, 16384)
    return Control(spec.name, cc, channel, low, high, curve, mode, steps)


def _toggle(path, where, table, default_channel):
    _keys(path, where, table, ("action", "note", "cc", "channel", "mode"), ("action",))
    action = _choice(path, f"{where}.action", table["action"], ACTIONS)
    if ("note" in table) == ("cc" in table):
        raise MidiMapError(f"{path}: {where} needs exactly one of 'note' (0..127) or "
                           f"'cc' (0..{MAX_CC})")
    kind = "note" if "note" in table else "cc"
    number = _int(path, f"{where}.{kind}", table[kind], 0, 127 if kind == "note" else MAX_CC)
    channel = (_channel(path, f"{where}.channel", table["channel"]) if "channel" in table
               else default_channel)
    mode = _choice(path, f"{where}.mode", table.get("mode", "toggle"), TOGGLE_MODES)
    if mode == "momentary" and action.startswith("program."):
        _fail(path, f"{where}.mode", mode, "'toggle' for program.next/program.previous")
    return Toggle(action, kind, number, channel, mode)


def _programs(path, table, base, load_preset):
    if not isinstance(table, dict):
        raise MidiMapError(f"{path}: programs must be a table ([programs], e.g. 0 = \"loud\")")
    out = {}
    for key, value in table.items():
        # isdigit() alone passes '²', which int() refuses
        if not (key.isascii() and key.isdigit()) or not 0 <= int(key) <= 127:
            raise MidiMapError(f"{path}: programs.{key}: the key must be a program number "
                               f"0..127 (as sent; a controller showing 1..128 sends one less)")
        name = _text(path, f"programs.{key}", value)
        if name.endswith(".toml") and not os.path.isabs(name):
            name = str(base / name)  # relative to the map's folder, not the working directory
        try:
            out[int(key)] = load_preset(name)
        except UserError as exc:
            raise MidiMapError(f"{path}: programs.{key} = {value!r}: {exc}") from None
    return out


def _feedback(path, table, default_channel):
    _keys(path, "feedback", table, ("gain_reduction_cc", "channel", "range_db", "rate_hz"),
          ("gain_reduction_cc",))
    return Feedback(
        cc=_int(path, "feedback.gain_reduction_cc", table["gain_reduction_cc"], 0, MAX_CC),
        channel=(_channel(path, "feedback.channel", table["channel"]) if "channel" in table
                 else default_channel or 0),
        range_db=_num(path, "feedback.range_db", table.get("range_db", 12.0), 1, 48, " dB"),
        rate_hz=_num(path, "feedback.rate_hz", table.get("rate_hz", 15.0), 5, 30, " Hz"))


def _no_clashes(path, m):
    seen = {}
    for where, entry in ([(f"control[{i}]", c) for i, c in enumerate(m.controls)]
                         + [(f"toggle[{i}]", t) for i, t in enumerate(m.toggles)]):
        kind = "cc" if isinstance(entry, Control) else entry.kind
        number = entry.cc if isinstance(entry, Control) else entry.number
        for (k, ch, n), other in seen.items():
            if k == kind and n == number and (ch is None or entry.channel is None
                                              or ch == entry.channel):
                raise MidiMapError(f"{path}: {where} uses {kind} {number} on channel "
                                   f"{_ch_text(entry.channel)}, already bound by {other}")
        seen[(kind, entry.channel, number)] = where


def _ch_text(channel):
    return "any" if channel is None else str(channel + 1)


def parse_midi_map(data, path="<midi map>", load_preset=None):
    """Validate a map already parsed from TOML and return a :class:`MidiMap`.

    Program presets are loaded now (names, or paths relative to the map's folder), so a bad
    one is reported at start, not when the program change arrives.

    Raises
    ------
    MidiMapError
        Unknown key, bad value, a control bound twice; the message names file and key.
    """
    if load_preset is None:
        from .presets import load_preset
    _keys(path, "", data, ("name", "description", "midi", "control", "toggle", "programs",
                           "feedback"))
    midi = data.get("midi", {})
    _keys(path, "midi", midi, ("api", "input", "output", "client_name", "channel"))
    api = _choice(path, "midi.api", midi.get("api", "auto"), APIS)
    channel = _channel(path, "midi.channel", midi["channel"]) if "channel" in midi else None
    for key in ("control", "toggle"):
        if not isinstance(data.get(key, []), list):
            raise MidiMapError(f"{path}: {key} must be an array of tables ([[{key}]] entries)")
    controls = tuple(_control(path, f"control[{i}]", t, channel)
                     for i, t in enumerate(data.get("control", [])))
    toggles = tuple(_toggle(path, f"toggle[{i}]", t, channel)
                    for i, t in enumerate(data.get("toggle", [])))
    programs = _programs(path, data.get("programs", {}), Path(path).parent, load_preset)
    if any(t.action.startswith("program.") for t in toggles) and not programs:
        raise MidiMapError(f"{path}: program.next/program.previous need a [programs] table")
    feedback = _feedback(path, data["feedback"], channel) if "feedback" in data else None
    texts = {k: _text(path, f"midi.{k}", midi[k]) for k in ("input", "output", "client_name")
             if k in midi}
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            _fail(path, key, data[key], "a string")
    result = MidiMap(path=str(path), name=data.get("name", Path(path).stem),
                     description=data.get("description", ""), api=api,
                     input=texts.get("input"), output=texts.get("output"),
                     client_name=texts.get("client_name", "pymaster-midi"), channel=channel,
                     controls=controls,
                     toggles=toggles, programs=programs, feedback=feedback)
    _no_clashes(path, result)
    return result


def map_path(name_or_path):
    """A map file path: as given, or ``NAME`` looked up among the shipped maps."""
    return find_config(name_or_path, MIDI_DIRS, MidiMapError, "MIDI map")


def is_shipped(path):
    """Whether `path` is one of the maps shipped with pymaster (never edited by learn)."""
    real = Path(path).resolve()
    return any(real.parent == d.resolve() for d in MIDI_DIRS if d.is_dir())


def read_map_text(path):
    """The text of a map file (MidiMapError if it cannot be read)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise MidiMapError(f"{path}: no such MIDI map file") from None
    except OSError as exc:
        raise MidiMapError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MidiMapError(f"{path}: not UTF-8 text (byte {exc.start} is "
                           f"{data[exc.start]:#04x})") from None


def parse_map_text(text, path, load_preset=None):
    """Parse and validate map text (TOML) as the file at `path`; see :func:`parse_midi_map`."""
    return parse_midi_map(parse_toml(text, path, MidiMapError), path, load_preset)


def load_midi_map(name_or_path, load_preset=None):
    """Load and validate a MIDI map file (a path, or the name of a shipped map).

    Raises
    ------
    MidiMapError
        Missing or unreadable file, invalid TOML, or a key that does not validate.
    """
    path = map_path(name_or_path)
    return parse_map_text(read_map_text(path), path, load_preset)
