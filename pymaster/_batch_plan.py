"""Planning a batch: input files from folders, globs and CSV manifests; outputs and collisions.

Nothing here reads audio: :func:`plan_batch` turns the arguments of ``pymaster batch`` into
:class:`Track` jobs (absolute paths, loaded presets, validated per-track options) so that every
usage error is found before any work starts. Public through :mod:`pymaster.batch`.
"""
import csv
import dataclasses
import glob
import json
import os

from . import __version__, metadata
from .errors import UserError
from .presets import SCHEMA, Preset, load_preset

AUDIO_EXTENSIONS = frozenset((".wav", ".wave", ".flac", ".aif", ".aiff", ".aifc", ".ogg",
                              ".oga", ".opus", ".mp3", ".caf", ".w64", ".rf64", ".au", ".snd"))
"""Extensions picked up from folders and globs (a file named explicitly is always tried)."""
MANIFEST_COLUMNS = ("path", "preset", "target_lufs", "ceiling_dbtp") + metadata.FIELDS
AUTO_PRESETS = ("dynamic", "streaming", "loud")


@dataclasses.dataclass
class Track:
    """One planned job: everything a worker needs to master one file, paths absolute."""

    index: int
    input: str
    output: str
    preset: object = None          # a Preset; None: chosen by auto_preset from `auto`
    auto: dict = None              # {name: Preset} candidates with --auto
    target_lufs: float = None
    ceiling_dbtp: float = None
    bit_depth: str = None
    tags: dict = dataclasses.field(default_factory=dict)
    duration_s: float = 0.0
    batch: str = ""                # id of the batch run that planned it

    @property
    def record_path(self):
        folder, name = os.path.split(self.output)
        return os.path.join(folder, f".{name}.pymaster.json")

    def settings(self, preset):
        """Canonical JSON of all that shapes this track's output when mastered with `preset`
        (compared on resume, so --auto and a plain run that pick the same preset agree)."""
        return _settings(preset, None, {"target_lufs": self.target_lufs,
                                        "ceiling_dbtp": self.ceiling_dbtp, "tags": self.tags},
                         self.bit_depth)


def _walk(folder, outdir):
    """Audio files under `folder`, sorted; hidden entries and OUTDIR itself are skipped."""
    found = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and os.path.abspath(os.path.join(top, d)) != outdir)
        found += [os.path.join(top, f) for f in sorted(files) if not f.startswith(".")
                  and os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS]
    return found


def _inside(path, folder):
    return os.path.commonpath([os.path.abspath(path), folder]) == folder


def _number(text, section, key, where):
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{where}: {text!r} is not a number") from None
    if SCHEMA[section][key].check(value) is None:
        raise UserError(f"{where}: {text} is out of range: allowed "
                        f"{SCHEMA[section][key].allowed()}")
    return value


def read_manifest(path):
    """Tracks listed in a CSV manifest, validated.

    The header names the columns: ``path`` (required; relative to the CSV's folder), and
    optionally ``preset``, ``target_lufs``, ``ceiling_dbtp`` and the tags of
    :data:`pymaster.metadata.FIELDS`. An empty cell means "the batch's setting".

    Returns
    -------
    list of (path, options)
        `options` may have the keys ``preset`` (a Preset), ``target_lufs`` and
        ``ceiling_dbtp``, and always has ``tags``.

    Raises
    ------
    UserError
        Unknown or missing column, or a bad value: the message names file, row and column.
    """
    folder, presets, rows = os.path.dirname(os.path.abspath(path)), {}, []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip().lower() for h in next(reader, [])]
            for column in header:
                if column not in MANIFEST_COLUMNS or header.count(column) > 1:
                    why = "repeated" if column in MANIFEST_COLUMNS else "unknown"
                    raise UserError(f"{path}: row 1, column {column!r}: {why} column; allowed: "
                                    f"{', '.join(MANIFEST_COLUMNS)}")
            if "path" not in header:
                raise UserError(f"{path}: row 1: no 'path' column (the header must name the "
                                f"columns: {', '.join(MANIFEST_COLUMNS)})")
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                row = reader.line_num
                if len(cells) > len(header):
                    raise UserError(f"{path}: row {row}: {len(cells)} values for "
                                    f"{len(header)} columns")
                options, tags, audio = {}, {}, None
                for column, text in zip(header, (c.strip() for c in cells)):
                    where = f"{path}: row {row}, column {column}"
                    if "\x00" in text:  # no file name or tag can hold one
                        raise UserError(f"{where}: contains a NUL character")
                    if column == "path":
                        if not text:
                            raise UserError(f"{where}: empty")
                        audio = os.path.join(folder, text)
                    elif not text:
                        continue
                    elif column == "preset":
                        ref = os.path.join(folder, text) if text.endswith(".toml") else text
                        try:
                            presets[ref] = presets.get(ref) or load_preset(ref)
                        except UserError as exc:
                            raise UserError(f"{where}: {exc}") from None
                        options["preset"] = presets[ref]
                    elif column in ("target_lufs", "ceiling_dbtp"):
                        key = "integrated_lufs" if column == "target_lufs" else column
                        options[column] = _number(text, "target", key, where)
                    else:
                        try:
                            tags.update(metadata.normalize_tags({column: text}))
                        except UserError as exc:
                            raise UserError(f"{where}: {exc}") from None
                if audio is None:
                    raise UserError(f"{path}: row {row}, column path: missing")
                rows.append((audio, dict(options, tags=tags)))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the manifest ({exc.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: not a readable CSV file ({exc})") from None
    return rows


def _expand(inputs, outdir):
    """(path, root, options) per input file; the roots decide the output layout."""
    entries = []
    for arg in map(os.fspath, inputs):
        if arg.lower().endswith(".csv") and os.path.isfile(arg):
            entries += [(p, os.path.dirname(p), o) for p, o in read_manifest(arg)]
        elif os.path.isdir(arg):
            if _inside(arg, outdir):
                raise UserError(f"{arg}: is OUTDIR or inside it: choose an OUTDIR outside "
                                "the input folders")
            entries += [(p, arg, {}) for p in _walk(arg, outdir)]
        elif glob.has_magic(arg):
            root = arg
            while glob.has_magic(root):
                root = os.path.dirname(root)
            found = []
            for match in sorted(glob.glob(arg, recursive=True)):
                if os.path.isdir(match):
                    found += _walk(match, outdir)
                elif (os.path.splitext(match)[1].lower() in AUDIO_EXTENSIONS
                      and not _inside(match, outdir)):
                    found.append(match)
            if not found:
                raise UserError(f"{arg}: matches no audio file")
            entries += [(p, root or ".", {}) for p in found]
        elif os.path.isfile(arg):
            entries.append((arg, os.path.dirname(arg) or ".", {}))
        else:
            raise UserError(f"{arg}: no such file or folder")
    return entries


def _settings(preset, auto, options, bit_depth):
    """Canonical JSON of everything that shapes an output; with `auto` (the candidates) of
    everything that decides it (to tell planned jobs apart)."""
    def describe(p):
        return {k: v for k, v in dataclasses.asdict(p).items() if k != "path"}
    chosen = describe(preset) if preset else {"auto": {n: describe(p) for n, p in auto.items()}}
    return json.dumps({"pymaster": __version__, "preset": chosen, "bit_depth": bit_depth,
                       "target_lufs": options.get("target_lufs"),
                       "ceiling_dbtp": options.get("ceiling_dbtp"),
                       "tags": options.get("tags", {}), "dither_seed": 0}, sort_keys=True)


def plan_batch(inputs, outdir, *, preset=None, auto=False, target_lufs=None, ceiling_dbtp=None,
               format=None, bit_depth=None):
    """The tracks of a batch, with their output paths; nothing is read but CSV manifests.

    Outputs mirror the input folders under `outdir`, relative to the deepest folder holding
    every input root (a folder argument, a file's folder, a glob's fixed part, a manifest
    row's folder). Two inputs that would give the same output (e.g. ``song.mp3`` and
    ``song.wav``, or one file listed twice with different settings) are told apart in the
    order of their input paths: the first keeps ``song.wav``, the next get ``song~2.wav``,
    ``song~3.wav``... Parameters are those of :func:`run_batch`.

    Returns
    -------
    list of Track
    """
    if auto and preset is not None:
        raise UserError("--preset and --auto exclude each other")
    outdir = os.path.abspath(outdir)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    default = None if auto else preset if isinstance(preset, Preset) else \
        load_preset("streaming" if preset is None else preset)
    candidates = {n: load_preset(n) for n in AUTO_PRESETS} if auto else None
    for value, key, flag in ((target_lufs, "integrated_lufs", "--target-lufs"),
                             (ceiling_dbtp, "ceiling_dbtp", "--ceiling-dbtp")):
        if value is not None:
            _number(str(value), "target", key, flag)
    if format not in (None, "wav", "flac"):
        raise UserError(f"format {format!r} is not supported: use wav or flac")
    if bit_depth not in (None, "16", "24", "32f"):
        raise UserError(f"bit depth {bit_depth!r} is not supported: use 16, 24 or 32f")
    if format == "flac" and bit_depth == "32f":
        raise UserError("FLAC holds 16- or 24-bit PCM: use --bit-depth 16 or 24, or WAV")

    entries, seen = [], set()
    for path, root, options in _expand(inputs, outdir):
        options = {"target_lufs": target_lufs, "ceiling_dbtp": ceiling_dbtp, **options}
        chosen = options.pop("preset", default)
        key = (os.path.realpath(path),
               _settings(chosen, None if chosen else candidates, options, bit_depth))
        if key not in seen:  # the same file found twice with the same settings: once
            seen.add(key)
            entries.append((os.path.abspath(path), os.path.abspath(root), chosen, options,
                            key[1]))
    if not entries:
        raise UserError("no audio files found in the inputs")
    base = os.path.commonpath([e[1] for e in entries])
    names = []
    for path, *_ in entries:
        stem, ext = os.path.splitext(os.path.relpath(path, base))
        names.append((stem, "." + (format or ("flac" if ext.lower() == ".flac" else "wav"))))
    order = sorted(range(len(entries)), key=lambda i: (entries[i][0], i))
    owner = {}
    for i in order:  # first claim: every output name goes to the first input wanting it
        owner.setdefault("".join(names[i]).casefold(), i)
    for i in order:
        stem, ext = names[i]
        k = 1
        while owner.get("".join(names[i]).casefold()) != i:
            k += 1
            names[i] = (f"{stem}~{k}", ext)
            owner.setdefault("".join(names[i]).casefold(), i)
    inputs_real = {os.path.realpath(e[0]) for e in entries}
    tracks = []
    for i, (path, _, chosen, options, _) in enumerate(entries):
        output = os.path.join(outdir, "".join(names[i]))
        if os.path.realpath(output) in inputs_real:
            raise UserError(f"{output}: is an input: choose an OUTDIR outside the inputs")
        tracks.append(Track(i, path, output, chosen, None if chosen else candidates,
                            options["target_lufs"], options["ceiling_dbtp"], bit_depth,
                            options.get("tags", {})))
    return tracks
