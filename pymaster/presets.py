"""Mastering presets: a delivery target plus chain settings, as strictly validated TOML.

A preset file has the sections ``[target]`` (required), ``[[eq]]`` (one table per band),
``[compressor]``, ``[limiter]`` and ``[output]``; see ``configs/presets/streaming.toml``. Every
key is checked: an unknown key or a value out of range raises :class:`PresetError` naming the
file, the key and what is allowed, so a typo never silently falls back to a default.
"""
import os
from dataclasses import dataclass, field
from pathlib import Path

from .config import check_keys, read_toml, shipped_dirs
from .chain import Chain
from .compressor import _RANGES as _COMPRESSOR_RANGES
from .eq import BAND_TYPES
from .errors import PresetError

# Installed wheels carry the presets inside the package; a checkout has them in configs/.
PRESET_DIRS = shipped_dirs("presets")


# ---- value specs: each validates one value and says what is allowed ----

class _Num:
    def __init__(self, low, high, unit="", off=None):
        self.low, self.high, self.unit, self.off = low, high, unit, off

    def allowed(self):
        text = f"{self.low:g}..{self.high:g}{self.unit}"
        return text if self.off is None else f"{self.off:g} (off) or {text}"

    def check(self, value):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not (value == self.off or self.low <= value <= self.high):
            ok = False
        return float(value) if ok else None


class _Bool:
    def allowed(self):
        return "true or false"

    def check(self, value):
        return value if isinstance(value, bool) else None


class _Choice:
    def __init__(self, *options):
        self.options = options

    def allowed(self):
        return "one of " + ", ".join(repr(o) for o in self.options)

    def check(self, value):
        text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        return text if text in self.options else None


class _Text:
    def allowed(self):
        return "a string"

    def check(self, value):
        return value if isinstance(value, str) else None


def _compressor_spec():
    spec = {"enabled": _Bool(), "detector": _Choice("peak", "rms")}
    for name, (low, high, unit) in _COMPRESSOR_RANGES.items():
        spec[name] = _Num(low, high, unit, off=0.0 if name == "sidechain_hpf_hz" else None)
    return spec


SCHEMA = {
    "name": _Text(),
    "description": _Text(),
    "target": {"integrated_lufs": _Num(-36, -5, " LUFS"), "ceiling_dbtp": _Num(-20, 0, " dBTP")},
    "eq": {"type": _Choice(*BAND_TYPES), "freq_hz": _Num(10, 24000, " Hz"),
           "gain_db": _Num(-24, 24, " dB"), "q": _Num(0.1, 10), "enabled": _Bool()},
    "compressor": _compressor_spec(),
    "limiter": {"lookahead_ms": _Num(2, 20, " ms"), "release_ms": _Num(1, 2000, " ms"),
                "auto_release": _Bool(), "max_gain_reduction_db": _Num(0, 24, " dB")},
    "output": {"bit_depth": _Choice("16", "24", "32f"),
               "sample_rate": _Num(8000, 384000, " Hz")},
}
REQUIRED = {"target": ("integrated_lufs", "ceiling_dbtp"), "eq": ("type", "freq_hz")}
MAX_EQ_BANDS = 16


@dataclass(frozen=True)
class Preset:
    """A validated preset. Build a configured chain with :meth:`build_chain`."""

    name: str
    path: str
    target_lufs: float
    ceiling_dbtp: float
    description: str = ""
    eq: tuple = ()                                  # band dicts for Equalizer.set_band
    compressor: dict = field(default_factory=dict)  # Compressor.set_params keywords
    compressor_enabled: bool = False
    lookahead_ms: float = 5.0
    release_ms: float = 100.0
    auto_release: bool = True
    max_gain_reduction_db: float = 12.0
    bit_depth: str = "24"
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


def _check_table(where, table, spec, path, required=()):
    """Validated copy of one TOML table against `spec` (unknown keys and bad values raise)."""
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
    for key in required:
        if key not in out:
            raise PresetError(f"{path}: missing key '{where}.{key}' "
                              f"({spec[key].allowed()})")
    return out


def parse_preset(data, path="<preset>", name=None):
    """Validate a preset already parsed from TOML (a dict) and return a :class:`Preset`."""
    top = _check_table("", data, SCHEMA, path)
    if "target" not in top:
        raise PresetError(f"{path}: missing section [target] (integrated_lufs, ceiling_dbtp)")
    target = _check_table("target", top["target"], SCHEMA["target"], path, REQUIRED["target"])
    bands = top.get("eq", [])
    if not isinstance(bands, list):
        raise PresetError(f"{path}: eq must be an array of tables ([[eq]] entries)")
    if len(bands) > MAX_EQ_BANDS:
        raise PresetError(f"{path}: {len(bands)} eq bands: allowed at most {MAX_EQ_BANDS}")
    eq = tuple(_check_table(f"eq[{i}]", band, SCHEMA["eq"], path, REQUIRED["eq"])
               for i, band in enumerate(bands))
    comp = _check_table("compressor", top.get("compressor", {}), SCHEMA["compressor"], path)
    limiter = _check_table("limiter", top.get("limiter", {}), SCHEMA["limiter"], path)
    output = _check_table("output", top.get("output", {}), SCHEMA["output"], path)
    enabled = comp.pop("enabled", "compressor" in top)
    return Preset(name=top.get("name", name or Path(path).stem), path=str(path),
                  description=top.get("description", ""),
                  target_lufs=target["integrated_lufs"], ceiling_dbtp=target["ceiling_dbtp"],
                  eq=eq, compressor=comp, compressor_enabled=enabled,
                  lookahead_ms=limiter.get("lookahead_ms", 5.0),
                  release_ms=limiter.get("release_ms", 100.0),
                  auto_release=limiter.get("auto_release", True),
                  max_gain_reduction_db=limiter.get("max_gain_reduction_db", 12.0),
                  bit_depth=output.get("bit_depth", "24"),
                  sample_rate=output.get("sample_rate"))


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
