"""Device config validation (no audio needed): every error names the file, the key and what is
allowed; the shipped configs load."""
import pytest

from pymaster.devices import (DEVICE_DIRS, DeviceConfigError, load_device_config,
                              parse_device_config)

GOOD = {"host_api": "JACK", "device": "system", "sample_rate": 48000, "block_size": 64,
        "inputs": [1, 2], "outputs": [1, 2]}


def write(tmp_path, text, name="dev.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["usb-2x2", "jack", "raspberry-pi"])
def test_shipped_configs_load(name):
    cfg = load_device_config(name)
    assert cfg.channels == 2 and cfg.sample_rate == 48000
    assert any(str(cfg.path).startswith(str(d)) for d in DEVICE_DIRS)


def test_full_config(tmp_path):
    path = write(tmp_path, """
host_api = "JACK"
device = "system"
client_name = "pm"
sample_rate = 48000
block_size = 64
latency = 0.01
lookahead_ms = 3
inputs = [2, 1]
outputs = [1, 2]
[monitor]
outputs = [3, 4]
trim_db = -6.5
dim = true
mono = false
[reconnect]
retry_s = 0.5
attempts = 3
""")
    cfg = load_device_config(path)
    assert cfg.inputs == (2, 1) and cfg.latency == 0.01 and cfg.lookahead_ms == 3
    assert cfg.monitor.outputs == (3, 4) and cfg.monitor.trim_db == -6.5 and cfg.monitor.dim
    assert (cfg.retry_s, cfg.attempts, cfg.client_name) == (0.5, 3, "pm")


def test_unknown_key_names_file_key_and_allowed(tmp_path):
    path = write(tmp_path, 'host_api = "ALSA"\nsmaple_rate = 48000\n')
    with pytest.raises(DeviceConfigError) as err:
        load_device_config(path)
    msg = str(err.value)
    assert str(path) in msg and "'smaple_rate'" in msg and "sample_rate" in msg


@pytest.mark.parametrize("key, value, allowed", [
    ("sample_rate", 1000, "8000..384000"),
    ("sample_rate", 48000.5, "an integer"),
    ("block_size", -1, "0..8192"),
    ("latency", "medium", "'low', 'high' or seconds"),
    ("latency", 0, "'low', 'high' or seconds"),
    ("inputs", [0, 1], "channel numbers 1..64"),
    ("inputs", [1, 1], "distinct"),
    ("inputs", "1,2", "a list"),
    ("lookahead_ms", 50, "2..20 ms"),
    ("device", "", "a non-empty string"),
])
def test_bad_values_name_key_and_allowed(key, value, allowed):
    with pytest.raises(DeviceConfigError) as err:
        parse_device_config({**GOOD, key: value}, "cfg.toml")
    msg = str(err.value)
    assert msg.startswith("cfg.toml: ") and key in msg and allowed in msg


def test_bad_table_values(tmp_path):
    bad = {**GOOD, "monitor": {"outputs": [3, 4], "trim_db": 20}}
    with pytest.raises(DeviceConfigError, match=r"monitor\.trim_db = 20 .* -60\.\.12 dB"):
        parse_device_config(bad, "cfg.toml")
    bad = {**GOOD, "monitor": {"outputs": [3, 4], "volume": 1}}
    with pytest.raises(DeviceConfigError, match=r"unknown key 'monitor\.volume'; allowed: "
                                                r"outputs, trim_db, dim, mono"):
        parse_device_config(bad, "cfg.toml")
    bad = {**GOOD, "reconnect": {"retry_s": 0}}
    with pytest.raises(DeviceConfigError, match=r"reconnect\.retry_s = 0 .* 0\.1\.\.3600 s"):
        parse_device_config(bad, "cfg.toml")


@pytest.mark.parametrize("change, match", [
    ({"outputs": [1]}, "as many channels as inputs"),
    ({"monitor": {"outputs": [2, 3]}}, "overlap outputs"),
    ({"monitor": {"outputs": [3]}}, "must name 2 channels"),
    ({"monitor": {"trim_db": 0}}, "missing key 'monitor.outputs'"),
    ({"host_api": "ALSA", "client_name": "x"}, "client_name is only allowed with host_api"),
])
def test_inconsistent_routing(change, match):
    with pytest.raises(DeviceConfigError, match=match):
        parse_device_config({**GOOD, **change}, "cfg.toml")


def test_missing_key_and_file(tmp_path):
    with pytest.raises(DeviceConfigError, match="missing key 'sample_rate'"):
        parse_device_config({k: v for k, v in GOOD.items() if k != "sample_rate"}, "c.toml")
    with pytest.raises(DeviceConfigError, match="no such device config file"):
        load_device_config(tmp_path / "nope.toml")
    with pytest.raises(DeviceConfigError, match="unknown device config 'nope'.*usb-2x2"):
        load_device_config("nope")
    with pytest.raises(DeviceConfigError, match="not valid TOML"):
        load_device_config(write(tmp_path, "host_api = \n"))
