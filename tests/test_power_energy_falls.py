"""Windows between falling edges: MLPerf Tiny's timestamp pin on a monitor's marker input.

The pin idles high and is pulled low for a moment before and after the timed
inferences; a window runs from one fall to the next. Synthetic traces of known
energy, rendered the way the simulated monitor renders the board's power wire.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.measure.energy_run import energy_from_trace
from harness.power.energy import measure_energy
from harness.power.sim_activity import RECORD
from harness.power.sim_monitor import add_glitches, render, timeline
from harness.power.trace import Trace

SUPPLY_V = 3.3
IDLE_A, ACTIVE_A = 0.0045, 0.0126
PULSE_S = 100e-6
TIMED_S = 0.0371111
PER_WINDOW = 5
RATE = 100e3
T0 = 0.9


def timestamp_trace(windows: int = 3, glitches: int = 0, host_t0: float | None = None,
                    instrument: dict | None = None) -> Trace:
    """Idle; per window a pin pulse, the timed runs, a pin pulse, 0.2 s apart; idle."""
    segments = []
    for i in range(windows):
        start = 1.0 + 0.2 * i
        segments += [(start, PULSE_S, ACTIVE_A, 1, 1), (start + PULSE_S, TIMED_S, ACTIVE_A, 0, 1),
                     (start + PULSE_S + TIMED_S, PULSE_S, ACTIVE_A, 1, 1)]
    edges, levels, spans = timeline(np.array(segments, dtype=RECORD), T0, 0.2 * windows + 0.2,
                                    IDLE_A)
    current, marker = render(edges, levels, spans, RATE)
    add_glitches(marker, spans, RATE, glitches)
    return Trace(RATE, current, SUPPLY_V, {"marker": 1 - marker},    # the pin reads active-low
                 instrument=instrument or {"model": "synthetic"}, host_t0_s=host_t0)


#: a window runs from the first pulse's fall to the second's: the first pulse is in it
TRUE_J = (PULSE_S + TIMED_S) * ACTIVE_A * SUPPLY_V / PER_WINDOW


def host_spans(windows: int = 3) -> list[tuple[float, float]]:
    """When the host sent each infer and read its reply (the wall clock of the trace)."""
    return [(1.0 + 0.2 * i - 0.01, 1.0 + 0.2 * i + TIMED_S + 0.01) for i in range(windows)]


def test_windows_run_from_one_fall_to_the_next() -> None:
    result = measure_energy(timestamp_trace(), PER_WINDOW, marker_windows="falls",
                            expected_windows=3)
    assert result.n_windows == 3 and result.flags == []
    assert result.mean_j == pytest.approx(TRUE_J, rel=5e-3)
    assert result.windows[0].duration_s == pytest.approx(PULSE_S + TIMED_S, abs=2 / RATE)
    # the pin idles high: the idle before the first window counts
    assert result.idle_power_w == pytest.approx(IDLE_A * SUPPLY_V, rel=5e-3)
    assert result.idle_s > 0.15


def test_read_as_high_windows_the_same_trace_gives_only_the_pulses() -> None:
    """Why the mode exists: the level reading sees pin pulses, not inference windows."""
    result = measure_energy(timestamp_trace(), PER_WINDOW, expected_windows=3)
    assert all(w.duration_s > 0.02 for w in result.windows)      # pin high between pulses
    assert result.mean_j != pytest.approx(TRUE_J, rel=0.05)


def test_glitch_falls_outside_the_infer_spans_are_dropped() -> None:
    trace = timestamp_trace(glitches=4, host_t0=T0)
    result = measure_energy(trace, PER_WINDOW, marker_windows="falls", expected_windows=3,
                            windows_host_s=host_spans())
    assert result.n_windows == 3
    assert result.mean_j == pytest.approx(TRUE_J, rel=5e-3)
    assert result.glitches_dropped >= 1
    assert any("outside every INFER span" in f for f in result.flags)


def test_an_odd_fall_without_host_spans_is_flagged() -> None:
    trace = timestamp_trace()
    marker = trace.markers["marker"].copy()
    marker[-5:] = 0      # the pin falls as the trace ends: a fall with no partner
    cut = Trace(RATE, trace.current_a, SUPPLY_V, {"marker": marker})
    result = measure_energy(cut, PER_WINDOW, marker_windows="falls")
    assert result.n_windows == 3
    assert any("odd number" in f for f in result.flags)


def test_a_monitor_that_toggles_its_marker_on_falls_is_read_as_high_windows() -> None:
    """The LPM01A reports falls as events and toggles (marker_events: toggle): its marker
    is already high through each window, so the falls mode is not applied twice."""
    trace = timestamp_trace()
    level = trace.markers["marker"]
    falls = np.flatnonzero((level[1:] == 0) & (level[:-1] == 1)) + 1
    toggled = np.zeros_like(level)
    for start, end in zip(falls[0::2], falls[1::2], strict=True):
        toggled[start:end] = 1
    lpm = Trace(RATE, trace.current_a, SUPPLY_V, {"marker": toggled},
                instrument={"model": "LPM01A", "marker_events": "toggle"})
    result = energy_from_trace(lpm, host_spans(), PER_WINDOW, marker_windows="falls")
    assert result.n_windows == 3
    assert result.mean_j == pytest.approx(TRUE_J, rel=5e-3)


def test_a_glitch_in_the_reply_time_is_told_apart_by_the_expected_window() -> None:
    """A host span also holds the reply's line time (0.15 s at 9600 Bd): a glitch there is
    inside the span. The pair of falls nearest the expected window is the window."""
    trace = timestamp_trace(host_t0=T0)
    marker = trace.markers["marker"].copy()
    for i in range(3):      # one-sample dips 8 ms after each window, before the reply ends
        marker[int((1.0 + 0.2 * i + PULSE_S + TIMED_S + 0.008 - T0) * RATE)] = 0
        marker[int((1.0 + 0.2 * i + 0.015 - T0) * RATE)] = 0         # and one inside it
    glitchy = Trace(RATE, trace.current_a, SUPPLY_V, {"marker": marker}, host_t0_s=T0)
    result = measure_energy(glitchy, PER_WINDOW, marker_windows="falls", expected_windows=3,
                            windows_host_s=host_spans(),
                            expected_window_s=TIMED_S * 1.05)    # an estimate 5 % off
    assert result.n_windows == 3
    assert result.mean_j == pytest.approx(TRUE_J, rel=5e-3)
