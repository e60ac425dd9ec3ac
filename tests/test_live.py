"""The live engine through a real JACK server (dummy backend, realtime as root); no mocks.

A private server is started for this module (see ../shared/notes/realtime-testing.md). The
engine runs in this process as JACK client ``pmlive``; a harness client (tests/jack_harness.py,
its own process) plays into pmlive's inputs and records its outputs, wired with jack_connect.
"""
import importlib.util
import gc
import os
import time
import tracemalloc

import numpy as np
import pytest
from jackserver import PERIOD, RATE, available, play_and_record, serving
from signals import programme, ref_true_peak_db

from pymaster import devices
from pymaster._buffers import float_ptr
from pymaster.devices import DeviceConfigError, parse_device_config
from pymaster.live import LiveCallback, LiveEngine, Routing
from pymaster.presets import load_preset

# find_spec, not import: PortAudio must not scan for JACK before the test server is up.
pytestmark = pytest.mark.skipif(
    not available() or importlib.util.find_spec("sounddevice") is None,
    reason="the live tests need a real JACK server and PortAudio: apt-get install jackd2 "
           "libportaudio2; pip install sounddevice")

CLIENT = "pmlive"
MONITOR_TRIM_DB = -6.0


def config(**changes):
    base = {"host_api": "JACK", "device": "system", "client_name": CLIENT, "sample_rate": RATE,
            "block_size": PERIOD, "inputs": [1, 2], "outputs": [1, 2],
            "monitor": {"outputs": [3, 4], "trim_db": MONITOR_TRIM_DB}}
    base.update(changes)
    return parse_device_config({k: v for k, v in base.items() if v is not None}, "test.toml")


@pytest.fixture(scope="module")
def jack(tmp_path_factory):
    log = tmp_path_factory.mktemp("jack") / "jackd.log"
    with serving(f"pmtest{os.getpid()}", 4, 4, log) as server:
        yield server


@pytest.fixture
def make_engine(jack):
    made = []

    def make(preset=None, input_gain_db=0.0, **changes):
        engine = LiveEngine(config(**changes), preset, input_gain_db)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.stop()
    assert gc.isenabled(), "stopping the engine must give garbage collection back"


def test_loopback_master_is_the_offline_master_with_the_reported_latency(jack, make_engine,
                                                                         tmp_path):
    """An impulse then programme material through pymaster and back: the master is limited
    under the ceiling (16x reference), equals the offline render with the same preset and gain
    (so it is at the preset's gain), and arrives after the reported latency.

    Latency: the engine reports PortAudio's interface latency (in 0, out 2 periods: the JACK
    dummy driver's playback buffer) plus the chain's lookahead. A loop from one JACK client
    through another and back costs 3 periods (notes), so here
    round trip = chain latency + 3 periods = reported total + 1 period.
    """
    preset = load_preset("streaming")
    gain = 8.0
    impulse = np.zeros((int(0.3 * RATE), 2), np.float32)
    impulse[0] = 0.25
    play = np.concatenate([impulse, programme(3.0, RATE, level_db=-6.0)])
    engine = make_engine(preset, gain)
    engine.start()
    rec, harness_xruns = play_and_record(jack, tmp_path, play, CLIENT, inputs=4)  # freewheel
    assert harness_xruns == 0

    delay = int(np.argmax(np.abs(rec[:len(impulse), 0])))
    assert delay == engine.chain.latency_samples + 3 * PERIOD
    assert delay == engine.latency()["total_samples"] + PERIOD
    master = rec[delay:delay + len(play), :2]
    monitor = rec[delay:delay + len(play), 2:]

    offline = preset.build_chain(RATE, 2)
    offline.input_gain_db = gain
    reference = offline.render(play)
    np.testing.assert_allclose(master, reference, atol=1e-6)
    assert ref_true_peak_db(master) <= preset.ceiling_dbtp + 0.02
    assert engine.chain.meters().limiter_gr_max_db > 1.0  # the limiter had work to do
    np.testing.assert_allclose(monitor, master * 10 ** (MONITOR_TRIM_DB / 20), atol=1e-6)


def test_callback_does_not_allocate(jack, make_engine):
    """Garbage collection is frozen and off while streaming; neither the callback called
    directly on preallocated buffers nor streaming (freewheeling: 3 s of audio and usually far
    more) leaves any allocation behind."""
    from pymaster import Chain

    chain = Chain(RATE, 2, eq_bands=16)
    routing = Routing.build(config(), 2, 4)
    callback = LiveCallback(chain, routing)
    src = programme(0.1, RATE, level_db=0.0)[:PERIOD]
    out = np.zeros((PERIOD, 4), np.float32)
    args = (float_ptr(src), float_ptr(out), PERIOD, 0)
    calls = [args, args[:3] + (6,)] * 5000  # clean and xrun-flagged blocks
    warm = calls[:1000]
    tracemalloc.start()
    try:
        for call in warm:  # every counter now holds a traced (non-cached) int
            callback(*call)
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        # Read again: the first read's own int (traced after it measured) is then counted in
        # `before`, and the second's replaces it, so the loop alone is measured.
        before = tracemalloc.get_traced_memory()[0]
        for call in calls:
            callback(*call)
        after, peak = tracemalloc.get_traced_memory()
        assert after - before <= 0 and peak - before < 1024, (after - before, peak - before)
        counters = callback.counters
        assert counters[0] == 11000 and counters[2] == counters[3] == 5500

        engine = make_engine(load_preset("streaming"), 6.0)
        engine.start()
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        wait_for_blocks(engine, 400)
        with jack.freewheeling():  # tens of thousands of blocks a second
            for _ in range(20):  # a window that a stall kept short is measured again
                counts0, blocks0 = gc.get_count(), engine.blocks
                tracemalloc.reset_peak()
                before = tracemalloc.get_traced_memory()[0]
                before = tracemalloc.get_traced_memory()[0]  # (see above)
                time.sleep(0.5)  # nothing in this thread allocates meanwhile
                after, peak = tracemalloc.get_traced_memory()
                counts1, blocks1 = gc.get_count(), engine.blocks
                if blocks1 - blocks0 >= 3 * RATE // PERIOD:  # 3 s of audio at least
                    break
            else:
                pytest.fail(f"no 0.5 s window in 20 held 3 s of audio: {blocks1 - blocks0}")
    finally:
        tracemalloc.stop()
    assert after - before <= 256, f"{after - before} bytes left by {blocks1 - blocks0} blocks"
    assert peak - before < 4096
    assert counts1[0] <= counts0[0] + 2  # no container objects piling up


def wait_for_blocks(engine, blocks, timeout=60.0):
    """Counts processed blocks, not seconds: a stalled machine only makes this slower."""
    deadline = time.monotonic() + timeout
    while engine.blocks < blocks:
        assert time.monotonic() < deadline, f"{engine.blocks} of {blocks} blocks"
        time.sleep(0.01)


def test_device_errors_list_what_is_available(jack):
    sd = devices.portaudio(CLIENT)
    with pytest.raises(DeviceConfigError) as err:
        devices.resolve(config(device="Scarlett 2i2"), sd)
    assert "device = 'Scarlett 2i2' not found" in str(err.value)
    assert "[0] system: 4 in, 4 out; rates 48000" in str(err.value)
    with pytest.raises(DeviceConfigError, match=r"sample_rate = 44100 is not supported by "
                                                r"'system'; supported: 48000"):
        devices.resolve(config(sample_rate=44100), sd)
    with pytest.raises(DeviceConfigError, match=r"host_api = 'Core Audio' is not available; "
                                                r"available: .*JACK Audio Connection Kit"):
        devices.resolve(config(host_api="Core Audio", client_name=None), sd)
    with pytest.raises(DeviceConfigError, match=r"needs 2 inputs and 6 outputs but 'system' "
                                                r"has 4 in, 4 out"):
        devices.resolve(config(monitor={"outputs": [5, 6]}), sd)
    listed = devices.list_devices(sd)
    assert [(d["name"], d["inputs"], d["outputs"], d["rates"]) for d in listed] == [
        ("system", 4, 4, [48000])]
