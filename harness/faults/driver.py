"""A board driver with the bench's faults between it and the host.

``wrap_with_faults`` puts a relay (``relay.py``) between an emulated board's
link and a new pty the host opens, and plugs that pty into the emulated USB bus
(``harness/boards/usb_ports.py``) under the board's VID:PID, so the host finds
it again after a re-enumeration exactly as it finds a real board.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol, cast

from harness.boards import usb_ports
from harness.boards.driver import BoardDriver, LinkHint, Source
from harness.config.board import BoardSpec
from harness.config.faults import FaultSpec
from harness.errors import BoardError, NoResetLine
from harness.faults.counts import FaultCounts
from harness.faults.relay import Relay, UsbIdentity

log = logging.getLogger(__name__)

#: pid.codes' test VID:PID, for a board whose definition names no USB id
EMULATED_VID_PID = "1209:0001"
#: what the relay injected, one JSON line per board start (in the run's work folder)
FAULT_LOG = "faults.jsonl"


class ControllableDriver(BoardDriver, Protocol):
    """An emulated board's driver: it can reboot and hang the board (sim, QEMU), and
    says whether the host could reset it (``resettable``; ``reset()`` raises
    `NoResetLine` if not)."""

    @property
    def resettable(self) -> bool: ...

    def reset(self) -> None: ...

    def reboot(self) -> None: ...

    def hang(self) -> None: ...

    def relink(self, timeout: float) -> str: ...


class FaultyDriver:
    """The inner driver's board as an unkind bench presents it to the host."""

    def __init__(self, inner: ControllableDriver, board: BoardSpec, spec: FaultSpec,
                 bench_board_id: str, workdir: Path) -> None:
        self.inner = inner
        self._board = board
        self._spec = spec
        self._workdir = workdir
        self.vid_pid = board.serial.usb_vid_pid or EMULATED_VID_PID
        self.serial_number = f"EMU-{bench_board_id}"
        self._bench_board_id = bench_board_id
        self._relay: Relay | None = None
        self._last = FaultCounts()

    @property
    def source(self) -> Source:
        return self.inner.source

    def start(self, model: Path) -> str:
        self.stop()
        inner_url = self.inner.start(model)
        vid, pid = usb_ports.parse_vid_pid(self.vid_pid)
        identity = UsbIdentity(vid, pid, self.serial_number,
                               f"{self._board.name} (emulated, faults injected)")
        stable = None
        if self._spec.reenumerate is not None and not self._spec.reenumerate.rename:
            self._workdir.mkdir(parents=True, exist_ok=True)
            stable = self._workdir / f"tty-{self._bench_board_id}"
        try:
            self._relay = Relay(inner_url, self.inner, self._spec, identity,
                                self._board.serial.baudrate, stable)
        except BaseException:
            self.inner.stop()
            raise
        log.info("board %s behind a fault relay: %s -> %s", self._bench_board_id, inner_url,
                 self._relay.device_path)
        return self._relay.device_path

    def stop(self) -> None:
        if self._relay is not None:
            self._last = self._relay.counts()
            self._relay.close()
            self._relay = None
            self._log_counts()
        self.inner.stop()

    def _log_counts(self) -> None:
        """One line per start..stop in the work folder, for soaks to compare with rows."""
        self._workdir.mkdir(parents=True, exist_ok=True)
        line = {"board": self._bench_board_id, **asdict(self._last)}
        with (self._workdir / FAULT_LOG).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    def firmware_size(self) -> tuple[int, int] | None:
        return self.inner.firmware_size()

    def reset(self) -> None:
        """Reset the board (a hang ends too); the port may vanish, then ``relink``. A board
        with no reset line the host drives (its inner driver is not ``resettable``) is not
        reset: `NoResetLine`."""
        if not self.inner.resettable:
            raise NoResetLine(f"board {self._bench_board_id}: no reset line the host can drive "
                              "(serial.reset_line: none); power-cycle it through a monitor "
                              "that sources it")
        self._running_relay().reset()

    def hang(self) -> None:
        """The board stops answering until ``reset()``."""
        self._running_relay().hang()

    def relink(self, timeout: float) -> str:
        """The port's name now, found on the USB bus by VID:PID and serial number."""
        self._running_relay()
        return usb_ports.find_port(self._board, LinkHint(serial_number=self.serial_number),
                                   timeout, vid_pid=self.vid_pid)

    @property
    def counts(self) -> FaultCounts:
        """Faults injected so far (after ``stop()``: those of the last start)."""
        return self._relay.counts() if self._relay is not None else self._last

    def _running_relay(self) -> Relay:
        if self._relay is None:
            raise BoardError(f"board {self._bench_board_id} is not running")
        return self._relay

    def __getattr__(self, name: str) -> Any:
        # what only some drivers have (the sim driver's virtual wire) passes through
        if name == "inner":     # not set yet: never recurse
            raise AttributeError(name)
        return getattr(self.inner, name)


def wrap_with_faults(driver: BoardDriver, board: BoardSpec, spec: FaultSpec | None,
                     bench_board_id: str, workdir: Path) -> BoardDriver:
    """``driver`` behind the bench's faults, or ``driver`` itself when none apply to it."""
    if spec is None or not spec.afflicts(bench_board_id):
        return driver
    if not all(callable(getattr(driver, name, None))
               for name in ("reset", "reboot", "hang", "relink")) \
            or driver.source == "measured":
        if spec.boards is None:     # "all boards" means every board faults can be put on
            log.warning("faults: board %s is real hardware; no faults are injected on it",
                        bench_board_id)
            return driver
        raise BoardError(f"faults.boards names {bench_board_id!r}, a {driver.source} board; "
                         "faults are injected on simulated and QEMU boards only")
    return FaultyDriver(cast(ControllableDriver, driver), board, spec, bench_board_id, workdir)
