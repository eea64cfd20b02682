"""Pivot tidy result rows into one line per board x model x variant."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.results.rows import GENERATED_INPUTS, caveats_in


@dataclass
class SummaryLine:
    board: str
    board_def: str
    board_kind: str
    model: str
    variant: str
    source: str
    protocol: str = "harness"   # harness | mlperf (results.csv before the column: harness)
    metrics: dict[str, dict[str, str]] = field(default_factory=dict)  # metric -> row
    notes: set[str] = field(default_factory=set)  # the caveats of its rows

    @property
    def generated(self) -> bool:
        """Measured on generated inputs: no accuracy, only agreement with the host."""
        return GENERATED_INPUTS in self.notes

    @property
    def key(self) -> str:
        """The job key, board/model/variant."""
        return f"{self.board}/{self.model}/{self.variant}"

    def value(self, metric: str) -> float | None:
        row = self.metrics.get(metric)
        return float(row["value"]) if row else None

    def ci(self, metric: str) -> tuple[float, float] | None:
        row = self.metrics.get(metric)
        if not row or row.get("ci_low", "") == "":
            return None
        return float(row["ci_low"]), float(row["ci_high"])

    def accuracy(self) -> float | None:
        """Top-1 in %, or ROC AUC x 100, so both read as 'points' on one axis."""
        if (top1 := self.value("top1")) is not None:
            return top1
        auc = self.value("auc")
        return None if auc is None else auc * 100


def summarise(rows: list[dict[str, str]]) -> list[SummaryLine]:
    lines: dict[tuple[str, str, str], SummaryLine] = {}
    for row in rows:
        key = (row["board"], row["model"], row["variant"])
        protocol = row.get("protocol") or "harness"
        line = lines.setdefault(key, SummaryLine(row["board"], row["board_def"],
                                                 row.get("board_kind", ""), row["model"],
                                                 row["variant"], row["source"], protocol))
        line.metrics[row["metric"]] = row
        if row["source"] != line.source:  # never hide a mix of sources in one line
            line.source = "mixed"
        if protocol != line.protocol:
            line.protocol = "mixed"
        line.notes.update(caveats_in(row.get("notes", "")))
    return list(lines.values())


def sources_of(lines: list[SummaryLine]) -> str:
    """The source label of a figure or table drawn from these lines."""
    return " + ".join(sorted({line.source for line in lines})) or "no data"
