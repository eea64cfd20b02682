"""The on-disk trace: written in chunks, read in chunks, same energy as in memory."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import MeasurementError
from harness.power.energy import measure_energy
from harness.power.trace import Trace
from harness.power.trace_file import TraceFile, TraceWriter
from tests.test_power_energy import PER_WINDOW, SUPPLY_V, TRUE_J, synthetic_trace


def _write(trace: Trace, path, piece: int = 7777, **close) -> TraceFile:
    writer = TraceWriter(path, trace.sample_rate, SUPPLY_V, ["marker"],
                         instrument={"model": "synthetic"})
    for chunk in trace.chunks(piece):
        writer.append(chunk.current_a, chunk.markers)
    return writer.close(**close)


def test_energy_from_the_file_equals_energy_in_memory(tmp_path):
    trace = synthetic_trace(100e3, 2e-4)
    trace.current_a = trace.current_a.astype(np.float32)  # what the file stores
    on_disk = _write(trace, tmp_path / "t.trace", dropped_samples=3, wall_duration_s=None)
    assert on_disk.n_samples == trace.n_samples and on_disk.dropped_samples == 3
    for chunk in (4096, 1 << 20):
        from_file = measure_energy(on_disk, PER_WINDOW, chunk_samples=chunk)
        in_memory = measure_energy(trace, PER_WINDOW, chunk_samples=chunk)
        assert from_file.mean_j == pytest.approx(in_memory.mean_j, rel=1e-12)
    assert from_file.mean_j == pytest.approx(TRUE_J, rel=5e-3)
    assert any("3 samples dropped" in f for f in from_file.flags)


def test_the_columns_are_plain_npy_files(tmp_path):
    trace = synthetic_trace(10e3)
    on_disk = _write(trace, tmp_path / "t.trace")
    current = np.load(tmp_path / "t.trace" / "current_a.npy", allow_pickle=False)
    np.testing.assert_array_equal(current, trace.current_a.astype(np.float32))
    np.testing.assert_array_equal(on_disk.markers["marker"][100:200],
                                  trace.markers["marker"][100:200])
    assert on_disk.voltage_v == SUPPLY_V and not (tmp_path / "t.trace.part").exists()


def test_measured_voltage_is_stored_per_sample(tmp_path):
    writer = TraceWriter(tmp_path / "v.trace", 10.0, None, ["marker"])
    writer.append(np.ones(4), {"marker": np.array([0, 1, 1, 0])}, voltage_v=np.full(4, 2.0))
    on_disk = writer.close()
    window = measure_energy(on_disk, 1).windows[0]
    assert window.energy_j == pytest.approx(2 * 1.0 * 2.0 / 10.0)


def test_bad_chunks_and_files_are_clear_errors(tmp_path):
    writer = TraceWriter(tmp_path / "b.trace", 10.0, 3.3, ["marker"])
    with pytest.raises(MeasurementError, match="chunk has markers"):
        writer.append(np.ones(3), {"d0": np.zeros(3)})
    with pytest.raises(MeasurementError, match="differ in length"):
        writer.append(np.ones(3), {"marker": np.zeros(2)})
    with pytest.raises(MeasurementError, match="not a trace file"):
        TraceFile(tmp_path / "missing.trace")
