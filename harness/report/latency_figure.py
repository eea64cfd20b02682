"""Latency distributions from the per-run cycle counts in ``raw/<job>.cycles.npy``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from harness.report.figures import ReportFigure, embed
from harness.report.summary import SummaryLine, sources_of
from harness.report.system import system_info

COLUMNS = 3
MAX_PANELS = 24


def cycles_path(run_dir: Path, job_key: str) -> Path:
    return run_dir / "raw" / (job_key.replace("/", "__") + ".cycles.npy")


def latencies_ms(run_dir: Path, line: SummaryLine) -> np.ndarray | None:
    """Per-run latency from the cycles and the board definition's clock."""
    path = cycles_path(run_dir, line.key)
    clock = system_info(line.board_def).clock_hz
    if not path.is_file() or clock is None:
        return None
    return np.load(path, allow_pickle=False).astype(np.float64) / clock * 1e3


def latency_distributions(run_dir: Path, lines: list[SummaryLine]) -> ReportFigure | None:
    panels = [(s, ms) for s in lines if (ms := latencies_ms(run_dir, s)) is not None]
    if not panels:
        return None
    shown = panels[:MAX_PANELS]
    rows = math.ceil(len(shown) / COLUMNS)
    fig = Figure(figsize=(10, 2.4 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, COLUMNS)).ravel()
    for ax, (line, ms) in zip(axes, shown, strict=False):
        ax.hist(ms, bins=min(30, max(5, len(ms) // 2)), color="tab:blue", alpha=0.8)
        ax.axvline(float(np.median(ms)), color="black", lw=1, label="median")
        ax.axvline(float(np.percentile(ms, 90)), color="tab:red", ls="--", lw=1, label="p90")
        ax.set_title(f"{line.key}, n = {len(ms)} [{line.source}]", fontsize=8)
        ax.set_xlabel("ms", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(axis="x", useOffset=False)
    axes[0].legend(fontsize=7)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    more = f" (first {MAX_PANELS} of {len(panels)} jobs)" if len(panels) > MAX_PANELS else ""
    return embed(fig, "Latency distributions", sources_of([s for s, _ in shown]),
                 f"Per-run latency = cycles ÷ board clock{more}.")
