"""Report figures drawn with matplotlib's object API (Agg, no pyplot state), embedded as PNG.

Every figure names its source (measured / emulated / simulated) in its title and
caption, like every table.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from matplotlib.figure import Figure

from harness.report.pareto import pareto_front
from harness.report.savings import SAVED, Saving
from harness.report.summary import SummaryLine, sources_of

DPI = 100


@dataclass(frozen=True)
class ReportFigure:
    title: str
    source: str
    png_base64: str
    caption: str = ""


def embed(fig: Figure, title: str, source: str, caption: str = "") -> ReportFigure:
    """PNG bytes inline; no 'Software' tag so the file names no URL."""
    fig.suptitle(f"{title}  [{source}]", fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return ReportFigure(title, source, base64.b64encode(buf.getvalue()).decode("ascii"), caption)


def accuracy_tradeoffs(lines: list[SummaryLine]) -> list[ReportFigure]:
    """Per board: accuracy vs energy and vs latency, the Pareto front as a step line."""
    figures = []
    for board in dict.fromkeys(s.board for s in lines):
        mine = [s for s in lines if s.board == board and s.accuracy() is not None]
        if not mine:
            continue
        fig = Figure(figsize=(10, 4.2), layout="constrained")
        for ax, metric, label in zip(fig.subplots(1, 2), ("energy_per_inference",
                                                          "latency_median"),
                                     ("µJ per inference", "median latency, ms"), strict=True):
            pts = [(value, accuracy, f"{s.model}/{s.variant}") for s in mine
                   if (value := s.value(metric)) is not None
                   and (accuracy := s.accuracy()) is not None]
            _pareto_axes(ax, pts, label)
        figures.append(embed(fig, f"Accuracy trade-offs on {board}", sources_of(mine),
                             "Pareto front: no other model/variant is both cheaper and more "
                             "accurate. Accuracy is top-1 % (or ROC AUC × 100)."))
    return figures


def _pareto_axes(ax, pts: list[tuple[float, float, str]], xlabel: str) -> None:
    ax.set_xlabel(xlabel + " (log)")
    ax.set_ylabel("accuracy, points")
    ax.grid(True, alpha=0.3)
    if not pts:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        return
    ax.set_xscale("log")
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="tab:blue", zorder=3)
    for x, y, name in pts:
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    front = [pts[i] for i in pareto_front([(p[0], p[1]) for p in pts])]
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="tab:red",
            label="Pareto front", zorder=2)
    ax.scatter([p[0] for p in front], [p[1] for p in front], facecolors="none",
               edgecolors="tab:red", s=120, zorder=4)
    ax.legend(loc="lower right", fontsize=8)


def savings_figure(savings: list[Saving]) -> ReportFigure | None:
    if not savings:
        return None
    fig = Figure(figsize=(10, 0.6 * len(savings) + 1.8), layout="constrained")
    ax = fig.subplots()
    height = 0.8 / len(SAVED)
    for k, (label, _) in enumerate(SAVED):
        ys = [i + k * height for i in range(len(savings))]
        ax.barh(ys, [s.percent[label] or 0.0 for s in savings], height=height, label=label)
    ax.set_yticks([i + height for i in range(len(savings))],
                  [f"{s.board}/{s.model}/{s.variant} vs {s.reference}" for s in savings],
                  fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("% saved (negative: costs more)")
    ax.legend(fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    return embed(fig, "Variant savings", " + ".join(sorted({s.source for s in savings})),
                 "Size is the model file; latency the median; energy µJ per inference. "
                 "A missing bar means the figure was not measured.")
