"""Finding the drive (input gain) that puts the chain's output on the loudness target.

Every render is a full pass over the file, so the first guess matters: a static model of the
chain (the compressor's curve applied to the input's short-term loudness, plus a loudness cost
of limiting the peaks over the ceiling) predicts the output loudness for any drive. After the
first render the model is corrected by its error; after two, secant steps on what was measured
take over. Renders aim a little high, since a trim down is free and keeps the ceiling.
"""
import math

import numpy as np

TOLERANCE_LU = 0.05      # a render this close below the target needs no second render
OVERSHOOT_LU = 0.5       # a louder render is trimmed down; beyond this, re-rendered (less limiting)
AIM_OVER_LU = 0.2        # where renders aim, above the target
TRIM_UP_MARGIN_DB = 0.3  # a trim up must leave this much under the ceiling (4x peak reading)
GR_SLACK_DB = 0.25       # measured peak GR may exceed the preset's limit by this much
MAX_DRIVE_DB = 40.0
LIMITING_COST = 0.4      # loudness a window loses per dB of limiting (fit on music)
MODEL_BIAS_LU = 0.45     # the static model reads this much low on average (fit on music)


class LoudnessModel:
    """Predicted integrated loudness of the chain's output as a function of the drive.

    The input is seen as a sequence of windows, each with a short-term loudness and a peak.
    At a given drive every window is compressed by the compressor's static curve at its
    level, then loses a part of the gain reduction the limiter needs for its peak; the
    integrated loudness is the gated power mean of the windows.

    Parameters
    ----------
    levels, peaks : sequence of float
        Short-term loudness (LUFS) and sample peak (dBFS) of the input's windows, after the
        preset's EQ; windows with a -inf level are ignored.
    compressor : dict or None
        The compressor's parameters (threshold_db, ratio, knee_db, makeup_db); None: bypassed.
    ceiling : float
        The limiter's ceiling, dBTP.
    """

    def __init__(self, levels, peaks, compressor, ceiling):
        levels, peaks = np.asarray(levels, dtype=float), np.asarray(peaks, dtype=float)
        keep = np.isfinite(levels) & np.isfinite(peaks)
        self.levels, self.peaks = levels[keep], peaks[keep]
        self.compressor, self.ceiling = compressor, ceiling

    @classmethod
    def from_probe(cls, probe, compressor, ceiling):
        """The model for a signal measured by an Analyzer with a timeline and peaks."""
        levels = [v for _, v in probe.timeline]
        if not np.isfinite(levels).any():  # shorter than a short-term window: one window
            levels = [probe.meter.integrated_lufs] * len(levels)
        return cls(levels, probe.peaks, compressor, ceiling)

    def _compression(self, level):
        """The compressor's static gain change (dB, positive = reduction) at `level` (dB)."""
        c = self.compressor
        if c is None:
            return np.zeros_like(level)
        over, knee, slope = level - c["threshold_db"], c["knee_db"], 1 - 1 / c["ratio"]
        if knee > 0:
            inside = np.clip(over + knee / 2, 0, knee)  # quadratic soft knee
            curve = np.where(over > knee / 2, slope * over, slope * inside ** 2 / (2 * knee))
        else:
            curve = np.maximum(slope * over, 0.0)
        return curve - c["makeup_db"]

    def _windows(self, drive):
        levels = self.levels + drive
        compression = self._compression(levels)
        limiting = np.maximum(self.peaks + drive - compression - self.ceiling, 0.0)
        return levels - compression - LIMITING_COST * limiting, limiting

    def predict(self, drive):
        """Output integrated loudness (LUFS) at `drive` dB, or -inf with no measured window."""
        if not len(self.levels):
            return -math.inf
        out, _ = self._windows(drive)
        power = 10 ** (out / 10)
        gate = 10 * math.log10(power.mean()) - 20  # BS.1770's relative gate
        return 10 * math.log10(power[out > gate].mean()) + MODEL_BIAS_LU

    def solve(self, want, bias=0.0):
        """The drive at which predict() + bias == want (bisection: predict is monotonic)."""
        low, high = -MAX_DRIVE_DB, MAX_DRIVE_DB
        for _ in range(40):
            mid = (low + high) / 2
            low, high = (mid, high) if self.predict(mid) + bias < want else (low, mid)
        return (low + high) / 2


class DriveSearch:
    """Chooses the drive of each render and, in the end, the render to deliver.

    Each render passed to :meth:`add` needs ``drive_db``, ``lufs``, ``true_peak_dbtp`` and
    ``limiter_gr_max``.
    """

    def __init__(self, model, target, ceiling, max_gr):
        self.model, self.target, self.ceiling, self.max_gr = model, target, ceiling, max_gr
        self.renders = []

    def first_drive(self):
        return self.model.solve(self.target + AIM_OVER_LU)

    def add(self, render):
        self.renders.append(render)

    def slope(self):
        """d(loudness)/d(drive) measured between the last two renders, else from the model."""
        if len(self.renders) >= 2:
            a, b = self.renders[-2:]
            if abs(b.drive_db - a.drive_db) > 0.05:
                return min(max((b.lufs - a.lufs) / (b.drive_db - a.drive_db), 0.05), 1.5)
        drive = self.renders[-1].drive_db
        return max((self.model.predict(drive + 0.5) - self.model.predict(drive - 0.5)), 0.05)

    def trim_for(self, r):
        """The gain trim (dB) for render `r`: down to the target always (a trim down keeps the
        ceiling); up only while its peaks stay well under the ceiling."""
        want = self.target - r.lufs
        if want <= 0:
            return want
        return max(0.0, min(want, self.ceiling - TRIM_UP_MARGIN_DB - r.true_peak_dbtp))

    def within_limit(self, r):
        return r.limiter_gr_max <= self.max_gr + GR_SLACK_DB

    def acceptable(self, r):
        """Deliverable: on target after its trim, within the GR limit, and not needlessly
        over-limited (much too loud before the trim)."""
        return (self.within_limit(r) and r.lufs + self.trim_for(r) >= self.target - TOLERANCE_LU
                and (r.lufs - self.target <= OVERSHOOT_LU or r.limiter_gr_max < 0.5))

    def next_drive(self):
        """The drive for the next render, or None when another render cannot do better."""
        r = self.renders[-1]
        if not self.within_limit(r):  # over-limited: back off (GR falls <= 1 dB per dB)
            return r.drive_db - (r.limiter_gr_max - self.max_gr) / 0.8
        want = self.target + AIM_OVER_LU
        if len(self.renders) == 1:  # the model, corrected by its error on this render
            drive = self.model.solve(want, bias=r.lufs - self.model.predict(r.drive_db))
        else:
            drive = r.drive_db + (want - r.lufs) / self.slope()
        if drive > r.drive_db:  # louder: peak GR grows at most 1 dB per dB of drive
            drive = min(drive, r.drive_db + self.max_gr - r.limiter_gr_max, MAX_DRIVE_DB)
        return drive if abs(drive - r.drive_db) > 0.01 else None

    def best(self):
        """The render to deliver: acceptable if any, else the loudest within the GR limit."""
        good = [r for r in self.renders if self.acceptable(r)]
        if good:
            return min(good, key=lambda r: abs(r.lufs - self.target))
        within = [r for r in self.renders if self.within_limit(r)]
        if within:
            return max(within, key=lambda r: r.lufs)
        return min(self.renders, key=lambda r: r.limiter_gr_max)

    def shortfall(self, achieved):
        """Why the target was missed, for the user (the delivered render is :meth:`best`)."""
        chosen = self.best()
        if chosen.limiter_gr_max >= self.max_gr - 0.5:
            need = chosen.limiter_gr_max + (self.target - achieved) / self.slope()
            return (f"getting there would need about {need:.1f} dB of peak limiting, more "
                    f"than the {self.max_gr:g} dB this preset allows "
                    "(limiter.max_gain_reduction_db)")
        if chosen.drive_db >= MAX_DRIVE_DB - 0.01:
            return f"the input is too quiet: it would need more than {MAX_DRIVE_DB:g} dB of gain"
        return f"the search stopped after {len(self.renders)} renders"
