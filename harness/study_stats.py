"""The technique study's statistics: a mean with its 95 % t interval, one-way ANOVA, Tukey HSD.

Each technique contributes one value per training seed. A group whose values
are all equal has no spread; when every group is like that (file sizes: the
bytes of a variant do not depend on its training seed) the differences are
exact and no test is run, which the result says instead of a p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
NO_SPREAD = ("every build of each technique gave the same value (no within-technique "
             "variance): the differences are exact and no test applies")


@dataclass(frozen=True)
class MeanCI:
    mean: float
    ci_low: float | None     # None with fewer than 2 values
    ci_high: float | None
    n: int


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    difference: float        # mean(a) - mean(b)
    p: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Anova:
    f: float | None
    p: float | None
    groups: tuple[str, ...]
    note: str = ""           # why there is no F or p
    pairs: list[Pair] = field(default_factory=list)

    @property
    def significant(self) -> bool | None:
        return None if self.p is None else self.p < 1.0 - CONFIDENCE


def mean_ci(values: list[float]) -> MeanCI:
    """The mean and its two-sided 95 % interval from Student's t with n - 1 degrees."""
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) < 2:
        return MeanCI(mean, None, None, len(data))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(data) - 1) * stats.sem(data))
    return MeanCI(mean, mean - half, mean + half, len(data))


def anova(groups: dict[str, list[float]]) -> Anova:
    """One-way ANOVA across the groups, then Tukey's HSD between every pair of them."""
    usable = {name: values for name, values in groups.items() if len(values) >= 2}
    names = tuple(usable)
    if len(usable) < 2:
        return Anova(None, None, names, "fewer than two techniques with two or more seeds")
    samples = [np.asarray(v, dtype=float) for v in usable.values()]
    if all(float(np.ptp(s)) == 0.0 for s in samples):
        return Anova(None, None, names, NO_SPREAD)
    result = stats.f_oneway(*samples)
    hsd = stats.tukey_hsd(*samples)
    interval = hsd.confidence_interval(CONFIDENCE)
    pairs = [Pair(names[i], names[j], float(hsd.statistic[i, j]), float(hsd.pvalue[i, j]),
                  float(interval.low[i, j]), float(interval.high[i, j]))
             for i in range(len(names)) for j in range(i + 1, len(names))]
    return Anova(_finite(result.statistic), _finite(result.pvalue), names, pairs=pairs)


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
