"""The host side of the DUT protocol: one session per open link (docs/protocol.md).

Replies are matched to commands by ``seq`` (see transport.FrameChannel); stale
replies are discarded, ERROR replies raise DeviceError, silence raises
ReplyTimeout (a ProtocolError) saying what was awaited.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import TypeVar

import serial

from harness.dut.framing import Frame, encode_frame
from harness.dut.messages import (
    PROTOCOL_VERSION,
    Ack,
    ErrorCode,
    ErrorReply,
    Hello,
    HelloInfo,
    HostMessage,
    Infer,
    InferFlags,
    InferResult,
    LoadBegin,
    LoadChunk,
    MsgType,
    Output,
    ReadOutput,
    Ready,
    chunk_capacity,
    per_run_cap,
    type_name,
)
from harness.dut.transport import CountingLink, FrameChannel, LinkStats
from harness.errors import BoardError, DeviceError, ProtocolError

log = logging.getLogger(__name__)
R = TypeVar("R")


class ReplyTimeout(ProtocolError):
    """No reply came before the deadline."""


@dataclass(frozen=True)
class UploadStats:
    bytes: int
    chunks: int             # LOAD_CHUNK frames sent, resent ones included
    round_trips: int        # LOAD_BEGIN, one per window, one per resync
    wire_bytes_out: int
    wire_bytes_in: int
    seconds: float

    @property
    def payload_efficiency(self) -> float:
        """Input bytes per byte on the wire, both directions."""
        wire = self.wire_bytes_out + self.wire_bytes_in
        return self.bytes / wire if wire else 0.0


class DutSession:
    """Talks to one device over an open pyserial port. No I/O until ``open()``."""

    def __init__(self, link: serial.SerialBase, timeout: float = 2.0,
                 infer_timeout: float = 60.0, retries: int = 1, upload_restarts: int = 8) -> None:
        self._port = link
        self._channel: FrameChannel | None = None
        self.timeout = timeout              # for replies to ordinary commands
        self.infer_timeout = infer_timeout  # INFER runs the model warmups + runs times
        self.retries = retries              # resync-and-resend for idempotent commands
        self.upload_restarts = upload_restarts
        self.info: HelloInfo | None = None
        self.stats = LinkStats()

    # --- life cycle ---------------------------------------------------------

    def open(self) -> DutSession:
        if self._channel is None:
            if not self._port.is_open:
                try:
                    self._port.open()
                except (serial.SerialException, OSError) as exc:
                    raise BoardError(f"cannot open DUT link {self._port.port}: {exc}") from exc
            self._channel = FrameChannel(CountingLink(self._port), self.stats)
        return self

    def close(self) -> None:
        if self._channel is not None:
            self._channel.link.close()
            self._channel = None

    def __enter__(self) -> DutSession:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public commands ----------------------------------------------------

    def wait_ready(self, timeout: float) -> bool:
        """Wait for the device's boot READY; False if none came (it may have booted earlier)."""
        deadline = time.monotonic() + timeout
        while (frame := self._io.next_frame(deadline)) is not None:
            if frame.type == MsgType.READY:
                ready = Ready.unpack(frame.body)
                self._check_version(ready.protocol_version, "READY")
                log.info("DUT %s is ready", self._io.url)
                return True
            self.stats.discarded += 1
        return False

    def resync(self, timeout: float | None = None) -> None:
        """Flush the line, PING a fresh nonce, discard everything up to its PONG."""
        wait = timeout or self.timeout
        self._io.reset()
        nonce = os.urandom(4)
        self._io.write(b"\x00\x00" + encode_frame(MsgType.PING, self._io.next_seq(), nonce), 1)
        self.stats.resyncs += 1
        self.stats.round_trips += 1
        deadline = time.monotonic() + wait
        while (frame := self._io.next_frame(deadline)) is not None:
            if frame.type == MsgType.PONG and frame.body == nonce:
                log.info("resynchronised with the DUT on %s", self._io.url)
                return
            self.stats.discarded += 1
        raise ReplyTimeout(f"resync failed on {self._io.url}: no PONG with nonce {nonce.hex()} "
                           f"within {wait:.1f} s")

    def hello(self) -> HelloInfo:
        info = self._command(Hello(), HelloInfo)
        self._check_version(info.protocol_version, "HELLO_INFO")
        self.info = info
        return info

    def upload(self, data: bytes) -> UploadStats:
        """Send the input tensor(s) with windowed LOAD_CHUNKs; restart from the last ACK."""
        chunk = chunk_capacity(self._hello_info().max_payload)
        start = (time.perf_counter(), self.stats.round_trips, self.stats.bytes_out,
                 self.stats.bytes_in)
        ack = self._command(LoadBegin(len(data)), Ack)
        if ack.next_offset != 0:
            raise ProtocolError(f"LOAD_BEGIN answered with next_offset {ack.next_offset}, "
                                "expected 0")
        window, acked, chunks, failures = max(1, ack.window), 0, 0, 0
        while acked < len(data):
            msgs = [LoadChunk(off, data[off:off + chunk])
                    for off in range(acked, min(len(data), acked + window * chunk), chunk)]
            end = msgs[-1].offset + len(msgs[-1].data)
            chunks += len(msgs)
            if self._send_window(msgs, end):
                acked, failures = end, 0
                continue
            failures += 1
            if failures > self.upload_restarts:
                raise ProtocolError(f"upload of {len(data)} bytes to {self._io.url} stalled at "
                                    f"offset {acked} after {failures} restarts")
            self.resync()
        return UploadStats(len(data), chunks, self.stats.round_trips - start[1],
                           self.stats.bytes_out - start[2], self.stats.bytes_in - start[3],
                           time.perf_counter() - start[0])

    def infer(self, warmups: int = 0, runs: int = 1, per_run: bool = True,
              want_output: bool = True, timeout: float | None = None) -> InferResult:
        """Run warmups + timed runs on the uploaded input.

        With ``per_run`` and more runs than one RESULT can carry, the runs are
        split over several INFERs (warm-ups only in the first, output only from
        the last) and their cycles concatenated. Each INFER raises the marker
        line separately: for energy, keep one window per INFER.
        """
        if runs < 1:
            raise ValueError(f"runs must be at least 1, got {runs}")
        cap = per_run_cap(self._hello_info().max_payload) if per_run else 0xFFFF
        batches = [min(cap, runs - done) for done in range(0, runs, cap)]
        results: list[InferResult] = []
        for i, n in enumerate(batches):
            last = i == len(batches) - 1
            flags = (InferFlags.PER_RUN if per_run else 0) | (
                InferFlags.WANT_OUTPUT if want_output and last else 0)
            msg = Infer(warmups if i == 0 else 0, n, int(flags))
            result = self._command(msg, InferResult, timeout or self.infer_timeout, retry=False)
            if result.runs != n or (per_run and len(result.cycles or ()) != n):
                raise ProtocolError(f"RESULT reports {result.runs} runs and "
                                    f"{len(result.cycles or ())} cycle counts for INFER of {n}")
            results.append(result)
        final = results[-1]
        output = final.output
        if want_output and output is None:
            output = self.read_output(final.output_bytes)
        cycles = tuple(c for r in results for c in r.cycles or ()) if per_run else None
        return InferResult(runs, sum(r.total_cycles for r in results), cycles,
                           output if want_output else None, final.output_bytes)

    def read_output(self, nbytes: int) -> bytes:
        """The last INFER's output, ``nbytes`` long, in READ_OUTPUT pieces."""
        size = chunk_capacity(self._hello_info().max_payload)
        parts = []
        for off in range(0, nbytes, size):
            want = min(size, nbytes - off)
            piece = self._command(ReadOutput(off, want), Output)
            if piece.offset != off or len(piece.data) != want:
                raise ProtocolError(f"OUTPUT carries {len(piece.data)} bytes at {piece.offset}, "
                                    f"asked for {want} at {off}")
            parts.append(piece.data)
        return b"".join(parts)

    def run(self, input_data: bytes, warmups: int = 0, runs: int = 1, per_run: bool = True,
            want_output: bool = True) -> InferResult:
        self.upload(input_data)
        return self.infer(warmups, runs, per_run, want_output)

    def request(self, msg_type: int, body: bytes = b"", timeout: float | None = None) -> Frame:
        """One raw command and its reply frame (DeviceError for ERROR, ReplyTimeout)."""
        seq = self._io.send([(msg_type, body)])[-1]
        self.stats.round_trips += 1
        wait = (timeout or self.timeout) + self._wire_seconds(len(body))
        frame = self._io.await_reply({seq}, time.monotonic() + wait)
        if frame is None:
            raise ReplyTimeout(f"no reply to {type_name(msg_type)} (seq {seq}) on "
                               f"{self._io.url} within {wait:.1f} s")
        if frame.type == MsgType.ERROR:
            raise self._device_error(frame)
        return frame

    # --- internals ----------------------------------------------------------

    @property
    def _io(self) -> FrameChannel:
        if self._channel is None:
            raise ProtocolError(f"DUT session on {self._port.port} is not open; call open()")
        return self._channel

    def _hello_info(self) -> HelloInfo:
        return self.info or self.hello()

    def _command(self, msg: HostMessage, reply: type[R], timeout: float | None = None,
                 retry: bool = True) -> R:
        """Send ``msg``, return its typed reply; resync and resend once on timeout if ``retry``."""
        for attempt in range(1 + (self.retries if retry else 0)):
            try:
                frame = self.request(msg.TYPE, msg.pack(), timeout)
                break
            except ReplyTimeout as exc:
                if not retry or attempt == self.retries:
                    raise
                log.warning("%s; resyncing and sending it again", exc)
                self.resync()
        expected = reply.TYPE  # type: ignore[attr-defined]
        if frame.type != expected:
            raise ProtocolError(f"expected {expected.name} in reply to {msg.TYPE.name}, got "
                                f"{type_name(frame.type)}")
        return reply.unpack(frame.body)  # type: ignore[attr-defined, no-any-return]

    def _send_window(self, msgs: list[LoadChunk], end: int) -> bool:
        """One window of chunks; True when the device ACKs it whole, False to restart."""
        seqs = self._io.send([(m.TYPE, m.pack()) for m in msgs])
        self.stats.round_trips += 1
        wait = self.timeout + self._wire_seconds(sum(len(m.data) for m in msgs))
        frame = self._io.await_reply(set(seqs), time.monotonic() + wait, line_errors=True)
        if frame is None:
            log.warning("no ACK for the upload window ending at %d within %.1f s", end, wait)
            return False
        if frame.type == MsgType.ERROR:
            err = ErrorReply.unpack(frame.body)
            if frame.seq != 0 and err.code != ErrorCode.OUT_OF_ORDER:
                raise self._device_error(frame)
            log.warning("upload window ending at %d failed: %s: %s", end, err.code_name,
                        err.message)
            return False
        ack = Ack.unpack(frame.body) if frame.type == MsgType.ACK else None
        if ack is None or frame.seq != seqs[-1] or ack.next_offset != end:
            log.warning("unexpected reply %s (seq %d) to the upload window ending at %d",
                        ack or type_name(frame.type), frame.seq, end)
            return False
        return True

    def _wire_seconds(self, nbytes: int) -> float:
        """Line time for ``nbytes`` plus a full reply, at 8N1."""
        reply = self.info.max_payload if self.info else 1024
        return (nbytes + reply) * 10 / (self._port.baudrate or 115200)

    def _device_error(self, frame: Frame) -> DeviceError:
        err = ErrorReply.unpack(frame.body)
        return DeviceError(err.code, err.code_name, err.cmd_type, err.message)

    @staticmethod
    def _check_version(version: int, where: str) -> None:
        if version != PROTOCOL_VERSION:
            raise ProtocolError(f"{where} reports protocol version {version}, this host speaks "
                                f"{PROTOCOL_VERSION}")
