"""The Otii backend through the real otii_tcp_client against an emulated Otii TCP server."""

from __future__ import annotations

import pytest

from harness.errors import MeasurementError, MonitorDisconnected
from harness.power.energy import measure_energy
from harness.power.monitor import create_monitor, power_board
from tests.instruments.otii_server import OtiiEmulator, OtiiServer, free_port
from tests.instruments.recording import record
from tests.instruments.waveform import Waveform

WAVE = Waveform()
VOLTS = 3.0
INFERENCES = 10


def acquire(emulator: OtiiEmulator, rate: int = 4000, **params):
    with OtiiServer(emulator) as server:
        monitor = create_monitor("otii", resource=server.resource, connect_timeout_s=1,
                                 **params)
        return record(monitor, rate, VOLTS, WAVE.last_end_s + 0.1)


def test_energy_per_inference_recovered_through_the_client_library():
    emulator = OtiiEmulator(WAVE)
    trace = acquire(emulator)
    s = emulator.settings
    assert (s["main"], s["main_voltage"], s["max_current"], s["range"]) == (True, VOLTS, 0.5,
                                                                              "low")
    assert s["enabled"] == {"mc", "mv", "i1"}
    assert emulator.reserved == [7] and emulator.returned == [7]  # license given back
    assert trace.sample_rate == 4000
    assert trace.instrument["model"] == "Qoitech Otii Arc"
    assert trace.instrument["fw_version"] == "1.2.4"
    assert trace.wall_duration_s == pytest.approx(trace.duration_s, rel=0.1)
    result = measure_energy(trace, INFERENCES, expected_windows=WAVE.windows)
    expected = WAVE.energy_per_window_j(VOLTS) / INFERENCES
    assert result.mean_j == pytest.approx(expected, rel=1e-6)
    assert not result.flags


def test_a_trip_of_main_during_acquisition_is_an_error():
    with pytest.raises(MeasurementError, match=r"switched main off.*0\.5 A trip"):
        acquire(OtiiEmulator(WAVE, trip=True))


def test_a_rate_the_device_refuses_is_reported_with_the_servers_words():
    with pytest.raises(MeasurementError, match=r"Otii on 127.0.0.1:\d+: configure failed.*"
                                               r"Invalid key value"):
        acquire(OtiiEmulator(WAVE), rate=3000)


def test_no_server_and_unknown_device_are_named():
    resource = f"127.0.0.1:{free_port()}"
    monitor = create_monitor("otii", resource=resource, connect_timeout_s=0)
    with pytest.raises(MeasurementError, match=rf"Otii on {resource}: configure failed"):
        monitor.configure(4000, 3.3, None)
    with OtiiServer(OtiiEmulator(WAVE)) as server:
        monitor = create_monitor("otii", resource=server.resource, device="Ace 2")
        with pytest.raises(MeasurementError, match=r"no device 'Ace 2' \(connected: Arc"):
            monitor.configure(4000, 3.3, None)
        monitor.close()


def test_bad_resource_is_a_clear_error():
    with pytest.raises(MeasurementError, match="not host:port"):
        create_monitor("otii", resource="localhost")


def test_set_output_switches_main():
    emulator = OtiiEmulator(WAVE)
    with OtiiServer(emulator) as server:
        monitor = create_monitor("otii", resource=server.resource, connect_timeout_s=1)
        try:
            monitor.configure(4000, VOLTS, None)
            assert emulator.settings["main"] is True
            assert power_board(monitor, False)
            assert emulator.settings["main"] is False
            monitor.set_output(True)
            assert emulator.settings["main"] is True
        finally:
            monitor.close()


def test_an_arc_unplugged_during_the_recording_is_a_disconnect():
    with pytest.raises(MonitorDisconnected, match=r"Otii on 127.0.0.1:\d+: stop failed, the "
                                                  r"Otii is gone.*Device not connected"):
        acquire(OtiiEmulator(WAVE, unplug_after="project_stop_recording"))
