"""RunStore after a kill at any byte: a resumed run has every job's rows exactly once.

A job's append is its rows into results.csv, then its "done" line into jobs.jsonl;
a SIGKILL can stop it after any byte of either. Every such prefix is replayed here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.results.rows import ResultRow, RowContext
from harness.results.store import JOBS_LOG, RunStore

JOBS = ("b1/m1/as-is", "b1/m2/as-is", "b2/m1/as-is")


def _rows(job: str) -> list[ResultRow]:
    board, model, variant = job.split("/")
    ctx = RowContext("run", "0", "abc", "bench", board, "nucleo_l4r5zi", "sim", "simulated",
                     model, variant)
    # notes with a quoted newline: a torn row cannot be found by looking for line ends
    return [ctx.row("performance", metric, value, "ms", time="2026-01-01T00:00:00Z",
                    notes='two\nlines, "quoted"') for metric, value in
            (("latency_median", 1.5), ("cycles_mean", 1e6))]


def _store(path: Path, jobs: tuple[str, ...]) -> RunStore:
    store = RunStore(path)
    store.create({"run_id": "run"})
    for job in jobs:
        store.append_job(job, _rows(job))
    return store


def _files(store: RunStore) -> tuple[bytes, bytes]:
    return store.csv_path.read_bytes(), (store.run_dir / JOBS_LOG).read_bytes()


@pytest.mark.parametrize("finished", [0, 2], ids=["first-job", "third-job"])
def test_a_kill_at_any_byte_of_an_append_loses_or_duplicates_nothing(
        tmp_path: Path, finished: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # durability is the disk's part; the cut points are this test's (~1,000 replays)
    monkeypatch.setattr("harness.results.store.os.fsync", lambda fd: None)
    before = _store(tmp_path / "before", JOBS[:finished])
    csv0, log0 = _files(before) if finished else (b"", b"")
    csv1, log1 = _files(_store(tmp_path / "after", JOBS[:finished + 1]))
    csv_part, log_part = csv1[len(csv0):], log1[len(log0):]
    assert csv1.startswith(csv0) and log1.startswith(log0)
    for cut in range(len(csv_part) + len(log_part)):
        store = RunStore(tmp_path / f"cut-{cut}")
        store.create({"run_id": "run"})
        store.csv_path.write_bytes(csv0 + csv_part[:cut])
        (store.run_dir / JOBS_LOG).write_bytes(log0 + log_part[:max(0, cut - len(csv_part))])
        store.recover()
        assert store.completed_jobs() == set(JOBS[:finished]), cut
        store.append_job(JOBS[finished], _rows(JOBS[finished]))  # the resumed run redoes it
        assert _files(store) == (csv1, log1), cut
    rows = RunStore(tmp_path / "after").read_rows()
    assert len(rows) == 2 * (finished + 1) and rows[-1]["notes"] == 'two\nlines, "quoted"'


def test_recover_reports_what_it_dropped_and_leaves_a_clean_run_alone(tmp_path: Path) -> None:
    store = _store(tmp_path / "run", JOBS[:2])
    csv, log = _files(store)
    assert store.recover() == [] and _files(store) == (csv, log)
    store.csv_path.write_bytes(csv + b"half a r")
    (store.run_dir / JOBS_LOG).write_bytes(log + b'{"job": "b2/m')
    dropped = store.recover()
    assert dropped == [f"{JOBS_LOG}: a torn last line (13 bytes)",
                       "results.csv: 8 bytes of rows no job was marked done with"]
    assert _files(store) == (csv, log)


def test_a_run_without_recorded_lengths_keeps_its_rows(tmp_path: Path) -> None:
    """Runs written before "done" lines carried results.csv's length cannot be cut back."""
    store = _store(tmp_path / "run", JOBS[:1])
    log_path = store.run_dir / JOBS_LOG
    entry = json.loads(log_path.read_text())
    del entry["csv_bytes"]
    log_path.write_text(json.dumps(entry) + "\n")
    csv = store.csv_path.read_bytes()
    assert store.recover() == [] and store.csv_path.read_bytes() == csv


def test_a_damaged_line_inside_jobs_log_names_file_and_line(tmp_path: Path) -> None:
    store = _store(tmp_path / "run", JOBS[:2])
    log_path = store.run_dir / JOBS_LOG
    lines = log_path.read_text().splitlines()
    log_path.write_text("\n".join(["{oops", *lines[1:]]) + "\n")
    with pytest.raises(HarnessError, match=rf"{JOBS_LOG}:1: not a JSON line"):
        store.completed_jobs()
