"""What a session may do to get a misbehaving board back, and how often.

A board that resets mid-run (READY mid-command) has lost its input; one that stops
answering is reset by its driver or, when the host has no reset line to it,
power-cycled through the monitor that sources it; one whose port vanished (USB
re-enumeration) is looked for again. The session then uploads its input again and repeats the
interrupted command. Every action is counted in the session's LinkStats, so rows
say how many recoveries their figures survived.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import serial

from harness.dut.transport import LinkStats
from harness.errors import (
    BoardError,
    HarnessError,
    LinkLost,
    MonitorDisconnected,
    NoResetLine,
    ProtocolError,
)

log = logging.getLogger(__name__)
R = TypeVar("R")

#: reopen the board's link after it was lost (finds it again by VID:PID and serial number)
Relink = Callable[[float], serial.SerialBase]


@dataclass(frozen=True)
class Recovery:
    board: str                              # named in every message
    reset: Callable[[], None] | None = None  # the driver's reset (NoResetLine: it has none)
    relink: Relink | None = None
    #: off, the board's settle time, on, through the job's monitor when it sources the board
    power_cycle: Callable[[], None] | None = None
    attempts: int = 5                       # recoveries per command before the job fails
    relink_timeout_s: float = 10.0          # re-enumeration takes 1-3 s on real USB
    ready_timeout_s: float = 5.0            # boot to READY after a reset (ROM text included)


#: how often a port that vanishes again while the board boots is looked for
RELINK_TRIES = 3
#: what a problem means for the board: its port went, it is silent, or it lost its state
Problem = Literal["lost link", "silent", "lost state"]


class RecoveringSession:
    """The recovery loop both sessions share (binary protocol and MLPerf text).

    A protocol says which of its errors mean what (``_problem``), how it waits for
    the boot after a reset and reconnects (``_await_boot``, ``_reopen``), how it
    checks the board found again is the same one (``_check_same_board``) and how
    it uploads (``_upload``); the loop, the counters and the messages are here.
    """

    recovery: Recovery | None
    stats: LinkStats
    _port: serial.SerialBase
    _input: bytes | None
    _input_boot: int    # stats.readies when the input was uploaded (-1: to upload again)

    @property
    def url(self) -> str:
        return str(self._port.port)

    @property
    def board_name(self) -> str:
        return self.recovery.board if self.recovery else self.url

    def _open_port(self) -> None:
        if not self._port.is_open:
            try:
                self._port.open()
            except (serial.SerialException, OSError) as exc:
                raise BoardError(f"cannot open DUT link {self._port.port}: {exc}") from exc

    def _problem(self, exc: Exception, needs_input: bool) -> Problem | None:
        """What ``exc`` means for the board, or None if recovering would not help."""
        raise NotImplementedError

    def _after_reboot(self, problem: Exception) -> None:
        """The board reset itself: anything the protocol must do before the retry."""

    def _await_boot(self) -> None:
        """After the driver reset the board: its boot (may raise LinkLost)."""
        raise NotImplementedError

    def _reopen(self, port: serial.SerialBase) -> None:
        """Drop the lost link, open ``port`` and wait for the boot (may raise LinkLost)."""
        raise NotImplementedError

    def _check_same_board(self) -> None:
        """Ask the board found again who it is; BoardError if not the one the run had."""
        raise NotImplementedError

    def _upload(self, data: bytes) -> object:
        raise NotImplementedError

    def _recovering(self, what: str, op: Callable[[], R], needs_input: bool = True) -> R:
        """Run ``op``; on a reset, hang or lost link, recover and run it again (bounded).

        Trouble during a recovery (the port vanishing again while the board is asked
        who it is) is one more problem to recover from, within the same budget.
        """
        failures: list[str] = []
        pending: tuple[ProtocolError, Problem] | None = None
        while True:
            try:
                if pending is not None:
                    failures.append(self._recover(what, *pending))
                    pending = None
                if needs_input:
                    self._restore_input()
                return op()
            except ProtocolError as exc:
                kind = self._problem(exc, needs_input)
                if kind is None:
                    raise
                if pending is not None:     # the recovery itself met trouble
                    failures.append(f"recovering: {exc}")
                attempts = self.recovery.attempts if self.recovery else 0
                if len(failures) >= attempts:
                    if not failures:
                        raise
                    raise BoardError(f"board {self.board_name}: {what} failed after "
                                     f"{len(failures)} recoveries ({'; '.join(failures)}); "
                                     f"last: {exc}") from exc
                pending = (exc, kind)

    def _recover(self, what: str, problem: Exception, kind: Problem) -> str:
        assert self.recovery is not None
        log.warning("board %s: %s: %s; recovering", self.board_name, what, problem)
        if kind == "lost link":
            self.stats.relinks += 1
            self._relink()
            return f"link lost, found again on {self.url}"
        if kind == "silent":
            how = self._bring_back(what, problem)
            try:
                self._await_boot()
            except LinkLost:    # a USB board re-enumerates after its reset
                self.stats.relinks += 1
                self._relink()
            self._input_boot = -1
            return f"no reply: {how}"
        self.stats.reboots += 1
        self._input_boot = -1
        self._after_reboot(problem)
        return f"the board reset itself ({problem})"

    def _bring_back(self, what: str, problem: Exception) -> str:
        """A hung board: its driver's reset if the host can reset it, else a power-cycle
        through the monitor that sources it; says which. The job fails if neither can."""
        assert self.recovery is not None
        stuck = f"board {self.board_name} stopped answering during {what} ({problem})"
        why = ""
        if self.recovery.reset is not None:
            try:
                self.recovery.reset()
            except NoResetLine as exc:
                why = f" ({exc})"
            except BoardError as exc:
                raise BoardError(f"{stuck}; resetting it failed: {exc}") from exc
            else:
                self.stats.hang_resets += 1
                return "reset by its driver"
        if self.recovery.power_cycle is None:
            raise BoardError(
                f"board {self.board_name} stopped answering during {what} and its driver "
                f"cannot reset it{why}: {problem}. No monitor that sources it is on in this "
                "job; to recover hangs unattended, supply the board from a monitor that can "
                f"switch its output (a bench monitors[] entry with powers: {self.board_name})"
                ) from problem
        try:
            self.recovery.power_cycle()
        except MonitorDisconnected as exc:  # an energy measurement reopens it and goes again
            raise MonitorDisconnected(f"{stuck}; power-cycling it failed: {exc}") from exc
        except HarnessError as exc:
            raise BoardError(f"{stuck}; power-cycling it through its monitor failed: "
                             f"{exc}") from exc
        self.stats.hang_resets += 1
        self.stats.power_cycles += 1
        return "power-cycled through its monitor"

    def _relink(self) -> None:
        """Find the board again by its driver, reopen, check it is the same board."""
        assert self.recovery is not None
        if self.recovery.relink is None:
            raise BoardError(f"board {self.board_name}: its link {self.url} was lost and its "
                             "driver cannot find it again")
        for attempt in range(1, RELINK_TRIES + 1):
            try:
                self._reopen(self.recovery.relink(self.recovery.relink_timeout_s))
                break
            except LinkLost as exc:     # it vanished again while booting
                if attempt == RELINK_TRIES:
                    raise BoardError(f"board {self.board_name}: its port kept vanishing "
                                     f"({RELINK_TRIES} times in a row): {exc}") from exc
                self.stats.relinks += 1
        self._check_same_board()
        self._input_boot = -1

    def _restore_input(self) -> None:
        if self._input is not None and self.stats.readies != self._input_boot:
            log.info("board %s reset since its input was uploaded; uploading it again",
                     self.board_name)
            self._upload(self._input)
            self._input_boot = self.stats.readies
