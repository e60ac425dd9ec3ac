"""A deterministic demo mix to master: drums, bass, chords, a lead, reverb, song sections.

Not a test tone: an unmastered-sounding stereo mix (peaks a few dB under full scale, about
-20 LUFS, real dynamics between sections), made with wavetables and sampled one-shots in numpy,
so ``pymaster demo`` gives everyone the same file to try the chain on.
"""
import numpy as np

from .audio_io import AtomicFile, check_paths, open_writer

BPM = 120.0
# A minor: i - VI - III - VII, one chord a bar (MIDI notes)
CHORDS = [(57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62)]
LEAD = [76, 74, 72, 74, 76, 79, 76, 74, 72, 69, 72, 74, 72, 69, 67, 69]  # A minor pentatonic
# 16-bar song form: which parts play in each bar
FORM = (["intro"] * 2 + ["verse"] * 4 + ["chorus"] * 4 + ["break"] * 2 + ["chorus"] * 4)
PARTS = {
    "intro": {"pad": 0.7, "hats": 0.5},
    "verse": {"pad": 0.6, "kick": 1.0, "snare": 0.8, "hats": 0.6, "bass": 0.9},
    "chorus": {"pad": 0.9, "kick": 1.0, "snare": 1.0, "hats": 0.9, "bass": 1.0, "lead": 1.0},
    "break": {"pad": 0.8, "lead": 0.7},
}


def _hz(note):
    return 440.0 * 2 ** ((note - 69) / 12)


def _wavetable(brightness, size=2048):
    """One period of a band-limited saw whose upper harmonics roll off (a static low-pass)."""
    k = np.arange(1, 64)
    spectrum = np.zeros(size // 2 + 1, dtype=complex)
    spectrum[1:64] = -1j / k / (1 + (k / brightness) ** 2)
    table = np.fft.irfft(spectrum, size)
    return table / np.max(np.abs(table))


def _tone(table, freq, n, rate, vibrato=0.0):
    """`n` samples of `table` played at `freq` Hz (optionally with a 5 Hz vibrato, semitones)."""
    t = np.arange(n) / rate
    f = freq * 2 ** (vibrato * np.sin(2 * np.pi * 5.0 * t) / 12)
    phase = np.cumsum(f / rate) % 1.0
    return np.interp(phase * len(table), np.arange(len(table) + 1), np.append(table, table[0]))


def _envelope(n, rate, attack, decay, sustain=0.0):
    t = np.arange(n) / rate
    return np.minimum(t / attack, 1.0) * (sustain + (1 - sustain) * np.exp(-t / decay))


def _shaped_noise(rng, n, rate, low, high):
    """White noise band-limited to low..high Hz (FFT mask)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum[(freqs < low) | (freqs > high)] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise / np.max(np.abs(noise))


def _one_shots(rng, rate):
    """Kick, snare and hat samples."""
    n = int(0.5 * rate)
    t = np.arange(n) / rate
    kick = np.sin(2 * np.pi * np.cumsum(45 + 110 * np.exp(-t * 35)) / rate) * np.exp(-t * 9)
    kick += 0.3 * _shaped_noise(rng, n, rate, 1000, 5000) * np.exp(-t * 150)  # beater click
    snare = (0.5 * np.sin(2 * np.pi * 185 * t) * np.exp(-t * 25)
             + _shaped_noise(rng, n, rate, 1500, 9000) * np.exp(-t * 18))
    hat = _shaped_noise(rng, n // 4, rate, 7000, 0.45 * rate) * np.exp(-t[:n // 4] * 60)
    return kick, snare / np.max(np.abs(snare)), hat


def _reverb_ir(rng, rate, seconds=1.4):
    """Stereo impulse response: decorrelated noise decaying over `seconds` (RT60)."""
    n = int(seconds * rate)
    decay = np.exp(-6.9 * np.arange(n) / n)
    ir = rng.standard_normal((n, 2)) * decay[:, None]
    ir[:int(0.02 * rate)] = 0  # pre-delay
    return ir / np.sqrt(np.sum(ir ** 2, axis=0))


def _place(track, sample, start, gain=1.0):
    end = min(len(track), start + len(sample))
    if start < end:
        track[start:end] += gain * sample[:end - start]


def demo_mix(seconds=30.0, sample_rate=44100, seed=0):
    """Generate the demo mix.

    Parameters
    ----------
    seconds : float
        Length, 1..600 s; the 16-bar song form (32 s) repeats for longer mixes.
    sample_rate : int
        8000..192000 Hz.
    seed : int
        Same seed, same mix (bit for bit).

    Returns
    -------
    numpy.ndarray
        float32, shape (frames, 2), peaks at -3 dBFS.
    """
    if not 1 <= seconds <= 600:
        raise ValueError(f"seconds={seconds!r} is out of range: allowed 1..600")
    if not 8000 <= sample_rate <= 192000:
        raise ValueError(f"sample_rate={sample_rate!r} is out of range: allowed 8000..192000")
    rate, rng = int(sample_rate), np.random.default_rng(seed)
    n = int(seconds * rate)
    beat = int(round(60.0 / BPM * rate))
    bar = 4 * beat
    kick, snare, hat = _one_shots(rng, rate)
    dry = {name: np.zeros((n, 2)) for name in ("drums", "bass", "pad", "lead")}
    pads = [_wavetable(b) for b in (6.0, 7.0)]  # left and right: slightly different colour
    bass_table, lead_table = _wavetable(5.0), _wavetable(12.0)

    for index in range(0, n // bar + 1):
        start, parts = index * bar, PARTS[FORM[index % len(FORM)]]
        chord = CHORDS[index % len(CHORDS)]
        humanise = rng.uniform(0.85, 1.0, 16)
        for step in range(16):  # 16th-note grid
            pos = start + step * beat // 4
            if "kick" in parts and step % 4 == 0:
                _place(dry["drums"], np.c_[kick, kick], pos, parts["kick"] * humanise[step])
            if "snare" in parts and step in (4, 12):
                _place(dry["drums"], np.c_[snare * 0.9, snare], pos, 0.7 * parts["snare"])
            if "hats" in parts and step % 2 == 0:
                pan = np.array([0.7, 1.0]) * (0.25 if step % 4 == 0 else 0.4)
                _place(dry["drums"], hat[:, None] * pan, pos, parts["hats"] * humanise[step])
            if "bass" in parts and step % 2 == 0:
                length = beat // 2
                tone = _tone(bass_table, _hz(chord[0] - 24), length, rate)
                tone *= _envelope(length, rate, 0.004, 0.18, 0.4)
                _place(dry["bass"], np.c_[tone, tone], pos, 0.55 * parts["bass"])
            if "lead" in parts and step % 2 == 0 and humanise[step] > 0.88:
                note = LEAD[(index * 8 + step // 2) % len(LEAD)]
                length = beat if step % 4 == 0 else beat // 2
                tone = _tone(lead_table, _hz(note), length, rate, vibrato=0.15)
                tone *= _envelope(length, rate, 0.01, 0.25, 0.5)
                _place(dry["lead"], np.c_[tone * 0.8, tone], pos, 0.3 * parts["lead"])
        if "pad" in parts:
            env = _envelope(bar, rate, 0.3, 1.5, 0.6)
            for note in chord:
                for side, table in enumerate(pads):
                    detune = 1.0 + (0.003 if side else -0.003)
                    _place(dry["pad"][:, side], _tone(table, _hz(note) * detune, bar, rate) * env,
                           start, 0.12 * parts["pad"])

    # delay on the lead (dotted eighth), then a shared reverb send
    echo = 3 * beat // 4
    lead = dry["lead"].copy()
    lead[echo:] += 0.35 * dry["lead"][:-echo, ::-1]
    send = 0.25 * dry["drums"] + 0.5 * dry["pad"] + 0.4 * lead
    ir = _reverb_ir(rng, rate)
    size = 1 << int(np.ceil(np.log2(n + len(ir))))
    wet = np.fft.irfft(np.fft.rfft(send, size, axis=0) * np.fft.rfft(ir, size, axis=0),
                       size, axis=0)[:n]
    mix = dry["drums"] + dry["bass"] + dry["pad"] + lead + 0.3 * wet
    fade = min(n, int(0.5 * rate))  # no click at the cut
    mix[-fade:] *= np.linspace(1.0, 0.0, fade)[:, None]
    mix *= 10 ** (-3.0 / 20) / np.max(np.abs(mix))
    return mix.astype(np.float32)


def write_demo(path, seconds=30.0, sample_rate=44100, seed=0, overwrite=False):
    """Write :func:`demo_mix` as a 24-bit WAV (atomically); returns the path."""
    check_paths([], [path], overwrite)
    mix = demo_mix(seconds, sample_rate, seed)
    with AtomicFile(path) as out:
        with open_writer(out.temp, "wav", "24", sample_rate, 2,
                         {"title": "pymaster demo mix", "software": "pymaster demo"}) as f:
            f.write(mix)
        out.commit()
    return path
