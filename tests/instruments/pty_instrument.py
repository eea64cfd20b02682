"""Run an emulated serial instrument on the master side of a real pseudo-terminal.

The backend under test opens the slave path with pyserial exactly as it opens
/dev/ttyACM0. The emulator answers commands (``feed``) and streams what it
measures as time passes (``tick``), like a USB CDC instrument. An emulator that
sets ``vanished`` is unplugged: the master side closes, and the host's port
fails as a real one does when its USB device goes away.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from typing import Protocol

from harness.dut.pty_link import open_pty

POLL_S = 0.002


class StreamingDevice(Protocol):
    def feed(self, data: bytes) -> bytes:
        """Answer to bytes the host wrote."""
        ...

    def tick(self, now: float) -> bytes:
        """What the instrument sends by itself up to ``now`` (monotonic seconds)."""
        ...


class PtyInstrument:
    """A thread serving ``device`` on a fresh pty; ``path`` is the port to open."""

    def __init__(self, device: StreamingDevice) -> None:
        self.device = device
        self._master, self.path = open_pty()
        self._stop = threading.Event()
        self._pending = bytearray()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pty-instrument")

    def __enter__(self) -> PtyInstrument:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._master >= 0:
            self._drain()
            os.close(self._master)

    def _drain(self) -> None:
        """Hand the device what the host wrote just before closing (e.g. a release command)."""
        while True:
            try:
                if not select.select([self._master], [], [], 0)[0]:
                    return
                data = os.read(self._master, 65536)
            except OSError:  # EIO once the host's side is closed and read out
                return
            if not data:
                return
            self.device.feed(data)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self._master], [], [], POLL_S)
                if readable:
                    self._pending += self.device.feed(os.read(self._master, 65536))
            except BlockingIOError:
                pass
            except OSError as exc:  # EIO: no host has the slave open (yet, or any more)
                if exc.errno != errno.EIO:
                    return
                time.sleep(POLL_S)
                continue
            self._pending += self.device.tick(time.monotonic())
            if getattr(self.device, "vanished", False):  # unplugged: the port hangs up
                os.close(self._master)
                self._master = -1
                return
            self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                written = os.write(self._master, self._pending[:65536])
            except (BlockingIOError, OSError):
                return  # host not reading right now: keep it for the next round
            del self._pending[:written]
