"""The fault relay: a new pty for the host, bytes to and from the board's own link.

One thread moves bytes between the host-facing pty and the board's link and does
to them what the bench's ``faults:`` asks:

* byte faults per direction (``byte_faults.py``);
* reset on open: when the host opens the port, the board resets and its ROM boot
  text (``boot_text.py``, paced at the board's baud rate) comes before its READY;
* a reset or a hang with a set probability per host command burst (a write that
  starts with 0x00 after the board has answered, or after the host was quiet),
  a uniform random delay within the reply latency seen so far after it starts,
  so it lands mid-command;
* re-enumeration: after every reset but a reset on open (a bridge board's DTR
  reset leaves its USB chip alone), the port vanishes and comes back U(min_s,
  max_s) later, under a new name when ``rename``, on the emulated USB bus.

A board that is booting is deaf: what the host sends between a reset and the
board's first byte after it is lost, as on a real board. A power-cycle through a
simulated monitor reaches the board past the relay (its supply file); a hung
board that talks again afterwards has been brought back, and faults resume. While the host has the
port closed, the board's bytes wait (up to 64 KiB) and reach the host when it
opens the port; a USB CDC board's firmware likewise sends once the host is there.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from harness.boards import usb_ports
from harness.config.faults import FaultSpec
from harness.dut.pty_link import LinePacer, open_pty
from harness.errors import BoardError, HarnessError
from harness.faults.boot_text import ResetCause, esp32_boot_text
from harness.faults.byte_faults import ByteFaults
from harness.faults.counts import FaultCounts
from harness.faults.inner_link import InnerLink

log = logging.getLogger(__name__)

POLL_S = 0.02               # the longest the relay sleeps: host opens and timers are this prompt
HOST_SETTLE_S = 0.02        # pyserial flushes its input while opening: hold bytes this long
BOOT_DEAF_MAX_S = 2.0       # a board that says nothing after a reset is listening after this
MAX_BUFFER = 64 * 1024      # bytes held per direction before the relay stops reading that side
DEFAULT_LATENCY_S = 0.05    # reply latency assumed before any has been seen
LATENCY_WEIGHT = 0.2        # of each new latency in the running mean
BURST_GAP_S = 0.05          # host silence after which a write starting with 0x00 is a new burst
CALL_TIMEOUT_S = 15.0       # a reset through QMP, plus the relay's own step
HUNG_QUIET_S = 0.2          # bytes a hung board sent before it hung arrive within this


class BoardControl(Protocol):
    """What the relay does to the board itself: the inner driver's reboot and hang."""

    def reboot(self) -> None: ...

    def hang(self) -> None: ...


@dataclass(frozen=True)
class UsbIdentity:
    """How the host-facing port shows on the emulated USB bus."""

    vid: int
    pid: int
    serial_number: str
    description: str


class Relay:
    """Started by the constructor; ``close()`` stops the thread and releases every fd.

    Only the relay thread touches the fds and the state; other threads ask it
    (``reset``, ``hang``) and wait, so a port never vanishes under a select.
    """

    def __init__(self, inner_url: str, control: BoardControl, spec: FaultSpec,
                 identity: UsbIdentity, baudrate: int, stable_path: Path | None = None) -> None:
        self._spec = spec
        self._control = control
        self._identity = identity
        self._stable_path = stable_path     # a fixed name for the port (no rename)
        self._to_board = ByteFaults(spec.link, spec.seed, "to-board")
        self._from_board = ByteFaults(spec.link, spec.seed, "from-board")
        self._draws = np.random.default_rng([spec.seed, 2])
        self._boot_pacer = LinePacer(baudrate / 10.0)
        self._counts: dict[str, int] = dict.fromkeys(
            ("bursts", "resets", "hangs", "host_resets", "reenumerations", "boot_texts",
             "lost_while_booting"), 0)
        self._lock = threading.Lock()      # the counters and the request queue
        self._requests: deque[tuple[Callable[[], None], threading.Event, list[Exception]]] = \
            deque()
        self._stop = threading.Event()
        inner = InnerLink(inner_url)        # first: nothing to release if it fails
        self._inner: InnerLink | None = inner
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._host_fd: int | None = None
        self._pts_path = ""
        self._host_open = False
        self._host_quiet_since = 0.0
        self._to_host: deque[tuple[bytes, bool]] = deque()  # (bytes, paced like boot text)
        self._host_hold_until = 0.0
        self._to_inner = bytearray()
        self._held = bytearray()            # the board's bytes while the host port is closed
        self._deaf_until: float | None = None
        self._burst_at: float | None = None  # a burst awaiting its first reply byte
        self._latency = DEFAULT_LATENCY_S
        self._action: tuple[float, str] | None = None
        self._reappear_at: float | None = None
        self._hung = False
        self._hung_at = 0.0
        self._thread = threading.Thread(target=self._run, name="fault-relay", daemon=True)
        try:
            self._plug_in()
            self._thread.start()
        except BaseException:
            self._unplug()
            inner.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
            raise

    # --- the caller's side (any thread) ---------------------------------------

    @property
    def device_path(self) -> str:
        """The host-facing port's name (what the emulated bus lists)."""
        return str(self._stable_path) if self._stable_path else self._pts_path

    @property
    def present(self) -> bool:
        return self._host_fd is not None

    def counts(self) -> FaultCounts:
        with self._lock:
            return FaultCounts(
                bytes_to_board=self._to_board.bytes, bytes_from_board=self._from_board.bytes,
                dropped_to_board=self._to_board.dropped,
                dropped_from_board=self._from_board.dropped,
                duplicated_to_board=self._to_board.duplicated,
                duplicated_from_board=self._from_board.duplicated,
                corrupted_to_board=self._to_board.corrupted,
                corrupted_from_board=self._from_board.corrupted, **self._counts)

    def reset(self) -> None:
        """The host resets the board (a hang ends too); when this returns, a port that
        re-enumerates has vanished."""
        def host_reset() -> None:
            self._counts["host_resets"] += 1
            self._reset_board("power-on", reenumerate=True)
        self._call(host_reset)

    def hang(self) -> None:
        self._call(self._hang_board)

    def close(self) -> None:
        self._stop.set()
        self._wake()
        self._thread.join(timeout=CALL_TIMEOUT_S)
        self._unplug()
        if self._inner is not None:
            self._inner.close()
            self._inner = None
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _call(self, action: Callable[[], None]) -> None:
        done = threading.Event()
        failed: list[Exception] = []
        with self._lock:
            self._requests.append((action, done, failed))
        self._wake()
        if not done.wait(CALL_TIMEOUT_S):
            raise BoardError(f"fault relay for {self.device_path} did not answer within "
                             f"{CALL_TIMEOUT_S:.0f} s")
        if failed:
            raise failed[0]

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\x00")

    # --- the relay thread -------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            reads, writes = self._interest(now)
            ready_r = select.select(reads, writes, [], self._timeout(now))[0]
            if self._wake_r in ready_r:
                self._drain_wake()
            with self._lock:
                requests = list(self._requests)
                self._requests.clear()
                for action, done, failed in requests:
                    try:
                        action()
                    except Exception as exc:    # the caller's error, raised in its thread
                        failed.append(exc)
                    done.set()
                try:
                    self._step(ready_r)
                except HarnessError as exc:     # e.g. the board process died under a reset
                    log.error("fault relay for %s: %s", self.device_path, exc)

    def _interest(self, now: float) -> tuple[list[int], list[int]]:
        reads, writes = [self._wake_r], []
        if self._inner is not None:
            if sum(len(d) for d, _ in self._to_host) + len(self._held) < MAX_BUFFER:
                reads.append(self._inner.fileno())
            if self._to_inner:
                writes.append(self._inner.fileno())
        if self._host_fd is not None and self._host_open:
            if len(self._to_inner) < MAX_BUFFER:
                reads.append(self._host_fd)
            if self._to_host and now >= self._host_hold_until:
                writes.append(self._host_fd)
        return reads, writes

    def _timeout(self, now: float) -> float:
        times = [now + POLL_S, self._host_hold_until if self._to_host else now + POLL_S]
        times += [at for at in (self._reappear_at, self._action[0] if self._action else None)
                  if at is not None]
        return max(0.0, min(times) - now)

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass

    def _step(self, ready_r: list[int]) -> None:
        now = time.monotonic()
        if self._host_fd is not None:
            self._read_host(now)
        if self._inner is not None and self._inner.fileno() in ready_r:
            self._read_inner(now)
        if self._action is not None and now >= self._action[0]:
            self._inject(self._action[1])
        if self._reappear_at is not None and now >= self._reappear_at:
            self._plug_in()
        self._flush_inner()
        self._flush_host(time.monotonic())

    def _read_host(self, now: float) -> None:
        """Host bytes, and the host opening or closing the port (EIO: nobody has it open)."""
        assert self._host_fd is not None
        if self._host_open and len(self._to_inner) >= MAX_BUFFER:
            return
        try:
            data = os.read(self._host_fd, 65536)
        except BlockingIOError:
            data = b""
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            if self._host_open:
                log.info("host closed %s", self.device_path)
                self._host_open = False
                self._to_host.clear()
            return
        if not self._host_open:
            self._on_host_open(now)
        if data:
            self._from_host(data, now)

    def _on_host_open(self, now: float) -> None:
        log.info("host opened %s", self.device_path)
        self._host_open = True
        self._host_hold_until = max(self._host_hold_until, now + HOST_SETTLE_S)
        if self._spec.reset_on_open:
            self._held.clear()
            self._reset_board("power-on", reenumerate=False)
        elif self._held:
            self._to_host.append((bytes(self._held), False))
            self._held.clear()

    def _from_host(self, data: bytes, now: float) -> None:
        quiet = now - self._host_quiet_since >= BURST_GAP_S
        if data[0] == 0 and (self._burst_at is None or quiet):
            self._on_burst(now)
        self._host_quiet_since = now
        if self._deaf_until is not None:
            if now < self._deaf_until:
                self._counts["lost_while_booting"] += len(data)
                return
            self._deaf_until = None
        self._to_inner += self._to_board.apply(data)

    def _on_burst(self, now: float) -> None:
        self._counts["bursts"] += 1
        self._burst_at = now
        which, when = self._draws.random(2)   # always two draws: reproducible from the seed
        if self._hung or self._action is not None or self._reappear_at is not None:
            return
        rate = self._spec.reset_rate
        if which < rate:
            self._action = (now + when * self._latency, "reset")
        elif which < rate + self._spec.hang_rate:
            self._action = (now + when * self._latency, "hang")

    def _read_inner(self, now: float) -> None:
        assert self._inner is not None
        data = self._inner.read()
        if data is None:
            log.warning("the board's link %s closed; the relay stops reading it", self._inner.url)
            self._inner.close()
            self._inner = None
            return
        if not data:
            return
        self._deaf_until = None             # the board talks: it has booted
        if self._hung and now - self._hung_at >= HUNG_QUIET_S:
            self._hung = False              # a power-cycle, past the relay, ended the hang
        if self._burst_at is not None:
            self._latency += LATENCY_WEIGHT * (now - self._burst_at - self._latency)
            self._burst_at = None
        self._to_host_bytes(self._from_board.apply(data), paced=False)

    def _to_host_bytes(self, data: bytes, paced: bool) -> None:
        if self._host_open:
            self._to_host.append((data, paced))
        else:
            self._held += data
            del self._held[:-MAX_BUFFER]

    def _inject(self, what: str) -> None:
        self._action = None
        if what == "hang":
            self._hang_board()
            return
        self._counts["resets"] += 1
        cause: ResetCause = "brown-out" if self._draws.random() < 0.5 else "watchdog"
        log.info("fault: %s reset of the board", cause)
        self._reset_board(cause, reenumerate=True)

    def _hang_board(self) -> None:
        log.info("fault: the board hangs")
        self._counts["hangs"] += 1
        self._hung, self._hung_at = True, time.monotonic()
        self._control.hang()

    def _reset_board(self, cause: ResetCause, reenumerate: bool) -> None:
        """The board reboots: pending bytes both ways are lost, it is deaf until it talks."""
        if self._inner is not None:
            while self._inner.read():       # replies to what it will now never finish
                pass
        self._to_inner.clear()
        self._to_host.clear()
        self._action, self._burst_at, self._hung = None, None, False
        self._control.reboot()
        self._deaf_until = time.monotonic() + BOOT_DEAF_MAX_S
        if reenumerate and self._spec.reenumerate is not None:
            self._unplug()
            gone = self._spec.reenumerate
            self._reappear_at = time.monotonic() + self._draws.uniform(gone.min_s, gone.max_s)
            self._counts["reenumerations"] += 1
        elif self._spec.reset_on_open:      # the ROM talks to whoever has the port open
            self._counts["boot_texts"] += 1
            self._to_host_bytes(self._from_board.apply(esp32_boot_text(cause)), paced=True)

    # --- the host-facing port -----------------------------------------------------

    def _plug_in(self) -> None:
        """A new pty for the host (another /dev/pts/N than before, when renamed)."""
        self._reappear_at = None
        old = self._pts_path
        fd, path = open_pty()
        if old and path == old and self._renames:
            fd, path, spare = (*open_pty(), fd)     # holding the old number forces a new one
            os.close(spare)
        self._host_fd, self._pts_path, self._host_open = fd, path, False
        if self._stable_path is not None:
            link = self._stable_path.with_name(self._stable_path.name + ".new")
            link.unlink(missing_ok=True)
            link.symlink_to(path)
            link.replace(self._stable_path)
        ident = self._identity
        usb_ports.register(self.device_path, ident.vid, ident.pid, ident.serial_number,
                           ident.description)
        log.info("port %s (%s) appeared", self.device_path, path)

    @property
    def _renames(self) -> bool:
        return self._spec.reenumerate is not None and self._spec.reenumerate.rename

    def _unplug(self) -> None:
        """The port vanishes: the host's open file sees EIO, the name is gone from the bus."""
        if self._host_fd is None:
            return
        usb_ports.unregister(self.device_path)
        if self._stable_path is not None:
            self._stable_path.unlink(missing_ok=True)
        os.close(self._host_fd)
        self._host_fd, self._host_open = None, False
        self._to_host.clear()
        self._held.clear()
        log.info("port %s vanished", self.device_path)

    # --- writing --------------------------------------------------------------------

    def _flush_inner(self) -> None:
        if self._inner is None:
            self._to_inner.clear()          # nobody to take them
            return
        if not self._to_inner:
            return
        taken = self._inner.write(bytes(self._to_inner))
        if taken is None:
            log.warning("the board's link %s is gone; %d bytes lost", self._inner.url,
                        len(self._to_inner))
            self._to_inner.clear()
        else:
            del self._to_inner[:taken]

    def _flush_host(self, now: float) -> None:
        while self._to_host and self._host_fd is not None and now >= self._host_hold_until:
            data, paced = self._to_host[0]
            piece = data[:self._boot_pacer.chunk] if paced else data
            try:
                taken = os.write(self._host_fd, piece)
            except BlockingIOError:
                return
            except OSError:                 # EIO: the host closed the port meanwhile
                self._to_host.clear()
                return
            if paced:
                self._host_hold_until = self._boot_pacer.due(taken)
            if taken < len(data):
                self._to_host[0] = (data[taken:], paced)
            else:
                self._to_host.popleft()
