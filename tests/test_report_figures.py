"""The report's figures keep every label legible: no two texts overlap (tick labels, point
numbers, titles, legends), whatever the figures' spread, and every point is numbered."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from PIL import Image

from harness.report.figures import embed
from harness.report.labels import cluster, number_list
from harness.report.latency_figure import draw_latency
from harness.report.savings import variant_savings
from harness.report.savings_figure import draw_savings
from harness.report.summary import SummaryLine
from harness.report.tradeoff_figure import draw_tradeoffs

UNITS = {"latency_median": "ms", "energy_per_inference": "uJ", "top1": "%", "model_bytes": "B"}


def _line(board: str, model: str, variant: str, **figures: float) -> SummaryLine:
    line = SummaryLine(board, "nucleo_l4r5zi", "sim", model, variant, "simulated")
    for metric, value in figures.items():
        line.metrics[metric] = {"value": str(value), "unit": UNITS[metric], "ci_low": "",
                                "ci_high": "", "mode": "x", "metric": metric}
    return line


def _texts(fig: Figure) -> list[tuple[str, Bbox]]:
    """Every text drawn, with its box in pixels: major and minor tick labels inside the view,
    titles, axis labels, annotations, legends."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    texts = []
    axes = [ax for ax in fig.axes if ax.get_visible()]
    for ax in [*axes, *(child for parent in axes for child in parent.child_axes)]:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                if tick.get_loc() is not None and low <= tick.get_loc() <= high:
                    texts += [label for label in (tick.label1, tick.label2)
                              if label.get_visible()]
        texts += [*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label]
    for legend in fig.legends:
        texts += legend.get_texts()
    if fig._suptitle is not None:
        texts.append(fig._suptitle)
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts
            if t.get_visible() and t.get_text()]


def _overlaps(fig: Figure) -> list[tuple[str, str]]:
    boxes = _texts(fig)
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:]
            if box_a.shrunk(0.98, 0.98).overlaps(box_b.shrunk(0.98, 0.98))]


def _numbers(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("–")
        out.update(range(int(first), int(last or first) + 1))
    return out


# cost spreads a trade-off figure must survive: 6 decades, one decade, a flat 4 %
SPREADS = {"wide": [0.012, 0.012, 0.012, 0.0125, 0.9, 1.0, 1.1, 40, 41, 900, 4000, 4000],
           "decade": [2.0, 2.1, 2.2, 3, 4, 5, 6, 7, 8, 9, 15, 25.0],
           "flat": [10.0, 10.0, 10.1, 10.1, 10.15, 10.2, 10.2, 10.25, 10.3, 10.3, 10.35, 10.4]}


@pytest.mark.parametrize("spread", sorted(SPREADS))
def test_tradeoff_labels_and_ticks_never_overlap_and_number_every_point(spread):
    costs = SPREADS[spread]
    accuracy = [94, 94, 94, 94, 93.9, 93.8, 90, 94, 94, 60, 99, 99]
    lines = [_line("b", "cnn" if i % 3 else "kws", f"v{i}", energy_per_inference=c,
                   latency_median=c / 3, top1=a)
             for i, (c, a) in enumerate(zip(costs, accuracy, strict=True))]
    fig = draw_tradeoffs("Accuracy trade-offs on b", lines)
    assert _overlaps(fig) == []
    for ax in fig.axes:
        numbers = [n for t in ax.texts for n in _numbers(t.get_text())]
        assert sorted(numbers) == list(range(1, len(lines) + 1))   # each once
        inside = ax.get_window_extent()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        assert all(inside.contains(*t.get_window_extent(renderer).min)
                   and inside.contains(*t.get_window_extent(renderer).max) for t in ax.texts)
        log = ax.get_xscale() == "log"
        assert log == (spread != "flat")
        assert all(re.fullmatch(r"[\d,.]+", t.get_text()) for t in ax.get_xticklabels()
                   if t.get_text())  # plain numbers, never 10^x or 2×10^1


def test_latency_figure_across_boards_keeps_labels_apart():
    rng = np.random.default_rng(1)
    series = []
    for b, jobs in (("l4r5zi", 15), ("nano33ble", 4), ("esp32", 1)):
        for j in range(jobs):
            centre = 0.05 * 10 ** (j / 3)
            series.append((_line(b, "m", f"variant-with-a-long-name-{j}"),
                           rng.normal(centre, centre * 0.02, 200).clip(min=1e-3)))
    fig = draw_latency(series)
    assert _overlaps(fig) == []
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["l4r5zi  [simulated]",
                                                  "nano33ble  [simulated]", "esp32  [simulated]"]
    assert len(visible[0].get_yticklabels()) == 15


def test_savings_figure_with_gains_and_losses_keeps_labels_apart():
    lines = [_line(b, "cnn", v, model_bytes=size, latency_median=ms, energy_per_inference=uj,
                   top1=94)
             for b in ("l4r5zi", "nano33ble", "f746zg")
             for v, size, ms, uj in (("fp32", 18000, 6.7, 280), ("int8", 7800, 1.5, 62),
                                     ("int16x8", 8400, 7.9, 300), ("hybrid-int8", 5700, 0.5, 22))]
    savings = variant_savings(lines)
    fig = draw_savings(savings)
    assert _overlaps(fig) == []
    assert sum(ax.get_visible() for ax in fig.axes) == 3


def test_embedded_figures_are_palette_pngs_that_name_their_source():
    fig = draw_tradeoffs("t", [_line("b", "m", "v", energy_per_inference=1, latency_median=1,
                                     top1=90)])
    shown = embed(fig, "Accuracy trade-offs on b", "simulated")
    image = Image.open(io.BytesIO(base64.b64decode(shown.png_base64)))
    assert image.mode == "P" and image.size == (1000, 460)
    assert fig._suptitle is not None and fig._suptitle.get_text().endswith("[simulated]")


def test_close_points_share_one_label():
    assert cluster([(0, 0), (3, 4), (50, 0), (6, -6), (100, 100)]) == [[0, 1, 3], [2], [4]]
    assert number_list([7, 1, 2, 3, 5, 9, 10]) == "1–3,5,7,9,10"


def test_the_overlap_check_sees_what_the_old_figures_did():
    """Names annotated beside coinciding points, and matplotlib's own log ticks over a short
    span (labels on minor ticks, 2×10^1 ...): the issue's figure, which the check must fail."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(5, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_xscale("log")
    xs = [21.7, 62.3, 62.3, 62.3, 280.2]
    ax.scatter(xs, [94, 94, 94, 93, 94])
    for x, name in zip(xs, ["distilled-int8", "as-is", "int8", "pruned-0.5-int8", "fp32"],
                       strict=True):
        ax.annotate(f"digits-cnn/{name}", (x, 94), textcoords="offset points", xytext=(4, 4))
    overlaps = _overlaps(fig)
    assert ("digits-cnn/as-is", "digits-cnn/int8") in overlaps
    ticks = Figure(figsize=(4, 3), layout="constrained")
    FigureCanvasAgg(ticks)
    ax = ticks.subplots()
    ax.set_xscale("log")
    ax.scatter([0.52, 1.5, 6.74], [94, 93, 94])
    assert any("times" in a or "times" in b for a, b in _overlaps(ticks))   # 3×10^0, 4×10^0
