"""Messages of the DUT protocol (docs/protocol.md §3): types, codes, bodies.

Every message is a frozen dataclass with a TYPE, ``pack() -> bytes`` (its body)
and ``unpack(body)``; ``unpack_message(type, body)`` dispatches on the type byte.
Bodies are little-endian and packed. A malformed body raises ProtocolError
naming the message and the field.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import astuple, dataclass, fields
from typing import ClassVar, TypeVar

from harness.errors import ProtocolError
from harness.tensors import DTYPE_TO_TFLITE_TYPE, TFLITE_TYPE_TO_DTYPE, TensorSpec

PROTOCOL_VERSION = 1
RESULT_FIXED_BYTES = 17     # RESULT body without cycles and output
CHUNK_HEADER_BYTES = 4      # LOAD_CHUNK / OUTPUT offset
PROFILE_DATA_FIXED_BYTES = 14  # PROFILE_DATA body without its per-op cycle counts


class MsgType(enum.IntEnum):
    HELLO = 0x01
    LOAD_BEGIN = 0x02
    LOAD_CHUNK = 0x03
    INFER = 0x04
    READ_OUTPUT = 0x05
    PING = 0x06
    PROFILE = 0x07
    ACK = 0x80
    HELLO_INFO = 0x81
    RESULT = 0x84
    OUTPUT = 0x85
    PONG = 0x86
    PROFILE_DATA = 0x87
    ERROR = 0x8E
    READY = 0x8F


class ErrorCode(enum.IntEnum):
    BAD_FRAME = 1
    BAD_CRC = 2
    UNKNOWN_CMD = 3
    BAD_ARGS = 4
    BAD_STATE = 5
    OUT_OF_ORDER = 6
    TOO_LARGE = 7
    INFER_FAILED = 8


class InferFlags(enum.IntFlag):
    PER_RUN = 0x01
    WANT_OUTPUT = 0x02


class Capability(enum.IntFlag):
    MARKER = 0x01
    PER_RUN_CYCLES = 0x02
    OUTPUT_IN_RESULT = 0x04
    PROFILE = 0x08          # answers PROFILE: per-op cycle counts (docs/protocol.md)


def type_name(msg_type: int) -> str:
    try:
        return MsgType(msg_type).name
    except ValueError:
        return f"type 0x{msg_type:02x}"


def per_run_cap(max_payload: int) -> int:
    """Most runs one INFER may time with PER_RUN: the RESULT must fit without output."""
    return (max_payload - RESULT_FIXED_BYTES) // 4


def profile_page_ops(max_payload: int) -> int:
    """Per-op counts one PROFILE_DATA carries."""
    return (max_payload - PROFILE_DATA_FIXED_BYTES) // 8


def chunk_capacity(max_payload: int) -> int:
    """Data bytes in one LOAD_CHUNK or OUTPUT."""
    return max_payload - CHUNK_HEADER_BYTES


class _Reader:
    """Reads fields off a body; short or long bodies raise ProtocolError naming the field."""

    def __init__(self, message: str, body: bytes) -> None:
        self._message, self._body, self._pos = message, body, 0

    def take(self, n: int, field: str) -> bytes:
        if self._pos + n > len(self._body):
            raise ProtocolError(f"{self._message}: field {field!r} needs {n} bytes at offset "
                                f"{self._pos}, body has {len(self._body)}")
        self._pos += n
        return self._body[self._pos - n:self._pos]

    def num(self, fmt: str, field: str) -> int | float:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), field))[0]

    def str8(self, field: str) -> str:
        raw = self.take(int(self.num("B", f"{field} length")), field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"{self._message}: field {field!r} is not UTF-8") from exc

    def rest(self) -> bytes:
        return self.take(len(self._body) - self._pos, "data")

    def end(self) -> None:
        if self._pos != len(self._body):
            raise ProtocolError(f"{self._message}: {len(self._body) - self._pos} unexpected "
                                f"bytes after the last field (body has {len(self._body)})")


def _str8(text: str) -> bytes:
    raw = text.encode("utf-8")[:255].decode("utf-8", "ignore").encode("utf-8")
    return bytes((len(raw),)) + raw


T = TypeVar("T")


class _Fixed:
    """A message made only of fixed-size fields: FORMAT lists them in dataclass order."""

    FORMAT: ClassVar[str]

    def pack(self) -> bytes:
        return struct.pack("<" + self.FORMAT, *astuple(self))  # type: ignore[call-overload]

    @classmethod
    def unpack(cls: type[T], body: bytes) -> T:
        r = _Reader(cls.TYPE.name, body)  # type: ignore[attr-defined]
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        fmt = cls.FORMAT  # type: ignore[attr-defined]
        values = [r.num(code, name) for code, name in zip(fmt, names, strict=True)]
        r.end()
        return cls(*values)


class _OffsetData:
    """u32 offset, then data to the end of the body."""

    offset: int
    data: bytes

    def pack(self) -> bytes:
        return struct.pack("<I", self.offset) + self.data

    @classmethod
    def unpack(cls: type[T], body: bytes) -> T:
        r = _Reader(cls.TYPE.name, body)  # type: ignore[attr-defined]
        return cls(int(r.num("I", "offset")), r.rest())  # type: ignore[call-arg]


class _Raw:
    """The body is opaque bytes."""

    data: bytes

    def pack(self) -> bytes:
        return self.data

    @classmethod
    def unpack(cls: type[T], body: bytes) -> T:
        return cls(bytes(body))  # type: ignore[call-arg]


# --- host -> device ---------------------------------------------------------

@dataclass(frozen=True)
class Hello(_Fixed):
    TYPE: ClassVar[MsgType] = MsgType.HELLO
    FORMAT: ClassVar[str] = ""


@dataclass(frozen=True)
class LoadBegin(_Fixed):
    TYPE: ClassVar[MsgType] = MsgType.LOAD_BEGIN
    FORMAT: ClassVar[str] = "I"
    total_bytes: int


@dataclass(frozen=True)
class LoadChunk(_OffsetData):
    TYPE: ClassVar[MsgType] = MsgType.LOAD_CHUNK
    offset: int
    data: bytes


@dataclass(frozen=True)
class Infer(_Fixed):
    TYPE: ClassVar[MsgType] = MsgType.INFER
    FORMAT: ClassVar[str] = "HHB"
    warmups: int
    runs: int
    flags: int


@dataclass(frozen=True)
class ReadOutput(_Fixed):
    TYPE: ClassVar[MsgType] = MsgType.READ_OUTPUT
    FORMAT: ClassVar[str] = "IH"
    offset: int
    length: int


@dataclass(frozen=True)
class Ping(_Raw):
    TYPE: ClassVar[MsgType] = MsgType.PING
    data: bytes


@dataclass(frozen=True)
class Profile(_Fixed):
    """Run ``runs`` inferences timing every op (0: none, read the last profile), then
    answer with the page of per-op counts that starts at op ``first_op``."""

    TYPE: ClassVar[MsgType] = MsgType.PROFILE
    FORMAT: ClassVar[str] = "HH"
    runs: int
    first_op: int


# --- device -> host ---------------------------------------------------------

@dataclass(frozen=True)
class Ack(_Fixed):
    TYPE: ClassVar[MsgType] = MsgType.ACK
    FORMAT: ClassVar[str] = "IB"
    next_offset: int
    window: int


@dataclass(frozen=True)
class Output(_OffsetData):
    TYPE: ClassVar[MsgType] = MsgType.OUTPUT
    offset: int
    data: bytes


@dataclass(frozen=True)
class Pong(_Raw):
    TYPE: ClassVar[MsgType] = MsgType.PONG
    data: bytes


@dataclass(frozen=True)
class Ready(_Fixed):
    TYPE: ClassVar[MsgType] = MsgType.READY
    FORMAT: ClassVar[str] = "B"
    protocol_version: int


@dataclass(frozen=True)
class ErrorReply:
    TYPE: ClassVar[MsgType] = MsgType.ERROR
    code: int
    cmd_type: int
    message: str

    def pack(self) -> bytes:
        return struct.pack("<BB", self.code, self.cmd_type) + _str8(self.message)

    @classmethod
    def unpack(cls, body: bytes) -> ErrorReply:
        r = _Reader("ERROR", body)
        code, cmd = int(r.num("B", "code")), int(r.num("B", "cmd_type"))
        message = r.str8("message")
        r.end()
        return cls(code, cmd, message)

    @property
    def code_name(self) -> str:
        try:
            return ErrorCode(self.code).name
        except ValueError:
            return f"UNKNOWN_ERROR_{self.code}"


@dataclass(frozen=True)
class InferResult:
    """RESULT; the session also returns it, with output fetched and batches joined."""

    TYPE: ClassVar[MsgType] = MsgType.RESULT
    runs: int
    total_cycles: int
    cycles: tuple[int, ...] | None     # None: INFER without PER_RUN
    output: bytes | None               # None: not included (see output_bytes)
    output_bytes: int

    def pack(self) -> bytes:
        cycles = self.cycles or ()
        out = self.output or b""
        return (struct.pack("<HHQ", self.runs, len(cycles), self.total_cycles)
                + struct.pack(f"<{len(cycles)}I", *(c & 0xFFFFFFFF for c in cycles))
                + struct.pack("<IB", self.output_bytes, self.output is not None) + out)

    @classmethod
    def unpack(cls, body: bytes) -> InferResult:
        r = _Reader("RESULT", body)
        runs, n_cycles = int(r.num("H", "runs")), int(r.num("H", "n_cycles"))
        total = int(r.num("Q", "total_cycles"))
        cycles = struct.unpack(f"<{n_cycles}I", r.take(4 * n_cycles, "cycles"))
        output_bytes = int(r.num("I", "output_bytes"))
        included = int(r.num("B", "output_included"))
        output = r.take(output_bytes, "output") if included else None
        r.end()
        return cls(runs, total, cycles if n_cycles else None, output, output_bytes)


@dataclass(frozen=True)
class ProfileData:
    """One page of the last profile: op i's cycles, summed over its ``runs`` inferences,
    for i from ``first_op``; ``total_cycles`` is the profiled inferences' whole time."""

    TYPE: ClassVar[MsgType] = MsgType.PROFILE_DATA
    runs: int
    n_ops: int
    first_op: int
    total_cycles: int
    op_cycles: tuple[int, ...]

    def pack(self) -> bytes:
        return (struct.pack("<HHHQ", self.runs, self.n_ops, self.first_op, self.total_cycles)
                + struct.pack(f"<{len(self.op_cycles)}Q", *self.op_cycles))

    @classmethod
    def unpack(cls, body: bytes) -> ProfileData:
        r = _Reader("PROFILE_DATA", body)
        runs, n_ops, first_op = (int(r.num("H", name)) for name in ("runs", "n_ops", "first_op"))
        total = int(r.num("Q", "total_cycles"))
        rest = r.rest()
        if len(rest) % 8:
            raise ProtocolError(f"PROFILE_DATA: field 'op_cycles' is {len(rest)} bytes, not a "
                                "whole number of u64 counts")
        cycles = struct.unpack(f"<{len(rest) // 8}Q", rest)
        if first_op + len(cycles) > n_ops:
            raise ProtocolError(f"PROFILE_DATA: {len(cycles)} counts from op {first_op} run past "
                                f"n_ops {n_ops}")
        return cls(runs, n_ops, first_op, total, cycles)


def _pack_tensor(spec: TensorSpec) -> bytes:
    return (struct.pack("<BB", DTYPE_TO_TFLITE_TYPE[spec.dtype], len(spec.shape))
            + struct.pack(f"<{len(spec.shape)}i", *spec.shape)
            + struct.pack("<fi", spec.scale, spec.zero_point))


def _unpack_tensor(r: _Reader, field: str) -> TensorSpec:
    type_num = int(r.num("B", f"{field}.dtype"))
    if type_num not in TFLITE_TYPE_TO_DTYPE:
        raise ProtocolError(f"HELLO_INFO: field {field + '.dtype'!r} is TFLite type {type_num}, "
                            f"expected one of {sorted(TFLITE_TYPE_TO_DTYPE)}")
    ndims = int(r.num("B", f"{field}.ndims"))
    shape = struct.unpack(f"<{ndims}i", r.take(4 * ndims, f"{field}.dims"))
    scale = float(r.num("f", f"{field}.scale"))
    return TensorSpec(TFLITE_TYPE_TO_DTYPE[type_num], tuple(shape), scale,
                      int(r.num("i", f"{field}.zero_point")))


@dataclass(frozen=True)
class HelloInfo:
    TYPE: ClassVar[MsgType] = MsgType.HELLO_INFO
    protocol_version: int
    capabilities: int
    max_payload: int
    rx_window: int
    clock_hz: int
    arena_used: int
    model_hash: bytes                  # SHA-256 of the embedded .tflite
    board_id: str
    counter: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def input_bytes(self) -> int:
        return sum(t.nbytes for t in self.inputs)

    @property
    def output_bytes(self) -> int:
        return sum(t.nbytes for t in self.outputs)

    def pack(self) -> bytes:
        if len(self.model_hash) != 32:
            raise ValueError(f"model_hash must be 32 bytes, got {len(self.model_hash)}")
        return b"".join([
            struct.pack("<BBHBII", self.protocol_version, self.capabilities, self.max_payload,
                        self.rx_window, self.clock_hz, self.arena_used),
            self.model_hash, _str8(self.board_id), _str8(self.counter),
            bytes((len(self.inputs),)), *map(_pack_tensor, self.inputs),
            bytes((len(self.outputs),)), *map(_pack_tensor, self.outputs)])

    @classmethod
    def unpack(cls, body: bytes) -> HelloInfo:
        r = _Reader("HELLO_INFO", body)
        protocol_version, capabilities, max_payload, rx_window, clock_hz, arena_used = (
            int(r.num(code, name)) for code, name in zip(
                "BBHBII", ("protocol_version", "capabilities", "max_payload", "rx_window",
                           "clock_hz", "arena_used"), strict=True))
        model_hash, board_id, counter = r.take(32, "model_hash"), r.str8("board_id"), \
            r.str8("counter")
        inputs = tuple(_unpack_tensor(r, f"inputs[{i}]")
                       for i in range(int(r.num("B", "n_inputs"))))
        outputs = tuple(_unpack_tensor(r, f"outputs[{i}]")
                        for i in range(int(r.num("B", "n_outputs"))))
        r.end()
        return cls(protocol_version, capabilities, max_payload, rx_window, clock_hz,
                   arena_used, model_hash, board_id, counter, inputs, outputs)


HostMessage = Hello | LoadBegin | LoadChunk | Infer | ReadOutput | Ping | Profile
DeviceMessage = Ack | HelloInfo | InferResult | Output | Pong | ErrorReply | Ready | ProfileData
_MESSAGES: dict[int, type[HostMessage | DeviceMessage]] = {cls.TYPE: cls for cls in (
    Hello, LoadBegin, LoadChunk, Infer, ReadOutput, Ping, Profile,
    Ack, HelloInfo, InferResult, Output, Pong, ErrorReply, Ready, ProfileData)}


def unpack_message(msg_type: int, body: bytes) -> HostMessage | DeviceMessage:
    """The message of type ``msg_type``; ProtocolError for an unknown type or a bad body."""
    try:
        cls = _MESSAGES[msg_type]
    except KeyError:
        raise ProtocolError(f"unknown message type 0x{msg_type:02x}") from None
    return cls.unpack(body)
