"""Energy arithmetic against synthetic traces of known energy, and the trace file."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import MeasurementError, MonitorDisconnected
from harness.power.energy import mean_ci, measure_energy
from harness.power.sim_activity import RECORD
from harness.power.sim_monitor import render, timeline
from harness.power.trace import Trace

SUPPLY_V = 3.3
IDLE_A, ACTIVE_A = 0.0045, 0.0126
WINDOW_S = 0.0371111  # deliberately not a whole number of samples at any rate
PER_WINDOW = 5


def synthetic_trace(rate: float, noise_a: float = 0.0, windows: int = 3,
                    seed: int = 0) -> Trace:
    """Idle, then ``windows`` marked active segments 0.2 s apart, then idle."""
    segments = np.array([(1.0 + 0.2 * i, WINDOW_S, ACTIVE_A, 1, 0) for i in range(windows)],
                        dtype=RECORD)
    edges, levels, spans = timeline(segments, 0.9, 0.2 * windows + 0.2, IDLE_A)
    current, marker = render(edges, levels, spans, rate)
    current += np.random.default_rng(seed).normal(0.0, noise_a, current.shape)
    return Trace(rate, current, SUPPLY_V, {"marker": marker}, instrument={"model": "synthetic"})


TRUE_J = WINDOW_S * ACTIVE_A * SUPPLY_V / PER_WINDOW
TRUE_ABOVE_J = WINDOW_S * (ACTIVE_A - IDLE_A) * SUPPLY_V / PER_WINDOW


@pytest.mark.parametrize("rate", [100e3, 1e6])
@pytest.mark.parametrize("noise_a", [0.0, 2e-4, 1e-3])
def test_energy_per_inference_is_within_half_a_percent_at_100ks_and_above(rate, noise_a):
    result = measure_energy(synthetic_trace(rate, noise_a), PER_WINDOW)
    assert result.n_windows == 3
    assert result.mean_j == pytest.approx(TRUE_J, rel=5e-3)
    assert result.above_idle_mean_j == pytest.approx(TRUE_ABOVE_J, rel=5e-3)
    assert result.idle_power_w == pytest.approx(IDLE_A * SUPPLY_V, rel=5e-3)
    assert result.mean_active_power_w == pytest.approx(ACTIVE_A * SUPPLY_V, rel=5e-3)
    assert result.ci_low_j <= result.mean_j <= result.ci_high_j
    assert result.flags == []


def test_energy_at_10ks_is_within_one_percent():
    result = measure_energy(synthetic_trace(10e3, 2e-4), PER_WINDOW)
    assert result.mean_j == pytest.approx(TRUE_J, rel=1e-2)


def test_chunk_size_does_not_change_the_answer():
    trace = synthetic_trace(100e3, 5e-4)
    whole = measure_energy(trace, PER_WINDOW, chunk_samples=trace.n_samples)
    for chunk in (1, 997, 4096):
        part = measure_energy(trace, PER_WINDOW, chunk_samples=chunk)
        assert part.mean_j == pytest.approx(whole.mean_j, rel=1e-9)
        assert part.idle_power_w == pytest.approx(whole.idle_power_w, rel=1e-9)


def test_analog_marker_edge_is_placed_between_samples():
    # Sample k draws k W over [k, k+1); its marker is read at k + 0.5. The marker
    # crosses 0.5 a fifth of the way from sample 2 to 3 (edge at 2.7) and from
    # sample 7 to 8 (edge at 7.7); edge samples count in proportion.
    marker = np.array([0, 0, 0.4, 0.9, 1, 1, 1, 0.6, 0.1, 0], dtype=float)
    trace = Trace(1.0, np.arange(10.0), 1.0, {"marker": marker})
    window = measure_energy(trace, 1).windows[0]
    assert window.start_s == pytest.approx(2.7)
    assert window.end_s == pytest.approx(7.7)
    assert window.energy_j == pytest.approx((21 + 0.7 * 7) - (1 + 0.7 * 2))


def test_a_pulse_far_shorter_than_the_windows_is_a_glitch_dropped_and_flagged():
    trace = synthetic_trace(100e3)
    marker = trace.markers["marker"].copy()
    marker[1000:1003] = 1  # a 30 us glitch in the lead-in
    glitchy = Trace(trace.sample_rate, trace.current_a, SUPPLY_V, {"marker": marker})
    result = measure_energy(glitchy, PER_WINDOW)
    assert result.n_windows == 3 and result.glitches_dropped == 1
    assert any("1 marker pulses shorter than 7.42 ms (20% of the longest pulse)" in f
               for f in result.flags)
    # a debounce removes it before any window is formed, so nothing is flagged
    debounced = measure_energy(glitchy, PER_WINDOW, debounce_s=1e-4)
    assert debounced.n_windows == 3 and debounced.glitches_dropped == 0
    assert debounced.flags == []


def test_trace_without_marker_edges_is_a_clear_error():
    trace = Trace(1e3, np.ones(100), 3.3, {"marker": np.zeros(100, np.uint8)},
                  instrument={"model": "PPK2"})
    with pytest.raises(MeasurementError, match=r"no complete marker window.*PPK2.*marker pin"):
        measure_energy(trace, 1)
    with pytest.raises(MeasurementError, match="no marker channel 'd7'"):
        measure_energy(trace, 1, marker="d7")


def test_dropped_samples_over_range_and_stretched_time_base_are_flagged():
    trace = synthetic_trace(100e3)
    trace.dropped_samples, trace.over_range_samples = 12, 3
    trace.wall_duration_s = trace.duration_s / 1.05
    flags = measure_energy(trace, PER_WINDOW, expected_windows=5).flags
    assert any("12 samples dropped" in f for f in flags)
    assert any("3 samples over range" in f for f in flags)
    assert any("time base" in f and "+5.0%" in f for f in flags)
    assert any("found 3 marker windows, expected 5" in f for f in flags)


def test_window_open_at_the_end_is_dropped_and_flagged():
    trace = synthetic_trace(100e3)
    marker = trace.markers["marker"].copy()
    marker[-10:] = 1
    result = measure_energy(Trace(trace.sample_rate, trace.current_a, SUPPLY_V,
                                  {"marker": marker}), PER_WINDOW)
    assert result.n_windows == 3
    assert any("still high" in f for f in result.flags)


def test_confidence_interval_is_student_t():
    mean, _lo, hi = mean_ci(np.array([1.0, 2.0, 3.0]), 0.95)
    assert mean == 2.0
    assert hi - mean == pytest.approx(2.4841, rel=1e-3)  # t(0.975, 2) * 1/sqrt(3)
    assert mean_ci(np.array([5.0, 5.0]), 0.95) == (5.0, 5.0, 5.0)
    assert np.isnan(mean_ci(np.array([5.0]), 0.95)[1])


def test_trace_round_trips_through_its_compressed_file(tmp_path):
    trace = synthetic_trace(10e3, 1e-4)
    trace.instrument["serial"] = "JS220-001"
    trace.dropped_samples = 2
    trace.save(tmp_path / "t.npz")
    back = Trace.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(back.current_a, trace.current_a)
    np.testing.assert_array_equal(back.markers["marker"], trace.markers["marker"])
    assert back.voltage_v == SUPPLY_V
    assert back.instrument["serial"] == "JS220-001" and back.dropped_samples == 2
    assert measure_energy(back, PER_WINDOW).mean_j == measure_energy(trace, PER_WINDOW).mean_j


def test_loading_something_else_names_the_file(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, current_a=np.ones(3))
    with pytest.raises(MeasurementError, match=r"x\.npz: cannot read trace"):
        Trace.load(bad)


def test_marker_length_mismatch_is_rejected():
    with pytest.raises(MeasurementError, match="marker 'marker' has 3 samples"):
        Trace(1.0, np.ones(4), 3.3, {"marker": np.zeros(3)})


def _glitchy(rate: float, windows: int, glitches: int, noise_a: float = 2e-4,
             seed: int = 0) -> tuple[Trace, np.ndarray]:
    """A synthetic trace with ``glitches`` one-sample marker pulses spread over the gaps
    between its windows, and the windows' true spans (trace seconds)."""
    segments = np.array([(1.0 + 0.2 * i, WINDOW_S, ACTIVE_A, 1, 0) for i in range(windows)],
                        dtype=RECORD)
    edges, levels, spans = timeline(segments, 0.9, 0.2 * windows + 0.2, IDLE_A)
    current, marker = render(edges, levels, spans, rate)
    current += np.random.default_rng(seed).normal(0.0, noise_a, current.shape)
    gaps = np.column_stack((spans[:-1, 1], spans[1:, 0]))
    for i in range(glitches):
        lo, hi = gaps[i % len(gaps)]
        share = (i // len(gaps) + 1) / (glitches // len(gaps) + 2)
        marker[int((lo + share * (hi - lo)) * rate)] = 1
    return Trace(rate, current, SUPPLY_V, {"marker": marker}), spans


@pytest.mark.parametrize("expected_window_s", [None, WINDOW_S])
def test_twenty_five_one_sample_glitches_between_windows_leave_the_energy_within_half_a_percent(
        expected_window_s):
    trace, _ = _glitchy(100e3, windows=10, glitches=25)
    result = measure_energy(trace, PER_WINDOW, expected_windows=10,
                            expected_window_s=expected_window_s)
    assert result.n_windows == 10 and result.glitches_dropped == 25
    assert result.mean_j == pytest.approx(TRUE_J, rel=5e-3)
    assert result.idle_power_w == pytest.approx(IDLE_A * SUPPLY_V, rel=5e-3)
    assert any("25 marker pulses shorter than" in f for f in result.flags)
    assert not any("expected 10" in f for f in result.flags)


def test_every_glitch_counts_when_nothing_is_dropped():
    trace, _ = _glitchy(100e3, windows=10, glitches=25)
    # what the figure would be if the 25 glitches were taken as windows: far off
    scan_all = measure_energy(trace, PER_WINDOW, expected_window_s=1e-6)
    assert scan_all.n_windows == 35 and scan_all.glitches_dropped == 0
    assert scan_all.mean_j < 0.5 * TRUE_J


def test_glitches_against_host_infer_spans_through_the_host_time_base():
    trace, spans = _glitchy(100e3, windows=10, glitches=25)
    trace.host_t0_s = 500.0
    host = [(500.0 + a - 1e-3, 500.0 + b + 1e-3) for a, b in spans]  # send, reply
    result = measure_energy(trace, PER_WINDOW, expected_windows=10, windows_host_s=host)
    assert result.n_windows == 10 and result.glitches_dropped == 25
    assert result.mean_j == pytest.approx(TRUE_J, rel=5e-3)


def test_a_long_pulse_outside_every_infer_span_is_dropped_only_with_a_host_time_base():
    trace, spans = _glitchy(100e3, windows=3, glitches=0)
    marker = trace.markers["marker"]
    between = (spans[0, 1] + spans[1, 0]) / 2
    marker[int(between * 1e5):int((between + 0.03) * 1e5)] = 1  # 30 ms: not short at all
    host = [(a - 1e-3, b + 1e-3) for a, b in spans]
    unmatched = measure_energy(trace, PER_WINDOW, expected_windows=3, windows_host_s=host)
    assert unmatched.n_windows == 4  # no host start time: the spans cannot be placed
    assert any("found 4 marker windows, expected 3" in f for f in unmatched.flags)
    trace.host_t0_s = 0.0
    result = measure_energy(trace, PER_WINDOW, expected_windows=3, windows_host_s=host)
    assert result.n_windows == 3 and result.glitches_dropped == 1
    assert any("1 marker pulses outside every INFER span" in f for f in result.flags)
    assert result.mean_j == pytest.approx(TRUE_J, rel=5e-3)


def test_a_marker_dropout_inside_a_span_joins_the_window_back():
    trace, spans = _glitchy(100e3, windows=3, glitches=0, noise_a=0.0)
    middle = int((spans[1, 0] + spans[1, 1]) / 2 * 1e5)
    trace.markers["marker"][middle:middle + 2] = 0
    trace.host_t0_s = 0.0
    result = measure_energy(trace, PER_WINDOW, expected_windows=3,
                            windows_host_s=[(a - 1e-3, b + 1e-3) for a, b in spans])
    assert result.n_windows == 3
    assert result.mean_j == pytest.approx(TRUE_J, rel=1e-3)
    assert any("1 marker dropouts inside INFER spans" in f for f in result.flags)


def test_a_trace_cut_short_by_a_disconnect_gives_no_figure_unless_every_window_is_in_it():
    trace, spans = _glitchy(100e3, windows=3, glitches=0)
    cut = int((spans[1, 0] + spans[1, 1]) / 2 * 1e5)  # gone in the middle of window 2
    partial = Trace(trace.sample_rate, trace.current_a[:cut], SUPPLY_V,
                    {"marker": trace.markers["marker"][:cut]}, instrument={"model": "PPK2"},
                    interrupted="port lost")
    with pytest.raises(MonitorDisconnected, match=r"PPK2: port lost; the trace holds "
                                                  r"0\.\d+ s and 1 of 3 marker windows"):
        measure_energy(partial, PER_WINDOW, expected_windows=3)
    late = int((spans[2, 1] + 0.05) * 1e5)  # gone in the idle after the last window
    tail = Trace(trace.sample_rate, trace.current_a[:late], SUPPLY_V,
                 {"marker": trace.markers["marker"][:late]}, interrupted="port lost")
    result = measure_energy(tail, PER_WINDOW, expected_windows=3)
    assert result.n_windows == 3
    assert any("monitor disconnected" in f and "after every window" in f for f in result.flags)


def test_one_long_false_pulse_does_not_turn_the_real_windows_into_glitches():
    trace, spans = _glitchy(100e3, windows=3, glitches=0)
    start = int((spans[-1, 1] + 0.03) * 1e5)
    trace.markers["marker"][start:start + 19_000] = 1  # 190 ms high after the last window
    result = measure_energy(trace, PER_WINDOW, expected_windows=3)
    # the 3rd longest pulse sets the bar, not the longest: the real windows stay
    assert result.n_windows == 4 and result.glitches_dropped == 0
    assert any("found 4 marker windows, expected 3" in f for f in result.flags)
