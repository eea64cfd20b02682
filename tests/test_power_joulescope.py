"""The Joulescope backend against a stand-in for pyjoulescope_driver's Driver (USB-only
instrument: the vendor library's API is the edge)."""

from __future__ import annotations

import re
import time

import pytest

from harness.errors import MeasurementError, MonitorDisconnected
from harness.power.energy import measure_energy
from harness.power.monitor import create_monitor, power_board
from tests.instruments.joulescope_driver import FakeDriver
from tests.instruments.recording import record
from tests.instruments.waveform import Waveform

WAVE = Waveform()
VOLTS = 3.0
INFERENCES = 10


def acquire(driver: FakeDriver, rate: float, **params):
    monitor = create_monitor("joulescope", driver_factory=lambda: driver, **params)
    return record(monitor, rate, None, WAVE.last_end_s + 0.1)


@pytest.mark.parametrize(("path", "rate"), [("u/js220/000415", 1_000_000),
                                            ("u/js110/001234", 100_000)])
def test_energy_per_inference_recovered_from_the_streams(path, rate):
    driver = FakeDriver(WAVE, paths=(path,), volts=VOLTS)
    trace = acquire(driver, rate, marker_input=2)
    range_topic = "s/i/range/select" if "js110" in path else "s/i/range/mode"
    assert (f"{path}/{range_topic}", "auto") in driver.published
    assert (f"{path}/h/fs", rate) in driver.published
    assert (f"{path}/s/gpi/2/ctrl", 1) in driver.published
    assert driver.finalized and not driver.opened
    assert trace.sample_rate == rate
    assert trace.instrument["model"] == f"Joulescope {path.split('/')[1].upper()}"
    assert trace.instrument["serial_number"] == path.rsplit("/", 1)[1]
    assert trace.dropped_samples == 0
    assert trace.wall_duration_s == pytest.approx(trace.duration_s, rel=0.1)
    result = measure_energy(trace, INFERENCES, expected_windows=WAVE.windows)
    expected = WAVE.energy_per_window_j(VOLTS) / INFERENCES
    assert result.mean_j == pytest.approx(expected, rel=1e-5)  # float32 samples
    assert not result.flags


def test_a_lost_message_is_counted_and_held_over():
    trace = acquire(FakeDriver(WAVE, lose_message=3, volts=VOLTS), 100_000)
    assert 0 < trace.dropped_samples < 5_000
    result = measure_energy(trace, INFERENCES)
    assert any("samples dropped" in f for f in result.flags)
    assert result.windows[0].start_s == pytest.approx(WAVE.first_s, abs=1e-5)


def test_device_choice_and_rates_are_checked():
    two = FakeDriver(WAVE, paths=("u/js220/000415", "u/js110/001234"))
    with pytest.raises(MeasurementError, match=r"2 devices connected .*name one"):
        create_monitor("joulescope", driver_factory=lambda: two).configure(1e6, None, None)
    monitor = create_monitor("joulescope", resource="001234", driver_factory=lambda: two)
    with pytest.raises(MeasurementError, match=r"u/js110/001234: 3e\+06 S/s is not a divisor"):
        monitor.configure(3e6, None, None)
    monitor.close()
    with pytest.raises(MeasurementError, match=r"no device '9999' \(connected: u/js220"):
        create_monitor("joulescope", resource="9999",
                       driver_factory=lambda: two).configure(1e6, None, None)


def test_the_real_driver_lists_no_devices_here():
    from harness.power.backends.joulescope import discover

    assert discover() == []  # pyjoulescope_driver is installed and runs without hardware


@pytest.mark.parametrize(("path", "topic"), [("u/js220/000415", "s/i/range/mode"),
                                             ("u/js110/001234", "s/i/range/select")])
def test_set_output_opens_and_closes_the_sensor_path(path, topic):
    driver = FakeDriver(WAVE, paths=(path,), volts=VOLTS)
    monitor = create_monitor("joulescope", driver_factory=lambda: driver)
    try:
        monitor.configure(100_000, None, None)
        assert power_board(monitor, False)
        monitor.start()  # the board is cut off: it draws nothing
        time.sleep(0.05)
        monitor.stop()
        assert not monitor.read().current_a.any()
        monitor.set_output(True)
    finally:
        monitor.close()
    assert [v for t, v in driver.published if t == f"{path}/{topic}"] == ["auto", "off", "auto"]


def test_a_device_unplugged_while_streaming_is_a_disconnect():
    with pytest.raises(MonitorDisconnected, match=r"u/js220/000415: streaming off failed"):
        acquire(FakeDriver(WAVE, volts=VOLTS, vanish_after_s=0.2), 100_000)


def test_a_stream_that_stops_without_an_error_marks_the_trace_cut_short():
    trace = acquire(FakeDriver(WAVE, volts=VOLTS, vanish_after_s=0.35, loud=False), 100_000)
    assert re.fullmatch(r"the stream stopped 0\.3\d+ s into a 0\.8\d+ s acquisition",
                        trace.interrupted or "")
    with pytest.raises(MonitorDisconnected, match=r"Joulescope JS220: the stream stopped .* "
                                                  r"the trace holds 0\.3\d+ s and 2 of 5"):
        measure_energy(trace, INFERENCES, expected_windows=WAVE.windows)
