"""Which harness process on this host holds a labgrid place: a lease file per place.

labgrid's coordinator records a place as acquired by "host/user" and keeps it so
until someone releases it. It cannot tell a harness run that still works on the
place from one that was SIGKILLed (or whose machine went down) before it could
release it: both are this host and user. So while a harness process holds a place
it holds an exclusive flock(2) on the place's lease file in its state folder
(`harness.paths.default_state_dir`), which names the run, the process and the
reservation. The kernel drops the lock when the process ends, however it ends; a
proper release also empties the file. A lease file that names a holder but that
nobody has locked was therefore left by a harness process that is gone.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LOCK_WAIT_S = 10.0      # a live holder drops its lease right after releasing the place


@dataclass(frozen=True)
class LeaseRecord:
    """Who holds (or held) a place, as written when it was acquired."""

    place: str
    coordinator: str
    holder: str             # host/user, as the coordinator names the holder
    run: str                # the harness run id ("" when not a run's)
    pid: int
    since: str              # UTC, ISO 8601
    token: str | None       # its labgrid reservation


def lease_path(folder: Path, coordinator: str, place: str) -> Path:
    def safe(name: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]", "_", name)

    return folder / "places" / safe(coordinator) / f"{safe(place)}.lease"


class Lease:
    """A held lease: locked until `release`, or until this process ends."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """The place went back: empty the record, drop the lock."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)    # closing the last descriptor drops the flock

    def abandon(self) -> None:
        """The place could not be released: drop the lock, keep the record, so the next
        run finds the place left behind."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def take(path: Path, record: LeaseRecord, wait_s: float = LOCK_WAIT_S) -> Lease | None:
    """Lock ``path`` and write ``record`` in it (durably); None when another live process
    keeps it locked for ``wait_s``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # close-on-exec: no program we start may keep the lock alive after us
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.1)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(record)).encode(), 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    return Lease(path, fd)


def read(path: Path) -> tuple[bool, LeaseRecord | None]:
    """(whether a live process holds the lease, the record in it); a missing, empty or
    torn file has no record (a torn one was never followed by an acquire)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False, None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            alive = False
        except BlockingIOError:
            alive = True
        text = os.pread(fd, 1 << 16, 0)
    finally:
        os.close(fd)
    try:
        return alive, LeaseRecord(**json.loads(text)) if text.strip() else None
    except (ValueError, TypeError):
        return alive, None


def clear(path: Path) -> None:
    """Empty a lease nobody holds (its place was taken back); leave a held one alone."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
