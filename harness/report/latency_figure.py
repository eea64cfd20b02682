"""Latency across jobs in one figure: a box and every run per job, one panel per board.

Per-run latency comes from the cycle counts in ``raw/<job>.cycles.npy`` and the
board definition's clock. The panels share one latency axis (logarithmic when the
jobs span more than 10×), so boards and variants compare at a glance.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from harness.report.figures import (
    TEXT_PT,
    WIDTH_IN,
    ReportFigure,
    declutter_ticks,
    embed,
    new_figure,
    padded,
    renderer_of,
    value_axis,
)
from harness.report.summary import SummaryLine, sources_of
from harness.report.system import system_info
from harness.results.run_boards import BoardLookup

MAX_JOBS = 60           # beyond this the figure would outgrow a screen; the table has the rest
MAX_DOTS = 300          # runs drawn per job (evenly picked); the box uses them all
ROW_IN = 0.32           # height per job, inches
PANEL_COLUMNS = 2

Series = tuple[SummaryLine, np.ndarray]


def cycles_path(run_dir: Path, job_key: str) -> Path:
    return run_dir / "raw" / (job_key.replace("/", "__") + ".cycles.npy")


def latencies_ms(run_dir: Path, line: SummaryLine, boards: BoardLookup) -> np.ndarray | None:
    """Per-run latency from the cycles and the board definition's clock."""
    path = cycles_path(run_dir, line.key)
    clock = system_info(line.board_def, boards).clock_hz
    if not path.is_file() or clock is None:
        return None
    return np.load(path, allow_pickle=False).astype(np.float64) / clock * 1e3


def latency_figure(run_dir: Path, lines: list[SummaryLine], boards: BoardLookup
                   ) -> ReportFigure | None:
    series = [(s, ms) for s in lines
              if (ms := latencies_ms(run_dir, s, boards)) is not None and len(ms)]
    if not series:
        return None
    shown = series[:MAX_JOBS]
    more = f" The first {MAX_JOBS} of {len(series)} jobs." if len(series) > MAX_JOBS else ""
    return embed(draw_latency(shown), "Latency per run, all jobs",
                 sources_of([s for s, _ in shown]),
                 "Per-run latency = cycles ÷ board clock. Box: quartiles and median; whiskers: "
                 "1.5 × IQR; dots: the runs (up to "
                 f"{MAX_DOTS} per job); ◆: p90. Right: runs per job and how far p90 lies above "
                 f"the median.{more}")


def draw_latency(series: list[Series]) -> Figure:
    boards = list(dict.fromkeys(s.board for s, _ in series))
    groups = [[(s, ms) for s, ms in series if s.board == b] for b in boards]
    columns = min(PANEL_COLUMNS, len(groups))
    rows = math.ceil(len(groups) / columns)
    heights = [max(len(g) for g in groups[r * columns:(r + 1) * columns]) for r in range(rows)]
    fig = new_figure(WIDTH_IN, ROW_IN * sum(heights) + 0.9 * rows + 1.0)
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True,
                        gridspec_kw={"height_ratios": heights}).ravel()
    every = np.concatenate([ms for _, ms in series])
    low, high = float(every.min()), float(every.max())
    rng = np.random.default_rng(0)   # the jitter: the same figure from the same files
    for i, (ax, group) in enumerate(zip(axes, groups, strict=False)):
        log = value_axis(ax, "x", low, high)
        ys = np.arange(len(group), 0, -1, dtype=float)   # first job at the top
        ax.boxplot([ms for _, ms in group], positions=ys, orientation="horizontal", widths=0.55,
                   showfliers=False, patch_artist=True,
                   boxprops={"facecolor": "#dde8f7", "edgecolor": "0.3"},
                   medianprops={"color": "black", "lw": 1.5})
        for y, (_, ms) in zip(ys, group, strict=True):
            dots = ms[np.linspace(0, len(ms) - 1, min(len(ms), MAX_DOTS)).astype(int)]
            ax.scatter(dots, y + rng.uniform(-0.2, 0.2, len(dots)), s=6, color="tab:blue",
                       alpha=0.35, lw=0, zorder=3)
            ax.scatter([np.percentile(ms, 90)], [y], marker="D", s=22, color="tab:red",
                       zorder=4)
        ax.set_yticks(ys, [f"{s.model}/{s.variant}" for s, _ in group], fontsize=TEXT_PT)
        # the spread in words on the right: on a log axis across jobs a tight box is a line
        spread = ax.secondary_yaxis("right")
        spread.set_yticks(ys, [_spread(ms) for _, ms in group], fontsize=TEXT_PT - 1)
        spread.tick_params(length=0)
        ax.set_ylim(0.4, heights[i // columns] + 0.6)   # one box height across a row
        ax.set_title(f"{group[0][0].board}  [{sources_of([s for s, _ in group])}]", fontsize=10)
        ax.set_xlim(*padded(low, high, log, pad=0.04))
        ax.tick_params(axis="x", labelsize=TEXT_PT, labelbottom=True)
        ax.set_xlabel("latency per run, ms" + (" (log)" if log else ""), fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    fig.legend(handles=[
        Patch(facecolor="#dde8f7", edgecolor="0.3", label="quartiles (line: median)"),
        Line2D([], [], marker="o", lw=0, color="tab:blue", alpha=0.5, ms=4, label="runs"),
        Line2D([], [], marker="D", lw=0, color="tab:red", ms=5, label="p90")],
        loc="outside lower center", ncols=3, fontsize=TEXT_PT, frameon=False)
    declutter_ticks(fig, renderer_of(fig))
    return fig


def _spread(ms: np.ndarray) -> str:
    median = float(np.median(ms))
    p90 = float(np.percentile(ms, 90))
    above = (p90 - median) / median * 100 if median > 0 else 0.0
    return f"n {len(ms)}, p90 +{above:.1f} %"
