"""A trace excerpt: supply power around the first marker windows, idle drawn, windows shaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from harness.power.trace import Trace
from harness.report.figures import ReportFigure, embed
from harness.report.summary import SummaryLine

MAX_POINTS = 2000       # min/max envelope bins: the picture of millions of samples
SHOWN_WINDOWS = 2


def trace_excerpt(trace_path: Path, line: SummaryLine) -> ReportFigure | None:
    trace = Trace.load(trace_path)
    if not trace.markers or trace.n_samples == 0:
        return None
    marker = trace.markers.get("marker", next(iter(trace.markers.values())))
    high = np.asarray(marker) > 0.5
    edges = np.flatnonzero(np.diff(high.astype(np.int8))) + 1
    rises = [int(e) for e in edges if high[e]]
    falls = [int(e) for e in edges if not high[e]]
    if not rises or not falls:
        return None
    last_fall = next((f for f in falls if f > rises[min(SHOWN_WINDOWS, len(rises)) - 1]),
                     trace.n_samples)
    pad = max(int(0.2 * (last_fall - rises[0])), int(0.002 * trace.sample_rate))
    lo, hi = max(0, rises[0] - pad), min(trace.n_samples, last_fall + pad)
    volts = trace.voltage_v[lo:hi] if isinstance(trace.voltage_v, np.ndarray) else trace.voltage_v
    power_mw = np.asarray(trace.current_a[lo:hi], dtype=np.float64) * volts * 1e3
    t_ms, p_min, p_max = _envelope(power_mw, trace.sample_rate)

    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(t_ms, p_min, p_max, color="tab:blue", lw=0.5, label="supply power")
    first = True
    for rise in rises:
        fall = next((f for f in falls if f > rise), trace.n_samples)
        if rise >= hi:
            break
        ax.axvspan((rise - lo) / trace.sample_rate * 1e3, (min(fall, hi) - lo)
                   / trace.sample_rate * 1e3, color="tab:orange", alpha=0.2,
                   label="inference window (marker high)" if first else None)
        first = False
    if (idle := line.value("idle_power")) is not None:
        ax.axhline(idle, color="black", ls="--", lw=1, label=f"idle {idle:.2f} mW")
    ax.set_xlabel("time from excerpt start, ms")
    ax.set_ylabel("power, mW")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, alpha=0.3)
    return embed(fig, f"Trace excerpt: {line.key}", line.source,
                 f"{trace.instrument.get('model', 'monitor')} at {trace.sample_rate:g} S/s; "
                 f"the first {min(SHOWN_WINDOWS, len(rises))} of {len(rises)} windows; "
                 "min/max envelope of the samples.")


def _envelope(values: np.ndarray, sample_rate: float) -> tuple[np.ndarray, ...]:
    bins = max(1, int(np.ceil(len(values) / MAX_POINTS)))
    n = len(values) // bins * bins
    shaped = values[:n].reshape(-1, bins) if n else values.reshape(1, -1)
    t_ms = np.arange(len(shaped)) * bins / sample_rate * 1e3
    return t_ms, shaped.min(axis=1), shaped.max(axis=1)
