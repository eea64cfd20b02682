"""Write every report file of a run from its saved results: results.json, Markdown, CSV tables,
HTML."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from harness.report.content import gather
from harness.report.gate import record_gate
from harness.report.markdown import render_markdown
from harness.report.tables import csv_text
from harness.results.history import History, history_exists
from harness.results.results_json import RESULTS_JSON, write_results_json
from harness.results.store import RunStore, write_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    summary_csv: Path
    mlperf_csv: Path
    results_json: Path


def write_reports(store: RunStore, history: History | None = None,
                  lab_dir: Path | None = None) -> ReportFiles:
    """``lab_dir``: a lab's own board files, for a run whose folder has no copy of its
    boards' definitions (harness/results/run_boards.py)."""
    write_results_json(store)
    content = gather(store, lab_dir)
    run_dir = store.run_dir
    files = ReportFiles(run_dir / "report.md", run_dir / "report.html",
                        run_dir / "summary.csv", run_dir / "mlperf.csv", run_dir / RESULTS_JSON)
    write_atomic(files.markdown, render_markdown(content))
    write_atomic(files.summary_csv, csv_text([content.summary]))
    write_atomic(files.mlperf_csv, csv_text(content.mlperf))
    try:
        from harness.report.html import render_html  # jinja2 + matplotlib: the 'report' extra
    except ImportError as exc:
        log.warning("report.html not written: %s (pip install 'tinyml-harness[report]')", exc)
        return files
    write_atomic(files.html, render_html(content, history))
    return files


def publish_run(store: RunStore, history_path: Path | str | None) -> ReportFiles:
    """A finished (or resumed) run: recorded in the history, then every report written."""
    history = None
    if history_path is not None:
        history = History(history_path)
        history.record(store)
    return write_reports(store, history)


def publish_gate(store: RunStore, gate: dict[str, object], history_path: Path | str | None,
                 lab_dir: Path | None = None) -> ReportFiles:
    """A run gated against a baseline: the gate kept beside it (gate.json) and its reports
    written again, so their summaries name the regressions."""
    record_gate(store.run_dir, gate)
    history = History(history_path) if history_path is not None and \
        history_exists(history_path) else None
    return write_reports(store, history, lab_dir)
