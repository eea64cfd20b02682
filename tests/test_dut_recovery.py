"""A session survives a board that resets, hangs or vanishes mid-run (real ptys).

The device is the Python reference device on a pseudo-terminal; what it does wrong
is what boards do wrong: it reboots (READY) instead of answering, answers nothing
until reset, or its port disappears and comes back under another name.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from harness.dut.device import ChecksumRunner, ProtocolDevice, RunnerResult
from harness.dut.pty_link import open_pty, serve
from harness.dut.recovery import Recovery
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.errors import BoardError, BoardSilent
from harness.tensors import TensorSpec

SPEC = TensorSpec("uint8", (3000,))
DATA = bytes(i % 251 for i in range(3000))


@dataclass
class Misbehaving:
    """A runner that, on chosen calls, resets the board or hangs it."""

    resets_on: set[int] = field(default_factory=set)
    hangs_on: set[int] = field(default_factory=set)
    calls: int = 0
    action: str | None = None       # what the board does instead of replying

    def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult:
        self.calls += 1
        self.action = "reset" if self.calls in self.resets_on else \
            "hang" if self.calls in self.hangs_on else None
        return ChecksumRunner().infer(input_data, warmups, runs)


class Board:
    """ProtocolDevice + Misbehaving runner, served on a pty that can be replaced."""

    def __init__(self, runner: Misbehaving) -> None:
        self.runner = runner
        self.device = ProtocolDevice(runner, board_id="flaky", clock_hz=1_000_000,
                                     counter="model", arena_used=1,
                                     model_hash=hashlib.sha256(b"m").digest(), inputs=[SPEC],
                                     outputs=[ChecksumRunner.OUTPUT_SPEC])
        self.hung = False
        self.resets = 0
        self._served: list[tuple[int, threading.Event, threading.Thread]] = []
        self.path = self._serve()

    def boot(self) -> bytes:
        return self.device.boot()

    def feed(self, data: bytes) -> bytes:
        if self.hung:
            return b""
        out = self.device.feed(data)
        if self.runner.action == "reset":
            self.runner.action = None
            return self.device.boot()       # the reply is lost: the board rebooted
        if self.runner.action == "hang":
            self.runner.action = None
            self.hung = True
            return b""
        return out

    def hard_reset(self) -> None:
        """What a driver's reset does: the board reboots and says READY."""
        self.resets += 1
        self.hung = False
        os.write(self._served[-1][0], self.device.boot())

    def replug(self) -> str:
        """The port vanishes and the board comes back on a new pty."""
        master, stop, thread = self._served[-1]
        stop.set()
        thread.join(timeout=5)
        os.close(master)
        self.path = self._serve()
        return self.path

    def _serve(self) -> str:
        master, path = open_pty()
        stop = threading.Event()
        thread = threading.Thread(target=serve, args=(master, self, stop), daemon=True)
        thread.start()
        self._served.append((master, stop, thread))
        return path

    def close(self) -> None:
        for _master, stop, thread in self._served:
            stop.set()
            thread.join(timeout=5)
            if thread.is_alive():
                raise AssertionError("pty server did not stop")
        os.close(self._served[-1][0])


@contextmanager
def session_with(board: Board, **recovery: object) -> Iterator[DutSession]:
    rec = Recovery(board="flaky", reset=board.hard_reset,
                   relink=lambda timeout: open_link(board.path), ready_timeout_s=1.0,
                   **recovery)  # type: ignore[arg-type]
    try:
        with DutSession(open_link(board.path), timeout=0.5, recovery=rec,
                        expected_s_per_inference=0.01) as session:
            assert session.wait_ready(2.0)
            yield session
    finally:
        board.close()


def test_a_reset_mid_infer_is_noticed_and_the_command_repeated_on_a_fresh_upload() -> None:
    board = Board(Misbehaving(resets_on={2}))
    with session_with(board) as session:
        session.upload(DATA)
        first = session.infer(0, 3)
        second = session.infer(0, 3)         # the board reboots instead of answering
    assert first.output == second.output == ChecksumRunner.checksum(DATA)
    assert session.stats.reboots == 1 and session.stats.hang_resets == 0
    assert board.runner.calls == 3           # the interrupted INFER ran again


def test_a_hung_board_is_reset_by_its_driver_and_the_run_completes() -> None:
    board = Board(Misbehaving(hangs_on={1}))
    with session_with(board) as session:
        result = session.run(DATA, runs=2)
    assert result.output == ChecksumRunner.checksum(DATA)
    assert board.resets == 1 and session.stats.hang_resets == 1


def test_a_board_that_keeps_hanging_fails_the_job_naming_board_command_and_wait() -> None:
    board = Board(Misbehaving(hangs_on={1, 2, 3, 4}))
    with session_with(board, attempts=2) as session:
        session.upload(DATA)
        with pytest.raises(BoardError, match=r"board flaky: INFER of 0 warm-ups \+ 1 runs failed "
                           r"after 2 recoveries \(no reply: reset by its driver; .*\); last: "
                           r"no reply to INFER .* within \d+\.\d s"):
            session.infer(0, 1)
    assert board.resets == 2


def test_a_lost_port_is_found_again_and_the_input_uploaded_again() -> None:
    board = Board(Misbehaving())
    with session_with(board) as session:
        session.upload(DATA)
        old = board.path
        board.replug()
        assert board.path != old
        result = session.infer(0, 1)
    assert result.output == ChecksumRunner.checksum(DATA)
    assert session.stats.relinks == 1 and session.url == board.path


def test_without_recovery_a_silent_board_raises_board_silent() -> None:
    board = Board(Misbehaving(hangs_on={1}))
    try:
        with DutSession(open_link(board.path), timeout=0.3) as session:
            session.upload(DATA)
            with pytest.raises(BoardSilent, match="no reply to INFER"):
                session.infer(0, 1, timeout=0.3)
    finally:
        board.close()
