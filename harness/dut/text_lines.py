"""Lines of a text protocol over a byte link, up to deadlines.

MLPerf Tiny's DUTs end lines with CR LF; MLCommons' runner splits at LF and
drops CR and NUL. Bytes that are not printable ASCII (line noise, a binary
frame a dual-protocol firmware sent at boot, a wrong baud rate) are cut out of
the line and counted, and the line keeps what is left; the last raw bytes are
kept so that an error can quote what the board really sent.
"""

from __future__ import annotations

import time
from collections import deque

from harness.dut.transport import CountingLink

#: what an error message quotes of the board's recent output
TAIL_BYTES = 160


class LineReader:
    """Reads lines from a CountingLink; counts the bytes that were not text."""

    def __init__(self, link: CountingLink) -> None:
        self.link = link
        self._partial = bytearray()
        self._lines: deque[str] = deque()
        self._tail = bytearray()
        self.garbage_bytes = 0

    def reset(self) -> None:
        """Forget a partial line and lines not yet read (before a resync)."""
        self._partial.clear()
        self._lines.clear()

    def next_line(self, deadline: float) -> str | None:
        """The next complete line (without its end), or None at the deadline."""
        while not self._lines:
            if time.monotonic() >= deadline:
                return None
            self._take(self.link.read_some())
        return self._lines.popleft()

    def tail(self) -> bytes:
        """The last bytes received, as they came (for error messages)."""
        return bytes(self._tail)

    def _take(self, data: bytes) -> None:
        if not data:
            return
        self._tail += data
        del self._tail[:-TAIL_BYTES]
        for byte in data:
            if byte == 0x0A:
                self._lines.append(self._partial.decode("ascii"))
                self._partial.clear()
            elif 0x20 <= byte <= 0x7E or byte == 0x09:
                self._partial.append(byte)
            elif byte not in (0x0D, 0x00):
                self.garbage_bytes += 1
