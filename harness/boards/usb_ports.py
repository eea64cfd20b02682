"""The one place serial ports are enumerated: the OS's, plus an emulated USB bus.

``list_ports()`` is pyserial's ``comports()`` plus the ports the fault layer
registers on the emulated bus (``register``/``unregister``), each with a USB
VID:PID and serial number like a real device's. ``find_port`` therefore finds an
emulated board that re-enumerated under a new name exactly as it finds a real
one: by VID:PID, and serial number when the bench gives one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from serial.tools import list_ports as os_ports
from serial.tools.list_ports_common import ListPortInfo

from harness.errors import BoardError

if TYPE_CHECKING:
    from harness.boards.driver import LinkHint
    from harness.config.board import BoardSpec

POLL_S = 0.05   # how often find_port looks again while it waits

_bus: dict[str, ListPortInfo] = {}
_bus_lock = threading.Lock()


def register(device_path: str, vid: int, pid: int, serial_number: str,
             description: str = "emulated USB serial") -> None:
    """Plug an emulated USB serial device in at ``device_path``."""
    port = ListPortInfo(device_path, skip_link_detection=True)
    port.vid, port.pid, port.serial_number = vid, pid, serial_number
    port.description = description
    port.manufacturer = "harness (emulated)"
    port.hwid = port.usb_info()
    with _bus_lock:
        _bus[device_path] = port


def unregister(device_path: str) -> None:
    """Unplug it (no error if it is not there)."""
    with _bus_lock:
        _bus.pop(device_path, None)


def list_ports() -> list[ListPortInfo]:
    """Every serial port: the OS's, then the emulated bus's."""
    with _bus_lock:
        emulated = list(_bus.values())
    return list(os_ports.comports()) + emulated


def parse_vid_pid(vid_pid: str) -> tuple[int, int]:
    """``"2341:805a"`` → (0x2341, 0x805a)."""
    vid, pid = (int(part, 16) for part in vid_pid.split(":"))
    return vid, pid


def matching_ports(ports: Sequence[ListPortInfo], vid_pid: str,
                   serial_number: str | None = None) -> list[ListPortInfo]:
    """The ports whose USB VID:PID (hex, ``"2341:805a"``) and serial number match."""
    vid, pid = parse_vid_pid(vid_pid)
    return [p for p in ports if p.vid == vid and p.pid == pid
            and (serial_number is None or p.serial_number == serial_number)]


def find_port(board: BoardSpec, link: LinkHint, timeout: float = 0.0,
              vid_pid: str | None = None) -> str:
    """The board's serial port: the bench's, or the one USB device that matches.

    ``vid_pid`` overrides the board file's (an emulated board without one is
    plugged in under a fixed emulated id). Waits up to ``timeout`` for it to appear.
    """
    if link.port != "auto":
        return link.port
    vid_pid = vid_pid or board.serial.usb_vid_pid
    if vid_pid is None:
        raise BoardError(f"board {board.id}: no usb_vid_pid in its board file to find its "
                         "port by; give the port in the bench file")
    deadline = time.monotonic() + timeout
    while True:
        ports = list_ports()
        found = matching_ports(ports, vid_pid, link.serial_number)
        if len(found) == 1:
            return str(found[0].device)
        if len(found) > 1:
            listed = ", ".join(f"{p.device} (serial {p.serial_number})" for p in found)
            raise BoardError(f"board {board.id}: several ports match USB {vid_pid}: {listed}; "
                             "set serial_number (or the port) in the bench file")
        if time.monotonic() >= deadline:
            seen = ", ".join(f"{p.device} ({p.vid or 0:04x}:{p.pid or 0:04x})"
                             for p in ports if p.vid is not None) or "no USB serial ports"
            wanted = f"USB {vid_pid}" + (f" serial {link.serial_number}"
                                         if link.serial_number else "")
            raise BoardError(f"board {board.id}: no port with {wanted} (seen: {seen})")
        time.sleep(POLL_S)
