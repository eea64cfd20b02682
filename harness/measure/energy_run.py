"""Energy procedure: marker-delimited inference windows under a power monitor.

The arithmetic (windows, integration, confidence interval) lives in
harness/power/energy.py; this module only choreographs the bench.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.dut.client import DutClient
from harness.errors import MeasurementError
from harness.power.energy import (
    EnergyResult,
    MarkerWindows,
    measure_energy,
    measure_energy_from_timestamps,
)
from harness.power.monitor import PowerMonitor
from harness.power.trace import Trace

MARKER = "marker"
#: how well the host knows when an INFER started and ended on the trace's time base:
#: USB-serial latency spread plus the monitor's trigger-time error (docs/energy.md)
HOST_TIMESTAMP_JITTER_S = 2e-3


def measure_energy_per_inference(session: DutClient, monitor: PowerMonitor, input_data: bytes,
                                 windows: int, inferences_per_window: int, idle_s: float,
                                 trace_path: Path | None = None,
                                 latency_s: float | None = None,
                                 marker_windows: MarkerWindows = "high") -> EnergyResult:
    """Idle, then ``windows`` INFERs of ``inferences_per_window`` runs with idle between.

    ``latency_s`` (one inference, e.g. the performance mode's median) sets the
    expected window, against which short marker pulses are glitches. A monitor
    that went away raises `MonitorDisconnected`, from read() or from a trace it
    cut short before every window was in it. ``marker_windows="falls"``: the board
    marks with falling edges before and after the inferences (MLPerf Tiny's timestamp pin).
    """
    session.upload(input_data)
    spans: list[tuple[float, float]] = []  # host send/reply times, for marker-less monitors
    monitor.start()
    try:
        time.sleep(idle_s)
        for _ in range(windows):
            sent = time.monotonic()
            session.infer(0, inferences_per_window, per_run=False, want_output=False)
            spans.append((sent, time.monotonic()))
            time.sleep(idle_s)
    finally:
        monitor.stop()
    trace = monitor.read()
    if trace_path is not None:
        trace.save(trace_path)  # raw trace beside the results so the figure can be recomputed
    return energy_from_trace(trace, spans, inferences_per_window, latency_s, marker_windows)


def energy_from_trace(trace: Trace, host_spans: list[tuple[float, float]],
                      inferences_per_window: int, latency_s: float | None = None,
                      marker_windows: MarkerWindows = "high") -> EnergyResult:
    """Windows from the marker line when the monitor recorded it, else from host times.

    Marker windows are matched against the host's INFER spans when the trace
    knows its host start time, and against the expected duration
    (``latency_s`` x ``inferences_per_window``) always: what does not match is a
    glitch, dropped and flagged. An instrument that reports falling edges as events and
    toggles its marker at each (the LPM01A's ``marker_events: toggle``) has made
    timestamp falls into high windows already.
    """
    if trace.instrument.get("marker_events") == "toggle":
        marker_windows = "high"
    if MARKER in trace.markers:
        expected_s = latency_s * inferences_per_window if latency_s else None
        return measure_energy(trace, inferences_per_window, marker=MARKER,
                              expected_windows=len(host_spans), windows_host_s=host_spans,
                              expected_window_s=expected_s,
                              span_tolerance_s=HOST_TIMESTAMP_JITTER_S,
                              marker_windows=marker_windows)
    if trace.host_t0_s is None:
        raise MeasurementError(
            f"{trace.instrument.get('model', 'the power monitor')} recorded no marker channel "
            "and no host start time: inference windows cannot be placed (wire the board's "
            "marker pin to the monitor's digital input)")
    return measure_energy_from_timestamps(trace, host_spans, trace.host_t0_s,
                                          inferences_per_window,
                                          jitter_s=HOST_TIMESTAMP_JITTER_S)
