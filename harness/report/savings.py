"""What each variant saves against the reference variant of the same model on the same board,
and what each kernel library saves against TFLM's reference kernels (a bench board listing
``kernels``: rows name it ``<board>@<kernels>``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.kernels import split_board_label
from harness.report.summary import SummaryLine
from harness.report.tables import Cell, Column, Table

REFERENCE_VARIANTS = ("fp32", "as-is")  # first one present is the reference
REFERENCE_KERNELS = "reference"         # TFLM's own kernels: what a library is measured against
# (label, metric) pairs; each saving is (reference - variant) / reference
SAVED = (("size", "model_bytes"), ("latency", "latency_median"),
         ("energy", "energy_per_inference"))


@dataclass(frozen=True)
class Saving:
    board: str
    model: str
    variant: str
    reference: str
    source: str
    percent: dict[str, float | None]   # size/latency/energy -> % saved (negative: costs more)
    accuracy_change: float | None      # points, variant - reference


def reference_variant(variants: list[str]) -> str:
    return next((v for v in REFERENCE_VARIANTS if v in variants), variants[0])


def variant_savings(lines: list[SummaryLine]) -> list[Saving]:
    """Variants against their model's reference variant, then kernel libraries against the
    reference kernels (or the first listed) for each variant."""
    return _variant_savings(lines) + _kernel_savings(lines)


def _kernel_savings(lines: list[SummaryLine]) -> list[Saving]:
    groups: dict[tuple[str, str, str], dict[str, SummaryLine]] = {}
    for line in lines:
        board, kernels = split_board_label(line.board)
        if kernels is not None:
            groups.setdefault((board, line.model, line.variant), {})[kernels] = line
    savings = []
    for (board, model, variant), by_kernels in groups.items():
        ref_name = REFERENCE_KERNELS if REFERENCE_KERNELS in by_kernels else next(iter(by_kernels))
        ref = by_kernels[ref_name]
        for name, line in by_kernels.items():
            if name != ref_name:
                savings.append(_saving(board, model, f"{variant}, {name} kernels",
                                       f"{variant}, {ref_name} kernels", ref, line))
    return savings


def _saving(board: str, model: str, variant: str, reference: str, ref: SummaryLine,
            line: SummaryLine) -> Saving:
    percent = {label: _saved(ref.value(metric), line.value(metric)) for label, metric in SAVED}
    acc_ref, acc = ref.accuracy(), line.accuracy()
    change = None if acc_ref is None or acc is None else acc - acc_ref
    source = line.source if line.source == ref.source else "mixed"
    return Saving(board, model, variant, reference, source, percent, change)


def _variant_savings(lines: list[SummaryLine]) -> list[Saving]:
    groups: dict[tuple[str, str], dict[str, SummaryLine]] = {}
    for line in lines:
        groups.setdefault((line.board, line.model), {})[line.variant] = line
    savings = []
    for (board, model), by_variant in groups.items():
        ref_name = reference_variant(list(by_variant))
        ref = by_variant[ref_name]
        for name, line in by_variant.items():
            if name != ref_name:
                savings.append(_saving(board, model, name, ref_name, ref, line))
    return savings


def _saved(reference: float | None, value: float | None) -> float | None:
    if reference is None or value is None or reference == 0:
        return None
    return (reference - value) / reference * 100


def savings_table(savings: list[Saving]) -> Table:
    table = Table("Variant savings", [
        Column("board", "Board"), Column("model", "Model"), Column("variant", "Variant"),
        Column("reference", "Against"), *[Column(f"{label}_saved_pct", f"{label} saved %", True)
                                          for label, _ in SAVED],
        Column("accuracy_change", "Accuracy Δ points", True), Column("source", "Source")])
    for s in savings:
        table.rows.append({
            "board": Cell(s.board), "model": Cell(s.model), "variant": Cell(s.variant),
            "reference": Cell(s.reference),
            **{f"{label}_saved_pct": _pct(s.percent[label]) for label, _ in SAVED},
            "accuracy_change": _pct(s.accuracy_change), "source": Cell(s.source)})
    table.source = " + ".join(sorted({s.source for s in savings}))
    return table


def _pct(value: float | None) -> Cell:
    return Cell("–" if value is None else f"{value:+.1f}", "" if value is None else value)
