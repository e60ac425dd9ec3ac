"""Meters of a running LiveEngine: a rich table on a terminal, one log line when headless.

Both read the chain's lock-free meter snapshot from the control thread; nothing here touches
the audio thread.
"""
import math


def _db(value, width=6):
    return f"{value:{width}.1f}" if math.isfinite(value) else f"{'-inf':>{width}}"


def meter_line(engine, target_lufs=None):
    """One line for logs: loudness, true peak, gain reduction, xruns.

    Example: ``M -14.2 S -14.8 I -14.5 LUFS (target -14) TP -1.1 dBTP GR comp 1.2 lim 0.8 dB
    xruns 0``.
    """
    m = engine.chain.meters()
    target = f" (target {target_lufs:g})" if target_lufs is not None else ""
    return (f"M {_db(m.momentary_lufs, 0)} S {_db(m.short_term_lufs, 0)} "
            f"I {_db(m.integrated_lufs, 0)} LUFS{target} TP {_db(m.true_peak_dbtp, 0)} dBTP "
            f"GR comp {abs(m.compressor_gr_db):.1f} lim {abs(m.limiter_gr_db):.1f} dB "
            f"(max {abs(m.limiter_gr_max_db):.1f}) xruns {engine.xruns['total']}")


def _bar(value, low, high, width=24):
    if not math.isfinite(value):
        return " " * width
    filled = round(width * min(max((value - low) / (high - low), 0.0), 1.0))
    return "#" * filled + "." * (width - filled)


def meter_table(engine, title, target_lufs=None):
    """A rich Table of the meters (imported lazily: rich is needed only on a terminal)."""
    from rich.table import Table

    m = engine.chain.meters()
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column()
    lufs = [("momentary", m.momentary_lufs), ("short-term", m.short_term_lufs),
            ("integrated", m.integrated_lufs)]
    for name, value in lufs:
        table.add_row(name, f"{_db(value)} LUFS", _bar(value, -40, 0))
    if target_lufs is not None:
        table.add_row("target", f"{target_lufs:6.1f} LUFS", "")
    style = "red" if m.true_peak_dbtp > engine.chain.limiter.ceiling_dbtp + 0.05 else ""
    table.add_row("true peak", f"[{style}]{_db(m.true_peak_dbtp)} dBTP" if style
                  else f"{_db(m.true_peak_dbtp)} dBTP", "")
    comp, lim = abs(m.compressor_gr_db), abs(m.limiter_gr_db)  # no "-0.0"
    table.add_row("comp GR", f"{comp:6.1f} dB", _bar(comp, 0, 12))
    table.add_row("limiter GR", f"{lim:6.1f} dB", _bar(lim, 0, 12))
    xruns = engine.xruns["total"]
    table.add_row("xruns", f"[red]{xruns}" if xruns else "0", "")
    return table


class MeterDisplay:
    """Redraws :func:`meter_table` in place on a terminal (call :meth:`update` ~10x a second).

    Create it before audio starts: rich is imported and warmed up here, since importing and
    compiling modules holds the GIL for milliseconds, long enough for the audio callback, which
    needs the GIL too, to miss its deadline.
    """

    def __init__(self, target_lufs=None):
        import io

        from rich.console import Console
        from rich.live import Live
        from rich.table import Table

        warm = Table(title="warm-up")
        warm.add_row("x", "[red]1", "#")
        Console(file=io.StringIO(), width=80).print(warm)
        self.engine = self.title = None
        self.target = target_lufs
        self._live = Live(console=Console(stderr=True), auto_refresh=False,
                          redirect_stdout=False, redirect_stderr=True)

    def start(self, engine, title):
        self.engine, self.title = engine, title
        self._live.__enter__()
        return self

    def stop(self):
        self._live.__exit__(None, None, None)

    def update(self):
        self._live.update(meter_table(self.engine, self.title, self.target), refresh=True)
