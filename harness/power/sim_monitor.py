"""The simulated power monitor: renders the simulated board's activity as a trace.

Time in the trace is virtual: the host's wall time between start() and stop(),
with each *modelled* activity segment's duration inserted where it began (the
simulated board answers an INFER in host milliseconds, but the segment stands
for what the modelled board would take). *Realtime* segments already took their
time and are laid over the wall timeline instead; a trace with no modelled
segment is on the host's time base and says so (``host_t0_s``). Each sample is
the exact average of the piecewise-constant draw over its interval, plus
Gaussian noise; the marker is sampled at the interval's midpoint, as a logic
input would be.

Like a sourcing instrument it switches the board's supply (`set_output`): while
off, the trace reads zero and the marker low, and the simulated board, which
follows the supply file ``supply_path`` (harness/power/sim_supply.py), answers
nothing; on again, it boots with its state lost. It misbehaves on request, as a bench
does: ``glitches`` one-sample marker pulses between the windows of every trace,
and a disconnect (``disconnect_rate`` per trace, drawn from ``seed``, or always
``disconnect_after_s`` into the trace) that ends the trace early, marked
``interrupted``, and leaves the monitor unusable until configure() reconnects it.

``marker_active_low`` (from the board, not the bench) reads the marker input as
an MLPerf Tiny timestamp pin is wired: released high, pulled low while a segment
marks; an injected glitch is then a one-sample dip.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from harness.errors import ConfigError, MeasurementError, MonitorDisconnected
from harness.power.monitor import register_monitor
from harness.power.sim_activity import ActivityReader
from harness.power.sim_supply import write_supply
from harness.power.trace import Trace

NAME = "simulated monitor"
#: one fault stream per virtual wire and seed, shared by the monitors opened on it: a
#: job that opens a new monitor to measure again gets the next draw, not the same one,
#: and a run is still reproducible from its seed
_FAULT_STREAMS: dict[tuple[str, int], np.random.Generator] = {}


class SimulatedMonitor:
    def __init__(self, activity_log: Path | str, idle_current_a: float, noise_a: float = 0.0,
                 seed: int = 0, sample_rate: float = 100_000.0,
                 supply_voltage: float = 3.3, glitches: int = 0, disconnect_rate: float = 0.0,
                 disconnect_after_s: float | None = None,
                 marker_active_low: bool = False, supply_path: Path | str | None = None) -> None:
        if int(glitches) < 0:
            raise ConfigError("bench file", "monitors.params.glitches (sim)",
                              f"must be >= 0, got {glitches}")
        if not 0.0 <= float(disconnect_rate) <= 1.0:
            raise ConfigError("bench file", "monitors.params.disconnect_rate (sim)",
                              f"is a probability per trace, got {disconnect_rate}")
        self._reader = ActivityReader(Path(activity_log))
        self._idle_a = float(idle_current_a)
        self._noise_a = float(noise_a)
        self._rng = np.random.default_rng(seed)
        # faults draw from their own stream, so noise settings do not move them
        self._faults = _FAULT_STREAMS.setdefault(
            (str(Path(activity_log).resolve()), int(seed)), np.random.default_rng([seed, 1]))
        self._rate = float(sample_rate)
        self._volts = float(supply_voltage)
        self._glitches = int(glitches)
        self._disconnect_rate = float(disconnect_rate)
        self._disconnect_after_s = disconnect_after_s
        self._marker_active_low = bool(marker_active_low)
        self._supply = Path(supply_path) if supply_path is not None else None
        self._started: float | None = None
        self._stopped: float | None = None
        #: host times the output was switched, and to what (on until told otherwise)
        self._switches: list[tuple[float, bool]] = [(-math.inf, True)]
        self._cut: float | None = None    # this trace ends early: seconds, or -fraction
        self._gone: str | None = None     # why the monitor is disconnected

    def configure(self, sample_rate: float, supply_voltage: float | None,
                  current_range_a: float | None) -> None:
        """Reconnect if it was gone, and power the board, as the sourcing backends do."""
        self._gone = None
        self._rate = float(sample_rate)
        if supply_voltage is not None:
            self._volts = float(supply_voltage)
        self.set_output(True)

    def set_output(self, on: bool) -> None:
        self._require_connected()
        if self._switches[-1][1] != bool(on):
            self._switches.append((time.monotonic(), bool(on)))
        if self._supply is not None:    # every time: a new monitor takes over the wire
            write_supply(self._supply, bool(on))

    def start(self) -> None:
        self._require_connected()
        self._cut = None
        if self._disconnect_after_s is not None:
            self._cut = float(self._disconnect_after_s)
        elif self._disconnect_rate and self._faults.random() < self._disconnect_rate:
            self._cut = -self._faults.uniform(0.05, 0.95)  # a share of the trace
        self._started, self._stopped = time.monotonic(), None

    def stop(self) -> None:
        self._stopped = time.monotonic()

    def read(self) -> Trace:
        if self._started is None or self._stopped is None:
            raise MeasurementError(f"{NAME}: read() before start() and stop()")
        segments = self._reader.segments_between(self._started, self._stopped)
        edges_t, levels, marker_spans = timeline(segments, self._started,
                                                 self._stopped - self._started, self._idle_a,
                                                 self._off_between(self._started, self._stopped))
        current, marker = render(edges_t, levels, marker_spans, self._rate)
        if self._noise_a:
            current += self._rng.normal(0.0, self._noise_a, current.shape)
        add_glitches(marker, marker_spans, self._rate, self._glitches)
        if self._marker_active_low:
            marker = 1 - marker
        # only a trace without inserted (modelled) time shares the host's time base
        on_wall_time = not np.any(segments["realtime"] == 0)
        instrument = {"backend": "sim", "model": NAME, "noise_a": f"{self._noise_a:g}"}
        if self._glitches:
            instrument["glitches"] = str(self._glitches)
        trace = Trace(sample_rate=self._rate, current_a=current, voltage_v=self._volts,
                      markers={"marker": marker}, instrument=instrument,
                      wall_duration_s=self._stopped - self._started if on_wall_time else None,
                      host_t0_s=self._started if on_wall_time else None)
        return self._disconnect(trace)

    def close(self) -> None:
        self._started = self._stopped = None

    def _require_connected(self) -> None:
        if self._gone is not None:
            raise MonitorDisconnected(f"{NAME}: {self._gone}; configure() reconnects it")

    def _off_between(self, wall_from: float, wall_to: float) -> list[tuple[float, float]]:
        """Host-time spans within [wall_from, wall_to] when the output was off."""
        spans: list[tuple[float, float]] = []
        off_since: float | None = None
        for when, on in self._switches:
            if when > wall_to:
                break
            if not on and off_since is None:
                off_since = when
            elif on and off_since is not None:
                spans.append((off_since, when))
                off_since = None
        if off_since is not None:
            spans.append((off_since, wall_to))
        return [(a, b) for a, b in spans if b > wall_from]

    def _disconnect(self, trace: Trace) -> Trace:
        """The trace as far as it got when the monitor went away, if it did."""
        if self._cut is None:
            return trace
        cut_s = self._cut if self._cut >= 0 else -self._cut * trace.duration_s
        n = int(cut_s * self._rate)
        if n >= trace.n_samples:  # the trace was over before the disconnect came
            return trace
        self._gone = f"disconnected {n / self._rate:.3f} s into the trace"
        return Trace(sample_rate=self._rate, current_a=trace.current_a[:n],
                     voltage_v=self._volts, markers={"marker": trace.markers["marker"][:n]},
                     instrument=trace.instrument, host_t0_s=trace.host_t0_s,
                     interrupted=self._gone)


def add_glitches(marker: np.ndarray, spans_s: np.ndarray, sample_rate: float,
                 count: int) -> None:
    """Set ``count`` single marker samples high, spread evenly over the gaps between
    the windows ``spans_s`` (over the idle before and after them when there is no gap)."""
    if count <= 0:
        return
    n = len(marker)
    windows = np.ceil(np.asarray(spans_s).reshape(-1, 2) * sample_rate - 0.5).astype(np.int64)
    if len(windows) >= 2:
        gaps = np.column_stack((windows[:-1, 1], windows[1:, 0]))
    elif len(windows) == 1:
        gaps = np.array([(0, windows[0, 0]), (windows[0, 1], n)])
    else:
        gaps = np.array([(0, n)])
    gaps = gaps[gaps[:, 1] - gaps[:, 0] >= 3]
    if not len(gaps):
        return
    per_gap = -(-count // len(gaps))
    for i in range(count):
        lo, hi = gaps[i % len(gaps)]
        marker[min(lo + (i // len(gaps) + 1) * (hi - lo) // (per_gap + 1), n - 1)] = 1


def timeline(segments: np.ndarray, wall_start: float, wall_span: float, idle_a: float,
             off_wall: Sequence[tuple[float, float]] = ()
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Breakpoints (s), the current on each interval between them, and marker spans.

    A modelled segment is inserted where it began by the wall clock: it and
    everything after it move later by its duration, so the trace is longer than
    ``wall_span`` by all of them. A realtime segment is laid over the wall
    timeline where it happened (moved only by modelled segments inserted before
    it) and clipped to the acquisition; where the two overlap, the modelled one
    is drawn. ``off_wall`` holds host times (from, to) when the monitor's output
    was off: the board draws nothing there and drives no marker.

    Returns ``edges`` (n+1), ``levels`` (n) and ``marker_spans`` (m x 2, start/end s).
    """
    segments = segments[np.argsort(segments["wall_start"], kind="stable")]
    rel = segments["wall_start"] - wall_start
    durations = segments["duration_s"]
    realtime = segments["realtime"].astype(bool)
    marked = segments["marker"].astype(bool)
    m_rel, m_dur = rel[~realtime], durations[~realtime]
    inserted = np.concatenate(([0.0], np.cumsum(m_dur)))  # modelled time before the k-th

    def virtual(wall: np.ndarray, after_inserts_at_wall: bool) -> np.ndarray:
        side: Literal["left", "right"] = "right" if after_inserts_at_wall else "left"
        return wall + inserted[np.searchsorted(m_rel, wall, side=side)]

    m_start = m_rel + inserted[:-1]
    m_end = m_start + m_dur
    r_lo = np.clip(rel[realtime], 0.0, wall_span)
    r_hi = np.clip(rel[realtime] + durations[realtime], 0.0, wall_span)
    r_start, r_end = virtual(r_lo, True), virtual(r_hi, False)
    off = np.clip(np.asarray(off_wall, dtype=np.float64).reshape(-1, 2) - wall_start,
                  0.0, wall_span)
    off_start, off_end = virtual(off[:, 0], False), virtual(off[:, 1], True)
    total = wall_span + float(np.sum(m_dur))
    edges = np.unique(np.concatenate(([0.0, total], m_start, m_end, r_start, r_end,
                                      off_start, off_end)))
    levels = np.full(len(edges) - 1, idle_a)
    # later layers win: realtime, then modelled, then power off
    for starts, ends, current in ((r_start, r_end, segments["current_a"][realtime]),
                                  (m_start, m_end, segments["current_a"][~realtime]),
                                  (off_start, off_end, np.zeros(len(off)))):
        for i, j, level in zip(np.searchsorted(edges, starts), np.searchsorted(edges, ends),
                               current, strict=True):
            levels[i:j] = level
    spans = np.concatenate((np.column_stack((m_start, m_end))[marked[~realtime]],
                            np.column_stack((r_start, r_end))[marked[realtime]]))
    spans = spans[spans[:, 1] > spans[:, 0]]
    return edges, levels, _cut(spans[np.argsort(spans[:, 0], kind="stable")],
                               np.column_stack((off_start, off_end)))


def _cut(spans: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """``spans`` (m x 2) with the intervals ``holes`` (k x 2) taken out."""
    for lo, hi in holes:
        if hi <= lo:
            continue
        pieces = [(a, min(b, lo)) for a, b in spans if a < lo] + \
                 [(max(a, hi), b) for a, b in spans if b > hi]
        spans = np.array([(a, b) for a, b in pieces if b > a], dtype=np.float64).reshape(-1, 2)
    return spans


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
