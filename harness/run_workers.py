"""A run's jobs on several boards at once: one worker per board, or per labgrid place.

Local boards: a worker per bench board runs that board's jobs in order; at most
``--jobs N`` workers run at a time (default: one per board). A board in a labgrid
place (``boards[].place``) is reserved and acquired by its worker first (a place
someone else holds is waited for, up to a bound, never taken) and released after
its last job, on failure and on Ctrl-C. With ``--farm`` the jobs of every bench
board of one definition share a queue, and a worker per free place tagged
``board=<definition>`` takes from it: when a place is lost mid-job (its exporter
went away) the attempt's rows are dropped and the job goes back in the queue for
the other places.

Every write reaches the run's files through its one writer (results/writer.py),
so results.csv and jobs.jsonl keep the single-writer invariant.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from harness.errors import HarnessError
from harness.farm.coordinator import FarmClient, FarmError
from harness.farm.place_driver import PlaceAccess
from harness.job import JobFailed, JobOutcome, run_job
from harness.plan import Job
from harness.results.writer import AttemptStore, StoreWriter

if TYPE_CHECKING:
    from harness.config.bench import Bench

log = logging.getLogger(__name__)
JOIN_POLL_S = 0.2   # the main thread wakes this often, so Ctrl-C reaches it at once


@dataclass(frozen=True)
class JobEvent:
    """What progress output hears from the workers (from their threads)."""

    job: Job
    state: Literal["started", "done", "failed", "requeued"]
    where: str                      # the bench board, or the place the job runs on
    outcome: JobOutcome | None = None
    message: str = ""


OnJob = Callable[[JobEvent], None]


@dataclass
class Results:
    """What the workers report back, under one lock."""

    completed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Attempts:
    """Runs one attempt of a job on a board or place and records what became of it."""

    bench: Bench
    model_paths: dict[tuple[str, str], Path]
    writer: StoreWriter
    run_id: str
    seed: int
    results: Results
    on_job: OnJob | None = None

    def emit(self, event: JobEvent) -> None:
        if self.on_job is not None:
            self.on_job(event)

    def run(self, job: Job, place: PlaceAccess | None = None, requeue: bool = False) -> bool:
        """One attempt; False when the place was lost and ``requeue`` lets the job run again
        elsewhere (the attempt then left nothing in the run's files but a retrying line)."""
        where = place.name if place is not None else job.board.id
        store = AttemptStore(self.writer, place.name if place is not None else None)
        self.emit(JobEvent(job, "started", where))
        try:
            outcome = run_job(self.bench, job, self.model_paths[(job.model.id, job.variant)],
                              store, self.run_id, self.seed, place)
        except HarnessError as exc:
            lost = place.lost() if place is not None else None
            if lost and requeue:
                store.discard()
                message = f"place {where!r} lost mid-job: {lost}; the job runs again elsewhere"
                store.record_retry(job.key, message, where)
                log.warning("job %s: %s", job.key, message)
                self.emit(JobEvent(job, "requeued", where, message=message))
                return False
            message = f"place {where!r} lost: {lost}: {exc}" if lost else str(exc)
            self.fail(job, message, store, committed=isinstance(exc, JobFailed))
            return True
        with self.results.lock:
            self.results.completed.append(job.key)
        self.emit(JobEvent(job, "done", where, outcome))
        return True

    def fail(self, job: Job, message: str, store: AttemptStore | None = None,
             committed: bool = False) -> None:
        """Record a failed job (a partial one keeps the rows of its completed modes)."""
        log.error("job %s failed: %s", job.key, message)
        store = store or AttemptStore(self.writer)
        if committed and store.holds_rows:
            store.commit()
        else:
            store.record_outcome(job.key, "failed", message, where=store.where)
        with self.results.lock:
            self.results.failed[job.key] = message
        self.emit(JobEvent(job, "failed", store.where or job.board.id, message=message))


class JobQueue:
    """Jobs waiting for a worker, the jobs out on workers, and how many workers serve them.

    A worker that finds the queue empty waits while jobs are still out: one of them may
    come back (its place lost) and need it.
    """

    def __init__(self, jobs: list[Job]) -> None:
        self._jobs = deque(jobs)
        self._out = 0
        self._changed = threading.Condition()
        self._workers = 0
        self.reasons: list[str] = []    # why workers left with jobs still queued

    def join(self) -> None:
        with self._changed:
            self._workers += 1

    def take(self, cancel: threading.Event) -> Job | None:
        """The next job (it is then out until `done` or `put_back`); None when all are done."""
        with self._changed:
            while not self._jobs and self._out and not cancel.is_set():
                self._changed.wait(JOIN_POLL_S)
            if not self._jobs or cancel.is_set():
                return None
            self._out += 1
            return self._jobs.popleft()

    def done(self) -> None:
        with self._changed:
            self._out -= 1
            self._changed.notify_all()

    def put_back(self, job: Job) -> None:
        with self._changed:
            self._out -= 1
            self._jobs.appendleft(job)
            self._changed.notify_all()

    @property
    def finished(self) -> bool:
        with self._changed:
            return not self._jobs and not self._out

    def leave(self, reason: str | None = None) -> list[Job]:
        """A worker stops; if it was the last one, the jobs nobody will run now."""
        with self._changed:
            self._workers -= 1
            if reason:
                self.reasons.append(reason)
            if self._workers > 0:
                return []
            orphaned = list(self._jobs)
            self._jobs.clear()
            return orphaned


@dataclass(frozen=True)
class FarmSettings:
    client: FarmClient
    wait_s: float               # how long a place someone else holds is waited for


def run_workers(jobs: list[Job], attempts: Attempts, max_workers: int | None,
                farm: FarmSettings | None, spread: bool) -> None:
    """Run ``jobs`` (in their order per board) on their boards, places or, with ``spread``,
    over every free place of their board definition; return when all are recorded.

    At most ``max_workers`` workers run at once, taken in bench order (``1``: the serial run).
    """
    cancel = threading.Event()
    workers: list[Callable[[], None]] = []
    if spread:
        assert farm is not None
        workers += _farm_workers(jobs, attempts, farm, cancel)
    else:
        lanes: dict[str, list[Job]] = {}
        for job in jobs:
            lanes.setdefault(job.board.id, []).append(job)
        for lane in lanes.values():
            workers.append(_lane_worker(lane, attempts, farm, cancel))
    waiting = deque(workers)
    lock = threading.Lock()
    crashed: list[BaseException] = []

    def serve() -> None:
        while not cancel.is_set():
            with lock:
                if not waiting:
                    return
                work = waiting.popleft()
            try:
                work()
            except BaseException as exc:  # not a job's failure: the harness's; stop the run
                crashed.append(exc)
                cancel.set()

    threads = [threading.Thread(target=serve, daemon=True, name=f"worker-{i}")
               for i in range(min(max_workers or len(workers), len(workers)))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(JOIN_POLL_S)
    except BaseException:   # Ctrl-C: no new job starts; held places are released by our caller
        cancel.set()
        raise
    if crashed:
        raise crashed[0]


def _lane_worker(lane: list[Job], attempts: Attempts, farm: FarmSettings | None,
                 cancel: threading.Event) -> Callable[[], None]:
    """One bench board's jobs in order, on the board or in its labgrid place."""
    board = lane[0].board

    def work() -> None:
        if board.place is None:
            for job in lane:
                if cancel.is_set():
                    return
                attempts.run(job)
            return
        assert farm is not None
        left = list(lane)
        try:
            with _held(farm, board.place, cancel) as place:
                while left and place is not None and not cancel.is_set():
                    attempts.run(left.pop(0), place)
        except FarmError as exc:
            for job in left:
                attempts.fail(job, str(exc))
    return work


@contextmanager
def _held(farm: FarmSettings, name: str, cancel: threading.Event,
          give_up: Callable[[], bool] = lambda: False) -> Iterator[PlaceAccess | None]:
    """Reserve and acquire place ``name``; release it however the block ends. None: the
    wait was given up (Ctrl-C, or nothing left to run on it)."""
    client = farm.client
    place = client.wait_and_acquire(name, farm.wait_s,
                                    give_up=lambda: cancel.is_set() or give_up())
    if place is None:
        yield None
        return
    try:
        yield PlaceAccess.of(client, place)
    finally:
        client.release(name)


def _farm_workers(jobs: list[Job], attempts: Attempts, farm: FarmSettings,
                  cancel: threading.Event) -> list[Callable[[], None]]:
    """A queue per board definition; a worker per place tagged with it."""
    queues: dict[str, list[Job]] = {}
    for job in jobs:
        queues.setdefault(attempts.bench.boards[job.board.id].id, []).append(job)
    places = farm.client.places()
    workers = []
    for definition, queued in queues.items():
        queue = JobQueue(queued)
        matching = [p.name for p in places.values() if p.tags.get("board") == definition]
        if not matching:
            known = ", ".join(f"{p.name} ({_tags(p.tags)})" for p in places.values()) or "none"
            for job in queued:
                attempts.fail(job, f"no place on coordinator {farm.client.address} is tagged "
                                   f"board={definition} (places: {known})")
            continue
        for name in matching:
            queue.join()
            workers.append(_place_worker(name, queue, attempts, farm, cancel))
    return workers


def _place_worker(name: str, queue: JobQueue, attempts: Attempts, farm: FarmSettings,
                  cancel: threading.Event) -> Callable[[], None]:
    def work() -> None:
        reason = None
        try:
            if queue.finished:
                return
            with _held(farm, name, cancel, give_up=lambda: queue.finished) as place:
                while place is not None and (job := queue.take(cancel)) is not None:
                    if not attempts.run(job, place, requeue=True):
                        queue.put_back(job)
                        reason = f"place {name!r} was lost mid-job"
                        return
                    queue.done()
        except FarmError as exc:
            reason = str(exc)
        finally:
            for job in queue.leave(reason):
                attempts.fail(job, "no place of its board definition is left to run it: "
                                   + "; ".join(queue.reasons))
    return work


def _tags(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "no tags"
