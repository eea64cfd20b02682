"""The protocol column: in results.csv, the history and the reports; older files still read."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from harness.report.build import write_reports
from harness.report.summary import summarise
from harness.report.tables import mlperf_tables, summary_table
from harness.results.history import SCHEMA_VERSION, History
from harness.results.rows import COLUMNS, RowContext
from harness.results.store import RunStore

#: results.csv's columns before the protocol column
OLD_COLUMNS = [c for c in COLUMNS if c != "protocol"]
#: the history's schema version 1 (before results.protocol)
SCHEMA_V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, bench TEXT NOT NULL, bench_file TEXT, started TEXT NOT NULL,
    harness_version TEXT, git_commit TEXT, run_dir TEXT,
    jobs_done INTEGER, jobs_failed INTEGER, jobs_skipped INTEGER);
CREATE TABLE results (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    time TEXT, board TEXT NOT NULL, board_def TEXT, board_kind TEXT, source TEXT NOT NULL,
    model TEXT NOT NULL, variant TEXT NOT NULL, mode TEXT, metric TEXT NOT NULL,
    value REAL NOT NULL, unit TEXT, ci_low REAL, ci_high REAL, n INTEGER, notes TEXT);
CREATE INDEX results_series ON results(metric, board, model, variant);
PRAGMA user_version = 1;
"""


def _store(root: Path, name: str, started: str = "2026-01-01") -> RunStore:
    store = RunStore(root / name)
    store.create({"run_id": name, "bench": "b", "bench_file": "", "started": started,
                  "harness_version": "0", "git_commit": ""})
    return store


def _ctx(run: str, board: str, protocol: str) -> RowContext:
    return RowContext(run, "0", "", "b", board, "nucleo_l4r5zi", "sim", "simulated", "ic",
                      "as-is", protocol)


def _old_run(root: Path) -> RunStore:
    """A run folder written before the protocol column existed."""
    store = _store(root, "old")
    row = _ctx("old", "l4", "harness").row("performance", "latency_median", 700.0, "ms",
                                           time="2026-01-01")
    with store.csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=OLD_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerow({k: "" if v is None else v for k, v in row.as_dict().items()})
    store.record_outcome("l4/ic/as-is", "done", csv_bytes=store.csv_path.stat().st_size)
    return store


def test_rows_carry_their_protocol_into_both_tables(tmp_path: Path) -> None:
    store = _store(tmp_path, "run")
    for board, protocol in (("l4", "harness"), ("l4-mlperf", "mlperf")):
        store.append_job(f"{board}/ic/as-is", [_ctx("run", board, protocol).row(
            "performance", "latency_median", 700.0, "ms", time="2026-01-01")])
    rows = store.read_rows()
    assert [r["protocol"] for r in rows] == ["harness", "mlperf"]
    lines = summarise(rows)
    summary = summary_table(lines)
    assert [r["protocol"].text for r in summary.rows] == ["harness", "mlperf"]
    (mlperf,) = mlperf_tables(lines)
    assert "Protocol" in [c.title for c in mlperf.shown]
    assert [r["protocol"].text for r in mlperf.rows] == ["harness", "mlperf"]


def test_a_run_folder_from_before_the_column_still_reports_and_resumes(tmp_path: Path) -> None:
    store = _old_run(tmp_path)
    (line,) = summarise(store.read_rows())
    assert line.protocol == "harness"
    files = write_reports(store)
    assert "| harness |" in files.markdown.read_text()
    # a resumed old run keeps its file's columns: every row stays aligned with the header
    store.append_job("l4-mlperf/ic/as-is", [_ctx("old", "l4-mlperf", "mlperf").row(
        "performance", "latency_median", 650.0, "ms", time="2026-01-02")])
    rows = store.read_rows()
    assert list(rows[0]) == OLD_COLUMNS
    assert [(r["board"], r["value"]) for r in rows] == [("l4", "700.0"), ("l4-mlperf", "650.0")]


def test_a_version_1_history_is_migrated_and_old_runs_count_as_harness(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA_V1)
        conn.execute("INSERT INTO runs VALUES ('r0', 'b', '', '2025-12-01', '0', '', '', 1, 0, 0)")
        conn.execute("INSERT INTO results VALUES ('r0', '', 'l4', 'nucleo_l4r5zi', 'sim', "
                     "'simulated', 'ic', 'as-is', 'performance', 'latency_median', 710, 'ms', "
                     "NULL, NULL, 20, '')")
    conn.close()
    history = History(path)
    history.record(_old_run(tmp_path))
    mlperf = _store(tmp_path, "new", started="2026-01-03")
    mlperf.append_job("l4-mlperf/ic/as-is", [_ctx("new", "l4-mlperf", "mlperf").row(
        "performance", "latency_median", 650.0, "ms", time="2026-01-03")])
    history.record(mlperf)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        got = conn.execute("SELECT run_id, protocol FROM results ORDER BY run_id").fetchall()
    conn.close()
    assert got == [("new", "mlperf"), ("old", "harness"), ("r0", "harness")]
    assert [p.value for p in history.trend("latency_median")] == [710.0, 700.0, 650.0]
