"""Message bodies: pack/unpack round trips, sizes from the spec, errors naming the field."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.dut.messages import (
    RESULT_FIXED_BYTES,
    Ack,
    ErrorCode,
    ErrorReply,
    Hello,
    HelloInfo,
    Infer,
    InferResult,
    LoadBegin,
    LoadChunk,
    MsgType,
    Output,
    Ping,
    Pong,
    ReadOutput,
    Ready,
    per_run_cap,
    type_name,
    unpack_message,
)
from harness.errors import ProtocolError
from harness.tensors import TensorSpec

HELLO_INFO = HelloInfo(
    protocol_version=1, capabilities=0b111, max_payload=1024, rx_window=4, clock_hz=64_000_000,
    arena_used=98_304, model_hash=bytes(range(32)), board_id="nucleo-l4r5zi", counter="dwt",
    inputs=(TensorSpec("int8", (1, 96, 96, 3), 0.0078125, -128),),
    outputs=(TensorSpec("int8", (1, 2), 0.00390625, -128), TensorSpec("float32", (3,))))

EXAMPLES = [
    Hello(), LoadBegin(27648), LoadChunk(1020, b"\x00\x01data"), Infer(5, 100, 3),
    ReadOutput(2040, 1020), Ping(b"\xde\xad\xbe\xef"),
    Ack(4080, 4), HELLO_INFO, InferResult(2, 30, (10, 20), b"\x07" * 8, 8),
    InferResult(3, 2**40, None, None, 27648), Output(8, b"xyz"), Pong(b""),
    ErrorReply(int(ErrorCode.OUT_OF_ORDER), int(MsgType.LOAD_CHUNK), "chunk at 9, expected 0"),
    Ready(1),
]


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_its_type(msg: object) -> None:
    assert unpack_message(msg.TYPE, msg.pack()) == msg  # type: ignore[attr-defined]


def test_bodies_have_the_sizes_the_spec_gives() -> None:
    assert len(LoadBegin(1).pack()) == 4
    assert len(Infer(0, 1, 0).pack()) == 5
    assert len(ReadOutput(0, 1).pack()) == 6
    assert len(Ack(0, 4).pack()) == 5
    assert len(InferResult(1, 5, None, None, 0).pack()) == RESULT_FIXED_BYTES
    assert len(InferResult(2, 5, (2, 3), b"ab", 2).pack()) == RESULT_FIXED_BYTES + 8 + 2
    # HELLO_INFO: 13 fixed + 32 hash + str8s + counts + descriptors (2 + 4*ndims + 8 each)
    expected = 13 + 32 + 1 + 13 + 1 + 3 + 1 + (2 + 16 + 8) + 1 + (2 + 8 + 8) + (2 + 4 + 8)
    assert len(HELLO_INFO.pack()) == expected


def test_integers_are_little_endian() -> None:
    assert LoadBegin(0x01020304).pack() == b"\x04\x03\x02\x01"
    assert InferResult(1, 1, (0x0A0B0C0D,), None, 0).pack()[12:16] == b"\x0d\x0c\x0b\x0a"


def test_per_run_cycles_wrap_at_32_bits_while_the_total_does_not() -> None:
    result = InferResult.unpack(InferResult(1, 2**33 + 5, (2**32 + 5,), None, 0).pack())
    assert result.cycles == (5,) and result.total_cycles == 2**33 + 5


@given(max_payload=st.integers(RESULT_FIXED_BYTES + 4, 0xFFFF))
def test_per_run_cap_is_the_most_cycles_a_result_can_carry(max_payload: int) -> None:
    cap = per_run_cap(max_payload)
    assert len(InferResult(cap, 0, (1,) * cap, None, 0).pack()) <= max_payload
    assert len(InferResult(cap + 1, 0, (1,) * (cap + 1), None, 0).pack()) > max_payload


@pytest.mark.parametrize(("msg_type", "body", "needle"), [
    (MsgType.LOAD_BEGIN, b"\x01\x02", "LOAD_BEGIN: field 'total_bytes'"),
    (MsgType.INFER, b"\x01\x00\x02\x00", "INFER: field 'flags'"),
    (MsgType.HELLO, b"\x00", "HELLO: 1 unexpected bytes"),
    (MsgType.LOAD_CHUNK, b"\x00", "LOAD_CHUNK: field 'offset'"),
    (MsgType.RESULT, struct.pack("<HHQ", 1, 3, 0) + b"\x00" * 8, "RESULT: field 'cycles'"),
    (MsgType.RESULT, InferResult(1, 1, None, b"abcd", 4).pack()[:-1], "RESULT: field 'output'"),
    (MsgType.ERROR, b"\x01\x02\x09abc", "ERROR: field 'message'"),
    (MsgType.ERROR, b"\x01\x02\x02\xff\xfe", "ERROR: field 'message' is not UTF-8"),
    (MsgType.HELLO_INFO, HELLO_INFO.pack()[:60], "HELLO_INFO: field 'counter'"),
    (MsgType.HELLO_INFO, HELLO_INFO.pack() + b"\x00", "HELLO_INFO: 1 unexpected bytes"),
])
def test_malformed_bodies_name_the_message_and_field(msg_type: int, body: bytes,
                                                     needle: str) -> None:
    with pytest.raises(ProtocolError, match=needle):
        unpack_message(msg_type, body)


def test_unknown_tensor_type_in_hello_info_is_named() -> None:
    body = bytearray(HELLO_INFO.pack())
    first_descriptor = 13 + 32 + 1 + 13 + 1 + 3 + 1
    body[first_descriptor] = 42
    with pytest.raises(ProtocolError, match=r"inputs\[0\]\.dtype.*TFLite type 42"):
        HelloInfo.unpack(bytes(body))


def test_unknown_message_type_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="unknown message type 0x08"):
        unpack_message(0x08, b"")
    assert type_name(0x08) == "type 0x08" and type_name(0x84) == "RESULT"


def test_error_message_is_cut_to_255_utf8_bytes_without_splitting_a_character() -> None:
    body = ErrorReply(4, 2, "é" * 200).pack()
    assert body[2] == 254 and ErrorReply.unpack(body).message == "é" * 127


def test_hello_info_helpers_sum_tensor_sizes() -> None:
    assert HELLO_INFO.input_bytes == 27648
    assert HELLO_INFO.output_bytes == 2 + 12


def test_hello_info_refuses_a_short_model_hash() -> None:
    with pytest.raises(ValueError, match="model_hash must be 32 bytes"):
        HelloInfo(**{**HELLO_INFO.__dict__, "model_hash": b"short"}).pack()
