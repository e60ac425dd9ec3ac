"""A deterministic demo mix to master: drums, bass, chords, a lead, reverb, song sections.

Not a test tone: an unmastered-sounding stereo mix (peaks a few dB under full scale, about
-20 LUFS, real dynamics between sections), made with wavetables and sampled one-shots in numpy,
so ``pymaster demo`` gives everyone the same file to try the chain on.

Vectorised: every note starts on a grid of 16th notes, so each instrument is one array
operation per chunk of bars (its few distinct sounds, rendered once, gathered onto the grid)
and the reverb one FFT convolution per chunk; no loop runs per note or per sample.
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
STEPS = 16                 # 16th notes per bar
CHUNK_BARS = 4             # bars made at a time: small buffers, one reverb FFT per chunk


def _hz(note):
    return 440.0 * 2 ** ((np.asarray(note) - 69) / 12)


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
    hat = (_shaped_noise(rng, n // 4, rate, min(7000, 0.35 * rate), 0.45 * rate)  # 8 kHz too
           * np.exp(-t[:n // 4] * 60))
    return kick, snare / np.max(np.abs(snare)), hat


def _reverb_ir(rng, rate, seconds=1.4):
    """Stereo impulse response: decorrelated noise decaying over `seconds` (RT60)."""
    n = int(seconds * rate)
    decay = np.exp(-6.9 * np.arange(n) / n)
    ir = rng.standard_normal((n, 2)) * decay[:, None]
    ir[:int(0.02 * rate)] = 0  # pre-delay
    return ir / np.sqrt(np.sum(ir ** 2, axis=0))


def _play(track, step, every, at, sounds, which, gains):
    """Add ``gains[i] * sounds[which[i]]`` at 16th `at` of the i-th group of `every` 16ths.

    `track` (frames, 2) is a whole number of groups long; a sound (frames, 2) is cut to what
    is left of its group, so the copies of one sound never overlap and one fancy-indexed
    addition plays them all.
    """
    groups = track.reshape(-1, every * step, 2)
    start = at * step
    length = min(sounds.shape[1], groups.shape[1] - start)
    gains = np.asarray(gains, dtype=np.float32).reshape(len(groups), 1, -1)
    groups[:, start:start + length] += gains * sounds[np.ravel(which), :length]


def _stereo(left, right):
    return np.stack([left, right], axis=-1).astype(np.float32)


class _Band:
    """The song's parts, pre-rendered once: each distinct sound, and per bar its gains."""

    def __init__(self, rng, rate, bars):
        self.step = step = int(round(60.0 / BPM / 4 * rate))  # a 16th: every note starts here
        beat, bar = 4 * step, STEPS * step
        kick, snare, hat = _one_shots(rng, rate)
        humanise = rng.uniform(0.85, 1.0, (bars, STEPS))
        level = {part: np.array([PARTS[FORM[b % len(FORM)]].get(part, 0.0)
                                 for b in range(bars)])
                 for part in ("pad", "kick", "snare", "hats", "bass", "lead")}
        chord = np.arange(bars) % len(CHORDS)
        pan = np.array([0.25, 0.4] * 4)[:, None] * [0.7, 1.0]  # hats: quieter on the beat
        self.parts = {  # track: [(every, at, sounds, which, gains)], which and gains per bar
            "drums": [(4, 0, _stereo(kick, kick)[None], np.zeros((bars, 4), int),
                       level["kick"][:, None] * humanise[:, 0::4]),
                      (8, 4, _stereo(snare * 0.9, snare)[None], np.zeros((bars, 2), int),
                       np.repeat(0.7 * level["snare"][:, None], 2, axis=1)),
                      (2, 0, _stereo(hat, hat)[None], np.zeros((bars, 8), int),
                       level["hats"][:, None, None] * humanise[:, 0::2, None] * pan)],
            "bass": [(2, 0, self._notes(_wavetable(5.0), [c[0] - 24 for c in CHORDS],
                                        beat // 2, rate, (0.004, 0.18, 0.4)),
                      np.repeat(chord[:, None], 8, axis=1),
                      np.repeat(0.55 * level["bass"][:, None], 8, axis=1))],
            "lead": [], "pad": []}
        notes, which = np.unique(LEAD, return_inverse=True)
        table = _wavetable(12.0)
        for at, length in ((0, beat), (2, beat // 2)):  # long notes on the beat, short between
            sounds = self._notes(table, notes, length, rate, (0.01, 0.25, 0.5),
                                 vibrato=0.15) * np.float32([0.8, 1.0])
            position = np.arange(bars)[:, None] * 8 + np.arange(at // 2, 8, 2)  # in LEAD
            plays = humanise[:, at::4] > 0.88
            self.parts["lead"].append((4, at, sounds, which[position % len(LEAD)],
                                       0.3 * level["lead"][:, None] * plays))
        env = _envelope(bar, rate, 0.3, 1.5, 0.6)
        tables = [_wavetable(b) for b in (6.0, 7.0)]  # left and right: slightly other colours
        chords = np.stack([_stereo(*(sum(_tone(t, f * detune, bar, rate) for f in _hz(c)) * env
                                     for t, detune in zip(tables, (0.997, 1.003))))
                           for c in CHORDS])
        self.parts["pad"].append((STEPS, 0, chords, chord, 0.12 * level["pad"]))

    @staticmethod
    def _notes(table, notes, length, rate, envelope, vibrato=0.0):
        """(notes, length, 2): each note of `notes` (MIDI) played on `table`, enveloped."""
        env = _envelope(length, rate, *envelope)
        return np.stack([_stereo(tone, tone) for tone in
                         (_tone(table, f, length, rate, vibrato) * env for f in _hz(notes))])

    def play(self, first, bars):
        """{track: (frames, 2)} of bars first..first+bars-1."""
        frames = bars * STEPS * self.step
        tracks = {}
        for name, layers in self.parts.items():
            tracks[name] = track = np.zeros((frames, 2), dtype=np.float32)
            for every, at, sounds, which, gains in layers:
                _play(track, self.step, every, at, sounds, which[first:first + bars],
                      gains[first:first + bars])
        return tracks


def _fast_size(n):
    """The smallest 2^a 3^b 5^c >= n: an FFT length numpy's pocketfft does quickly."""
    best, p5 = 1 << (n - 1).bit_length(), 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            size = p35
            while size < n:
                size *= 2
            best, p35 = min(best, size), p35 * 3
        p5 *= 5
    return best


class _Reverb:
    """A stereo reverb fed in mono: the send's channel mean convolved with each channel of a
    decorrelated IR (streaming overlap-add, one FFT per chunk, tails carried over)."""

    def __init__(self, ir, chunk):
        self.size = _fast_size(chunk + len(ir) - 1)
        self.response = np.fft.rfft(ir.T.astype(np.float32), self.size)
        self.tail = np.zeros((2, len(ir) - 1), dtype=np.float32)

    def process(self, send):
        """The wet signal (frames, 2) for `send` (frames, 2), at most one chunk long."""
        frames = len(send)
        mono = np.fft.rfft(send.mean(axis=1), self.size)
        wet = np.fft.irfft(mono * self.response, self.size)
        wet[:, :self.tail.shape[1]] += self.tail
        self.tail = wet[:, frames:frames + self.tail.shape[1]].copy()
        return wet[:, :frames].T


def demo_mix(seconds=30.0, sample_rate=44100, seed=0, progress=None):
    """Generate the demo mix.

    Parameters
    ----------
    seconds : float
        Length, 1..600 s; the 16-bar song form (32 s) repeats for longer mixes.
    sample_rate : int
        8000..192000 Hz.
    seed : int
        Same seed, same mix (bit for bit).
    progress : callable, optional
        ``progress("generate", frames_done, frames_total)``, called as the mix is made.

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
    bar = STEPS * int(round(60.0 / BPM / 4 * rate))
    bars = -(-n // bar)
    band = _Band(rng, rate, bars)
    reverb = _Reverb(_reverb_ir(rng, rate), min(CHUNK_BARS, bars) * bar)
    echo = 3 * bar // 16  # the lead's delay: a dotted eighth
    fade = min(n, int(0.5 * rate))  # at the end: no click at the cut
    mix, peak = np.empty((n, 2), dtype=np.float32), 0.0
    lead_before = np.zeros((echo, 2), dtype=np.float32)
    for first in range(0, bars, CHUNK_BARS):
        count = min(CHUNK_BARS, bars - first)
        t = band.play(first, count)
        lead = t["lead"].copy()  # + its delay, fed by this chunk and the end of the last one
        lead += 0.35 * np.concatenate([lead_before, t["lead"]])[:len(lead), ::-1]
        lead_before = t["lead"][-echo:]
        wet = reverb.process(0.25 * t["drums"] + 0.5 * t["pad"] + 0.4 * lead)
        start = first * bar
        end = min(n, start + len(lead))
        chunk = mix[start:end]
        chunk[:] = (t["drums"] + t["bass"] + t["pad"] + lead + 0.3 * wet)[:end - start]
        if end > n - fade:
            gain = np.clip((n - np.arange(start, end)) / fade, 0.0, 1.0)
            chunk *= gain.astype(np.float32)[:, None]
        peak = max(peak, float(np.max(np.abs(chunk))))
        if progress:
            progress("generate", end, n)
    mix *= np.float32(10 ** (-3.0 / 20) / peak)
    return mix


def write_demo(path, seconds=30.0, sample_rate=44100, seed=0, overwrite=False, progress=None,
               block_frames=65536):
    """Write :func:`demo_mix` as a 24-bit WAV (atomically); returns the path.

    `progress` is called as for :func:`demo_mix`, then as ``progress("write", done, total)``.
    """
    check_paths([], [path], overwrite)
    mix = demo_mix(seconds, sample_rate, seed, progress)
    with AtomicFile(path) as out:
        with open_writer(out.temp, "wav", "24", sample_rate, 2,
                         {"title": "pymaster demo mix", "software": "pymaster demo"}) as f:
            for start in range(0, len(mix), block_frames):
                f.write(mix[start:start + block_frames])
                if progress:
                    progress("write", min(start + block_frames, len(mix)), len(mix))
        out.commit()
    return path
