"""Serve a device on a pseudo-terminal, as a board serves its USB serial port.

The host opens the slave path with pyserial like any port. The pty behaves like a
board that resets when its port is opened: each time a host opens the slave,
the device boots and sends READY. Between openers (Linux reports EIO on the
master while no process has the slave open) the loop keeps serving.

Two things make it behave more like a board when asked: a ``LinePacer`` holds
both directions to the board's serial rate (a pty itself moves megabytes per
second), and a ``ResetLine`` reboots the device at once, whatever it is doing.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
import time
import tty
from collections.abc import Iterator
from typing import Protocol

log = logging.getLogger(__name__)

POLL_S = 0.02           # select timeout: how fast stop and a new opener are noticed
BOOT_DELAY_S = 0.02     # lets the opener finish configuring (and flushing) the port
WRITE_TIMEOUT_S = 2.0   # a host that stops reading loses replies instead of hanging us


class ByteDevice(Protocol):
    """What ``serve`` drives: harness.dut.device.ProtocolDevice, or any byte-level peer."""

    def boot(self) -> bytes: ...

    def feed(self, data: bytes) -> bytes: ...


class LinePacer:
    """One direction of a serial line at ``bytes_per_s``: a virtual clock of when it is free.

    ``due(n)`` books ``n`` bytes on the line and returns when the last of them has
    crossed it. An idle line earns no credit, so a burst never beats the rate.
    """

    def __init__(self, bytes_per_s: float) -> None:
        if bytes_per_s <= 0:
            raise ValueError(f"a line carries a positive rate, not {bytes_per_s} bytes/s")
        self.bytes_per_s = float(bytes_per_s)
        self._free_at = 0.0

    @property
    def chunk(self) -> int:
        """Bytes moved per step: one poll interval's worth, so stop and reset stay prompt."""
        return max(1, int(self.bytes_per_s * POLL_S))

    def due(self, n: int) -> float:
        self._free_at = max(self._free_at, time.monotonic()) + n / self.bytes_per_s
        return self._free_at


class ResetLine:
    """A board's reset input: ``request()`` reboots the device ``serve`` drives, mid-anything.

    A self-pipe, so a signal handler may pull it and a select (the serve loop, a
    runner spending modelled time) wakes at once.
    """

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)

    def fileno(self) -> int:
        return self._r

    def request(self) -> None:
        # a full pipe already holds requests: one more changes nothing
        with contextlib.suppress(BlockingIOError):
            os.write(self._w, b"\x00")

    def pending(self) -> bool:
        return bool(select.select([self._r], [], [], 0)[0])

    def take(self) -> bool:
        """Consume the pending requests; whether there were any."""
        taken = False
        while True:
            try:
                taken |= bool(os.read(self._r, 4096))
            except BlockingIOError:
                return taken

    def sleep(self, seconds: float) -> bool:
        """Spend ``seconds``; False if a reset was requested before they passed."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if select.select([self._r], [], [], left)[0]:
                return False
        return not self.pending()

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


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


@contextlib.contextmanager
def served(device: ByteDevice, reset: ResetLine | None = None) -> Iterator[str]:
    """Serve ``device`` on a fresh pty from a thread; yield the slave path to open.

    For tests and benchmarks that need a board on a real port without a process.
    """
    master_fd, slave_path = open_pty()
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(master_fd, device, stop),
                              kwargs={"reset": reset}, daemon=True)
    thread.start()
    try:
        yield slave_path
    finally:
        stop.set()
        thread.join(timeout=5)
        os.close(master_fd)
        if thread.is_alive():
            raise RuntimeError(f"the device served on {slave_path} did not stop")


def serve(master_fd: int, device: ByteDevice, stop: threading.Event | None = None,
          bytes_per_s: float | None = None, reset: ResetLine | None = None) -> None:
    """Serve ``device`` on the master side until ``stop`` is set.

    Without a ``stop`` event the loop ends when the host closes the slave after
    having opened it; with one, a closed slave only means "wait for the next
    opener". A closed master (EBADF) always ends it. ``bytes_per_s`` paces both
    directions (the device takes in, and sends, no more than that); ``reset``
    reboots the device: what it was doing and what it had received are lost,
    and it sends READY again.
    """
    rx = LinePacer(bytes_per_s) if bytes_per_s else None
    tx = LinePacer(bytes_per_s) if bytes_per_s else None
    line = _Line(master_fd, stop, reset, tx)
    watch = [master_fd] if reset is None else [master_fd, reset.fileno()]
    connected = False
    while stop is None or not stop.is_set():
        if reset is not None and reset.take():
            log.info("reset: the device reboots")
            line.discard_input()
            connected = False       # boots below as soon as a host has the port open
        try:
            readable = master_fd in select.select(watch, [], [], POLL_S)[0]
            data = os.read(master_fd, rx.chunk if rx else 65536) \
                if readable or not connected else b""
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
            line.write(device.boot())
        if data and (rx is None or line.wait_until(rx.due(len(data)))):
            replies = device.feed(data)
            if reset is None or not reset.pending():    # a reset mid-command sends nothing
                line.write(replies)


class _Line:
    """The master side's writes and waits: paced, bounded, cut short by stop and reset."""

    def __init__(self, master_fd: int, stop: threading.Event | None, reset: ResetLine | None,
                 pacer: LinePacer | None) -> None:
        self._fd = master_fd
        self._stop = stop
        self._reset = reset
        self._pacer = pacer

    def _interrupted(self) -> bool:
        return (self._stop is not None and self._stop.is_set()) or \
            (self._reset is not None and self._reset.pending())

    def wait_until(self, deadline: float) -> bool:
        """Sleep to ``deadline``; False if stopped or reset first."""
        while (left := deadline - time.monotonic()) > 0:
            if self._reset is not None:
                if self._reset.sleep(min(left, POLL_S)) is False:
                    return False
            else:
                time.sleep(min(left, POLL_S))
            if self._interrupted():
                return False
        return not self._interrupted()

    def discard_input(self) -> None:
        """Forget what the host sent and the device has not read (a reboot clears its FIFO)."""
        while True:
            try:
                if not os.read(self._fd, 65536):
                    return
            except OSError:         # BlockingIOError: drained; EIO: no host
                return

    def write(self, data: bytes) -> None:
        step = self._pacer.chunk if self._pacer else len(data)
        for start in range(0, len(data), step or 1):
            piece = data[start:start + step]
            if self._pacer is not None and not self.wait_until(self._pacer.due(len(piece))):
                return
            if not self._write_all(piece):
                return

    def _write_all(self, data: bytes) -> bool:
        deadline = time.monotonic() + WRITE_TIMEOUT_S
        view = memoryview(data)
        while view and not self._interrupted():
            try:
                view = view[os.write(self._fd, view):]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    log.warning("host is not reading; dropped %d reply bytes", len(view))
                    return False
                select.select([], [self._fd], [], POLL_S)
            except OSError as exc:      # EIO: the host went away mid-reply
                log.info("dropped %d reply bytes: %s", len(view), exc)
                return False
        return not view
