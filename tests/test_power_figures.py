"""Report figures render, shade one span per window shown and name their source."""

from __future__ import annotations

import pytest

from harness.power.energy import measure_energy
from harness.power.figures import (
    WINDOW_GID,
    energy_histogram_figure,
    figure_bytes,
    trace_excerpt_figure,
)
from harness.power.trace_file import TraceWriter
from tests.test_power_energy import PER_WINDOW, SUPPLY_V, synthetic_trace


def _spans(fig) -> int:
    return sum(p.get_gid() == WINDOW_GID for p in fig.axes[0].patches)


def test_excerpt_shades_the_windows_it_shows_and_draws_idle():
    trace = synthetic_trace(100e3, 2e-4, windows=5)
    result = measure_energy(trace, PER_WINDOW)
    fig = trace_excerpt_figure(trace, result, "simulated", windows=3)
    assert _spans(fig) == 3
    assert "simulated" in fig.axes[0].get_title()
    assert any("idle" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    png = figure_bytes(fig)
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    whole = trace_excerpt_figure(trace, result, "simulated", span_s=(0.0, trace.duration_s))
    assert _spans(whole) == 5
    assert len(whole.axes[0].lines[0].get_xdata()) <= 4000  # decimated, min/max kept


def test_excerpt_reads_a_trace_file_by_slices(tmp_path):
    trace = synthetic_trace(100e3, windows=4)
    writer = TraceWriter(tmp_path / "t.trace", trace.sample_rate, SUPPLY_V, ["marker"])
    writer.append(trace.current_a, trace.markers)
    on_disk = writer.close()
    fig = trace_excerpt_figure(on_disk, measure_energy(on_disk, PER_WINDOW), "emulated")
    assert _spans(fig) == 3
    assert figure_bytes(fig, "svg").lstrip().startswith(b"<?xml")


def test_histogram_renders_with_its_ci():
    result = measure_energy(synthetic_trace(100e3, 1e-3, windows=8), PER_WINDOW)
    fig = energy_histogram_figure(result, "measured")
    assert "measured" in fig.axes[0].get_title()
    assert figure_bytes(fig).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="png or svg"):
        figure_bytes(fig, "jpg")
