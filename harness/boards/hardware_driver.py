"""Driver for real boards (kind ``hardware``): build with PlatformIO, flash, find the port.

The port is the bench's (LinkHint.port) when it names one; otherwise the one
USB device with the board's VID:PID (and serial number, when the bench gives
one), as pyserial lists them. Boards re-enumerate when they are flashed (the
Nano's bootloader has its own PID), so the port is looked up again afterwards.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import serial

from harness.boards.driver import LinkHint, Source, register_driver
from harness.boards.usb_ports import find_port
from harness.config.board import BoardSpec
from harness.errors import BoardError, NoResetLine
from harness.firmware.elf_size import elf_sizes
from harness.firmware.pio_project import PioBuild, build_firmware
from harness.firmware.platformio import upload

log = logging.getLogger(__name__)

REAPPEAR_TIMEOUT_S = 15.0  # USB re-enumeration after a flash takes a few seconds
RESET_PULSE_S = 0.1


class HardwareDriver:
    source: Source = "measured"

    def __init__(self, board: BoardSpec, workdir: Path, link: LinkHint) -> None:
        if board.build.system != "platformio":
            raise BoardError(f"board {board.id}: the hardware driver builds with platformio, "
                             f"the board file says {board.build.system}")
        self._board = board
        self._workdir = workdir
        self._link = link
        self.firmware: PioBuild | None = None

    def start(self, model: Path) -> str:
        self.firmware = build_firmware(self._board.build.env, model)
        port = find_port(self._board, self._link)
        log.info("flashing %s on %s with %s", self._board.id, port, self.firmware.project)
        upload(self.firmware.project, self.firmware.env, port)
        return find_port(self._board, self._link, timeout=REAPPEAR_TIMEOUT_S)

    def stop(self) -> None:
        """Nothing to release: the session owns the port, the board keeps running."""

    def reset(self) -> None:
        """Pulse EN through RTS, as esptool does, on boards whose bridge wires it."""
        if self._board.serial.reset_line == "none":
            raise NoResetLine(f"board {self._board.id}: no reset line the host can drive "
                              "(serial.reset_line: none); power-cycle it (a monitor that "
                              "sources it can) or press RESET")
        port = find_port(self._board, self._link, timeout=REAPPEAR_TIMEOUT_S)
        with serial.Serial() as line:    # not opened yet: set the lines before they toggle
            line.port, line.dtr, line.rts = port, False, True   # EN low, IO0 high: in reset
            line.open()
            time.sleep(RESET_PULSE_S)
            line.rts = False                                    # EN high: boots the firmware

    def relink(self, timeout: float) -> str:
        return find_port(self._board, self._link, timeout=timeout)

    def firmware_size(self) -> tuple[int, int] | None:
        if self.firmware is None:
            return None
        sizes = elf_sizes(self.firmware.elf)
        return sizes.flash_bytes, sizes.ram_bytes


@register_driver("hardware")
def _create(board: BoardSpec, workdir: Path, link: LinkHint) -> HardwareDriver:
    return HardwareDriver(board, workdir, link)
