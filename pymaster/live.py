"""Live mastering engine: the chain on an audio interface, one C call per PortAudio callback.

Threads. PortAudio's audio thread runs only ``pm_live_callback``, a C function (see
:class:`LiveCallback`): one ``pm_chain_process_device`` call on the interface's own interleaved
buffers, and atomic counters. It never enters Python, so it never waits for the GIL and the
garbage collector cannot run in it. Everything else (opening streams, presets, meters, signals, a MIDI thread) runs in
other threads and reaches the audio only through the chain's thread-safe setters, which glide
in C, or by opening a new stream. The control side serialises itself with ``engine.control``,
a lock the audio thread never takes.
"""
import gc
import inspect
import threading
import time
from dataclasses import dataclass

from . import devices
from ._native import created, ffi, lib
from .chain import Chain
from .compressor import Compressor
from .errors import UserError

# Counter slots of pm_live_counters: blocks, PortAudio's callback status bits 1, 2, 4, 8 (every
# one of them an xrun), failed chain calls; then the longest callback (ns, a maximum).
(BLOCKS, INPUT_UNDERFLOW, INPUT_OVERFLOW, OUTPUT_UNDERFLOW, OUTPUT_OVERFLOW, ERRORS,
 WORST_NS) = range(lib.PM_LIVE_COUNTERS)
XRUN_NAMES = ("input_underflow", "input_overflow", "output_underflow", "output_overflow")

EQ_BANDS = lib.PM_MAX_EQ_BANDS  # every preset fits the running chain; unused bands cost nothing
_COMPRESSOR_DEFAULTS = {name: p.default for name, p in
                        inspect.signature(Compressor.__init__).parameters.items()
                        if p.kind is p.KEYWORD_ONLY}


class BackendStuck(RuntimeError):
    """PortAudio did not close a lost stream (its JACK code waits for a dead server): only a
    new process can open the device again."""


@dataclass(frozen=True)
class Routing:
    """Device channel counts and the chain<->device channel maps (0-based, preallocated)."""

    in_channels: int
    out_channels: int
    in_map: object
    out_map: object
    monitor_map: object   # ffi.NULL without a monitor feed

    @classmethod
    def build(cls, config, in_channels, out_channels):
        def cmap(channels):
            return ffi.new("int[]", [c - 1 for c in channels])

        monitor = cmap(config.monitor.outputs) if config.monitor else ffi.NULL
        return cls(in_channels, out_channels, cmap(config.inputs), cmap(config.outputs), monitor)


class LiveCallback:
    """The audio callback: ``pm_live_callback`` bound to a chain and a device's channel layout.

    Parameters
    ----------
    chain : Chain
        Processes the blocks; kept alive as long as this object.
    routing : Routing
        Device channel counts and maps.
    """

    def __init__(self, chain, routing):
        self.chain = chain
        self._ptr = created("pm_live", lib.pm_live_create, lib.pm_live_destroy, chain._ptr,
                            routing.in_channels, routing.in_map, routing.out_channels,
                            routing.out_map, routing.monitor_map)
        self._counts = ffi.new(f"uint64_t[{lib.PM_LIVE_COUNTERS}]")

    def __call__(self, inp, out, frames, status=0):
        """Run one block as PortAudio would (tests and benchmarks): raw pointers in and out."""
        return lib.pm_live_callback(inp, out, frames, ffi.NULL, status, self._ptr)

    def portaudio_args(self, pa_ffi):
        """``callback`` and ``userdata`` for a PortAudio stream opened through `pa_ffi`
        (sounddevice's FFI): plain addresses, cast on that side."""
        function = int(ffi.cast("uintptr_t", ffi.addressof(lib, "pm_live_callback")))
        user = int(ffi.cast("uintptr_t", self._ptr))
        return {"callback": function, "userdata": pa_ffi.cast("void *", user)}

    @property
    def counters(self):
        """list of int: blocks, xruns by kind, failed chain calls, the longest callback in ns
        (slots ``BLOCKS..WORST_NS``)."""
        lib.pm_live_counters(self._ptr, self._counts)
        return list(self._counts)


def apply_preset(chain, preset):
    """Set a chain to a preset through its thread-safe setters: on a running chain it glides.

    Stages the preset does not set go back to their defaults, so switching presets gives the
    same chain as :meth:`pymaster.presets.Preset.build_chain`. ``preset=None`` leaves the chain
    as it is. The lookahead cannot change on a live chain (it is the latency).

    Raises
    ------
    ValueError
        An EQ band does not fit the chain's sample rate (nothing is changed then).
    """
    if preset is None:
        return
    bands = list(preset.eq)
    if len(bands) > chain.eq.band_count:
        raise ValueError(f"preset {preset.name}: {len(bands)} EQ bands, chain has "
                         f"{chain.eq.band_count}")
    for index, band in enumerate(bands):
        if band["freq_hz"] > 0.49 * chain.sample_rate:
            raise ValueError(f"preset {preset.name}: eq[{index}].freq_hz = {band['freq_hz']:g} Hz "
                             f"is above 0.49 x {chain.sample_rate:g} Hz")
    for index in range(chain.eq.band_count):
        if index < len(bands):
            chain.eq.set_band(index, **bands[index])
        else:
            chain.eq.set_band(index, enabled=False)
    chain.compressor.set_params(**{**_COMPRESSOR_DEFAULTS, **preset.compressor})
    chain.set_bypass("compressor", not preset.compressor_enabled)
    chain.limiter.ceiling_dbtp = preset.ceiling_dbtp
    chain.limiter.release_ms = preset.release_ms
    chain.limiter.auto_release = preset.auto_release


class LiveEngine:
    """The mastering chain running on an audio interface (PortAudio through sounddevice).

    Parameters
    ----------
    config : pymaster.devices.DeviceConfig
        Interface, rate, block size, routing, monitor feed, reconnect policy.
    preset : pymaster.presets.Preset, optional
        Chain settings; None keeps the chain's defaults.
    input_gain_db : float
        Drive into the chain, -24..24 dB (live has no second pass to reach a loudness target:
        ride this against the meters).

    Attributes
    ----------
    chain : Chain
        The running chain. Its setters are safe from any thread and glide; take
        ``engine.control`` around multi-step changes (a preset, a reload) so that they do not
        interleave.
    """

    def __init__(self, config, preset=None, input_gain_db=0.0):
        self.config = config
        self.preset = preset
        self.input_gain_db = input_gain_db
        self.control = threading.RLock()
        self._callback = None
        self._past_counts = [0] * lib.PM_LIVE_COUNTERS  # from callbacks of earlier streams
        self.chain = None
        self.stream = None
        self.device = None
        self._gc_was_enabled = None
        self._last_blocks = 0
        self._last_seen = 0.0
        self._open_key = None

    # ---- reading (any thread) ----
    @property
    def counters(self):
        """list of int: blocks processed, xruns by kind, failed C calls (see :attr:`xruns`),
        summed over every stream this engine opened, and the longest callback (ns)."""
        now = self._callback.counters if self._callback else [0] * len(self._past_counts)
        total = [a + b for a, b in zip(self._past_counts, now)]
        total[WORST_NS] = max(self._past_counts[WORST_NS], now[WORST_NS])
        return total

    @property
    def running(self):
        return self.stream is not None

    @property
    def blocks(self):
        return self.counters[BLOCKS]

    @property
    def xruns(self):
        """dict: xruns by kind (from the callback status flags) and their total."""
        counts = dict(zip(XRUN_NAMES, self.counters[INPUT_UNDERFLOW:OUTPUT_OVERFLOW + 1]))
        counts["total"] = sum(counts.values())
        return counts

    @property
    def errors(self):
        return self.counters[ERRORS]

    @property
    def worst_callback_s(self):
        """The longest audio callback so far (s): the chain's share of the deadline."""
        return self.counters[WORST_NS] * 1e-9

    def latency(self):
        """dict: interface input/output latency, the chain's lookahead and their total (s)."""
        rate = self.config.sample_rate
        lat_in, lat_out = self.stream.latency if self.stream else (0.0, 0.0)
        look = self.chain.latency_samples / rate if self.chain else 0.0
        total = lat_in + lat_out + look
        return {"input_s": lat_in, "output_s": lat_out, "lookahead_s": look, "total_s": total,
                "total_samples": round(total * rate)}

    # ---- control (one thread at a time, never the audio thread) ----
    def _lookahead_ms(self):
        if self.config.lookahead_ms is not None:
            return self.config.lookahead_ms
        return self.preset.lookahead_ms if self.preset is not None else 5.0

    def _build_chain(self):
        cfg = self.config
        chain = Chain(cfg.sample_rate, cfg.channels, eq_bands=EQ_BANDS,
                      lookahead_ms=self._lookahead_ms())
        self._configure(chain)
        return chain

    def _configure(self, chain):
        apply_preset(chain, self.preset)
        chain.input_gain_db = self.input_gain_db
        mon = self.config.monitor
        if mon is not None:
            chain.set_monitor(mon.trim_db, mon.dim, mon.mono)

    def _chain_fits(self):
        c = self.chain
        return (c is not None and c.sample_rate == self.config.sample_rate
                and c.channels == self.config.channels
                and abs(c.limiter.lookahead_ms - self._lookahead_ms()) < 1e-9)

    def start(self, rescan=True):
        """Open the interface and start audio.

        Parameters
        ----------
        rescan : bool
            Re-initialise PortAudio first (no other stream of this process may be open): it sees
            devices that appeared since, and PortAudio's JACK ports get their first names again
            (``client:in_0``...; a second stream on one PortAudio session would get in_2...).

        Raises
        ------
        DeviceConfigError
            The device, its channels or the rate is not available (the message lists what is).
        """
        with self.control:
            if self.stream is not None:
                raise RuntimeError("the engine is already running")
            sd = devices.portaudio(self.config.client_name, rescan=rescan)
            self.device = devices.resolve(self.config, sd)
            if not self._chain_fits():
                self.chain = self._build_chain()
            routing = Routing.build(self.config, self.device.in_channels,
                                    self.device.out_channels)
            if self._callback is not None:
                self._past_counts = self.counters
            self._callback = LiveCallback(self.chain, routing)
            try:
                stream = sd._StreamBase(  # sounddevice's base stream takes a C callback
                    "duplex", samplerate=self.config.sample_rate,
                    blocksize=self.config.block_size, device=self.device.index,
                    channels=(self.device.in_channels, self.device.out_channels),
                    dtype="float32", latency=self.config.latency,
                    **self._callback.portaudio_args(sd._ffi))
            except sd.PortAudioError as exc:
                raise devices.DeviceConfigError(f"{self.config.path}: cannot open "
                                                f"{self.device.name!r}: {exc}") from None
            if "alsa" in self.device.host_api.lower():
                devices.alsa_realtime(sd, stream)
            self._open_key = self.config.stream_key()
            self._quiet_gc()
            self._last_blocks, self._last_seen = self.counters[BLOCKS], time.monotonic()
            try:
                stream.start()
            except sd.PortAudioError as exc:
                stream.close(ignore_errors=True)
                raise devices.DeviceConfigError(f"{self.config.path}: cannot start "
                                                f"{self.device.name!r}: {exc}") from None
            self.stream = stream

    def stop(self, timeout=3.0):
        """Stop and close the stream; restores garbage collection.

        Raises
        ------
        BackendStuck
            PortAudio did not return within `timeout` (e.g. the JACK server died).
        """
        with self.control:
            try:
                self._close(timeout)
            finally:
                self._restore_gc()

    def _close(self, timeout):
        stream, self.stream = self.stream, None
        if stream is None:
            return
        done = threading.Event()

        def close():  # in a thread: PortAudio's JACK code can wait forever for a dead server
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            finally:
                done.set()

        threading.Thread(target=close, name="pymaster-close", daemon=True).start()
        if not done.wait(timeout):
            raise BackendStuck(f"PortAudio did not close the stream on {self.device.name!r} "
                               f"within {timeout:g} s")

    def alive(self, stall_s=None):
        """False once the stream stopped by itself or no block arrived for `stall_s`.

        Call it regularly from the control thread; a lost device shows up here.
        """
        if self.stream is None:
            return False
        now, blocks = time.monotonic(), self.counters[BLOCKS]
        if blocks != self._last_blocks:
            self._last_blocks, self._last_seen = blocks, now
        if not self.stream.active:
            return False
        if stall_s is None:
            stall_s = max(1.0, 50 * (self.config.block_size or 1024) / self.config.sample_rate)
        return now - self._last_seen < stall_s

    def reopen(self, config=None, timeout=3.0):
        """Close the stream and open it again, with a new config if given (rescans devices)."""
        with self.control:
            self._close(timeout)
            if config is not None:
                self.config = config
            self.start()

    def reload(self, config, preset):
        """Apply a new config and preset while audio runs.

        Monitor calibration and preset settings glide on the running chain. Changes to the
        stream itself (device, rate, block size, routing, lookahead) reopen the stream.

        Returns
        -------
        list of str
            What changed, for the log; a last entry ``"stream reopened"`` if it had to be.
        """
        with self.control:
            changes = _differences(self.config, config, self.preset, preset)
            old = self.config, self.preset, self._lookahead_ms()
            self.config, self.preset = config, preset
            if config.stream_key() == self._open_key and self._lookahead_ms() == old[2]:
                try:
                    self._configure(self.chain)
                except ValueError:
                    self.config, self.preset = old[:2]
                    self._configure(self.chain)
                    raise
                return changes
            try:
                self.reopen()
            except UserError:  # the new settings do not open: go back to the old ones
                self.config, self.preset = old[:2]
                self.start()
                raise
            return changes + ["stream reopened"]

    # ---- garbage collection: the audio thread runs no Python, but pauses elsewhere (MIDI,
    # display) stay short and predictable if only the control loop collects ----
    def _quiet_gc(self):
        if self._gc_was_enabled is None:
            self._gc_was_enabled = gc.isenabled()
            gc.collect()
            gc.freeze()    # everything alive now is never scanned again
            gc.disable()   # collections run where the control loop chooses (live_run)

    def _restore_gc(self):
        if self._gc_was_enabled is not None:
            gc.unfreeze()
            if self._gc_was_enabled:
                gc.enable()
            self._gc_was_enabled = None


def _differences(old_cfg, new_cfg, old_preset, new_preset):
    changes = []
    for key in ("host_api", "device", "sample_rate", "block_size", "latency", "lookahead_ms",
                "inputs", "outputs", "client_name"):
        a, b = getattr(old_cfg, key), getattr(new_cfg, key)
        if a != b:
            changes.append(f"{key} {a!r} -> {b!r}")
    a, b = old_cfg.monitor, new_cfg.monitor
    if a is None or b is None:
        if a != b:
            changes.append(f"monitor {'on' if b else 'off'}")
    else:
        changes += [f"monitor.{k} {getattr(a, k)!r} -> {getattr(b, k)!r}"
                    for k in ("outputs", "trim_db", "dim", "mono")
                    if getattr(a, k) != getattr(b, k)]
    if old_preset != new_preset:
        name = (lambda p: p.name if p is not None else "none")
        changes.append(f"preset {name(old_preset)} -> {name(new_preset)}"
                       + (" (edited)" if name(old_preset) == name(new_preset) else ""))
    return changes
