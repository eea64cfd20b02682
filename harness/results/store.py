"""results/<run-id>/: results.csv appended as each job finishes, plus run metadata.

Raw artefacts sit beside them so every figure can be recomputed:
``traces/<job>.npz`` (energy traces) and ``raw/<job>.cycles.npy`` (per-run cycles).

A job's rows are written in one append followed by fsync, then its "done" line
in jobs.jsonl, which records how long results.csv is with them: that line is the
commit. A kill at any byte loses at most the job in flight: ``recover`` (run
before a resume) cuts a torn last line off jobs.jsonl and results.csv back to
its last committed length, so a job's rows are never there half or twice, and
``completed_jobs`` lets the resumed run skip the rest.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from harness.errors import HarnessError
from harness.results.rows import COLUMNS, ResultRow

RESULTS_CSV = "results.csv"
METADATA_JSON = "run.json"
JOBS_LOG = "jobs.jsonl"  # one line per job outcome: done, partial, failed, skipped, retrying


class RunStore:
    """The files of one run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    @property
    def csv_path(self) -> Path:
        return self.run_dir / RESULTS_CSV

    def create(self, metadata: dict) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.run_dir / METADATA_JSON, json.dumps(metadata, indent=2) + "\n")

    def metadata(self) -> dict:
        return json.loads((self.run_dir / METADATA_JSON).read_text(encoding="utf-8"))

    def job_file(self, folder: str, job_key: str, suffix: str) -> Path:
        """Where a job keeps a raw artefact, e.g. ``traces/<board>__<model>__<variant>.npz``."""
        path = self.run_dir / folder / (job_key.replace("/", "__") + suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def append_job(self, job_key: str, rows: list[ResultRow], status: str = "done",
                   message: str = "", where: str | None = None) -> None:
        """Append one job's rows, then record its outcome (in that order).

        ``partial``: a job that failed after some of its modes completed keeps their
        rows; a resumed run drops them (``drop_job_rows``) before running it again.
        """
        new_file = not self.csv_path.exists() or self.csv_path.stat().st_size == 0
        buf = io.StringIO()
        # a run resumed from an older harness keeps the columns its file has
        writer = csv.DictWriter(buf, fieldnames=COLUMNS if new_file else self._columns(),
                                lineterminator="\n", extrasaction="ignore")
        if new_file:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.as_dict().items()})
        _append_durably(self.csv_path, buf.getvalue())
        self.record_outcome(job_key, status, message, csv_bytes=self.csv_path.stat().st_size,
                            where=where)

    def drop_job_rows(self, job_key: str) -> int:
        """Remove a job's rows from results.csv (atomically); return how many went."""
        if not self.csv_path.exists():
            return 0
        with self.csv_path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        keep = [r for r in rows if f"{r['board']}/{r['model']}/{r['variant']}" != job_key]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(keep)
        write_atomic(self.csv_path, buf.getvalue())
        self.record_outcome(job_key, "retrying", csv_bytes=self.csv_path.stat().st_size)
        return len(rows) - len(keep)

    def record_outcome(self, job_key: str, status: str, message: str = "",
                       csv_bytes: int | None = None, where: str | None = None) -> None:
        """``where``: the labgrid place the job ran on, when it ran on one."""
        entry: dict = {"job": job_key, "status": status, "message": message}
        if csv_bytes is not None:
            entry["csv_bytes"] = csv_bytes  # results.csv's length once this job's rows are in
        if where is not None:
            entry["where"] = where
        _append_durably(self.run_dir / JOBS_LOG, json.dumps(entry) + "\n")

    def recover(self) -> list[str]:
        """Undo what an interrupted run left half-written; say what was dropped.

        jobs.jsonl loses a torn last line; results.csv is cut back to the length the
        last outcome line recorded (rows of a job that was not marked done, or half a
        row). Runs written before lengths were recorded keep their results.csv.
        """
        dropped = []
        log_path = self.run_dir / JOBS_LOG
        if log_path.exists():
            data = log_path.read_bytes()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                _truncate(log_path, keep)
                dropped.append(f"{JOBS_LOG}: a torn last line ({len(data) - keep} bytes)")
        recorded = [e.get("csv_bytes") for e in self._entries()
                    if e["status"] in ("done", "partial", "retrying")]
        lengths = [n for n in recorded if n is not None]
        if len(lengths) < len(recorded) or not self.csv_path.exists():
            return dropped
        committed = lengths[-1] if lengths else 0   # the latest: a retry may have shrunk it
        size = self.csv_path.stat().st_size
        if size > committed:
            _truncate(self.csv_path, committed)
            dropped.append(f"{RESULTS_CSV}: {size - committed} bytes of rows no job was "
                           "marked done with")
        return dropped

    def outcomes(self) -> dict[str, dict]:
        """Latest outcome per job (a resumed run may have retried a failed job)."""
        return {entry["job"]: entry for entry in self._entries()}

    def _entries(self) -> list[dict]:
        path = self.run_dir / JOBS_LOG
        if not path.exists():
            return []
        entries = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError as exc:
                raise HarnessError(f"{path}:{number}: not a JSON line ({exc}); an interrupted "
                                   "run is repaired by `harness run --resume`") from exc
        return entries

    def completed_jobs(self) -> set[str]:
        return {job for job, entry in self.outcomes().items() if entry["status"] == "done"}

    def _columns(self) -> list[str]:
        with self.csv_path.open(newline="", encoding="utf-8") as fh:
            return next(csv.reader(fh), list(COLUMNS))

    def read_rows(self) -> list[dict[str, str]]:
        if not self.csv_path.exists():
            return []
        with self.csv_path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))


def _append_durably(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as fh:
        fh.truncate(size)
        os.fsync(fh.fileno())


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of it."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
