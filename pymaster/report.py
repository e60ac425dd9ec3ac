"""The mastering report: a JSON summary of a job and a one-page PNG plot of it."""
import json
import math

import numpy as np

from .audio_io import AtomicFile


def _mean(values):
    return float(np.mean(values)) if len(values) else 0.0


def _chain_settings(chain, preset):
    comp = dict(chain.compressor.params, enabled=not chain.bypassed("compressor"))
    return {
        "sample_rate": int(chain.sample_rate),
        "channels": chain.channels,
        "eq": chain.eq.bands,
        "compressor": comp,
        "limiter": {"ceiling_dbtp": chain.limiter.ceiling_dbtp,
                    "lookahead_ms": chain.limiter.lookahead_ms,
                    "release_ms": chain.limiter.release_ms,
                    "auto_release": chain.limiter.auto_release,
                    "max_gain_reduction_db": preset.max_gain_reduction_db},
    }


def build_report(*, input_path, output_path, preset, target, ceiling, fmt, depth,
                 input_analysis, output_analysis, chain, chosen, renders, trim, reached,
                 warnings, tags, elapsed, version, window_s=0.4):
    """Assemble the report dict of a master job (called by :func:`pymaster.render.master`).

    Keys: ``input`` and ``output`` (analyses, the keys of :func:`pymaster.analysis.analyze`),
    ``target`` (``integrated_lufs``, ``ceiling_dbtp``, ``reached``), ``gain`` (``drive_db``
    into the chain, ``trim_db`` after it, ``applied_gain_db`` their sum), ``gain_reduction``
    (limiter and compressor: the largest reduction, and the mean of the reduction sampled
    every 0.4 s, dB), ``latency_samples`` (compensated), ``chain`` (settings used),
    ``delivery``, ``renders`` (every pass through the chain), ``warnings``, ``elapsed_s`` and
    ``speed_x_realtime``.
    """
    duration = input_analysis["duration_s"]
    return {
        "pymaster_version": version,
        "input_path": str(input_path),
        "output_path": str(output_path),
        "preset": {"name": preset.name, "path": preset.path},
        "target": {"integrated_lufs": target, "ceiling_dbtp": ceiling, "reached": reached},
        "delivery": {"format": fmt, "bit_depth": depth, "sample_rate": int(chain.sample_rate),
                     "channels": chain.channels,
                     "dither": "tpdf" if depth in ("16", "24") else "none", "tags": tags},
        "input": input_analysis,
        "output": output_analysis,
        "gain": {"drive_db": chosen.drive_db, "trim_db": trim,
                 "applied_gain_db": chosen.drive_db + trim},
        "gain_reduction": {"limiter_max_db": chosen.limiter_gr_max,
                           "limiter_mean_db": _mean(chosen.limiter_gr),
                           "compressor_max_db": chosen.compressor_gr_max,
                           "compressor_mean_db": _mean(chosen.compressor_gr),
                           "sampled_every_s": window_s},
        "latency_samples": chain.latency_samples,
        "chain": _chain_settings(chain, preset),
        "renders": [r.summary() for r in renders],
        "warnings": warnings,
        "elapsed_s": elapsed,
        "speed_x_realtime": duration / elapsed if elapsed > 0 else None,
    }


def jsonable(value):
    """`value` with non-finite floats (the loudness of silence: -inf) turned into None."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_report(report, path):
    """Write the report as JSON (atomically: temp file, then rename)."""
    with AtomicFile(path) as out:
        with open(out.temp, "w", encoding="utf-8") as f:
            json.dump(jsonable(report), f, indent=2)
            f.write("\n")
        out.commit()


def _smooth_spectrum(spectrum, per_octave=6):
    """Average a linear-frequency spectrum into 1/`per_octave` octave bands for a calm plot."""
    freqs, power_db = spectrum
    edges = 20.0 * 2.0 ** (np.arange(0, 11 * per_octave + 1) / per_octave)
    power = 10 ** (power_db / 10)
    centres, values = [], []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (freqs >= low) & (freqs < high)
        if inside.any():
            centres.append(math.sqrt(low * high))
            values.append(10 * math.log10(power[inside].mean()))
    return centres, values


def matched_spectra(report, curves):
    """The spectrum panel's curves, loudness-matched: [(label, style, (freqs, dB))], title.

    The master is louder than the mix by its gain, which would lift its whole spectrum and
    hide the tonal change; so the "after" curve is moved by the integrated loudness difference
    (input - output), drawing both at the input's loudness: what still differs is the EQ and
    the dynamics, not the level.
    """
    before, after = report["input"]["integrated_lufs"], report["output"]["integrated_lufs"]
    matched = all(v is not None and math.isfinite(v) for v in (before, after))
    shift = before - after if matched else 0.0
    lines = []
    for name, label, style, offset in (("input_spectrum", "before", "0.6", 0.0),
                                       ("output_spectrum", f"after, {shift:+.1f} dB", "C0",
                                        shift)):
        if curves[name] is not None:
            freqs, values = _smooth_spectrum(curves[name])
            lines.append((label, style, (freqs, [v + offset for v in values])))
    title = ("Average spectrum (1/6 octave), loudness-matched: after moved to the loudness of "
             "before" if matched else "Average spectrum (1/6 octave), not loudness-matched "
             "(silence)")
    return lines, title


def write_plot(report, curves, path):
    """One-page PNG: short-term loudness before/after, gain reduction, and the average spectrum
    before/after, loudness-matched (see :func:`matched_spectra`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 9), layout="constrained")
    FigureCanvasAgg(fig)
    loud, gr, spec = fig.subplots(3, 1)
    target, out = report["target"], report["output"]
    fig.suptitle(f"{report['input_path']}  ->  {report['output_path']}\n"
                 f"preset {report['preset']['name']}: {out['integrated_lufs']:.1f} LUFS "
                 f"(target {target['integrated_lufs']:g}), {out['true_peak_dbtp']:.2f} dBTP "
                 f"(ceiling {target['ceiling_dbtp']:g}), LRA {out['loudness_range_lu']:.1f} LU")

    for name, label, style in (("input_short_term", "before", "0.6"),
                               ("output_short_term", "after", "C0")):
        points = [(t, v) for t, v in curves[name] or [] if math.isfinite(v)]
        if points:
            loud.plot(*zip(*points), color=style, label=label)
    loud.axhline(target["integrated_lufs"], color="C3", ls="--", lw=1, label="target")
    loud.set(title="Short-term loudness (3 s)", xlabel="time (s)", ylabel="LUFS")
    loud.legend(loc="lower right")
    loud.grid(alpha=0.3)

    step = curves["window_s"]
    for name, label, color in (("limiter_gr", "limiter", "C3"),
                               ("compressor_gr", "compressor", "C1")):
        values = -np.asarray(curves[name] or [0.0])
        times = (np.arange(len(values)) + 1) * step
        gr.fill_between(times, values, 0, step="pre", color=color, alpha=0.35, label=label)
    reduction = report["gain_reduction"]
    gr.set(title=f"Gain reduction (limiter max {reduction['limiter_max_db']:.1f} dB, "
                 f"mean {reduction['limiter_mean_db']:.1f} dB)",
           xlabel="time (s)", ylabel="dB")
    gr.legend(loc="lower right")
    gr.grid(alpha=0.3)

    lines, title = matched_spectra(report, curves)
    for label, style, (freqs, values) in lines:
        spec.semilogx(freqs, values, color=style, label=label)
    spec.set(title=title, xlabel="frequency (Hz)", ylabel="dB", xlim=(20, 20000))
    spec.legend(loc="lower left")
    spec.grid(alpha=0.3, which="both")

    with AtomicFile(path) as out:
        fig.savefig(out.temp, format="png", dpi=100)
        out.commit()
