"""EBU Tech 3341 / Tech 3342 conformance of the loudness meter.

Every case of EBU Tech 3341 Table 1 ("minimum requirements", v3 2016 = v4 2023) and of Tech 3342
Table 1 (loudness range) whose signal is defined by a formula is synthesised here, and the
published expectation is asserted within the published tolerance: loudness +-0.1 LU, loudness
range +-1 LU, true peak +0.2/-0.4 dB. Out of scope: Tech 3341 cases 7 and 8 and Tech 3342 cases 5
and 6, whose signals are authentic programme excerpts (the EBU test set's
seq-3341-7_seq-3342-5 and seq-3341-2011-8_seq-3342-6 files), not formulas.

Sources (facts and figures only), cited per case as [T P K L]: [T] Tech 3341 Table 1 as
transcribed case by case (1-23) in the README of xuan525/R128Normalization; [P] the reference
data of jmrplens/phonometry (3341 cases 1-6, 9-23; 3342 cases 1-4); [K] kfrlib/kfr's
tests/unit/dsp/ebu.cpp (3341 cases 1-6, 9, 12; 3342 cases 1-4); [L] nocarryr/lupy's test cases
(3341 cases 1-6, 9, 15-19; 3342 cases 1-4). They agree, except that [L] reads cases 17 and 18 as
fs/4 tones with a phase on one channel only; [T] and [P] have fs/6 at 60 degrees and fs/8 at
67.5 degrees (each puts the crest half-way between two samples), as here.

Every case runs at 44.1, 48 and 96 kHz. Block sizes 4096 and 7 run every case in full. Block
size 1 (one C call per frame) runs a subset that still exercises every kind of reading: the
steady cases 1, 2, 6 trimmed to 4 s, case 9 to 2 repeats, case 12 to 5 repeats, cases 10 and 13
on the segments that meet the 100 ms grid at every phase, cases 11 and 14 on their first
tones, and the true-peak cases in full; the gating cases 3-5 and the loudness-range cases keep
their published lengths (60-100 s) and run at blocks 4096 and 7 only. Where the spec reads a
meter over time (M and S "constant", successive maxima), the meter is read after every 10 ms of
audio, its update period, as a live display would.
"""
import numpy as np
import pytest
from scipy.signal import firwin
from signals import ref_true_peak_db

from pymaster._native import ffi, lib
from pymaster.loudness import LoudnessMeter

RATES = (44100, 48000, 96000)
BLOCKS = (4096, 7, 1)
LU = 0.1                      # Tech 3341: M, S, I within +-0.1 LU
LRA_LU = 1.0                  # Tech 3342: LRA within +-1 LU
TP_ABOVE, TP_BELOW = 0.2, 0.4  # Tech 3341 cases 15-23: true peak +0.2 / -0.4 dB


# ---- signals --------------------------------------------------------------------------------

def steps(fs, segments, channels=2):
    """1 kHz sine, in phase on every channel, whose per-channel peak level steps through
    `segments` of (dBFS, or None for silence; seconds). Edges are rounded on the absolute time
    line, so many short segments do not drift."""
    edges = np.round(np.cumsum([0.0] + [seconds for _, seconds in segments]) * fs).astype(int)
    gain = np.zeros(edges[-1])
    for (db, _), start, stop in zip(segments, edges, edges[1:]):
        if db is not None:
            gain[start:stop] = 10 ** (db / 20)
    x = (gain * np.sin(2 * np.pi * 1000 * np.arange(edges[-1]) / fs)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def tapered(x, fs, seconds=0.01):
    """The 10 ms linear fade-in and fade-out Tech 3341 asks for on the true-peak tones."""
    n = round(seconds * fs)
    x = x.copy()
    x[:n] *= np.linspace(0.0, 1.0, n)
    x[-n:] *= np.linspace(1.0, 0.0, n)
    return x


def stereo(x):
    return np.repeat(x.astype(np.float32)[:, None], 2, axis=1)


# ---- feeding and reading --------------------------------------------------------------------

def feed(meter, audio, block, every=None, read=lambda m: (m.momentary_lufs, m.short_term_lufs)):
    """Feed `audio` in blocks of `block` frames. With `every` (frames), the stream is also cut
    there and `read(meter)` is collected after each cut. Blocks under 64 frames go straight to
    the C call LoudnessMeter.add makes, without its per-call checks (0.3 instead of 1.3 us a
    call), so frame-by-frame runs stay affordable."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    n, channels = audio.shape
    every = every or n
    readings = []
    if block < 64:
        base = ffi.cast("float *", ffi.from_buffer(audio))
        ptr, c_add = meter._ptr, lib.pm_loudness_add
    for start in range(0, n, every):
        stop = min(start + every, n)
        if block >= 64:
            for a in range(start, stop, block):
                meter.add(audio[a:min(a + block, stop)])
        else:
            for a in range(start, stop - block + 1, block):
                c_add(ptr, base + a * channels, block)
            rest = (stop - start) % block
            if rest:
                c_add(ptr, base + (stop - rest) * channels, rest)
        readings.append(read(meter))
    assert meter.frames == n
    return readings


def updates(meter, audio, block, fs):
    """(seconds, momentary, short-term) after every 10 ms of audio: each reading is one update."""
    step = fs // 100
    readings = np.array(feed(meter, audio, block, every=step))
    seconds = np.arange(1, len(readings) + 1) * step / fs
    return seconds, readings[:, 0], readings[:, 1]


def assert_within(values, expected, tolerance, what):
    values = np.asarray(values, dtype=float)
    worst = values[np.argmax(np.abs(values - expected))]
    assert np.all(np.abs(values - expected) <= tolerance), \
        f"{what}: {worst:.3f} is outside {expected} +-{tolerance} ({len(values)} readings)"


grid = pytest.mark.parametrize("block", BLOCKS, ids=[f"block{b}" for b in BLOCKS])
rates = pytest.mark.parametrize("fs", RATES, ids=[f"{fs}Hz" for fs in RATES])
full_length_only = pytest.mark.parametrize("block", [b for b in BLOCKS if b > 1],
                                           ids=[f"block{b}" for b in BLOCKS if b > 1])


# ---- Tech 3341 cases 1, 2, 6: steady tones ---------------------------------------------------

@rates
@grid
@pytest.mark.parametrize("case, level", [(1, -23.0), (2, -33.0)], ids=["case1", "case2"])
def test_3341_steady_stereo_tone(case, level, fs, block):
    # [T P K L] 1: stereo 1 kHz sine at -23 dBFS per channel, 20 s: M, S, I = -23.0 +-0.1 LUFS.
    # 2: as 1 at -33 dBFS: M, S, I = -33.0. Every M update from 0.4 s, every S update from 3 s.
    seconds = 4.0 if block == 1 else 20.0  # a steady tone reads the same after 3 s
    meter = LoudnessMeter(fs, 2)
    t, momentary, short_term = updates(meter, steps(fs, [(level, seconds)]), block, fs)
    assert_within(momentary[t >= 0.4 - 1e-9], level, LU, f"case {case} M")
    assert_within(short_term[t >= 3.0 - 1e-9], level, LU, f"case {case} S")
    assert_within([meter.integrated_lufs], level, LU, f"case {case} I")


@rates
@grid
def test_3341_case_6_five_channels(fs, block):
    # [T P K L] 6: 5.0 sine, 1 kHz, 20 s: -28 dBFS in L and R, -24 in C, -30 in Ls and Rs:
    # I = -23.0 +-0.1 LUFS.
    seconds = 4.0 if block == 1 else 20.0
    levels = np.array([-28.0, -28.0, -24.0, -30.0, -30.0])
    audio = steps(fs, [(0.0, seconds)], channels=5) * (10 ** (levels / 20)).astype(np.float32)
    meter = LoudnessMeter(fs, 5)  # L R C Ls Rs: surrounds weighted 1.41
    feed(meter, audio, block)
    assert_within([meter.integrated_lufs], -23.0, LU, "case 6 I")


# ---- Tech 3341 cases 3-5: gating ------------------------------------------------------------

@rates
@full_length_only
@pytest.mark.parametrize("case, segments", [
    (3, [(-36, 10), (-23, 60), (-36, 10)]),
    (4, [(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)]),
    (5, [(-26, 20), (-20, 20.1), (-26, 20)]),
], ids=["case3", "case4", "case5"])
def test_3341_gating(case, segments, fs, block):
    # [T P K L] Tones as in case 1 at these (dBFS, seconds): I = -23.0 +-0.1 LUFS.
    meter = LoudnessMeter(fs, 2)
    feed(meter, steps(fs, segments), block)
    assert_within([meter.integrated_lufs], -23.0, LU, f"case {case} I")


# ---- Tech 3341 cases 9 and 12: S and M constant ---------------------------------------------

@rates
@grid
def test_3341_case_9_short_term_constant(fs, block):
    # [T P K L] 9: (1.34 s at -20 dBFS; 1.66 s at -30 dBFS) x 5: S = -23.0 +-0.1 LUFS,
    # constant after 3 s.
    repeats = 2 if block == 1 else 5  # each 3 s window holds exactly one repeat
    audio = steps(fs, [(-20, 1.34), (-30, 1.66)] * repeats)
    t, _, short_term = updates(LoudnessMeter(fs, 2), audio, block, fs)
    assert_within(short_term[t >= 3.0 - 1e-9], -23.0, LU, "case 9 S")


@rates
@grid
def test_3341_case_12_momentary_constant(fs, block):
    # [T P K] 12: (0.18 s at -20 dBFS; 0.22 s at -30 dBFS) x 25: M = -23.0 +-0.1 LUFS,
    # constant after 1 s.
    repeats = 5 if block == 1 else 25  # each 400 ms window holds exactly one repeat
    audio = steps(fs, [(-20, 0.18), (-30, 0.22)] * repeats)
    t, momentary, _ = updates(LoudnessMeter(fs, 2), audio, block, fs)
    assert_within(momentary[t >= 1.0 - 1e-9], -23.0, LU, "case 12 M")


# ---- Tech 3341 cases 10 and 13 (file-based meters): the maximum of each segment ------------

@rates
@grid
def test_3341_case_10_max_short_term_per_segment(fs, block):
    # [T P] 10: 20 segments (i * 0.15 s of silence; 3 s at -23 dBFS; 1 s of silence), i = 0..19,
    # each measured on its own: Max S = -23.0 +-0.1 for each segment.
    segments = (0, 1) if block == 1 else range(20)  # tone starts on and half-way between 100 ms
    maxima = []
    for i in segments:
        meter = LoudnessMeter(fs, 2)
        feed(meter, steps(fs, [(None, i * 0.15), (-23, 3.0), (None, 1.0)]), block)
        maxima.append(meter.short_term_max_lufs)
    assert_within(maxima, -23.0, LU, "case 10 Max S")


@rates
@grid
def test_3341_case_13_max_momentary_per_segment(fs, block):
    # [T P] 13: 20 segments (i * 20 ms of silence; 400 ms at -23 dBFS; 1 s of silence), i = 0..19,
    # each measured on its own: Max M = -23.0 +-0.1 for each segment.
    segments = range(5) if block == 1 else range(20)  # i = 0..4: every phase against 100 ms
    maxima = []
    for i in segments:
        meter = LoudnessMeter(fs, 2)
        feed(meter, steps(fs, [(None, i * 0.02), (-23, 0.4), (None, 1.0)]), block)
        maxima.append(meter.momentary_max_lufs)
    assert_within(maxima, -23.0, LU, "case 13 Max M")


# ---- Tech 3341 cases 11 and 14 (live meters): successive maxima -----------------------------

@rates
@grid
@pytest.mark.parametrize("case, tone_s, silence_step_s, tones_at_block_1",
                         [(11, 3.0, 0.15, 2), (14, 0.4, 0.02, 5)], ids=["case11", "case14"])
def test_3341_live_successive_maxima(case, tone_s, silence_step_s, tones_at_block_1, fs, block):
    # [T P] 11: 20 tones (i * 0.15 s of silence; 3 s at -38 + i dBFS; 3 - i * 0.15 s of silence),
    #     i = 0..19, in one stream: Max S = -38, -37, ..., -19 +-0.1, successive values.
    # 14: 20 tones (i * 20 ms of silence; 400 ms at -38 + i dBFS; 400 - i * 20 ms of silence):
    #     Max M likewise. The meter's running maximum is read at the end of each tone's segment.
    tones = tones_at_block_1 if block == 1 else 20
    segments = []
    for i in range(tones):
        segments += [(None, i * silence_step_s), (-38.0 + i, tone_s),
                     (None, tone_s - i * silence_step_s)]
    read = (lambda m: m.short_term_max_lufs) if case == 11 else (lambda m: m.momentary_max_lufs)
    maxima = feed(LoudnessMeter(fs, 2), steps(fs, segments), block,
                  every=round(2 * tone_s * fs), read=read)
    assert len(maxima) == tones
    assert_within(np.array(maxima) - np.arange(-38.0, -38.0 + tones), 0.0, LU,
                  f"case {case} successive Max {'S' if case == 11 else 'M'} (offset from -38 + i)")


# ---- Tech 3341 cases 15-23: true peak -------------------------------------------------------

def assert_true_peak(measured, expected, what):
    assert expected - TP_BELOW <= measured <= expected + TP_ABOVE, \
        f"{what}: {measured:.3f} dBTP is outside {expected} +{TP_ABOVE}/-{TP_BELOW}"


@rates
@grid
@pytest.mark.parametrize("case, period, amplitude, phase_deg, expected", [
    (15, 4, 0.50, 0.0, -6.0),   # fs/4, 0.50 FFS, 0 degrees: the samples hit the crests
    (16, 4, 0.50, 45.0, -6.0),  # fs/4 at 45 degrees: crests half-way between samples
    (17, 6, 0.50, 60.0, -6.0),  # fs/6 at 60 degrees: likewise
    (18, 8, 0.50, 67.5, -6.0),  # fs/8 at 67.5 degrees: likewise
    (19, 4, 1.41, 45.0, 3.0),   # fs/4, 1.41 FFS at 45 degrees: samples at 0 dBFS, +3 dBTP
], ids=[f"case{case}" for case in range(15, 20)])
def test_3341_true_peak_tones(case, period, amplitude, phase_deg, expected, fs, block):
    # [T P L] Stereo sine of frequency fs/period; duration free, 10 ms fade-in and fade-out:
    # max true peak = expected +0.2/-0.4 dBTP.
    n = np.arange(fs)  # 1 s
    x = tapered(amplitude * np.sin(2 * np.pi * n / period + np.radians(phase_deg)), fs)
    meter = LoudnessMeter(fs, 2)
    feed(meter, stereo(x), block)
    assert_true_peak(meter.true_peak_dbtp, expected, f"case {case}")


def burst(fs, offset, seconds=1.0):
    """Tech 3341 cases 20-23: a sine at fs/6, 0.50 FFS, holding one period of an fs/4 sine at
    1.00 FFS, continuous in phase on both sides (spliced at a zero crossing of the fs/6 tone);
    synthesised at 4 fs, tapered with 10 ms fades, low-pass (anti-alias) filtered and kept
    every 4th sample from `offset` (0..3, at the 4 fs rate)."""
    half = int(seconds * fs / 2) // 6  # fs/6 periods on each side
    slow = 0.5 * np.sin(2 * np.pi * np.arange(24 * half) / 24)  # fs/6 at 4 fs: 24 points
    fast = np.sin(2 * np.pi * np.arange(16) / 16)  # one fs/4 period: 16 points
    x4 = tapered(np.concatenate([slow, fast, slow]), 4 * fs)
    taps = firwin(255, 0.45 * fs, window=("kaiser", 10.0), fs=4 * fs)  # linear phase
    filtered = np.convolve(x4, taps)[len(taps) // 2:][:len(x4)]
    return filtered[offset::4]


@pytest.mark.parametrize("offset", range(4), ids=[f"case{20 + k}" for k in range(4)])
def test_3341_burst_signal_itself_peaks_at_0_dbtp(offset):
    # The construction is faithful: the 16x reference (scipy) reads the synthesised signal
    # within 0.2 dB under the 1.00 FFS burst it carries (the low-pass rounds the burst off).
    assert -0.2 <= ref_true_peak_db(burst(48000, offset)) <= 0.0


@rates
@grid
@pytest.mark.parametrize("offset", range(4), ids=[f"case{20 + k}" for k in range(4)])
def test_3341_true_peak_bursts(offset, fs, block):
    # [T P] 20-23: the burst downsampled with a 0, 1, 2, 3 sample offset: max true peak = 0.0
    # +0.2/-0.4 dBTP.
    meter = LoudnessMeter(fs, 2)
    feed(meter, stereo(burst(fs, offset)), block)
    assert_true_peak(meter.true_peak_dbtp, 0.0, f"case {20 + offset}")


# ---- Tech 3342 cases 1-4: loudness range ----------------------------------------------------

@rates
@full_length_only
@pytest.mark.parametrize("case, levels, expected", [
    (1, [-20, -30], 10.0),
    (2, [-20, -15], 5.0),
    (3, [-40, -20], 20.0),
    (4, [-50, -35, -20, -35, -50], 15.0),
], ids=["case1", "case2", "case3", "case4"])
def test_3342_loudness_range(case, levels, expected, fs, block):
    # [P K L] Tech 3342 Table 1: stereo 1 kHz sine, 20 s at each of these dBFS levels in turn:
    # LRA = expected +-1 LU.
    meter = LoudnessMeter(fs, 2)
    feed(meter, steps(fs, [(level, 20.0) for level in levels]), block)
    assert_within([meter.loudness_range_lu], expected, LRA_LU, f"Tech 3342 case {case} LRA")
