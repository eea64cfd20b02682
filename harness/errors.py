"""One exception hierarchy for the harness, and the exit codes the CLI turns them into."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``harness`` exits with (README.md, "Exit codes")."""

    OK = 0
    ERROR = 1          # the harness stopped: a board, model, measurement or other error
    CONFIG = 2         # a bad command line, bench or board file (and `check` errors)
    JOB_FAILED = 3     # the run finished, but at least one job failed
    REGRESSION = 4     # a figure regressed against the baseline (run --baseline, compare)
    INTERRUPTED = 130  # stopped by Ctrl-C (128 + SIGINT): places released, resumable
    TERMINATED = 143   # stopped by SIGTERM (128 + SIGTERM), as by Ctrl-C


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class ConfigError(HarnessError):
    """A bench or board file is wrong: carries the file and the field."""

    def __init__(self, path: str, field: str, message: str) -> None:
        self.path = path
        self.field = field
        self.message = message
        where = f"{path}:{field}" if field else path
        super().__init__(f"{where}: {message}")


class ProtocolError(HarnessError):
    """The DUT link broke the protocol (bad frame, timeout, unexpected reply)."""


class ReplyTimeout(ProtocolError):
    """No reply came before the deadline."""


class BoardSilent(ReplyTimeout):
    """Not even a resync PING was answered: the board hangs (or is gone)."""


class BoardRebooted(ProtocolError):
    """The board sent READY in the middle of a command: it reset and lost its state."""


class LinkLost(ProtocolError):
    """The port itself failed (unplugged, re-enumerating, closed by the other side)."""


class DeviceError(ProtocolError):
    """The DUT answered with an ERROR frame."""

    def __init__(self, code: int, name: str, cmd_type: int, message: str) -> None:
        self.code = code
        self.name = name
        self.cmd_type = cmd_type
        self.message = message
        super().__init__(f"device error {name} ({code}) for command 0x{cmd_type:02x}: {message}")


class ModelError(HarnessError):
    """A model file cannot be read, converted or run."""


class BoardError(HarnessError):
    """A board cannot be built for, flashed, launched or reached."""


class NoResetLine(BoardError):
    """The host has no line to reset this board with (board file ``serial.reset_line:
    none``): only a power-cycle through a monitor that sources it, or a hand on RESET,
    brings it back from a hang."""


class MeasurementError(HarnessError):
    """A measurement produced no trustworthy figure (no marker windows, dropped samples)."""


class MonitorDisconnected(MeasurementError):
    """The power monitor went away during an acquisition (unplugged, port, server or
    device lost): its trace is missing or partial. Reconnecting (configure()) and
    measuring again may succeed."""


class MonitorCannotSource(MeasurementError):
    """The power monitor only measures: it cannot switch the board's supply, which
    then comes from elsewhere."""
