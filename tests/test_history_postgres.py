"""One history for the whole farm (issue 11, item 5): a real PostgreSQL server, started in a
temporary folder, holds what SQLite holds, migrates an older schema, takes concurrent
writers from several threads, and is read by `harness history` and `harness compare`."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.results.history import History, HistoryError
from harness.results.rows import RowContext
from harness.results.store import RunStore
from tests.pg_server import PostgresServer, why_not

pytestmark = pytest.mark.skipif(why_not() is not None, reason=why_not() or "")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pg = PostgresServer(tmp_path_factory.mktemp("postgres")).start()
    yield pg
    pg.stop()


@pytest.fixture
def url(server, request) -> str:
    """A fresh database on the server for each test."""
    import psycopg

    name = "h_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url.rsplit("/", 1)[0] + "/" + name


def _run_dir(root: Path, run_id: str, started: str, latency: float, host: str) -> RunStore:
    store = RunStore(root / run_id)
    store.create({"run_id": run_id, "bench": "farm-bench", "started": started,
                  "harness_version": "0.1.0", "git_commit": "abc123", "host": host})
    for board in ("l4-a", "l4-b"):
        ctx = RowContext(run_id, "0.1.0", "abc123", "farm-bench", board, "nucleo_l4r5zi",
                         "sim", "simulated", "m0", "as-is")
        store.append_job(f"{board}/m0/as-is", [
            ctx.row("performance", "latency_median", latency, "ms", time=started, n=20),
            ctx.row("energy", "energy_per_inference", 41.5, "uJ", time=started,
                    ci=(40.0, 43.0), n=5, notes="monitor sim, 'quoted'")])
    return store


def test_postgres_holds_what_sqlite_holds(url, tmp_path):
    sqlite = History(tmp_path / "history.sqlite")
    pg = History(url)
    for i, (host, latency) in enumerate((("lab-a", 10.0), ("ci-runner-3", 10.5))):
        store = _run_dir(tmp_path, f"run{i}", f"2026-11-30T10:0{i}:00Z", latency, host)
        sqlite.record(store)
        pg.record(store)
        pg.record(store)            # recorded again (a resume): replaced, not twice
    assert pg.runs() == sqlite.runs()
    assert [r.host for r in pg.runs()] == ["ci-runner-3", "lab-a"]
    for metric in ("latency_median", "energy_per_inference"):
        assert pg.trend(metric, bench="farm-bench") == sqlite.trend(metric, bench="farm-bench")
    assert pg.run_rows("run0") == sqlite.run_rows("run0")
    assert pg.label.startswith("postgresql://127.0.0.1:") and "postgres@" not in pg.label


def test_an_older_postgres_history_is_migrated_on_open(url, tmp_path):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:     # a version 1 history
        conn.execute("CREATE TABLE harness_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO harness_schema VALUES (1)")
        conn.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, bench TEXT NOT NULL, "
                     "bench_file TEXT, started TEXT NOT NULL, harness_version TEXT, "
                     "git_commit TEXT, run_dir TEXT, jobs_done INTEGER, jobs_failed INTEGER, "
                     "jobs_skipped INTEGER)")
        conn.execute("CREATE TABLE results (run_id TEXT NOT NULL REFERENCES runs(run_id) "
                     "ON DELETE CASCADE, time TEXT, board TEXT NOT NULL, board_def TEXT, "
                     "board_kind TEXT, source TEXT NOT NULL, model TEXT NOT NULL, "
                     "variant TEXT NOT NULL, mode TEXT, metric TEXT NOT NULL, value DOUBLE "
                     "PRECISION NOT NULL, unit TEXT, ci_low DOUBLE PRECISION, ci_high DOUBLE "
                     "PRECISION, n INTEGER, notes TEXT)")
        conn.execute("INSERT INTO runs VALUES ('old', 'farm-bench', NULL, "
                     "'2026-01-01T00:00:00Z', '0.0.9', 'f00', NULL, 1, 0, 0)")
        conn.execute("INSERT INTO results VALUES ('old', NULL, 'l4-a', NULL, NULL, 'simulated',"
                     " 'm0', 'as-is', 'performance', 'latency_median', 9.5, 'ms', NULL, NULL,"
                     " 20, '')")
    history = History(url)
    history.record(_run_dir(tmp_path, "new", "2026-11-30T10:00:00Z", 10.0, "lab-a"))
    runs = {r.run_id: r for r in history.runs()}
    assert runs["old"].host == "" and runs["new"].host == "lab-a"
    assert [p.value for p in history.trend("latency_median", board="l4-a")] == [9.5, 10.0]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version FROM harness_schema").fetchone() == (3,)
        assert conn.execute("SELECT DISTINCT protocol FROM results WHERE run_id = 'old'"
                            ).fetchall() == [("harness",)]


def test_concurrent_writers_lose_nothing(url, tmp_path):
    # eight hosts at once, two of them recording the same run (a resume racing a report)
    stores = [_run_dir(tmp_path, f"run{i}", f"2026-11-30T10:{i:02d}:00Z", 10.0 + i,
                       f"host-{i}") for i in range(7)]
    stores.append(stores[3])
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def record(store: RunStore) -> None:
        try:
            start.wait()
            History(url).record(store)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    runs = History(url).runs()
    assert sorted(r.run_id for r in runs) == [f"run{i}" for i in range(7)]
    assert all(r.rows == 4 for r in runs)


def test_cli_reads_the_shared_history(url, tmp_path, monkeypatch):
    History(url).record(_run_dir(tmp_path, "base", "2026-11-30T09:00:00Z", 10.0, "lab-a"))
    current = _run_dir(tmp_path, "now", "2026-11-30T10:00:00Z", 13.0, "ci-runner-3")
    History(url).record(current)
    runner = CliRunner()
    monkeypatch.setenv("HARNESS_HISTORY", url)
    listed = runner.invoke(main, ["history"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert "ci-runner-3" in listed.output and "lab-a" in listed.output
    trend = runner.invoke(main, ["history", "--metric", "latency_median", "--json"])
    assert trend.exit_code == 0, trend.output
    assert '"change_pct": 30.0' in trend.output
    # a CI job gates against a run another host recorded
    gated = runner.invoke(main, ["compare", str(current.run_dir), "--baseline", "base"])
    assert gated.exit_code == 4, gated.output         # latency 10 -> 13 ms: a regression
    assert "regression" in gated.output
    missing = runner.invoke(main, ["compare", str(current.run_dir), "--baseline", "nope",
                                   "--history", url])
    assert missing.exit_code == 1 and "no run 'nope' in the history" in missing.output


def test_an_unreachable_server_is_named():
    with pytest.raises(HistoryError, match=r"postgresql://127\.0\.0\.1:1/h: cannot connect"):
        History("postgresql://u:secret@127.0.0.1:1/h").runs()
