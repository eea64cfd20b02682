"""The host side of the DUT protocol: one session per open link (docs/protocol.md).

Replies are matched to commands by ``seq`` (see transport.FrameChannel); stale
replies are discarded, ERROR replies raise DeviceError. A lost or garbled
exchange is resynchronised (PING/PONG) and sent again; a board that answers not
even PING raises BoardSilent. With a ``Recovery``, a board that reset, hung or
whose port vanished is brought back (recovery.py) and the interrupted command
repeated on a fresh upload of its input. Waits come from waits.py.
"""

from __future__ import annotations

import functools
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
    Capability,
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
    Profile,
    ProfileData,
    ReadOutput,
    Ready,
    chunk_capacity,
    per_run_cap,
    type_name,
)
from harness.dut.recovery import Problem, RecoveringSession, Recovery
from harness.dut.transport import CountingLink, FrameChannel, LinkStats
from harness.dut.waits import InferWaits
from harness.errors import (
    BoardError,
    BoardRebooted,
    BoardSilent,
    DeviceError,
    LinkLost,
    ProtocolError,
    ReplyTimeout,
)

log = logging.getLogger(__name__)
R = TypeVar("R")
#: the smallest chunk a noisy line shrinks upload chunks to
MIN_CHUNK = 64
#: PINGs before a board is called silent (hung): one lost to noise must not cost a reset
PING_TRIES = 3
#: the wait of the PINGs after the first: the board is idle by then, and a PONG takes ms
PING_RETRY_WAIT_S = 0.5

__all__ = ["DutSession", "OpProfile", "ReplyTimeout", "UploadStats"]


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


@dataclass(frozen=True)
class OpProfile:
    """What PROFILE returned: per-op cycles summed over ``runs`` profiled inferences."""

    runs: int
    op_cycles: tuple[int, ...]
    total_cycles: int       # the profiled inferences' whole time (profiling included)

    def per_inference(self) -> tuple[float, ...]:
        return tuple(c / self.runs for c in self.op_cycles)


class DutSession(RecoveringSession):
    """Talks to one device over an open pyserial port. No I/O until ``open()``."""

    def __init__(self, link: serial.SerialBase, timeout: float = 2.0, retries: int = 2,
                 upload_restarts: int = 8, bytes_per_s: float | None = None,
                 recovery: Recovery | None = None,
                 expected_s_per_inference: float | None = None) -> None:
        self._port = link
        self._channel: FrameChannel | None = None
        self.timeout = timeout              # for replies to ordinary commands
        self.retries = retries              # resync-and-resend of a lost exchange
        self.upload_restarts = upload_restarts
        self.bytes_per_s = bytes_per_s      # the link's rate (None: baudrate / 10)
        self.recovery = recovery
        self.waits = InferWaits()
        if expected_s_per_inference:
            self.waits.expect(expected_s_per_inference)
        self.info: HelloInfo | None = None
        self.stats = LinkStats()
        self._input: bytes | None = None    # sent again when a reset lost it
        self._input_boot = -1               # stats.readies when it was uploaded

    # --- life cycle ---------------------------------------------------------

    def open(self) -> DutSession:
        if self._channel is None:
            self._open_port()
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
        """Flush the line, PING a fresh nonce, discard everything up to its PONG.

        The PONG comes only once the device is idle, so ``timeout`` must cover a
        command it may still be running. A PING or PONG lost to line noise is no
        hang (a hang costs a reset or a power-cycle): once that wait is over the
        device is idle if it lives, so PING_TRIES - 1 more PINGs get a short wait
        (PING_RETRY_WAIT_S plus line time). BoardSilent when none is answered.
        """
        retry = PING_RETRY_WAIT_S + self._wire_seconds(16)   # a PING frame, a reply before it
        waits = [timeout or self.timeout] + [retry] * (PING_TRIES - 1)
        for wait in waits:
            if self._ping(wait):
                log.info("resynchronised with the DUT on %s", self._io.url)
                return
        raise BoardSilent(f"resync failed on {self._io.url}: no PONG to {PING_TRIES} PINGs "
                          f"within {sum(waits):.1f} s")

    def _ping(self, wait: float) -> bool:
        self._io.reset()
        nonce = os.urandom(4)
        self._io.write(b"\x00\x00" + encode_frame(MsgType.PING, self._io.next_seq(), nonce), 1)
        self.stats.resyncs += 1
        self.stats.round_trips += 1
        deadline = time.monotonic() + wait
        while (frame := self._io.next_frame(deadline)) is not None:
            if frame.type == MsgType.PONG and frame.body == nonce:
                return True
            self.stats.discarded += 1
        return False

    def connect(self, ready_timeout: float) -> bool:
        """Wait for the boot READY, finding the board again if its port vanishes meanwhile."""
        return self._recovering("waiting for READY", lambda: self.wait_ready(ready_timeout),
                                needs_input=False)

    def hello(self) -> HelloInfo:
        info = self._recovering("HELLO", lambda: self._command(Hello(), HelloInfo),
                                needs_input=False)
        self._check_version(info.protocol_version, "HELLO_INFO")
        self.info = info
        return info

    def upload(self, data: bytes) -> UploadStats:
        """Send the input tensor(s) with windowed LOAD_CHUNKs; restart from the last ACK."""
        self._input = None
        stats = self._recovering(f"upload of {len(data)} bytes", lambda: self._upload(data),
                                 needs_input=False)
        self._input, self._input_boot = data, self.stats.readies
        return stats

    def infer(self, warmups: int = 0, runs: int = 1, per_run: bool = True,
              want_output: bool = True, timeout: float | None = None) -> InferResult:
        """Run warmups + timed runs on the uploaded input.

        With ``per_run``, the runs are split over several INFERs when one RESULT
        cannot carry them or one command would run longer than waits.MAX_COMMAND_S
        (warm-ups only in the first, output only from the last); their cycles are
        concatenated. Without it, one INFER runs them all: the marker line then
        spans them as one energy window. ``timeout`` overrides the derived wait.
        """
        if runs < 1:
            raise ValueError(f"runs must be at least 1, got {runs}")
        cap = per_run_cap(self._hello_info().max_payload) if per_run else runs
        results: list[InferResult] = []
        done = 0
        while done < runs:
            first = done == 0
            # sized as each command is sent: the first one's timing informs the rest
            n = min(runs - done, self.waits.runs_per_command(warmups if first else 0, cap)) \
                if per_run else runs
            last = done + n == runs
            flags = (InferFlags.PER_RUN if per_run else 0) | (
                InferFlags.WANT_OUTPUT if want_output and last else 0)
            msg = Infer(warmups if first else 0, n, int(flags))
            results.append(self._recovering(
                f"INFER of {msg.warmups} warm-ups + {n} runs",
                functools.partial(self._infer_once, msg, want_output and last, timeout)))
            done += n
        final = results[-1]
        cycles = tuple(c for r in results for c in r.cycles or ()) if per_run else None
        return InferResult(runs, sum(r.total_cycles for r in results), cycles,
                           final.output if want_output else None, final.output_bytes)

    def profile(self, runs: int = 1) -> OpProfile:
        """Time every op of ``runs`` inferences of the uploaded input (PROFILE, then the
        rest of its pages). A board that reset meanwhile is profiled again from the start."""
        if not 1 <= runs <= 0xFFFF:
            raise ValueError(f"runs must be 1…65535, got {runs}")
        info = self._hello_info()
        if not info.capabilities & Capability.PROFILE:
            raise BoardError(f"board {self.board_name} ({info.board_id}) cannot profile: its "
                             "firmware does not announce PROFILE in HELLO_INFO (capability "
                             "bit 3); rebuild it from this harness's firmware")
        return self._recovering(f"PROFILE of {runs} runs",
                                functools.partial(self._profile_once, runs))

    def _profile_once(self, runs: int) -> OpProfile:
        wait = self.waits.infer_timeout(runs, self._wire_seconds(0), self.timeout)
        first = self._command(Profile(runs, 0), ProfileData, wait)
        pages = [first]
        done = len(first.op_cycles)
        while done < first.n_ops:
            page = self._command(Profile(0, done), ProfileData)
            if (page.first_op, page.n_ops, page.runs, page.total_cycles) != \
                    (done, first.n_ops, runs, first.total_cycles) or not page.op_cycles:
                raise ProtocolError(f"PROFILE_DATA from op {page.first_op} of {page.n_ops} "
                                    f"({page.runs} runs) in reply to a read from op {done} of "
                                    f"{first.n_ops} ({runs} runs)")
            pages.append(page)
            done += len(page.op_cycles)
        if first.runs != runs or first.first_op != 0:
            raise ProtocolError(f"PROFILE_DATA of {first.runs} runs from op {first.first_op} "
                                f"in reply to PROFILE of {runs} runs from op 0")
        return OpProfile(runs, tuple(c for p in pages for c in p.op_cycles), first.total_cycles)

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
        wait = (timeout or self.timeout) + self._wire_seconds(len(body))
        frame = self._request_once(msg_type, body, wait)
        if frame is None:
            raise ReplyTimeout(f"no reply to {type_name(msg_type)} on {self._io.url} within "
                               f"{wait:.1f} s")
        return frame

    # --- internals: exchanges -------------------------------------------------

    @property
    def _io(self) -> FrameChannel:
        if self._channel is None:
            raise ProtocolError(f"DUT session on {self._port.port} is not open; call open()")
        return self._channel

    def _hello_info(self) -> HelloInfo:
        return self.info or self.hello()

    def _request_once(self, msg_type: int, body: bytes, wait: float) -> Frame | None:
        """Send once; the reply, or None when it did not come or the line garbled it."""
        seq = self._io.send([(msg_type, body)])[-1]
        self.stats.round_trips += 1
        frame = self._io.await_reply({seq}, time.monotonic() + wait, line_errors=True)
        if frame is None:
            log.warning("no valid reply to %s (seq %d) on %s within %.1f s", type_name(msg_type),
                        seq, self._io.url, wait)
            return None
        if frame.type == MsgType.ERROR:
            if frame.seq == 0:      # the device could not read a frame: maybe this command
                return None
            raise self._device_error(frame)
        return frame

    def _command(self, msg: HostMessage, reply: type[R], timeout: float | None = None) -> R:
        """Send ``msg``, return its typed reply; resync and resend a lost exchange."""
        wait = (timeout or self.timeout) + self._wire_seconds(len(msg.pack()))
        for attempt in range(1 + self.retries):
            frame = self._request_once(msg.TYPE, msg.pack(), wait)
            if frame is not None:
                break
            try:
                self.resync(wait)
            except BoardSilent as exc:
                raise BoardSilent(f"no reply to {msg.TYPE.name} on {self._io.url} within "
                                  f"{wait:.1f} s, nor to a PING after it: the board is "
                                  "silent") from exc
            if attempt < self.retries:
                self.stats.resends += 1
        else:
            raise ReplyTimeout(f"no valid reply to {msg.TYPE.name} on {self._io.url} in "
                               f"{1 + self.retries} tries of {wait:.1f} s, though the board "
                               "answers PING")
        expected = reply.TYPE  # type: ignore[attr-defined]
        if frame.type != expected:
            raise ProtocolError(f"expected {expected.name} in reply to {msg.TYPE.name}, got "
                                f"{type_name(frame.type)}")
        return reply.unpack(frame.body)  # type: ignore[attr-defined]

    def _upload(self, data: bytes) -> UploadStats:
        """Windows of W chunks; on a noisy line a failed window's chunks shrink (each is
        less likely to be hit) and grow back with every window that gets through."""
        largest = chunk = chunk_capacity(self._hello_info().max_payload)
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
                acked, failures, chunk = end, 0, min(largest, chunk * 2)
                continue
            failures += 1
            chunk = max(min(largest, MIN_CHUNK), chunk // 2)
            if failures > self.upload_restarts:
                raise ProtocolError(f"upload of {len(data)} bytes to {self._io.url} stalled at "
                                    f"offset {acked} after {failures} restarts")
            self.resync()
        return UploadStats(len(data), chunks, self.stats.round_trips - start[1],
                           self.stats.bytes_out - start[2], self.stats.bytes_in - start[3],
                           time.perf_counter() - start[0])

    def _send_window(self, msgs: list[LoadChunk], end: int) -> bool:
        """One window of chunks; True when the device ACKs it whole, False to restart."""
        seqs = self._io.send([(m.TYPE, m.pack()) for m in msgs])
        self.stats.round_trips += 1
        wait = self.timeout + self._wire_seconds(sum(len(m.data) + 16 for m in msgs))
        frame = self._io.await_reply(set(seqs), time.monotonic() + wait, line_errors=True)
        if frame is None:
            log.warning("no valid ACK for the upload window ending at %d within %.1f s", end,
                        wait)
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

    def _infer_once(self, msg: Infer, want_output: bool, timeout: float | None) -> InferResult:
        count = msg.warmups + msg.runs
        reply_bytes = 16 + 4 * msg.runs + (self.info.output_bytes if self.info else 0)
        wait = timeout or self.waits.infer_timeout(count, self._wire_seconds(reply_bytes),
                                                   self.timeout)
        sent = time.monotonic()
        result = self._command(msg, InferResult, wait)
        self.waits.observed(count, time.monotonic() - sent)
        per_run = bool(msg.flags & InferFlags.PER_RUN)
        if result.runs != msg.runs or (per_run and len(result.cycles or ()) != msg.runs):
            raise ProtocolError(f"RESULT reports {result.runs} runs and "
                                f"{len(result.cycles or ())} cycle counts for INFER of "
                                f"{msg.runs}")
        if want_output and result.output is None:
            output = self.read_output(result.output_bytes)
            result = InferResult(result.runs, result.total_cycles, result.cycles, output,
                                 result.output_bytes)
        return result

    def _wire_seconds(self, nbytes: int) -> float:
        """Line time for ``nbytes`` plus a full reply at the link's rate."""
        reply = self.info.max_payload if self.info else 1024
        rate = self.bytes_per_s or (self._port.baudrate or 115200) / 10
        return (nbytes + reply) / rate

    # --- recovery hooks (recovery.RecoveringSession runs the loop) -----------

    def _problem(self, exc: Exception, needs_input: bool) -> Problem | None:
        if isinstance(exc, LinkLost):
            return "lost link"
        if isinstance(exc, ReplyTimeout):
            return "silent"
        if isinstance(exc, BoardRebooted):
            return "lost state"
        if isinstance(exc, DeviceError) and exc.code == ErrorCode.BAD_STATE and \
                not (needs_input and self._input is None):
            return "lost state"     # a reset whose READY never reached us
        return None

    def _await_boot(self) -> None:
        assert self.recovery is not None
        if not self.wait_ready(self.recovery.ready_timeout_s):
            self.resync()

    def _reopen(self, port: serial.SerialBase) -> None:
        try:
            self.close()
        except (serial.SerialException, OSError):
            self._channel = None
        self._port = port
        self.open()
        self._await_boot()

    def _check_same_board(self) -> None:
        before = self.info
        self.info = self._command(Hello(), HelloInfo)
        if before is not None and (before.model_hash, before.board_id) != \
                (self.info.model_hash, self.info.board_id):
            raise BoardError(f"board {self.board_name}: the board found again on {self.url} "
                             f"is {self.info.board_id} with model {self.info.model_hash.hex()[:16]}"
                             f"…, not the one the run started with")

    def _device_error(self, frame: Frame) -> DeviceError:
        err = ErrorReply.unpack(frame.body)
        return DeviceError(err.code, err.code_name, err.cmd_type, err.message)

    @staticmethod
    def _check_version(version: int, where: str) -> None:
        if version != PROTOCOL_VERSION:
            raise ProtocolError(f"{where} reports protocol version {version}, this host speaks "
                                f"{PROTOCOL_VERSION}")
