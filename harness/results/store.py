"""results/<run-id>/: results.csv appended as each job finishes, plus run metadata.

Raw artefacts sit beside them so every figure can be recomputed:
``traces/<job>.npz`` (energy traces) and ``raw/<job>.cycles.npy`` (per-run cycles).

A job's rows are written in one append followed by fsync, so a crash loses at
most the job in flight, and ``completed_jobs`` lets a resumed run skip the rest.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from harness.results.rows import COLUMNS, ResultRow

RESULTS_CSV = "results.csv"
METADATA_JSON = "run.json"
JOBS_LOG = "jobs.jsonl"  # one line per job outcome: done, failed or skipped


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

    def append_job(self, job_key: str, rows: list[ResultRow]) -> None:
        """Append one finished job's rows, then mark the job done (in that order)."""
        new_file = not self.csv_path.exists()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        if new_file:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.as_dict().items()})
        _append_durably(self.csv_path, buf.getvalue())
        self.record_outcome(job_key, "done")

    def record_outcome(self, job_key: str, status: str, message: str = "") -> None:
        line = json.dumps({"job": job_key, "status": status, "message": message})
        _append_durably(self.run_dir / JOBS_LOG, line + "\n")

    def outcomes(self) -> dict[str, dict]:
        """Latest outcome per job (a resumed run may have retried a failed job)."""
        path = self.run_dir / JOBS_LOG
        if not path.exists():
            return {}
        latest: dict[str, dict] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                latest[entry["job"]] = entry
        return latest

    def completed_jobs(self) -> set[str]:
        return {job for job, entry in self.outcomes().items() if entry["status"] == "done"}

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


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of it."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
