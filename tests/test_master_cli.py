"""`pymaster master` end to end, through the command line (subprocesses), on generated music.

Checked against independent references: pyloudnorm (its De Man filter is the BS.1770
K-weighting) for the loudness target, scipy's 16x polyphase resampler for the ceiling, mutagen
for the tags; alignment by cross-correlation with the input.
"""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly
from signals import programme, ref_true_peak_db

pyloudnorm = pytest.importorskip("pyloudnorm")


def run(*args, cwd=None):
    """Run `python -m pymaster ARGS`; returns the CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "pymaster", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def loudness(audio, rate):
    return pyloudnorm.Meter(rate, filter_class="DeMan").integrated_loudness(
        np.asarray(audio, dtype=np.float64))


def lag_of(reference, audio, max_lag=2000):
    """Lag (frames) of `audio` behind `reference`, by cross-correlating the channel sums."""
    a, b = reference.sum(axis=1), audio.sum(axis=1)
    n = min(len(a), len(b))
    spectrum = np.fft.rfft(b[:n], 2 * n) * np.conj(np.fft.rfft(a[:n], 2 * n))
    xcorr = np.fft.irfft(spectrum)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    return int(lags[np.argmax(xcorr[lags])])


def write(path, audio, rate, subtype="PCM_24"):
    sf.write(path, audio, rate, subtype=subtype)
    return path


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    """An 8 s, 48 kHz stereo mix and the files of one default master of it."""
    folder = tmp_path_factory.mktemp("master")
    audio = programme(8.0, 48000, seed=3, level_db=-6.0)
    src = write(folder / "mix.wav", audio, 48000)
    out, report = folder / "master.wav", folder / "report.json"
    result = run("master", src, "-o", out, "--report", report, "--plot", folder / "plot.png")
    assert result.returncode == 0, result.stderr
    return {"folder": folder, "audio": audio, "src": src, "out": out, "report": report,
            "stdout": result.stdout}


def test_default_master_hits_target_under_ceiling(mix):
    audio, rate = sf.read(mix["out"], dtype="float64")
    assert rate == 48000 and sf.info(mix["out"]).subtype == "PCM_24"
    assert loudness(audio, rate) == pytest.approx(-14.0, abs=0.1)
    assert ref_true_peak_db(audio) <= -1.0 + 1e-3
    assert f"{mix['out']}" in mix["stdout"] and f"report: {mix['report']}" in mix["stdout"]


def test_length_and_alignment_preserved(mix):
    audio, _ = sf.read(mix["out"], dtype="float32")
    assert audio.shape == mix["audio"].shape
    assert lag_of(mix["audio"], audio) == 0


def test_report_has_analyses_gain_and_speed(mix):
    from pymaster.analysis import KEYS
    report = json.loads(mix["report"].read_text())
    assert set(report["input"]) == set(KEYS) == set(report["output"])
    assert report["output"]["integrated_lufs"] == pytest.approx(-14.0, abs=0.1)
    assert report["output"]["true_peak_dbtp"] <= -1.0
    assert report["input"]["integrated_lufs"] == pytest.approx(
        loudness(mix["audio"], 48000), abs=0.05)
    gain = report["gain"]
    assert gain["applied_gain_db"] == pytest.approx(gain["drive_db"] + gain["trim_db"])
    reduction = report["gain_reduction"]
    assert reduction["limiter_max_db"] >= reduction["limiter_mean_db"] >= 0
    assert report["latency_samples"] == 240  # 5 ms lookahead at 48 kHz
    assert report["chain"]["limiter"]["ceiling_dbtp"] == -1.0
    assert report["chain"]["eq"][0]["type"] == "high_pass"
    assert report["speed_x_realtime"] > 1 and report["target"]["reached"] is True


def test_plot_is_a_png(mix):
    data = (mix["folder"] / "plot.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000


def test_16_bit_output_is_dithered_not_truncated(mix, tmp_path):
    """The 16-bit file minus the same master in float is TPDF noise: std 0.5 LSB (rounding
    alone gives 0.29, truncation a -0.5 LSB mean), flat, and independent of the music."""
    flt, pcm = tmp_path / "float.wav", tmp_path / "pcm16.wav"
    for path, depth in ((flt, "32f"), (pcm, "16")):
        result = run("master", mix["src"], "-o", path, "--bit-depth", depth, "-q")
        assert result.returncode == 0, result.stderr
    assert sf.info(pcm).subtype == "PCM_16"
    reference, _ = sf.read(flt, dtype="float64")
    ints, _ = sf.read(pcm, dtype="int16")
    error = ints - reference * 32768  # in LSB
    assert abs(error.mean()) < 0.02
    assert 0.45 < error.std() < 0.55
    assert np.abs(error).max() > 0.6  # beyond what plain rounding could do
    assert abs(np.corrcoef(error[:, 0], reference[:, 0])[0, 1]) < 0.02
    spectrum = np.abs(np.fft.rfft(error[:, 0])) ** 2
    low, high = spectrum[1:len(spectrum) // 2].mean(), spectrum[len(spectrum) // 2:].mean()
    assert 0.7 < low / high < 1.4  # white, not shaped by the signal


def test_flac_with_tags_readable_back(mix, tmp_path):
    from mutagen.flac import FLAC
    out = tmp_path / "master.flac"
    result = run("master", mix["src"], "-o", out, "--bit-depth", "16", "--title", "Song",
                 "--artist", "Band", "--album", "Record", "--isrc", "us-s1z-99-00001", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # -q
    tags = FLAC(out)
    assert tags["TITLE"] == ["Song"] and tags["ARTIST"] == ["Band"]
    assert tags["ALBUM"] == ["Record"] and tags["ISRC"] == ["USS1Z9900001"]
    assert sf.info(out).format == "FLAC" and sf.info(out).subtype == "PCM_16"


def test_wav_tags_in_id3_and_riff_info(mix, tmp_path):
    from mutagen.wave import WAVE
    out = tmp_path / "tagged.wav"
    result = run("master", mix["src"], "-o", out, "--title", "Song", "--artist", "Band",
                 "--isrc", "GB-ABC-24-12345", "-q")
    assert result.returncode == 0, result.stderr
    id3 = WAVE(out).tags
    assert str(id3["TIT2"]) == "Song" and str(id3["TPE1"]) == "Band"
    assert str(id3["TSRC"]) == "GBABC2412345"
    with sf.SoundFile(out) as f:  # RIFF INFO, written by libsndfile
        assert f.title == "Song" and f.artist == "Band"
    audio, rate = sf.read(out)
    assert loudness(audio, rate) == pytest.approx(-14.0, abs=0.1)


@pytest.mark.parametrize("rate_in, rate_out, channels", [(44100, 48000, 2), (96000, 44100, 1)])
def test_resampled_output_under_ceiling_aligned(tmp_path, rate_in, rate_out, channels):
    audio = programme(6.0, rate_in, channels=channels, seed=5, level_db=-3.0)
    src = write(tmp_path / "in.wav", audio if channels > 1 else audio[:, 0], rate_in)
    out = tmp_path / "out.wav"
    result = run("master", src, "-o", out, "--sample-rate", rate_out, "-q")
    assert result.returncode == 0, result.stderr
    master, rate = sf.read(out, dtype="float64", always_2d=True)
    assert rate == rate_out and master.shape == (round(len(audio) * rate_out / rate_in),
                                                   channels)
    assert ref_true_peak_db(master) <= -1.0 + 1e-3
    assert loudness(master, rate) == pytest.approx(-14.0, abs=0.1)
    g = np.gcd(rate_in, rate_out)
    reference = resample_poly(audio, rate_out // g, rate_in // g, axis=0)
    assert lag_of(reference, master) == 0


def test_other_preset_and_overrides(mix, tmp_path):
    out = tmp_path / "loud.wav"
    result = run("master", mix["src"], "-o", out, "--preset", "broadcast",
                 "--target-lufs", "-20", "--ceiling-dbtp", "-2", "--report", tmp_path / "r.json",
                 "-q")
    assert result.returncode == 0, result.stderr
    audio, rate = sf.read(out)
    assert rate == 48000  # broadcast delivers 48 kHz
    assert loudness(audio, rate) == pytest.approx(-20.0, abs=0.1)
    assert ref_true_peak_db(audio) <= -2.0 + 1e-3
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["preset"]["name"] == "broadcast"
    assert report["chain"]["compressor"]["threshold_db"] == -26.0


def test_unreachable_target_is_reported_honestly(tmp_path):
    """A very peaky mix pushed to -5 LUFS would need far more limiting than the preset allows:
    the master is delivered at what is reachable, with a warning (exit 0), or with --strict
    not at all (exit 3)."""
    src = write(tmp_path / "peaky.wav", programme(6.0, 48000, seed=1, level_db=-1.0), 48000)
    out = tmp_path / "out.wav"
    result = run("master", src, "-o", out, "--target-lufs", "-5", "--report",
                 tmp_path / "r.json", "-q")
    assert result.returncode == 0, result.stderr
    assert "warning: target -5 LUFS not reached" in result.stderr
    assert "dB of peak limiting" in result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["target"]["reached"] is False and report["warnings"]
    audio, rate = sf.read(out)
    assert loudness(audio, rate) < -5.5
    assert report["gain_reduction"]["limiter_max_db"] <= 12.0 + 0.25
    assert ref_true_peak_db(audio) <= -1.0 + 1e-3

    strict = tmp_path / "strict.wav"
    result = run("master", src, "-o", strict, "--target-lufs", "-5", "--strict")
    assert result.returncode == 3
    assert "nothing written (--strict)" in result.stderr and "Traceback" not in result.stderr
    assert not strict.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav", "peaky.wav", "r.json"]


def test_presets_command_lists_targets():
    result = run("presets")
    assert result.returncode == 0, result.stderr
    for name, target in [("streaming", -14), ("apple", -16), ("loud", -9), ("dynamic", -18),
                         ("broadcast", -23), ("podcast", -16)]:
        line = next(line for line in result.stdout.splitlines() if line.startswith(name))
        assert f"{target} LUFS" in line and "-1 dBTP" in line


def test_analyze_json_has_exactly_the_keys(mix):
    from pymaster.analysis import KEYS
    result = run("analyze", mix["src"], "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == list(KEYS)
    assert all(isinstance(v, (int, float)) for v in data.values())
    audio = mix["audio"].astype(np.float64)
    assert data["integrated_lufs"] == pytest.approx(loudness(audio, 48000), abs=0.05)
    assert data["true_peak_dbtp"] == pytest.approx(ref_true_peak_db(audio), abs=0.2)
    assert data["sample_peak_dbfs"] == pytest.approx(20 * np.log10(np.abs(audio).max()),
                                                     abs=1e-3)
    assert data["duration_s"] == 8.0 and data["sample_rate"] == 48000 and data["channels"] == 2
    text = run("analyze", mix["src"])
    assert text.returncode == 0 and "integrated_lufs" in text.stdout and "LUFS" in text.stdout
