"""The simulated power monitor: renders the simulated board's activity as a trace.

Time in the trace is virtual: the host's wall time between start() and stop(),
with each activity segment's *modelled* duration inserted where it began (the
simulated board answers an INFER in host milliseconds, but the segment stands
for what the modelled board would take). Each sample is the exact average of
the piecewise-constant draw over its interval, plus Gaussian noise; the marker
is sampled at the interval's midpoint, as a logic input would be.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from harness.errors import MeasurementError
from harness.power.monitor import register_monitor
from harness.power.sim_activity import ActivityReader
from harness.power.trace import Trace


class SimulatedMonitor:
    def __init__(self, activity_log: Path | str, idle_current_a: float, noise_a: float = 0.0,
                 seed: int = 0, sample_rate: float = 100_000.0,
                 supply_voltage: float = 3.3) -> None:
        self._reader = ActivityReader(Path(activity_log))
        self._idle_a = float(idle_current_a)
        self._noise_a = float(noise_a)
        self._rng = np.random.default_rng(seed)
        self._rate = float(sample_rate)
        self._volts = float(supply_voltage)
        self._started: float | None = None
        self._stopped: float | None = None

    def configure(self, sample_rate: float, supply_voltage: float | None,
                  current_range_a: float | None) -> None:
        self._rate = float(sample_rate)
        if supply_voltage is not None:
            self._volts = float(supply_voltage)

    def start(self) -> None:
        self._started, self._stopped = time.monotonic(), None

    def stop(self) -> None:
        self._stopped = time.monotonic()

    def read(self) -> Trace:
        if self._started is None or self._stopped is None:
            raise MeasurementError("simulated monitor: read() before start() and stop()")
        segments = self._reader.segments_between(self._started, self._stopped)
        edges_t, levels, marker_spans = timeline(segments, self._started,
                                                 self._stopped - self._started, self._idle_a)
        current, marker = render(edges_t, levels, marker_spans, self._rate)
        if self._noise_a:
            current += self._rng.normal(0.0, self._noise_a, current.shape)
        return Trace(sample_rate=self._rate, current_a=current, voltage_v=self._volts,
                     markers={"marker": marker},
                     instrument={"backend": "sim", "model": "simulated monitor",
                                 "noise_a": f"{self._noise_a:g}"})

    def close(self) -> None:
        self._started = self._stopped = None


def timeline(segments: np.ndarray, wall_start: float, wall_span: float,
             idle_a: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Breakpoints (s), the current on each interval between them, and marker spans.

    Returns ``edges`` (n+1), ``levels`` (n) and ``marker_spans`` (m x 2, start/end s).
    """
    starts_wall = segments["wall_start"] - wall_start
    durations = segments["duration_s"]
    # each segment starts where it began by the wall clock, shifted by all earlier segments
    shift = np.concatenate(([0.0], np.cumsum(durations)[:-1]))
    seg_start = starts_wall + shift
    seg_end = seg_start + durations
    total = wall_span + float(np.sum(durations))
    edges = np.empty(2 * len(segments) + 2)
    edges[0], edges[-1] = 0.0, total
    edges[1:-1:2], edges[2:-1:2] = seg_start, seg_end
    levels = np.full(len(edges) - 1, idle_a)
    levels[1::2] = segments["current_a"]
    marked = segments["marker"].astype(bool)
    return edges, levels, np.column_stack((seg_start[marked], seg_end[marked]))


def render(edges: np.ndarray, levels: np.ndarray, marker_spans: np.ndarray,
           sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample average current (exact, fractional boundaries included) and marker."""
    n = int(np.floor(edges[-1] * sample_rate))
    # charge as a piecewise-linear function of time, evaluated at the sample boundaries
    charge = np.concatenate(([0.0], np.cumsum(levels * np.diff(edges))))
    bounds = np.arange(n + 1) / sample_rate
    current = np.diff(np.interp(bounds, edges, charge)) * sample_rate
    marker = np.zeros(n, dtype=np.uint8)
    for start, end in marker_spans:  # high where the sample's midpoint is inside a span
        marker[int(np.ceil(start * sample_rate - 0.5)):int(np.ceil(end * sample_rate - 0.5))] = 1
    return current, marker


register_monitor("sim")(SimulatedMonitor)
