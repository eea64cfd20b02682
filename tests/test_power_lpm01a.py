"""The LPM01A backend against an emulated PowerShield on a real pseudo-terminal."""

from __future__ import annotations

import time

import pytest

from harness.errors import MeasurementError, MonitorDisconnected
from harness.power.energy import measure_energy
from harness.power.monitor import create_monitor, power_board
from tests.instruments.lpm01a import Lpm01aEmulator, ascii_dec
from tests.instruments.pty_instrument import PtyInstrument
from tests.instruments.recording import record
from tests.instruments.waveform import Waveform

WAVE = Waveform()
VOLTS = 3.0
INFERENCES = 10


def acquire(emulator: Lpm01aEmulator, rate: float = 1000, **params):
    with PtyInstrument(emulator) as pty:
        monitor = create_monitor("lpm01a", resource=pty.path, **params)
        return record(monitor, rate, VOLTS, WAVE.last_end_s + 0.1)


@pytest.mark.parametrize("output", ["energy", "current"])
def test_energy_per_inference_recovered_from_samples_and_d7_events(output):
    emulator = Lpm01aEmulator(WAVE)
    trace = acquire(emulator, output=output)
    assert emulator.settings == {"volt": "3000m", "freq": "1k", "acqtime": "0",
                                 "output": output, "format": "ascii_dec", "trigsrc": "sw",
                                 "eventsrc": "d7 fal", "pwr": "on"}
    assert not emulator.host_control  # released on close
    assert trace.instrument["firmware"] == "1.0.5"
    assert trace.instrument["board_id"] == "3A0042001751363036313539"
    assert trace.dropped_samples == 0
    assert trace.wall_duration_s == pytest.approx(trace.duration_s, rel=0.1)
    result = measure_energy(trace, INFERENCES, expected_windows=WAVE.windows)
    expected = WAVE.energy_per_window_j(VOLTS) / INFERENCES
    # samples carry four significant digits; windows are whole samples at 1 kS/s
    assert result.n_windows == WAVE.windows
    assert result.mean_j == pytest.approx(expected, rel=1e-3)
    assert not result.flags


def test_lost_sample_lines_are_found_from_the_board_timestamps():
    trace = acquire(Lpm01aEmulator(WAVE, lose=(30, 12)))
    assert trace.dropped_samples == 12
    # held samples keep every window where it was
    result = measure_energy(trace, INFERENCES)
    assert result.windows[0].start_s == pytest.approx(WAVE.first_s, abs=1.5e-3)
    assert any("12 samples dropped" in f for f in result.flags)


def test_an_overcurrent_report_during_acquisition_is_an_error():
    emulator = Lpm01aEmulator(WAVE, trouble_at=(200, "Error detail: overcurrent on target"))
    with pytest.raises(MeasurementError, match=r"LPM01A on .* reported .*overcurrent"):
        acquire(emulator)


def test_sample_text_decodes_as_the_board_prints_it():
    assert ascii_dec(640.9e-6) == "6409-07"
    assert ascii_dec(2.5) == "2500-03"


def test_rates_the_board_cannot_stream_unbounded_are_refused():
    monitor = create_monitor("lpm01a", resource="/dev/null")
    with pytest.raises(MeasurementError, match="not one it streams"):
        monitor.configure(sample_rate=100_000, supply_voltage=3.3, current_range_a=None)
    with pytest.raises(MeasurementError, match="outside"):
        monitor.configure(sample_rate=1000, supply_voltage=5.0, current_range_a=None)


def test_missing_port_wrong_device_and_silence_are_named():
    with pytest.raises(MeasurementError, match=r"LPM01A: cannot open serial port.*nope"):
        create_monitor("lpm01a", resource="/dev/nope").configure(1000, 3.3, None)
    with PtyInstrument(Lpm01aEmulator(WAVE, impostor=b"\x00\x11garbage")) as pty:
        monitor = create_monitor("lpm01a", resource=pty.path, timeout_s=0.3)
        with pytest.raises(MeasurementError, match=r"answered 'htc' is not a PowerShield"):
            monitor.configure(1000, 3.3, None)
        monitor.close()
    with PtyInstrument(Lpm01aEmulator(WAVE, impostor=b"")) as pty:
        monitor = create_monitor("lpm01a", resource=pty.path, timeout_s=0.3)
        with pytest.raises(MeasurementError, match=rf"{pty.path}: no answer to 'htc'"):
            monitor.configure(1000, 3.3, None)
        monitor.close()


def test_a_refused_command_reports_the_boards_detail():
    with PtyInstrument(Lpm01aEmulator(WAVE)) as pty:
        monitor = create_monitor("lpm01a", resource=pty.path, eventsrc="d9 ris")
        with pytest.raises(MeasurementError, match=r"refused 'eventsrc d9 ris'.*unsupported"):
            monitor.configure(1000, 3.3, None)
        monitor.close()


def test_set_output_switches_the_powershield_supply():
    emulator = Lpm01aEmulator(WAVE)
    with PtyInstrument(emulator) as pty:
        monitor = create_monitor("lpm01a", resource=pty.path)
        try:
            monitor.configure(1000, VOLTS, None)
            assert emulator.settings["pwr"] == "on"
            assert power_board(monitor, False)
            assert emulator.settings["pwr"] == "off"
            monitor.start()  # unpowered, the board draws nothing
            time.sleep(0.2)
            monitor.stop()
            assert not monitor.read().current_a.any()
            monitor.set_output(True)
            assert emulator.settings["pwr"] == "on"
        finally:
            monitor.close()


def test_a_powershield_unplugged_mid_acquisition_is_a_disconnect():
    with pytest.raises(MonitorDisconnected, match=r"LPM01A on .*(lost the port|write failed)"):
        acquire(Lpm01aEmulator(WAVE, vanish_after_s=0.2))
