"""A job that failed after some of its modes completed: the rows it has are kept.

The job is recorded ``partial`` with those rows (results/store.py); a resumed run
drops them before measuring the job again, so nothing is counted twice.
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.results.rows import ResultRow


class JobFailed(HarnessError):
    """A job failed after some of its modes completed; their rows are kept (``partial``)."""


class ModesFailed(Exception):
    """Raised by a job's mode loop: the error, and the rows of the modes that completed."""

    def __init__(self, error: HarnessError, rows: list[ResultRow]) -> None:
        super().__init__(str(error))
        self.error = error
        self.rows = rows
