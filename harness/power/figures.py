"""Figures for reports: a trace excerpt with its inference windows, and per-window energy.

Pure matplotlib objects (``Figure`` on the Agg canvas, no pyplot state), so they
render in threads and without a display. Every figure names its source
(measured / emulated / simulated) in its title; `figure_bytes` gives PNG or SVG
for the report to embed.
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.power.energy import EnergyResult
from harness.power.trace import Trace
from harness.power.trace_file import TraceFile

MAX_PLOT_POINTS = 4000  # min/max pairs per bin beyond this: the shape survives, size does not
WINDOW_GID = "inference-window"  # tags the shaded spans (tests count them)


def _new_figure(width: float = 8.0, height: float = 3.2) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _excerpt_span(result: EnergyResult, duration_s: float, windows: int) -> tuple[float, float]:
    """The first ``windows`` windows with half a gap of idle on each side."""
    shown = result.windows[:windows]
    first, last = shown[0], shown[-1]
    margin = max(0.5 * first.duration_s, 1e-3)
    if len(result.windows) > len(shown):
        margin = max(margin, 0.5 * (result.windows[len(shown)].start_s - last.end_s))
    return max(0.0, first.start_s - margin), min(duration_s, last.end_s + margin)


def _power_excerpt(trace: Trace | TraceFile, start_s: float, end_s: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and power (W) of the excerpt; long excerpts as per-bin min and max."""
    fs = trace.sample_rate
    a, b = int(start_s * fs), min(math.ceil(end_s * fs), trace.n_samples)
    current = np.asarray(trace.current_a[a:b], dtype=np.float64)  # a slice of a memory map
    volts = trace.voltage_v
    power = current * (np.asarray(volts[a:b]) if isinstance(volts, np.ndarray) else volts)
    t = (a + np.arange(len(power)) + 0.5) / fs
    if len(power) <= MAX_PLOT_POINTS:
        return t, power
    bins = MAX_PLOT_POINTS // 2
    edges = np.linspace(0, len(power), bins + 1).astype(np.int64)
    lo, hi = np.minimum.reduceat(power, edges[:-1]), np.maximum.reduceat(power, edges[:-1])
    tb = t[edges[:-1]]
    return np.repeat(tb, 2), np.column_stack((lo, hi)).ravel()


def trace_excerpt_figure(trace: Trace | TraceFile, result: EnergyResult, source: str,
                         windows: int = 3, span_s: tuple[float, float] | None = None) -> Figure:
    """Power over the first ``windows`` windows (or ``span_s``), windows shaded, idle drawn."""
    start, end = span_s or _excerpt_span(result, trace.duration_s, windows)
    t, power = _power_excerpt(trace, start, end)
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.plot(t, power * 1e3, lw=0.6, color="tab:blue", label="power")
    for w in result.windows:
        if w.end_s > start and w.start_s < end:
            ax.axvspan(w.start_s, w.end_s, color="tab:orange", alpha=0.25, lw=0, gid=WINDOW_GID)
    if not math.isnan(result.idle_power_w):
        ax.axhline(result.idle_power_w * 1e3, color="0.3", ls="--", lw=1,
                   label=f"idle {result.idle_power_w * 1e3:.3g} mW")
    how = "marker" if result.alignment == "marker" else "host timestamps (no marker)"
    ax.set(xlim=(start, end), xlabel="time in trace (s)", ylabel="power (mW)",
           title=f"{trace.instrument.get('model', 'trace')} — {source}; "
                 f"windows from {how}")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def energy_histogram_figure(result: EnergyResult, source: str) -> Figure:
    """Per-window energy per inference, with the mean and its confidence interval."""
    values = result.per_inference_j * 1e6
    fig = _new_figure(6.0, 3.2)
    ax = fig.add_subplot()
    ax.hist(values, bins=max(5, min(40, len(values) // 2)), color="tab:blue", alpha=0.8)
    ax.axvline(result.mean_j * 1e6, color="k", lw=1.2, label=f"mean {result.mean_j * 1e6:.4g} µJ")
    if not math.isnan(result.ci_low_j):
        ax.axvspan(result.ci_low_j * 1e6, result.ci_high_j * 1e6, color="0.5", alpha=0.25,
                   label=f"{result.confidence:.0%} CI")
    ax.set(xlabel="energy per inference (µJ)", ylabel="windows",
           title=f"energy per inference, {result.n_windows} windows — {source}")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 120) -> bytes:
    """The figure as PNG or SVG bytes."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"figure format must be png or svg, not {fmt!r}")
    out = io.BytesIO()
    fig.savefig(out, format=fmt, dpi=dpi)
    return out.getvalue()
