"""SCPI monitors through pyvisa's @py backend against an emulated instrument on loopback TCP."""

from __future__ import annotations

import dataclasses

import pytest

from harness.errors import MeasurementError, MonitorCannotSource, MonitorDisconnected
from harness.power.backends.scpi import ScpiMonitor
from harness.power.backends.scpi_dialects import KEITHLEY_2450
from harness.power.energy import measure_energy, measure_energy_from_timestamps
from harness.power.monitor import create_monitor, discover_monitors, power_board
from tests.instruments.recording import record
from tests.instruments.scpi_server import IDN, N6705_TINT_STEP, Behaviour, ScpiServer
from tests.instruments.waveform import Waveform

pytest.importorskip("pyvisa_py")

VOLTS = 3.3
WAVE = Waveform()  # five 50 ms windows at 20 mA over 2 mA idle, the last ending at 0.75 s


def acquire(monitor, rate: float, seconds: float, current_range: float | None = None):
    return record(monitor, rate, VOLTS, seconds, current_range)


def open_monitor(backend: str, server: ScpiServer, **params):
    return create_monitor(backend, resource=server.resource, visa_backend="@py",
                          timeout_s=5, **params)


def test_n6705c_digitizer_with_its_aux_input_as_marker_gives_the_known_energy():
    with ScpiServer("n6705c", WAVE) as server:
        trace = acquire(open_monitor("scpi-n6705c", server, points=24_000), 20_000, 0.2)
    # the interval the instrument rounded 50 us to, not the rate that was asked for
    assert trace.sample_rate == pytest.approx(1 / (2 * N6705_TINT_STEP))
    assert trace.n_samples == 24_000 and trace.instrument["idn"] == IDN["n6705c"]
    assert {"FORM REAL", "FORM:BORD NORM", "SENS:FUNC:VOLT:INP AUX,(@1)",
            "TRIG:ACQ (@1)"} <= set(server.log)
    assert "*RST" not in server.log  # the instrument may be powering the board
    result = measure_energy(trace, 1, expected_windows=WAVE.windows)
    assert result.n_windows == WAVE.windows
    assert result.mean_j == pytest.approx(WAVE.energy_per_window_j(VOLTS), rel=5e-3)
    assert result.idle_power_w == pytest.approx(WAVE.idle_a * VOLTS, rel=5e-3)
    assert result.flags == []  # the host timed the capture: its time base agrees


def test_dmm6500_digitize_without_marker_aligns_from_host_timestamps():
    with ScpiServer("dmm6500", WAVE) as server:
        trace = acquire(open_monitor("scpi-dmm6500", server, points=200_000), 50_000, 0.9,
                        current_range=0.1)
    assert {"FORM:DATA REAL", "FORM:BORD SWAP", 'DIG:FUNC "CURR"', "DIG:CURR:SRAT 50000",
            "ABOR"} <= set(server.log)
    assert trace.sample_rate == 50_000 and trace.markers == {}
    assert trace.wall_duration_s == pytest.approx(trace.duration_s, rel=0.02)
    host_t0 = trace.host_t0_s
    # the host's INFER send/reply times, here exactly the activity (plus the link's latency)
    result = measure_energy_from_timestamps(trace, host_t0 + WAVE.spans(), host_t0, 1,
                                            jitter_s=1e-3)
    truth = WAVE.energy_per_window_j(VOLTS)
    assert result.mean_j == pytest.approx(truth, rel=1e-2)
    assert result.ci_low_j <= truth <= result.ci_high_j
    assert result.alignment == "timestamps"


def test_keithley_2450_time_base_comes_from_reading_timestamps():
    dialect = dataclasses.replace(KEITHLEY_2450, fetch_block=500)  # several binary blocks
    behaviour = Behaviour(over_range_at=(10,), gap_after=100)
    with ScpiServer("2450", WAVE, behaviour=behaviour) as server:
        monitor = ScpiMonitor(dialect, resource=server.resource, visa_backend="@py",
                              timeout_s=5)
        trace = acquire(monitor, 2000, 0.9, current_range=0.1)
        rate = server.rate
    assert trace.sample_rate == pytest.approx(rate, rel=1e-6)
    assert trace.dropped_samples == 1 and trace.over_range_samples == 1
    assert trace.current_a[10] == 0.1  # clamped to the range, counted, never silently used
    assert sum(c.startswith("TRAC:DATA? ") for c in server.log) >= 3
    assert {"SOUR:VOLT 3.3", "OUTP ON", "SENS:CURR:NPLC 0.03"} <= set(server.log)
    flags = measure_energy_from_timestamps(
        trace, trace.host_t0_s + WAVE.spans(),
        trace.host_t0_s, 1, jitter_s=1e-3).flags
    assert any("1 samples dropped" in f for f in flags)
    assert any("1 samples over range" in f for f in flags)


def test_an_instrument_of_another_model_is_refused():
    with ScpiServer("2450", WAVE) as server, pytest.raises(
            MeasurementError, match=r"answers \*IDN\? with 'KEITHLEY.*not a Keysight N6705C"):
        acquire(open_monitor("scpi-n6705c", server), 10_000, 0.0)


def test_an_scpi_error_in_the_queue_stops_the_measurement():
    behaviour = Behaviour(rejected={"SENS:SWE:POIN 1000,(@1)"})
    with ScpiServer("n6705c", WAVE, behaviour=behaviour) as server, pytest.raises(
            MeasurementError, match=r"reports after configuring: -222,\"Data out of range\""):
        acquire(open_monitor("scpi-n6705c", server, points=1000), 10_000, 0.0)


def test_an_instrument_that_does_not_answer_times_out_clearly():
    with ScpiServer("dmm6500", WAVE, behaviour=Behaviour(silent={"*IDN?"})) as server:
        monitor = create_monitor("scpi-dmm6500", resource=server.resource,
                                 visa_backend="@py", timeout_s=0.3)
        with pytest.raises(MeasurementError, match=r"'\*IDN\?': no answer within the timeout"):
            acquire(monitor, 10_000, 0.0)


def test_bad_settings_are_clear_errors():
    with pytest.raises(MeasurementError, match="no VISA resource"):
        create_monitor("scpi-dmm6500")
    with pytest.raises(MeasurementError, match="has no marker input"):
        create_monitor("scpi-keithley2450", resource="TCPIP::x::1::SOCKET", marker_input=True)
    monitor = create_monitor("scpi-dmm6500", resource="TCPIP::x::1::SOCKET")
    with pytest.raises(MeasurementError, match=r"outside 0\.\.1e"):
        monitor.configure(2e6, VOLTS, None)


def test_discovery_lists_instruments_by_their_idn(monkeypatch):
    with ScpiServer("dmm6500", WAVE) as server:
        monkeypatch.setenv("HARNESS_VISA_BACKEND", "@py")
        monkeypatch.setenv("HARNESS_VISA_RESOURCES", server.resource)
        found, problems = discover_monitors()
    ours = [f for f in found if f.resource == server.resource]
    assert [(f.backend, f.description) for f in ours] == [("scpi-dmm6500", IDN["dmm6500"])]
    assert not any(name.startswith("scpi") for name in problems)



@pytest.mark.parametrize(("model", "backend", "off", "on"),
                         [("n6705c", "scpi-n6705c", "OUTP OFF,(@1)", "OUTP ON,(@1)"),
                          ("2450", "scpi-keithley2450", "OUTP OFF", "OUTP ON")])
def test_set_output_switches_a_sourcing_instruments_output(model, backend, off, on):
    with ScpiServer(model, WAVE) as server:
        monitor = open_monitor(backend, server)
        try:
            monitor.configure(1000, VOLTS, None)
            assert server.settings["OUTP"] == "ON"
            assert power_board(monitor, False)
            assert server.settings["OUTP"] == "OFF"
            monitor.set_output(True)
            assert server.settings["OUTP"] == "ON"
        finally:
            monitor.close()
    outputs = [c for c in server.log if c.startswith("OUTP")]
    assert outputs == [on, off, on]


def test_a_digitizer_that_only_measures_cannot_switch_the_supply():
    with ScpiServer("dmm6500", WAVE) as server:
        monitor = open_monitor("scpi-dmm6500", server)
        try:
            monitor.configure(10_000, VOLTS, None)
            with pytest.raises(MonitorCannotSource, match=r"DMM6500.*only measures"):
                monitor.set_output(False)
            assert not power_board(monitor, True)
        finally:
            monitor.close()
    assert not any(c.startswith("OUTP") for c in server.log)


def test_an_instrument_that_hangs_up_mid_acquisition_is_a_disconnect():
    behaviour = Behaviour(hang_up_on='TRAC:ACT? "defbuffer1"')
    with ScpiServer("dmm6500", WAVE, behaviour=behaviour) as server:
        monitor = create_monitor("scpi-dmm6500", resource=server.resource, visa_backend="@py",
                                 timeout_s=0.3)
        with pytest.raises(MonitorDisconnected, match=r"TRAC:ACT.*the instrument went away"):
            acquire(monitor, 10_000, 0.1)
