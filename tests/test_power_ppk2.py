"""The PPK2 backend against an emulated kit on a real pseudo-terminal."""

from __future__ import annotations

import time

import numpy as np
import pytest

from harness.errors import MeasurementError, MonitorDisconnected
from harness.power.backends.ppk2 import Calibration, decode
from harness.power.energy import measure_energy
from harness.power.monitor import create_monitor, power_board
from tests.instruments.ppk2 import Ppk2Emulator, encode, metadata_text
from tests.instruments.pty_instrument import PtyInstrument
from tests.instruments.recording import record, wait_until
from tests.instruments.waveform import Waveform

WAVE = Waveform()
VOLTS = 3.0
INFERENCES = 10


def acquire(emulator: Ppk2Emulator, **params):
    with PtyInstrument(emulator) as pty:
        monitor = create_monitor("ppk2", resource=pty.path, **params)
        return record(monitor, 100_000, VOLTS, WAVE.last_end_s + 0.1)


def test_energy_per_inference_recovered_from_the_sample_stream():
    emulator = Ppk2Emulator(WAVE, marker_input=3)
    trace = acquire(emulator, marker_input=3)
    assert (emulator.mode, emulator.vdd_mv, emulator.dut_on) == (2, 3000, True)
    assert trace.instrument["model"] == "Nordic PPK2"
    assert trace.instrument["marker_input"] == "D3"
    assert trace.instrument["meta_hw"] == "9173"
    assert trace.dropped_samples == 0 and trace.over_range_samples == 0
    assert trace.wall_duration_s == pytest.approx(trace.duration_s, rel=0.1)
    result = measure_energy(trace, INFERENCES, expected_windows=WAVE.windows)
    expected = WAVE.energy_per_window_j(VOLTS) / INFERENCES
    # quantisation of the 14-bit ADC in the 20 mA range is ~4 uA: well inside 0.2 %
    assert result.n_windows == WAVE.windows
    assert result.mean_j == pytest.approx(expected, rel=2e-3)
    assert result.idle_power_w == pytest.approx(WAVE.idle_a * VOLTS, rel=5e-3)
    assert not result.flags


def test_lost_and_invalid_samples_are_counted_and_the_time_base_kept():
    emulator = Ppk2Emulator(WAVE, drop=(5_000, 37), invalid_at=(20_000, 20_001))
    trace = acquire(emulator, mode="ampere")
    assert emulator.mode == 1
    assert trace.dropped_samples == 37
    assert trace.over_range_samples == 2
    # every window still starts where it did: the held samples filled the gap
    rises = np.flatnonzero(np.diff(trace.markers["marker"].astype(int)) == 1) + 1
    assert list(rises[:2]) == [10_000, 25_000]
    result = measure_energy(trace, INFERENCES)
    assert any("37 samples dropped" in f for f in result.flags)
    assert any("2 samples over range" in f for f in result.flags)


def test_calibration_coefficients_follow_the_metadata():
    cal = Calibration.parse(metadata_text().decode())
    currents = np.array([1e-6, 3e-4, 5e-3, 0.05, 0.4])
    raw = encode(currents, np.zeros(5, dtype=np.uint8), 0, 3.3)
    got = decode(raw, cal, 3.3).current_a
    step = 4 * 1.8 / 163840 / np.array([1012.3, 99.81, 10.07, 0.951, 0.0442])
    assert np.all(np.abs(got - currents) <= step)  # one ADC step in whatever range it chose


def test_missing_port_names_the_instrument_and_resource():
    monitor = create_monitor("ppk2", resource="/dev/nonexistent-ppk2")
    with pytest.raises(MeasurementError, match=r"PPK2: cannot open serial port.*nonexistent"):
        monitor.configure(sample_rate=100_000, supply_voltage=3.3, current_range_a=None)


def test_a_device_that_answers_otherwise_is_not_taken_for_a_ppk2():
    with PtyInstrument(Ppk2Emulator(WAVE, impostor=b"PowerShield > error\r\n")) as pty:
        monitor = create_monitor("ppk2", resource=pty.path, timeout_s=0.3)
        with pytest.raises(MeasurementError, match=r"PPK2 on .*not a PPK2.*PowerShield"):
            monitor.configure(sample_rate=100_000, supply_voltage=3.3, current_range_a=None)
        monitor.close()


def test_silence_is_a_timeout_naming_the_port():
    with PtyInstrument(Ppk2Emulator(WAVE, impostor=b"")) as pty:
        monitor = create_monitor("ppk2", resource=pty.path, timeout_s=0.3)
        with pytest.raises(MeasurementError, match=rf"PPK2 on {pty.path}: no answer.*0.3 s"):
            monitor.configure(sample_rate=100_000, supply_voltage=3.3, current_range_a=None)
        monitor.close()


def test_settings_the_kit_cannot_do_are_refused_before_any_io():
    monitor = create_monitor("ppk2", resource="/dev/null")
    with pytest.raises(MeasurementError, match="100000 S/s only"):
        monitor.configure(sample_rate=10_000, supply_voltage=3.3, current_range_a=None)
    with pytest.raises(MeasurementError, match=r"outside 0\.8\.\.5 V"):
        monitor.configure(sample_rate=100_000, supply_voltage=5.5, current_range_a=None)
    with pytest.raises(MeasurementError, match=r"digital input 0\.\.7"):
        create_monitor("ppk2", marker_input=9)


def test_set_output_switches_dut_power_at_the_wire():
    emulator = Ppk2Emulator(WAVE)
    with PtyInstrument(emulator) as pty:
        monitor = create_monitor("ppk2", resource=pty.path)
        try:
            monitor.configure(sample_rate=100_000, supply_voltage=VOLTS, current_range_a=None)
            assert wait_until(lambda: emulator.dut_on)
            assert power_board(monitor, False)
            assert wait_until(lambda: not emulator.dut_on)
            monitor.start()  # unpowered, the board draws nothing
            time.sleep(0.05)
            monitor.stop()
            assert np.max(np.abs(monitor.read().current_a)) < 1e-5
            monitor.set_output(True)
            assert wait_until(lambda: emulator.dut_on)
        finally:
            monitor.close()
    assert emulator.commands.count(0x0C) == 3


def test_a_kit_unplugged_mid_acquisition_is_a_disconnect():
    with pytest.raises(MonitorDisconnected, match=r"PPK2 on .*(lost the port|write failed)"):
        acquire(Ppk2Emulator(WAVE, vanish_after_s=0.2))
