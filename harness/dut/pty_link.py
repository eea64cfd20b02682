"""Serve a device on a pseudo-terminal, as a board serves its USB serial port.

The host opens the slave path with pyserial like any port. The pty behaves like a
board that resets when its port is opened: each time a host opens the slave,
the device boots and sends READY. Between openers (Linux reports EIO on the
master while no process has the slave open) the loop keeps serving.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import threading
import time
import tty
from typing import Protocol

log = logging.getLogger(__name__)

POLL_S = 0.02           # select timeout: how fast stop and a new opener are noticed
BOOT_DELAY_S = 0.02     # lets the opener finish configuring (and flushing) the port
WRITE_TIMEOUT_S = 2.0   # a host that stops reading loses replies instead of hanging us


class ByteDevice(Protocol):
    """What ``serve`` drives: harness.dut.device.ProtocolDevice, or any byte-level peer."""

    def boot(self) -> bytes: ...

    def feed(self, data: bytes) -> bytes: ...


def open_pty() -> tuple[int, str]:
    """A pty pair in raw mode (no echo, no CR/LF mapping); return (master fd, slave path).

    The slave is closed here: the host opens it by path. Raw mode stays with the
    pair, so 0x00 and 0x0a pass unchanged whoever opens it.
    """
    master_fd, slave_fd = os.openpty()
    try:
        tty.setraw(slave_fd)
        slave_path = os.ttyname(slave_fd)
    finally:
        os.close(slave_fd)
    os.set_blocking(master_fd, False)
    return master_fd, slave_path


def serve(master_fd: int, device: ByteDevice, stop: threading.Event | None = None) -> None:
    """Serve ``device`` on the master side until ``stop`` is set.

    Without a ``stop`` event the loop ends when the host closes the slave after
    having opened it; with one, a closed slave only means "wait for the next
    opener". A closed master (EBADF) always ends it.
    """
    connected = False
    while stop is None or not stop.is_set():
        try:
            readable, _, _ = select.select([master_fd], [], [], POLL_S)
            data = os.read(master_fd, 65536) if readable or not connected else b""
        except BlockingIOError:     # an opener, nothing sent yet
            data = b""
        except OSError as exc:
            if exc.errno != errno.EIO:
                log.info("pty master closed (%s); device stops serving", exc)
                return
            if connected:
                log.info("host closed the pty")
                connected = False
                if stop is None:
                    return
            time.sleep(POLL_S)      # select reports a slave-less master readable: don't spin
            continue
        if not connected:
            connected = True
            time.sleep(BOOT_DELAY_S)
            log.info("host opened the pty; device boots")
            _write_all(master_fd, device.boot(), stop)
        if data:
            _write_all(master_fd, device.feed(data), stop)


def _write_all(master_fd: int, data: bytes, stop: threading.Event | None) -> None:
    deadline = time.monotonic() + WRITE_TIMEOUT_S
    view = memoryview(data)
    while view and (stop is None or not stop.is_set()):
        try:
            view = view[os.write(master_fd, view):]
        except BlockingIOError:
            if time.monotonic() > deadline:
                log.warning("host is not reading; dropped %d reply bytes", len(view))
                return
            select.select([], [master_fd], [], POLL_S)
        except OSError as exc:      # EIO: the host went away mid-reply
            log.info("dropped %d reply bytes: %s", len(view), exc)
            return
