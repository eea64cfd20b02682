"""Per-job and whole-run ETA for `harness run`'s progress output (terminal bar or CI lines)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


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
