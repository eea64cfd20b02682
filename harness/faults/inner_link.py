"""The relay's end of the board's own link, as a non-blocking file descriptor.

The relay needs ``select``, which pyserial's URL handlers do not give, so it opens
the two kinds of link an emulated board has itself: a pty path (the simulated
board) and ``socket://host:port`` (QEMU's UART).
"""

from __future__ import annotations

import os
import socket
import tty
from urllib.parse import urlsplit

from harness.errors import BoardError


class InnerLink:
    def __init__(self, url: str) -> None:
        self.url = url
        self._sock: socket.socket | None = None
        try:
            if url.startswith("socket://"):
                parts = urlsplit(url)
                if parts.hostname is None or parts.port is None:
                    raise ValueError("expected socket://host:port")
                self._sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
                self._sock.setblocking(False)
                self._fd = self._sock.fileno()
            elif url.startswith("/"):
                self._fd = os.open(url, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
                tty.setraw(self._fd)
            else:
                raise ValueError("the fault relay takes a device path or socket://host:port")
        except (OSError, ValueError) as exc:
            raise BoardError(f"fault relay cannot open the board's link {url!r}: {exc}") from exc

    def fileno(self) -> int:
        return self._fd

    def read(self) -> bytes | None:
        """What has arrived (b"" if nothing yet); None once the board's end is gone."""
        try:
            data = self._sock.recv(65536) if self._sock else os.read(self._fd, 65536)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:         # EIO: the simulated board's pty master closed
            return None
        return data or None     # b"" from a socket: QEMU closed it

    def write(self, data: bytes) -> int | None:
        """Bytes taken (0 when the board's side is full); None once it is gone."""
        try:
            return self._sock.send(data) if self._sock else os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            return None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        else:
            os.close(self._fd)
