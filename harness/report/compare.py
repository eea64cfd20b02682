"""A run against a baseline: per figure, the change, its threshold and whether it regressed.

Noise-aware: a change beyond the threshold is a regression only when it is also
beyond the combined uncertainty of the two figures (CI half-widths added in
quadrature); a figure without a CI contributes none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.config.bench import Thresholds
from harness.report.baseline import Figure, FigureKey

# metric -> threshold kind; other metrics are reported, never gated
GATED = {"latency_median": "latency", "latency_p90": "latency",
         "energy_per_inference": "energy", "top1": "accuracy", "auc": "accuracy"}
ACCURACY_SCALE = {"top1": 1.0, "auc": 100.0}   # to percentage points
FAILING = {"regression", "missing"}


@dataclass(frozen=True)
class Comparison:
    key: FigureKey
    baseline: Figure | None
    current: Figure | None
    status: str        # regression | missing | within noise | improved | ok | new | info
    threshold: str     # e.g. "+5 %", "-1 point", "" when not gated
    message: str

    @property
    def failed(self) -> bool:
        return self.status in FAILING

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current.value - self.baseline.value

    @property
    def change_pct(self) -> float | None:
        if self.change is None or self.baseline is None or self.baseline.value == 0:
            return None
        return self.change / abs(self.baseline.value) * 100


def compare(current: dict[FigureKey, Figure], baseline: dict[FigureKey, Figure],
            thresholds: Thresholds) -> list[Comparison]:
    keys = list(dict.fromkeys([*baseline, *current]))
    return [_compare_one(k, current.get(k), baseline.get(k), thresholds) for k in keys]


def _threshold(metric: str, t: Thresholds) -> tuple[str, float]:
    """Text and the allowed worsening (relative for latency/energy, points for accuracy)."""
    kind = GATED[metric]
    if kind == "accuracy":
        return f"-{t.accuracy_points:g} point", t.accuracy_points
    pct = t.latency_pct if kind == "latency" else t.energy_pct
    return f"+{pct:g} %", pct


def _compare_one(key: FigureKey, cur: Figure | None, base: Figure | None,
                 t: Thresholds) -> Comparison:
    metric = key[3]
    gated = metric in GATED
    limit, allowed = _threshold(metric, t) if gated else ("", 0.0)
    if cur is None:
        status = "missing" if gated else "info"
        return Comparison(key, base, cur, status, limit,
                          f"{metric} missing from this run (baseline {_fmt(base)})")
    if base is None:
        return Comparison(key, base, cur, "new", limit, f"{metric} = {_fmt(cur)}; no baseline")
    note = "" if cur.source == base.source else f" (source {base.source} -> {cur.source})"
    text = f"{metric} = {_fmt(cur)}, baseline {_fmt(base)}{note}"
    if not gated:
        return Comparison(key, base, cur, "info", limit, text + "; not gated")
    noise = math.hypot(cur.half_width, base.half_width)
    if GATED[metric] == "accuracy":
        scale = ACCURACY_SCALE[metric]
        worse, noise = (base.value - cur.value) * scale, noise * scale   # points dropped
        over, what = worse, f"{(cur.value - base.value) * scale:+.2f} points"
    else:
        worse = cur.value - base.value
        over = worse / abs(base.value) * 100 if base.value else math.copysign(math.inf, worse)
        what = f"{over:+.2f} %"
    beyond_threshold = over > allowed
    beyond_noise = abs(worse) > noise
    if beyond_threshold and beyond_noise:
        status = "regression"
    elif beyond_threshold:
        status = "within noise"
    elif -over > allowed and beyond_noise:
        status = "improved"
    else:
        status = "ok"
    unit = " points" if GATED[metric] == "accuracy" else f" {cur.unit}"
    noise_text = f", uncertainty ±{noise:.3g}{unit}" if noise else ""
    return Comparison(key, base, cur, status, limit,
                      f"{text}: {what} (threshold {limit}{noise_text}) -> {status}")


def _fmt(fig: Figure | None) -> str:
    if fig is None:
        return "–"
    ci = f" [{fig.ci[0]:.4g}, {fig.ci[1]:.4g}]" if fig.ci else ""
    return f"{fig.value:.4g} {fig.unit}{ci}".rstrip()


def comparison_dict(c: Comparison) -> dict[str, object]:
    """One comparison for JSON (`harness compare --json`, gate.json); docs/json.md."""
    board, model, variant, metric = c.key
    return {"board": board, "model": model, "variant": variant, "metric": metric,
            "status": c.status, "failed": c.failed, "threshold": c.threshold,
            "baseline": _figure_dict(c.baseline), "current": _figure_dict(c.current),
            "change": _finite(c.change), "change_pct": _finite(c.change_pct),
            "message": c.message}


def _figure_dict(fig: Figure | None) -> dict[str, object] | None:
    if fig is None:
        return None
    return {"value": _finite(fig.value), "unit": fig.unit, "source": fig.source,
            "ci_low": None if fig.ci is None else _finite(fig.ci[0]),
            "ci_high": None if fig.ci is None else _finite(fig.ci[1])}


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: null."""
    return value if value is not None and math.isfinite(value) else None
