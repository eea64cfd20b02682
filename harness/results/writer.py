"""One writer for a run whose jobs run at once: every change to its files goes through it.

`RunStore`'s invariant (a job's rows appended and fsynced, then its outcome line
recording how long results.csv is with them) holds only if no other write lands
between the two. Workers on several boards therefore never touch the files: a
`WriterStore` hands each write to the one `StoreWriter` thread, in the order they
arrive, and waits until it is on disk, so a worker learns of a failed write as
before. `AttemptStore` is one job attempt's view: it holds back a ``partial``
append until the worker knows whether the attempt counts (a farm place lost
mid-job is run again elsewhere, and its partial rows would be twins).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from harness.results.rows import ResultRow
from harness.results.store import RunStore

T = TypeVar("T")
_STOP = None


class StoreWriter:
    """The thread that owns a run directory's files while workers run jobs."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._queue: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="results-writer", daemon=True)
        self._thread.start()

    def call(self, write: Callable[[], T]) -> T:
        """Run ``write`` on the writer thread after every write queued before it; its result."""
        done: Future[T] = Future()
        self._queue.put((write, done))
        return done.result()

    def close(self) -> None:
        """Write what is queued, then end the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def _serve(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            write, done = item
            try:
                done.set_result(write())
            except BaseException as exc:  # handed to the worker that asked for the write
                done.set_exception(exc)


class WriterStore(RunStore):
    """A RunStore whose writes go through the run's one writer; reads and paths are direct."""

    def __init__(self, writer: StoreWriter) -> None:
        super().__init__(writer.store.run_dir)
        self._writer = writer

    def append_job(self, job_key: str, rows: list[ResultRow], status: str = "done",
                   message: str = "", where: str | None = None) -> None:
        self._writer.call(lambda: self._writer.store.append_job(job_key, rows, status, message,
                                                                where))

    def drop_job_rows(self, job_key: str) -> int:
        return self._writer.call(lambda: self._writer.store.drop_job_rows(job_key))

    def record_outcome(self, job_key: str, status: str, message: str = "",
                       csv_bytes: int | None = None, where: str | None = None) -> None:
        self._writer.call(lambda: self._writer.store.record_outcome(
            job_key, status, message, csv_bytes, where))

    def record_retry(self, job_key: str, message: str, where: str | None = None) -> None:
        """The job runs again: its outcome line keeps results.csv's committed length."""
        store = self._writer.store
        self._writer.call(lambda: store.record_outcome(
            job_key, "retrying", message,
            csv_bytes=store.csv_path.stat().st_size if store.csv_path.exists() else 0,
            where=where))

    def create(self, metadata: dict) -> None:
        self._writer.call(lambda: self._writer.store.create(metadata))


class AttemptStore(WriterStore):
    """One attempt at a job: a ``partial`` append waits for `commit` (or `discard`);
    every outcome line says ``where`` it ran (a farm place) when given."""

    def __init__(self, writer: StoreWriter, where: str | None = None) -> None:
        super().__init__(writer)
        self.where = where
        self._held: tuple[str, list[ResultRow], str, str] | None = None

    def append_job(self, job_key: str, rows: list[ResultRow], status: str = "done",
                   message: str = "", where: str | None = None) -> None:
        if status == "partial":
            self._held = (job_key, rows, status, message)
            return
        super().append_job(job_key, rows, status, message, where or self.where)

    @property
    def holds_rows(self) -> bool:
        return self._held is not None

    def commit(self) -> None:
        """The attempt counts: its partial rows are written as the job's outcome."""
        if self._held is not None:
            super().append_job(*self._held, where=self.where)
            self._held = None

    def discard(self) -> None:
        """The attempt does not count (the job runs again): its rows are never written."""
        self._held = None
