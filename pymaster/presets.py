"""Mastering presets: a delivery target plus chain settings, as strictly validated TOML.

A preset file has the sections ``[target]`` (required), ``[[eq]]`` (one table per band),
``[compressor]``, ``[limiter]`` and ``[output]``; see ``configs/presets/streaming.toml``. Every
key is checked: an unknown key or a value out of range raises :class:`PresetError` naming the
file, the key and what is allowed, so a typo never silently falls back to a default. An absent
key takes its default from :data:`SCHEMA` (the one place that lists keys, ranges and
defaults; :func:`keys_table` prints it for the README).
"""
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path

from .config import check_keys, read_toml, shipped_dirs
from .chain import Chain
from .compressor import _RANGES as _COMPRESSOR_RANGES
from .compressor import Compressor
from .eq import BAND_TYPES, Equalizer
from .errors import PresetError
from .limiter import Limiter

# Installed wheels carry the presets inside the package; a checkout has them in configs/.
PRESET_DIRS = shipped_dirs("presets")


# ---- value specs: each validates one value, says what is allowed and what absence means ----

class _Spec:
    """`default`: the value an absent key takes; without one, `required` or `absent` (what
    leaving the key out means, in words)."""

    def __init__(self, default=None, required=False, absent=None):
        self.default, self.required, self.absent = default, required, absent

    def default_text(self):
        if self.required:
            return "required"
        if self.default is None:
            return self.absent
        if self.default == "":
            return "empty"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        return f"{self.default:g}" if isinstance(self.default, float) else repr(self.default)


class _Num(_Spec):
    def __init__(self, low, high, unit="", off=None, **default):
        super().__init__(**default)
        self.low, self.high, self.unit, self.off = low, high, unit, off

    def allowed(self):
        text = f"{self.low:g}..{self.high:g}{self.unit}"
        return text if self.off is None else f"{self.off:g} (off) or {text}"

    def check(self, value):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not (value == self.off or self.low <= value <= self.high):
            ok = False
        return float(value) if ok else None


class _Bool(_Spec):
    def allowed(self):
        return "true or false"

    def check(self, value):
        return value if isinstance(value, bool) else None


class _Choice(_Spec):
    def __init__(self, *options, **default):
        super().__init__(**default)
        self.options = options

    def allowed(self):
        return "one of " + ", ".join(repr(o) for o in self.options)

    def check(self, value):
        text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        return text if text in self.options else None


class _Text(_Spec):
    def allowed(self):
        return "a string"

    def check(self, value):
        return value if isinstance(value, str) else None


def _defaults(function):
    """The keyword defaults of `function`: the processors' own defaults, not restated here."""
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not p.empty}


def _compressor_spec():
    defaults = _defaults(Compressor.__init__)
    spec = {"enabled": _Bool(absent="true if [compressor] is there"),
            "detector": _Choice("peak", "rms", default=defaults["detector"])}
    for name, (low, high, unit) in _COMPRESSOR_RANGES.items():
        spec[name] = _Num(low, high, unit, off=0.0 if name == "sidechain_hpf_hz" else None,
                          default=defaults[name])
    return spec


_BAND, _LIMITER = _defaults(Equalizer.set_band), _defaults(Limiter.__init__)
SCHEMA = {
    "name": _Text(absent="the file's name"),
    "description": _Text(default=""),
    "target": {"integrated_lufs": _Num(-36, -5, " LUFS", required=True),
               "ceiling_dbtp": _Num(-20, 0, " dBTP", default=_LIMITER["ceiling_dbtp"])},
    "eq": {"type": _Choice(*BAND_TYPES, required=True),
           "freq_hz": _Num(10, 24000, " Hz", required=True),
           "gain_db": _Num(-24, 24, " dB", default=_BAND["gain_db"]),
           "q": _Num(0.1, 10, default=_BAND["q"]),
           "enabled": _Bool(default=_BAND["enabled"])},
    "compressor": _compressor_spec(),
    "limiter": {"lookahead_ms": _Num(2, 20, " ms", default=_LIMITER["lookahead_ms"]),
                "release_ms": _Num(1, 2000, " ms", default=_LIMITER["release_ms"]),
                "auto_release": _Bool(default=_LIMITER["auto_release"]),
                "max_gain_reduction_db": _Num(0, 24, " dB", default=12.0)},
    "output": {"bit_depth": _Choice("16", "24", "32f", default="24"),
               "sample_rate": _Num(8000, 384000, " Hz", absent="the input's rate")},
}
"""Every preset key: its allowed values and its default (or that it is required)."""
MAX_EQ_BANDS = 16


def keys_table():
    """The preset keys as a Markdown table (key, allowed, default), as the README shows it."""
    rows = ["| key | allowed | default |", "| --- | --- | --- |"]
    for section, spec in SCHEMA.items():
        table = spec if isinstance(spec, dict) else {None: spec}
        prefix = "" if table is not spec else f"[[{section}]] " if section == "eq" \
            else f"[{section}] "
        for key, value in table.items():
            rows.append(f"| `{prefix}{key or section}` | {value.allowed()} | "
                        f"{value.default_text()} |")
    return "\n".join(rows)


def _default(section, key):
    return SCHEMA[section][key].default


@dataclass(frozen=True)
class Preset:
    """A validated preset. Build a configured chain with :meth:`build_chain`."""

    name: str
    path: str
    target_lufs: float
    ceiling_dbtp: float = _default("target", "ceiling_dbtp")
    description: str = ""
    eq: tuple = ()                                  # band dicts for Equalizer.set_band
    compressor: dict = field(default_factory=dict)  # Compressor.set_params keywords
    compressor_enabled: bool = False
    lookahead_ms: float = _default("limiter", "lookahead_ms")
    release_ms: float = _default("limiter", "release_ms")
    auto_release: bool = _default("limiter", "auto_release")
    max_gain_reduction_db: float = _default("limiter", "max_gain_reduction_db")
    bit_depth: str = _default("output", "bit_depth")
    sample_rate: float = None                       # None: keep the input's rate

    def build_chain(self, sample_rate, channels, dither_seed=0, ceiling_dbtp=None):
        """A :class:`pymaster.Chain` set up as this preset says (ceiling included, unless
        `ceiling_dbtp` overrides it).

        Raises
        ------
        PresetError
            If an EQ frequency does not fit the sample rate (above 0.49 x rate).
        """
        chain = Chain(sample_rate, channels, eq_bands=len(self.eq),
                      lookahead_ms=self.lookahead_ms, dither_seed=dither_seed)
        for index, band in enumerate(self.eq):
            if band["freq_hz"] > 0.49 * sample_rate:
                raise PresetError(f"{self.path}: eq[{index}].freq_hz = {band['freq_hz']:g} Hz "
                                  f"is too high for {sample_rate:g} Hz audio: allowed up to "
                                  f"{0.49 * sample_rate:g} Hz")
            chain.eq.set_band(index, **band)
        chain.compressor.set_params(**self.compressor)
        chain.set_bypass("compressor", not self.compressor_enabled)
        chain.limiter.ceiling_dbtp = self.ceiling_dbtp if ceiling_dbtp is None else ceiling_dbtp
        chain.limiter.release_ms = self.release_ms
        chain.limiter.auto_release = self.auto_release
        return chain


def _check_table(where, table, spec, path):
    """Validated copy of one TOML table against `spec` (unknown keys and bad values raise),
    absent keys filled in with their defaults."""
    check_keys(path, where, table, spec, PresetError)
    out = {}
    for key, value in table.items():
        name = f"{where}.{key}" if where else key
        if isinstance(spec[key], dict):
            out[key] = value  # a sub-table, checked by the caller
            continue
        checked = spec[key].check(value)
        if checked is None:
            raise PresetError(f"{path}: {name} = {value!r} is invalid: allowed "
                              f"{spec[key].allowed()}")
        out[key] = checked
    for key, value in spec.items():
        if key in out or isinstance(value, dict):
            continue
        if value.required:
            raise PresetError(f"{path}: missing key '{where}.{key}' ({value.allowed()})")
        if value.default is not None:
            out[key] = value.default
    return out


def parse_preset(data, path="<preset>", name=None):
    """Validate a preset already parsed from TOML (a dict) and return a :class:`Preset`."""
    top = _check_table("", data, SCHEMA, path)
    if "target" not in top:
        raise PresetError(f"{path}: missing section [target] (integrated_lufs)")
    target = _check_table("target", top["target"], SCHEMA["target"], path)
    bands = top.get("eq", [])
    if not isinstance(bands, list):
        raise PresetError(f"{path}: eq must be an array of tables ([[eq]] entries)")
    if len(bands) > MAX_EQ_BANDS:
        raise PresetError(f"{path}: {len(bands)} eq bands: allowed at most {MAX_EQ_BANDS}")
    eq = tuple(_check_table(f"eq[{i}]", band, SCHEMA["eq"], path)
               for i, band in enumerate(bands))
    comp = _check_table("compressor", top.get("compressor", {}), SCHEMA["compressor"], path)
    limiter = _check_table("limiter", top.get("limiter", {}), SCHEMA["limiter"], path)
    output = _check_table("output", top.get("output", {}), SCHEMA["output"], path)
    enabled = comp.pop("enabled", "compressor" in top)
    return Preset(name=top.get("name", name or Path(path).stem), path=str(path),
                  description=top["description"], target_lufs=target["integrated_lufs"],
                  ceiling_dbtp=target["ceiling_dbtp"], eq=eq, compressor=comp,
                  compressor_enabled=enabled, sample_rate=output.get("sample_rate"),
                  bit_depth=output["bit_depth"], **limiter)


def _preset_dir():
    for folder in PRESET_DIRS:
        if folder.is_dir():
            return folder
    raise PresetError("the built-in presets are missing (looked in "
                      + ", ".join(str(d) for d in PRESET_DIRS) + ")")


def load_preset(name_or_path):
    """Load a built-in preset by name ("streaming") or a preset file by path.

    Raises
    ------
    PresetError
        Unknown name, unreadable file, invalid TOML, unknown key or value out of range.
    """
    text = os.fspath(name_or_path)
    is_path = text.endswith(".toml") or os.sep in text or "/" in text
    path = Path(text) if is_path else _preset_dir() / f"{text}.toml"
    if not is_path and not path.is_file():
        raise PresetError(f"unknown preset '{text}': available: "
                          + ", ".join(p.name for p in list_presets()))
    data = read_toml(path, PresetError, "preset")
    return parse_preset(data, path)


def list_presets():
    """All built-in presets, loudest target first."""
    presets = [load_preset(p) for p in sorted(_preset_dir().glob("*.toml"))]
    return sorted(presets, key=lambda p: (-p.target_lufs, p.name))
