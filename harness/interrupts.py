"""Ctrl-C and SIGTERM stop the harness the same way.

CI systems cancel or time out a job with SIGTERM (SIGKILL after a grace period);
a person presses Ctrl-C. Both must stop a run at the same safe points: no new job
starts, every labgrid place the run holds is released, every committed job stays
in results.csv, and the run folder can be resumed. The code that does so already
runs on Ctrl-C's ``KeyboardInterrupt`` (``finally`` blocks, ``except BaseException``),
so SIGTERM is turned into the same exception: `Interrupted`, a ``KeyboardInterrupt``
that remembers its signal, so the CLI exits 128 + the signal's number.

Python runs signal handlers in the main thread only; the harness's main thread
only waits for its workers (harness/run_workers.py), so the exception lands
there, never in a worker in the middle of a write. `shielded` holds both signals
back while the main thread releases places, so a signal arriving during the
release cannot cut it short (SIGKILL still can: nothing catches it).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM, raised in the main thread."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def signal_of(exc: KeyboardInterrupt) -> int:
    """The signal that stopped us: a plain KeyboardInterrupt is Ctrl-C's."""
    return exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)


_shield_depth = 0
_held_back: int | None = None    # a signal that arrived while shielded


def _raise(signum: int, _frame: FrameType | None) -> None:
    global _held_back
    if _shield_depth:
        _held_back = _held_back or signum
        return
    raise Interrupted(signum)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise `Interrupted` in the main thread; the
    previous handlers come back after it (a no-op off the main thread, where Python
    cannot install handlers)."""
    if not _on_main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def shielded() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back for the block (on the main thread); one that came
    meanwhile is raised after it."""
    global _shield_depth, _held_back
    if not _on_main_thread():
        yield
        return
    _shield_depth += 1
    try:
        yield
    finally:
        _shield_depth -= 1
        held, _held_back = (_held_back, None) if not _shield_depth else (None, _held_back)
        if held is not None:
            raise Interrupted(held)
