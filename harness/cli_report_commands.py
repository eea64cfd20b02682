"""`harness report`, `harness history`, `harness compare`: thin wrappers over harness.report."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from harness.cli_json import json_option, print_json, runs_document, trend_document
from harness.cli_options import boards_dir_option
from harness.errors import ExitCode
from harness.results.history import (
    DEFAULT_NAME,
    History,
    TrendPoint,
    baseline_path,
    history_exists,
    history_target,
)

if TYPE_CHECKING:  # the report modules pull in scipy/matplotlib: imported when used
    from harness.report.compare import Comparison

out = Console(soft_wrap=True)
WIDE = 160  # CI logs are not 80 columns: keep the diff table's rows whole there

STATUS_STYLE = {"regression": "bold red", "missing": "red", "within noise": "yellow",
                "improved": "green", "ok": "", "new": "cyan", "info": "dim"}

_path = click.Path(path_type=Path)
_run_dir = click.Path(path_type=Path, file_okay=False, exists=True)
junit_option = click.option("--junit", "junit", type=_path, default=None, metavar="FILE",
                            help="Write JUnit XML: one testcase per board/model/variant/metric.")


def print_table(table: Table) -> None:
    (out if out.is_terminal else Console(width=WIDE, soft_wrap=True)).print(table)


def print_comparisons(comparisons: list[Comparison], show_all: bool = False) -> None:
    table = Table("job", "metric", "baseline", "this run", "change",
                  "threshold", "status", "source", title="Against the baseline")
    for c in comparisons:
        if c.status == "info" and not show_all:
            continue
        change = "–" if c.change_pct is None else f"{c.change_pct:+.2f} %"
        if c.key[3] in ("top1", "auc") and c.change is not None:
            change = f"{c.change * (100 if c.key[3] == 'auc' else 1):+.2f} pt"
        sources = {f.source for f in (c.baseline, c.current) if f is not None}
        style = STATUS_STYLE[c.status]
        table.add_row("/".join(c.key[:3]), c.key[3], _value(c.baseline), _value(c.current),
                      change, c.threshold, f"[{style}]{c.status}[/]" if style else c.status,
                      " -> ".join(sorted(sources)))
    print_table(table)
    failed = [c for c in comparisons if c.failed]
    out.print(f"{len(failed)} of {sum(c.status != 'info' for c in comparisons)} gated figures "
              f"failed" if failed else "no regression", highlight=False)


def _value(fig) -> str:
    if fig is None:
        return "–"
    ci = f" ±{fig.half_width:.3g}" if fig.ci else ""
    return f"{_num(fig.value)}{ci} {fig.unit}".rstrip()


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


@click.command()
@click.argument("run_dir", type=_run_dir)
@click.option("--history", "history_path", type=_path, default=None, metavar="PATH",
              help="History database for the trend figure (default: history.sqlite beside "
                   "the run folder, if there).")
@click.option("--baseline", type=click.Path(path_type=Path, exists=True), default=None,
              metavar="RUN_OR_FILE", help="Gate the run against this run directory or "
              "results.csv (the bench's thresholds) and name the regressions at the top of "
              "the report; kept in the run's gate.json.")
@boards_dir_option
def report(run_dir: Path, history_path: Path | None, baseline: Path | None,
           boards_dir: Path | None) -> None:
    """Rebuild RUN_DIR's report.html, report.md, summary.csv, mlperf.csv and results.json
    from saved files. Boards are described by the run's copies of their definitions
    (RUN_DIR/boards/), else --boards-dir's, else the project's."""
    from harness.report.build import publish_gate, write_reports
    from harness.report.gate import bench_thresholds, gate, gate_document
    from harness.results.store import RunStore

    history_path = history_path or run_dir.parent / DEFAULT_NAME
    store = RunStore(run_dir)
    if baseline is None:
        files = write_reports(store, History(history_path) if history_path.is_file() else None,
                              boards_dir)
    else:
        thresholds = bench_thresholds(run_dir)
        comparisons = gate(run_dir, baseline, thresholds)
        print_comparisons(comparisons)
        files = publish_gate(store, gate_document(run_dir, baseline, thresholds, comparisons),
                             history_path, boards_dir)
    out.print(f"report: {files.html}")
    out.print(f"        {files.markdown}, {files.summary_csv.name}, {files.mlperf_csv.name}, "
              f"{files.results_json.name}")


@click.command()
@click.option("--history", "history_path", default=None, metavar="PATH_OR_URL",
              help="The history: a SQLite file or a postgresql:// URL (default: "
                   "$HARNESS_HISTORY, else results/history.sqlite).")
@click.option("--bench", default=None, help="Only runs of this bench.")
@click.option("--metric", default=None, help="Show this metric's trend, e.g. "
              "energy_per_inference, latency_median, top1.")
@click.option("--board", default=None, help="Trend: only this bench board.")
@click.option("--model", default=None, help="Trend: only this model.")
@click.option("--variant", default=None, help="Trend: only this variant.")
@click.option("--limit", default=20, show_default=True, help="How many recent runs.")
@json_option
def history(history_path: str | None, bench: str | None, metric: str | None, board: str | None,
            model: str | None, variant: str | None, limit: int, as_json: bool) -> None:
    """List recorded runs, or with --metric a metric's trend across them."""
    target = history_target(history_path, None, Path("results") / DEFAULT_NAME)
    if not history_exists(target):
        raise click.ClickException(f"{target}: no history yet (every `harness run` "
                                   "records one; see --history)")
    db = History(target)
    if as_json:
        if metric is None:
            print_json(runs_document(db.runs(bench, limit)))
        else:
            points = db.trend(metric, bench=bench, board=board, model=model, variant=variant,
                              limit=limit)
            print_json(trend_document(metric, points, changes_from_previous(points)))
        return
    if metric is None:
        table = Table("run", "bench", "started", "host", "commit", "done", "failed", "skipped",
                      "rows")
        for r in db.runs(bench, limit):
            table.add_row(r.run_id, r.bench, r.started, r.host, r.git_commit[:12],
                          str(r.jobs_done), str(r.jobs_failed), str(r.jobs_skipped), str(r.rows))
        print_table(table)
        return
    table = Table("run", "started", "board", "model", "variant", metric, "95 % CI",
                  "vs previous", "source", title=f"{metric} over the last {limit} runs")
    points = db.trend(metric, bench=bench, board=board, model=model, variant=variant,
                      limit=limit)
    for p, change in zip(points, changes_from_previous(points), strict=True):
        delta = "–" if change is None else f"{change:+.2f} %"
        ci = (f"[{_num(p.ci_low)}, {_num(p.ci_high)}]"
              if p.ci_low is not None and p.ci_high is not None else "–")
        table.add_row(p.run_id, p.started, p.board, p.model, p.variant,
                      f"{_num(p.value)} {p.unit}", ci, delta, p.source)
    print_table(table)


def changes_from_previous(points: list[TrendPoint]) -> list[float | None]:
    """Per point, its % change from the previous run of its board/model/variant (None: the
    series' first point, or a previous value of 0)."""
    previous: dict[tuple[str, str, str], float] = {}
    changes: list[float | None] = []
    for p in points:
        before = previous.get((p.board, p.model, p.variant))
        changes.append((p.value - before) / before * 100 if before else None)
        previous[(p.board, p.model, p.variant)] = p.value
    return changes


@click.command()
@click.argument("run_dir", type=_run_dir)
@click.option("--baseline", required=True, metavar="RUN_OR_FILE_OR_ID",
              help="A run directory, a results.csv, or the id of a run in the history.")
@click.option("--history", "history_path", default=None, metavar="PATH_OR_URL",
              help="Where --baseline RUN_ID is looked up: a SQLite file or a postgresql:// "
                   "URL (default: $HARNESS_HISTORY, else history.sqlite beside RUN_DIR).")
@click.option("--bench", "bench_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Take thresholds from this bench file (default: the run's).")
@click.option("--latency-pct", type=float, default=None, help="Allowed latency increase, %.")
@click.option("--energy-pct", type=float, default=None, help="Allowed energy increase, %.")
@click.option("--accuracy-points", type=float, default=None,
              help="Allowed accuracy drop, percentage points.")
@click.option("--all", "show_all", is_flag=True,
              help="Also list figures that are not gated (--json lists them always).")
@junit_option
@json_option
def compare(run_dir: Path, baseline: str, history_path: str | None, bench_file: Path | None,
            latency_pct: float | None, energy_pct: float | None,
            accuracy_points: float | None, show_all: bool, junit: Path | None,
            as_json: bool) -> None:
    """Compare RUN_DIR with a baseline; exit 4 on a regression beyond threshold and noise."""
    with tempfile.TemporaryDirectory(prefix="harness-baseline-") as scratch:
        _compare(run_dir, baseline_path(baseline, history_target(
                     history_path, None, run_dir.parent / DEFAULT_NAME), Path(scratch)),
                 bench_file, latency_pct, energy_pct, accuracy_points, show_all, junit, as_json)


def _compare(run_dir: Path, baseline: Path, bench_file: Path | None, latency_pct: float | None,
             energy_pct: float | None, accuracy_points: float | None, show_all: bool,
             junit: Path | None, as_json: bool) -> None:
    from harness.report.gate import (
        bench_thresholds,
        gate,
        gate_document,
        run_identity,
        with_overrides,
    )
    from harness.report.junit import write_junit

    thresholds = with_overrides(bench_thresholds(run_dir, bench_file), latency_pct=latency_pct,
                                energy_pct=energy_pct, accuracy_points=accuracy_points)
    comparisons = gate(run_dir, baseline, thresholds)
    if as_json:
        print_json(gate_document(run_dir, baseline, thresholds, comparisons))
    else:
        print_comparisons(comparisons, show_all)
    if junit:
        write_junit(junit, *run_identity(run_dir), comparisons)
        if not as_json:
            out.print(f"junit: {junit}")
    if any(c.failed for c in comparisons):
        raise SystemExit(ExitCode.REGRESSION)
