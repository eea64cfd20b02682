"""Every run in one history database, for trends across runs and hosts.

The history is a SQLite file (default ``results/history.sqlite``) or, for a farm
whose hosts and CI runners share one, a PostgreSQL database (a ``postgresql://``
URL, driver psycopg 3). Both hold the same schema at the same version: SQLite
keeps it in ``PRAGMA user_version``, PostgreSQL in the ``harness_schema`` table;
an older database is migrated when it is opened (1 -> 2 adds
``results.protocol``, ``harness`` for the rows it holds; 2 -> 3 adds
``runs.host``, the machine the run ran on). A run is written in one transaction
(run metadata + all its rows) and recording it again replaces it, so a resumed
or re-reported run never appears twice. Concurrent writers are safe: SQLite
serialises them on its file lock (waiting up to ``BUSY_TIMEOUT_S``), PostgreSQL
on a transaction-scoped advisory lock per run id (and one for the schema).

Which history a run uses: ``--history``, else the bench's ``history`` key, else
``$HARNESS_HISTORY``, else ``<results-dir>/history.sqlite``.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import zlib
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.results.store import RunStore

if TYPE_CHECKING:
    from harness.config.bench import Bench

SCHEMA_VERSION = 3
DEFAULT_NAME = "history.sqlite"
ENV_VAR = "HARNESS_HISTORY"
BUSY_TIMEOUT_S = 30.0
_URL_SCHEMES = ("postgresql://", "postgres://")
_SCHEMA = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, bench TEXT NOT NULL, bench_file TEXT, started TEXT NOT NULL,
    harness_version TEXT, git_commit TEXT, run_dir TEXT,
    jobs_done INTEGER, jobs_failed INTEGER, jobs_skipped INTEGER, host TEXT);
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
_RUN_COLUMNS = ("run_id", "bench", "bench_file", "started", "harness_version", "git_commit",
                "run_dir", "jobs_done", "jobs_failed", "jobs_skipped", "host")
#: how each older schema becomes the next: version -> its migration script
_MIGRATIONS = {
    1: "ALTER TABLE results ADD COLUMN protocol TEXT NOT NULL DEFAULT 'harness';",
    2: "ALTER TABLE runs ADD COLUMN host TEXT;",
}
#: what a results.csv written before a column existed means by leaving it out
_ABSENT = {"protocol": "harness"}

_NUMERIC = {"value", "ci_low", "ci_high", "n"}
_SCHEMA_LOCK = 0x6861726E   # PostgreSQL advisory lock held while the schema is made or migrated


def is_url(target: Path | str) -> bool:
    return isinstance(target, str) and target.startswith(_URL_SCHEMES)


def history_target(option: str | None, bench: Bench | None, default: Path) -> Path | str:
    """``--history``, the bench's ``history`` key (a path relative to the bench file), then
    ``$HARNESS_HISTORY``, then ``default``."""
    if option:
        return option if is_url(option) else Path(option)
    if bench is not None and bench.spec.history:
        key = bench.spec.history
        return key if is_url(key) else bench.base_dir / Path(key).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return env if is_url(env) else Path(env)
    return default


def baseline_path(baseline: str, history: Path | str, scratch: Path) -> Path:
    """``--baseline``: a run folder or results.csv as it is, else a run id in ``history``,
    whose rows are written to ``scratch/<run id>/results.csv`` for the gate to read."""
    if Path(baseline).exists():
        return Path(baseline)
    if not history_exists(history):
        raise HistoryError(f"--baseline {baseline}: no such run folder or file, and no "
                           f"history at {history} to find a run of that id in")
    rows = History(history).run_rows(baseline)
    path = scratch / baseline / "results.csv"
    path.parent.mkdir(parents=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=_ROW_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def history_exists(target: Path | str | None) -> bool:
    """Is there a history to read (a URL is a server: it is asked when opened)?"""
    if target is None:
        return False
    return is_url(target) or Path(target).is_file()


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
    host: str = ""


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
    def __init__(self, target: Path | str) -> None:
        self.url = str(target) if is_url(target) else None
        self.path = Path(target)     # the SQLite file (unused for a URL)

    @property
    def label(self) -> str:
        """Where the history is, for people (a URL without its password)."""
        if self.url is None:
            return self.path.name
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        return f"postgresql://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"

    def _connect(self) -> _Connection:
        if self.url is not None:
            return self._connect_postgres()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
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
        return _Connection(conn, "?")

    def _connect_postgres(self) -> _Connection:
        assert self.url is not None
        try:
            import psycopg
        except ImportError:
            raise HistoryError(f"{self.label}: a PostgreSQL history needs psycopg "
                               "(pip install 'tinyml-harness[farm]')") from None
        try:
            conn = psycopg.connect(self.url, connect_timeout=10, autocommit=True)
        except psycopg.Error as exc:
            raise HistoryError(f"{self.label}: cannot connect to the history database: "
                               f"{str(exc).strip()}") from None
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS harness_schema (version INTEGER "
                             "NOT NULL)")
                row = conn.execute("SELECT version FROM harness_schema").fetchone()
                version = row[0] if row else 0
                if version == 0:
                    for statement in _postgres(_SCHEMA):
                        conn.execute(statement)
                    conn.execute("INSERT INTO harness_schema VALUES (%s)", (SCHEMA_VERSION,))
                    version = SCHEMA_VERSION
                while version in _MIGRATIONS:
                    for statement in _postgres(_MIGRATIONS[version]):
                        conn.execute(statement)
                    version += 1
                    conn.execute("UPDATE harness_schema SET version = %s", (version,))
        except psycopg.Error as exc:
            conn.close()
            raise HistoryError(f"{self.label}: not a usable history database: "
                               f"{str(exc).strip()}") from None
        if version != SCHEMA_VERSION:
            conn.close()
            raise HistoryError(f"{self.label}: history schema version {version}, this "
                               f"harness reads version {SCHEMA_VERSION}")
        return _Connection(conn, "%s")

    def record(self, store: RunStore) -> None:
        """Write (or replace) one run and its rows in a single transaction."""
        meta = store.metadata()
        rows = store.read_rows()
        status = [e["status"] for e in store.outcomes().values()]
        run = (meta["run_id"], meta["bench"], meta.get("bench_file"), meta["started"],
               meta.get("harness_version"), meta.get("git_commit"),
               str(store.run_dir.resolve()), status.count("done"),
               status.count("failed") + status.count("partial"), status.count("skipped"),
               meta.get("host"))
        with closing(self._connect()) as db, db.transaction():
            db.lock_run(meta["run_id"])
            db.execute("DELETE FROM runs WHERE run_id = ?", (meta["run_id"],))
            db.execute(f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES "
                       f"(?{', ?' * (len(_RUN_COLUMNS) - 1)})", run)
            db.executemany(
                f"INSERT INTO results (run_id, {', '.join(_ROW_COLUMNS)}) "
                f"VALUES (?{', ?' * len(_ROW_COLUMNS)})",
                [(meta["run_id"], *(_sql_value(c, r.get(c) or _ABSENT.get(c, ""))
                                     for c in _ROW_COLUMNS))
                 for r in rows])

    def runs(self, bench: str | None = None, limit: int = 50) -> list[RunEntry]:
        query = ("SELECT r.run_id, r.bench, r.started, COALESCE(r.git_commit, ''), r.jobs_done,"
                 " r.jobs_failed, r.jobs_skipped, COUNT(x.run_id), COALESCE(r.host, '') "
                 "FROM runs r LEFT JOIN results x ON x.run_id = r.run_id "
                 + ("WHERE r.bench = ? " if bench else "")
                 + "GROUP BY r.run_id ORDER BY r.started DESC, r.run_id DESC LIMIT ?")
        args = ((bench,) if bench else ()) + (limit,)
        with closing(self._connect()) as db:
            return [RunEntry(*row) for row in db.execute(query, args)]

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
                 "x.ci_low, x.ci_high, x.source FROM results x JOIN runs r ON "
                 f"r.run_id = x.run_id WHERE {' AND '.join(where)} AND r.run_id IN (SELECT "
                 f"run_id FROM runs {'WHERE bench = ?' if bench else ''} ORDER BY started "
                 "DESC LIMIT ?) ORDER BY r.started, r.run_id")
        args += ([bench] if bench else []) + [limit]
        with closing(self._connect()) as db:
            return [TrendPoint(*row) for row in db.execute(query, args)]

    def run_rows(self, run_id: str) -> list[dict[str, str]]:
        """One run's rows as results.csv holds them (text, '' for none), for a baseline."""
        query = (f"SELECT {', '.join(_ROW_COLUMNS)} FROM results WHERE run_id = ? "
                 "ORDER BY board, model, variant, metric")
        with closing(self._connect()) as db:
            if not db.execute("SELECT bench FROM runs WHERE run_id = ?", (run_id,)):
                raise HistoryError(f"{self.label}: no run {run_id!r} in the history")
            rows = db.execute(query, (run_id,))
        return [{c: "" if v is None else _text(c, v) for c, v in zip(_ROW_COLUMNS, row,
                                                                   strict=True)}
                for row in rows]


class _Connection:
    """A DB-API connection with the two dialects' differences kept here."""

    def __init__(self, conn: Any, placeholder: str) -> None:
        self._conn = conn
        self._placeholder = placeholder

    def _sql(self, query: str) -> str:
        return query.replace("?", self._placeholder) if self._placeholder != "?" else query

    def execute(self, query: str, args: tuple | list = ()) -> list[tuple]:
        cursor = self._conn.execute(self._sql(query), args)
        return list(cursor.fetchall()) if cursor.description else []

    def executemany(self, query: str, rows: list[tuple]) -> None:
        cursor = self._conn.cursor()
        cursor.executemany(self._sql(query), rows)

    def transaction(self) -> Any:
        if self._placeholder == "?":
            return self._conn     # sqlite3: the connection is the transaction's context
        return self._conn.transaction()

    def lock_run(self, run_id: str) -> None:
        """PostgreSQL: one writer per run id at a time (SQLite locks its whole file)."""
        if self._placeholder != "?":
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)",
                               (zlib.crc32(run_id.encode()),))

    def close(self) -> None:
        self._conn.close()


def _postgres(script: str) -> list[str]:
    """SQLite DDL as PostgreSQL statements: REAL is 4 bytes there, SQLite's is 8."""
    return [s.strip().replace(" REAL", " DOUBLE PRECISION") for s in script.split(";")
            if s.strip()]


def _text(column: str, value: Any) -> str:
    if column == "n" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sql_value(column: str, text: str) -> str | float | None:
    """CSV text to what SQLite should hold: '' is NULL, numeric columns are numbers."""
    if text == "":
        return None
    return float(text) if column in _NUMERIC else text
