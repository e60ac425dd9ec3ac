"""MIDI backends and ports through python-rtmidi (imported lazily: only MIDI needs it).

The backend is chosen in the map (``[midi] api``): ``alsa``, ``jack``, ``coremidi``, ``winmm``
or ``auto`` (rtmidi's platform default, ALSA on Linux). When one cannot start, the error says
why and which other backends this python-rtmidi has, and whether each works here.
"""
import contextlib
import os
import sys

from .errors import UserError

INPUT_QUEUE = 32768  # messages python-rtmidi buffers for the reader (its default: 1024)
API_CONSTANTS = {"auto": "API_UNSPECIFIED", "alsa": "API_LINUX_ALSA", "jack": "API_UNIX_JACK",
                 "coremidi": "API_MACOSX_CORE", "winmm": "API_WINDOWS_MM"}
_RTMIDI_NAMES = {"alsa": "alsa", "jack": "jack", "core": "coremidi", "winmm": "winmm"}
HINTS = {"alsa": "the ALSA sequencer needs /dev/snd/seq, from kernel module snd-seq",
         "jack": "it needs a running JACK server; JACK_DEFAULT_SERVER names a non-default one",
         "coremidi": "CoreMIDI exists on macOS only", "winmm": "Windows MM exists on Windows only",
         "auto": "'auto' is rtmidi's platform default (ALSA on Linux)"}


class MidiError(UserError):
    """A MIDI backend or port that cannot be used; the message says what can."""


def _rtmidi():
    try:
        import rtmidi
    except ImportError:
        raise MidiError("MIDI control needs python-rtmidi: pip install python-rtmidi") from None
    return rtmidi


def compiled_apis():
    """Backend names built into this python-rtmidi, e.g. ``['alsa', 'jack']``."""
    rtmidi = _rtmidi()
    names = (_RTMIDI_NAMES.get(rtmidi.get_api_name(a)) for a in rtmidi.get_compiled_api())
    return [n for n in names if n]


@contextlib.contextmanager
def quiet_stderr():
    """Silence C libraries (libasound, libjack) writing to fd 2 while backends are probed."""
    try:
        sys.stderr.flush()
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _probe(rtmidi, api):
    try:
        with quiet_stderr():
            probe = rtmidi.MidiIn(getattr(rtmidi, API_CONSTANTS[api]), name="pymaster-probe")
            count = len(probe.get_ports())
            probe.delete()
        return f"{api} (works here: {count} input port{'s' * (count != 1)})"
    except rtmidi.RtMidiError as exc:
        return f"{api} (fails here too: {str(exc).strip()})"


def _alternatives(rtmidi, api, where):
    compiled = compiled_apis()
    others = [_probe(rtmidi, a) for a in compiled if a != api]
    missing = [a for a in API_CONSTANTS if a not in compiled and a not in ("auto", api)]
    text = "; ".join(others) if others else "none"
    if missing:
        text += f"; not in this build: {', '.join(missing)}"
    return (f"Other backends: {text}. Choose one with [midi] api = \"...\" in {where}"
            if where else f"Other backends: {text}. Choose one with --api")


def create(api, direction, client_name, where=None):
    """A python-rtmidi ``MidiIn`` (direction "in") or ``MidiOut`` ("out") on backend `api`.

    Parameters
    ----------
    where : str, optional
        The map file, named in errors.

    Raises
    ------
    MidiError
        The backend is not built in or cannot start; the message names the alternatives.
    """
    rtmidi = _rtmidi()
    if api not in API_CONSTANTS:
        raise MidiError(f"unknown MIDI backend {api!r}: allowed {', '.join(API_CONSTANTS)}")
    prefix = f"{where}: " if where else ""
    if api != "auto" and api not in compiled_apis():
        raise MidiError(f"{prefix}MIDI backend {api!r} is not available in this python-rtmidi "
                        f"({HINTS[api]}). " + _alternatives(rtmidi, api, where))
    api_id = getattr(rtmidi, API_CONSTANTS[api])
    try:
        if direction == "in":  # room for seconds of a flood if the reader thread is held up
            return rtmidi.MidiIn(api_id, name=client_name, queue_size_limit=INPUT_QUEUE)
        return rtmidi.MidiOut(api_id, name=client_name)
    except rtmidi.RtMidiError as exc:
        raise MidiError(f"{prefix}MIDI backend {api!r} failed: {str(exc).strip()} "
                        f"({HINTS[api]}). " + _alternatives(rtmidi, api, where)) from None


def list_ports(api="auto"):
    """The MIDI ports a backend sees.

    Returns
    -------
    dict
        ``api``, ``inputs`` (ports pymaster can read a controller from) and ``outputs``
        (ports it can send feedback to).
    """
    midi_in = create(api, "in", "pymaster-ports")
    try:
        midi_out = create(api, "out", "pymaster-ports")
        try:
            return {"api": api, "inputs": midi_in.get_ports(), "outputs": midi_out.get_ports()}
        finally:
            midi_out.delete()
    finally:
        midi_in.delete()


def format_ports(found):
    lines = [f"MIDI backend: {found['api']}"]
    for key, what in (("inputs", "inputs (controllers to read)"),
                      ("outputs", "outputs (for feedback)")):
        lines.append(f"{what}:")
        lines += [f"  [{i}] {name}" for i, name in enumerate(found[key])] or ["  (none)"]
    return "\n".join(lines)


def find_port(ports, wanted, what, own=()):
    """Index of the port matching `wanted` (exact name, else a unique part; case-insensitive).

    Ports of `own` clients (``client:port`` names) are skipped. Returns None when nothing
    matches; raises MidiError when `wanted` is ambiguous.
    """
    key = wanted.lower()
    usable = [(i, p) for i, p in enumerate(ports)
              if not any(p.lower().startswith(o.lower() + ":") for o in own)]
    exact = [i for i, p in usable if p.lower() == key]
    if exact:
        return exact[0]
    hits = [(i, p) for i, p in usable if key in p.lower()]
    if len(hits) > 1:
        raise MidiError(f"MIDI {what} {wanted!r} is ambiguous: it matches "
                        + "; ".join(repr(p) for _, p in hits))
    return hits[0][0] if hits else None
