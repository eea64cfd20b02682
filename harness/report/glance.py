"""The one-screen summary on top of a report: per board and model, the variant lowest in
energy and in latency with what it costs in accuracy; and what went wrong: failed and
partial jobs, board recoveries, regressions against the baseline.

"Lowest" allows for noise: among the variants within TIE_PCT of the lowest figure
(or whose 95 % CI reaches it) the most accurate one is named, the others listed as
near it. Costs and savings are against the model's reference variant (fp32, else
as-is: `savings.reference_variant`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from harness.report.compare import ACCURACY_SCALE
from harness.report.savings import reference_variant
from harness.report.summary import SummaryLine, sources_of
from harness.report.tables import short_number

# the figure each pick is made on: the first of these a model's jobs have
ENERGY = ("energy_per_inference", "mlperf_energy_per_inference")
LATENCY = ("latency_median",)
RULES_PREFIX = "mlperf_"   # figures measured under MLPerf Tiny's run rules
TIE_PCT = 1.0
STATUS_ORDER = ("done", "partial", "failed", "skipped", "retrying")
#: the info rows every job records of what its board put the session through
#: (harness/measure/recoveries.py TOTALS; a test keeps the two in step): metric -> wording
RECOVERIES = {"board_resets": ("board reset", "board resets"),
              "board_hangs": ("hang", "hangs"),
              "board_power_cycles": ("power-cycle", "power-cycles"),
              "link_losses": ("lost port", "lost ports"),
              "command_resends": ("resent command", "resent commands"),
              "frames_garbled_to_board": ("garbled frame to the board",
                                          "garbled frames to the board"),
              "frames_garbled_from_board": ("garbled frame from the board",
                                            "garbled frames from the board")}
UNITS = {"uJ": "µJ"}


@dataclass(frozen=True)
class Pick:
    """The variant named lowest in one figure, against the model's reference variant."""

    variant: str
    value: float
    unit: str
    metric: str
    reference: str | None          # None: the model has one variant
    saved_pct: float | None        # against the reference; None when it is the reference
    accuracy_change: float | None  # points against the reference; None: not scored
    near: tuple[str, ...] = ()     # other variants within TIE_PCT or the CIs

    @property
    def figure(self) -> str:
        rules = " (MLPerf rules)" if self.metric.startswith(RULES_PREFIX) else ""
        return f"{short_number(self.value)} {UNITS.get(self.unit, self.unit)}{rules}"

    @property
    def detail(self) -> str:
        """What it saves and costs: "−92 % vs fp32, accuracy −2.0 points"."""
        if self.reference is None:
            return "the only variant"
        if self.variant == self.reference:
            return "the reference"
        parts = [] if self.saved_pct is None else [
            f"{_signed(-self.saved_pct, '.0f')} % vs {self.reference}"]
        parts.append("accuracy not scored" if self.accuracy_change is None
                     else f"accuracy {_signed(self.accuracy_change, '.1f')} points")
        return ", ".join(parts)


@dataclass(frozen=True)
class ModelGlance:
    board: str
    model: str
    source: str
    jobs: dict[str, int]              # outcome status -> jobs
    reference: SummaryLine | None     # None: one variant only
    energy: Pick | None
    latency: Pick | None
    recoveries: dict[str, int]        # RECOVERIES metric -> events over its jobs (non-zero)
    regressions: int | None           # failing gated figures; None: no baseline

    @property
    def jobs_text(self) -> str:
        return status_text(self.jobs)

    @property
    def recoveries_text(self) -> str:
        return recoveries_text(self.recoveries)

    @property
    def reference_text(self) -> str:
        """The reference variant's figures: "fp32: 280 µJ, 6.74 ms, 94.0 % top-1"."""
        ref = self.reference
        if ref is None:
            return "–"
        parts = []
        for metric in (ENERGY[0], LATENCY[0]):
            if (value := ref.value(metric)) is not None:
                unit = ref.metrics[metric]["unit"]
                parts.append(f"{short_number(value)} {UNITS.get(unit, unit)}")
        if (top1 := ref.value("top1")) is not None:
            parts.append(f"{top1:.1f} % top-1")
        elif (auc := ref.value("auc")) is not None:
            parts.append(f"{auc:.3f} AUC")
        return f"{ref.variant}: {', '.join(parts) or 'no figures'}"


@dataclass(frozen=True)
class JobProblem:
    job: str
    status: str                 # failed | partial
    message: str
    modes: tuple[str, ...]      # modes whose rows the job kept (a partial job)


@dataclass(frozen=True)
class Glance:
    rows: list[ModelGlance]
    jobs: dict[str, int]                           # outcome status -> jobs in the run
    problems: list[JobProblem]
    recoveries: list[tuple[str, dict[str, int]]]   # job -> its non-zero counters
    recoveries_recorded: bool                      # any job has the counters
    baseline: str | None                           # what the run was gated against
    gated: int = 0
    regressions: list[dict] = field(default_factory=list)   # failing comparisons (gate.json)

    @property
    def jobs_text(self) -> str:
        return status_text(self.jobs)

    @property
    def recoveries_total(self) -> str:
        total: Counter[str] = Counter()
        for _, counts in self.recoveries:
            total.update(counts)
        return recoveries_text(dict(total))


def glance(lines: list[SummaryLine], outcomes: dict[str, dict], gate: dict | None) -> Glance:
    """``outcomes``: RunStore.outcomes(); ``gate``: the run's gate.json (None: not gated)."""
    statuses = {job: entry["status"] for job, entry in outcomes.items()}
    for line in lines:
        statuses.setdefault(line.key, "done")    # rows without an outcome line: written
    regressions = [c for c in (gate or {}).get("comparisons", []) if c.get("failed")]
    groups: dict[tuple[str, str], list[SummaryLine]] = {}
    for job in statuses:
        board, model, _ = _split(job)
        groups.setdefault((board, model), [])
    for line in lines:
        groups[(line.board, line.model)].append(line)
    # grouped by board (jobs may alternate between boards), each in the order it came
    boards = list(dict.fromkeys(board for board, _ in groups))
    rows = [_model_glance(board, model, mine, statuses, regressions, gate is not None)
            for (board, model), mine in sorted(groups.items(),
                                               key=lambda item: boards.index(item[0][0]))]
    recoveries = [(line.key, counts) for line in lines if (counts := _recoveries([line]))]
    by_key = {line.key: line for line in lines}
    problems = [JobProblem(job, status, outcomes.get(job, {}).get("message", ""),
                           _modes(by_key.get(job)))
                for job, status in statuses.items() if status in ("failed", "partial")]
    return Glance(
        rows=rows, jobs=dict(Counter(statuses.values())), problems=problems,
        recoveries=recoveries,
        recoveries_recorded=any(m in line.metrics for line in lines for m in RECOVERIES),
        baseline=None if gate is None else gate.get("baseline"),
        gated=0 if gate is None else int(gate.get("gated", 0)), regressions=regressions)


def _model_glance(board: str, model: str, lines: list[SummaryLine], statuses: dict[str, str],
                  regressions: list[dict], gated: bool) -> ModelGlance:
    jobs = Counter(status for job, status in statuses.items() if _split(job)[:2] == (board, model))
    reference = None
    if len(lines) > 1:
        name = reference_variant([s.variant for s in lines])
        reference = next(s for s in lines if s.variant == name)
    failing = sum(1 for c in regressions if (c["board"], c["model"]) == (board, model))
    return ModelGlance(board, model, sources_of(lines), dict(jobs), reference,
                       _pick(lines, ENERGY, reference), _pick(lines, LATENCY, reference),
                       _recoveries(lines), failing if gated else None)


def _pick(lines: list[SummaryLine], metrics: tuple[str, ...], reference: SummaryLine | None
          ) -> Pick | None:
    metric = next((m for m in metrics if any(m in s.metrics for s in lines)), None)
    if metric is None:
        return None
    measured = [s for s in lines if s.value(metric) is not None]
    low = min(measured, key=lambda s: _value(s, metric))
    near = [s for s in measured if _near(s, low, metric)]
    best = max(near, key=lambda s: (_accuracy(s), -_value(s, metric)))
    value = _value(best, metric)
    saved = accuracy = None
    if reference is not None and best is not reference:
        ref_value = reference.value(metric)
        if ref_value:
            saved = (ref_value - value) / ref_value * 100
        if best.accuracy() is not None and reference.accuracy() is not None:
            accuracy = (best.accuracy() or 0.0) - (reference.accuracy() or 0.0)
    return Pick(best.variant, value, best.metrics[metric]["unit"], metric,
                None if reference is None else reference.variant, saved, accuracy,
                tuple(s.variant for s in near if s is not best))


def _value(line: SummaryLine, metric: str) -> float:
    value = line.value(metric)
    return math.inf if value is None or math.isnan(value) else value


def _accuracy(line: SummaryLine) -> float:
    accuracy = line.accuracy()
    return -math.inf if accuracy is None else accuracy


def _near(line: SummaryLine, low: SummaryLine, metric: str) -> bool:
    value, lowest = _value(line, metric), _value(low, metric)
    if value <= lowest * (1 + TIE_PCT / 100):
        return True
    ci, low_ci = line.ci(metric), low.ci(metric)
    return ci is not None and low_ci is not None and ci[0] <= low_ci[1]


def _recoveries(lines: list[SummaryLine]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for line in lines:
        for metric in RECOVERIES:
            total[metric] += int(line.value(metric) or 0)
    return {m: n for m, n in total.items() if n}


def _modes(line: SummaryLine | None) -> tuple[str, ...]:
    if line is None:
        return ()
    return tuple(dict.fromkeys(r["mode"] for r in line.metrics.values() if r["mode"] != "info"))


def _split(job: str) -> tuple[str, str, str]:
    board, _, rest = job.partition("/")
    model, _, variant = rest.partition("/")
    return board, model, variant


def regression_text(comparison: dict) -> str:
    """A failing comparison (compare.comparison_dict) in a few words: "+20.0 % (limit +5 %)"."""
    if comparison["current"] is None:
        return "missing from this run"
    change, pct = comparison.get("change"), comparison.get("change_pct")
    if comparison["metric"] in ACCURACY_SCALE and change is not None:
        what = f"{change * ACCURACY_SCALE[comparison['metric']]:+.2f} points"
    elif pct is not None:
        what = f"{pct:+.1f} %"
    else:
        what = "changed"
    return f"{what} (threshold {comparison['threshold']}, {comparison['status']})"


def status_text(counts: dict[str, int]) -> str:
    order = [s for s in STATUS_ORDER if s in counts] + sorted(set(counts) - set(STATUS_ORDER))
    return ", ".join(f"{counts[s]} {s}" for s in order) or "no jobs"


def recoveries_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {RECOVERIES[m][n != 1]}" for m, n in counts.items()) or "none"


def _signed(value: float, spec: str) -> str:
    text = format(value, spec)
    if text.lstrip("-").strip("0.") == "":
        return "±" + text.lstrip("-")
    return text.replace("-", "−") if value < 0 else "+" + text
