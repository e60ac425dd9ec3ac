"""Fuzzing the readers of user files with hypothesis: presets, device configs and MIDI maps
(random TOML structures with plausible and implausible keys and values, and raw or mutated
bytes), CSV manifests, and audio files with corrupted, truncated or spliced headers.

Every outcome must be a valid result or the reader's own error (PresetError,
DeviceConfigError, MidiMapError, UserError for manifests, AudioFileError) naming the file;
never a KeyError, TypeError, UnicodeError, RecursionError... and never a crash or a hang.

The runs are deterministic (``derandomize``: the same examples every time). To fuzz longer
with fresh examples: ``PYMASTER_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz_readers.py``.
"""
import copy
import datetime
import io
import math
import os

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pymaster import batch, devices, midi_map, presets
from pymaster.config import tomllib
from pymaster.audio_io import AudioReader
from pymaster.errors import AudioFileError, UserError

EXAMPLES = int(os.environ.get("PYMASTER_FUZZ_EXAMPLES", "0"))


def fuzz_settings(examples):
    """Deterministic and bounded by default; PYMASTER_FUZZ_EXAMPLES asks for more, random."""
    return settings(max_examples=EXAMPLES or examples, derandomize=not EXAMPLES, database=None,
                    deadline=None, suppress_health_check=list(HealthCheck))


# ---- TOML: values, structures shaped like each kind of file, and a writer ----

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = st.one_of(
    st.booleans(), st.integers(-2**63, 2**63 - 1), st.integers(-100, 50000),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-100, 100), text,
    st.dates(), st.times(), st.datetimes(min_value=datetime.datetime(1, 1, 2)))
any_value = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(text, inner, max_size=4), max_leaves=8)


def value_for(words):
    """Values a key of this kind of file might get: its plausible words, numbers, anything."""
    return st.one_of(st.sampled_from(words), st.floats(-100, 50000), st.integers(-2, 130),
                     st.lists(st.integers(-1, 70), max_size=18), any_value)


def table(keys, words):
    """A table with some of `keys` (and now and then a stray key), or a non-table."""
    good = st.dictionaries(st.sampled_from(keys), value_for(words), max_size=len(keys))
    noisy = st.builds(lambda a, b: {**a, **b}, good, st.dictionaries(text, any_value, max_size=2))
    return st.one_of(good, good, noisy, any_value)


def document(sections, keys, words):
    """A whole file: top-level keys, tables, arrays of tables, as `sections` describes."""
    parts = {}
    for name, shape in sections.items():
        if shape == "value":
            parts[name] = value_for(words)
        elif shape == "array":
            parts[name] = st.one_of(st.lists(table(keys[name], words), max_size=3), any_value)
        else:
            parts[name] = table(keys[name], words)
    chosen = st.fixed_dictionaries({}, optional=parts)
    return st.builds(lambda a, b: {**a, **b}, chosen,
                     st.dictionaries(text, any_value, max_size=1))


def toml_string(s):
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) \
            else repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_text(data):
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in data.items())


PRESET_KEYS = {name: list(spec) for name, spec in presets.SCHEMA.items() if isinstance(spec, dict)}
PRESET_SECTIONS = {"name": "value", "description": "value", "target": "table", "eq": "array",
                   "compressor": "table", "limiter": "table", "output": "table"}
PRESET_WORDS = ["peak", "rms", "low_shelf", "high_pass", "notch", "16", "24", "32f", 16, 24,
                -14.0, -1.0, 0.0, 5.0, 1.5, 48000, 100.0, True, False, "streaming"]
DEVICE_KEYS = {"monitor": list(devices.MONITOR), "reconnect": list(devices.RECONNECT)}
DEVICE_SECTIONS = {**{k: "value" for k in devices.TOP if devices.TOP[k] is not None},
                   "monitor": "table", "reconnect": "table"}
DEVICE_WORDS = ["JACK", "ALSA", "system", "low", "high", 0.01, 48000, 44100, 256, 0, [1, 2],
                [3, 4], [1], -6.0, True, "pymaster"]
MIDI_KEYS = {"midi": ["api", "input", "output", "client_name", "channel"],
             "control": ["param", "cc", "channel", "range", "curve", "mode", "steps"],
             "toggle": ["action", "note", "cc", "channel", "mode"],
             "programs": [str(n) for n in (0, 1, 127, 128)] + ["x", "²", "-1"],
             "feedback": ["gain_reduction_cc", "channel", "range_db", "rate_hz"]}
MIDI_SECTIONS = {"name": "value", "description": "value", "midi": "table", "control": "array",
                 "toggle": "array", "programs": "table", "feedback": "table"}
MIDI_WORDS = (list(midi_map.PARAMS) + list(midi_map.ACTIONS) + list(midi_map.MODES)
              + list(midi_map.APIS) + ["eq[3].gain_db", "eq[99].q", "linear", "log", "toggle",
                                        "momentary", "streaming", "nonesuch", "x.toml", 7, 1,
                                        16, 119, 127, [0.0, 1.0], [-24.0, 0.0], [1, 1]])

# The shipped files: valid documents to mutate, structurally and byte by byte.
SHIPPED = {kind: sorted(p.read_bytes() for p in (presets.PRESET_DIRS[-1].parent / kind).glob(
    "*.toml")) for kind in ("presets", "devices", "midi")}


def places(node, found=None):
    """Every (container, key) in a parsed document: where a mutation can strike."""
    found = [] if found is None else found
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        found.append((node, key))
        if isinstance(value, (dict, list)):
            places(value, found)
    return found


@st.composite
def mutated_document(draw, kind, keys, words):
    """A shipped file with a few values replaced, keys dropped or added: deep checks are
    reached with the rest of the document valid."""
    doc = tomllib.loads(draw(st.sampled_from(SHIPPED[kind])).decode())
    for _ in range(draw(st.integers(1, 3))):
        spots = places(doc)
        if not spots:
            break
        container, key = draw(st.sampled_from(spots))
        how = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        value = copy.deepcopy(draw(value_for(words)))  # never mutate the shared word lists
        if how == "replace":
            container[key] = value
        elif how == "drop":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.one_of(st.sampled_from(keys), text))] = value
    return doc


def documents(kind, sections, keys, words):
    flat = sorted({k for ks in keys.values() for k in ks} | set(sections))
    return st.one_of(document(sections, keys, words), mutated_document(kind, flat, words))


preset_docs = documents("presets", PRESET_SECTIONS, PRESET_KEYS, PRESET_WORDS)
device_docs = documents("devices", DEVICE_SECTIONS, DEVICE_KEYS, DEVICE_WORDS)
midi_docs = documents("midi", MIDI_SECTIONS, MIDI_KEYS, MIDI_WORDS)


@st.composite
def mutated(draw, originals):
    """A shipped file with bytes overwritten, inserted or cut off."""
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["set", "insert", "truncate"]))
        junk = draw(st.binary(min_size=1, max_size=8))
        if how == "set":
            data[pos:pos + len(junk)] = junk
        elif how == "insert":
            data[pos:pos] = junk
        else:
            del data[pos:]
    return bytes(data)


def raw_or_mutated(kind):
    return st.one_of(st.binary(max_size=200), mutated(SHIPPED[kind]))


def expect(call, path, error, result_type):
    """`call()` returns a `result_type` or raises `error` (itself, not a cousin) naming `path`."""
    try:
        result = call()
    except error as exc:
        assert str(path) in str(exc), str(exc)
        return None
    assert isinstance(result, result_type), result
    return result


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def write(folder, name, data):
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


# ---- presets ----

@fuzz_settings(1000)
@given(data=preset_docs)
@example(data={"target": {"integrated_lufs": -14, "ceiling_dbtp": -1}, "eq": [{"type": [],
                                                                                "freq_hz": 100}]})
def test_preset_structures(folder, data):
    path = write(folder, "p.toml", toml_text(data))
    preset = expect(lambda: presets.load_preset(path), path, presets.PresetError, presets.Preset)
    if preset is not None:  # a preset that validates builds a chain, or says the EQ is too high
        expect(lambda: preset.build_chain(44100, 2), path, presets.PresetError, object)


@fuzz_settings(500)
@given(data=raw_or_mutated("presets"))
@example(data=b"[target]\nintegrated_lufs = -14\xff\n")            # not UTF-8: UnicodeDecodeError
@example(data=b"a = " + b"[" * 2000 + b"]" * 2000)                 # RecursionError in tomllib
@example(data=b"a = " + b"1" * 5000)                               # int digit limit: ValueError
def test_preset_bytes(folder, data):
    path = write(folder, "p.toml", data)
    expect(lambda: presets.load_preset(path), path, presets.PresetError, presets.Preset)


# ---- device configs ----

@fuzz_settings(1000)
@given(data=device_docs)
@example(data={"host_api": "JACK", "device": "x", "sample_rate": 48000, "block_size": 256,
               "inputs": [[1]], "outputs": [1]})                    # unhashable: TypeError
@example(data={"host_api": "JACK", "device": "x", "sample_rate": 48000, "block_size": 256,
               "inputs": [1], "outputs": [2], "monitor": {"outputs": [{}]}})
def test_device_structures(folder, data):
    path = write(folder, "d.toml", toml_text(data))
    expect(lambda: devices.load_device_config(path), path, devices.DeviceConfigError,
           devices.DeviceConfig)


@fuzz_settings(500)
@given(data=raw_or_mutated("devices"))
def test_device_bytes(folder, data):
    path = write(folder, "d.toml", data)
    expect(lambda: devices.load_device_config(path), path, devices.DeviceConfigError,
           devices.DeviceConfig)


# ---- MIDI maps ----

@fuzz_settings(1000)
@given(data=midi_docs)
@example(data={"programs": {"²": "streaming"}})                      # int('²'): ValueError
@example(data={"control": [{"param": [], "cc": 1}]})                 # unhashable: TypeError
@example(data={"control": [{"param": {}, "cc": 1}]})
def test_midi_map_structures(folder, data):
    path = write(folder, "m.toml", toml_text(data))
    expect(lambda: midi_map.load_midi_map(path), path, midi_map.MidiMapError, midi_map.MidiMap)


@fuzz_settings(500)
@given(data=raw_or_mutated("midi"))
@example(data=b"[midi]\napi = \"jack\"\xc3\n")                     # not UTF-8: UnicodeDecodeError
def test_midi_map_bytes(folder, data):
    path = write(folder, "m.toml", data)
    expect(lambda: midi_map.load_midi_map(path), path, midi_map.MidiMapError, midi_map.MidiMap)


# ---- CSV manifests ----

cells = st.one_of(
    st.sampled_from(["a.wav", "sub/b.flac", "", " ", "loud", "streaming", "nonesuch", "x.toml",
                     "-14", "-1", "3", "nan", "inf", "1e999", "US-S1Z-99-00001", "2024-01-02",
                     "Song", '"quoted, cell"', "\x00", "\u00b2"]),
    text)
manifests = st.builds(
    lambda header, rows, tail: (",".join(header) + "\n"
                                + "".join(",".join(r) + "\n" for r in rows)).encode() + tail,
    st.builds(lambda first, rest: first + rest, st.sampled_from([["path"], ["path"], []]),
              st.lists(st.sampled_from(batch.MANIFEST_COLUMNS + ("tempo", "", "PATH", " path")),
                       max_size=5)),
    st.lists(st.lists(cells, max_size=6), max_size=4),
    st.one_of(st.just(b""), st.binary(max_size=6)))


@fuzz_settings(1000)
@given(data=manifests)
@example(data=b"path,preset\na.wav,a\x00.toml\n")                  # NUL in a preset's name
@example(data=b"path,title\n\x00a.wav,x\n")                       # NUL in a path: ValueError
def test_csv_manifest(folder, data):
    path = write(folder, "list.csv", data)
    rows = expect(lambda: batch.read_manifest(path), path, UserError, list)
    if rows:  # planning reads the manifest the same way, then lays out the outputs
        expect(lambda: batch.plan_batch([path], folder / "out"), path, UserError, list)


# ---- audio file headers ----

def small_file(fmt, subtype, rate=44100):
    rng = np.random.default_rng(3)
    buffer = io.BytesIO()
    sf.write(buffer, 0.3 * rng.standard_normal((3000, 2)), rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


AUDIO = {"wav": small_file("WAV", "PCM_16"), "flac": small_file("FLAC", "PCM_24"),
         "aiff": small_file("AIFF", "PCM_16"), "ogg": small_file("OGG", "VORBIS"),
         "opus": small_file("OGG", "OPUS", 48000), "mp3": small_file("MP3", "MPEG_LAYER_III")}


@st.composite
def corrupted_audio(draw):
    name = draw(st.sampled_from(sorted(AUDIO)))
    data = bytearray(AUDIO[name])
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["header", "anywhere", "truncate", "splice", "cut"]))
        pos = draw(st.integers(0, 80 if how == "header" else len(data)))
        if how in ("header", "anywhere"):
            junk = draw(st.one_of(st.binary(min_size=1, max_size=4),
                                  st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                                   b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80"])))
            data[pos:pos + len(junk)] = junk
        elif how == "truncate":
            del data[pos:]
        elif how == "splice":  # a stretch of the file copied somewhere else
            start = draw(st.integers(0, len(data)))
            data[pos:pos] = data[start:start + draw(st.integers(1, 400))]
        else:
            del data[pos:pos + draw(st.integers(1, 400))]
    return name, bytes(data)


@fuzz_settings(2500)
@given(case=corrupted_audio())
def test_corrupt_audio_headers(folder, case):
    name, data = case
    path = write(folder, f"x.{name}", data)

    def read_all():  # blocks() itself refuses a file that ends before its declared length
        reader = AudioReader(path)
        for _ in reader.blocks(1024):
            pass
        return reader
    expect(read_all, path, AudioFileError, AudioReader)
