"""All energy arithmetic: from a trace to Joules per inference with a confidence interval.

It does not know where a trace came from. One chunked pass over the samples
finds the marker edges (at fractional sample positions) and the cumulative
energy at each edge, so memory stays bounded by the chunk size whatever the
trace length; everything after that is arithmetic on a handful of edges.

Conventions: sample ``k`` is the average over ``[k, k+1)`` in sample units and the
marker is read at the sample's midpoint ``k + 0.5``; an edge between two marker
samples sits where the line through them crosses 0.5 (for a 0/1 marker, on the
boundary between the samples). Energy up to a fractional position ``x`` counts
sample ``floor(x)`` in proportion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

from harness.errors import MeasurementError, MonitorDisconnected
from harness.power.trace import TraceChunk, TraceSource

CHUNK_SAMPLES = 1 << 20
TIME_BASE_TOLERANCE = 0.02  # trace span vs host wall time, relative
#: a marker pulse shorter than this share of the expected window is a glitch
GLITCH_FRACTION = 0.2
#: how far outside its host INFER span a marker window may still start or end: the
#: error of the trace's host start time plus the link latency spread
SPAN_TOLERANCE_S = 2e-3
#: how a marker line delimits windows: ``high`` while the inferences run (the harness's
#: firmware), or ``falls``: a window runs from one falling edge to the next (MLPerf
#: Tiny's timestamp pin, pulled low for a moment before and after the inferences)
MarkerWindows = Literal["high", "falls"]


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float
    energy_j: float
    inferences: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class EnergyResult:
    windows: list[Window]
    per_inference_j: np.ndarray         # one figure per window
    mean_j: float
    ci_low_j: float
    ci_high_j: float
    above_idle_mean_j: float
    above_idle_ci_low_j: float
    above_idle_ci_high_j: float
    idle_power_w: float
    idle_s: float                       # how much idle the idle power rests on
    mean_active_power_w: float
    confidence: float
    flags: list[str] = field(default_factory=list)  # what makes the figure less trustworthy
    #: "marker" (a marker line) or "timestamps" (host send/reply times, no marker line)
    alignment: str = "marker"
    #: per inference, the energy an edge displaced within its uncertainty could move in
    #: or out of a window (half a sample per marker edge; the timestamp jitter without a
    #: marker); already included in the CI bounds
    edge_uncertainty_j: float = 0.0
    #: marker pulses dropped as glitches (too short, or outside every INFER span)
    glitches_dropped: int = 0

    @property
    def n_windows(self) -> int:
        return len(self.windows)


@dataclass
class _Edge:
    pos: float        # fractional sample position
    rising: bool
    energy_j: float   # cumulative energy from the first sample up to pos


@dataclass
class EdgeScan:
    """What the chunked pass keeps: marker edges with cumulative energy, and totals."""

    sample_rate: float
    edges: list[_Edge] = field(default_factory=list)
    n_samples: int = 0
    total_energy_j: float = 0.0
    starts_high: bool = False
    _prev_power: float = 0.0
    _prev_marker: float | None = None

    def feed(self, chunk: TraceChunk, marker: str) -> None:
        # The hot loop of a long trace: a cumulative sum of the current and one
        # comparison of the marker per sample; everything else runs per edge only.
        current, level = chunk.current_a, np.asarray(chunk.markers[marker])
        n = len(current)
        if n == 0:
            return
        volts = chunk.voltage_v
        if isinstance(volts, np.ndarray):
            power = np.asarray(current, dtype=np.float64) * volts
            csum, scale = np.cumsum(power), 1.0 / self.sample_rate
        else:  # a fixed supply: integrate the current, scale once
            power = None
            csum = np.cumsum(current, dtype=np.float64)
            scale = float(volts) / self.sample_rate
        high = level > 0.5
        if self._prev_marker is None:  # first sample: pretend it had a twin before it
            self.starts_high = bool(high[0])
            self._prev_marker, self._prev_power = float(level[0]), _power(0, current, power, volts)
        j = np.flatnonzero(high[1:] != high[:-1]) + 1  # level[j-1] and level[j] straddle 0.5
        if high[0] != (self._prev_marker > 0.5):
            j = np.concatenate(([0], j))
        if len(j):
            self._add_edges(j, level, self._prev_marker, high, current, power, volts, csum,
                            scale)
        self.n_samples += n
        self.total_energy_j += float(csum[-1]) * scale
        self._prev_marker, self._prev_power = float(level[-1]), _power(-1, current, power, volts)

    def _add_edges(self, j: np.ndarray, level: np.ndarray, prev_level: float, high: np.ndarray,
                   current: np.ndarray, power: np.ndarray | None, volts: np.ndarray | float,
                   csum: np.ndarray, scale: float) -> None:
        """Edges between local samples j-1 and j (j = 0: the previous chunk's last sample,
        whose marker level is ``prev_level``)."""
        a = np.where(j > 0, level[j - 1], prev_level).astype(np.float64)
        b = level[j].astype(np.float64)
        local = (j - 0.5) + (0.5 - a) / (b - a)
        k = np.floor(local).astype(np.int64)  # the sample the edge falls in: j-1 or j
        inside = k >= 0
        kk = np.maximum(k, 0)
        p_k = np.where(inside, _power(kk, current, power, volts), self._prev_power)
        # energy from the first sample of the trace up to the start of sample k
        before = np.where(kk > 0, csum[np.maximum(kk - 1, 0)] * scale, 0.0)
        before = np.where(inside, before, -self._prev_power / self.sample_rate)
        at = self.total_energy_j + before + (local - k) * p_k / self.sample_rate
        origin = self.n_samples
        for x, rising, e in zip(local + origin, high[j], at, strict=True):
            self.edges.append(_Edge(float(x), bool(rising), float(e)))


def _power(index, current: np.ndarray, power: np.ndarray | None, volts: np.ndarray | float):
    """Power of the samples at ``index`` (an int or an index array) of one chunk."""
    if power is not None:
        return power[index]
    return np.asarray(current[index], dtype=np.float64) * volts


def scan_edges(trace: TraceSource, marker: str = "marker",
               chunk_samples: int = CHUNK_SAMPLES) -> EdgeScan:
    if marker not in trace.markers:
        raise MeasurementError(f"trace from {trace.instrument.get('model', 'the monitor')} has "
                               f"no marker channel {marker!r} (has: "
                               f"{', '.join(trace.markers) or 'none'})")
    scan = EdgeScan(trace.sample_rate)
    for chunk in trace.chunks(chunk_samples):
        scan.feed(chunk, marker)
    return scan


def measure_energy(trace: TraceSource, inferences_per_window: int, marker: str = "marker",
                   debounce_s: float = 0.0, confidence: float = 0.95,
                   expected_windows: int | None = None,
                   windows_host_s: Sequence[tuple[float, float]] | None = None,
                   expected_window_s: float | None = None,
                   span_tolerance_s: float = SPAN_TOLERANCE_S,
                   chunk_samples: int = CHUNK_SAMPLES,
                   marker_windows: MarkerWindows = "high") -> EnergyResult:
    """Joules per inference from marker-delimited windows of ``inferences_per_window``.

    Marker pulses are matched against what the host did before any becomes a
    window: a pulse shorter than `GLITCH_FRACTION` of ``expected_window_s`` (when
    that is not given, of the ``expected_windows``-th longest pulse) is a glitch;
    with the host's INFER spans ``windows_host_s`` (send, reply on the host
    monotonic clock) and a trace that knows its host start time, a pulse outside
    every span (widened by ``span_tolerance_s``) is a glitch too, and pieces of
    one span's window are joined. Glitches are dropped and flagged. A trace the monitor cut short
    (``interrupted``) with fewer windows than ``expected_windows`` gives no figure.

    Idle power comes from the trace before the first window and after the last
    one; above-idle energy subtracts it over each window's duration.

    With ``marker_windows="falls"`` the windows run between falling edges instead
    (`_pair_falls`: per host INFER span its first and last fall, else consecutive
    falls in pairs), and the marker idles high.
    """
    if inferences_per_window < 1:
        raise MeasurementError(f"inferences per window must be >= 1, got {inferences_per_window}")
    scan = scan_edges(trace, marker, chunk_samples)
    flags = _trace_flags(trace)
    fs = trace.sample_rate
    edges = _debounce(scan.edges, debounce_s * fs)
    spans = None
    if windows_host_s is not None and trace.host_t0_s is not None:
        spans = np.asarray(windows_host_s, dtype=np.float64).reshape(-1, 2) - trace.host_t0_s
    stray = 0
    if marker_windows == "falls":
        pairs, stray = _pair_falls(edges, spans, fs, span_tolerance_s, expected_window_s, flags)
    else:
        pairs, dangling = _pair_windows(edges)
        if dangling:
            flags.append("marker still high when the trace ended: the last window is dropped")
    pairs, glitches = _select_windows(pairs, fs, expected_window_s, expected_windows, spans,
                                      span_tolerance_s, flags)
    glitches += stray
    _check_interrupted(trace, len(pairs), expected_windows, "marker windows", flags)
    if not pairs:
        raise MeasurementError(
            f"no complete marker window in {trace.duration_s:.3f} s of trace from "
            f"{trace.instrument.get('model', 'the monitor')} (channel {marker!r}, "
            f"{len(scan.edges)} edges): is the board's marker pin wired to the monitor?")
    if expected_windows is not None and len(pairs) != expected_windows:
        flags.append(f"found {len(pairs)} marker windows, expected {expected_windows}")

    idle_power, idle_s = _idle_power(scan, pairs, fs, idle_before=(
        True if marker_windows == "falls" else None))
    if math.isnan(idle_power):
        flags.append("no idle time before or after the windows: above-idle energy unknown")
    windows = [Window(rise.pos / fs, fall.pos / fs, fall.energy_j - rise.energy_j,
                      inferences_per_window) for rise, fall in pairs]
    # Each edge is known to half a sample: a window may hold half a sample too much idle
    # or too little activity at either end. At a low rate and short windows that bound
    # is larger than the windows' scatter, so the CI must carry it (docs/energy.md).
    active = float(np.mean([w.energy_j / w.duration_s for w in windows if w.duration_s > 0]
                           or [0.0]))
    edge_j = active / fs / inferences_per_window
    edge_above_j = abs(active - (0.0 if math.isnan(idle_power) else idle_power)) / fs \
        / inferences_per_window
    return _result(windows, idle_power, idle_s, confidence, flags, edge_j=edge_j,
                   edge_above_j=edge_above_j, glitches=glitches)


def _select_windows(pairs: list[tuple[_Edge, _Edge]], fs: float, expected_s: float | None,
                    expected_n: int | None, spans_s: np.ndarray | None, tolerance_s: float,
                    flags: list[str]) -> tuple[list[tuple[_Edge, _Edge]], int]:
    """The marker windows that match what the host did, and how many pulses were dropped."""
    if not pairs:
        return pairs, 0
    durations = np.array([(fall.pos - rise.pos) / fs for rise, fall in pairs])
    if expected_s is None:  # the k-th longest pulse: a few long false ones cannot set it
        k = min(max(expected_n or 1, 1), len(durations))
        expected_s = float(np.sort(durations)[-k])
        basis = "longest pulse" if k == 1 else f"shortest of the {k} longest pulses"
    else:
        basis = "expected window"
    min_s = GLITCH_FRACTION * expected_s
    kept = [p for p, d in zip(pairs, durations, strict=True) if d >= min_s]
    short = len(pairs) - len(kept)
    if short:
        flags.append(f"{short} marker pulses shorter than {min_s * 1e3:.3g} ms "
                     f"({GLITCH_FRACTION:.0%} of the {basis}) dropped as glitches")
    if spans_s is None or not len(spans_s):
        return kept, short
    lo, hi = spans_s[:, 0] - tolerance_s, spans_s[:, 1] + tolerance_s
    by_span: dict[int, list[tuple[_Edge, _Edge]]] = {}
    outside = 0
    for rise, fall in kept:  # each window goes to the span it overlaps most
        overlap = np.minimum(fall.pos / fs, hi) - np.maximum(rise.pos / fs, lo)
        k = int(np.argmax(overlap))
        if overlap[k] <= 0:
            outside += 1
        else:
            by_span.setdefault(k, []).append((rise, fall))
    if outside:
        flags.append(f"{outside} marker pulses outside every INFER span dropped as glitches")
    pieces = sum(len(group) - 1 for group in by_span.values())
    if pieces:  # a dropout of the marker inside a window: one window, in pieces
        flags.append(f"{pieces} marker dropouts inside INFER spans: each span's pieces "
                     "were joined into one window")
    return [(by_span[k][0][0], by_span[k][-1][1]) for k in sorted(by_span)], short + outside


def _check_interrupted(trace: TraceSource, captured: int, expected: int | None, what: str,
                       flags: list[str]) -> None:
    """No figure from a trace the monitor cut short before every window was in it."""
    if not trace.interrupted:
        return
    model = trace.instrument.get("model", "the power monitor")
    if captured == 0 or (expected is not None and captured < expected):
        raise MonitorDisconnected(
            f"{model}: {trace.interrupted}; the trace holds {trace.duration_s:.3f} s and "
            f"{captured} of {expected if expected is not None else 'the'} {what}: "
            "no figure from a partial trace")
    flags.append(f"monitor disconnected {trace.duration_s:.3f} s into the trace "
                 f"({trace.interrupted}), after every window")


def _result(windows: list[Window], idle_power: float, idle_s: float, confidence: float,
            flags: list[str], edge_j: float = 0.0, edge_above_j: float = 0.0,
            alignment: str = "marker", glitches: int = 0) -> EnergyResult:
    """Per-inference figures, Student-t CIs widened by the per-inference edge bounds."""
    n_inf = np.array([w.inferences for w in windows], dtype=np.float64)
    per_inf = np.array([w.energy_j for w in windows]) / n_inf
    above = np.array([w.energy_j - idle_power * w.duration_s for w in windows]) / n_inf
    mean, lo, hi = mean_ci(per_inf, confidence)
    a_mean, a_lo, a_hi = mean_ci(above, confidence)
    if len(windows) < 2:
        flags.append("one window: no confidence interval")
    active_w = float(np.mean([w.energy_j / w.duration_s for w in windows if w.duration_s > 0]
                             or [math.nan]))
    return EnergyResult(windows=windows, per_inference_j=per_inf, mean_j=mean,
                        ci_low_j=lo - edge_j, ci_high_j=hi + edge_j, above_idle_mean_j=a_mean,
                        above_idle_ci_low_j=a_lo - edge_above_j,
                        above_idle_ci_high_j=a_hi + edge_above_j, idle_power_w=idle_power,
                        idle_s=idle_s, mean_active_power_w=active_w, confidence=confidence,
                        flags=flags, alignment=alignment, edge_uncertainty_j=edge_j,
                        glitches_dropped=glitches)


def mean_ci(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval; NaN bounds for a single value."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, math.nan, math.nan
    sem = float(stats.sem(values))
    if sem == 0.0:
        return mean, mean, mean
    lo, hi = stats.t.interval(confidence, len(values) - 1, loc=mean, scale=sem)
    return mean, float(lo), float(hi)


def _trace_flags(trace: TraceSource) -> list[str]:
    flags = []
    if trace.dropped_samples:
        flags.append(f"{trace.dropped_samples} samples dropped by the monitor")
    if trace.over_range_samples:
        flags.append(f"{trace.over_range_samples} samples over range")
    if trace.wall_duration_s:
        stretch = trace.duration_s / trace.wall_duration_s - 1.0
        if abs(stretch) > TIME_BASE_TOLERANCE:
            flags.append(f"time base: the trace spans {trace.duration_s:.3f} s but acquisition "
                         f"took {trace.wall_duration_s:.3f} s by the host clock "
                         f"({stretch:+.1%}); check the monitor's sample rate")
    return flags


def _debounce(edges: list[_Edge], min_samples: float) -> list[_Edge]:
    """Drop pulses and gaps shorter than ``min_samples`` (both of their edges)."""
    kept: list[_Edge] = []
    for edge in edges:
        if kept and edge.pos - kept[-1].pos < min_samples:
            kept.pop()
            continue
        kept.append(edge)
    return kept


def _pair_windows(edges: list[_Edge]) -> tuple[list[tuple[_Edge, _Edge]], bool]:
    pairs: list[tuple[_Edge, _Edge]] = []
    rise: _Edge | None = None
    for edge in edges:
        if edge.rising:
            rise = edge
        elif rise is not None:  # a fall with no rise before it ends a window we never saw start
            pairs.append((rise, edge))
            rise = None
    return pairs, rise is not None


def _pair_falls(edges: list[_Edge], spans_s: np.ndarray | None, fs: float, tolerance_s: float,
                expected_s: float | None,
                flags: list[str]) -> tuple[list[tuple[_Edge, _Edge]], int]:
    """Windows between falling edges, and how many falls were dropped as strays.

    With the host's INFER spans, a fall outside every span is a glitch, and each
    span's window is the pair of its falls whose distance is nearest the expected
    window (``expected_s``), or without one its first and last fall: a span also
    holds the reply's line time, where a glitch may fall too. Without spans,
    consecutive falls pair up, and an odd one at the end is dropped.
    """
    falls = [e for e in edges if not e.rising]
    if spans_s is None or not len(spans_s):
        if len(falls) % 2:
            flags.append(f"{len(falls)} timestamp (falling) edges, an odd number: the last "
                         "one is dropped")
        return list(zip(falls[0::2], falls[1::2], strict=False)), len(falls) % 2
    lo, hi = spans_s[:, 0] - tolerance_s, spans_s[:, 1] + tolerance_s
    by_span: dict[int, list[_Edge]] = {}
    outside = 0
    for fall in falls:
        inside = np.flatnonzero((lo <= fall.pos / fs) & (fall.pos / fs <= hi))
        if len(inside):
            by_span.setdefault(int(inside[0]), []).append(fall)
        else:
            outside += 1
    if outside:
        flags.append(f"{outside} timestamp (falling) edges outside every INFER span dropped "
                     "as glitches")
    lonely = [k for k, group in by_span.items() if len(group) < 2]
    if lonely:
        flags.append(f"{len(lonely)} INFER spans with a single timestamp edge: no window")
    extra = sum(len(group) - 2 for group in by_span.values() if len(group) > 2)
    if extra:
        flags.append(f"{extra} timestamp (falling) edges inside INFER spans beyond each "
                     "window's two dropped as glitches")
    return [_nearest_pair(g, fs, expected_s) for k, g in sorted(by_span.items())
            if len(g) >= 2], outside + extra


def _nearest_pair(falls: list[_Edge], fs: float,
                  expected_s: float | None) -> tuple[_Edge, _Edge]:
    if expected_s is None or len(falls) == 2:
        return falls[0], falls[-1]
    pairs = [(a, b) for i, a in enumerate(falls) for b in falls[i + 1:]]
    return min(pairs, key=lambda p: abs((p[1].pos - p[0].pos) / fs - expected_s))


def _idle_power(scan: EdgeScan, pairs: list[tuple[_Edge, _Edge]],
                fs: float, idle_before: bool | None = None) -> tuple[float, float]:
    """Mean power before the first window (if the trace starts low, or ``idle_before``)
    and after the last."""
    first, last = pairs[0][0], pairs[-1][1]
    energy, samples = scan.total_energy_j - last.energy_j, scan.n_samples - last.pos
    if (not scan.starts_high) if idle_before is None else idle_before:
        energy, samples = energy + first.energy_j, samples + first.pos
    if samples <= 0:
        return math.nan, 0.0
    return energy / (samples / fs), samples / fs


@dataclass
class CumulativeScan:
    """Cumulative energy at given fractional sample positions, in one chunked pass.

    Same convention as the edges: energy up to ``x`` counts sample ``floor(x)`` in
    proportion; positions before the trace read 0, after it the total.
    """

    sample_rate: float
    positions: np.ndarray                     # sorted, in samples
    energy_j: np.ndarray = field(init=False)
    n_samples: int = 0
    total_energy_j: float = 0.0

    def __post_init__(self) -> None:
        self.energy_j = np.zeros(len(self.positions))

    def feed(self, chunk: TraceChunk) -> None:
        n = len(chunk.current_a)
        power = np.asarray(chunk.current_a, dtype=np.float64) * chunk.voltage_v
        csum = np.cumsum(power) / self.sample_rate
        lo, hi = np.searchsorted(self.positions, [self.n_samples, self.n_samples + n])
        x = self.positions[lo:hi] - self.n_samples
        k = np.floor(x).astype(np.int64)
        before = np.where(k > 0, csum[np.maximum(k - 1, 0)], 0.0)
        self.energy_j[lo:hi] = (self.total_energy_j + before
                                + (x - k) * power[k] / self.sample_rate)
        self.n_samples += n
        self.total_energy_j += float(csum[-1]) if n else 0.0

    def finish(self) -> np.ndarray:
        self.energy_j[self.positions >= self.n_samples] = self.total_energy_j
        self.energy_j[self.positions < 0] = 0.0
        return self.energy_j


def measure_energy_from_timestamps(trace: TraceSource,
                                   windows_host_s: Sequence[tuple[float, float]],
                                   host_t0_s: float, inferences_per_window: int,
                                   jitter_s: float, latency_s: float = 0.0,
                                   confidence: float = 0.95,
                                   chunk_samples: int = CHUNK_SAMPLES) -> EnergyResult:
    """Joules per inference without a marker line: windows from host timestamps.

    ``windows_host_s`` holds, per window, when the host sent INFER and when the
    reply arrived, on the host monotonic clock; ``host_t0_s`` is the host time of
    the trace's first sample. A window runs from ``send + latency_s`` to
    ``reply - latency_s`` in trace time. Each of its edges is known only to within
    ``±jitter_s`` (timestamp jitter, link latency spread, the error of
    ``host_t0_s``): per edge, the energy such a shift could move in or out of the
    window, max(E(x+j) - E(x), E(x) - E(x-j)), is read from the trace itself, and
    the CI is widened by the mean of those bounds per inference. Idle power comes
    from before the first window and after the last, each edge pushed ``jitter_s``
    outward so that no activity leaks into it.
    """
    if inferences_per_window < 1:
        raise MeasurementError(f"inferences per window must be >= 1, got {inferences_per_window}")
    if jitter_s < 0:
        raise MeasurementError(f"timestamp jitter must be >= 0 s, got {jitter_s}")
    spans = np.asarray(windows_host_s, dtype=np.float64).reshape(-1, 2)
    if len(spans) == 0:
        raise MeasurementError("no INFER timestamps: nothing to place windows from")
    fs = trace.sample_rate
    starts = (spans[:, 0] + latency_s - host_t0_s) * fs
    ends = (spans[:, 1] - latency_s - host_t0_s) * fs
    if np.any(ends <= starts) or np.any(starts[1:] < ends[:-1]):
        raise MeasurementError("INFER timestamps must give ordered, non-overlapping windows "
                               "(send < reply, each reply before the next send)")
    flags = _trace_flags(trace)
    _check_interrupted(trace, int(np.sum(ends <= trace.n_samples)), len(spans),
                       "INFER windows", flags)
    if starts[0] < 0 or ends[-1] > trace.n_samples:
        raise MeasurementError(
            f"INFER windows span {starts[0] / fs:.3f}..{ends[-1] / fs:.3f} s of trace time but "
            f"the trace covers 0..{trace.duration_s:.3f} s: is the trace's host start time "
            "right?")
    j = jitter_s * fs
    edges = np.concatenate((starts, ends))
    positions = np.concatenate((edges - j, edges, edges + j))
    order = np.argsort(positions)
    scan = CumulativeScan(fs, positions[order])
    for chunk in trace.chunks(chunk_samples):
        scan.feed(chunk)
    energy = np.empty(len(positions))
    energy[order] = scan.finish()
    minus, at, plus = np.split(energy, 3)
    e_start, e_end = at[:len(spans)], at[len(spans):]

    idle_before, idle_after = max(starts[0] - j, 0.0), max(scan.n_samples - (ends[-1] + j), 0.0)
    idle_energy = minus[0] + (scan.total_energy_j - plus[len(spans) * 2 - 1])
    idle_s = (idle_before + idle_after) / fs
    idle_power = idle_energy / idle_s if idle_s > 0 else math.nan
    flags.append(f"no marker line: windows placed from host timestamps, edges uncertain by "
                 f"±{jitter_s * 1e3:.3g} ms; the CI includes that")
    if math.isnan(idle_power):
        flags.append("no idle time before or after the windows: above-idle energy unknown")

    # energy an edge shift within ±jitter could move, and the same above idle
    gain, loss = plus - at, at - minus
    edge_j = np.maximum(gain, loss)
    idle_j = (0.0 if math.isnan(idle_power) else idle_power) * jitter_s
    edge_above = np.maximum(np.abs(gain - idle_j), np.abs(loss - idle_j))
    per_window = (edge_j[:len(spans)] + edge_j[len(spans):]) / inferences_per_window
    per_window_above = (edge_above[:len(spans)] + edge_above[len(spans):]) / inferences_per_window
    windows = [Window(s / fs, e / fs, float(b - a), inferences_per_window)
               for s, e, a, b in zip(starts, ends, e_start, e_end, strict=True)]
    return _result(windows, idle_power, idle_s, confidence, flags,
                   edge_j=float(np.mean(per_window)),
                   edge_above_j=float(np.mean(per_window_above)), alignment="timestamps")
