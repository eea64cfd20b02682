"""Console output of native code (TFLM, TensorFlow's C++ runtime and converter) kept off
the user's terminal, but not lost.

Native libraries write to file descriptors 1 and 2 directly, past ``sys.stdout``: the
only way to catch it is to point the descriptors at a file while they run.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)
_fd_lock = threading.Lock()  # file descriptors 1 and 2 are process-wide


class CapturedNativeOutput:
    """Points fds 1 and 2 (also a forked child's) at a temporary file."""

    def __enter__(self) -> CapturedNativeOutput:
        _fd_lock.acquire()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            self._file = tempfile.TemporaryFile()
            self._saved = [os.dup(1), os.dup(2)]
        except BaseException:
            _fd_lock.release()
            raise
        os.dup2(self._file.fileno(), 1)
        os.dup2(self._file.fileno(), 2)
        return self

    def text(self) -> str:
        self._file.seek(0)  # reads to the end, so later writes still append
        return self._file.read().decode("utf-8", "replace").strip()

    def __exit__(self, *exc: object) -> None:
        for fd, copy in zip((1, 2), self._saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        self._file.close()
        _fd_lock.release()


@contextmanager
def quiet_native(what: str) -> Iterator[None]:
    """Run a block with its native chatter logged: at debug level, at warning if it fails."""
    captured = CapturedNativeOutput()
    ok = False
    with captured:
        try:
            yield
            ok = True
        finally:
            text = captured.text()
    if text:
        log.log(logging.DEBUG if ok else logging.WARNING, "%s printed:\n%s", what, text)
