"""The byte stream under the DUT protocol: any pyserial URL, byte counters, frames.

``open_link`` accepts what ``serial.serial_for_url`` accepts: device paths
(``/dev/ttyACM0``, ``/dev/pts/7``), ``socket://host:port``, ``rfc2217://…`` and
``loop://``. Failures become harness errors that name the URL. ``FrameChannel``
is the frame layer the session talks through: seq numbers, deadlines, matching.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Container
from dataclasses import dataclass

import serial

from harness.dut.framing import PROTOCOL_MAX_PAYLOAD, Frame, FrameDecoder, FrameFault, encode_frame
from harness.dut.messages import ErrorReply, MsgType, type_name
from harness.dut.rfc2217_link import KeepingRfc2217
from harness.errors import BoardError, BoardRebooted, LinkLost

log = logging.getLogger(__name__)

#: read timeout of one ``read`` call; sessions loop on it up to their own deadlines
READ_POLL_S = 0.05


def open_link(url: str, baudrate: int = 115200, timeout: float = READ_POLL_S) -> serial.SerialBase:
    """Open ``url`` with pyserial; BoardError if it cannot be opened."""
    try:
        if url.startswith("rfc2217://"):    # a labgrid place's port: no write timeout there
            link: serial.SerialBase = KeepingRfc2217(url, baudrate=baudrate, timeout=timeout)
        else:
            link = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout,
                                         write_timeout=max(timeout, 5.0))
    except (serial.SerialException, ValueError, OSError) as exc:
        raise BoardError(f"cannot open DUT link {url!r} at {baudrate} Bd: {exc}") from exc
    log.debug("opened DUT link %s at %d Bd", url, baudrate)
    return link


class CountingLink:
    """Wraps an open pyserial port: counts bytes each way, turns I/O errors into ProtocolError."""

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port
        self.bytes_out = 0
        self.bytes_in = 0

    @property
    def url(self) -> str:
        return str(self.port.port)

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkLost(f"DUT link {self.url}: write of {len(data)} bytes failed: "
                           f"{exc}") from exc
        self.bytes_out += len(data)

    def read_some(self) -> bytes:
        """What has arrived, or b"" after the port's read timeout."""
        try:
            data = self.port.read(self.port.in_waiting or 1)
        except (serial.SerialException, OSError) as exc:
            raise LinkLost(f"DUT link {self.url}: read failed: {exc}") from exc
        self.bytes_in += len(data)
        return data

    def close(self) -> None:
        self.port.close()


@dataclass
class LinkStats:
    """Counters over a whole session (bytes are on the wire, both directions)."""

    round_trips: int = 0
    frames_out: int = 0
    frames_in: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    resyncs: int = 0
    line_errors: int = 0    # device-reported garbled frames (ERROR with seq 0)
    garbled_in: int = 0     # frames from the device the host dropped
    discarded: int = 0      # stale replies, and frames skipped while resyncing
    readies: int = 0        # READY frames: one per boot of the device
    resends: int = 0        # commands sent again after a garbled or lost exchange
    reboots: int = 0        # resets the board had mid-session (READY mid-command)
    hang_resets: int = 0    # resets the host made because the board stopped answering
    power_cycles: int = 0   # of those, power-cycles through the monitor that sources it
    relinks: int = 0        # times the port was lost and found again


class FrameChannel:
    """Frames over a CountingLink: seq numbers, reading up to deadlines, reply matching.

    Host seqs run 1…255, never 0: the device uses 0 for READY and for errors about
    frames it could not read. Each burst of frames starts with a 0x00, so line
    noise before it ends as a separate (dropped) frame instead of swallowing it.
    """

    def __init__(self, link: CountingLink, stats: LinkStats) -> None:
        self.link = link
        self.stats = stats
        self._decoder = FrameDecoder(PROTOCOL_MAX_PAYLOAD)
        self._pending: deque[Frame | FrameFault] = deque()
        self._seq = 0
        self._readies = 0       # on this link: the first is its boot, later ones resets

    @property
    def url(self) -> str:
        return self.link.url

    def next_seq(self) -> int:
        self._seq = self._seq % 255 + 1
        return self._seq

    def reset(self) -> None:
        """Forget partial and undelivered frames (start of a resync)."""
        self._decoder.reset()
        self._pending.clear()

    def send(self, frames: list[tuple[int, bytes]]) -> list[int]:
        """Write frames (type, body) in one burst; return their seqs."""
        seqs = [self.next_seq() for _ in frames]
        encoded = (encode_frame(t, s, b) for (t, b), s in zip(frames, seqs, strict=True))
        self.write(b"\x00" + b"".join(encoded), len(frames))
        return seqs

    def write(self, data: bytes, frames: int) -> None:
        self.link.write(data)
        self.stats.frames_out += frames
        self.stats.bytes_out = self.link.bytes_out

    def await_reply(self, seqs: Container[int], deadline: float,
                    line_errors: bool = False) -> Frame | None:
        """The next frame answering one of ``seqs`` (or a line ERROR if asked), None at deadline.

        With ``line_errors``, a garbled frame from the device also ends the wait (None):
        it may have been the reply. A READY raises BoardRebooted: the device reset.
        """
        while (frame := self.next_frame(deadline, stop_on_fault=line_errors)) is not None:
            if frame.seq in seqs:
                return frame
            if frame.seq == 0 and frame.type == MsgType.ERROR:
                self.stats.line_errors += 1
                err = ErrorReply.unpack(frame.body)
                log.warning("DUT dropped a garbled frame: %s: %s", err.code_name, err.message)
                if line_errors:
                    return frame
            elif frame.seq == 0 and frame.type == MsgType.READY:
                if self._readies > 1:
                    raise BoardRebooted(f"the board on {self.url} sent READY mid-command: "
                                        "it reset")
                log.info("DUT on %s booted (READY) while a command was awaited", self.url)
            else:
                self.stats.discarded += 1
                log.debug("discarding stale %s seq %d", type_name(frame.type), frame.seq)
        return None

    def next_frame(self, deadline: float, stop_on_fault: bool = False) -> Frame | None:
        """The next well-formed device frame; None at the deadline (or a fault, if asked)."""
        while True:
            while self._pending:
                item = self._pending.popleft()
                if isinstance(item, FrameFault):
                    self.stats.garbled_in += 1
                    log.warning("dropped a frame from the DUT: %s (%d bytes)",
                                item.reason.value, item.raw_bytes)
                    if stop_on_fault:
                        return None
                elif item.type & 0x80:
                    self.stats.frames_in += 1
                    if item.type == MsgType.READY and item.seq == 0:
                        self._readies += 1
                        self.stats.readies += 1
                    return item
                else:   # a host-type frame: a loopback or an echoing line
                    self.stats.discarded += 1
            if time.monotonic() >= deadline:
                return None
            data = self.link.read_some()
            self.stats.bytes_in = self.link.bytes_in
            self._pending.extend(self._decoder.feed(data))
