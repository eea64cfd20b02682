"""The simulated monitor renders what the simulated board logged on its virtual wire."""

from __future__ import annotations

import time

import pytest

from harness.errors import ConfigError, MeasurementError
from harness.power.energy import measure_energy
from harness.power.monitor import create_monitor
from harness.power.sim_activity import ActivityReader, ActivityWriter


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
    with pytest.raises(MeasurementError, match=r"'nosuch' is not available.*sim"):
        create_monitor("nosuch")
    with pytest.raises(ConfigError, match=r"monitors\.params"):
        create_monitor("sim", activity_log=tmp_path / "w", idle_current_a=0.001, gain=3)
