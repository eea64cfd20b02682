"""Per-job and whole-run ETA for `harness run`'s progress output (terminal bars or CI lines)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from harness.plan import Job
    from harness.run_workers import JobEvent


@dataclass
class JobClock:
    """Times jobs as they run; an ETA is the mean job time so far times what is left."""

    total: int
    durations: list[float] = field(default_factory=list)
    _started: float | None = None

    @property
    def done(self) -> int:
        return len(self.durations)

    @property
    def last_s(self) -> float:
        return self.durations[-1] if self.durations else 0.0

    def start(self) -> None:
        self._started = time.monotonic()

    def finish(self) -> None:
        if self._started is not None:
            self.durations.append(time.monotonic() - self._started)
            self._started = None

    def job_eta(self) -> str:
        return _fmt(self._mean()) if self.durations else "unknown"

    def run_eta(self) -> str:
        return _fmt(self._mean() * (self.total - self.done)) if self.durations else "unknown"

    def _mean(self) -> float:
        return sum(self.durations) / len(self.durations)


def _fmt(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


class RunProgress:
    """`harness run`'s progress while boards work at once: a bar per bench board and one
    for the run on a terminal; a line per job event in CI logs. Called from workers."""

    def __init__(self, console: Console, jobs: list[Job]) -> None:
        self._console = console
        self._per_board: dict[str, int] = {}
        for job in jobs:
            self._per_board[job.board.id] = self._per_board.get(job.board.id, 0) + 1
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  TextColumn("{task.completed}/{task.total} jobs"),
                                  TimeElapsedColumn(), console=console,
                                  disable=not console.is_terminal)
        self._clock = JobClock(len(jobs))
        self._started: dict[str, float] = {}
        self._finished: dict[str, int] = {}
        self._failed: dict[str, int] = {}
        self._lock = threading.Lock()
        self._run = self._progress.add_task("preparing models", total=len(jobs))
        self._boards = {board: self._progress.add_task(f"  {board}: waiting", total=n)
                        for board, n in self._per_board.items()}

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, event: JobEvent) -> None:
        with self._lock:
            self._show(event)

    def _show(self, event: JobEvent) -> None:
        job, board = event.job, event.job.board.id
        on = f" on {event.where}" if event.where != board else ""
        if event.state == "started":
            self._started[job.key] = time.monotonic()
            self._progress.update(self._boards[board], description=f"  {board}: running "
                                  f"{job.model.id}/{job.variant}{on}")
            self._progress.update(self._run, description=f"running (ETA {self._eta()})")
            self._line(f"job {job.key}{on}: started")
            return
        took = time.monotonic() - self._started.pop(job.key, time.monotonic())
        if event.state == "requeued":
            self._line(f"job {job.key}{on}: {event.message}")
            return
        self._clock.durations.append(took)
        self._progress.advance(self._boards[board])
        self._progress.advance(self._run)
        self._finished[board] = self._finished.get(board, 0) + 1
        if event.state == "failed":
            self._failed[board] = self._failed.get(board, 0) + 1
        if self._finished[board] == self._per_board[board]:
            failed = self._failed.get(board, 0)
            self._progress.update(self._boards[board], description=f"  {board}: done"
                                  + (f", {failed} failed" if failed else ""))
        if event.state == "failed":
            self._line(f"job {job.key}{on}: failed after {took:.1f} s: {event.message}")
        else:
            figures = len(event.outcome.rows) if event.outcome else 0
            self._line(f"job {job.key}{on}: {figures} figures in {took:.1f} s; "
                       f"{self._clock.done}/{self._clock.total} jobs, ETA {self._eta()}")

    def _eta(self) -> str:
        """Mean job time x jobs left, over the boards still working."""
        if not self._clock.durations:
            return "unknown"
        left = self._clock.total - self._clock.done
        busy = max(1, min(len(self._started), left))
        return _fmt(self._clock._mean() * left / busy)

    def _line(self, text: str) -> None:
        if not self._console.is_terminal:
            self._console.print(text, highlight=False)
