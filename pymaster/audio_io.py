"""Streaming audio file I/O for offline jobs: block readers, atomic writes, scratch files.

Files are never loaded whole: readers yield float32 blocks (frames, channels), so memory stays
constant however long the programme is. Outputs are written to a temporary file in the output's
own directory and renamed over the target only when complete, so a failed or interrupted run
never leaves a partial file behind.
"""
import errno
import os
import secrets
import shutil
import struct

import numpy as np
import soundfile as sf

from .errors import AudioFileError

BLOCK_FRAMES = 65536


class AudioReader:
    """An input audio file, checked on open and read in blocks.

    Parameters
    ----------
    path : str or os.PathLike
        Anything libsndfile reads (WAV, FLAC, AIFF, OGG, MP3, ...).

    Raises
    ------
    AudioFileError
        Missing, unreadable, corrupt, empty or truncated file; the message names the file.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise AudioFileError(f"{self.path}: no such file")
        if os.path.isdir(self.path):
            raise AudioFileError(f"{self.path}: is a directory, not an audio file")
        if os.path.getsize(self.path) == 0:
            raise AudioFileError(f"{self.path}: empty file (0 bytes)")
        shortfall = _declared_data_shortfall(self.path)
        if shortfall:
            raise AudioFileError(f"{self.path}: truncated: the header declares {shortfall[0]} "
                                 f"bytes of audio but only {shortfall[1]} are present")
        try:
            info = sf.info(self.path)
        except sf.LibsndfileError as exc:
            raise AudioFileError(f"{self.path}: not a readable audio file "
                                 f"({exc.error_string})") from None
        except OSError as exc:
            raise AudioFileError(f"{self.path}: cannot open ({exc.strerror})") from None
        self.sample_rate = int(info.samplerate)
        self.channels = int(info.channels)
        self.frames = int(info.frames)
        self.format, self.subtype = info.format, info.subtype
        if self.frames <= 0:
            raise AudioFileError(f"{self.path}: contains no audio (0 frames)")

    @property
    def duration_s(self):
        return self.frames / self.sample_rate

    def blocks(self, block_frames=BLOCK_FRAMES):
        """Yield the whole file as float32 arrays shaped (frames, channels).

        Raises AudioFileError if the data is corrupt or ends before the declared length.
        """
        done = 0
        try:
            with sf.SoundFile(self.path) as f:
                while True:
                    block = f.read(block_frames, dtype="float32", always_2d=True)
                    if not len(block):
                        break
                    done += len(block)
                    yield block
        except sf.LibsndfileError as exc:
            raise AudioFileError(f"{self.path}: corrupt or truncated audio after "
                                 f"{done / self.sample_rate:.2f} s ({exc.error_string})") from None
        if done < self.frames:
            raise AudioFileError(f"{self.path}: truncated: {done} of the {self.frames} "
                                 "declared frames could be read")


def _declared_data_shortfall(path):
    """(declared, present) bytes if a WAV 'data' or AIFF 'SSND' chunk runs past the file's end.

    libsndfile quietly shortens such files, so a cut-off transfer would otherwise be mastered
    as if it were complete. Returns None for other formats or a consistent file. Sizes of 0 or
    0xFFFFFFFF mean "unknown" (streamed WAV) and are not called truncated.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            order, wanted = "<", b"data"
        elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            order, wanted = ">", b"SSND"
        else:
            return None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, length = struct.unpack(order + "4sI", f.read(8))
            if chunk_id == wanted:
                present = size - pos - 8
                if length not in (0, 0xFFFFFFFF) and length > present:
                    return length, present
                return None
            pos += 8 + length + (length & 1)  # chunks are padded to an even size
    return None


def _same_file(a, b):
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def check_paths(inputs, outputs, overwrite=False):
    """Refuse to write over an input, to write one file twice, or over an existing file.

    Parameters
    ----------
    inputs, outputs : sequence of path
        Files read and files to be written (None entries are ignored).
    overwrite : bool
        Whether existing outputs may be replaced.
    """
    outputs = [os.fspath(p) for p in outputs if p is not None]
    for out in outputs:
        for src in inputs:
            if _same_file(os.fspath(src), out):
                raise AudioFileError(f"{out}: refusing to overwrite the input file")
        if sum(_same_file(out, other) for other in outputs) > 1:
            raise AudioFileError(f"{out}: named for two different outputs")
        parent = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(parent):
            raise AudioFileError(f"{out}: the directory {parent} does not exist")
        if os.path.isdir(out):
            raise AudioFileError(f"{out}: is a directory")
        if os.path.exists(out) and not overwrite:
            raise AudioFileError(f"{out}: already exists (pass --overwrite to replace it)")


def temp_path(beside, suffix):
    """A new hidden file name in the folder of `beside` (nothing is created yet)."""
    folder, name = os.path.split(os.path.abspath(os.fspath(beside)))
    return os.path.join(folder, f".{name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


class AtomicFile:
    """A temporary name beside `path` to write to, renamed over `path` by :meth:`commit`.

    Used as a context manager: leaving the block without a commit (an error, Ctrl-C, SIGTERM)
    deletes whatever was written there, so the target is either the complete new file or
    untouched. Nothing is created before the block runs, so an interruption at any moment
    leaves nothing behind.
    """

    def __init__(self, path, suffix=".part"):
        self.path = os.fspath(path)
        self.temp = temp_path(self.path, suffix)

    def commit(self):
        os.replace(self.temp, self.path)
        self.temp = None

    def discard(self):
        if self.temp is not None and os.path.exists(self.temp):
            os.unlink(self.temp)
        self.temp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()


class ScratchAudio:
    """Raw interleaved float32 scratch file: the fastest way to keep a render for a later pass.

    Created at `path` (which must not exist; put it where the user has room: /tmp may be RAM),
    deleted by :meth:`close`.
    """

    def __init__(self, path, channels, sample_rate):
        self.path, self.channels, self.sample_rate, self.frames = path, channels, sample_rate, 0
        self._file = open(path, "x+b")

    def write(self, block):
        try:
            self._file.write(np.ascontiguousarray(block, dtype=np.float32).data)
        except OSError as exc:  # a full disk: say so, naming the folder (the name is hidden)
            raise AudioFileError(f"{os.path.dirname(os.path.abspath(self.path))}: cannot "
                                 f"write scratch audio there ({exc.strerror})") from None
        self.frames += len(block)

    def blocks(self, block_frames=BLOCK_FRAMES):
        """Yield what was written, as float32 (frames, channels) arrays."""
        self._file.flush()
        self._file.seek(0)
        left = self.frames
        while left:
            n = min(block_frames, left)
            block = np.empty((n, self.channels), dtype=np.float32)
            if self._file.readinto(block.data) != block.nbytes:
                raise AudioFileError(f"{self.path}: scratch file shorter than written")
            left -= n
            yield block

    def close(self):
        if not self._file.closed:
            self._file.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


FORMATS = {"wav": "WAV", "flac": "FLAC"}
BIT_DEPTHS = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}


def delivery_format(path, format=None, bit_depth="24"):
    """Resolve the output container and sample format.

    Parameters
    ----------
    path : str
        Output path; its extension picks the container when `format` is None.
    format : {"wav", "flac"}, optional
    bit_depth : {"16", "24", "32f"}

    Returns
    -------
    (format, bit_depth) : tuple of str
    """
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if format is None:
        if ext not in FORMATS:
            raise AudioFileError(f"{path}: cannot tell the format from the extension "
                                 f"'.{ext}': name it .wav or .flac, or pass --format")
        format = ext
    format, bit_depth = str(format).lower(), str(bit_depth).lower()
    if format not in FORMATS:
        raise AudioFileError(f"format {format!r} is not supported: use wav or flac")
    if ext in FORMATS and ext != format:
        raise AudioFileError(f"{path}: the extension says {ext} but the format is {format}")
    if bit_depth not in BIT_DEPTHS:
        raise AudioFileError(f"bit depth {bit_depth!r} is not supported: use 16, 24 or 32f")
    if format == "flac" and bit_depth == "32f":
        raise AudioFileError("FLAC holds 16- or 24-bit PCM: use --bit-depth 16 or 24, or WAV")
    return format, bit_depth


def open_writer(path, format, bit_depth, sample_rate, channels, info=None):
    """A writer for a delivery file (``write(block)``, a context manager); `info` holds
    libsndfile string tags (WAV INFO). A failed write raises AudioFileError naming the folder."""
    handle = sf.SoundFile(path, "w", samplerate=int(sample_rate), channels=channels,
                          format=FORMATS[format], subtype=BIT_DEPTHS[bit_depth])
    for key, value in (info or {}).items():
        setattr(handle, key, value)
    return _Writer(handle, path)


class _Writer:
    """A soundfile writer whose failures say why: libsndfile only reports "System error."."""

    def __init__(self, handle, path):
        self._handle, self._path = handle, os.fspath(path)

    def _failed(self, exc):
        folder = os.path.dirname(os.path.abspath(self._path))
        full = shutil.disk_usage(folder).free < 1 << 20  # less than a block's worth
        reason = os.strerror(errno.ENOSPC) if full else exc.error_string
        return AudioFileError(f"{folder}: cannot write audio there ({reason})")

    def write(self, block):
        try:
            self._handle.write(block)
        except sf.LibsndfileError as exc:
            raise self._failed(exc) from None

    def close(self):
        try:
            self._handle.close()
        except sf.LibsndfileError as exc:
            raise self._failed(exc) from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
