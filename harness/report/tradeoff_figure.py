"""Accuracy against energy and latency, per board: where each variant sits, and the Pareto front.

Points carry numbers, not names (names of variants with equal figures printed over
each other); the report lists what each number is under the figure.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from harness.report.figures import (
    TEXT_PT,
    ReportFigure,
    declutter_ticks,
    embed,
    new_figure,
    padded,
    renderer_of,
    suptitle,
    value_axis,
)
from harness.report.labels import label_points
from harness.report.pareto import pareto_front
from harness.report.summary import SummaryLine, sources_of

COSTS = (("energy_per_inference", "µJ per inference"), ("latency_median", "median latency, ms"))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
CAPTION = ("Each number is a model/variant (key below; a list such as 2,4–6 marks points that "
           "coincide). Lines: each model's Pareto front, where no other variant of that model is "
           "both cheaper and more accurate (ringed). Accuracy is top-1 % (or ROC AUC × 100); a "
           "cost axis is logarithmic when its figures span more than 10×.")


def scored_by_board(lines: list[SummaryLine]) -> dict[str, list[SummaryLine]]:
    """Per board, its jobs that have an accuracy (boards without any left out)."""
    boards: dict[str, list[SummaryLine]] = {}
    for line in lines:
        if line.accuracy() is not None:
            boards.setdefault(line.board, []).append(line)
    return boards


def tradeoff_figure(board: str, lines: list[SummaryLine]) -> ReportFigure:
    title = f"Accuracy trade-offs on {board}"
    return embed(draw_tradeoffs(title, lines), title, sources_of(lines), CAPTION,
                 key=[f"{s.model}/{s.variant}" for s in lines])


def draw_tradeoffs(title: str, lines: list[SummaryLine]) -> Figure:
    """Two panels (energy, latency) over the same numbered points, labels placed last."""
    fig = new_figure(10, 4.6)
    axes = fig.subplots(1, 2)
    models = list(dict.fromkeys(s.model for s in lines))
    style = {m: (f"C{i % 10}", MARKERS[i % len(MARKERS)]) for i, m in enumerate(models)}
    placed = []
    for ax, (metric, label) in zip(axes, COSTS, strict=True):
        pts = [(n, s) for n, s in enumerate(lines, 1) if s.value(metric) is not None]
        if not pts:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
            ax.set_xlabel(label)
            continue
        xs = [s.value(metric) or 0.0 for _, s in pts]
        ys = [s.accuracy() or 0.0 for _, s in pts]
        log = value_axis(ax, "x", min(xs), max(xs))
        ax.set_xlim(*padded(min(xs), max(xs), log))
        ax.set_ylim(*_accuracy_limits(min(ys), max(ys)))
        ax.yaxis.set_major_locator(MaxNLocator(6))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        for model in models:
            mine = [(x, y) for x, y, (_, s) in zip(xs, ys, pts, strict=True) if s.model == model]
            if not mine:
                continue
            colour, marker = style[model]
            ax.scatter(*zip(*mine, strict=True), color=colour, marker=marker, s=30, zorder=3)
            front = [mine[i] for i in pareto_front(mine)]
            ax.step(*zip(*front, strict=True), where="post", color=colour, lw=1.2, alpha=0.7,
                    zorder=2)
            ax.scatter(*zip(*front, strict=True), facecolors="none", edgecolors=colour, s=110,
                       lw=1.2, zorder=4)
        ax.set_xlabel(label + (" (log)" if log else ""), fontsize=10)
        ax.set_ylabel("accuracy, points", fontsize=10)
        ax.tick_params(labelsize=TEXT_PT)
        ax.grid(True, alpha=0.3)
        placed.append((ax, xs, ys, [n for n, _ in pts]))
    handles = [Line2D([], [], color=style[m][0], marker=style[m][1], lw=1.2, label=m)
               for m in models]
    handles.append(Line2D([], [], color="0.3", marker="o", mfc="none", ms=10, lw=0,
                          label="on the Pareto front"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5),
               fontsize=TEXT_PT, frameon=False)
    suptitle(fig, title, sources_of(lines))
    renderer = renderer_of(fig)
    declutter_ticks(fig, renderer)   # also lays the figure out: labels go in last
    for ax, xs, ys, numbers in placed:
        label_points(ax, xs, ys, numbers, renderer, TEXT_PT)
    return fig


def _accuracy_limits(low: float, high: float) -> tuple[float, float]:
    """Room for labels above and below; a flat set of points still gets a readable span."""
    span = max(high - low, 1.0)
    return low - 0.15 * span, high + 0.15 * span
