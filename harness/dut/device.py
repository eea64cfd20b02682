"""The device side of the DUT protocol in pure Python: bytes in, bytes out, no I/O.

The simulated board serves it on a pseudo-terminal (pty_link.serve); tests feed it
directly. It is the reference the C firmware core follows (docs/protocol.md).
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from harness.dut.framing import (
    DELIMITER,
    FaultReason,
    Frame,
    FrameDecoder,
    FrameFault,
    encode_frame,
)
from harness.dut.messages import (
    PROFILE_DATA_FIXED_BYTES,
    PROTOCOL_VERSION,
    RESULT_FIXED_BYTES,
    Ack,
    Capability,
    DeviceMessage,
    ErrorCode,
    ErrorReply,
    HelloInfo,
    Infer,
    InferFlags,
    InferResult,
    LoadBegin,
    LoadChunk,
    MsgType,
    Output,
    Ping,
    Pong,
    Profile,
    ProfileData,
    ReadOutput,
    Ready,
    chunk_capacity,
    per_run_cap,
    profile_page_ops,
    unpack_message,
)
from harness.errors import ProtocolError
from harness.tensors import TensorSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerResult:
    output: bytes           # all output tensors, concatenated in HELLO order
    cycles: list[int]       # one count per timed run


class Runner(Protocol):
    """Runs the model; it also drives any marker line or power side effects of the runs."""

    def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult: ...


@dataclass(frozen=True)
class RunnerProfile:
    output: bytes           # as RunnerResult: the last run's
    op_cycles: list[int]    # op i's cycles, summed over the runs
    total_cycles: int       # the runs' whole time, profiling included


@runtime_checkable
class ProfilingRunner(Runner, Protocol):
    """A runner that can also time every op of its model (the PROFILE command)."""

    def profile(self, input_data: bytes, runs: int) -> RunnerProfile: ...


class ChecksumRunner:
    """Model-free runner, the same as the C firmware's CI runner.

    Output (8 bytes): CRC-32 of the input, then the input's byte sum mod 2^32,
    both u32 LE. Every run takes ``BASE_CYCLES + CYCLES_PER_BYTE * len(input)``.
    """

    OUTPUT_SPEC = TensorSpec("uint8", (8,))
    BASE_CYCLES = 1000
    CYCLES_PER_BYTE = 4

    @classmethod
    def checksum(cls, input_data: bytes) -> bytes:
        return struct.pack("<II", zlib.crc32(input_data), sum(input_data) & 0xFFFFFFFF)

    @classmethod
    def cycles_for(cls, input_bytes: int) -> int:
        return cls.BASE_CYCLES + cls.CYCLES_PER_BYTE * input_bytes

    def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult:
        return RunnerResult(self.checksum(input_data), [self.cycles_for(len(input_data))] * runs)

    def profile(self, input_data: bytes, runs: int) -> RunnerProfile:
        """Two "ops", as the C runner times them: the byte sum, then the CRC."""
        ops = [self.BASE_CYCLES * runs, self.CYCLES_PER_BYTE * len(input_data) * runs]
        return RunnerProfile(self.checksum(input_data), ops, sum(ops))


class _Refused(Exception):
    """A command the device answers with ERROR(code)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class ProtocolDevice:
    """One device: feed it the bytes the host wrote, send back what ``feed`` returns."""

    def __init__(self, runner: Runner, board_id: str, clock_hz: int, counter: str,
                 arena_used: int, model_hash: bytes, inputs: Sequence[TensorSpec],
                 outputs: Sequence[TensorSpec], max_payload: int = 1024, rx_window: int = 4,
                 marker: bool = False) -> None:
        if not (1 <= rx_window <= 255 and max_payload <= 0xFFFF):
            raise ValueError(f"rx_window {rx_window} must be 1…255, max_payload {max_payload} "
                             "at most 65535")
        caps = Capability.PER_RUN_CYCLES | Capability.OUTPUT_IN_RESULT
        if isinstance(runner, ProfilingRunner):
            caps |= Capability.PROFILE
        self.info = HelloInfo(PROTOCOL_VERSION, int(caps | (Capability.MARKER if marker else 0)),
                              max_payload, rx_window, clock_hz, arena_used, model_hash, board_id,
                              counter, tuple(inputs), tuple(outputs))
        if len(self.info.pack()) > max_payload:
            raise ValueError(f"HELLO_INFO takes {len(self.info.pack())} bytes, more than "
                             f"max_payload {max_payload}")
        self._runner = runner
        self._decoder = FrameDecoder(max_payload)
        self._input = bytearray(self.info.input_bytes)
        self._handlers: dict[int, Callable[[Any], DeviceMessage | None]] = {
            MsgType.HELLO: lambda _msg: self.info,
            MsgType.LOAD_BEGIN: self._load_begin,
            MsgType.LOAD_CHUNK: self._load_chunk,
            MsgType.INFER: self._infer,
            MsgType.READ_OUTPUT: self._read_output,
            MsgType.PING: self._ping,
        }
        if isinstance(runner, ProfilingRunner):
            self._handlers[MsgType.PROFILE] = self._profile
        self._reset()

    def _reset(self) -> None:
        self._decoder.reset()
        self._total: int | None = None     # set by LOAD_BEGIN
        self._next = 0                      # bytes of the input held
        self._unacked = 0                   # chunks taken since the last reply sent
        self._output: bytes | None = None   # left by the last INFER
        self._last_profile: RunnerProfile | None = None
        self._profile_runs = 0

    def boot(self) -> bytes:
        """Power-on: forget everything, return the READY frame."""
        self._reset()
        return self._reply(Ready(PROTOCOL_VERSION), 0)

    def feed(self, data: bytes) -> bytes:
        """Serve the bytes received; return every reply frame to send, in order."""
        replies = []
        for item in self._decoder.feed(data):
            if isinstance(item, FrameFault):
                code = ErrorCode.BAD_CRC if item.reason is FaultReason.BAD_CRC \
                    else ErrorCode.BAD_FRAME
                log.debug("dropped a frame: %s", item.reason.value)
                replies.append(self._reply(self._error(
                    code, 0, f"{item.reason.value} ({item.raw_bytes} bytes)"), 0))
            elif (reply := self._handle(item)) is not None:
                replies.append(self._reply(reply, item.seq))
        return b"".join(replies)

    def _reply(self, msg: DeviceMessage, seq: int) -> bytes:
        self._unacked = 0   # any reply closes the current upload window
        # The leading 0x00 ends any noise the host may have received before this frame.
        return DELIMITER + encode_frame(msg.TYPE, seq, msg.pack())

    def _error(self, code: ErrorCode, cmd_type: int, message: str) -> ErrorReply:
        room = self.info.max_payload - 3    # code, cmd_type, str8 length
        text = message.encode("utf-8")[:room].decode("utf-8", "ignore")
        return ErrorReply(int(code), cmd_type, text)

    def _handle(self, frame: Frame) -> DeviceMessage | None:
        handler = self._handlers.get(frame.type)
        if handler is None:
            return self._error(ErrorCode.UNKNOWN_CMD, frame.type,
                               f"unknown command type 0x{frame.type:02x}")
        try:
            return handler(unpack_message(frame.type, frame.body))
        except ProtocolError as exc:
            return self._error(ErrorCode.BAD_ARGS, frame.type, str(exc))
        except _Refused as exc:
            return self._error(exc.code, frame.type, str(exc))

    @property
    def _complete(self) -> bool:
        return self._total is not None and self._next == self._total

    def _load_begin(self, msg: LoadBegin) -> Ack:
        if msg.total_bytes != len(self._input):
            raise _Refused(ErrorCode.BAD_ARGS, f"LOAD_BEGIN of {msg.total_bytes} bytes; the "
                           f"input tensors take {len(self._input)}")
        self._total, self._next = msg.total_bytes, 0
        return Ack(0, self.info.rx_window)

    def _load_chunk(self, msg: LoadChunk) -> Ack | None:
        if self._total is None:
            raise _Refused(ErrorCode.BAD_STATE, "LOAD_CHUNK without LOAD_BEGIN")
        if not msg.data:
            raise _Refused(ErrorCode.BAD_ARGS, f"empty LOAD_CHUNK at offset {msg.offset}")
        if msg.offset > self._next:   # a gap; an earlier offset is a restart and is fine
            raise _Refused(ErrorCode.OUT_OF_ORDER,
                           f"chunk at offset {msg.offset}, next_offset is {self._next}")
        end = msg.offset + len(msg.data)
        if end > self._total:
            raise _Refused(ErrorCode.BAD_ARGS, f"chunk ends at {end}, past the input's "
                           f"{self._total} bytes")
        self._input[msg.offset:end] = msg.data
        self._next = end
        self._unacked += 1
        if self._unacked >= self.info.rx_window or self._complete:
            return Ack(end, self.info.rx_window)
        return None

    def _infer(self, msg: Infer) -> InferResult:
        per_run = bool(msg.flags & InferFlags.PER_RUN)
        if msg.flags & ~int(InferFlags.PER_RUN | InferFlags.WANT_OUTPUT) or msg.runs == 0:
            raise _Refused(ErrorCode.BAD_ARGS, f"INFER runs={msg.runs} flags=0x{msg.flags:02x}: "
                           "runs must be ≥ 1 and only flag bits 0–1 may be set")
        if per_run and msg.runs > per_run_cap(self.info.max_payload):
            raise _Refused(ErrorCode.TOO_LARGE, f"{msg.runs} per-run cycle counts do not fit; "
                           f"at most {per_run_cap(self.info.max_payload)} per INFER")
        if not self._complete:
            raise _Refused(ErrorCode.BAD_STATE, f"INFER before a complete upload (have "
                           f"{self._next} of {len(self._input)} bytes)")
        self._output = None
        try:
            result = self._runner.infer(bytes(self._input), msg.warmups, msg.runs)
        except Exception as exc:    # any runtime failure is reported, never fatal
            log.exception("runner failed")
            raise _Refused(ErrorCode.INFER_FAILED, f"{type(exc).__name__}: {exc}") from exc
        if len(result.output) != self.info.output_bytes or len(result.cycles) != msg.runs:
            raise _Refused(ErrorCode.INFER_FAILED, f"runner gave {len(result.output)} output "
                           f"bytes and {len(result.cycles)} cycle counts, expected "
                           f"{self.info.output_bytes} and {msg.runs}")
        self._output = result.output
        cycles = tuple(result.cycles) if per_run else None
        fits = RESULT_FIXED_BYTES + 4 * len(cycles or ()) + len(result.output) \
            <= self.info.max_payload
        include = bool(msg.flags & InferFlags.WANT_OUTPUT) and fits
        return InferResult(msg.runs, sum(result.cycles), cycles,
                           result.output if include else None, len(result.output))

    def _read_output(self, msg: ReadOutput) -> Output:
        if self._output is None:
            raise _Refused(ErrorCode.BAD_STATE, "READ_OUTPUT before a successful INFER")
        if msg.length > chunk_capacity(self.info.max_payload):
            raise _Refused(ErrorCode.TOO_LARGE, f"READ_OUTPUT of {msg.length} bytes; at most "
                           f"{chunk_capacity(self.info.max_payload)} per OUTPUT")
        if msg.offset + msg.length > len(self._output):
            raise _Refused(ErrorCode.BAD_ARGS, f"READ_OUTPUT {msg.offset}+{msg.length} is past "
                           f"the {len(self._output)}-byte output")
        return Output(msg.offset, self._output[msg.offset:msg.offset + msg.length])

    def _ping(self, msg: Ping) -> Pong:
        return Pong(msg.data)

    def _profile(self, msg: Profile) -> ProfileData:
        if msg.runs:
            if not self._complete:
                raise _Refused(ErrorCode.BAD_STATE, f"PROFILE before a complete upload (have "
                               f"{self._next} of {len(self._input)} bytes)")
            self._output, self._last_profile = None, None
            runner = self._runner
            assert isinstance(runner, ProfilingRunner)
            try:
                ran = runner.profile(bytes(self._input), msg.runs)
            except Exception as exc:    # as INFER: reported, never fatal
                log.exception("runner failed to profile")
                raise _Refused(ErrorCode.INFER_FAILED, f"{type(exc).__name__}: {exc}") from exc
            if len(ran.output) != self.info.output_bytes or len(ran.op_cycles) > 0xFFFF:
                raise _Refused(ErrorCode.INFER_FAILED, f"runner gave {len(ran.output)} "
                               f"output bytes and {len(ran.op_cycles)} op counts")
            self._output, self._last_profile, self._profile_runs = ran.output, ran, msg.runs
        profile = self._last_profile
        if profile is None:
            raise _Refused(ErrorCode.BAD_STATE, "PROFILE of 0 runs reads the last profile, "
                           "and there is none")
        n_ops = len(profile.op_cycles)
        if msg.first_op >= max(n_ops, 1):
            raise _Refused(ErrorCode.BAD_ARGS, f"PROFILE from op {msg.first_op}; the profile "
                           f"has {n_ops} ops")
        page = profile.op_cycles[msg.first_op:msg.first_op
                                 + profile_page_ops(self.info.max_payload)]
        assert PROFILE_DATA_FIXED_BYTES + 8 * len(page) <= self.info.max_payload
        return ProfileData(self._profile_runs, n_ops, msg.first_op, profile.total_cycles,
                           tuple(page))
