"""The simulated monitor renders what the simulated board logged on its virtual wire."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ConfigError, MeasurementError, MonitorDisconnected
from harness.power.energy import measure_energy
from harness.power.monitor import create_monitor
from harness.power.sim_activity import RECORD, ActivityReader, ActivityWriter
from harness.power.sim_monitor import timeline


def test_activity_log_keeps_records_in_order_and_window(tmp_path):
    log = tmp_path / "wire.activity"
    writer = ActivityWriter(log)
    writer.append(10.0, 0.5, 0.01, False)
    writer.append(10.0, 1.0, 0.01, True)
    writer.append(20.0, 1.0, 0.02, True)
    with log.open("ab") as fh:
        fh.write(b"\x01\x02")  # a torn record being written is not read
    records = ActivityReader(log).segments_between(9.0, 15.0)
    assert [bool(m) for m in records["marker"]] == [False, True]
    assert list(records["duration_s"]) == [0.5, 1.0]


def test_monitor_sees_modelled_durations_not_host_time(tmp_path):
    log = tmp_path / "wire.activity"
    monitor = create_monitor("sim", activity_log=log, idle_current_a=0.002, noise_a=1e-4)
    monitor.configure(sample_rate=100e3, supply_voltage=3.3, current_range_a=None)
    writer = ActivityWriter(log)
    monitor.start()
    time.sleep(0.02)
    for _ in range(4):  # each "INFER" models 50 ms at 10 mA, though it returns at once
        writer.append(time.monotonic(), 0.05, 0.010, True)
        time.sleep(0.01)
    monitor.stop()
    trace = monitor.read()
    monitor.close()
    assert trace.duration_s >= 0.2 + 0.05
    result = measure_energy(trace, inferences_per_window=10)
    assert result.n_windows == 4
    assert result.mean_j == pytest.approx(0.05 * 0.010 * 3.3 / 10, rel=5e-3)
    assert result.idle_power_w == pytest.approx(0.002 * 3.3, rel=0.05)


def test_reading_before_stopping_is_an_error(tmp_path):
    monitor = create_monitor("sim", activity_log=tmp_path / "w", idle_current_a=0.001)
    monitor.start()
    with pytest.raises(MeasurementError, match="before start"):
        monitor.read()


def test_unknown_backend_and_bad_params_are_clear_errors(tmp_path):
    with pytest.raises(MeasurementError, match=r"no power monitor backend 'nosuch' \(known: sim"):
        create_monitor("nosuch")
    with pytest.raises(ConfigError, match=r"monitors\.params"):
        create_monitor("sim", activity_log=tmp_path / "w", idle_current_a=0.001, gain=3)


def _segments(*rows: tuple[float, float, float, int, int]) -> np.ndarray:
    return np.array(list(rows), dtype=RECORD)


def test_realtime_segments_are_overlaid_on_the_wall_timeline_not_inserted():
    segments = _segments((1.0, 0.1, 0.010, 1, 1), (1.2, 0.05, 0.020, 0, 1))
    edges, levels, spans = timeline(segments, 0.9, 0.5, 0.002)
    assert edges[-1] == pytest.approx(0.5)  # nothing inserted: the trace spans the wall time
    charge = float(np.sum(levels * np.diff(edges)))
    assert charge == pytest.approx(0.1 * 0.010 + 0.05 * 0.020 + 0.35 * 0.002)
    assert spans.ravel().tolist() == pytest.approx([0.1, 0.2])


def test_mixed_logs_insert_modelled_time_before_later_realtime_segments():
    # modelled 0.2 s at wall 1.0, then a realtime segment that happened at wall 1.1..1.2
    segments = _segments((1.0, 0.2, 0.010, 1, 0), (1.1, 0.1, 0.030, 1, 1))
    edges, levels, spans = timeline(segments, 0.9, 0.5, 0.002)
    assert edges[-1] == pytest.approx(0.7)
    assert spans.ravel().tolist() == pytest.approx([0.1, 0.3, 0.4, 0.5])
    mid = (edges[:-1] + edges[1:]) / 2
    assert levels[(mid > 0.1) & (mid < 0.3)] == pytest.approx(0.010)
    assert levels[(mid > 0.4) & (mid < 0.5)] == pytest.approx(0.030)
    assert levels[mid > 0.5] == pytest.approx(0.002)


def test_a_realtime_segment_running_when_the_monitor_starts_is_clipped_to_it(tmp_path):
    log = tmp_path / "wire.activity"
    writer = ActivityWriter(log)
    writer.append(9.5, 1.0, 0.01, True, realtime=True)   # 9.5..10.5, monitor from 10.0
    writer.append(9.0, 0.5, 0.01, True, realtime=False)  # modelled, before the monitor: out
    records = ActivityReader(log).segments_between(10.0, 12.0)
    assert len(records) == 1 and records["realtime"][0] == 1
    edges, levels, spans = timeline(records, 10.0, 2.0, 0.001)
    assert spans.ravel().tolist() == pytest.approx([0.0, 0.5])
    assert float(np.sum(levels * np.diff(edges))) == pytest.approx(0.5 * 0.01 + 1.5 * 0.001)


def test_monitor_overlays_a_realtime_board_in_wall_time(tmp_path):
    log = tmp_path / "wire.activity"
    monitor = create_monitor("sim", activity_log=log, idle_current_a=0.002)
    monitor.configure(sample_rate=100e3, supply_voltage=3.3, current_range_a=None)
    writer = ActivityWriter(log)
    monitor.start()
    for _ in range(3):  # the board really spends 30 ms per window and says so afterwards
        time.sleep(0.02)
        began = time.monotonic()
        time.sleep(0.03)
        writer.append(began, time.monotonic() - began, 0.010, True, realtime=True)
    time.sleep(0.02)
    monitor.stop()
    trace = monitor.read()
    assert trace.duration_s == pytest.approx(trace.wall_duration_s, abs=1e-4)
    result = measure_energy(trace, inferences_per_window=1)
    assert result.n_windows == 3
    assert [w.duration_s for w in result.windows] == pytest.approx([0.03] * 3, abs=5e-3)


def test_output_off_reads_zero_and_the_unpowered_board_drives_no_marker(tmp_path):
    log = tmp_path / "wire.activity"
    monitor = create_monitor("sim", activity_log=log, idle_current_a=0.002)
    monitor.configure(sample_rate=100e3, supply_voltage=3.3, current_range_a=None)
    writer = ActivityWriter(log)
    monitor.start()
    time.sleep(0.02)
    monitor.set_output(False)
    writer.append(time.monotonic(), 0.01, 0.010, True)  # what it would draw if powered
    time.sleep(0.03)
    monitor.set_output(True)
    time.sleep(0.02)
    monitor.stop()
    trace = monitor.read()
    off = trace.current_a == 0.0
    assert off.sum() >= 0.03 * 100e3  # the off span, and the inserted segment within it
    assert not trace.markers["marker"].any()
    assert trace.current_a[:1000] == pytest.approx(0.002)
    assert trace.current_a[-1000:] == pytest.approx(0.002)


def _disconnects(wire: Path, seed: int, rate: float, traces: int = 16,
                 monitors: int = 1) -> list[bool]:
    """Whether each trace was cut short, over ``monitors`` monitors opened one after another."""
    seen = []
    for i in range(traces):
        if i % (traces // monitors) == 0:
            monitor = create_monitor("sim", activity_log=wire, idle_current_a=0.001,
                                     disconnect_rate=rate, seed=seed)
            monitor.configure(sample_rate=10e3, supply_voltage=3.3, current_range_a=None)
        monitor.start()
        time.sleep(0.002)
        monitor.stop()
        trace = monitor.read()
        seen.append(trace.interrupted is not None)
        if trace.interrupted:
            with pytest.raises(MonitorDisconnected, match="reconnects"):
                monitor.set_output(True)
            monitor.configure(sample_rate=10e3, supply_voltage=3.3, current_range_a=None)
    return seen


def test_disconnects_follow_their_rate_and_seed(tmp_path):
    assert not any(_disconnects(tmp_path / "a", 0, 0.0))
    assert all(_disconnects(tmp_path / "b", 0, 1.0))
    half = _disconnects(tmp_path / "c", 7, 0.5)
    assert 0 < sum(half) < len(half)
    assert _disconnects(tmp_path / "d", 7, 0.5) == half  # reproducible from the seed
    # a new monitor on the same wire (a job measuring again) continues the sequence
    assert _disconnects(tmp_path / "e", 7, 0.5, monitors=4) == half


def test_a_disconnected_trace_ends_early_and_says_so(tmp_path):
    monitor = create_monitor("sim", activity_log=tmp_path / "w", idle_current_a=0.001,
                             disconnect_after_s=0.01)
    monitor.configure(sample_rate=10e3, supply_voltage=3.3, current_range_a=None)
    monitor.start()
    time.sleep(0.03)
    monitor.stop()
    trace = monitor.read()
    assert trace.n_samples == 100
    assert trace.interrupted == "disconnected 0.010 s into the trace"
    assert trace.wall_duration_s is None  # a partial trace makes no time-base claim


def test_glitch_and_disconnect_params_are_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"monitors\.params\.glitches"):
        create_monitor("sim", activity_log=tmp_path / "w", idle_current_a=0.001, glitches=-1)
    with pytest.raises(ConfigError, match=r"disconnect_rate.*probability"):
        create_monitor("sim", activity_log=tmp_path / "w", idle_current_a=0.001,
                       disconnect_rate=2)
