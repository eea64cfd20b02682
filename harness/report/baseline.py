"""Figures of a run to compare: from a run directory or a results.csv, with their uncertainty.

Energy rows carry a 95 % CI. Latency rows do not, so when the per-run cycle counts
(``raw/<job>.cycles.npy``) sit beside the CSV, a distribution-free CI of the
median / p90 comes from order statistics (binomial ranks) and is scaled to ms.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from harness.errors import HarnessError
from harness.results.store import RESULTS_CSV

CONFIDENCE = 0.95
QUANTILES = {"latency_median": 0.5, "latency_p90": 0.9}

FigureKey = tuple[str, str, str, str]   # board, model, variant, metric


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    source: str
    ci: tuple[float, float] | None = None

    @property
    def half_width(self) -> float:
        return 0.0 if self.ci is None else (self.ci[1] - self.ci[0]) / 2


class BaselineError(HarnessError):
    """A run or results file to compare cannot be read."""


def load_figures(path: Path) -> dict[FigureKey, Figure]:
    """``path`` is a run directory or a results.csv (raw cycles are used when beside it)."""
    csv_path = path / RESULTS_CSV if path.is_dir() else path
    if not csv_path.is_file():
        raise BaselineError(f"{csv_path}: no results file (expected a run directory or a "
                            "results.csv)")
    try:
        with csv_path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        figures = {}
        for r in rows:
            ci = (float(r["ci_low"]), float(r["ci_high"])) if r.get("ci_low") else None
            if ci is not None and any(math.isnan(x) for x in ci):
                ci = None
            figures[(r["board"], r["model"], r["variant"], r["metric"])] = Figure(
                float(r["value"]), r["unit"], r["source"], ci)
    except (KeyError, ValueError) as exc:
        raise BaselineError(f"{csv_path}: not a harness results file: {exc}") from exc
    _add_latency_cis(figures, csv_path.parent / "raw")
    return figures


def _add_latency_cis(figures: dict[FigureKey, Figure], raw_dir: Path) -> None:
    for key, fig in list(figures.items()):
        q = QUANTILES.get(key[3])
        cycles_file = raw_dir / f"{key[0]}__{key[1]}__{key[2]}.cycles.npy"
        if q is None or fig.ci is not None or not cycles_file.is_file():
            continue
        cycles = np.load(cycles_file, allow_pickle=False).astype(np.float64)
        at_q = float(np.percentile(cycles, q * 100))
        if len(cycles) < 2 or at_q <= 0:
            continue
        lo, hi = quantile_ci(cycles, q, CONFIDENCE)
        scale = fig.value / at_q   # cycles -> ms with the clock the run used
        figures[key] = Figure(fig.value, fig.unit, fig.source, (lo * scale, hi * scale))


def quantile_ci(samples: np.ndarray, q: float, confidence: float) -> tuple[float, float]:
    """Distribution-free CI of a quantile: order statistics at binomial ranks."""
    x = np.sort(samples)
    n = len(x)
    alpha = 1 - confidence
    lo_rank = int(stats.binom.ppf(alpha / 2, n, q))            # 1-based rank of the bound
    hi_rank = int(stats.binom.ppf(1 - alpha / 2, n, q)) + 1
    return float(x[max(lo_rank, 1) - 1]), float(x[min(hi_rank, n) - 1])
