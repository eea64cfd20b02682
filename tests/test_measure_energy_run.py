"""The energy procedure picks its window alignment from what the monitor recorded."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import MeasurementError
from harness.measure.energy_run import energy_from_trace
from harness.power.sim_activity import RECORD
from harness.power.sim_monitor import render, timeline
from harness.power.trace import Trace

HOST_T0 = 5000.0  # host monotonic time of the first sample
ACTIVE_S, ACTIVE_A, IDLE_A, VOLTS = 0.05, 0.012, 0.004, 3.3


def _trace_and_host_spans() -> tuple[Trace, list[tuple[float, float]]]:
    starts = [0.2, 0.4, 0.6]
    segments = np.array([(s, ACTIVE_S, ACTIVE_A, 1, 0) for s in starts], dtype=RECORD)
    edges, levels, spans = timeline(segments, 0.0, 0.8, IDLE_A)
    current, marker = render(edges, levels, spans, 100e3)
    trace = Trace(100e3, current, VOLTS, {"marker": marker}, host_t0_s=HOST_T0)
    # what the host saw: INFER sent 1 ms before the activity, reply 1 ms after it
    return trace, [(HOST_T0 + a - 1e-3, HOST_T0 + b + 1e-3) for a, b in spans]


def test_marker_line_is_used_when_the_monitor_recorded_it():
    trace, host = _trace_and_host_spans()
    result = energy_from_trace(trace, host, inferences_per_window=5)
    assert result.alignment == "marker" and result.flags == []
    assert result.mean_j == pytest.approx(ACTIVE_S * ACTIVE_A * VOLTS / 5, rel=1e-3)


def test_without_a_marker_windows_come_from_host_times_with_a_wider_interval():
    trace, host = _trace_and_host_spans()
    with_marker = energy_from_trace(trace, host, inferences_per_window=5)
    trace.markers = {}
    result = energy_from_trace(trace, host, inferences_per_window=5)
    assert result.alignment == "timestamps"
    assert result.above_idle_mean_j == pytest.approx(with_marker.above_idle_mean_j, rel=0.02)
    assert (result.ci_high_j - result.ci_low_j) > (with_marker.ci_high_j - with_marker.ci_low_j)


def test_without_marker_or_host_time_the_error_says_what_to_wire():
    trace, host = _trace_and_host_spans()
    trace.markers, trace.host_t0_s = {}, None
    trace.instrument["model"] = "DMM6500"
    with pytest.raises(MeasurementError, match=r"DMM6500 recorded no marker.*marker pin"):
        energy_from_trace(trace, host, inferences_per_window=5)
