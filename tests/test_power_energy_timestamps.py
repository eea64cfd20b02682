"""The marker-less fallback: windows from host send/reply timestamps, wider CI."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import MeasurementError
from harness.power.energy import measure_energy, measure_energy_from_timestamps
from tests.test_power_energy import (
    IDLE_A,
    PER_WINDOW,
    SUPPLY_V,
    TRUE_ABOVE_J,
    TRUE_J,
    WINDOW_S,
    synthetic_trace,
)

HOST_T0 = 5000.0  # host monotonic time of the trace's first sample


def true_spans(windows: int = 3) -> np.ndarray:
    """Trace-time start/end of the active segments synthetic_trace() draws."""
    starts = 0.1 + np.arange(windows) * (0.2 + WINDOW_S)
    return np.column_stack((starts, starts + WINDOW_S))


def host_windows(error_s: np.ndarray | float = 0.0, windows: int = 3) -> np.ndarray:
    return HOST_T0 + true_spans(windows) + error_s


def test_exact_timestamps_give_the_known_energy_and_say_there_was_no_marker():
    trace = synthetic_trace(100e3, 2e-4)
    result = measure_energy_from_timestamps(trace, host_windows(), HOST_T0, PER_WINDOW,
                                            jitter_s=0.0)
    assert result.alignment == "timestamps"
    assert result.mean_j == pytest.approx(TRUE_J, rel=5e-3)
    assert result.above_idle_mean_j == pytest.approx(TRUE_ABOVE_J, rel=5e-3)
    assert result.idle_power_w == pytest.approx(IDLE_A * SUPPLY_V, rel=5e-3)
    assert any("no marker line" in f for f in result.flags)


def test_jittered_timestamps_widen_the_ci_to_cover_the_truth():
    trace = synthetic_trace(100e3, 2e-4, windows=6)
    jitter = 2e-3
    rng = np.random.default_rng(1)
    error = rng.uniform(-jitter, jitter, (6, 2))
    fallback = measure_energy_from_timestamps(trace, host_windows(error, 6), HOST_T0,
                                              PER_WINDOW, jitter_s=jitter)
    marked = measure_energy(trace, PER_WINDOW)
    assert fallback.ci_low_j <= TRUE_J <= fallback.ci_high_j
    assert fallback.above_idle_ci_low_j <= TRUE_ABOVE_J <= fallback.above_idle_ci_high_j
    assert (fallback.ci_high_j - fallback.ci_low_j) > 5 * (marked.ci_high_j - marked.ci_low_j)
    # an edge that may move 2 ms over an active edge can move ~2 ms of active power
    assert fallback.edge_uncertainty_j > 0.5 * jitter * IDLE_A * SUPPLY_V / PER_WINDOW
    assert any("±2 ms" in f for f in fallback.flags)


def test_windows_widened_past_the_activity_keep_above_idle_energy():
    # the host's send/reply bracket the activity by the link latency on both sides
    trace = synthetic_trace(100e3, 2e-4)
    late = host_windows(np.array([-3e-3, 3e-3]))
    result = measure_energy_from_timestamps(trace, late, HOST_T0, PER_WINDOW, jitter_s=0.0)
    assert result.above_idle_mean_j == pytest.approx(TRUE_ABOVE_J, rel=5e-3)
    corrected = measure_energy_from_timestamps(trace, late, HOST_T0, PER_WINDOW,
                                               jitter_s=0.0, latency_s=3e-3)
    assert corrected.mean_j == pytest.approx(TRUE_J, rel=5e-3)


def test_windows_outside_the_trace_or_out_of_order_are_clear_errors():
    trace = synthetic_trace(10e3)
    with pytest.raises(MeasurementError, match="host start time"):
        measure_energy_from_timestamps(trace, host_windows(), HOST_T0 + 10, PER_WINDOW, 1e-3)
    swapped = host_windows()[:, ::-1]
    with pytest.raises(MeasurementError, match="non-overlapping"):
        measure_energy_from_timestamps(trace, swapped, HOST_T0, PER_WINDOW, 1e-3)
    with pytest.raises(MeasurementError, match="no INFER timestamps"):
        measure_energy_from_timestamps(trace, [], HOST_T0, PER_WINDOW, 1e-3)


def test_chunk_size_does_not_change_the_fallback():
    trace = synthetic_trace(10e3, 5e-4)
    whole = measure_energy_from_timestamps(trace, host_windows(), HOST_T0, PER_WINDOW, 1e-3,
                                           chunk_samples=trace.n_samples)
    for chunk in (1, 1000, 4097):
        part = measure_energy_from_timestamps(trace, host_windows(), HOST_T0, PER_WINDOW,
                                              1e-3, chunk_samples=chunk)
        assert part.mean_j == pytest.approx(whole.mean_j, rel=1e-9)
        assert part.edge_uncertainty_j == pytest.approx(whole.edge_uncertainty_j, rel=1e-6)
