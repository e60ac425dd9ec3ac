"""MIDI learn: bind the next moved control to a parameter and save the map file in place.

The file is edited as text, not re-serialised, so comments, order and every other entry stay
as the user wrote them: the learned parameter's existing ``[[control]]``/``[[toggle]]`` block
gets its ``cc``/``note``/``channel`` lines changed (range, curve, mode are kept), or a new block
is added after the last one of its kind. A block that used the same control before is
commented out (it would clash). The result is validated as a whole before it is written to a
temporary file beside the map and renamed over it, so a crash never leaves half a map.
"""
import os
import re
import stat
import tempfile
from pathlib import Path

from .midi_map import (ACTIONS, PARAM_HELP, Control, MidiMapError, param_spec, parse_map_text,
                       read_map_text)

_HEADER = re.compile(r"^\s*\[")
_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*(control|toggle)\s*\]\]")


def learn_kind(target):
    """``"control"`` for a parameter, ``"toggle"`` for an action; else MidiMapError."""
    if param_spec(target) is not None:
        return "control"
    if target in ACTIONS:
        return "toggle"
    raise MidiMapError(f"--midi-learn {target!r} is not a parameter or action: allowed "
                       f"parameters {PARAM_HELP}; actions {', '.join(ACTIONS)}")


def _blocks(lines):
    """[(kind, start, end)] of every [[control]] / [[toggle]] block, in file order.

    A block ends at its last key line: blank and comment lines after it belong to what
    follows (typically a comment introducing the next table).
    """
    out, current = [], None

    def close(end):
        kind, start = current
        while end > start + 1 and (not lines[end - 1].strip()
                                   or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        out.append((kind, start, end))

    for i, line in enumerate(lines):
        if _HEADER.match(line):
            if current:
                close(i)
                current = None
            m = _ARRAY_HEADER.match(line)
            if m:
                current = (m.group(1), i)
    if current:
        close(len(lines))
    return out


def _set_key(lines, start, end, key, value, after=None):
    """Set ``key = value`` inside lines[start:end] (a block), keeping an inline comment; a
    new line goes after the `after` key's line, else after the header."""
    pattern = re.compile(rf"^(\s*{key}\s*=\s*)([^#\s]+)(.*)$")
    at = start + 1
    for i in range(start + 1, end):
        m = pattern.match(lines[i])
        if m:
            lines[i] = f"{m.group(1)}{value}{m.group(3)}"
            return end
        if after and re.match(rf"^\s*{after}\s*=", lines[i]):
            at = i + 1
    lines.insert(at, f"{key} = {value}")
    return end + 1


def _drop_key(lines, start, end, key):
    pattern = re.compile(rf"^\s*{key}\s*=")
    for i in range(start + 1, end):
        if pattern.match(lines[i]):
            del lines[i]
            return end - 1
    return end


def _binding(entry):
    if isinstance(entry, Control):
        return "cc", entry.cc, entry.channel
    return entry.kind, entry.number, entry.channel


def learned_text(text, midi_map, target, kind, channel, number):
    """The map text with `target` bound to `kind` ("cc"/"note") `number` on `channel` (0-based).

    Returns
    -------
    text : str
    notes : list of str
        What else changed (entries unbound because they used the same control).
    """
    section = learn_kind(target)
    if section == "control" and kind != "cc":
        raise MidiMapError(f"{target} is a continuous parameter: it needs a CC, not a {kind}")
    lines = text.splitlines()
    blocks = _blocks(lines)
    entries = {"control": list(midi_map.controls), "toggle": list(midi_map.toggles)}
    found = {s: [b for b in blocks if b[0] == s] for s in entries}
    if len(found["control"]) != len(entries["control"]) or \
            len(found["toggle"]) != len(entries["toggle"]):
        raise MidiMapError(f"{midi_map.path}: MIDI learn edits [[control]] and [[toggle]] tables;"
                           f" write the entries that way (not as inline arrays)")
    key = "param" if section == "control" else "action"
    mine = [i for i, e in enumerate(entries[section]) if getattr(e, key) == target]
    notes, edits = [], []  # edits: (start, end, replacement lines)
    for s in entries:
        for i, entry in enumerate(entries[s]):
            k, n, ch = _binding(entry)
            if s == section and mine and i == mine[0]:
                continue
            if k == kind and n == number and (ch is None or ch == channel):
                start, end = found[s][i][1:]
                what = getattr(entry, "param", None) or entry.action
                notes.append(f"{s}[{i}] ({what}) used {kind} {number}: commented out")
                block = [line if not line.strip() or line.lstrip().startswith("#")
                         else f"# {line}" for line in lines[start:end]]
                edits.append((start, end, [f"# unbound by midi-learn: {kind} {number} now "
                                           f"drives {target}"] + block))
    if mine:
        start, end = found[section][mine[0]][1:]
        block = lines[start:end]
        stop = len(block)
        stop = _drop_key(block, 0, stop, "note" if kind == "cc" else "cc")
        stop = _set_key(block, 0, stop, kind, number)
        _set_key(block, 0, stop, "channel", channel + 1, after=kind)
        edits.append((start, end, block))
    else:
        new = [f"[[{section}]]  # learned", f'{key} = "{target}"', f"{kind} = {number}",
               f"channel = {channel + 1}"]
        at = found[section][-1][2] if found[section] else len(lines)  # after its kind
        edits.append((at, at, [""] + new))
    # bottom-up (ranges are disjoint; an insertion at a block's end goes first): indices of
    # the edits still to apply stay valid
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        lines[start:end] = replacement
    return "\n".join(lines) + "\n", notes


def save_atomically(path, text):
    """Write `text` to a temporary file beside `path`, then rename it over `path`.

    Readers see the old file or the new one, never a mix; on any failure the old file is
    untouched and the temporary file removed. The file keeps its permissions; a symlink's
    target is what gets replaced.
    """
    path = Path(os.path.realpath(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # the rename itself survives a power cut only once the folder is on disk
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def learn(path, target, kind, channel, number, load_preset=None):
    """Bind `target` to a control in the map file at `path` and save it atomically.

    Parameters
    ----------
    path : path
        The map file (re-read now: it is the source of truth).
    target : str
        Parameter (e.g. ``"eq[1].gain_db"``) or action (e.g. ``"bypass.compressor"``).
    kind : {"cc", "note"}
    channel : int
        0-based MIDI channel the control sent on.
    number : int
        CC or note number.

    Returns
    -------
    midi_map : pymaster.midi_map.MidiMap
        The saved map, validated.
    notes : list of str
        Other entries that were unbound.

    Raises
    ------
    MidiMapError
        The map does not validate (before or after the edit); nothing is written then.
    """
    text = read_map_text(path)
    before = parse_map_text(text, path, load_preset)
    new_text, notes = learned_text(text, before, target, kind, channel, number)
    try:
        after = parse_map_text(new_text, path, load_preset)
    except MidiMapError as exc:
        raise MidiMapError(f"MIDI learn would break the map, not saved: {exc}") from None
    save_atomically(path, new_text)
    return after, notes
