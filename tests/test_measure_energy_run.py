"""The energy procedure picks its window alignment from what the monitor recorded."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from harness.boards.sim_board import build_device
from harness.boards.sim_runner import SimulatedRunner
from harness.config.board import BoardSpec, find_board
from harness.dut.pty_link import ResetLine, open_pty, serve
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.errors import MeasurementError, MonitorDisconnected
from harness.measure.energy_run import energy_from_trace, measure_energy_per_inference
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel
from harness.power.monitor import create_monitor
from harness.power.sim_activity import RECORD, ActivityReader
from harness.power.sim_monitor import render, timeline
from harness.power.trace import Trace
from tests.tiny_tflite import dense_float_model

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


@contextmanager
def _sim_board(tmp_path: Path, realtime: bool) -> Iterator[tuple[DutSession, Path, BoardSpec]]:
    """A simulated board served in this process, a session to it, and its power wire.

    Its clock is slowed so that one inference of the tiny model takes ~2 ms: long
    enough for 100 kS/s windows, short enough for a fast test."""
    model = dense_float_model(tmp_path / "dense.tflite", np.ones((4, 8), np.float32),
                              np.zeros(4, np.float32))
    board = find_board("nucleo_l4r5zi")
    probe = SimulatedRunner(board, TflmHostModel.load(model), inspect_tflite(model), None)
    board = board.model_copy(update={"clock_hz": max(1, probe.cycles_per_inference * 500)})
    wire = tmp_path / "wire.activity"
    reset = ResetLine()
    device = build_device(board, model, wire, seed=0,
                          realtime_sleep=reset.sleep if realtime else None)
    master, slave = open_pty()
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(master, device, stop, None, reset),
                              daemon=True)
    thread.start()
    try:
        with DutSession(open_link(slave)) as session:
            assert session.wait_ready(2.0)
            yield session, wire, board
    finally:
        stop.set()
        thread.join(timeout=5)
        os.close(master)


def _true_j_per_inference(wire: Path, board: BoardSpec, per_window: int) -> float:
    timed = ActivityReader(wire).segments_between(0.0, float("inf"))
    timed = timed[timed["marker"] == 1]
    return float(np.mean(timed["duration_s"] * timed["current_a"])) * VOLTS / per_window


@pytest.mark.parametrize("realtime", [False, True])
def test_twenty_five_glitches_on_a_simulated_board_leave_the_figure_within_half_a_percent(
        tmp_path, realtime):
    with _sim_board(tmp_path, realtime) as (session, wire, board):
        monitor = create_monitor("sim", activity_log=wire, glitches=25,
                                 idle_current_a=board.power.idle_current_a, noise_a=2e-4)
        monitor.configure(sample_rate=100e3, supply_voltage=VOLTS, current_range_a=None)
        try:
            result = measure_energy_per_inference(session, monitor, bytes(32), windows=6,
                                                  inferences_per_window=5, idle_s=0.02,
                                                  trace_path=tmp_path / "t.npz")
        finally:
            monitor.close()
    truth = _true_j_per_inference(wire, board, 5)
    assert result.n_windows == 6 and result.glitches_dropped == 25
    assert abs(result.mean_j / truth - 1) < 5e-3
    assert any("25 marker pulses shorter than" in f for f in result.flags)
    assert not any(f.startswith("found") for f in result.flags)
    # a realtime board's trace is on the host clock: its windows were matched to INFER spans
    assert (Trace.load(tmp_path / "t.npz").host_t0_s is not None) == realtime


def test_a_monitor_that_disconnects_mid_trace_gives_no_figure_and_must_reconnect(tmp_path):
    with _sim_board(tmp_path, realtime=False) as (session, wire, board):
        monitor = create_monitor("sim", activity_log=wire, disconnect_after_s=0.05,
                                 idle_current_a=board.power.idle_current_a)
        monitor.configure(sample_rate=100e3, supply_voltage=VOLTS, current_range_a=None)
        with pytest.raises(MonitorDisconnected, match=r"simulated monitor: disconnected 0\.050 s "
                                                      r"into the trace.*1 of 3 marker windows"):
            measure_energy_per_inference(session, monitor, bytes(32), windows=3,
                                         inferences_per_window=2, idle_s=0.03)
        with pytest.raises(MonitorDisconnected, match="configure\\(\\) reconnects"):
            monitor.start()
        monitor.close()
