"""The pieces of offline mastering, in-process: presets, metadata, analysis, files, demo."""
import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from signals import programme, ref_true_peak_db

from pymaster import metadata
from pymaster._drive import LoudnessModel
from pymaster.analysis import KEYS, Analyzer, analyze
from pymaster.audio_io import AudioReader, ScratchAudio, delivery_format
from pymaster.demo import demo_mix
from pymaster.errors import AudioFileError, MetadataError, PresetError
from pymaster.presets import list_presets, load_preset, parse_preset
from pymaster.render import master

BUILT_IN = {"streaming": -14, "apple": -16, "loud": -9, "dynamic": -18, "broadcast": -23,
            "podcast": -16}


# ---- presets ----

def test_built_in_presets_load_and_build_chains():
    presets = {p.name: p for p in list_presets()}
    assert set(BUILT_IN) <= set(presets)
    for name, target in BUILT_IN.items():
        preset = presets[name]
        assert preset.target_lufs == target and preset.ceiling_dbtp == -1.0
        assert preset.eq and preset.compressor_enabled and preset.description
        for rate in (44100, 48000, 96000):
            chain = preset.build_chain(rate, 2)
            assert chain.limiter.ceiling_dbtp == -1.0
            assert chain.eq.band_count == len(preset.eq)
            assert chain.compressor.ratio == preset.compressor["ratio"]


def test_preset_validation_messages():
    base = {"target": {"integrated_lufs": -14.0, "ceiling_dbtp": -1.0}}
    assert parse_preset(base, "x.toml").compressor_enabled is False
    cases = [
        ({"compressor": {"attack_ms": 0.0}}, "compressor.attack_ms = 0.0 is invalid: "
                                              "allowed 0.01..500 ms"),
        ({"compressor": {"sidechain_hpf_hz": 5}}, "0 (off) or 10..1000 Hz"),
        ({"limiter": {"auto_release": 1}}, "limiter.auto_release = 1 is invalid: allowed "
                                           "true or false"),
        ({"output": {"bit_depth": "8"}}, "output.bit_depth = '8'"),
        ({"eq": [{"type": "peak"}]}, "missing key 'eq[0].freq_hz'"),
        ({"target": {"ceiling_dbtp": -1.0}}, "missing key 'target.integrated_lufs' "
                                             "(-36..-5 LUFS)"),
        ({"target": None}, "target must be a table"),
        ({"eq": {"type": "peak"}}, "array of tables"),
        ({"colour": "red"}, "unknown key 'colour'"),
    ]
    for extra, message in cases:
        with pytest.raises(PresetError, match="x.toml") as info:
            parse_preset({**base, **extra}, "x.toml")
        assert message in str(info.value)


def test_absent_keys_take_the_documented_defaults(tmp_path):
    """A preset of one key works: the rest comes from SCHEMA, whose defaults are those of the
    processors themselves (a fresh Chain), so a key left out and a key set to its default
    give the same preset."""
    from pymaster import Chain
    (tmp_path / "mine.toml").write_text("[target]\nintegrated_lufs = -12.0\n")
    mine = load_preset(tmp_path / "mine.toml")
    assert (mine.name, mine.ceiling_dbtp, mine.eq, mine.compressor_enabled) == \
        ("mine", -1.0, (), False)
    fresh = Chain(48000, 2)
    assert mine.compressor == fresh.compressor.params
    assert (mine.lookahead_ms, mine.release_ms, mine.auto_release) == \
        (fresh.limiter.lookahead_ms, fresh.limiter.release_ms, fresh.limiter.auto_release)
    band = parse_preset({"target": {"integrated_lufs": -12.0},
                         "eq": [{"type": "peak", "freq_hz": 100.0}]}).eq[0]
    assert band == dict(Chain(48000, 2, eq_bands=1).eq.bands[0], freq_hz=100.0, enabled=True)
    spelled_out = parse_preset({"target": {"integrated_lufs": -12.0, "ceiling_dbtp": -1.0},
                                "limiter": {"lookahead_ms": 5.0}, "output": {"bit_depth": "24"}},
                               tmp_path / "mine.toml")
    assert spelled_out == mine
    sf.write(tmp_path / "in.wav", programme(4.0, 48000, seed=2), 48000, subtype="PCM_24")
    report = master(tmp_path / "in.wav", tmp_path / "out.wav", preset=tmp_path / "mine.toml")
    assert report["output"]["integrated_lufs"] == pytest.approx(-12.0, abs=0.1)
    assert report["output"]["true_peak_dbtp"] <= -1.0


def test_readme_documents_every_preset_key():
    """The README's key table is SCHEMA's (regenerate: print(keys_table())), and its example
    presets load."""
    import re
    from pathlib import Path

    from pymaster.presets import keys_table
    from pymaster.config import tomllib
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Presets"):readme.index("### The report")]
    assert keys_table() in section
    examples = re.findall(r"```toml\n(.*?)```", section, re.S)
    assert len(examples) == 2
    for text in examples:
        preset = parse_preset(tomllib.loads(text), "README.md")
        assert preset.target_lufs in (-12.0, -14.0)


def test_eq_band_too_high_for_the_rate():
    preset = parse_preset({"target": {"integrated_lufs": -14.0, "ceiling_dbtp": -1.0},
                           "eq": [{"type": "high_shelf", "freq_hz": 12000.0}]}, "hi.toml")
    with pytest.raises(PresetError, match=r"hi.toml: eq\[0\].freq_hz = 12000 Hz is too high"):
        preset.build_chain(16000, 1)


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(PresetError, match="available: .*streaming"):
        load_preset("nonesuch")


# ---- metadata ----

@pytest.mark.parametrize("code, stored", [("US-S1Z-99-00001", "USS1Z9900001"),
                                          ("gbabc2412345", "GBABC2412345")])
def test_isrc_accepted(code, stored):
    assert metadata.normalize_isrc(code) == stored


@pytest.mark.parametrize("code", ["US-S1Z-99-0001", "U1-S1Z-99-00001", "US-S1Z-9X-00001", ""])
def test_isrc_rejected(code):
    with pytest.raises(MetadataError, match="CC-XXX-YY-NNNNN"):
        metadata.normalize_isrc(code)


def test_unknown_or_empty_tag_rejected():
    with pytest.raises(MetadataError, match="unknown tag"):
        metadata.normalize_tags({"mood": "happy"})
    with pytest.raises(MetadataError, match="empty"):
        metadata.normalize_tags({"title": "  "})
    with pytest.raises(MetadataError, match="YYYY-MM-DD"):
        metadata.normalize_tags({"date": "spring 2024"})
    assert metadata.normalize_tags({"date": "2024-05", "isrc": None}) == {"date": "2024-05"}


def test_all_tags_round_trip(tmp_path):
    sf.write(tmp_path / "in.wav", programme(2.0, 48000, seed=1), 48000)
    tags = {"title": "Tïtle", "artist": "A", "album": "B", "date": "2024-05-01", "genre": "Pop",
            "track": "3/10", "comment": "hello", "copyright": "(c) me", "isrc": "USS1Z9900001"}
    for name in ("out.wav", "out.flac"):
        master(tmp_path / "in.wav", tmp_path / name, tags=tags)
        assert metadata.read_tags(tmp_path / name) == tags


# ---- analysis ----

def test_analysis_matches_references():
    pyloudnorm = pytest.importorskip("pyloudnorm")
    audio = programme(6.0, 44100, seed=7, level_db=-4.0)
    audio[:, 1] += 0.01  # a DC offset on one channel
    result = analyze(audio, 44100)
    assert list(result) == list(KEYS)
    ref = pyloudnorm.Meter(44100, filter_class="DeMan").integrated_loudness(
        audio.astype(np.float64))
    assert result["integrated_lufs"] == pytest.approx(ref, abs=0.02)
    assert result["true_peak_dbtp"] == pytest.approx(ref_true_peak_db(audio), abs=0.2)
    rms_db = 10 * np.log10(np.mean(audio.astype(np.float64) ** 2))
    peak_db = 20 * np.log10(np.abs(audio).max())
    assert result["sample_peak_dbfs"] == pytest.approx(peak_db, abs=1e-4)
    assert result["crest_db"] == pytest.approx(peak_db - rms_db, abs=1e-3)
    assert result["plr_db"] == pytest.approx(result["true_peak_dbtp"] - result["integrated_lufs"])
    assert result["dc_offset"] == pytest.approx(audio[:, 1].mean(), abs=1e-6)
    assert result["duration_s"] == 6.0 and result["channels"] == 2


def test_analysis_does_not_depend_on_block_size():
    audio = programme(5.0, 48000, seed=8)
    whole = analyze(audio, 48000, block_frames=len(audio))
    pieces = Analyzer(48000, 2)
    for start in range(0, len(audio), 1001):
        pieces.add(audio[start:start + 1001])
    for key in KEYS:
        assert pieces.result()[key] == pytest.approx(whole[key], rel=1e-6, abs=1e-9), key


def test_analysis_of_silence_is_minus_inf():
    result = analyze(np.zeros(48000, np.float32), 48000)
    assert result["integrated_lufs"] == -math.inf and result["crest_db"] == -math.inf


# ---- files ----

def test_delivery_format():
    assert delivery_format("a.flac") == ("flac", "24")
    assert delivery_format("a.WAV", None, "32f") == ("wav", "32f")
    assert delivery_format("a.bin", "wav", 16) == ("wav", "16")
    for args, message in [(("a.mp3",), "cannot tell the format"),
                          (("a.wav", "flac"), "extension says wav"),
                          (("a.wav", None, "20"), "bit depth"),
                          (("a.flac", None, "32f"), "FLAC holds")]:
        with pytest.raises(AudioFileError, match=message):
            delivery_format(*args)


def test_scratch_round_trip(tmp_path):
    audio = programme(1.0, 48000, seed=1)
    with ScratchAudio(tmp_path / "s.f32", 2, 48000) as scratch:
        for start in range(0, len(audio), 7000):
            scratch.write(audio[start:start + 7000])
        back = np.concatenate(list(scratch.blocks(4096)))
        path = scratch.path
    assert np.array_equal(back, audio)
    assert not (tmp_path / path).exists() and not list(tmp_path.iterdir())


def test_reader_blocks_cover_the_file(tmp_path):
    audio = programme(2.0, 32000, channels=1, seed=2)
    sf.write(tmp_path / "m.aiff", audio, 32000, subtype="PCM_24")
    reader = AudioReader(tmp_path / "m.aiff")
    assert (reader.sample_rate, reader.channels, reader.frames) == (32000, 1, 64000)
    back = np.concatenate(list(reader.blocks(10000)))
    assert back.shape == (64000, 1)
    assert np.abs(back - audio).max() < 2 ** -22


def test_truncated_aiff_detected(tmp_path):
    sf.write(tmp_path / "m.aiff", programme(1.0, 48000, seed=2), 48000, subtype="PCM_16")
    data = (tmp_path / "m.aiff").read_bytes()
    (tmp_path / "cut.aiff").write_bytes(data[:-1000])
    with pytest.raises(AudioFileError, match="cut.aiff: truncated"):
        AudioReader(tmp_path / "cut.aiff")


# ---- the job, in-process ----

def test_mono_flac_input_and_32_bit_float_output(tmp_path):
    audio = programme(5.0, 44100, channels=1, seed=6, level_db=-10)[:, 0]
    sf.write(tmp_path / "mono.flac", audio, 44100, subtype="PCM_16")
    report = master(tmp_path / "mono.flac", tmp_path / "out.wav", preset="apple",
                    bit_depth="32f")
    out, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert out.shape == audio.shape and sf.info(tmp_path / "out.wav").subtype == "FLOAT"
    assert report["output"]["integrated_lufs"] == pytest.approx(-16.0, abs=0.1)
    assert report["delivery"]["dither"] == "none" and report["output"]["channels"] == 1
    assert ref_true_peak_db(out) <= -1.0 + 1e-3


def test_silent_or_too_short_input_is_delivered_with_a_warning(tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros((48000, 2)), 48000)
    report = master(tmp_path / "silence.wav", tmp_path / "out.wav")
    assert report["target"]["reached"] is False and "silent" in report["warnings"][0]
    assert sf.info(tmp_path / "out.wav").frames == 48000
    sf.write(tmp_path / "blip.wav", programme(0.3, 48000, seed=1), 48000)
    report = master(tmp_path / "blip.wav", tmp_path / "blip_out.wav")
    assert "shorter than the 0.4 s" in report["warnings"][0]
    assert report["output"]["true_peak_dbtp"] <= -1.0
    short = programme(1.0, 48000, seed=1, level_db=-10)  # under a short-term window (3 s)
    sf.write(tmp_path / "short.wav", short, 48000)
    report = master(tmp_path / "short.wav", tmp_path / "short_out.wav")
    assert report["output"]["integrated_lufs"] == pytest.approx(-14.0, abs=0.1)


def test_renders_are_reproducible(tmp_path):
    sf.write(tmp_path / "in.wav", programme(3.0, 48000, seed=9), 48000, subtype="PCM_24")
    for name in ("a.wav", "b.wav"):
        master(tmp_path / "in.wav", tmp_path / name, bit_depth="16", dither_seed=5)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_loudness_model_is_monotonic_in_drive():
    model = LoudnessModel([-20.0, -18.0, -25.0, -16.0], [-6.0, -4.0, -9.0, -3.0],
                          {"threshold_db": -16.0, "ratio": 2.0, "knee_db": 6.0,
                           "makeup_db": 0.0}, -1.0)
    values = [model.predict(d) for d in np.linspace(-10, 30, 81)]
    assert np.all(np.diff(values) > 0)
    assert model.predict(model.solve(-12.0)) == pytest.approx(-12.0, abs=1e-3)


def test_plot_spectra_are_loudness_matched():
    """The master is 6 dB louder and has the same tone: matched, its curve lies on the input's
    (moved by -6 dB, as the legend says); with a silent input nothing is moved."""
    from pymaster.report import matched_spectra
    freqs = np.linspace(0.0, 24000.0, 2049)
    tone = -30.0 - 10 * np.log10(1 + freqs / 500)
    report = {"input": {"integrated_lufs": -20.0}, "output": {"integrated_lufs": -14.0}}
    curves = {"input_spectrum": (freqs, tone), "output_spectrum": (freqs, tone + 6.0)}
    (_, _, (centres, before)), (label, _, (_, after)) = matched_spectra(report, curves)[0]
    assert len(centres) > 50 and np.allclose(before, after) and label == "after, -6.0 dB"
    assert "loudness-matched" in matched_spectra(report, curves)[1]
    report["input"]["integrated_lufs"] = float("-inf")
    lines, title = matched_spectra(report, curves)
    assert np.allclose(np.subtract(lines[1][2][1], lines[0][2][1]), 6.0, atol=0.01)
    assert "not loudness-matched" in title


# ---- demo ----

def test_demo_mix_is_music_not_a_tone():
    mix = demo_mix(32.0, 44100, seed=0)
    assert mix.shape == (32 * 44100, 2) and mix.dtype == np.float32
    assert np.array_equal(mix, demo_mix(32.0, 44100, seed=0))  # deterministic
    assert not np.array_equal(mix, demo_mix(32.0, 44100, seed=1))
    result = analyze(mix, 44100)
    assert result["sample_peak_dbfs"] == pytest.approx(-3.0, abs=0.01)
    assert -24 < result["integrated_lufs"] < -14          # an unmastered mix
    assert result["loudness_range_lu"] > 4                 # sections: dynamics over time
    assert np.corrcoef(mix[:, 0], mix[:, 1])[0, 1] < 0.99  # stereo, not dual mono
    # energy spread over the spectrum: bass, mids and highs all present
    spectrum = np.abs(np.fft.rfft(mix[:, 0].astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(mix), 1 / 44100)
    bands = [spectrum[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in
             [(30, 150), (150, 1000), (1000, 5000), (5000, 16000)]]
    assert min(bands) / max(bands) > 1e-3


def test_demo_command_writes_a_file(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pymaster", "demo", tmp_path / "d.wav",
                             "--seconds", "5"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "d.wav") in result.stdout
    info = sf.info(tmp_path / "d.wav")
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, 5 * 44100)


@pytest.mark.parametrize("fmt, subtype", [("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_compressed_inputs(tmp_path, fmt, subtype):
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile cannot write {fmt}")
    src = tmp_path / f"in.{fmt.lower()}"
    sf.write(src, programme(3.0, 44100, seed=1, level_db=-6), 44100, format=fmt,
             subtype=subtype)
    report = master(src, tmp_path / "out.wav")
    assert report["output"]["integrated_lufs"] == pytest.approx(-14.0, abs=0.1)
    assert sf.info(tmp_path / "out.wav").frames == sf.info(src).frames


def stderr_on_a_terminal(args):
    """Run `pymaster ARGS` with stderr on a pseudo-terminal; (exit status, what it drew)."""
    import fcntl
    import os
    import pty
    import struct
    import termios
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.run([sys.executable, "-m", "pymaster", *map(str, args)],
                          stdout=subprocess.PIPE, stderr=follower, timeout=60)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("command, stages", [("master", ["render 1", "write"]),
                                             ("demo", ["generate", "write"])])
def test_progress_bar_only_on_a_terminal(tmp_path, command, stages):
    """tqdm draws on a terminal's stderr; -q silences it; a pipe never gets it."""
    if command == "master":
        sf.write(tmp_path / "in.wav", programme(3.0, 48000, seed=1), 48000, subtype="PCM_24")
        args = [command, tmp_path / "in.wav", "-o"]
    else:
        args = [command, "--seconds", "3"]
    outputs = {}
    for quiet in (False, True):
        status, outputs[quiet] = stderr_on_a_terminal(
            args + [tmp_path / f"out{quiet}.wav"] + (["-q"] if quiet else []))
        assert status == 0
    assert all(stage in outputs[False] for stage in stages) and "frames" in outputs[False]
    assert outputs[True] == ""
    piped = subprocess.run([sys.executable, "-m", "pymaster", *map(str, args),
                            tmp_path / "piped.wav"], capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and piped.stderr == ""
