"""The report's tables, built once and rendered as HTML, Markdown and CSV.

A cell keeps its display text and the plain value the CSV gets, so the CSV
holds numbers (and CI bounds in their own columns) while the pages hold text.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from harness.kernels import split_board_label
from harness.report.summary import SummaryLine, sources_of
from harness.report.system import KERNEL_LIBRARIES, framework, system_info
from harness.results.run_boards import BoardLookup


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool = False
    shown: bool = True        # False: CSV only (e.g. CI bounds)


@dataclass(frozen=True)
class Cell:
    text: str
    value: float | str | None = None  # what the CSV gets; None means the text

    @property
    def csv(self) -> float | str:
        return self.text if self.value is None else self.value


@dataclass
class Table:
    title: str
    columns: list[Column]
    rows: list[dict[str, Cell]] = field(default_factory=list)
    source: str = ""

    @property
    def shown(self) -> list[Column]:
        return [c for c in self.columns if c.shown]


def fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def short_number(value: float) -> str:
    """Three significant figures, thousands separated: 0.52, 6.74, 62.3, 1,320."""
    size = abs(value)
    if size >= 100 or size == 0:
        return f"{value:,.0f}"
    return f"{value:.2g}" if size < 1 else f"{value:.3g}"


def _num(value: float | None, digits: int = 2) -> Cell:
    return Cell(fmt(value, digits), "" if value is None else value)


def _accuracy(line: SummaryLine) -> dict[str, Cell]:
    if (top1 := line.value("top1")) is not None:
        shown, metric = Cell(f"{top1:.1f} % top-1", top1), "top1"
    elif (auc := line.value("auc")) is not None:
        shown, metric = Cell(f"{auc:.3f} AUC", auc), "auc"
    else:
        shown, metric = Cell("n/a (generated inputs)" if line.generated else "–", ""), ""
    return {"accuracy": shown, "accuracy_metric": Cell(metric)}


def _energy(line: SummaryLine) -> dict[str, Cell]:
    value, ci = line.value("energy_per_inference"), line.ci("energy_per_inference")
    text = fmt(value, 1)
    if value is not None and ci:
        text = f"{value:,.1f} ± {(ci[1] - ci[0]) / 2:,.1f}"
    return {"energy_uj": Cell(text, "" if value is None else value),
            "energy_ci_low": Cell("", ci[0] if ci else ""),
            "energy_ci_high": Cell("", ci[1] if ci else "")}


_ACCURACY = [Column("accuracy", "Accuracy"), Column("accuracy_metric", "metric", shown=False)]
_ENERGY_CI = [Column("energy_ci_low", "µJ CI low", True, False),
              Column("energy_ci_high", "µJ CI high", True, False)]


def summary_table(lines: list[SummaryLine]) -> Table:
    table = Table("Summary", [
        Column("board", "Board"), Column("board_def", "Board definition"),
        Column("protocol", "Protocol"), Column("model", "Model"), Column("variant", "Variant"),
        *_ACCURACY,
        Column("latency_median_ms", "Latency median ms", True),
        Column("latency_p90_ms", "Latency p90 ms", True),
        Column("energy_uj", "µJ/inference ± 95 % CI", True), *_ENERGY_CI,
        Column("idle_mw", "Idle mW", True), Column("model_bytes", "Model B", True),
        Column("firmware_flash_bytes", "Firmware flash B", True),
        Column("arena_bytes", "Arena B", True),
        Column("host_mismatches", "Host mismatches", True), Column("source", "Source")])
    for s in lines:
        table.rows.append({
            "board": Cell(s.board), "board_def": Cell(s.board_def),
            "protocol": Cell(s.protocol), "model": Cell(s.model), "variant": Cell(s.variant),
            **_accuracy(s),
            "latency_median_ms": _num(s.value("latency_median")),
            "latency_p90_ms": _num(s.value("latency_p90")), **_energy(s),
            "idle_mw": _num(s.value("idle_power")),
            "model_bytes": _num(s.value("model_bytes"), 0),
            # only boards that run firmware have one (sim: none, shown as such)
            "firmware_flash_bytes": _num(s.value("firmware_flash_bytes"), 0),
            "arena_bytes": _num(s.value("arena_bytes"), 0),
            "host_mismatches": _num(s.value("host_reference_mismatches"), 0),
            "source": Cell(s.source)})
    table.source = sources_of(lines)
    return table


MLPERF_RULES_NOTE = (
    "Columns marked (MLPerf rules) follow MLPerf Tiny's run rules (docs/mlperf.md): median of 5 "
    "inputs, each run at least 10 s on the board's timer; accuracy over the whole dataset. The "
    "others are the harness's own figures: the bench's settings, the held-out split.")


def _rules(line: SummaryLine) -> dict[str, Cell]:
    """The rule mode's figures (modes.mlperf), when the job has them."""
    if (top1 := line.value("mlperf_top1")) is not None:
        accuracy = Cell(f"{top1:.1f} % top-1", top1)
    elif (auc := line.value("mlperf_auc")) is not None:
        accuracy = Cell(f"{auc:.3f} AUC", auc)
    else:
        accuracy = Cell("–", "")
    return {"mlperf_throughput": _num(line.value("mlperf_throughput")),
            "mlperf_accuracy": accuracy,
            "mlperf_energy_uj": _num(line.value("mlperf_energy_per_inference"), 1)}


def mlperf_tables(lines: list[SummaryLine], boards: BoardLookup | None = None) -> list[Table]:
    """One table per benchmark (model), systems as rows, as MLPerf Tiny publishes them;
    each board described by its definition where ``boards`` finds it (None: in the
    project's ``boards/``)."""
    boards = boards or BoardLookup()
    tables = []
    for model in dict.fromkeys(s.model for s in lines):
        table = Table(model, [
            Column("benchmark", "Benchmark", shown=False), Column("board", "Board"),
            Column("protocol", "Protocol"), Column("processor", "Processor and clock"),
            Column("framework", "Framework"),
            Column("libraries", "Libraries"), Column("variant", "Variant"),
            *_ACCURACY, Column("latency_ms", "Latency ms", True),
            Column("energy_uj", "Energy µJ", True), *_ENERGY_CI,
            Column("mlperf_throughput", "inf./s (MLPerf rules)", True),
            Column("mlperf_accuracy", "Accuracy (MLPerf rules)"),
            Column("mlperf_energy_uj", "µJ/inf. (MLPerf rules)", True), Column("source", "Source")])
        mine = [s for s in lines if s.model == model]
        for s in mine:
            system = system_info(s.board_def, boards)
            table.rows.append({
                "benchmark": Cell(model), "board": Cell(f"{system.name} ({s.board})"),
                "protocol": Cell(s.protocol), "processor": Cell(system.processor),
                "framework": Cell(framework(s.board_kind)),
                "libraries": Cell(_libraries(s.board, system.libraries)),
                "variant": Cell(s.variant),
                **_accuracy(s), "latency_ms": _num(s.value("latency_median")),
                **_energy(s), **_rules(s), "source": Cell(s.source)})
        table.source = sources_of(mine)
        tables.append(table)
    return tables


def _libraries(board: str, from_board_file: str) -> str:
    """A job run with a listed kernel library (``<board>@<kernels>``) names that one."""
    kernels = split_board_label(board)[1]
    return from_board_file if kernels is None else KERNEL_LIBRARIES.get(kernels, kernels)


def markdown_table(table: Table) -> list[str]:
    cols = table.shown
    lines = ["| " + " | ".join(c.title for c in cols) + " |",
             "|" + "|".join("---:" if c.numeric else "---" for c in cols) + "|"]
    for row in table.rows:
        cells = [row[c.key].text.replace("|", "\\|") for c in cols]
        if cols[-1].key == "source":
            cells[-1] = f"**{cells[-1]}**"
        lines.append("| " + " | ".join(cells) + " |")
    if not table.rows:
        lines.append("| (no completed jobs) |" + "|" * (len(cols) - 1))
    return lines


def csv_text(tables: list[Table]) -> str:
    """Tables with the same columns, one header, every column (shown or not)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if tables:
        writer.writerow([c.key for c in tables[0].columns])
    for table in tables:
        for row in table.rows:
            writer.writerow([row[c.key].csv for c in table.columns])
    return buf.getvalue()

