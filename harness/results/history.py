"""Every run in one SQLite file (default ``results/history.sqlite``), for trends across runs.

Schema version in ``PRAGMA user_version``; an older file is migrated when it is opened
(version 1 -> 2 adds ``results.protocol``, ``harness`` for the rows it holds). A run
is written in one transaction (run metadata + all its rows) and recording it again
replaces it, so a resumed or re-reported run never appears twice.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.results.store import RunStore

SCHEMA_VERSION = 2
DEFAULT_NAME = "history.sqlite"
_SCHEMA = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, bench TEXT NOT NULL, bench_file TEXT, started TEXT NOT NULL,
    harness_version TEXT, git_commit TEXT, run_dir TEXT,
    jobs_done INTEGER, jobs_failed INTEGER, jobs_skipped INTEGER);
CREATE TABLE results (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    time TEXT, board TEXT NOT NULL, board_def TEXT, board_kind TEXT, source TEXT NOT NULL,
    protocol TEXT NOT NULL DEFAULT 'harness', model TEXT NOT NULL, variant TEXT NOT NULL,
    mode TEXT, metric TEXT NOT NULL, value REAL NOT NULL, unit TEXT, ci_low REAL,
    ci_high REAL, n INTEGER, notes TEXT);
CREATE INDEX results_series ON results(metric, board, model, variant);
"""
_ROW_COLUMNS = ("time", "board", "board_def", "board_kind", "source", "protocol", "model",
                "variant", "mode", "metric", "value", "unit", "ci_low", "ci_high", "n", "notes")
#: how each older schema becomes the next: version -> its migration script
_MIGRATIONS = {
    1: "ALTER TABLE results ADD COLUMN protocol TEXT NOT NULL DEFAULT 'harness';",
}
#: what a results.csv written before a column existed means by leaving it out
_ABSENT = {"protocol": "harness"}

_NUMERIC = {"value", "ci_low", "ci_high", "n"}


class HistoryError(HarnessError):
    """The history database cannot be opened or has an unknown schema."""


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    bench: str
    started: str
    git_commit: str
    jobs_done: int
    jobs_failed: int
    jobs_skipped: int
    rows: int


@dataclass(frozen=True)
class TrendPoint:
    run_id: str
    started: str
    board: str
    model: str
    variant: str
    value: float
    unit: str
    ci_low: float | None
    ci_high: float | None
    source: str


class History:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path)
            conn.execute("PRAGMA foreign_keys = ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                with conn:
                    conn.executescript(_SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")
            while version in _MIGRATIONS:
                with conn:
                    conn.executescript(_MIGRATIONS[version] + f"PRAGMA user_version = "
                                       f"{version + 1};")
                version += 1
            if version not in (0, SCHEMA_VERSION):
                conn.close()
                raise HistoryError(f"{self.path}: history schema version {version}, this "
                                   f"harness reads version {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{self.path}: not a usable history database: {exc}") from exc
        return conn

    def record(self, store: RunStore) -> None:
        """Write (or replace) one run and its rows in a single transaction."""
        meta = store.metadata()
        rows = store.read_rows()
        status = [e["status"] for e in store.outcomes().values()]
        with closing(self._connect()) as conn, conn:
            conn.execute("DELETE FROM runs WHERE run_id = ?", (meta["run_id"],))
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (meta["run_id"], meta["bench"], meta.get("bench_file"), meta["started"],
                 meta.get("harness_version"), meta.get("git_commit"),
                 str(store.run_dir.resolve()), status.count("done"),
                 status.count("failed") + status.count("partial"), status.count("skipped")))
            conn.executemany(
                f"INSERT INTO results (run_id, {', '.join(_ROW_COLUMNS)}) "
                f"VALUES (?{', ?' * len(_ROW_COLUMNS)})",
                [(meta["run_id"], *(_sql_value(c, r.get(c) or _ABSENT.get(c, ""))
                                     for c in _ROW_COLUMNS))
                 for r in rows])

    def runs(self, bench: str | None = None, limit: int = 50) -> list[RunEntry]:
        query = ("SELECT r.run_id, r.bench, r.started, COALESCE(r.git_commit, ''), r.jobs_done,"
                 " r.jobs_failed, r.jobs_skipped, COUNT(x.run_id) FROM runs r "
                 "LEFT JOIN results x ON x.run_id = r.run_id "
                 + ("WHERE r.bench = ? " if bench else "")
                 + "GROUP BY r.run_id ORDER BY r.started DESC, r.run_id DESC LIMIT ?")
        args = ((bench,) if bench else ()) + (limit,)
        with closing(self._connect()) as conn:
            return [RunEntry(*row) for row in conn.execute(query, args)]

    def trend(self, metric: str, *, bench: str | None = None, board: str | None = None,
              model: str | None = None, variant: str | None = None,
              limit: int = 50) -> list[TrendPoint]:
        """One metric across the most recent ``limit`` runs, oldest first."""
        where = ["x.metric = ?"]
        args: list[str | int] = [metric]
        for column, value in (("r.bench", bench), ("x.board", board), ("x.model", model),
                              ("x.variant", variant)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        query = ("SELECT x.run_id, r.started, x.board, x.model, x.variant, x.value, x.unit, "
                 "x.ci_low, x.ci_high, x.source FROM results x JOIN runs r USING (run_id) "
                 f"WHERE {' AND '.join(where)} AND r.run_id IN (SELECT run_id FROM runs "
                 f"{'WHERE bench = ?' if bench else ''} ORDER BY started DESC LIMIT ?) "
                 "ORDER BY r.started, r.run_id")
        args += ([bench] if bench else []) + [limit]
        with closing(self._connect()) as conn:
            return [TrendPoint(*row) for row in conn.execute(query, args)]


def _sql_value(column: str, text: str) -> str | float | None:
    """CSV text to what SQLite should hold: '' is NULL, numeric columns are numbers."""
    if text == "":
        return None
    return float(text) if column in _NUMERIC else text
