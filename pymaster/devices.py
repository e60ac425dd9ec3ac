"""Audio interfaces: device config files (TOML), the device list, and config -> device.

A device config (``configs/devices/*.toml``) says which interface to open and how its channels
are routed; every key is validated strictly (unknown keys and bad values raise
:class:`DeviceConfigError` naming the file, the key and what is allowed). PortAudio (through
sounddevice) is imported lazily: ``import pymaster`` never needs an audio library, and PortAudio
scans host APIs when it initialises, so the scan must happen after e.g. a JACK server is up.
"""
import ctypes
from dataclasses import dataclass

from .config import check_keys, find_config, read_toml, shipped_dirs
from .errors import UserError


DEVICE_DIRS = shipped_dirs("devices")
STANDARD_RATES = (22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000)
MAX_CHANNEL = 64  # highest interface channel number a config may name
MAX_ROUTED = 16   # the chain's channel limit (PM_MAX_CHANNELS)


class DeviceConfigError(UserError):
    """A device config that does not validate, or names a device/rate that is not available."""


@dataclass(frozen=True)
class MonitorConfig:
    """Separate monitor feed: interface outputs (1-based) and their calibration."""

    outputs: tuple
    trim_db: float = 0.0
    dim: bool = False
    mono: bool = False


@dataclass(frozen=True)
class DeviceConfig:
    """A validated device config. Channel numbers are 1-based, as printed on interfaces."""

    path: str
    host_api: str
    device: str
    sample_rate: int
    block_size: int
    inputs: tuple
    outputs: tuple
    latency: object = "low"          # 'low', 'high' or seconds
    lookahead_ms: float = None       # None: the preset's
    monitor: MonitorConfig = None
    client_name: str = None          # JACK only
    retry_s: float = 2.0
    attempts: int = 0                # 0: retry forever
    description: str = ""

    @property
    def channels(self):
        """Channels of the mastering chain (= routed inputs)."""
        return len(self.inputs)

    def stream_key(self):
        """Everything that needs the stream reopened when it changes (the rest glides)."""
        monitor = self.monitor.outputs if self.monitor else None
        return (self.host_api, self.device, self.sample_rate, self.block_size, self.inputs,
                self.outputs, self.latency, self.lookahead_ms, monitor, self.client_name)


# ---- validation: each checker returns the value or raises with what is allowed ----

def _fail(path, key, value, allowed):
    raise DeviceConfigError(f"{path}: {key} = {value!r} is invalid: allowed {allowed}")


def _text(path, key, value):
    if not isinstance(value, str) or not value.strip():
        _fail(path, key, value, "a non-empty string")
    return value.strip()


def _number(path, key, value, low, high, unit=""):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        _fail(path, key, value, f"a number {low:g}..{high:g}{unit}")
    return float(value)


def _integer(path, key, value, low, high, unit=""):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _fail(path, key, value, f"an integer {low}..{high}{unit}")
    return value


def _bool(path, key, value):
    if not isinstance(value, bool):
        _fail(path, key, value, "true or false")
    return value


def _latency(path, key, value):
    if value in ("low", "high"):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1:
        return float(value)
    _fail(path, key, value, "'low', 'high' or seconds in (0, 1]")


def _channels(path, key, value):
    allowed = f"a list of 1..{MAX_ROUTED} distinct channel numbers 1..{MAX_CHANNEL}, e.g. [1, 2]"
    if (not isinstance(value, list) or not 1 <= len(value) <= MAX_ROUTED
            or any(isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= MAX_CHANNEL
                   for c in value)
            or len(set(value)) != len(value)):  # last: only numbers can go into a set
        _fail(path, key, value, allowed)
    return tuple(value)


TOP = {
    "description": lambda p, k, v: v if isinstance(v, str) else _fail(p, k, v, "a string"),
    "host_api": _text,
    "device": _text,
    "sample_rate": lambda p, k, v: _integer(p, k, v, 8000, 384000, " Hz"),
    "block_size": lambda p, k, v: _integer(p, k, v, 0, 8192, " frames (0: the host chooses)"),
    "latency": _latency,
    "lookahead_ms": lambda p, k, v: _number(p, k, v, 2, 20, " ms"),
    "inputs": _channels,
    "outputs": _channels,
    "client_name": _text,
    "monitor": None,    # tables, checked below
    "reconnect": None,
}
MONITOR = {
    "outputs": _channels,
    "trim_db": lambda p, k, v: _number(p, k, v, -60, 12, " dB"),
    "dim": _bool,
    "mono": _bool,
}
RECONNECT = {
    "retry_s": lambda p, k, v: _number(p, k, v, 0.1, 3600, " s"),
    "attempts": lambda p, k, v: _integer(p, k, v, 0, 1_000_000, " (0: forever)"),
}
REQUIRED = ("host_api", "device", "sample_rate", "block_size", "inputs", "outputs")


def _table(path, where, table, spec):
    check_keys(path, where, table, spec, DeviceConfigError)
    out = {}
    for key, value in table.items():
        name = f"{where}.{key}" if where else key
        out[key] = value if spec[key] is None else spec[key](path, name, value)
    return out


def parse_device_config(data, path="<device config>"):
    """Validate a device config already parsed from TOML and return a :class:`DeviceConfig`.

    Raises
    ------
    DeviceConfigError
        Unknown key, bad value or inconsistent routing; the message names file and key.
    """
    top = _table(path, "", data, TOP)
    for key in REQUIRED:
        if key not in top:
            raise DeviceConfigError(f"{path}: missing key '{key}'")
    inputs, outputs = top["inputs"], top["outputs"]
    if len(outputs) != len(inputs):
        raise DeviceConfigError(f"{path}: outputs = {list(outputs)} must name as many channels "
                                f"as inputs = {list(inputs)} (one master channel per input)")
    monitor = None
    if "monitor" in top:
        mon = _table(path, "monitor", top["monitor"], MONITOR)
        if "outputs" not in mon:
            raise DeviceConfigError(f"{path}: missing key 'monitor.outputs'")
        if len(mon["outputs"]) != len(inputs):
            raise DeviceConfigError(f"{path}: monitor.outputs = {list(mon['outputs'])} must "
                                    f"name {len(inputs)} channels, like inputs")
        if set(mon["outputs"]) & set(outputs):
            raise DeviceConfigError(f"{path}: monitor.outputs = {list(mon['outputs'])} overlap "
                                    f"outputs = {list(outputs)}: allowed only other channels")
        monitor = MonitorConfig(**mon)
    if "client_name" in top and "jack" not in top["host_api"].lower():
        raise DeviceConfigError(f"{path}: client_name is only allowed with host_api = 'JACK'")
    reconnect = _table(path, "reconnect", top.get("reconnect", {}), RECONNECT)
    return DeviceConfig(path=str(path), host_api=top["host_api"], device=top["device"],
                        sample_rate=top["sample_rate"], block_size=top["block_size"],
                        inputs=inputs, outputs=outputs, latency=top.get("latency", "low"),
                        lookahead_ms=top.get("lookahead_ms"), monitor=monitor,
                        client_name=top.get("client_name"),
                        retry_s=reconnect.get("retry_s", 2.0),
                        attempts=reconnect.get("attempts", 0),
                        description=top.get("description", ""))


def config_path(name_or_path):
    """A config file path: as given, or ``NAME`` looked up among the shipped configs."""
    return find_config(name_or_path, DEVICE_DIRS, DeviceConfigError, "device config")


def load_device_config(name_or_path):
    """Load and validate a device config file (path, or the name of a shipped config)."""
    path = config_path(name_or_path)
    data = read_toml(path, DeviceConfigError, "device config")
    return parse_device_config(data, path)


# ---- PortAudio ----

_client_name = [None]  # PortAudio keeps the pointer: the buffer must outlive the host API


def portaudio(client_name=None, rescan=False):
    """The sounddevice module, PortAudio (re)initialised when needed.

    Parameters
    ----------
    client_name : str, optional
        JACK client name of this process's streams (set before PortAudio scans for JACK).
    rescan : bool
        Re-initialise to see devices (or a JACK server) that appeared since the last scan. No
        stream may be open.
    """
    import sounddevice as sd

    wanted = client_name.encode() if client_name else None
    current = _client_name[0].value if _client_name[0] is not None else None
    if rescan or not sd._initialized or (wanted is not None and wanted != current):
        if sd._initialized:
            sd._terminate()
        if wanted is not None and wanted != current:
            buffer = ctypes.create_string_buffer(wanted)
            fn = getattr(ctypes.CDLL(sd._libname), "PaJack_SetClientName", None)
            if fn is not None:  # a PortAudio built without JACK has no such function
                fn(buffer)
                _client_name[0] = buffer
        sd._initialize()
    return sd


def alsa_realtime(sd, stream):
    """Ask PortAudio's ALSA code to run `stream`'s audio thread SCHED_FIFO (before start).

    PortAudio does this for ALSA only when asked; it needs an rtprio limit (see the README's
    Raspberry Pi section). Returns False if this PortAudio has no ALSA support.
    """
    fn = getattr(ctypes.CDLL(sd._libname), "PaAlsa_EnableRealtimeScheduling", None)
    if fn is None:
        return False
    fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_int], None
    fn(int(sd._ffi.cast("uintptr_t", stream._ptr)), 1)
    return True


def _rates(sd, index, in_channels, out_channels):
    ok = []
    for rate in STANDARD_RATES:
        try:
            if in_channels:
                sd.check_input_settings(index, channels=in_channels, dtype="float32",
                                        samplerate=rate)
            if out_channels:
                sd.check_output_settings(index, channels=out_channels, dtype="float32",
                                         samplerate=rate)
        except Exception:  # PortAudioError or ValueError: not supported
            continue
        ok.append(rate)
    return ok


def list_devices(sd=None, rates=True):
    """Every device PortAudio sees, with host API, channel counts and supported rates.

    Returns
    -------
    list of dict
        Keys ``index``, ``name``, ``host_api``, ``inputs``, ``outputs``, ``default_rate``,
        ``rates`` (standard rates the device accepts with all its channels; only if `rates`).
    """
    sd = sd or portaudio()
    apis = sd.query_hostapis()
    out = []
    for dev in sd.query_devices():
        ins, outs = dev["max_input_channels"], dev["max_output_channels"]
        out.append({"index": dev["index"], "name": dev["name"],
                    "host_api": apis[dev["hostapi"]]["name"], "inputs": ins, "outputs": outs,
                    "default_rate": dev["default_samplerate"],
                    "rates": _rates(sd, dev["index"], ins, outs) if rates else []})
    return out


def host_api_names(sd=None):
    sd = sd or portaudio()
    return [api["name"] for api in sd.query_hostapis()]


def format_devices(devices, apis):
    """The device list as text, grouped by host API (for ``pymaster devices``)."""
    lines = []
    for api in apis:
        lines.append(f"{api}:")
        mine = [d for d in devices if d["host_api"] == api]
        for d in mine:
            rates = ", ".join(f"{r:g}" for r in d["rates"]) or "none of the standard rates"
            lines.append(f"  [{d['index']}] {d['name']}: {d['inputs']} in, {d['outputs']} out;"
                         f" rates {rates}")
        if not mine:
            lines.append("  (no devices)")
    return "\n".join(lines)


@dataclass(frozen=True)
class ResolvedDevice:
    """A config matched to a PortAudio device, with the channel counts to open."""

    index: int
    name: str
    host_api: str
    in_channels: int
    out_channels: int


def _match(items, wanted, what):
    """Case-insensitive match: exact name first, else a unique substring."""
    key = wanted.lower()
    exact = [i for i in items if i[1].lower() == key]
    if exact:
        return exact[0]
    found = [i for i in items if key in i[1].lower()]
    if len(found) == 1:
        return found[0]
    if found:
        raise LookupError(f"{what} {wanted!r} is ambiguous: it matches "
                          + "; ".join(repr(i[1]) for i in found))
    return None


def resolve(config, sd=None):
    """Find the config's device and check its channels and sample rate.

    Raises
    ------
    DeviceConfigError
        The host API, device, channels or rate is not available; the message lists what is.
    """
    sd = sd or portaudio(config.client_name)
    path = config.path
    apis = [(i, a["name"]) for i, a in enumerate(sd.query_hostapis())]
    try:
        api = _match(apis, config.host_api, "host_api")
    except LookupError as exc:
        raise DeviceConfigError(f"{path}: {exc}") from None
    if api is None:
        raise DeviceConfigError(f"{path}: host_api = {config.host_api!r} is not available; "
                                f"available: {', '.join(n for _, n in apis) or '(none)'}")
    devices = [d for d in list_devices(sd, rates=False) if d["host_api"] == api[1]]
    try:
        hit = _match([(d["index"], d["name"], d) for d in devices], config.device, "device")
    except LookupError as exc:
        raise DeviceConfigError(f"{path}: {exc}") from None
    if hit is None:
        listing = format_devices(list_devices(sd), [n for _, n in apis])
        raise DeviceConfigError(f"{path}: device = {config.device!r} not found on {api[1]}. "
                                f"Available devices:\n{listing}")
    dev = hit[2]
    need_in = max(config.inputs)
    need_out = max(config.outputs + (config.monitor.outputs if config.monitor else ()))
    if need_in > dev["inputs"] or need_out > dev["outputs"]:
        raise DeviceConfigError(
            f"{path}: routing needs {need_in} inputs and {need_out} outputs but "
            f"{dev['name']!r} has {dev['inputs']} in, {dev['outputs']} out")
    if not _rates_ok(sd, dev["index"], need_in, need_out, config.sample_rate):
        rates = ", ".join(f"{r:g}" for r in _rates(sd, dev["index"], need_in, need_out))
        raise DeviceConfigError(f"{path}: sample_rate = {config.sample_rate} is not supported "
                                f"by {dev['name']!r}; supported: "
                                f"{rates or 'none of the standard rates'}")
    return ResolvedDevice(dev["index"], dev["name"], api[1], need_in, need_out)


def _rates_ok(sd, index, ins, outs, rate):
    try:
        sd.check_input_settings(index, channels=ins, dtype="float32", samplerate=rate)
        sd.check_output_settings(index, channels=outs, dtype="float32", samplerate=rate)
    except Exception:
        return False
    return True
