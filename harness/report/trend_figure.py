"""Latency and energy across the recent runs of one bench, from the history database."""

from __future__ import annotations

from matplotlib.figure import Figure

from harness.report.figures import ReportFigure, embed
from harness.results.history import History, TrendPoint

RECENT_RUNS = 20
TREND_METRICS = (("latency_median", "median latency, ms"),
                 ("energy_per_inference", "µJ per inference"))


def trend_figure(history: History, bench: str) -> ReportFigure | None:
    """None unless the history holds at least two runs of the bench."""
    trends = {m: history.trend(m, bench=bench, limit=RECENT_RUNS) for m, _ in TREND_METRICS}
    runs = sorted({(p.started, p.run_id) for pts in trends.values() for p in pts})
    if len(runs) < 2:
        return None
    index = {run_id: i for i, (_, run_id) in enumerate(runs)}
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    for ax, (metric, label) in zip(fig.subplots(1, 2), TREND_METRICS, strict=True):
        series: dict[str, list[TrendPoint]] = {}
        for p in trends[metric]:
            series.setdefault(f"{p.board}/{p.model}/{p.variant}", []).append(p)
        for name, pts in series.items():
            # change against the series' first run: series of any magnitude share an axis
            first = pts[0].value or 1.0
            xs = [index[p.run_id] for p in pts]
            ys = [(p.value / first - 1) * 100 for p in pts]
            err = [[(p.value - p.ci_low) / first * 100 if p.ci_low is not None else 0.0
                    for p in pts],
                   [(p.ci_high - p.value) / first * 100 if p.ci_high is not None else 0.0
                    for p in pts]]
            ax.errorbar(xs, ys, yerr=err, marker="o", ms=3, capsize=2,
                        label=f"{name} ({first:,.4g} {pts[0].unit} at first)")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel(f"{label}: % change from first run")
        ax.set_xlabel("run (oldest → newest, UTC start)")
        ax.set_xticks(range(len(runs)), [started[5:16].replace("T", " ") for started, _ in runs],
                      rotation=45, fontsize=7)
        ax.grid(True, alpha=0.3)
    for ax in fig.axes:
        if ax.lines:
            ax.legend(fontsize=6, loc="best")
    sources = {p.source for pts in trends.values() for p in pts}
    return embed(fig, f"Trend over the last {len(runs)} runs of {bench}",
                 " + ".join(sorted(sources)),
                 f"From {history.label}; error bars are 95 % CIs where the run has one.")
