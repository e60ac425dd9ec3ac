"""Offline mastering of a file: measure, render at a predicted drive, correct, deliver.

Passes over the audio, each streamed in blocks (memory stays constant):

1. measure the input (resampled once into a scratch file if the output rate differs);
2. render it through the chain at a drive predicted from that measurement, into a float32
   scratch file, metering the output;
3. only if that missed, render again with a corrected drive (see ``_drive``);
4. write the delivery file from the chosen render: a pure gain trim (a trim down keeps the
   ceiling), dither to 16/24 bits, and a meter on exactly the data written.

The true-peak ceiling is then checked on the final data: a master that broke it is not
delivered. Output files appear only complete (temp file, then rename).
"""
import math
import os
import time

from . import __version__, metadata
from ._drive import DriveSearch, LoudnessModel
from ._passes import deliver_pass, measure_pass, render_pass
from ._pipeline import prefetch
from .analysis import Analyzer
from .audio_io import (AtomicFile, AudioReader, ScratchAudio, check_paths, delivery_format,
                       temp_path)
from .errors import DeliveryError, UserError
from .presets import SCHEMA, Preset, load_preset

WINDOW_S = 0.4           # resolution of the loudness and gain-reduction curves
MAX_RENDERS = 4
CEILING_SLACK_DB = 1e-3  # final true peak above ceiling + this: not delivered


class TargetNotReached(UserError):
    """With ``strict=True``: the loudness target could not be met within the preset's limits."""


def _check_option(section, key, value, flag):
    if value is not None and SCHEMA[section][key].check(value) is None:
        raise UserError(f"{flag} {value!r} is out of range: allowed "
                        f"{SCHEMA[section][key].allowed()}")


def master(input_path, output_path, *, preset="streaming", target_lufs=None, ceiling_dbtp=None,
           format=None, bit_depth=None, sample_rate=None, tags=None, overwrite=False,
           report_path=None, plot_path=None, strict=False, progress=None, dither_seed=0,
           block_frames=65536):
    """Master an audio file to a loudness target under a true-peak ceiling.

    Parameters
    ----------
    input_path, output_path : str or os.PathLike
        Any file soundfile reads; a WAV or FLAC to write (never the input).
    preset : str or Preset
        Built-in preset name, path of a preset TOML file, or a loaded :class:`Preset`.
    target_lufs, ceiling_dbtp : float, optional
        Override the preset's integrated loudness target and true-peak ceiling.
    format : {"wav", "flac"}, optional
        Default: from the output's extension.
    bit_depth : {"16", "24", "32f"}, optional
        Default: the preset's. 16 and 24 bits are TPDF dithered, 32f is not.
    sample_rate : int, optional
        Output rate (soxr resampling before the chain). Default: the preset's, else the input's.
    tags : dict, optional
        Metadata, keys from :data:`pymaster.metadata.FIELDS` (``isrc`` is validated).
    overwrite : bool
        Replace an existing output (the input never).
    report_path, plot_path : str, optional
        Also write the JSON report / the PNG plot there.
    strict : bool
        Raise :class:`TargetNotReached`, delivering nothing, if the target cannot be met.
    progress : callable, optional
        ``progress(stage, frames_done, frames_total)``, called after every block.
    dither_seed : int
        Seed of the dither noise: the same job gives the same file.

    Returns
    -------
    dict
        The report (see :func:`pymaster.report.build_report`).

    Raises
    ------
    pymaster.errors.UserError
        Bad input file, output path, preset, option or tag; or the subclasses
        :class:`TargetNotReached` (strict) and ``DeliveryError`` (ceiling broken).
    """
    started = time.perf_counter()
    preset = preset if isinstance(preset, Preset) else load_preset(preset)
    _check_option("target", "integrated_lufs", target_lufs, "--target-lufs")
    _check_option("target", "ceiling_dbtp", ceiling_dbtp, "--ceiling-dbtp")
    _check_option("output", "sample_rate", sample_rate, "--sample-rate")
    target = preset.target_lufs if target_lufs is None else float(target_lufs)
    ceiling = preset.ceiling_dbtp if ceiling_dbtp is None else float(ceiling_dbtp)
    tags = metadata.normalize_tags(tags)
    fmt, depth = delivery_format(output_path, format, bit_depth or preset.bit_depth)
    check_paths([input_path], [output_path, report_path, plot_path], overwrite)
    reader = AudioReader(input_path)
    rate = int(sample_rate or preset.sample_rate or reader.sample_rate)
    channels, folder = reader.channels, os.path.dirname(os.path.abspath(output_path))
    window = max(1, round(WINDOW_S * rate))
    block_frames = window * max(1, round(block_frames / window))  # whole windows per block
    frames_out = round(reader.frames * rate / reader.sample_rate)
    chain = preset.build_chain(rate, channels, dither_seed, ceiling)
    chain.metering = False  # metered in the passes, on the latency-compensated output
    tick = progress or (lambda *args: None)

    def stream(stage, blocks, total):
        done = 0
        for block in prefetch(blocks):
            done += len(block)
            tick(stage, min(done, total), total)
            yield block

    with _Scratch(folder, channels, rate) as scratch:
        # ---- 1: measure ----
        source = scratch.new() if rate != reader.sample_rate else None
        in_meter = Analyzer(reader.sample_rate, channels, WINDOW_S, spectrum=bool(plot_path))
        probe = Analyzer(reader.sample_rate, channels, WINDOW_S, peaks=True)
        measure_pass(stream("measure", reader.blocks(block_frames), reader.frames), in_meter,
                     probe, preset.eq, source, rate, frames_out)
        input_analysis = in_meter.result()

        # ---- 2, 3: render; again only if that missed ----
        model = LoudnessModel.from_probe(
            probe, chain.compressor.params if preset.compressor_enabled else None, ceiling)
        search = DriveSearch(model, target, ceiling, preset.max_gain_reduction_db)
        silent = not math.isfinite(input_analysis["integrated_lufs"])
        drive = 0.0 if silent else search.first_drive()
        while drive is not None and len(search.renders) < MAX_RENDERS:
            data = source.blocks(block_frames) if source else reader.blocks(block_frames)
            blocks = stream(f"render {len(search.renders) + 1}", data, frames_out)
            search.add(render_pass(chain, blocks, drive, scratch.new(), window))
            for r in search.renders:  # disk: keep only the render that would be delivered
                if r is not search.best():
                    r.scratch.close()
            if silent or search.acceptable(search.renders[-1]):
                break
            drive = search.next_drive()
        chosen = search.best()
        trim = 0.0 if silent else search.trim_for(chosen)

        # ---- 4: deliver ----
        out_meter = Analyzer(rate, channels, WINDOW_S, spectrum=bool(plot_path))
        with AtomicFile(output_path) as final:
            deliver_pass(stream("write", chosen.scratch.blocks(block_frames), frames_out),
                         final.temp, fmt, depth, rate, channels, trim, dither_seed, tags,
                         out_meter)
            output_analysis = out_meter.result()
            if output_analysis["true_peak_dbtp"] > ceiling + CEILING_SLACK_DB:
                raise DeliveryError(
                    f"{output_path}: not delivered: its true peak "
                    f"{output_analysis['true_peak_dbtp']:.3f} dBTP is over the ceiling "
                    f"{ceiling:g} dBTP (please report this as a bug)")
            warnings, reached = _shortfall(search, output_analysis, silent)
            if strict and not reached:
                raise TargetNotReached(f"{warnings[0]}; nothing written (--strict)")
            metadata.write_tags(final.temp, fmt, tags)
            final.commit()

    from .report import build_report, write_plot, write_report  # matplotlib only if asked
    report = build_report(
        input_path=input_path, output_path=output_path, preset=preset, target=target,
        ceiling=ceiling, fmt=fmt, depth=depth, input_analysis=input_analysis,
        output_analysis=output_analysis, chain=chain, chosen=chosen, renders=search.renders,
        trim=trim, reached=reached, warnings=warnings, tags=tags,
        elapsed=time.perf_counter() - started, version=__version__, window_s=window / rate)
    if report_path:
        write_report(report, report_path)
    if plot_path:
        curves = {"input_short_term": in_meter.timeline, "output_short_term": out_meter.timeline,
                  "limiter_gr": chosen.limiter_gr, "compressor_gr": chosen.compressor_gr,
                  "window_s": window / rate, "input_spectrum": in_meter.spectrum_db(),
                  "output_spectrum": out_meter.spectrum_db()}
        write_plot(report, curves, plot_path)
    return report


def _shortfall(search, output_analysis, silent):
    """(warnings, reached): what to tell the user if the target was missed."""
    if silent:
        why = ("shorter than the 0.4 s loudness needs" if output_analysis["duration_s"] < 0.4
               else "silent")
        return [f"the input is {why}: no loudness target can be reached (gain left at 0 dB)"], \
            False
    achieved = output_analysis["integrated_lufs"]
    if achieved >= search.target - 0.1:
        return [], True
    return [f"target {search.target:g} LUFS not reached: the master is {achieved:.2f} LUFS; "
            + search.shortfall(achieved)], False


class _Scratch:
    """The scratch files of one job, in the output's folder; all deleted at the end.

    A name is recorded before its file is created, so even an interruption in between
    leaves nothing behind.
    """

    def __init__(self, folder, channels, rate):
        self.folder, self.channels, self.rate = folder, channels, rate
        self.paths, self.files = [], []

    def new(self):
        self.paths.append(temp_path(os.path.join(self.folder, "pymaster"), ".f32"))
        self.files.append(ScratchAudio(self.paths[-1], self.channels, self.rate))
        return self.files[-1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for f in self.files:
            f.close()
        for path in self.paths:
            if os.path.exists(path):
                os.unlink(path)
