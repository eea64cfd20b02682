"""What the serial-port instruments (PPK2, LPM01A) share: opening a port with an
error that names the instrument, finding ports by USB id, and a reader thread
that keeps the port drained while an acquisition runs (a USB CDC device whose
host stops reading stalls, and then drops samples)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import serial
from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from harness.errors import MeasurementError

log = logging.getLogger(__name__)

READ_POLL_S = 0.02


def open_port(instrument: str, resource: str | None, baudrate: int) -> serial.SerialBase:
    """Open ``resource`` (a device path or pyserial URL) for ``instrument``."""
    if not resource:
        raise MeasurementError(f"{instrument}: no serial port given (set the monitor's "
                               "resource; `harness monitors` lists connected instruments)")
    try:
        return serial.serial_for_url(resource, baudrate=baudrate, timeout=READ_POLL_S,
                                     write_timeout=2.0)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise MeasurementError(f"{instrument}: cannot open serial port {resource!r}: "
                               f"{exc}") from exc


def ports_with_usb_id(vid: int, pid: int) -> list[ListPortInfo]:
    return [p for p in list_ports.comports() if p.vid == vid and p.pid == pid]


def read_until(port: serial.SerialBase, done: Callable[[bytes], bool], timeout_s: float) -> bytes:
    """Bytes read until ``done(received)`` or the timeout; the caller judges what came."""
    received = bytearray()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        received += port.read(port.in_waiting or 1)
        if done(bytes(received)):
            break
    return bytes(received)


class PortDrain:
    """A thread that appends everything the port sends to ``data`` until stopped."""

    def __init__(self, port: serial.SerialBase, name: str) -> None:
        self._port = port
        self.data = bytearray()
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-drain", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                chunk = self._port.read(self._port.in_waiting or 1)
                if chunk:
                    self.data += chunk
        except (serial.SerialException, OSError) as exc:  # unplugged mid-acquisition
            self.error = exc

    def stop(self, quiet_s: float = 0.05, timeout_s: float = 2.0) -> bytes:
        """Wait until the port has been quiet for ``quiet_s``, then stop; all bytes read."""
        deadline = time.monotonic() + timeout_s
        seen = -1
        while time.monotonic() < deadline and len(self.data) != seen:
            seen = len(self.data)
            time.sleep(quiet_s)
        self._stop.set()
        self._thread.join()
        return bytes(self.data)
